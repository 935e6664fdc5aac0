// SPDX-License-Identifier: GPL-2.0
/*
 * Enforcer: forces keepalive options on connections of ports that have a
 * policy, from the kernel, without touching the application.
 *
 * sockops on a cgroup v2 (the root by default) sets the options on
 * accepted and initiated connections; an iter/tcp program (5.15+) sets
 * them on those that existed before tcpkeep attached.
 *
 * Listeners are never touched. An accepted socket is cloned from its
 * listener with the listener's options, so options put on a listener
 * would outlive every later change of policy (off, del, unpin) on all
 * connections it accepts. Each accepted connection is set on its own
 * instead, before accept() returns; with no policy, it keeps what the
 * application gave its listener.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "tcpkeep.h"
#include "tcpkeep.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TK_MAX_POLICY);
	__type(key, __u16);
	__type(value, struct tk_policy);
} policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, TK_MAX_PORTS);
	__type(key, struct tk_port_key);
	__type(value, struct tk_ka_stats);
} ka_stats SEC(".maps");

/* what the last iterator run did; the iterator runs in one thread */
__u64 iter_sockets;	/* sockets the policy was set on */
__u64 iter_errors;	/* sockets where an option failed */

static const struct tk_ka_stats zero_ka;

/*
 * Set the policy's options on sk (a sockops context or a locked socket).
 * SO_KEEPALIVE arms the timer only on an off->on change, and only
 * TCP_KEEPIDLE re-arms it, so the order is fixed: SO_KEEPALIVE, then always
 * TCP_KEEPIDLE, then the rest. Each result is checked on its own.
 * Returns the number of options that failed.
 */
static __always_inline int set_options(void *sk, const struct tk_policy *pol,
				       struct tk_ka_stats *st)
{
	/* indexed by enum tk_ka_opt */
	const int level[TK_OPT_MAX] = { SOL_SOCKET, SOL_TCP, SOL_TCP, SOL_TCP, SOL_TCP };
	const int name[TK_OPT_MAX] = { SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL,
				       TCP_KEEPCNT, TCP_USER_TIMEOUT };
	int val[TK_OPT_MAX] = { 1, pol->idle, pol->intvl, pol->cnt,
				pol->user_timeout * 1000 /* ms */ };
	int failed = 0;

#pragma unroll
	for (int i = 0; i < TK_OPT_MAX; i++) {
		/* user-timeout 0: leave the socket's own */
		if (i == TK_OPT_USER_TIMEOUT && !pol->user_timeout)
			continue;
		if (bpf_setsockopt(sk, level[i], name[i], &val[i], sizeof(val[i]))) {
			failed++;
			if (st)
				st->errors[i]++;
		}
	}
	return failed;
}

static __always_inline struct tk_ka_stats *ka_stats_of(__u16 port, __u8 dir)
{
	struct tk_port_key key = { .port = port, .dir = dir };
	struct tk_ka_stats *st = tk_lookup_or_init(&ka_stats, &key, &zero_ka);

	if (!st)
		count_uncounted(TK_UNC_KA_FULL);
	return st;
}

/*
 * Apply pol, the policy of port, to a connection. -1 if there is nothing
 * to apply, else the options that failed.
 */
static __always_inline int apply(void *sk, const struct tk_policy *pol, __u16 port,
				 __u8 dir)
{
	struct tk_ka_stats *st;
	int failed;

	if (!pol || pol->off)
		return -1;
	st = ka_stats_of(port, dir);
	failed = set_options(sk, pol, st);
	if (!failed && st)
		st->applied++;
	return failed;
}

static __always_inline int enforce(void *sk, __u16 port, __u8 dir)
{
	return apply(sk, bpf_map_lookup_elem(&policy, &port), port, dir);
}

SEC("sockops")
int tk_sockops(struct bpf_sock_ops *skops)
{
	/*
	 * Only these callbacks have a full, locked socket: on request-socket
	 * callbacks (TIMEOUT_INIT, RWND_INIT, NEEDS_ECN) bpf_setsockopt fails.
	 * local_port is in host order, remote_port in network order.
	 */
	switch (skops->op) {
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		enforce(skops, skops->local_port, TK_DIR_IN);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		enforce(skops, bpf_ntohl(skops->remote_port), TK_DIR_OUT);
		break;
	}
	return 1;
}

SEC("iter/tcp")
int tk_iter_existing(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tk_policy *pol;
	struct tcp_sock *tp;
	__u16 lport, rport;
	__u8 state;
	int failed;

	if (!skc)
		return 0;
	/* TIME_WAIT and request sockets are not full sockets; listeners are
	 * left alone (see above) */
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	state = skc->skc_state;
	if (state != TCP_ESTABLISHED)
		return 0;
	lport = skc->skc_num;
	rport = bpf_ntohs(skc->skc_dport);

	/* accepted on a policy port ("in"), else initiated to one ("out") */
	pol = bpf_map_lookup_elem(&policy, &lport);
	if (pol)
		failed = apply(tp, pol, lport, TK_DIR_IN);
	else
		failed = enforce(tp, rport, TK_DIR_OUT);
	if (failed == 0)
		iter_sockets++;
	else if (failed > 0)
		iter_errors++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
