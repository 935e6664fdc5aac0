/* SPDX-License-Identifier: GPL-2.0-only */
/* The one periodic loop: ticks on the absolute monotonic clock, no drift. */
#ifndef TK_TICK_H
#define TK_TICK_H

#include <signal.h>
#include <stdbool.h>

struct tk_tick {
	double next;		/* CLOCK_MONOTONIC seconds of the last tick */
	double interval;
};

/* Ticks every interval seconds after start (a tk_mono_now() time). */
void tk_tick_start(struct tk_tick *t, double start, double interval);
enum tk_tick_end {
	TK_TICK_STOP = 0,	/* *stop was raised (or the clock failed) */
	TK_TICK_DUE,		/* the next tick came */
	TK_TICK_WOKEN,		/* *wake was raised first: the tick is still ahead */
};

/* Sleep until the next tick, *stop or *wake (which may be NULL). */
enum tk_tick_end tk_tick_wait(struct tk_tick *t, volatile sig_atomic_t *stop,
			      volatile sig_atomic_t *wake);

#endif
