/* SPDX-License-Identifier: GPL-2.0-only */
/* The processes that hold sockets, found as ss -p finds them: in /proc. */
#ifndef TK_PROCS_H
#define TK_PROCS_H

#include <pthread.h>
#include <stddef.h>
#include "core/audit.h"

/* Processes and descriptors one lookup reads at most. */
#define TK_PROCS_MAX	65536
#define TK_PROCS_FDS_MAX	(1u << 22)

/* Owners found by the last lookups, to check rather than search again. */
#define TK_PROCS_CACHE	(4 * TK_AUDIT_TOP)

struct tk_procs_cache {
	pthread_mutex_t lock;	/* the live view and the metrics thread share it */
	size_t n, next;
	struct tk_procs_owner {
		unsigned long long ino;
		int pid, fd;
		char comm[16];
	} v[TK_PROCS_CACHE];
};

#define TK_PROCS_CACHE_INIT { .lock = PTHREAD_MUTEX_INITIALIZER }

/*
 * Fill pid and comm of each connection (n pointers: the lists of a
 * snapshot, searched together) by its socket's inode: the first
 * process found with a descriptor of it (the lowest pid, for sockets
 * shared after fork). An owner in the cache whose descriptor still reads
 * the inode is taken without a search; the search reads every process's
 * descriptors (as ss -p does: a second at 200,000 descriptors) and stops
 * when all are found. One not found keeps pid 0 (no file yet, gone, or
 * past the bounds). cache may be NULL.
 */
void tk_procs_owners(struct tk_audit_conn *const *v, size_t n,
		     struct tk_procs_cache *cache);

#endif
