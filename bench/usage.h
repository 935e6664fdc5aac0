/* SPDX-License-Identifier: GPL-2.0-only */
/* The benchmark programs' one way to refuse bad usage: a line, exit 2. */
#ifndef BENCH_USAGE_H
#define BENCH_USAGE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif
