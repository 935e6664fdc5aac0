// SPDX-License-Identifier: GPL-2.0-only
/* Ticks at start + k * interval: a slow frame delays one tick, not all. */
#include <errno.h>
#include <time.h>
#include "serve/tick.h"

void tk_tick_start(struct tk_tick *t, double start, double interval)
{
	t->next = start;
	t->interval = interval;
}

enum tk_tick_end tk_tick_wait(struct tk_tick *t, volatile sig_atomic_t *stop,
			      volatile sig_atomic_t *wake)
{
	double next = t->next + t->interval;
	struct timespec ts;

	ts.tv_sec = (time_t)next;
	ts.tv_nsec = (long)((next - (time_t)next) * 1e9);
	/* a signal handler ends clock_nanosleep with EINTR, SA_RESTART or not */
	while (!*stop) {
		int err;

		if (wake && *wake)
			return TK_TICK_WOKEN;
		err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		if (!err) {
			t->next = next;
			return TK_TICK_DUE;
		}
		if (err != EINTR)
			return TK_TICK_STOP;
	}
	return TK_TICK_STOP;
}
