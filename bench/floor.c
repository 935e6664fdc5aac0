// SPDX-License-Identifier: GPL-2.0
/*
 * floor: hold the benchmark's do-nothing program (bench/floor.bpf.c) on
 * the inet_sock_set_state tracepoint until SIGTERM or SIGINT.
 *
 * bench/run measures connection rates with it attached to tell the price
 * of having any tracing program on the tracepoint from the price of
 * tcpkeep's own code. It prints "attached" on stderr once the program
 * runs, and never outlives its bound (-t) or its parent: a benchmark that
 * dies leaves nothing attached for long.
 *
 * Exit status: 0 detached after a signal, 1 failed (or the bound ran out),
 * 2 bad usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include "bench.h"

#define PROG_NAME	"floor_set_state"
#define DEFAULT_BOUND	3600
#define MAX_BOUND	86400

static void usage(FILE *f)
{
	fprintf(f,
		"usage: floor [-v] [-t SECONDS] OBJECT\n"
		"  attach " PROG_NAME " from OBJECT (build/floor.bpf.o) to\n"
		"  inet_sock_set_state, wait for SIGTERM or SIGINT, detach\n"
		"  -t SECONDS  give up and detach after this long, 1-%d (default %d)\n"
		"  -v          print libbpf's log (and the verifier's) to stderr\n",
		MAX_BOUND, DEFAULT_BOUND);
}

const char *const bench_prog = "floor";

static int print_all(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return vfprintf(stderr, fmt, ap);
}

/* The first of SIGTERM or SIGINT (blocked by the caller) within bound
 * seconds: the signal number, or 0 when the bound ran out. */
static int wait_signal(const sigset_t *set, unsigned int bound)
{
	struct timespec now, end, left;
	int sig;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += bound;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = end.tv_sec - now.tv_sec;
		left.tv_nsec = end.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_nsec += 1000000000L;
			left.tv_sec--;
		}
		if (left.tv_sec < 0)
			return 0;
		sig = sigtimedwait(set, NULL, &left);
		if (sig > 0)
			return sig;
		if (errno == EAGAIN)
			return 0;
		/* EINTR: another signal, handled elsewhere; wait on */
	}
}

int main(int argc, char **argv)
{
	unsigned int bound = DEFAULT_BOUND;
	unsigned long v;
	struct bpf_program *prog;
	struct bpf_object *obj = NULL;
	struct bpf_link *link = NULL;
	bool verbose = false;
	const char *path;
	sigset_t stop;
	int rc = 1, err, sig, c;

	opterr = 0;
	while ((c = getopt(argc, argv, ":t:vh")) != -1) {
		switch (c) {
		case 't':
			if (!bench_parse_uint(optarg, 1, MAX_BOUND, &v, NULL))
				bad_usage("bad bound '%s', want seconds 1-%d", optarg, MAX_BOUND);
			bound = (unsigned int)v;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			bad_usage("option -%c needs a value", optopt);
		default:
			bad_usage("unknown option -%c", optopt);
		}
	}
	if (optind != argc - 1)
		bad_usage(optind < argc ? "one OBJECT only" : "OBJECT is required");
	path = argv[optind];

	/* Blocked from here on, so a stop request that arrives while the
	 * program loads waits for sigtimedwait instead of killing us with
	 * the program attached half-way. The parent's death is one too. */
	switch (bench_stop_with_parent(&stop)) {
	case -1:
		return 1;
	case 1:
		raise(SIGTERM);	/* the parent died before prctl: stop at once */
	}

	libbpf_set_print(verbose ? print_all : NULL);

	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		err = errno;
		fprintf(stderr, "floor: cannot open %s: %s (run make bench-bin)\n",
			path, strerror(err));
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, PROG_NAME);
	if (!prog) {
		fprintf(stderr, "floor: %s has no program " PROG_NAME "\n", path);
		goto cleanup;
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "floor: cannot load %s: %s (root needed; -v shows the log)\n",
			path, strerror(-err));
		goto cleanup;
	}
	link = bpf_program__attach(prog);
	if (!link) {
		err = errno;
		fprintf(stderr, "floor: cannot attach " PROG_NAME ": %s (-v shows the log)\n",
			strerror(err));
		goto cleanup;
	}
	fprintf(stderr, "floor: attached " PROG_NAME " to inet_sock_set_state\n");

	sig = wait_signal(&stop, bound);
	if (sig) {
		rc = 0;
	} else {
		fprintf(stderr, "floor: no SIGTERM or SIGINT within %u s: detaching\n", bound);
	}

cleanup:
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return rc;
}
