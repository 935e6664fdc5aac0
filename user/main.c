// SPDX-License-Identifier: GPL-2.0-only
/*
 * tcpkeep: parse -> libbpf log -> load -> attach -> show frames until
 * stopped -> detach.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <bpf/libbpf.h>
#include "cli.h"
#include "loader.h"
#include "reader.h"
#include "render.h"
#include "sockdiag.h"

static volatile sig_atomic_t stop;
static bool verbose;

static void on_signal(int sig)
{
	stop = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (!verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleep until the absolute monotonic time t; false if a signal came. */
static bool sleep_until(double t)
{
	struct timespec ts = { .tv_sec = (time_t)t,
			       .tv_nsec = (long)((t - (time_t)t) * 1e9) };

	while (!stop) {
		int err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);

		if (!err)
			return true;
		if (err != EINTR)
			return false;
	}
	return false;
}

static int take_snapshot(const struct tk_loader *l, const struct tk_opts *o,
			 const struct tk_snapshot *prev, struct tk_snapshot *s)
{
	int err;

	tk_snapshot_init(s);
	s->mono_s = mono_now();
	s->wall_s = time(NULL);
	s->attach_mode = l->attach_mode;
	s->dead_peers_ok = l->dead_peers_ok;
	s->enforcer_ok = l->enf != NULL;
	err = tk_read_maps(&l->fds, s);
	if (err) {
		fprintf(stderr, "tcpkeep: cannot read the maps: %s\n", strerror(-err));
		return err;
	}
	/* a failed dump leaves states_ok false: the view says so */
	tk_sockdiag_states(s, l->eph_lo, l->eph_hi);
	tk_snapshot_filter(s, o->ports);
	tk_snapshot_sort(s, prev);
	return 0;
}

static int terminal_lines(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) || ws.ws_row == 0)
		return 24;
	return ws.ws_row;
}

static int live_view(const struct tk_loader *l, const struct tk_opts *o)
{
	bool tty = isatty(STDOUT_FILENO) && !o->json;
	struct tk_snapshot prev, cur;
	double next = mono_now();
	long frames = 0;
	int err;

	err = take_snapshot(l, o, NULL, &prev);
	if (err)
		return TK_EXIT_FAIL;
	while (!stop && (!o->count || frames < o->count)) {
		next += o->interval;
		if (!sleep_until(next))
			break;
		err = take_snapshot(l, o, &prev, &cur);
		if (err)
			break;
		if (o->json) {
			tk_render_json(stdout, &cur, &prev);
		} else {
			struct tk_render_opts ro = { .histograms = true };

			if (tty) {
				ro.max_lines = terminal_lines();
				fputs("\033[H\033[2J", stdout);
			} else if (frames) {
				fputc('\n', stdout);
			}
			tk_render_text(stdout, &cur, &prev, &ro);
		}
		fflush(stdout);
		tk_snapshot_free(&prev);
		prev = cur;
		frames++;
	}
	tk_snapshot_free(&prev);
	if (tty)
		fputc('\n', stdout);
	return err ? TK_EXIT_FAIL : TK_EXIT_OK;
}

/* Where sockops goes: --cgroup, checked, else the cgroup v2 root. */
static int pick_cgroup(const struct tk_opts *o, char *buf, size_t len)
{
	if (o->cgroup) {
		if (tk_check_cgroup(o->cgroup))
			return TK_EXIT_USAGE;
		snprintf(buf, len, "%s", o->cgroup);
		return 0;
	}
	if (tk_cgroup2_root(buf, len)) {
		fprintf(stderr, "tcpkeep: no cgroup v2 file system is mounted: "
			"mount -t cgroup2 none /sys/fs/cgroup/unified, or use --no-defaults "
			"without -k to only observe\n");
		return TK_EXIT_FAIL;
	}
	return 0;
}

static void fix_existing(struct tk_loader *l)
{
	unsigned long long n, errors;
	int err;

	if (!l->enf)
		return;
	err = tk_loader_fix_existing(l, &n, &errors);
	if (err == -EOPNOTSUPP)
		fprintf(stderr, "tcpkeep: this kernel cannot set options from a socket iterator "
			"(Linux 5.15+): connections opened before now keep their options\n");
	else if (err)
		fprintf(stderr, "tcpkeep: could not update existing connections: %s\n",
			strerror(-err));
	else
		fprintf(stderr, "tcpkeep: keepalive policy set on %llu existing sockets "
			"(%llu failed)\n", n, errors);
}

static int cmd_run(const struct tk_opts *o)
{
	bool enforce = tk_policy_count(o->policy) > 0;
	char cgroup[4096] = "";
	struct tk_loader l = {};
	int ret;

	if (enforce) {
		ret = pick_cgroup(o, cgroup, sizeof(cgroup));
		if (ret)
			return ret;
	}
	if (tk_check_environment())
		return TK_EXIT_FAIL;
	ret = TK_EXIT_FAIL;
	if (tk_loader_load(&l, o->policy))
		goto cleanup;
	if (tk_loader_attach(&l, cgroup))
		goto cleanup;
	fix_existing(&l);
	fprintf(stderr, "tcpkeep: attached (observer %s, enforcer %s%s); Ctrl-C to stop\n",
		l.attach_mode, l.enf ? "on " : "off", l.enf ? l.cgroup : "");
	ret = live_view(&l, o);
cleanup:
	tk_loader_destroy(&l);
	return ret;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct tk_opts opts;
	int ret;

	ret = tk_parse_args(argc, argv, &opts);
	if (ret)
		goto out;
	verbose = opts.verbose;
	libbpf_set_print(libbpf_print);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	switch (opts.cmd) {
	case TK_CMD_HELP:
		tk_usage(stdout);
		break;
	case TK_CMD_VERSION:
		printf("tcpkeep %s (libbpf %s)\n", TCPKEEP_VERSION, libbpf_version_string());
		break;
	case TK_CMD_RUN:
		ret = cmd_run(&opts);
		break;
	}
out:
	tk_opts_free(&opts);
	return ret;
}
