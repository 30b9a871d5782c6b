// @attack: bpf(2): create a map and load a socket filter program
// @language: c_gcc
// @lanes: host
// @contained: 2
#define _GNU_SOURCE
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/syscall.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	union bpf_attr a; memset(&a, 0, sizeof a);
	a.map_type = BPF_MAP_TYPE_ARRAY; a.key_size = 4; a.value_size = 4; a.max_entries = 1;
	check(syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a), "bpf map create");
	struct bpf_insn prog[] = {{0xb7, 0, 0, 0, 0}, {0x95, 0, 0, 0, 0}}; // r0 = 0; exit
	memset(&a, 0, sizeof a);
	a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER; a.insns = (unsigned long)prog; a.insn_cnt = 2; a.license = (unsigned long)"GPL";
	check(syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof a), "bpf prog load");
	return 0;
}
