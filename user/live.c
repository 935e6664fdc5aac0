// SPDX-License-Identifier: GPL-2.0-only
/* The live view: a frame every interval, redrawn on a terminal, appended
 * on a pipe, or one JSON object per line. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include "live.h"
#include "loader.h"
#include "render.h"
#include "sockdiag.h"

double tk_mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleep until the absolute monotonic time t; false if stopped. */
static bool sleep_until(double t, volatile sig_atomic_t *stop)
{
	struct timespec ts = { .tv_sec = (time_t)t,
			       .tv_nsec = (long)((t - (time_t)t) * 1e9) };

	while (!*stop) {
		int err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);

		if (!err)
			return true;
		if (err != EINTR)
			return false;
	}
	return false;
}

int tk_take_snapshot(const struct tk_source *src, const bool *ports,
		     const struct tk_snapshot *prev, struct tk_snapshot *s)
{
	int err;

	tk_snapshot_init(s);
	s->mono_s = tk_mono_now();
	s->wall_s = time(NULL);
	s->attach_mode = src->attach_mode;
	s->lifetimes_ok = src->lifetimes_ok;
	s->dead_peers_ok = src->dead_peers_ok;
	s->enforcer_ok = src->enforcer_ok;
	err = tk_read_maps(src->fds, s);
	if (err) {
		fprintf(stderr, "tcpkeep: cannot read the maps: %s\n", strerror(-err));
		tk_snapshot_free(s);
		return err;
	}
	/* a failed dump leaves states_ok false: the view says so */
	tk_sockdiag_states(s, src->eph_lo, src->eph_hi);
	tk_snapshot_filter(s, ports);
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

int tk_live_view(const struct tk_source *src, const struct tk_opts *o,
		 volatile sig_atomic_t *stop)
{
	bool tty = isatty(STDOUT_FILENO) && !o->json;
	struct tk_snapshot prev, cur;
	double next;
	long frames = 0;
	int err;

	err = tk_take_snapshot(src, o->ports, NULL, &prev);
	if (err)
		return TK_EXIT_FAIL;
	next = prev.mono_s;
	while (!*stop && (!o->count || frames < o->count)) {
		next += o->interval;
		if (!sleep_until(next, stop))
			break;
		err = tk_take_snapshot(src, o->ports, &prev, &cur);
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
