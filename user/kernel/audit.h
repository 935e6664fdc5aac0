/* SPDX-License-Identifier: GPL-2.0-only */
/* The audit iterator (bpf/audit.bpf.c): loaded once, read in any namespace. */
#ifndef TK_KERNEL_AUDIT_H
#define TK_KERNEL_AUDIT_H

#include "tcpkeep.h"
#include "kernel/procs.h"

struct audit_bpf;
struct bpf_link;

struct tk_auditor {
	struct audit_bpf *skel;
	struct bpf_link *link;
	int err;		/* 0: ready; else why not (a negative errno) */
	struct tk_procs_cache owners;	/* of the connections it listed */
};

/*
 * Load the iterator and make its link; 0, or a negative errno kept in
 * a->err (-EPERM: it needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN;
 * -ENOEXEC: the verifier rejected it). Prints nothing: the audit's
 * outputs say why it is missing.
 */
int tk_auditor_open(struct tk_auditor *a);
void tk_auditor_close(struct tk_auditor *a);

/*
 * Run the iterator over the connections of the calling thread's network
 * namespace, passing each record to fn (a non-zero return stops, and is
 * returned). 0 or a negative errno.
 */
int tk_auditor_read(const struct tk_auditor *a,
		    int (*fn)(const struct tk_audit_rec *r, void *arg), void *arg);

#endif
