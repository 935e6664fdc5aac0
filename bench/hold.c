// SPDX-License-Identifier: GPL-2.0
/*
 * hold: make COUNT established loopback TCP connections and hold them,
 * both ends, until SIGTERM or SIGINT.
 *
 * bench/frame runs it inside a network namespace of its own to measure
 * what a frame of tcpkeep (one sock_diag dump per namespace) costs beside
 * ss(8) over the same sockets: COUNT connections are 2 * COUNT sockets,
 * plus the listeners.
 *
 * Each end takes a descriptor. It raises RLIMIT_NOFILE to hold them all
 * in one process; where that is refused (no CAP_SYS_RESOURCE, or past
 * fs.nr_open) it forks workers that each hold what the hard limit allows.
 * Worker k listens on 127.0.0.(k+1) on every port given and connects to
 * its own listeners in turn, so that its connections fit the ephemeral
 * range: each (remote address, remote port) can use every local port
 * once. Give ports outside the namespace's ip_local_port_range. A connect
 * completes within the call on loopback; the queues are drained every
 * DRAIN_EVERY connects so none overflows (a SYN dropped there would stall
 * a connect for a second).
 *
 * It prints "held conns=N seconds=S workers=W" on stdout once every
 * connection is accepted, and never outlives its bound (-t) or its
 * parent, nor do its workers outlive it. On exit the kernel closes every
 * socket.
 *
 * Exit status: 0 stopped by a signal, 1 failed (or the bound ran out),
 * 2 bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"

#define MAX_COUNT	1000000
#define MAX_PORTS	16
/* one 127.0.0.x address each */
#define MAX_WORKERS	254
#define BACKLOG		4096
#define DRAIN_EVERY	256
#define DEFAULT_BOUND	3600
#define MAX_BOUND	86400
/* descriptors beyond the sockets: stdio, listeners, the pipe, slack */
#define SPARE_FDS	(MAX_PORTS + 16)
/* waiting for the last accepts, in seconds */
#define ACCEPT_WAIT	10

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hold -n COUNT -p PORT[,PORT...] [-t SECONDS]\n"
		"  make COUNT established connections to listeners on 127.0.0.x\n"
		"  and hold both ends until SIGTERM or SIGINT\n"
		"  -n COUNT    connections, 1-%d\n"
		"  -p PORTS    listener ports, up to %d, comma-separated, outside\n"
		"              the namespace's ip_local_port_range\n"
		"  -t SECONDS  give up and exit after this long, 1-%d (default %d)\n",
		MAX_COUNT, MAX_PORTS, MAX_BOUND, DEFAULT_BOUND);
}

const char *const bench_prog = "hold";

static uint16_t ports[MAX_PORTS];
static unsigned int nports;

static bool parse_ports(const char *s)
{
	nports = 0;
	for (;;) {
		unsigned long v;

		if (nports == MAX_PORTS || !bench_parse_uint(s, 1, 65535, &v, &s))
			return false;
		for (unsigned int i = 0; i < nports; i++)
			if (ports[i] == v)
				return false;
		ports[nports++] = (uint16_t)v;
		if (!*s)
			return true;
		s++;
	}
}

/* 127.0.0.(worker + 1):port */
static struct sockaddr_in addr_of(unsigned int worker, uint16_t port)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK + worker),
	};

	return a;
}

/* Non-blocking, so that draining its queue stops when it is empty. */
static int open_listener(const struct sockaddr_in *a)
{
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)a, sizeof(*a)) < 0 || listen(fd, BACKLOG) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Accept what is queued on every listener; the count, or -1 on an error. */
static long drain(const int *listeners)
{
	long got = 0;

	for (unsigned int i = 0; i < nports; i++) {
		for (;;) {
			int fd = accept4(listeners[i], NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0) {
				got++;
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno != EINTR && errno != ECONNABORTED)
				return -1;
		}
	}
	return got;
}

/* Worker k's count connections, made and accepted; 0 or -1 (said). */
static int connect_all(unsigned int k, unsigned long count)
{
	int listeners[MAX_PORTS];
	unsigned long accepted = 0;
	char ip[INET_ADDRSTRLEN];
	struct sockaddr_in a;
	long got;

	a = addr_of(k, 0);
	inet_ntop(AF_INET, &a.sin_addr, ip, sizeof(ip));
	for (unsigned int i = 0; i < nports; i++) {
		a = addr_of(k, ports[i]);
		listeners[i] = open_listener(&a);
		if (listeners[i] < 0) {
			fprintf(stderr, "hold: listen on %s port %u: %s\n", ip, ports[i],
				strerror(errno));
			return -1;
		}
	}
	for (unsigned long i = 0; i < count; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			fprintf(stderr, "hold: socket after %lu connections to %s: %s\n", i, ip,
				strerror(errno));
			return -1;
		}
		a = addr_of(k, ports[i % nports]);
		while (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "hold: connect to %s port %u after %lu connections: %s%s\n",
				ip, ports[i % nports], i, strerror(errno),
				errno == EADDRNOTAVAIL ?
				" (widen ip_local_port_range or give more ports)" : "");
			return -1;
		}
		if ((i + 1) % DRAIN_EVERY && i + 1 < count)
			continue;
		got = drain(listeners);
		if (got < 0)
			goto accept_failed;
		accepted += (unsigned long)got;
	}
	/* the last handshakes may still be on their way to the queues */
	for (double give_up = bench_now_s() + ACCEPT_WAIT; accepted < count; usleep(1000)) {
		got = drain(listeners);
		if (got < 0)
			goto accept_failed;
		accepted += (unsigned long)got;
		if (accepted < count && bench_now_s() > give_up) {
			fprintf(stderr, "hold: %lu of %lu connections to %s accepted after %d s\n",
				accepted, count, ip, ACCEPT_WAIT);
			return -1;
		}
	}
	return 0;
accept_failed:
	fprintf(stderr, "hold: accept on %s: %s\n", ip, strerror(errno));
	return -1;
}

/* The first of SIGTERM or SIGINT (blocked) by the monotonic time end:
 * the signal, or 0 when the bound ran out. */
static int wait_signal(const sigset_t *set, double end)
{
	for (;;) {
		double left = end - bench_now_s();
		struct timespec ts;
		int sig;

		if (left <= 0)
			return 0;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		sig = sigtimedwait(set, NULL, &ts);
		if (sig > 0)
			return sig;
		if (errno == EAGAIN)
			return 0;
	}
}

/*
 * Connections each process may hold: all of them when RLIMIT_NOFILE can
 * be raised that far, else what the hard limit leaves; 0 when that is
 * not even one.
 */
static unsigned long per_process(unsigned long count)
{
	struct rlimit rl = { 2 * count + SPARE_FDS, 2 * count + SPARE_FDS };

	if (!setrlimit(RLIMIT_NOFILE, &rl))
		return count;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_max < SPARE_FDS + 2)
		return 0;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	return (rl.rlim_max - SPARE_FDS) / 2;
}

/*
 * Worker k: its connections, then one byte on ready, then nothing until
 * a signal ends it: the parent's SIGTERM, the parent's death, or the
 * bound's SIGALRM. Never returns.
 */
static void worker(unsigned int k, unsigned long count, int ready, pid_t parent,
		   unsigned int bound)
{
	sigset_t none;
	char ok = 1;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(1);
	alarm(bound);
	if (connect_all(k, count) || write(ready, &ok, 1) != 1)
		_exit(1);
	close(ready);
	for (;;)
		pause();
}

static void stop_workers(const pid_t *pids, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		kill(pids[i], SIGTERM);
	for (unsigned int i = 0; i < n; i++)
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
			;
}

int main(int argc, char **argv)
{
	static pid_t pids[MAX_WORKERS];
	unsigned long count = 0, bound = DEFAULT_BOUND, per, v;
	unsigned int nworkers = 0, ready_n = 0;
	int pipefd[2], rc = 1, c;
	double t0, end;
	sigset_t stop;
	pid_t self = getpid();

	opterr = 0;
	while ((c = getopt(argc, argv, ":n:p:t:h")) != -1) {
		switch (c) {
		case 'n':
			if (!bench_parse_uint(optarg, 1, MAX_COUNT, &count, NULL))
				bad_usage("bad count '%s', want 1-%d", optarg, MAX_COUNT);
			break;
		case 'p':
			if (!parse_ports(optarg))
				bad_usage("bad ports '%s', want up to %d distinct ports 1-65535, "
					  "comma-separated", optarg, MAX_PORTS);
			break;
		case 't':
			if (!bench_parse_uint(optarg, 1, MAX_BOUND, &v, NULL))
				bad_usage("bad bound '%s', want seconds 1-%d", optarg, MAX_BOUND);
			bound = v;
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
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	if (!count || !nports)
		bad_usage("-n COUNT and -p PORTS are required");
	t0 = bench_now_s();
	end = t0 + (double)bound;

	/* blocked from here on (not in the workers): a stop request waits
	 * for sigtimedwait; the parent's death is one */
	if (bench_stop_with_parent(&stop))
		return 1;	/* prctl failed, or the parent died before it */

	per = per_process(count);
	if (!per || (count + per - 1) / per > MAX_WORKERS) {
		fprintf(stderr, "hold: RLIMIT_NOFILE too low for %lu connections in %d processes\n",
			count, MAX_WORKERS);
		return 1;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		perror("hold: pipe");
		return 1;
	}
	for (unsigned long left = count; left; left -= left < per ? left : per) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("hold: fork");
			goto out;
		}
		if (!pid) {
			close(pipefd[0]);
			worker(nworkers, left < per ? left : per, pipefd[1], self,
			       (unsigned int)bound);
		}
		pids[nworkers++] = pid;
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	/* a byte from each worker when ready; end of file when all are gone */
	while (ready_n < nworkers) {
		char b;
		ssize_t n = read(pipefd[0], &b, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1) {
			fprintf(stderr, "hold: a worker failed\n");
			goto out;
		}
		ready_n++;
	}
	printf("held conns=%lu seconds=%.3f workers=%u\n", count, bench_now_s() - t0, nworkers);
	if (fflush(stdout) != 0) {
		perror("hold: stdout");
		goto out;
	}
	if (wait_signal(&stop, end))
		rc = 0;
	else
		fprintf(stderr, "hold: no SIGTERM or SIGINT within %lu s: exiting\n", bound);
out:
	stop_workers(pids, nworkers);
	close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	return rc;
}
