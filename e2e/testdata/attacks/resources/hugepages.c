// @attack: huge pages outside the memory cgroup: MAP_HUGETLB and SHM_HUGETLB (the hugetlb pool is the host's)
// @language: c_gcc
// @lanes: host
// @contained: 2
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/shm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
static void hold(void) { printf("HOLD\n"); fflush(stdout); for (;;) pause(); }
int main(void) {
	void *p = mmap(0, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	check(p == MAP_FAILED ? -1 : 0, "mmap 64 MiB MAP_HUGETLB");
	check(shmget(IPC_PRIVATE, 64 << 20, IPC_CREAT | SHM_HUGETLB | 0600), "shmget 64 MiB SHM_HUGETLB");
	return 0;
}
