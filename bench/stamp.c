// SPDX-License-Identifier: GPL-2.0
/*
 * stamp: copy lines from stdin to stdout, each preceded by the
 * CLOCK_MONOTONIC time at which it had been read whole, and a space.
 *
 * bench/frame reads tcpkeep's JSON frames through it: a frame's
 * "monotonic" is when its snapshot began, its stamp is when the frame had
 * been rendered and written, so the difference is what the frame took.
 * Both clocks are the same one, and no line is held back: stdout is
 * flushed after each.
 *
 * Exit status: 0 at the end of input, 1 on a read or write error,
 * 2 bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"

const char *const bench_prog = "stamp";

int main(int argc, char **argv)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (argc > 1 && !strcmp(argv[1], "-h")) {
		puts("usage: stamp < INPUT\n"
		     "  each line of INPUT preceded by the CLOCK_MONOTONIC seconds\n"
		     "  at which it had been read");
		return 0;
	}
	if (argc > 1)
		bad_usage("unexpected argument '%s'", argv[1]);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (printf("%lld.%06ld %s", (long long)ts.tv_sec, ts.tv_nsec / 1000, line) < 0 ||
		    (line[n - 1] != '\n' && putchar('\n') == EOF) || fflush(stdout)) {
			perror("stamp: stdout");
			return 1;
		}
	}
	free(line);
	if (ferror(stdin)) {
		perror("stamp: stdin");
		return 1;
	}
	return 0;
}
