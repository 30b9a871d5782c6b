// @attack: a C daemon: fork, setsid, fork, chdir /, close every descriptor, ignore every signal, run forever; the parent exits at once
// @language: c_gcc
// @lanes: host
// @contained: 1
#define _GNU_SOURCE
#include <stdio.h>
#include <signal.h>
#include <unistd.h>
int main(void) {
	printf("CONTAINED daemonising\n"); fflush(stdout);
	if (fork() == 0) {
		setsid();
		if (fork() == 0) {
			chdir("/"); for (int fd = 0; fd < 1024; fd++) close(fd);
			for (int s = 1; s < 65; s++) signal(s, SIG_IGN);
			for (;;) pause();
		}
		_exit(0);
	}
	return 0;
}
