/* What atod-init.c and setup.c share. */
#ifndef ATOD_INIT_H
#define ATOD_INIT_H

#include <stddef.h>

/* buffer is bytes read whole: data[len] is always a NUL beyond them. */
struct buffer {
	char *data;
	size_t len;
};

/* read_all reads fd to its end, or until it holds more than max bytes
 * (max 0: no bound). It returns -1 with errno set on failure. */
int read_all(int fd, size_t max, struct buffer *b);

/* write_all writes all of b to fd; -1 with errno set on failure. */
int write_all(int fd, const char *b, size_t n);

/* initproto.StatusFD: the setup's status pipe, which init, when the setup
 * started it, ends with initproto.Ready. */
enum { STATUS_FD = 6 };
#define READY "ready"

/* run_setup starts a sandbox (setup.c): it clones the sandbox's
 * namespaces with these id maps and setgroups ("allow" or "deny"); the
 * sandbox sets itself up and execs init. */
int run_setup(const char *uid_map, const char *gid_map, const char *setgroups);

#endif
