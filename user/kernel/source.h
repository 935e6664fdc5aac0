/* SPDX-License-Identifier: GPL-2.0-only */
/* Where snapshots come from: a loader's maps or the pins', plus sock_diag. */
#ifndef TK_SOURCE_H
#define TK_SOURCE_H

#include <stdbool.h>
#include <stdint.h>
#include "core/snapshot.h"
#include "kernel/reader.h"

struct tk_auditor;
struct tk_procs_cache;
struct tk_policy_table;

struct tk_source {
	const struct tk_fds *fds;
	const char *attach_mode;
	bool lifetimes_ok;
	bool dead_peers_ok;
	bool enforcer_ok;
	bool netns_rows;	/* --netns: states per namespace too */
	/* the audit (core/audit.h); NULL: none */
	const struct tk_auditor *auditor;
	bool audit_pids;	/* look up the processes of the listed connections */
	struct tk_procs_cache *owners;	/* their owners from the last frames; NULL: none */
	double stuck_after_s;	/* stuck: no ACK for this long; 0: the default */
	const struct tk_policy_table *would;	/* audit -k; NULL: none */
};

/* CLOCK_MONOTONIC in seconds (the clock of a snapshot's mono_s). */
double tk_mono_now(void);
/*
 * One snapshot: maps, then sock_diag states, filtered and sorted (prev,
 * if any, orders rows as before). 0, or a negative errno after one line.
 */
int tk_take_snapshot(const struct tk_source *src, const bool *ports,
		     const struct tk_snapshot *prev, struct tk_snapshot *s);

#endif
