/* SPDX-License-Identifier: GPL-2.0-only */
/* Outputs: each renders a snapshot (and the previous one, for rates). */
#ifndef TK_RENDER_H
#define TK_RENDER_H

#include <stdbool.h>
#include <stdio.h>
#include "snapshot.h"

struct tk_render_opts {
	bool histograms;	/* draw lifetime histograms under the table */
	int max_lines;		/* 0: no limit (pipes); else the terminal's height */
};

/* The live view: header, one row per (port, direction), histograms. */
void tk_render_text(FILE *f, const struct tk_snapshot *cur,
		    const struct tk_snapshot *prev, const struct tk_render_opts *o);
/* One JSON object on one line. */
void tk_render_json(FILE *f, const struct tk_snapshot *cur,
		    const struct tk_snapshot *prev);

/* The policy table: a JSON array of {port, off, idle, intvl, cnt, user_timeout}. */
void tk_render_policy_json(FILE *f, const struct tk_snapshot *s);
/* The policy table as text. */
void tk_render_policy_text(FILE *f, const struct tk_snapshot *s);

#endif
