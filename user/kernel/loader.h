/* SPDX-License-Identifier: GPL-2.0-only */
/* Opening, probing, loading and attaching tcpkeep's BPF programs. */
#ifndef TK_LOADER_H
#define TK_LOADER_H

#include <stdbool.h>
#include <stdint.h>
#include "core/exit.h"
#include "core/link.h"
#include "kernel/reader.h"

struct observer_bpf;
struct enforcer_bpf;
struct bpf_link;
struct tk_policy_table;

struct tk_loader {
	struct observer_bpf *obs;
	struct bpf_link *links[TK_NLINKS];	/* by role; NULL: not attached */
	const char *attach_mode;	/* "tp_btf" or "raw_tp" */
	bool lifetimes_ok;		/* lifetime slots in use */
	bool dead_peers_ok;
	uint16_t eph_lo, eph_hi;
	struct tk_fds fds;

	struct enforcer_bpf *enf;	/* NULL: no policy, observer only */
	int iter_err;			/* 0: can set existing connections;
					 * -EOPNOTSUPP: the kernel cannot;
					 * -ENOEXEC: its verifier rejected ours */
	const char *cgroup;		/* where sockops is attached */
	const char *pin_dir;		/* set before load: maps live pinned here */
	bool no_lifetimes;		/* set before load: no lifetime slots */
};

/* Checks that need no BPF: kernel BTF (capabilities: kernel/caps.h).
 * Prints one line on failure. */
int tk_check_environment(void);
/* Does the kernel's BTF know the tracepoint (btf_trace_NAME)? */
bool tk_kernel_has_tracepoint(const char *name);
/*
 * Does the kernel carry the patch (not upstream; seen on firecracker
 * builds) that skips every tracing program, uncounted, while a thread of
 * PID 1 is current? Its mark is bpf_prog_aux.init_owned in BTF.
 */
bool tk_kernel_hides_pid1(void);
/* Kernel features tcpkeep degrades without, probed by loading. */
enum tk_feature {
	TK_FEAT_TP_BTF,			/* tp_btf programs: 5.5 */
	TK_FEAT_CMPXCHG,		/* BPF compare-and-exchange: 5.12 */
	TK_FEAT_ITER_SETSOCKOPT,	/* bpf_setsockopt from iter/tcp: 5.15 */
	TK_FEAT_MAX,
};
enum tk_can {
	TK_CAN_NO = 0,
	TK_CAN_YES,
	TK_CAN_UNKNOWN,		/* the probe was refused (EPERM): no answer here */
};
/* Can the kernel do f? Loads a tiny program once per process and feature. */
enum tk_can tk_kernel_can(enum tk_feature f);
/* The cgroup v2 mount point from /proc/self/mountinfo; -ENOENT if none. */
int tk_cgroup2_root(char *buf, size_t len);
/* 0 if path is a directory of a cgroup v2 file system; prints one line if not. */
int tk_check_cgroup(const char *path);
/*
 * Open and load the observer (tp_btf, else raw_tp) and, if policy has any
 * port, the enforcer with the policy in its map. Prints one line on failure.
 */
int tk_loader_load(struct tk_loader *l, const struct tk_policy_table *policy);
/* Make the policy map (fd) equal to t: add, change, then remove the rest. */
int tk_policy_sync(int policy_fd, const struct tk_policy_table *t);
/* Attach what was loaded, sockops on cgroup. On failure nothing stays attached. */
int tk_loader_attach(struct tk_loader *l, const char *cgroup);
/* What setting the policy on existing connections did. */
struct tk_existing {
	unsigned long long sockets;	/* set */
	unsigned long long errors;	/* where an option failed */
	unsigned int netns;		/* namespaces whose sockets were walked */
	unsigned int unvisited;		/* namespaces found but not entered */
	int unvisited_err;		/* why the first of those was not */
};

/*
 * Set the policy on the established connections that existed before
 * attach, in every network namespace (kernel/netns.h). 0, or a negative
 * errno: -EOPNOTSUPP when the kernel cannot, or tcpkeep's own
 * namespace's failure; another namespace's failure is counted in x.
 */
int tk_loader_fix_existing(struct tk_loader *l, struct tk_existing *x);
/* The same for what is pinned in pin_dir, loading only the iterator. */
int tk_fix_existing_pinned(const char *pin_dir, struct tk_existing *x);
/* After load, the program of role; NULL if none was (no tracepoint, no policy). */
struct bpf_program *tk_loader_prog(const struct tk_loader *l, enum tk_link role);
/*
 * Attach the program of role, sockops on cgroup; the caller owns the link.
 * NULL with errno set, and one line naming the cause, on failure.
 */
struct bpf_link *tk_loader_attach_role(const struct tk_loader *l, enum tk_link role,
				       const char *cgroup);
/* Detach and free everything. Safe on a partly set up loader. */
void tk_loader_destroy(struct tk_loader *l);

#endif
