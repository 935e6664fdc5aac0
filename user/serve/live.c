// SPDX-License-Identifier: GPL-2.0-only
/* The live view: a frame every interval, redrawn on a terminal, appended
 * on a pipe, or one JSON object per line. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include "serve/live.h"
#include "core/exit.h"
#include "render/render.h"
#include "serve/tick.h"

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
	struct tk_tick tick;
	long frames = 0;
	int err;

	err = tk_take_snapshot(src, o->ports, NULL, &prev);
	if (err)
		return TK_EXIT_FAIL;
	tk_tick_start(&tick, prev.mono_s, o->interval);
	while (!*stop && (!o->count || frames < o->count)) {
		if (!tk_tick_wait(&tick, stop))
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
