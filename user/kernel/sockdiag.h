/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TK_SOCKDIAG_H
#define TK_SOCKDIAG_H

#include "core/snapshot.h"

/*
 * Add the current state of every TCP socket of this network namespace to
 * the snapshot's rows, only rows of ports[] (NULL: all); sets states_ok.
 * Adds no states from a dump that failed or kept being interrupted.
 * Returns 0 or a negative errno.
 */
int tk_sockdiag_states(struct tk_snapshot *s, uint16_t eph_lo, uint16_t eph_hi,
		       const bool *ports);

#endif
