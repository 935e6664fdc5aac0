// SPDX-License-Identifier: GPL-2.0-only
/* The live view: a frame every interval, redrawn on a terminal, appended
 * on a pipe, or one JSON object per line. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include "serve/live.h"
#include "core/exit.h"
#include "render/render.h"
#include "serve/tick.h"

/* a terminal that does not tell its size */
#define DEFAULT_COLS 80
#define DEFAULT_ROWS 24

static volatile sig_atomic_t resized;

static void on_winch(int sig)
{
	resized = 1;
}

/* The size of the terminal on fd into o; the next frame clears it first. */
static void terminal_size(int fd, struct tk_render_opts *o)
{
	struct winsize ws;

	resized = 0;
	o->clear = true;
	if (ioctl(fd, TIOCGWINSZ, &ws))
		ws.ws_col = ws.ws_row = 0;
	o->width = ws.ws_col ? ws.ws_col : DEFAULT_COLS;
	o->height = ws.ws_row ? ws.ws_row : DEFAULT_ROWS;
}

int tk_live_view(const struct tk_source *src, const struct tk_opts *o,
		 volatile sig_atomic_t *stop)
{
	bool tty = isatty(STDOUT_FILENO) && !o->json;
	struct tk_render_opts ro = { .histograms = true, .audit = o->audit };
	struct sigaction winch = { .sa_handler = on_winch, .sa_flags = SA_RESTART };
	struct sigaction old_winch;
	struct tk_snapshot prev, cur;
	struct tk_tick tick;
	long frames = 0;
	int err;

	err = tk_take_snapshot(src, o->ports, NULL, &prev);
	if (err)
		return TK_EXIT_FAIL;
	if (tty) {
		sigaction(SIGWINCH, &winch, &old_winch);
		terminal_size(STDOUT_FILENO, &ro);
	}
	tk_tick_start(&tick, prev.mono_s, o->interval);
	while (!*stop && (!o->count || frames < o->count)) {
		enum tk_tick_end end = tk_tick_wait(&tick, stop, tty ? &resized : NULL);

		if (end == TK_TICK_STOP)
			break;
		err = tk_take_snapshot(src, o->ports, &prev, &cur);
		if (err)
			break;
		if (o->json) {
			tk_render_json(stdout, &cur, &prev);
		} else {
			if (tty && resized)
				terminal_size(STDOUT_FILENO, &ro);
			else if (!tty && frames)
				fputc('\n', stdout);
			tk_render_text(stdout, &cur, &prev, &ro);
			ro.clear = false;
		}
		fflush(stdout);
		if (end == TK_TICK_WOKEN) {
			/* redrawn for the new size, not a frame: the next one
			 * still measures its rates from the last */
			tk_snapshot_free(&cur);
			continue;
		}
		tk_snapshot_free(&prev);
		prev = cur;
		frames++;
	}
	tk_snapshot_free(&prev);
	if (tty) {
		sigaction(SIGWINCH, &old_winch, NULL);
		fputc('\n', stdout);
	}
	return err ? TK_EXIT_FAIL : TK_EXIT_OK;
}
