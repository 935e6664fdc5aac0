/* SPDX-License-Identifier: GPL-2.0-only */
/* The processes that hold sockets, found as ss -p finds them: in /proc. */
#ifndef TK_PROCS_H
#define TK_PROCS_H

#include <stddef.h>
#include "core/audit.h"

/* Processes and descriptors one lookup reads at most. */
#define TK_PROCS_MAX	65536
#define TK_PROCS_FDS_MAX	(1u << 22)

/*
 * Fill pid and comm of each connection by its socket's inode: the first
 * process found with a descriptor of it (the lowest pid, for sockets
 * shared after fork). Stops when all are found; one that is not keeps pid
 * 0 (no file yet, gone, or past the bounds).
 */
void tk_procs_owners(struct tk_audit_conn *v, size_t n);

#endif
