/* SPDX-License-Identifier: GPL-2.0-only */
/* The live view loop, over any source of maps: a loader's or the pins'. */
#ifndef TK_LIVE_H
#define TK_LIVE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include "cli.h"
#include "reader.h"
#include "snapshot.h"

struct tk_source {
	const struct tk_fds *fds;
	const char *attach_mode;
	bool lifetimes_ok;
	bool dead_peers_ok;
	bool enforcer_ok;
	uint16_t eph_lo, eph_hi;
};

/* CLOCK_MONOTONIC in seconds (the clock of a snapshot's mono_s). */
double tk_mono_now(void);
/* One snapshot: maps, then sock_diag states, filtered and sorted. */
int tk_take_snapshot(const struct tk_source *src, const bool *ports,
		     const struct tk_snapshot *prev, struct tk_snapshot *s);
/* Frames every interval until count frames or *stop; returns an exit code. */
int tk_live_view(const struct tk_source *src, const struct tk_opts *o,
		 volatile sig_atomic_t *stop);

#endif
