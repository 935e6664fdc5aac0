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
/* Sleep until the next tick; false if *stop was raised first. */
bool tk_tick_wait(struct tk_tick *t, volatile sig_atomic_t *stop);

#endif
