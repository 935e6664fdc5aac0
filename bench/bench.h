/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the benchmark programs share: one way to refuse bad usage (a line,
 * exit 2), to read a number, to tell the time, and to stop with their
 * parent.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>

/* The program's name in its error lines; each program sets it. */
extern const char *const bench_prog;

__attribute__((format(printf, 1, 2), noreturn))
static inline void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (try -h)\n", stderr);
	exit(2);
}

/*
 * A whole decimal number in [lo, hi] into *out: no sign, no space. With
 * rest, a ',' may end it and *rest points there (lists); else nothing may.
 */
static inline bool bench_parse_uint(const char *s, unsigned long lo, unsigned long hi,
				    unsigned long *out, const char **rest)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || (*end && (*end != ',' || !rest)) || v < lo || v > hi)
		return false;
	*out = v;
	if (rest)
		*rest = end;
	return true;
}

/* CLOCK_MONOTONIC in seconds. */
static inline double bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Block SIGTERM and SIGINT into *stop (the caller waits for them with
 * sigtimedwait, so a stop request that comes while it sets up waits), and
 * make the parent's death one of them. 0; -1 after a line when prctl
 * fails; 1 when the parent died before prctl could watch it.
 */
static inline int bench_stop_with_parent(sigset_t *stop)
{
	pid_t parent;

	sigemptyset(stop);
	sigaddset(stop, SIGTERM);
	sigaddset(stop, SIGINT);
	sigprocmask(SIG_BLOCK, stop, NULL);
	parent = getppid();
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0) {
		fprintf(stderr, "%s: prctl(PR_SET_PDEATHSIG): %s\n", bench_prog, strerror(errno));
		return -1;
	}
	return getppid() != parent;
}

#endif
