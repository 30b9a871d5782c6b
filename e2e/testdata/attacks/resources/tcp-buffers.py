# @attack: pin unread data in loopback TCP connections (issue 10, finding 4: 641 MiB outside the memory limit on cgroup v1), at most twice the run's memory
# @language: python
# @lanes: host v2
# @hold: yes
# @timeout: 60
# @contained: 1
# Containment: socket buffers are limited (v1: the job cgroup's TCP limit,
# half its memory, plus a first buffer per connection the kernel forces
# past it; v2: its memory): what it pins stays below its memory limit, and
# the judge checks the host's available memory while it holds.
import socket, sys, time
limit = @@MEMORY_BYTES@@; cap = 2 * limit; total = 0; keep = []
srv = socket.create_server(("127.0.0.1", 0)); srv.listen(4096)
chunk = b"x" * 65536
try:
    while total < cap:
        c = socket.create_connection(srv.getsockname()); a, _ = srv.accept()
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
    print("stopped:", e.strerror, file=sys.stderr)
print("CONTAINED" if total <= limit else "ESCAPED", f"pinned {total >> 20} MiB in {len(keep) // 2} connections; the run's memory is {limit >> 20} MiB", flush=True)
print("HOLD", flush=True)
time.sleep(1000)
