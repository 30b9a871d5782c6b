// @attack: take epoll watches, counted per host user: every rootless run is the daemon's user
// @language: c_gcc
// @lanes: host rootless
// @hold: yes
// @or-killed: yes
// @timeout: 60
// @contained: 1
// Containment: a run holds no more epoll watches than its share
// (@@EPOLL_SHARE@@, e2e/testdata/attacks/README.md): when runs are the
// daemon's user (rootless), half the user's count over the slots, which a
// host holds when fs.epoll.max_user_watches is what the daemon asks for at
// startup; when each run has a uid of its own (root daemons), what its
// memory holds, since each watch is charged to the run's memory cgroup.
// Being killed as out of memory before the share is containment too. The
// watches are of /proc/sys files, whose poll never waits on a queue: the
// cheapest a watch can be (an epitem, no eppoll_entry).
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
enum { KIDS = 32 };
struct kid { long added, done; };
static void hold(void) { printf("HOLD\n"); fflush(stdout); for (;;) pause(); }
// A watch is keyed by a file and a descriptor number, and outlives that
// descriptor while the file stays open elsewhere (epoll(7), Q6). So one
// process with a third of its descriptors as files, a third as instances
// and a third free numbers (each file dup2'd onto each in turn) holds
// files x instances x numbers watches: more than a run's memory holds,
// even where the file table leaves a run few descriptors. Each of KIDS
// processes adds until the run as a whole passes its share; the parent
// reads each one's count.
static void add(long share, long *total, struct kid *me) {
	struct rlimit rl; getrlimit(RLIMIT_NOFILE, &rl);
	int third = (int)(rl.rlim_cur - 8) / 3, files[third], eps[third], e = 0, nf = 0, ne = 0;
	for (; nf < third; nf++) if ((files[nf] = open("/proc/sys/kernel/ostype", O_RDONLY)) < 0) break;
	for (; ne < third; ne++) if ((eps[ne] = epoll_create1(0)) < 0) break;
	int lo = 0; // free numbers: those above every descriptor held
	for (int i = 0; i < nf; i++) if (files[i] >= lo) lo = files[i] + 1;
	for (int i = 0; i < ne; i++) if (eps[i] >= lo) lo = eps[i] + 1;
	struct epoll_event ev = { .events = EPOLLIN };
	for (int i = 0; i < ne && !e; i++)
		for (int j = lo; j < (int)rl.rlim_cur && !e; j++) {
			for (int f = 0; f < nf; f++) {
				if (__atomic_load_n(total, __ATOMIC_RELAXED) > share) goto done;
				if (dup2(files[f], j) < 0 || epoll_ctl(eps[i], EPOLL_CTL_ADD, j, &ev) < 0) { e = errno; break; }
				__atomic_add_fetch(total, 1, __ATOMIC_RELAXED);
				__atomic_store_n(&me->added, me->added + 1, __ATOMIC_RELAXED);
			}
			close(j);
		}
done:
	if (e) dprintf(2, "stopped: %s\n", strerror(e));
	__atomic_store_n(&me->done, 1, __ATOMIC_RELEASE);
	for (;;) pause();
}
int main(void) {
	long share = @@EPOLL_SHARE@@;
	long *total = mmap(0, sizeof(long) + KIDS * sizeof(struct kid), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct kid *kids = (struct kid *)(total + 1);
	pid_t pids[KIDS]; int dead[KIDS] = {0}, n = 0;
	for (; n < KIDS; n++) {
		if ((pids[n] = fork()) == 0) add(share, total, &kids[n]);
		if (pids[n] < 0) break;
	}
	// Until each process is done adding or has died (the OOM killer takes
	// one at a time on cgroup v2, and what it held is freed).
	for (int waiting = n; waiting > 0;) {
		int st; pid_t pid;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			for (int i = 0; i < n; i++) if (pids[i] == pid) dead[i] = 1;
		waiting = 0;
		for (int i = 0; i < n; i++) if (!dead[i] && !__atomic_load_n(&kids[i].done, __ATOMIC_ACQUIRE)) waiting++;
		if (waiting) usleep(10000);
	}
	long held = 0; int gone = 0;
	for (int i = 0; i < n; i++) if (dead[i]) gone++; else held += __atomic_load_n(&kids[i].added, __ATOMIC_RELAXED);
	printf("%s %d processes hold %ld epoll watches (%d died); the run's share is %ld\n", held <= share ? "CONTAINED" : "ESCAPED",
		n - gone, held, gone, share);
	hold();
}
