// SPDX-License-Identifier: GPL-2.0
/*
 * Audit: an iter/tcp program (5.9+) that reads, for every established
 * connection of the namespace that opens its file, what keepalive it runs
 * with, how long the peer has been silent, and whether unacknowledged data
 * is being retransmitted: one struct tk_audit_rec per connection. It reads
 * and changes nothing else; user space (core/audit.c) classifies.
 *
 * A socket dump cannot give this: sock_diag's tcp_info has no keepalive
 * option, and its timer field hides the keepalive timer behind a pending
 * retransmission.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tcpkeep.h"
#include "tcpkeep.bpf.h"

/*
 * An integer field whose width changed between kernels (the keepalive
 * probes sysctl: int up to 5.x, u8 since): read it at the running
 * kernel's width.
 */
#define read_uint(p, field) ({						\
	__u64 __v = 0;							\
	switch (bpf_core_field_size(p->field)) {			\
	case 1: __v = BPF_CORE_READ(p, field) & 0xff; break;		\
	default: {							\
		__u32 __w = 0;						\
		bpf_core_read(&__w, sizeof(__w), &p->field);		\
		__v = __w;						\
	}								\
	}								\
	__v;								\
})

/* older kernels (5.10, 6.1) keep the flags in struct sock, newer ones in sock_common */
struct sock___old {
	unsigned long sk_flags;
} __attribute__((preserve_access_index));

static __always_inline bool keepalive_on(struct sock *sk)
{
	unsigned long flags;

	if (bpf_core_field_exists(struct sock___old, sk_flags))
		flags = ((struct sock___old *)sk)->sk_flags;
	else
		flags = sk->__sk_common.skc_flags;
	return (flags >> bpf_core_enum_value(enum sock_flags, SOCK_KEEPOPEN)) & 1;
}

/* 6.7+ may keep TCP timestamps in microseconds, per connection */
struct tcp_sock___usec {
	u8 tcp_usec_ts: 1;
} __attribute__((preserve_access_index));

/*
 * Milliseconds since the oldest unacknowledged segment was first sent:
 * what TCP_USER_TIMEOUT and tcp_retries2 are measured against
 * (retransmits_timed_out()). retrans_stamp is in TCP timestamp units, on
 * the clock of bpf_ktime_get_ns().
 */
static __always_inline __u32 retrans_age_ms(struct tcp_sock *tp)
{
	__u64 now_us = bpf_ktime_get_ns() / 1000;
	__u32 stamp = tp->retrans_stamp;

	if (!stamp)
		return 0;
	if (bpf_core_field_exists(struct tcp_sock___usec, tcp_usec_ts) &&
	    BPF_CORE_READ_BITFIELD_PROBED((struct tcp_sock___usec *)tp, tcp_usec_ts))
		return ((__u32)now_us - stamp) / 1000;
	return (__u32)(now_us / 1000) - stamp;
}

SEC("iter/tcp")
int tk_audit(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tk_audit_rec r = {};
	struct inet_connection_sock *icsk;
	struct netns_ipv4 *ipv4;
	struct tcp_sock *tp;
	struct sock *sk;
	struct net *net;
	__u32 now, rcv, data;

	if (!skc)
		return 0;
	/* TIME_WAIT and request sockets have no keepalive and no data */
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	r.state = skc->skc_state;
	if (r.state != TCP_ESTABLISHED && r.state != TCP_CLOSE_WAIT)
		return 0;
	icsk = &tp->inet_conn;
	sk = (struct sock *)tp;
	r.family = skc->skc_family;
	r.lport = skc->skc_num;
	r.rport = bpf_ntohs(skc->skc_dport);
	if (r.family == AF_INET6) {
		BPF_CORE_READ_INTO(&r.laddr, skc, skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&r.raddr, skc, skc_v6_daddr.in6_u.u6_addr8);
	} else {
		__builtin_memcpy(r.laddr, &skc->skc_rcv_saddr, 4);
		__builtin_memcpy(r.raddr, &skc->skc_daddr, 4);
	}

	r.keepalive = keepalive_on(sk);
	r.ka_time = tp->keepalive_time;
	r.ka_intvl = tp->keepalive_intvl;
	r.ka_cnt = tp->keepalive_probes;
	r.user_timeout = icsk->icsk_user_timeout;
	net = skc->skc_net.net;
	ipv4 = &net->ipv4;
	r.def_time = read_uint(ipv4, sysctl_tcp_keepalive_time);
	r.def_intvl = read_uint(ipv4, sysctl_tcp_keepalive_intvl);
	r.def_cnt = read_uint(ipv4, sysctl_tcp_keepalive_probes);

	/* the kernel's keepalive_time_elapsed(): the later of the two */
	now = (__u32)bpf_jiffies64();
	rcv = tp->rcv_tstamp;
	data = icsk->icsk_ack.lrcvtime;
	r.ack_age = now - rcv;
	r.idle = now - ((__s32)(data - rcv) > 0 ? data : rcv);
	r.retransmits = icsk->icsk_retransmits;
	r.backoff = icsk->icsk_backoff;
	r.probes_out = icsk->icsk_probes_out;
	r.packets_out = tp->packets_out;
	if (r.packets_out && (r.retransmits || r.backoff))
		r.retrans_age = retrans_age_ms(tp);
	/* direct loads: the verifier turns a NULL on the way into 0 */
	r.ino = sk->sk_socket->file->f_inode->i_ino;

	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
