/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A snapshot: everything one frame shows, as plain data. The reader fills
 * it from the maps and sock_diag; every output renders it. Nothing here
 * touches libbpf, so outputs can be tested without a kernel.
 */
#ifndef TK_SNAPSHOT_H
#define TK_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "tcpkeep.h"

#define TK_PORTS 65536
/* the big host the maps' memory is also given for */
#define TK_MEM_BIG_HOST 128

/* The last state a socket dump reports (request sockets count as SYN_RECV). */
#define TK_LAST_DUMP_STATE TK_CLOSING

struct tk_row {
	uint16_t port;
	uint8_t dir;			/* enum tk_direction */
	uint64_t trans[TK_NSTATES][TK_NSTATES];	/* cumulative since attach */
	uint64_t states[TK_NSTATES];	/* sockets in each state now */
	uint64_t slots[TK_HIST_SLOTS];	/* lifetime histogram */
	uint64_t sum_us;
	uint64_t dead_peers;
	uint64_t ka_applied;
	uint64_t ka_errors[TK_OPT_MAX];
};

/* Connection outcomes derived from the transitions of a row. */
struct tk_totals {
	uint64_t opened;	/* reached ESTABLISHED */
	uint64_t closed;	/* connections that reached CLOSE */
	uint64_t reset;		/* closed without an orderly FIN exchange */
	uint64_t refused;	/* SYN_SENT -> CLOSE */
};

struct tk_policy_row {
	uint16_t port;
	struct tk_policy pol;
};

struct tk_snapshot {
	double mono_s;			/* CLOCK_MONOTONIC when taken */
	long long wall_s;		/* time(2) when taken */
	const char *attach_mode;	/* "tp_btf" or "raw_tp" */
	bool states_ok;			/* sock_diag answered */
	bool lifetimes_ok;		/* lifetimes are measured */
	bool dead_peers_ok;		/* inet_sk_error_report attached */
	bool enforcer_ok;		/* sockops attached */
	uint64_t recursion_misses;	/* events the kernel skipped a program for */
	uint64_t nested_caught;		/* of those, counted by the nested program */
	uint64_t uncounted[TK_UNC_MAX];
	/* kernel memory of the maps (bytes_memlock): on this host, with
	 * ncpus possible CPUs, and the same maps on a TK_MEM_BIG_HOST-CPU host */
	uint64_t mem_bytes, mem_bytes_big;
	int ncpus;
	size_t nrows, cap;
	struct tk_row *rows;
	size_t npolicy;
	struct tk_policy_row *policy;
};

void tk_snapshot_init(struct tk_snapshot *s);
void tk_snapshot_free(struct tk_snapshot *s);
/* The row of (port, dir), added zeroed if absent; NULL when out of memory. */
struct tk_row *tk_snapshot_row(struct tk_snapshot *s, uint16_t port, uint8_t dir);
const struct tk_row *tk_snapshot_find(const struct tk_snapshot *s, uint16_t port,
				      uint8_t dir);
/* Keep only rows whose port is set in ports[] (NULL keeps all). */
void tk_snapshot_filter(struct tk_snapshot *s, const bool *ports);
/*
 * Busiest first: by transitions since prev (if given), then in total, then
 * by port and direction. Safe in several threads at once; 0 or -ENOMEM
 * (the rows then stay as they were).
 */
int tk_snapshot_sort(struct tk_snapshot *s, const struct tk_snapshot *prev);

/* Events skipped by the kernel and not caught by the nested program. */
uint64_t tk_snapshot_kernel_missed(const struct tk_snapshot *s);
/* Those, and events a full map had no room for. */
uint64_t tk_snapshot_missed(const struct tk_snapshot *s);
uint64_t tk_row_transitions(const struct tk_row *r);
uint64_t tk_row_hist_count(const struct tk_row *r);
void tk_row_totals(const struct tk_row *r, struct tk_totals *t);

/* Per second over dt; 0 when there is no interval or the counter went back. */
double tk_rate(uint64_t now, uint64_t before, double dt);

const char *tk_state_name(unsigned int state);
const char *tk_dir_name(unsigned int dir);
const char *tk_opt_name(unsigned int opt);

#endif /* TK_SNAPSHOT_H */
