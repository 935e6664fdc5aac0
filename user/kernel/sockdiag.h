/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TK_SOCKDIAG_H
#define TK_SOCKDIAG_H

#include "core/snapshot.h"

struct tk_auditor;

/*
 * Add the current state of every TCP socket of every network namespace
 * (kernel/netns.h) to the snapshot: states to its rows, only rows of
 * ports[] (NULL: all), and per namespace with s->want_ns_rows; ephemeral
 * ports per destination; listeners' accept queues; the namespaces. A
 * namespace whose dump failed or kept being interrupted adds nothing and
 * keeps its error. Sets states_ok when tcpkeep's own namespace was
 * dumped; returns 0 or that dump's negative errno.
 *
 * With an auditor (NULL: none), each namespace's established connections
 * are audited after its dump (core/audit.h); audit_ok says tcpkeep's own
 * namespace was, audit_err why not, and each namespace keeps its error.
 */
int tk_sockdiag_states(struct tk_snapshot *s, const bool *ports,
		       const struct tk_auditor *au);

#endif
