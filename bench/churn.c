// SPDX-License-Identifier: GPL-2.0
/*
 * churn: loopback TCP connection-churn load generator for the benchmark.
 *
 * One listening socket on 127.0.0.1 (or ::1 with -6) served by acceptor
 * threads that accept and close, and client threads that connect and
 * close as fast as they can until the duration is over. Every connection
 * goes through the full set of TCP state transitions on both ends, which
 * is what the tracepoint and sockops programs of tcpkeep see.
 *
 * The client closes with SO_LINGER {1, 0}: an abortive close sends a RST
 * and frees the socket and its ephemeral port at once, so neither end
 * ever enters TIME_WAIT (the server side, whether it closed first or not,
 * ends in CLOSE on the RST). Without it the client, being the side that
 * usually closes first, would park ~28k ports in TIME_WAIT within a few
 * seconds and connect() would fail with EADDRNOTAVAIL.
 *
 * With -f the close is orderly instead, the client first (as a mail client
 * that logs out): the client closes after connecting, the server reads to
 * EOF and closes, so the client's end goes through FIN_WAIT1, FIN_WAIT2
 * and TIME_WAIT (loopback reuses TIME_WAIT ports, net.ipv4.tcp_tw_reuse).
 * With -n the run ends after exactly N connections instead of -d seconds.
 *
 * At the end it prints one line of key=value pairs on stdout:
 *   conns=N seconds=S rate=R accepted=A errors=E mono_end=T
 * conns counts connects that succeeded, rate is conns per second, and
 * mono_end is CLOCK_MONOTONIC when the last socket was closed: a reader
 * of timestamped samples (tcpkeep's JSON frames) can tell which were
 * taken after the load.
 *
 * Exit status: 0 done, 1 failed at run time (including no connection at
 * all), 2 bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"

#define MAX_THREADS	256
#define MIN_SECONDS	0.01
#define MAX_SECONDS	3600.0
#define ACCEPTORS	1
#define BACKLOG		4096

struct options {
	unsigned int port;
	unsigned int threads;
	double seconds;
	bool ipv6;
	bool fin;		/* -f: orderly close, client first */
	unsigned int count;	/* -n: exactly this many connections, 0: -d */
};

/* One per client thread, on its own cache line. */
struct client {
	pthread_t tid;
	unsigned long conns;
	unsigned long errors;
	int first_errno;
} __attribute__((aligned(64)));

struct acceptor {
	pthread_t tid;
	atomic_ulong accepted;
	int err;
} __attribute__((aligned(64)));

static atomic_bool stop;
static atomic_ulong budget;	/* -n: connections left to make */
static struct options opts;
static struct sockaddr_storage server_addr;
static socklen_t server_len;
static int listen_fd = -1;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: churn -p PORT [-t THREADS] [-d SECONDS | -n COUNT] [-f] [-6]\n"
		"  -p PORT     port to listen on and connect to (1-65535, required)\n"
		"  -t THREADS  client threads, 1-%d (default 2)\n"
		"  -d SECONDS  how long to run, %.2f-%.0f (default 2)\n"
		"  -n COUNT    make exactly COUNT connections, then stop\n"
		"  -f          close with FIN, client first (default: RST)\n"
		"  -6          use ::1 instead of 127.0.0.1\n",
		MAX_THREADS, MIN_SECONDS, MAX_SECONDS);
}

const char *const bench_prog = "churn";

static bool parse_seconds(const char *s, double *out)
{
	double v;
	char *end;

	if ((*s < '0' || *s > '9') && *s != '.')
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < MIN_SECONDS || v > MAX_SECONDS)
		return false;
	*out = v;
	return true;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	bool have_port = false;
	unsigned long v;
	int c;

	o->threads = 2;
	o->seconds = 2.0;
	o->ipv6 = false;

	opterr = 0;
	while ((c = getopt(argc, argv, ":p:t:d:n:f6h")) != -1) {
		switch (c) {
		case 'p':
			if (!bench_parse_uint(optarg, 1, 65535, &v, NULL))
				bad_usage("bad port '%s', want 1-65535", optarg);
			o->port = (unsigned int)v;
			have_port = true;
			break;
		case 't':
			if (!bench_parse_uint(optarg, 1, MAX_THREADS, &v, NULL))
				bad_usage("bad thread count '%s', want 1-%d", optarg, MAX_THREADS);
			o->threads = (unsigned int)v;
			break;
		case 'd':
			if (!parse_seconds(optarg, &o->seconds))
				bad_usage("bad duration '%s', want seconds %.2f-%.0f", optarg, MIN_SECONDS, MAX_SECONDS);
			break;
		case 'n':
			if (!bench_parse_uint(optarg, 1, 100000000, &v, NULL))
				bad_usage("bad count '%s', want 1-100000000", optarg);
			o->count = (unsigned int)v;
			break;
		case 'f':
			o->fin = true;
			break;
		case '6':
			o->ipv6 = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			bad_usage("option -%c needs a value", optopt);
		default:
			bad_usage("unknown option -%c", optopt);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	if (!have_port)
		bad_usage("-p PORT is required");
}

static void set_addr(const struct options *o)
{
	memset(&server_addr, 0, sizeof(server_addr));
	if (o->ipv6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&server_addr;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)o->port);
		a6->sin6_addr = in6addr_loopback;
		server_len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&server_addr;

		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)o->port);
		a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		server_len = sizeof(*a4);
	}
}

static int open_listener(void)
{
	int one = 1;
	int fd;

	fd = socket(server_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&server_addr, server_len) < 0 ||
	    listen(fd, BACKLOG) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void *acceptor_main(void *arg)
{
	struct acceptor *a = arg;

	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd >= 0) {
			char buf[64];

			a->accepted++;
			/* -f: the client closes first; wait for its FIN */
			while (opts.fin && (read(fd, buf, sizeof(buf)) > 0 || errno == EINTR))
				;
			close(fd);
			continue;
		}
		if (atomic_load_explicit(&stop, memory_order_relaxed))
			break;	/* woken by the shutdown() in main */
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case EAGAIN:
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			usleep(1000);
			continue;
		default:
			a->err = errno;
			return NULL;
		}
	}
	return NULL;
}

static void *client_main(void *arg)
{
	/* a connect that cannot complete (a full accept queue drops the SYN)
	 * gives up after this instead of waiting out SYN retransmits */
	const struct timeval tmo = { .tv_sec = 0, .tv_usec = 200 * 1000 };
	const struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	struct client *c = arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int fd;

		/* -n: claim one of the connections left, or stop */
		if (opts.count) {
			unsigned long left = atomic_load(&budget);

			do {
				if (!left)
					return NULL;
			} while (!atomic_compare_exchange_weak(&budget, &left, left - 1));
		}
		fd = socket(server_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			if (!c->first_errno)
				c->first_errno = errno;
			c->errors++;
			if (opts.count)
				atomic_fetch_add(&budget, 1);	/* not made: try again */
			usleep(1000);
			continue;
		}
		/* -f: no linger, and no send timeout either: a connect that
		 * timed out would go on in the background, uncounted */
		if ((!opts.fin && (setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst)) < 0 ||
				   setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo)) < 0))) {
			if (!c->first_errno)
				c->first_errno = errno;
			c->errors++;
			close(fd);
			if (opts.count)
				atomic_fetch_add(&budget, 1);
			continue;
		}
		if (connect(fd, (struct sockaddr *)&server_addr, server_len) == 0) {
			c->conns++;
		} else {
			if (!c->first_errno)
				c->first_errno = errno;
			c->errors++;
			if (opts.count)
				atomic_fetch_add(&budget, 1);
			if (errno == EADDRNOTAVAIL)
				usleep(1000);	/* out of ports: let them drain */
		}
		close(fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static struct client clients[MAX_THREADS];
	static struct acceptor acceptors[ACCEPTORS];
	unsigned long conns = 0, errors = 0, accepted = 0;
	struct options o = { 0 };
	int first_errno = 0, acc_err = 0;
	unsigned int started = 0, i;
	struct timespec dur;
	double t0, elapsed, mono_end;
	int rc = 0, e;

	parse_args(argc, argv, &o);
	opts = o;
	atomic_store(&budget, o.count);
	set_addr(&o);
	signal(SIGPIPE, SIG_IGN);

	listen_fd = open_listener();
	if (listen_fd < 0) {
		fprintf(stderr, "churn: listen on %s port %u: %s\n",
			o.ipv6 ? "::1" : "127.0.0.1", o.port, strerror(errno));
		return 1;
	}

	for (i = 0; i < ACCEPTORS; i++) {
		e = pthread_create(&acceptors[i].tid, NULL, acceptor_main, &acceptors[i]);
		if (e) {
			fprintf(stderr, "churn: pthread_create: %s\n", strerror(e));
			/* nothing to join but the acceptors already started */
			atomic_store(&stop, true);
			shutdown(listen_fd, SHUT_RDWR);
			while (i--)
				pthread_join(acceptors[i].tid, NULL);
			close(listen_fd);
			return 1;
		}
	}

	t0 = bench_now_s();
	for (started = 0; started < o.threads; started++) {
		e = pthread_create(&clients[started].tid, NULL, client_main, &clients[started]);
		if (e) {
			fprintf(stderr, "churn: pthread_create: %s\n", strerror(e));
			rc = 1;
			break;
		}
	}

	if (!rc && o.count) {
		for (i = 0; i < started; i++)
			pthread_join(clients[i].tid, NULL);
	} else if (!rc) {
		dur.tv_sec = (time_t)o.seconds;
		dur.tv_nsec = (long)((o.seconds - (double)dur.tv_sec) * 1e9);
		while (nanosleep(&dur, &dur) < 0 && errno == EINTR)
			;
	}
	atomic_store(&stop, true);
	for (i = 0; i < started; i++) {
		if (!o.count || rc)
			pthread_join(clients[i].tid, NULL);
		conns += clients[i].conns;
		errors += clients[i].errors;
		if (!first_errno)
			first_errno = clients[i].first_errno;
	}
	elapsed = bench_now_s() - t0;

	/* -n: every connection made is accepted and closed in order before
	 * the listener goes (a shutdown would reset those still queued) */
	for (double give_up = bench_now_s() + 30; o.count && bench_now_s() < give_up;) {
		unsigned long n = 0;

		for (i = 0; i < ACCEPTORS; i++)
			n += atomic_load(&acceptors[i].accepted);
		if (n >= conns)
			break;
		usleep(1000);
	}

	/* wakes acceptors blocked in accept(): it fails with EINVAL */
	shutdown(listen_fd, SHUT_RDWR);
	for (i = 0; i < ACCEPTORS; i++) {
		pthread_join(acceptors[i].tid, NULL);
		accepted += acceptors[i].accepted;
		if (!acc_err)
			acc_err = acceptors[i].err;
	}
	close(listen_fd);
	mono_end = bench_now_s();

	if (rc)
		return rc;
	printf("conns=%lu seconds=%.3f rate=%.1f accepted=%lu errors=%lu mono_end=%.6f\n",
	       conns, elapsed, elapsed > 0 ? (double)conns / elapsed : 0.0,
	       accepted, errors, mono_end);
	if (fflush(stdout) != 0) {
		perror("churn: stdout");
		return 1;
	}
	if (acc_err) {
		fprintf(stderr, "churn: accept: %s\n", strerror(acc_err));
		return 1;
	}
	if (!conns) {
		fprintf(stderr, "churn: no connection succeeded%s%s\n",
			first_errno ? ": " : "", first_errno ? strerror(first_errno) : "");
		return 1;
	}
	if (errors)
		fprintf(stderr, "churn: %lu connects failed, first: %s\n", errors,
			first_errno ? strerror(first_errno) : "?");
	return 0;
}
