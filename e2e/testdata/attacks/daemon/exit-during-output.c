// @attack: die by SIGKILL from itself while its children keep writing a flood
// @language: c_gcc
// @lanes: host
// @status: killed/9
// @contained: 1
#define _GNU_SOURCE
#include <stdio.h>
#include <signal.h>
#include <unistd.h>
int main(void) {
	printf("CONTAINED flooding and dying\n"); fflush(stdout);
	for (int i = 0; i < 4; i++) if (fork() == 0) for (;;) write(1, "zzzzzzzzzzzzzzzz", 16);
	usleep(200000);
	kill(getpid(), SIGKILL);
	return 0;
}
