/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the kernel side and user space of tcpkeep share: map keys and
 * values, limits and enums. Nothing else belongs here.
 *
 * The structs below are also the layout of the pinned maps under
 * /sys/fs/bpf/tcpkeep, a stable interface for other tools.
 */
#ifndef TCPKEEP_H
#define TCPKEEP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Bounded map sizes. A full map is counted, never silently ignored. */
#define TK_MAX_TRANS	16384	/* (port, direction, from, to) rows */
#define TK_MAX_PORTS	4096	/* (port, direction) rows */
#define TK_MAX_POLICY	1024	/* ports with a keepalive policy */
#define TK_SLOTS	65536	/* connections whose lifetime is tracked at once */
#define TK_SLOT_WAYS	4	/* slots a connection may take (a power of two) */

/*
 * Lifetime histogram: slot i (0 < i < TK_HIST_LOG_SLOTS) holds lifetimes
 * in [2^i, 2^(i+1)) microseconds, slot 0 holds [0, 2). The last slot is the
 * overflow bucket: everything from 2^TK_HIST_LOG_SLOTS us (about 19 h) up.
 */
#define TK_HIST_LOG_SLOTS	36
#define TK_HIST_SLOTS		(TK_HIST_LOG_SLOTS + 1)
#define TK_HIST_OVERFLOW	TK_HIST_LOG_SLOTS

/* Kernel TCP states go up to TCP_BOUND_INACTIVE (13) in 6.5+. */
#define TK_NSTATES	16

/*
 * Kernel TCP state numbers (include/net/tcp_states.h), the from and to of
 * a transition key, named for user space and the rule in attrib.h.
 */
enum tk_tcp_state {
	TK_ESTABLISHED = 1, TK_SYN_SENT, TK_SYN_RECV, TK_FIN_WAIT1, TK_FIN_WAIT2,
	TK_TIME_WAIT, TK_CLOSE, TK_CLOSE_WAIT, TK_LAST_ACK, TK_LISTEN, TK_CLOSING,
	TK_NEW_SYN_RECV, TK_BOUND_INACTIVE,
};

enum tk_direction {
	TK_DIR_IN = 0,	/* accepted: counted under the local port */
	TK_DIR_OUT = 1,	/* initiated: counted under the remote port */
};

/*
 * Events seen but not put in a row, by reason: the per-CPU "uncounted"
 * array. The first three are missed events (a map was full); the last is
 * a transition of a socket that has no service port by the attribution
 * rule (both ports ephemeral), shown as "unattributed".
 */
enum tk_uncounted {
	TK_UNC_TRANS_FULL = 0,	/* transitions map full */
	TK_UNC_CONN_FULL,	/* conns map full: lifetime or dead peer lost */
	TK_UNC_KA_FULL,		/* keepalive stats map full */
	TK_UNC_UNATTRIBUTED,	/* no service port could be told */
	TK_UNC_UNTRACKED,	/* lifetime untracked: all its slots were taken */
	TK_UNC_MAX,
};

/*
 * The observer's second program (per CPU, the one entry of the "nested"
 * array). The kernel skips a tracing program that fires while the same
 * program is already running on that CPU (its recursion guard; counted in
 * the program's recursion_misses): softirq work interrupting a run in task
 * context. The main program raises busy while it runs; the second program
 * on the same tracepoint, which has its own guard, counts an event only
 * while busy is up, that is exactly the events the main one is being
 * skipped for.
 */
struct tk_nested {
	__u32 busy;	/* the main program is running on this CPU */
	__u32 pad;
	__u64 caught;	/* events the second program counted instead */
};

/* Keepalive options, in the order the enforcer sets them. */
enum tk_ka_opt {
	TK_OPT_KEEPALIVE = 0,	/* SO_KEEPALIVE */
	TK_OPT_KEEPIDLE,	/* TCP_KEEPIDLE */
	TK_OPT_KEEPINTVL,	/* TCP_KEEPINTVL */
	TK_OPT_KEEPCNT,		/* TCP_KEEPCNT */
	TK_OPT_USER_TIMEOUT,	/* TCP_USER_TIMEOUT */
	TK_OPT_MAX,
};

struct tk_port_key {
	__u16 port;	/* host byte order */
	__u8 dir;	/* enum tk_direction */
	__u8 pad;
};

struct tk_trans_key {
	__u16 port;	/* host byte order */
	__u8 dir;	/* enum tk_direction */
	__u8 from;	/* kernel TCP state */
	__u8 to;	/* kernel TCP state */
	__u8 pad[3];
};

/* Per (port, direction), per CPU: connection lifetimes and outcomes. */
struct tk_conn_stats {
	__u64 slots[TK_HIST_SLOTS];	/* lifetime histogram, log2(us) */
	__u64 sum_us;			/* sum of lifetimes, microseconds */
	__u64 dead_peers;		/* aborted with ETIMEDOUT */
};

/* Per (port, direction), per CPU: what the enforcer did. */
struct tk_ka_stats {
	__u64 applied;			/* connections the whole policy was set on */
	__u64 errors[TK_OPT_MAX];	/* failed bpf_setsockopt, per option */
};

/* Keepalive policy of one port, value of the policy map (key: __u16 port). */
struct tk_policy {
	__u32 idle;		/* TCP_KEEPIDLE, seconds */
	__u32 intvl;		/* TCP_KEEPINTVL, seconds */
	__u32 cnt;		/* TCP_KEEPCNT */
	__u32 user_timeout;	/* TCP_USER_TIMEOUT, seconds; 0: leave as is */
	__u32 off;		/* 1: port exempt, set nothing */
};

/*
 * A lifetime slot: what the observer remembers of a connection from its
 * first state to CLOSE, in the "slots" array. A connection may take one of
 * TK_SLOT_WAYS slots chosen by a hash of its socket's address; it claims a
 * free one (sk == 0) with a compare-and-exchange and frees it at CLOSE.
 */
struct tk_slot {
	__u64 sk;		/* the socket's identity; 0: free */
	__u64 start_ns;		/* first state seen, bpf_ktime_get_ns() */
	__u16 port;		/* service port, host byte order */
	__u8 dir;		/* enum tk_direction */
	__u8 pad[5];
};

/*
 * One connection as the audit iterator (bpf/audit.bpf.c) reads it from its
 * socket: the iterator's file is a stream of these, ESTABLISHED and
 * CLOSE_WAIT sockets of the namespace that opened it. Times are jiffies,
 * as the kernel keeps them; def_time against the namespace's
 * net.ipv4.tcp_keepalive_time in seconds gives HZ.
 */
struct tk_audit_rec {
	__u8 family;		/* AF_INET or AF_INET6 */
	__u8 state;		/* TK_ESTABLISHED or TK_CLOSE_WAIT */
	__u8 keepalive;		/* SO_KEEPALIVE is on */
	__u8 ka_cnt;		/* TCP_KEEPCNT; 0: the namespace's */
	__u8 def_cnt;		/* net.ipv4.tcp_keepalive_probes */
	__u8 retransmits;	/* icsk_retransmits: of the oldest unacked segment */
	__u8 backoff;		/* icsk_backoff: RTO doublings */
	__u8 probes_out;	/* keepalive or window probes unanswered */
	__u16 lport, rport;	/* host byte order */
	__u32 idle;		/* since data or an ACK was last received */
	__u32 ack_age;		/* since an ACK was last received */
	__u32 ka_time, ka_intvl;	/* TCP_KEEPIDLE, TCP_KEEPINTVL; 0: the namespace's */
	__u32 def_time, def_intvl;	/* net.ipv4.tcp_keepalive_time, _intvl */
	__u32 user_timeout;	/* TCP_USER_TIMEOUT, milliseconds; 0: none */
	__u32 packets_out;	/* segments sent and not acknowledged */
	__u32 retrans_age;	/* ms since the oldest of those was first sent,
				 * if it was retransmitted; else 0 */
	__u64 ino;		/* the socket's inode; 0: no file yet (not accepted) */
	__u8 laddr[16], raddr[16];	/* network byte order; IPv4 in the first 4 */
};

#endif /* TCPKEEP_H */
