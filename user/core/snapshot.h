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
#include "core/audit.h"

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
	/* out rows: the worst destination on this remote port (tk_dest) */
	uint32_t eph_used;		/* its local ports in use */
	double eph_share;		/* of its namespace's ephemeral range */
	/* in rows: the fullest listener on this local port (tk_listener) */
	uint32_t listeners;		/* listening sockets, every namespace */
	uint32_t queue, queue_limit;	/* the fullest one's accept queue */
	struct tk_audit_row au;		/* the audit of its connections */
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

/* A network namespace a frame looked into. */
struct tk_netns {
	uint64_t ino;		/* its nsfs inode: the namespace's identity */
	int pid;		/* one process in it; 0: only a bind mount holds it */
	char name[256];		/* its name under /run/netns, or its bind mount's
				 * path elsewhere; "": none */
	bool self;		/* tcpkeep's own */
	int err;		/* 0: dumped; else why not (a negative errno) */
	uint64_t sockets;	/* TCP sockets its dump saw */
	uint16_t eph_lo, eph_hi;	/* its net.ipv4.ip_local_port_range */
	int audit_err;		/* 0: audited (or no audit asked); else why not */
};

/* States of one (port, direction) in one namespace (--netns). */
struct tk_ns_row {
	uint32_t ns;		/* index into the snapshot's netns[] */
	uint16_t port;
	uint8_t dir;
	uint64_t states[TK_NSTATES];
};

/*
 * Local ports held towards one destination. Linux needs a distinct local
 * port per (local address, remote address, remote port) in a namespace:
 * that is what runs out, TIME_WAIT included.
 */
struct tk_dest {
	uint32_t ns;		/* index into netns[] */
	uint8_t family;		/* AF_INET or AF_INET6 (v4-mapped: AF_INET) */
	uint8_t laddr[16], raddr[16];	/* network order; IPv4 in the first 4 */
	uint16_t rport;
	uint32_t used;		/* sockets on ephemeral local ports, every state */
	uint32_t time_wait;	/* of which in TIME_WAIT */
	uint32_t range;		/* ports in its namespace's ephemeral range */
	double share;		/* used / range */
};

/* A listening socket's accept queue. */
struct tk_listener {
	uint32_t ns;
	uint8_t family;
	uint8_t addr[16];
	uint16_t port;
	uint32_t queue;		/* connections waiting for accept() */
	uint32_t limit;		/* its backlog; the kernel drops beyond it */
	double share;		/* queue / limit (a backlog of 0 counts as 1) */
};

/* The worst destinations and fullest listeners a snapshot keeps. */
#define TK_TOP_DESTS		20
#define TK_TOP_LISTENERS	20

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
	/* every network namespace the dump found; tcpkeep's own first */
	size_t nnetns;
	struct tk_netns *netns;
	uint64_t netns_unreadable;	/* processes whose namespace could not be read */
	uint64_t netns_over;		/* namespaces past TK_NETNS_MAX, not visited */
	bool want_ns_rows;		/* keep states per namespace (--netns) */
	size_t nns_rows, ns_rows_cap;
	struct tk_ns_row *ns_rows;
	/* worst first, at most TK_TOP_DESTS; untracked: sockets past the
	 * destinations a dump can hold (TK_DIAG_MAX_DESTS) */
	size_t ndests;
	struct tk_dest dests[TK_TOP_DESTS];
	uint64_t dests_untracked;
	/* fullest first, at most TK_TOP_LISTENERS; untracked: listeners past
	 * those a dump holds (TK_DIAG_MAX_ROWS) */
	size_t nlisteners;
	struct tk_listener listeners[TK_TOP_LISTENERS];
	uint64_t listeners_untracked;
	uint32_t eph_range;		/* tcpkeep's own namespace's range size */
	/* the audit (core/audit.h): rows' au, and connections by address */
	bool audit_ok;			/* audited tcpkeep's own namespace */
	int audit_err;			/* else why not: a negative errno */
	double stuck_after_s;		/* stuck: no ACK for this long */
	/* audit -k: the would-be policy of its ports; NULL: none given
	 * (a port's own policy, else the built-in default); not owned */
	const struct tk_policy_table *would;
	size_t noldest;			/* longest idle first */
	struct tk_audit_conn oldest[TK_AUDIT_TOP];
	size_t nstuck;			/* longest retransmitting first */
	struct tk_audit_conn stuck[TK_AUDIT_TOP];
	bool audit_pids;		/* the lists' pid and comm were looked up */
};

/* Namespaces one snapshot visits at most. */
#define TK_NETNS_MAX 4096

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

/* Append a --netns row (one per (ns, port, dir)), zeroed; NULL: out of memory. */
struct tk_ns_row *tk_snapshot_add_ns_row(struct tk_snapshot *s, uint32_t ns, uint16_t port,
					 uint8_t dir);
/* Offer a destination, a listener to the bounded top lists (worst kept). */
void tk_snapshot_offer_dest(struct tk_snapshot *s, const struct tk_dest *d);
void tk_snapshot_offer_listener(struct tk_snapshot *s, const struct tk_listener *l);
/* The namespace a dest or listener is in; NULL if not known. */
const struct tk_netns *tk_snapshot_netns(const struct tk_snapshot *s, uint32_t ns);

/* Namespaces found but not looked into: refused, or past TK_NETNS_MAX. */
uint64_t tk_snapshot_netns_unvisited(const struct tk_snapshot *s);
/* Namespaces whose sockets were read. */
uint64_t tk_snapshot_netns_visited(const struct tk_snapshot *s);

/* An accept queue against its limit; the kernel lets a backlog of 0 hold one. */
double tk_queue_share(uint32_t queue, uint32_t limit);
/* Keep in r the worse of its destination and one holding share, used. */
void tk_row_offer_eph(struct tk_row *r, double share, uint32_t used);
/* Add n listeners to r whose fullest has (queue, limit): r keeps the fuller. */
void tk_row_add_listeners(struct tk_row *r, uint32_t n, uint32_t queue, uint32_t limit);

/* The policy of port (the policy map's), NULL if it has none. */
const struct tk_policy *tk_snapshot_policy(const struct tk_snapshot *s, uint16_t port);
/* Where a port's would-be policy comes from (tk_snapshot_would). */
enum tk_would_source {
	TK_WOULD_GIVEN = 0,	/* audit -k */
	TK_WOULD_POLICY,	/* the port's policy */
	TK_WOULD_OFF,		/* the port is exempt: nothing would change */
	TK_WOULD_DEFAULT,	/* no policy: the built-in default */
};
/* "given", "policy", "off", "default" */
const char *tk_would_source_name(unsigned int src);
/* The policy that audit weighs for port: given, its own, else the default. */
enum tk_would_source tk_snapshot_would(const struct tk_snapshot *s, uint16_t port,
				       struct tk_policy *out);
/* Offer an audited connection to the bounded lists (oldest idle, stuck). */
void tk_snapshot_offer_conn(struct tk_snapshot *s, const struct tk_audit_conn *c);

/* Events skipped by the kernel and not caught by the nested program. */
uint64_t tk_snapshot_kernel_missed(const struct tk_snapshot *s);
/* Those, and events a full map had no room for. */
uint64_t tk_snapshot_missed(const struct tk_snapshot *s);
uint64_t tk_row_transitions(const struct tk_row *r);
uint64_t tk_row_hist_count(const struct tk_row *r);
void tk_row_totals(const struct tk_row *r, struct tk_totals *t);

/* Per second over dt; 0 when there is no interval or the counter went back. */
double tk_rate(uint64_t now, uint64_t before, double dt);

/* An address of a dest or listener as text ("10.0.0.1", "fd00::1"); buf. */
#define TK_ADDR_LEN 46
const char *tk_addr_name(uint8_t family, const uint8_t addr[16], char *buf, size_t len);

/* "addr:port" into buf, IPv6 in brackets ("[fd00::1]:993"). */
void tk_endpoint_name(char *buf, size_t len, uint8_t family, const uint8_t addr[16],
		      uint16_t port);
/*
 * A namespace as outputs name it: its ip netns name (or bind mount),
 * "host" for tcpkeep's own, else a process in it ("pid 42"), else its
 * inode; in buf when made up.
 */
const char *tk_netns_label(const struct tk_snapshot *s, uint32_t ns, char *buf, size_t len);
/* A duration of seconds as people read it: 4.2s, 42s, 3m12s, 3h12m, 2d04h; buf. */
#define TK_AGE_LEN 32
const char *tk_age_name(double s, char *buf, size_t len);

const char *tk_state_name(unsigned int state);
const char *tk_dir_name(unsigned int dir);
const char *tk_opt_name(unsigned int opt);

#endif /* TK_SNAPSHOT_H */
