// @attack: pin unread data in loopback TCP connections from 8 processes (issue 10, finding 4: 641 MiB outside the memory limit on cgroup v1), at most twice the run's memory in all
// @language: c_gcc
// @lanes: host v2
// @hold: yes
// @or-killed: yes
// @timeout: 60
// @contained: 1
// Containment: socket buffers are bounded (v1: the job cgroup's TCP limit,
// half its memory, and the daemon kills the run as out of memory once its
// buffers pass three quarters of its memory, since the kernel forces a first
// buffer per connection past any limit; v2: its memory): what the processes
// hold together stays below the run's memory limit, or the run is killed
// before it can say. One process alone stops at its open-files limit first,
// so it takes eight. The judge checks the host's available memory while
// they hold.
//
// Safe for the host if it escapes: the processes stop once they hold the
// run's memory and a little more together, or after 20 s.
//
// TestSocketBuffersAreBounded runs this program too, with arguments: the
// number of processes, each one's cap in bytes (there alone, not their sum),
// and how many milliseconds to hold before ending (instead of HOLD and
// waiting for the kill). Each process prints "fill <process> <bytes>" as
// its total passes each MiB, so what was sent is known even when the run
// is killed.
//
// It is C, not Python, for the VM's cgroup v2 suite: at its memory limit
// the kernel reclaims the run's file pages, and an interpreter's working
// set thrashed there until the run's timeout (one run in two, with no
// output). Every wait is bounded: a connection that does not come within
// 5 s ends a process's filling, as a refused one does (at the limit the
// kernel may drop a handshake and retry it for minutes).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
enum { MAX_PROCS = 64, WAIT_MS = 5000, DEADLINE_S = 20 };
struct kid { long total, conns, done; };
static struct kid *kids;
static int procs;
static struct timespec start;
static double elapsed(void) {
	struct timespec now; clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9;
}
static int ready(int fd, short events) {
	struct pollfd p = { .fd = fd, .events = events };
	return poll(&p, 1, WAIT_MS) == 1;
}
// held is what all the processes hold together (the dead ones' counts
// included: an upper bound).
static long held(void) {
	long sum = 0;
	for (int i = 0; i < procs; i++) sum += __atomic_load_n(&kids[i].total, __ATOMIC_RELAXED);
	return sum;
}
// fill opens connections to a listener of its own and sends into each until
// the kernel takes no more, never past cap of its own nor past all in all;
// the receiving ends read nothing.
static const char *fill(int i, long cap, long all, struct kid *me) {
	static char chunk[65536];
	memset(chunk, 'x', sizeof chunk);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof addr;
	int srv = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (srv < 0 || bind(srv, (struct sockaddr *)&addr, len) < 0 || listen(srv, 4096) < 0 ||
	    getsockname(srv, (struct sockaddr *)&addr, &len) < 0)
		return strerror(errno);
	while (me->total < cap && held() <= all) {
		if (elapsed() > DEADLINE_S) return "deadline";
		int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (c < 0) return strerror(errno);
		if (connect(c, (struct sockaddr *)&addr, len) < 0 && errno != EINPROGRESS) return strerror(errno);
		if (!ready(srv, POLLIN)) return "no connection within 5 s";
		int a = accept4(srv, 0, 0, SOCK_NONBLOCK);
		if (a < 0) return strerror(errno);
		if (!ready(c, POLLOUT)) return "not writable within 5 s";
		long sent = 0, mib = me->total >> 20;
		while (me->total < cap && held() <= all) {
			size_t n = sizeof chunk;
			if ((long)n > cap - me->total) n = (size_t)(cap - me->total);
			ssize_t w = send(c, chunk, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN) break;
				return strerror(errno);
			}
			sent += w;
			__atomic_store_n(&me->total, me->total + w, __ATOMIC_RELAXED);
		}
		__atomic_store_n(&me->conns, me->conns + 1, __ATOMIC_RELAXED);
		if (me->total >> 20 != mib) printf("fill %d %ld\n", i, me->total);
		if (sent == 0) return "a connection took nothing";
	}
	return 0;
}
int main(int argc, char **argv) {
	clock_gettime(CLOCK_MONOTONIC, &start);
	long limit = @@MEMORY_BYTES@@;
	procs = argc > 1 ? atoi(argv[1]) : 8;
	if (procs < 1 || procs > MAX_PROCS) { fprintf(stderr, "usage: tcp-buffers [processes [cap [hold-ms]]]\n"); return 2; }
	// The attack stops just past the run's memory, all processes together;
	// the test's arguments set each one's cap alone.
	long cap = argc > 2 ? atol(argv[2]) : limit, all = argc > 2 ? __LONG_MAX__ : limit + (1 << 20);
	int hold_ms = argc > 3 ? atoi(argv[3]) : -1;
	if (cap < 1) { fprintf(stderr, "usage: tcp-buffers [processes [cap [hold-ms]]]\n"); return 2; }
	setvbuf(stdout, 0, _IOLBF, 0);
	kids = mmap(0, MAX_PROCS * sizeof(struct kid), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (kids == MAP_FAILED) { perror("mmap"); return 1; }
	pid_t pids[MAX_PROCS]; int dead[MAX_PROCS] = {0}, n = 0;
	for (; n < procs; n++) {
		if ((pids[n] = fork()) == 0) {
			const char *why = fill(n, cap, all, &kids[n]);
			if (why) fprintf(stderr, "process %d stopped after %.1f s with %ld bytes in %ld connections: %s\n", n, elapsed(), kids[n].total, kids[n].conns, why);
			__atomic_store_n(&kids[n].done, 1, __ATOMIC_RELEASE);
			for (;;) pause(); // hold the buffers until the run ends
		}
		if (pids[n] < 0) { perror("fork"); break; }
	}
	// Until each process is done filling or has died (the OOM killer takes
	// one at a time on cgroup v2, and what it held is freed), or the
	// deadline and a little more have passed: what the living hold together
	// is what was pinned. The last pass reaps what died meanwhile.
	for (int waiting = n;;) {
		int st; pid_t pid;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			for (int i = 0; i < n; i++) if (pids[i] == pid) dead[i] = 1;
		if (!waiting || elapsed() > DEADLINE_S + 5) break;
		waiting = 0;
		for (int i = 0; i < n; i++) if (!dead[i] && !__atomic_load_n(&kids[i].done, __ATOMIC_ACQUIRE)) waiting++;
		if (waiting) usleep(10000);
	}
	long pinned = 0, conns = 0; int gone = 0;
	for (int i = 0; i < n; i++) {
		if (dead[i]) { gone++; continue; }
		pinned += __atomic_load_n(&kids[i].total, __ATOMIC_RELAXED);
		conns += __atomic_load_n(&kids[i].conns, __ATOMIC_RELAXED);
	}
	printf("%s %d processes hold %ld MiB in %ld connections (%d killed) after %.1f s; the run's memory is %ld MiB\n",
		pinned <= limit ? "CONTAINED" : "ESCAPED", n - gone, pinned >> 20, conns, gone, elapsed(), limit >> 20);
	if (hold_ms < 0) {
		printf("HOLD\n");
		for (;;) pause();
	}
	usleep((useconds_t)hold_ms * 1000);
	for (int i = 0; i < n; i++) if (!dead[i]) kill(pids[i], SIGKILL);
	while (wait(0) > 0) {}
	return 0;
}
