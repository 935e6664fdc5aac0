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

bool tk_tick_wait(struct tk_tick *t, volatile sig_atomic_t *stop)
{
	struct timespec ts;

	t->next += t->interval;
	ts.tv_sec = (time_t)t->next;
	ts.tv_nsec = (long)((t->next - (time_t)t->next) * 1e9);
	while (!*stop) {
		int err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);

		if (!err)
			return true;
		if (err != EINTR)
			return false;
	}
	return false;
}
