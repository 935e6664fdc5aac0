/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the benchmark programs share: one way to refuse bad usage (a line,
 * exit 2), and one way to stop with their parent.
 */
#ifndef BENCH_USAGE_H
#define BENCH_USAGE_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
