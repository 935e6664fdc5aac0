/* SPDX-License-Identifier: GPL-2.0-only */
/* `tcpkeep status`: what is pinned and how it is doing, as text or JSON. */
#ifndef TK_STATUS_H
#define TK_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "core/link.h"
#include "core/snapshot.h"

struct tk_status {
	bool pinned;
	const char *pin_dir;
	const char *attach_mode;	/* "tp_btf", "raw_tp" or "none" */
	uint32_t links[TK_NLINKS];	/* link ids by role; 0: none */
	const char *cgroup;		/* sockops cgroup path, "" unknown */
	uint64_t cgroup_id;
	bool sockops_defunct;
	bool changing;			/* a pin, unpin or policy change holds the lock */
	long run_pid;			/* an attached `tcpkeep run`: pid, -1 unknown, 0 none */
	/* kernel features found */
	bool btf, tp_set_state, tp_error_report, bpffs, cgroup2;
	bool hides_pid1;	/* tracing never runs while PID 1 is current */
	/* what the pinned programs do on this kernel */
	bool lifetimes;		/* the observer measures lifetimes */
	/* policy changes can reach open connections: unknown when probing
	 * it was refused (status without CAP_PERFMON) */
	enum { TK_EXISTING_NO, TK_EXISTING_YES, TK_EXISTING_UNKNOWN } existing;
};

/* 0: active, 3: not pinned, 1: pinned but broken, 4: not active while a
 * pin, unpin or policy change is under way (ask again). */
int tk_status_code(const struct tk_status *st);
void tk_status_text(FILE *f, const struct tk_status *st, const struct tk_snapshot *s);
void tk_status_json(FILE *f, const struct tk_status *st, const struct tk_snapshot *s);

#endif
