# @attack: pin unread data in loopback TCP connections from 8 processes (issue 10, finding 4: 641 MiB outside the memory limit on cgroup v1), at most twice the run's memory in all
# @language: python
# @lanes: host
# @hold: yes
# @or-killed: yes
# @timeout: 60
# @contained: 1
# Containment: socket buffers are bounded (v1: the job cgroup's TCP limit,
# half its memory, and the daemon kills the run as out of memory once its
# buffers pass three quarters of its memory, since the kernel forces a first
# buffer per connection past any limit; v2: its memory): what the processes
# hold together stays below the run's memory limit, or the run is killed
# before it can say. One process alone stops at its open-files limit first,
# so it takes eight. The judge checks the host's available memory while
# they hold. Not in the VM's cgroup v2 suite for now: there, under software
# emulation, about one run in two reached its 60 s timeout with no output
# (issue 10's note); TestSocketBuffersAreBounded measures the kernel's own
# count of socket memory there instead.
import os, select, socket, sys, time
limit = @@MEMORY_BYTES@@; procs = 8; cap = 2 * limit // procs
totals = os.pipe()
kids = []
for i in range(procs):
    pid = os.fork()
    if pid:
        kids.append(pid)
        continue
    total = 0; keep = []; why = ""
    try:
        srv = socket.create_server(("127.0.0.1", 0)); srv.listen(4096)
        # Under its memory limit (cgroup v2) the kernel may drop a new
        # connection's handshake and retry it for minutes: a connection
        # that does not come within seconds ends the filling, as a refused
        # one does.
        srv.settimeout(5)
        chunk = b"x" * 65536
        while total < cap:
            c = socket.create_connection(srv.getsockname(), timeout=5); a, _ = srv.accept()
            c.setblocking(False); keep += [c, a]
            sent = 0
            while total < cap:
                try:
                    n = c.send(chunk); total += n; sent += n
                except BlockingIOError:
                    break
            if sent == 0:
                break
    except OSError as e:
        why = e.strerror or str(e)
    os.write(totals[1], b"%d %d %d %s\n" % (os.getpid(), total, len(keep) // 2, why.encode()))
    time.sleep(1000)  # hold until the run ends
os.close(totals[1])
# Every process reports what it holds, or dies (the kernel's OOM killer
# takes one at a time, and its buffers go with it): what the living hold
# together is what was pinned.
held = {}; dead = set(); buf = b""
while len(held.keys() | dead) < procs:
    if select.select([totals[0]], [], [], 0.1)[0]:
        data = os.read(totals[0], 4096)
        if not data:
            break
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            pid, n, k, why = (line.split(b" ", 3) + [b""])[:4]
            held[int(pid)] = (int(n), int(k))
            if why:
                print("process stopped:", why.decode(), file=sys.stderr)
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            pid = 0
        if not pid:
            break
        dead.add(pid)
pinned = sum(n for pid, (n, k) in held.items() if pid not in dead)
conns = sum(k for pid, (n, k) in held.items() if pid not in dead)
print("CONTAINED" if pinned <= limit else "ESCAPED", f"{procs - len(dead)} processes hold {pinned >> 20} MiB in {conns} connections ({len(dead)} killed); the run's memory is {limit >> 20} MiB", flush=True)
print("HOLD", flush=True)
time.sleep(1000)
