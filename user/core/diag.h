/* SPDX-License-Identifier: GPL-2.0-only */
/* A sock_diag dump's replies in, rows of current states out, by the attribution rule. */
#ifndef TK_DIAG_H
#define TK_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/snapshot.h"

/*
 * Rows a dump may make. A snapshot row takes about 2.5 KiB: a host that
 * holds sockets to tens of thousands of ports (a port scan) gets no
 * current states rather than hundreds of megabytes of them.
 */
#define TK_DIAG_MAX_ROWS 16384

/*
 * Destinations one dump holds (about 48 bytes each): past it, sockets on
 * ephemeral ports are counted as untracked rather than grow without end.
 */
#define TK_DIAG_MAX_DESTS 65536

struct tk_diag_row {
	uint16_t port;
	uint8_t dir;			/* enum tk_direction */
	uint32_t states[TK_NSTATES];	/* sockets in each state */
	struct tk_audit_row au;		/* its audited connections */
};

/* One socket of a dump, as sock_diag describes it. */
struct tk_diag_sock {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t state;		/* the kernel's TCP state */
	uint16_t lport, rport;	/* host order */
	uint8_t laddr[16], raddr[16];	/* network order; IPv4 in the first 4 */
	uint32_t rqueue, wqueue;	/* a listener's: accept queue and backlog */
};

/* Local ports held towards one (local address, remote address, remote port). */
struct tk_diag_dest {
	uint8_t laddr[16], raddr[16];
	uint16_t rport;
	uint8_t family;		/* 0: a free slot */
	uint32_t used, time_wait;
};

/*
 * The sockets of one dump, of one network namespace. Pure: the kernel
 * layer (kernel/sockdiag.c) reads the replies, this parses, attributes
 * and aggregates them.
 */
struct tk_diag {
	uint16_t eph_lo, eph_hi;	/* the namespace's ephemeral port range */
	const bool *ports;		/* rows to make; NULL: all */
	uint8_t listening[TK_PORTS / 8];	/* local ports with a listener */
	uint16_t *index;		/* (port << 1 | dir) -> 1 + rows[i]; 0: none */
	struct tk_diag_row *rows;
	size_t nrows, cap;
	uint64_t sockets;		/* every socket the dump reported */
	uint64_t unattributed;		/* sockets the rule gives no row */
	/* an open-addressing table of destinations, a power of two in size */
	struct tk_diag_dest *dests;
	size_t ndests, dests_cap;
	uint64_t dests_untracked;	/* sockets past TK_DIAG_MAX_DESTS */
	/* listeners, with their accept queues, at most TK_DIAG_MAX_ROWS */
	struct tk_listener *listeners;
	size_t nlisteners, listeners_cap;
	uint64_t listeners_untracked;	/* past that */
};

/* 0, or -ENOMEM. */
int tk_diag_init(struct tk_diag *d, uint16_t eph_lo, uint16_t eph_hi, const bool *ports);
/* Forget every socket, for a new dump. */
void tk_diag_reset(struct tk_diag *d);
void tk_diag_free(struct tk_diag *d);

/*
 * Count one socket (kernel TCP state; request sockets count as SYN_RECV)
 * under its row. A socket on a local port with a listener was accepted
 * from it: add every listener before the other sockets. A socket on an
 * ephemeral local port without a listener holds that port towards its
 * destination; a listener's queue is kept. 0, -ENOMEM, or -E2BIG past
 * TK_DIAG_MAX_ROWS rows.
 */
int tk_diag_add(struct tk_diag *d, const struct tk_diag_sock *sk);

/*
 * Count one audited connection of this dump's namespace (ns, an index into
 * s->netns) after the dump: attributed by the same rule as its state,
 * classified against s's policy, stuck after s->stuck_after_s, weighed
 * against s's would-be policy, and offered to s's lists. 0, -ENOMEM, or
 * -E2BIG as tk_diag_add.
 */
int tk_diag_audit(struct tk_diag *d, struct tk_snapshot *s, uint32_t ns,
		  struct tk_audit_conn *c);

/* What the replies to one dump request carry. */
struct tk_diag_expect {
	uint32_t pid;		/* our netlink port id */
	uint32_t seq;		/* the request's sequence number */
	uint16_t type;		/* the request's: SOCK_DIAG_BY_FAMILY or TCPDIAG_GETSOCK */
	uint8_t family;		/* AF_INET or AF_INET6; AF_UNSPEC: either (TCPDIAG_GETSOCK) */
};

/*
 * One datagram (4-byte aligned) of the replies to a dump request: add its
 * sockets. Messages of other requests (port id, sequence number) are
 * skipped. *intr is set when the kernel flags the dump interrupted by a
 * change (NLM_F_DUMP_INTR): its sockets may be counted twice or not at
 * all. Returns 1 at the dump's end, 0 when more is to come, or a negative
 * errno: the kernel's error, -EPROTO for a truncated or malformed
 * message, or tk_diag_add's.
 */
int tk_diag_parse(struct tk_diag *d, const void *buf, size_t len,
		  const struct tk_diag_expect *x, bool *intr);

/*
 * Add the dump of namespace ns (an index into s->netns) to the snapshot:
 * states to its rows (and, s->want_ns_rows, to rows of their own), the
 * worst destination and fullest listener of each port to its rows, the
 * worst and fullest to its top lists. 0 or -ENOMEM.
 */
int tk_diag_merge(const struct tk_diag *d, struct tk_snapshot *s, uint32_t ns);

#endif
