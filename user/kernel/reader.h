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

/*
 * Fill s (already initialised) from the maps; 0 or a negative errno. Hash
 * maps are read in batches (Linux 5.6+), key by key where the kernel has
 * no batch reads for them.
 */
int tk_read_maps(const struct tk_fds *fds, struct tk_snapshot *s);

/* Test hook of tk_read_maps_how: read every hash map key by key. */
#define TK_READ_NO_BATCH	1u

/* How tk_read_maps_how read the hash maps. */
struct tk_read_stats {
	unsigned int batched;		/* maps read in batches */
	unsigned int batch_calls;	/* bpf_map_lookup_batch calls that read */
	unsigned int walked;		/* maps read key by key */
};

/*
 * tk_read_maps, for tests (tests/reader/reader_check.c): flags
 * TK_READ_NO_BATCH forces the key-by-key fallback; *st (if given) says
 * which way each map was read.
 */
int tk_read_maps_how(const struct tk_fds *fds, struct tk_snapshot *s, unsigned int flags,
		     struct tk_read_stats *st);

#endif
