/* SPDX-License-Identifier: GPL-2.0-only */
/* The one reader: kernel maps -> snapshot. Works on fds, so attached and
 * pinned maps read the same way. */
#ifndef TK_READER_H
#define TK_READER_H

#include "core/snapshot.h"

#define TK_MAX_PROGS 8

struct tk_fds {
	int transitions, conns, uncounted, ka_stats, policy, nested, slots;	/* -1: absent */
	int progs[TK_MAX_PROGS];	/* attached programs, for recursion_misses */
	int nprogs;
};

#define TK_FDS_NONE ((struct tk_fds){ -1, -1, -1, -1, -1, -1, -1, {0}, 0 })

/* Fill s (already initialised) from the maps; 0 or a negative errno. */
int tk_read_maps(const struct tk_fds *fds, struct tk_snapshot *s);

#endif
