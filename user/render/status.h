/* SPDX-License-Identifier: GPL-2.0-only */
/* `tcpkeep status`: what is pinned and how it is doing, as text or JSON. */
#ifndef TK_STATUS_H
#define TK_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "core/link.h"
#include "core/snapshot.h"

/* The sysctls of its own network namespace that status shows, in order. */
enum tk_status_sysctl {
	TK_SYSCTL_PORT_RANGE,		/* net.ipv4.ip_local_port_range */
	TK_SYSCTL_TW_REUSE,		/* net.ipv4.tcp_tw_reuse */
	TK_SYSCTL_MAX_TW_BUCKETS,	/* net.ipv4.tcp_max_tw_buckets */
	TK_NSYSCTLS
};

struct tk_sysctl_def {
	const char *name;
	int n;			/* the numbers it holds */
};

extern const struct tk_sysctl_def tk_status_sysctls[TK_NSYSCTLS];

/* A sysctl's value, or why it could not be read. */
struct tk_sysctl_val {
	long v[2];
	int err;		/* 0: read; else a negative errno */
};

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
	/* what bounds ports for outgoing connections here (README: Port pressure) */
	struct tk_sysctl_val sysctls[TK_NSYSCTLS];
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
