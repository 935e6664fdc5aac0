/* SPDX-License-Identifier: GPL-2.0-only */
/* Outputs: each renders a snapshot (and the previous one, for rates). */
#ifndef TK_RENDER_H
#define TK_RENDER_H

#include <stdbool.h>
#include <stdio.h>
#include "core/link.h"
#include "core/snapshot.h"

struct tk_render_opts {
	bool histograms;	/* draw lifetime histograms under the table */
	bool audit;		/* the audit's section (--audit) */
	int width, height;	/* both 0: a pipe; else a terminal's size (0: no limit) */
	bool clear;		/* a terminal: clear it all first (it may hold other
				 * text, or lines the terminal wrapped on a resize) */
};

/*
 * The live view: header, one row per (port, direction), histograms. For a
 * pipe, all of it, every column. For a terminal, drawn over the last frame
 * from the top-left corner and fitted to the size: the widest column set
 * whose rows fit, no line longer than the width, no more lines than the
 * height.
 */
void tk_render_text(FILE *f, const struct tk_snapshot *cur,
		    const struct tk_snapshot *prev, const struct tk_render_opts *o);
/* One JSON object on one line. */
void tk_render_json(FILE *f, const struct tk_snapshot *cur,
		    const struct tk_snapshot *prev);

/*
 * What the exposition keeps from one scrape to the next so that no series
 * comes and goes: the ports once exported, the states once non-zero. About
 * 270 KiB, allocated zeroed and touched only where ports are exported. Not
 * for two renders at once: callers serialise.
 */
struct tk_prom_memory;
struct tk_prom_memory *tk_prom_memory_new(void);
void tk_prom_memory_free(struct tk_prom_memory *m);

struct tk_prom_opts {
	struct tk_prom_memory *mem;	/* required */
	/* --ports: exported besides the policy and listener ports; NULL: none */
	const bool *ports;
	const char *version, *libbpf_version;
	bool attached[TK_NLINKS];	/* by role (core/link.h) */
	double scrape_seconds;
};

/* Prometheus text exposition 0.0.4; 0, or -1 when out of memory. */
int tk_render_prom(FILE *f, const struct tk_snapshot *s, const struct tk_prom_opts *o);
/* The policy table: a JSON array of {port, off, idle, intvl, cnt, user_timeout}. */
void tk_render_policy_json(FILE *f, const struct tk_snapshot *s);
/* Inside a JSON document being written: that array as a value, and the
 * "memory" member (key and object: the maps' kernel memory). */
struct tk_json;
void tk_render_policy_json_to(struct tk_json *j, const struct tk_snapshot *s);
void tk_render_memory_json_to(struct tk_json *j, const struct tk_snapshot *s);
/*
 * audit --json: one object on one line, {time, monotonic, netns, audit,
 * policy}; "audit" is the member every JSON frame carries too.
 */
void tk_render_audit_json(FILE *f, const struct tk_snapshot *s);
/*
 * The audit as text: per (port, direction) the keepalive classes, idle
 * counts and stuck writers, what the would-be policy does, idle-time
 * histograms, then the oldest idle and stuck connections with their
 * processes. width 0: no limit. The audit command prints it, and the live
 * view as its section under --audit.
 */
void tk_render_audit_text(FILE *f, const struct tk_snapshot *s, int width);
/*
 * The live view's audit section: the same in at most height lines (0: no
 * limit; at least TK_AUDIT_VIEW_MIN), without the legend, the lists cut
 * to their first few.
 */
#define TK_AUDIT_VIEW_MIN 10
void tk_render_audit_view(FILE *f, const struct tk_snapshot *s, int width, int height);
/* The policy table as text. */
void tk_render_policy_text(FILE *f, const struct tk_snapshot *s);

#endif
