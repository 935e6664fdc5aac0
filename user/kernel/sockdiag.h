/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TK_SOCKDIAG_H
#define TK_SOCKDIAG_H

#include "core/snapshot.h"

/*
 * Add the current state of every TCP socket of this network namespace to
 * the snapshot's rows; sets states_ok. Returns 0 or a negative errno.
 */
int tk_sockdiag_states(struct tk_snapshot *s, uint16_t eph_lo, uint16_t eph_hi);

#endif
