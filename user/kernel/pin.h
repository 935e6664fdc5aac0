/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The pinned layout under /sys/fs/bpf/tcpkeep, a stable interface:
 *   maps   transitions conns uncounted slots ka_stats policy nested
 *   links  link_<name> for each role of core/link.h: link_set_state
 *          link_set_state_nested link_error_report link_sockops
 *   progs  prog_<name>, the program of each link_<name>: readers open
 *          it by path, with CAP_BPF alone (by id, as for pins that lack
 *          it, needs CAP_SYS_ADMIN)
 */
#ifndef TK_PIN_H
#define TK_PIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/link.h"
#include "kernel/reader.h"

#define TK_PIN_DIR "/sys/fs/bpf/tcpkeep"
#define TK_LINK_PIN_PREFIX "link_"
#define TK_PROG_PIN_PREFIX "prog_"

struct tk_loader;
struct tk_policy_table;

/* What is pinned, opened for reading (top, status, policy). */
struct tk_pinned {
	bool present;			/* the pin directory exists */
	struct tk_fds fds;		/* maps and the programs behind the links */
	int link_fds[TK_NLINKS];	/* by role (core/link.h); -1: absent */
	uint32_t link_ids[TK_NLINKS];
	uint32_t prog_ids[TK_NLINKS];
	const char *attach_mode;	/* "tp_btf", "raw_tp" or "none" */
	bool lifetimes;			/* the pinned observer measures lifetimes */
	uint64_t cgroup_id;		/* of the sockops link; 0: defunct */
	char cgroup[4096];		/* its path, "" if not found */
	bool sockops_defunct;
};


#define TK_LOCK_FILE "/run/tcpkeep.lock"
#define TK_RUN_LOCK_FILE "/run/tcpkeep.run.lock"

/*
 * Serialise everything that changes the pins (pin, unpin, policy set/del)
 * and the start of a run: two at once could each take the other's
 * half-done work for a crash. Blocks until the lock is free; returns the
 * fd to pass to tk_pin_unlock.
 */
int tk_pin_lock(void);
void tk_pin_unlock(int fd);
/* Is a pin, unpin or policy change under way right now? */
bool tk_pin_lock_busy(void);
/*
 * One enforcer per host: a `tcpkeep run` holds this lock for as long as it
 * is attached, and pin refuses while it is held. Take it without waiting
 * (under the pin lock): the fd, or -EWOULDBLOCK with the holder's pid
 * (-1 if unknown) in *holder.
 */
int tk_run_lock(long *holder);
/* The pid of the attached `tcpkeep run`; 0 if there is none. */
long tk_run_holder(void);
/* Mount bpffs at /sys/fs/bpf if needed and create the pin dir, mode 0700. */
int tk_pin_prepare(void);
/*
 * Attach what the loader loaded, for each link not already pinned and
 * healthy, and pin it; a sockops link that is defunct or on another cgroup
 * is replaced. Never adds a second attachment. Prints what it did.
 */
int tk_pin_links(struct tk_loader *l, const char *cgroup);
/* Detach everything pinned and remove the pins; *had says if anything was. */
int tk_unpin(bool *had);
/* Open what is pinned. present=false (and 0) when nothing is. */
int tk_pinned_open(struct tk_pinned *p);
void tk_pinned_close(struct tk_pinned *p);
/* Which pinned programs are attached right now, by role (a defunct
 * sockops link counts as detached). */
void tk_pinned_attached(bool out[TK_NLINKS]);
/* Where the link of role is pinned. */
void tk_link_pin_path(char *buf, size_t len, enum tk_link role);

#endif
