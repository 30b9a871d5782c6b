/*
 * atod-init is the static helper the sandbox bind-mounts read-only at
 * /ATO/yargs in every run. It has three jobs, chosen by its process id and
 * arguments:
 *
 *   - Started by the daemon as `atod-init setup ...`, it clones a new
 *     sandbox's namespaces, whose PID 1 sets the sandbox up (setup.c) and
 *     execs this binary again, from the sandbox's /ATO/yargs, as:
 *   - PID 1 of the run's pid namespace, the run's init: it waits for
 *     the daemon's job (the runner's command and environment), starts the
 *     runner, reaps every orphan, and when the runner has ended kills what is
 *     left, reaps it, and reports the runner's own wait status and the
 *     resource usage of the whole run to the daemon over an inherited pipe.
 *   - Otherwise it is /ATO/yargs of the runner contract:
 *     `yargs PLACEHOLDER FILE prog args...` runs prog args... with the first
 *     argument equal to PLACEHOLDER replaced by FILE's NUL-terminated entries.
 *
 * The wire formats are internal/initproto's (the daemon's side): the job is
 * NUL-terminated entries, the first the count of the command's entries, then
 * the command, then the environment; the report is one line of JSON.
 *
 * Why C, where the rest of atod is Go: it starts three times on every run
 * (setup and init in each sandbox, yargs in every runner), and a Go
 * program's start (its runtime, threads, heap) cost 11 ms of CPU against
 * 1.6 ms for a static C program on the two-core VM issue 13 measured on. It
 * is built with -static: it runs inside arbitrary root filesystems, with
 * whatever C library they have, or none; and with musl's (the Makefile says
 * why), so it keeps to POSIX and Linux's own interfaces.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atod-init.h"

extern char **environ;

/* initproto.FD, initproto.JobFD, initproto.MaxJobSize. */
enum { REPORT_FD = 3, JOB_FD = 4, MAX_JOB = 1 << 20 };

/* initproto.StartRunner, initproto.RunnerGateFD. */
enum { START_RUNNER = 's', GATE_FD = 3 };

/* The runner's stdin (the runner contract's /ATO/input). */
static const char input_path[] = "/ATO/input";

/* An error report's text is cut here: a report must fit in the 4096 bytes
 * (initproto.MaxSize) the daemon reads. */
enum { MAX_ERROR = 512 };

/* fail prints "yargs: ..." and returns code, as yargs' failures do. */
static int fail(int code, const char *format, ...)
{
	va_list ap;
	fputs("yargs: ", stderr);
	va_start(ap, format);
	vfprintf(stderr, format, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* read_until reads fd to its end, until it holds more than max bytes (max
 * 0: no bound), or until end, if given, says b holds all it needs. */
static int read_until(int fd, size_t max, struct buffer *b, size_t (*end)(const struct buffer *))
{
	size_t cap = 4096;
	b->len = 0;
	b->data = malloc(cap + 1);
	if (!b->data)
		return -1;
	for (;;) {
		if (b->len == cap) {
			char *bigger = realloc(b->data, 2 * cap + 1);
			if (!bigger)
				return -1;
			b->data = bigger;
			cap *= 2;
		}
		ssize_t n = read(fd, b->data + b->len, cap - b->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		b->len += n;
		if (end && end(b))
			break;
		if (max && b->len > max)
			break;
	}
	b->data[b->len] = 0;
	return 0;
}

int read_all(int fd, size_t max, struct buffer *b)
{
	return read_until(fd, max, b, NULL);
}

/* executable reports whether path is a file this process may execute;
 * otherwise errno says why (ENOENT when there is nothing there). */
static int executable(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode)) {
		errno = EACCES;
		return 0;
	}
	return access(path, X_OK) == 0;
}

/* look_path finds name: itself when it has a slash, else the first
 * executable file of that name in a directory of $PATH. As Go's
 * exec.LookPath (the Go init's), which it replaced, it searches absolute
 * directories only (an empty or relative entry would find programs in the
 * current directory, /ATO/context, which the run writes), and no $PATH finds
 * nothing. Unlike it, a file found but not executable is a failure of its
 * own (EACCES: the shell's 126), not "not found". It returns a path to free,
 * or NULL with errno set (ENOENT: nothing found). */
static char *look_path(const char *name)
{
	if (strchr(name, '/'))
		return executable(name) ? strdup(name) : NULL;
	const char *path = getenv("PATH");
	int err = ENOENT;
	if (!path || !*name) {
		errno = ENOENT;
		return NULL;
	}
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		int dirlen = end - p;
		if (dirlen > 0 && *p == '/') {
			char *candidate;
			if (asprintf(&candidate, "%.*s/%s", dirlen, p, name) < 0)
				return NULL;
			if (executable(candidate))
				return candidate;
			if (errno != ENOENT && errno != ENOTDIR)
				err = errno; /* found, but not runnable: say why */
			free(candidate);
		}
		if (!*end)
			break;
		p = end;
	}
	errno = err;
	return NULL;
}

/* is_self reports whether path runs this very binary (as /ATO/yargs does). */
static int is_self(const char *path)
{
	struct stat a, b;
	return stat(path, &a) == 0 && stat("/proc/self/exe", &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* yargs implements /ATO/yargs. It only returns on failure: on success the
 * process is replaced by the program. A chain of yargs links (yargs %2
 * /ATO/arguments yargs %1 /ATO/options prog ...: every runner has one) is
 * expanded here link by link, as exec'ing each would, saving a program start
 * per link. */
static int yargs(int argc, char **argv)
{
	for (;;) {
		if (argc < 3)
			return fail(2, "usage: yargs PLACEHOLDER FILE prog [args...]");
		const char *placeholder = argv[0], *file = argv[1];
		char **command = argv + 2;
		int ncommand = argc - 2;

		int fd = open(file, O_RDONLY | O_CLOEXEC);
		struct buffer b;
		if (fd < 0 || read_all(fd, 0, &b) < 0)
			return fail(2, "reading %s: %s", file, strerror(errno));
		close(fd);

		/* The entries: each NUL-terminated; a last one without its NUL
		 * still counts; an empty file has none. */
		size_t nentries = 0;
		for (size_t i = 0; i < b.len; i++)
			nentries += b.data[i] == 0;
		if (b.len > 0 && b.data[b.len - 1] != 0)
			nentries++;

		int at = -1;
		for (int i = 0; i < ncommand; i++) {
			if (strcmp(command[i], placeholder) == 0) {
				at = i;
				break;
			}
		}
		size_t n = at < 0 ? (size_t)ncommand : (size_t)ncommand - 1 + nentries;
		if (n > INT_MAX - 1)
			return fail(2, "reading %s: too many entries", file);
		char **out = malloc((n + 1) * sizeof *out);
		if (!out)
			return fail(2, "%s", strerror(errno));
		size_t k = 0;
		for (int i = 0; i < ncommand; i++) {
			if (i != at) {
				out[k++] = command[i];
				continue;
			}
			for (char *e = b.data; e < b.data + b.len; e += strlen(e) + 1)
				out[k++] = e;
		}
		out[k] = NULL;
		if (k == 0)
			return fail(2, "nothing to run: the placeholder was the program and %s is empty", file);

		char *path = look_path(out[0]);
		if (!path) {
			if (errno == ENOENT)
				return fail(127, "%s: command not found", out[0]);
			return fail(126, "%s: %s", out[0], strerror(errno));
		}
		if (is_self(path)) {
			free(path);
			argc = k - 1;
			argv = out + 1;
			continue;
		}
		execv(path, out);
		return fail(126, "executing %s: %s", out[0], strerror(errno));
	}
}

/* report is what init writes once, just before it exits (initproto.Report). */
struct report {
	unsigned wait_status;
	long long real_ns;
	struct rusage usage;
	char error[MAX_ERROR + 1]; /* empty: none */
};

static long long timeval_ns(struct timeval tv)
{
	return (long long)tv.tv_sec * 1000000000LL + (long long)tv.tv_usec * 1000LL;
}

static long long monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int write_all(int fd, const char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		b += w;
		n -= w;
	}
	return 0;
}

/* write_report writes r as one line of JSON, and returns init's exit code. */
static int write_report(const struct report *r)
{
	char line[4096];
	const struct rusage *u = &r->usage;
	int n = snprintf(line, sizeof line,
			 "{\"wait_status\":%u,\"real_ns\":%lld,\"usage\":{\"user_ns\":%lld,\"system_ns\":%lld,"
			 "\"max_rss_kib\":%ld,\"minflt\":%ld,\"majflt\":%ld,\"inblock\":%ld,\"oublock\":%ld,"
			 "\"nvcsw\":%ld,\"nivcsw\":%ld}",
			 r->wait_status, r->real_ns, timeval_ns(u->ru_utime), timeval_ns(u->ru_stime), u->ru_maxrss,
			 u->ru_minflt, u->ru_majflt, u->ru_inblock, u->ru_oublock, u->ru_nvcsw, u->ru_nivcsw);
	if (r->error[0]) {
		/* A JSON string: quotes, backslashes and control characters
		 * escaped; any other byte as it is (the daemon's decoder takes
		 * invalid UTF-8 as U+FFFD). At most 6 bytes per byte of a
		 * 512-byte text: it fits. */
		n += snprintf(line + n, sizeof line - n, ",\"error\":\"");
		for (const unsigned char *c = (const unsigned char *)r->error; *c; c++) {
			if (*c == '"' || *c == '\\')
				n += snprintf(line + n, sizeof line - n, "\\%c", *c);
			else if (*c < 0x20 || *c == 0x7f)
				n += snprintf(line + n, sizeof line - n, "\\u%04x", *c);
			else
				line[n++] = *c;
		}
		line[n++] = '"';
	}
	line[n++] = '}';
	line[n++] = '\n';
	if (write_all(REPORT_FD, line, n) < 0) {
		fprintf(stderr, "atod-init: writing init report: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

/* report_error reports that init could not start the runner. */
static int report_error(unsigned wait_status, const char *format, ...)
{
	struct report r = {.wait_status = wait_status};
	va_list ap;
	va_start(ap, format);
	vsnprintf(r.error, sizeof r.error, format, ap);
	va_end(ap);
	return write_report(&r);
}

/* job is the daemon's job (initproto.Job): pointers into its buffer. */
struct job {
	char **command; /* NULL-terminated */
	char **env;     /* NULL-terminated */
};

/* held_job_end finds the end of a job handed over ahead
 * (initproto.Job.EncodeHeld) in b: the count, the command's entries, the
 * environment's, and an empty entry last, where no environment entry is
 * empty. Past it, the daemon may have written StartRunner already (one
 * byte, the only one it writes). It returns the
 * length of the job with its empty entry, or 0 when b holds none. */
static size_t held_job_end(const struct buffer *b)
{
	const char *data = b->data;
	size_t n = b->len;
	int ends = (n >= 2 && !data[n - 1] && !data[n - 2]) || (n >= 3 && !data[n - 2] && !data[n - 3]);
	if (!ends)
		return 0;
	char *end;
	unsigned long ncommand = strtoul(data, &end, 10);
	if (end == data || end >= data + n || *end || ncommand == 0)
		return 0;
	unsigned long k = 0; /* entries after the count */
	for (const char *e = end + 1; e < data + n; k++) {
		size_t len = strnlen(e, data + n - e);
		if (e + len == data + n)
			return 0; /* unterminated: not (yet) a job */
		if (k >= ncommand && len == 0)
			return e + 1 - data;
		e += len + 1;
	}
	return 0;
}

/* read_job reads the job: to the pipe's end, or to the end of a job handed
 * over ahead (held set), whose pipe stays open; then pending is the byte
 * the daemon wrote after it, if any, else -1. */
static int read_job(struct buffer *b, int *held, int *pending)
{
	*held = 0;
	*pending = -1;
	if (read_until(JOB_FD, MAX_JOB, b, held_job_end) < 0)
		return -1;
	size_t job = held_job_end(b);
	if (job) {
		*held = 1;
		if (job < b->len)
			*pending = (unsigned char)b->data[job];
		b->len = job - 1; /* the job itself */
		b->data[b->len] = 0;
	}
	return 0;
}

/* parse_job splits a job's entries; on a malformed job it returns -1 with
 * why in reason. */
static int parse_job(struct buffer *b, struct job *j, char *reason, size_t size)
{
	if (b->len == 0 || b->data[b->len - 1] != 0) {
		snprintf(reason, size, "decoding job: its last entry is not terminated");
		return -1;
	}
	size_t total = 0;
	for (size_t i = 0; i < b->len; i++)
		total += b->data[i] == 0;
	char *end;
	errno = 0;
	unsigned long ncommand = strtoul(b->data, &end, 10);
	if (errno || end == b->data || *end || ncommand == 0 || ncommand > total - 1) {
		snprintf(reason, size, "decoding job: bad command count %.20s", b->data);
		return -1;
	}
	char **entries = malloc((total + 2) * sizeof *entries);
	if (!entries) {
		snprintf(reason, size, "decoding job: %s", strerror(errno));
		return -1;
	}
	size_t k = 0;
	for (char *e = b->data + strlen(b->data) + 1; e < b->data + b->len; e += strlen(e) + 1) {
		if (k == ncommand)
			entries[k++] = NULL; /* the command's end */
		entries[k++] = e;
	}
	if (k == ncommand)
		entries[k++] = NULL;
	entries[k] = NULL;
	j->command = entries;
	j->env = entries + ncommand + 1;
	for (char **e = j->env; *e; e++) {
		char *eq = strchr(*e, '=');
		if (!eq || eq == *e) {
			snprintf(reason, size, "invalid environment entry \"%.100s\"", *e);
			return -1;
		}
	}
	return 0;
}

/* spawn_runner starts the job's command as the runner: in a session of its
 * own, so that `kill 0` in its process group never reaches init, with stdin
 * from in (/ATO/input), an empty signal mask and every signal's default
 * action, and, when gate is not -1, gate as its descriptor GATE_FD. It
 * returns 0, or an errno value. */
static int spawn_runner(const struct job *j, int in, int gate, pid_t *runner)
{
	char *path = look_path(j->command[0]);
	if (!path)
		return errno;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_t actions;
	posix_spawnattr_init(&attr);
	sigset_t all, none; /* every signal: sigfillset leaves out the C library's own */
	memset(&all, 0xff, sizeof all);
	sigemptyset(&none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all); /* nothing ignored is inherited */
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, in, 0);
	if (gate >= 0)
		posix_spawn_file_actions_adddup2(&actions, gate, GATE_FD);
	int err = posix_spawn(runner, path, &actions, &attr, j->command, j->env);
	posix_spawn_file_actions_destroy(&actions);
	posix_spawnattr_destroy(&attr);
	free(path);
	return err;
}

/* report_spawn_error reports that the runner could not start, with the
 * shell's convention: 127 for a missing command, 126 otherwise. */
static int report_spawn_error(const struct job *j, int err)
{
	unsigned code = err == ENOENT ? 127 : 126;
	fprintf(stderr, "atod-init: starting %s: %s\n", j->command[0], strerror(err));
	return report_error(code << 8, "starting %s: %s", j->command[0], strerror(err));
}

/* run_init is PID 1 of a run. The handshake with the daemon:
 *
 *	daemon                          init (pid 1)               runner
 *	  | -- fd 3: report pipe ------> |                            |
 *	  | -- fd 4: job pipe ---------> |                            |
 *	  |    (the sandbox is ready: it waits here, perhaps long)    |
 *	  | -- job (command, env), EOF > |                            |
 *	  |                              | -- spawn, setsid --------> |
 *	  |                              |   reaps orphans ...        |
 *	  |                              | <-------- runner exits --- |
 *	  |                              | kill(-1, SIGKILL), reap all
 *	  | <---- end of output -------- |  (init closes stdout, stderr)
 *	  | <---- report (JSON), EOF --- |  the daemon answers from here
 *	  | <---- exit 0 --------------- |
 *
 * A job handed over ahead (initproto.Job.EncodeHeld) ends with an empty
 * entry instead of the pipe's end, and the pipe stays open: the runner
 * starts at once with the read end of a pipe, the gate, as its descriptor
 * GATE_FD (its Bash waits on it: --atod-wait-fd), and init closes the
 * gate's write end when the daemon writes StartRunner, the run's files being
 * in place; the run's real time starts then. A job pipe that ends before
 * that is a sandbox discarded unused: init kills the waiting runner and
 * exits without a word.
 *
 * If the daemon kills the run (timeout, client gone) init dies with it and
 * writes nothing; the daemon then knows the cause itself. A job pipe closed
 * with no job is a sandbox discarded unused: init exits and reports nothing.
 * If the daemon dies while the runner runs, the report pipe says so
 * (POLLERR on its write end) and init kills the run: the parent-death signal
 * could not do this, as it follows the daemon's thread that forked the run,
 * and a Go daemon's threads come and go.
 *
 * Signals: PID 1 of a namespace gets no signal from inside it that it has
 * no handler for, and init installs none; SIGCHLD is blocked and read from a
 * signalfd. The runner starts with an empty signal mask and every signal's
 * default action.
 */
static int run_init(void)
{
	/* Started by the setup: its status pipe waits for this, and a setup
	 * that died ends it without (initproto.Ready). */
	if (fcntl(STATUS_FD, F_GETFD) >= 0) {
		if (write_all(STATUS_FD, READY, strlen(READY)) < 0)
			return 1;
		close(STATUS_FD);
	}
	/* Nothing else the daemon's side left open (the setup's own
	 * descriptors, should one stay open) may reach the runner. */
	if (syscall(SYS_close_range, JOB_FD + 1, ~0U, 0) < 0) {
		/* A kernel before 5.9: one by one. */
		struct rlimit nofile;
		if (getrlimit(RLIMIT_NOFILE, &nofile) < 0) {
			fprintf(stderr, "atod-init: closing inherited descriptors: %s\n", strerror(errno));
			return 1;
		}
		for (rlim_t fd = JOB_FD + 1; fd < nofile.rlim_cur; fd++)
			close(fd);
	}
	if (fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "atod-init: no report pipe on fd %d\n", REPORT_FD);
		return 1;
	}
	/* Not dumpable: the runner has init's uid, and could otherwise open
	 * /proc/1/fd/3 and forge or block the report. The runner becomes
	 * dumpable again when it execs. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	struct buffer b;
	int held, pending;
	if (read_job(&b, &held, &pending) < 0)
		return report_error(0, "reading job: %s", strerror(errno));
	if (!held)
		close(JOB_FD);
	else if (fcntl(JOB_FD, F_SETFD, FD_CLOEXEC) < 0) /* the daemon's alone */
		return report_error(0, "keeping the job pipe: %s", strerror(errno));
	if (b.len == 0)
		return 0;
	if (b.len > MAX_JOB)
		return report_error(0, "reading job: more than %d bytes", MAX_JOB);
	struct job j;
	char reason[MAX_ERROR];
	if (parse_job(&b, &j, reason, sizeof reason) < 0)
		return report_error(0, "%s", reason);

	/* The runner's environment is the job's alone; PATH in it finds the
	 * command. */
	environ = j.env;
	int in = open(input_path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return report_error(0, "opening stdin: %s", strerror(errno));

	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return report_error(0, "watching for the runner's end: %s", strerror(errno));

	/* gate[1]: the gate's write end, while the runner waits on it. */
	int gate[2] = {-1, -1};
	if (held && pipe2(gate, O_CLOEXEC) < 0)
		return report_error(0, "making the runner's gate: %s", strerror(errno));
	long long start = monotonic_ns();
	pid_t runner;
	int err = spawn_runner(&j, in, gate[0], &runner);
	close(in);
	if (held)
		close(gate[0]);
	if (err)
		return report_spawn_error(&j, err);

	struct report r = {0};
	struct pollfd fds[3] = {
		{.fd = REPORT_FD}, /* the report pipe: only POLLERR/POLLHUP */
		{.fd = sfd, .events = POLLIN},
		{.fd = held ? JOB_FD : -1, .events = POLLIN},
	};
	for (int done = 0; !done;) {
		if (poll(fds, 3, pending >= 0 ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(r.error, sizeof r.error, "waiting for the runner: %s", strerror(errno));
			break;
		}
		if (fds[0].revents & (POLLERR | POLLHUP)) {
			kill(-1, SIGKILL);
			return 1;
		}
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof si) > 0) {
		}
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid == runner) {
				r.wait_status = status;
				done = 1;
			}
		}
		if (pid < 0 && errno != EINTR && !done) {
			snprintf(r.error, sizeof r.error, "waiting for the runner: %s", strerror(errno));
			break;
		}
		if (done || (!fds[2].revents && pending < 0))
			continue;
		/* The daemon, on the held job pipe: StartRunner, or the pipe's
		 * end. */
		char c = pending;
		ssize_t n = 1;
		if (pending >= 0)
			pending = -1;
		else
			n = read(JOB_FD, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0 && c == START_RUNNER && gate[1] >= 0) {
			close(gate[1]); /* the runner goes on */
			gate[1] = -1;
			start = monotonic_ns();
			continue;
		}
		if (n == 0 && gate[1] < 0) {
			/* Handed over; nothing more comes. */
			close(JOB_FD);
			fds[2].fd = -1;
			continue;
		}
		kill(-1, SIGKILL);
		if (n == 0)
			return 0; /* discarded before its run */
		if (n < 0)
			return report_error(0, "reading the job pipe: %s", strerror(errno));
		if (c == START_RUNNER)
			return report_error(0, "reading the job pipe: StartRunner after the runner's start");
		return report_error(0, "reading the job pipe: 0x%02x is no request", (unsigned char)c);
	}
	r.real_ns = monotonic_ns() - start;

	/* The run ends with its runner: nothing it started outlives it. */
	kill(-1, SIGKILL);
	while (wait(NULL) > 0 || errno == EINTR) {
	}
	getrusage(RUSAGE_CHILDREN, &r.usage);
	/* Init's copies of the output pipes were the last: the daemon has all
	 * of the output, and then the report, without waiting for init's own
	 * end (the teardown of its namespaces). */
	close(STDOUT_FILENO);
	close(STDERR_FILENO);
	int code = write_report(&r);
	close(REPORT_FD);
	return code;
}

int main(int argc, char **argv)
{
	/* Started by the daemon: `atod-init setup UID_MAP GID_MAP SETGROUPS`
	 * (initproto.SetupArgs); the sandbox it starts execs this binary again
	 * as its init. */
	if (argc == 5 && strcmp(argv[0], "atod-init") == 0 && strcmp(argv[1], "setup") == 0)
		return run_setup(argv[2], argv[3], argv[4]);
	if (getpid() == 1)
		return run_init();
	return yargs(argc - 1, argv + 1);
}
