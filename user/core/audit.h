/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The audit of established connections: what keepalive each runs with,
 * how long its peer has been silent, which writers are stuck
 * retransmitting to a peer that stopped answering, and what a keepalive
 * policy would change. Pure: the audit iterator's records in
 * (kernel/audit.c reads them), rows of the snapshot out.
 */
#ifndef TK_AUDIT_H
#define TK_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tcpkeep.h"

/*
 * Idle-time histogram: slot i (0 < i < TK_IDLE_LOG_SLOTS) holds idle
 * times in [2^i, 2^(i+1)) seconds, slot 0 holds [0, 2); the last slot
 * everything from 2^TK_IDLE_LOG_SLOTS s (about 97 days) up.
 */
#define TK_IDLE_LOG_SLOTS	23
#define TK_IDLE_SLOTS		(TK_IDLE_LOG_SLOTS + 1)

/* The coarse buckets the metrics export (le), before +Inf. */
#define TK_IDLE_NBUCKETS	5
extern const uint32_t tk_idle_buckets[TK_IDLE_NBUCKETS];	/* 60 .. 86400 */

/* Counted on their own: idle for more than 10 min, 1 h, 1 day. */
enum tk_idle_over { TK_IDLE_OVER_10M = 0, TK_IDLE_OVER_1H, TK_IDLE_OVER_1D, TK_IDLE_NOVER };
extern const uint32_t tk_idle_over_s[TK_IDLE_NOVER];
extern const char *const tk_idle_over_names[TK_IDLE_NOVER];	/* "over_10m", ... */

/* The keepalive a connection runs with, read back from its socket. */
enum tk_ka_state {
	TK_KA_OFF = 0,		/* SO_KEEPALIVE off: a dead peer is never noticed */
	TK_KA_DEFAULT,		/* on, with the namespace's sysctls */
	TK_KA_POLICY,		/* on, with tcpkeep's policy of its port */
	TK_KA_OTHER,		/* on, with other values (the application's) */
	TK_KA_NSTATES,
};
/* "off", "kernel_default", "policy", "other" */
const char *tk_ka_state_name(unsigned int st);

/* Connections listed by address: the oldest idle, and the stuck writers. */
#define TK_AUDIT_TOP		10
/* Stuck: retransmitting, and no ACK for this long (default of --stuck-after). */
#define TK_STUCK_AFTER_S	10

/* What the audit found on one (port, direction), every namespace. */
struct tk_audit_row {
	uint64_t established;
	uint64_t ka[TK_KA_NSTATES];
	uint64_t idle_slots[TK_IDLE_SLOTS];
	uint64_t idle_le[TK_IDLE_NBUCKETS];	/* idle <= tk_idle_buckets[i] */
	uint64_t idle_over[TK_IDLE_NOVER];
	double idle_sum_s;
	uint64_t stuck;			/* stuck writers (ESTABLISHED, CLOSE_WAIT) */
	double stuck_oldest_s;		/* the longest retransmitting of those */
	/* today: connections whose dead peer would never be reaped
	 * (keepalive off), and the latest a dead one would be otherwise */
	uint64_t never_reaped;
	double reap_max_s;
	/* under the would-be policy (tk_audit_would): probed at once when
	 * set (idle for longer than its idle already) */
	uint64_t probe_now;
};

/* One connection, converted from its record: seconds, effective values. */
struct tk_audit_conn {
	uint32_t ns;			/* index into the snapshot's netns[] */
	uint16_t port;			/* its row: the service port */
	uint8_t dir;			/* enum tk_direction */
	uint8_t family;			/* AF_INET or AF_INET6 (v4-mapped: AF_INET) */
	uint8_t state;			/* TK_ESTABLISHED or TK_CLOSE_WAIT */
	uint8_t ka;			/* enum tk_ka_state */
	bool keepalive;			/* SO_KEEPALIVE */
	bool stuck;
	uint8_t laddr[16], raddr[16];
	uint16_t lport, rport;
	double idle_s;			/* since data or an ACK was last received */
	double ack_age_s;		/* since an ACK was last received */
	double retrans_age_s;		/* since the oldest unacked segment was sent
					 * (retransmitting only; else 0) */
	uint32_t ka_idle, ka_intvl, ka_cnt;	/* in effect: its own, else the sysctls */
	uint32_t def_idle, def_intvl, def_cnt;	/* the namespace's sysctls */
	uint32_t user_timeout_ms;	/* 0: none */
	uint32_t retransmits, backoff, unacked;
	uint64_t ino;
	int pid;			/* a process holding it; 0: not found */
	char comm[16];			/* its command */
};

/*
 * HZ from net.ipv4.tcp_keepalive_time in jiffies (a record's def_time)
 * and in seconds (the sysctl file); 0 when they give no HZ Linux has.
 */
unsigned int tk_audit_hz(uint32_t jiffies, uint32_t seconds);

/*
 * A record into c: seconds, v4-mapped addresses as IPv4; port, dir, ns,
 * ka and stuck are left for tk_audit_add. -EINVAL when hz is 0 or the
 * record is not of an ESTABLISHED or CLOSE_WAIT socket.
 */
int tk_audit_conn_of(const struct tk_audit_rec *r, unsigned int hz, struct tk_audit_conn *c);

/*
 * The keepalive class of c, against pol (the policy of its port; NULL or
 * off: none): the policy if its options match it, else the namespace's
 * defaults if they match those, else other.
 */
enum tk_ka_state tk_audit_classify(const struct tk_audit_conn *c, const struct tk_policy *pol);

/*
 * Seconds until a peer that died now is found dead and the connection
 * closed, at worst, under keepalive (idle, intvl, cnt) and a user timeout
 * (seconds, 0: none): probes start after idle and the connection is
 * aborted after cnt unanswered probes, or, with a user timeout, at the
 * first probe tick once that long has passed without a word from the peer.
 */
double tk_audit_reap_s(uint32_t idle, uint32_t intvl, uint32_t cnt, uint32_t user_timeout);

/* The same for c with the options it runs with; -1: never (keepalive off). */
double tk_audit_conn_reap_s(const struct tk_audit_conn *c);

/*
 * Is c a stuck writer: unacknowledged data being retransmitted (or backed
 * off) and no ACK from the peer for after seconds?
 */
bool tk_audit_stuck(const struct tk_audit_conn *c, double after);

/* Count c (ka and stuck set) in row a. */
void tk_audit_row_add(struct tk_audit_row *a, const struct tk_audit_conn *c,
		      const struct tk_policy *would);
/* a += b */
void tk_audit_row_merge(struct tk_audit_row *a, const struct tk_audit_row *b);

#endif
