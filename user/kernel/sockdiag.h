/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TK_SOCKDIAG_H
#define TK_SOCKDIAG_H

#include "core/snapshot.h"

/*
 * Add the current state of every TCP socket of every network namespace
 * (kernel/netns.h) to the snapshot: states to its rows, only rows of
 * ports[] (NULL: all), and per namespace with s->want_ns_rows; ephemeral
 * ports per destination; listeners' accept queues; the namespaces. A
 * namespace whose dump failed or kept being interrupted adds nothing and
 * keeps its error. Sets states_ok when tcpkeep's own namespace was
 * dumped; returns 0 or that dump's negative errno.
 */
int tk_sockdiag_states(struct tk_snapshot *s, const bool *ports);

#endif
