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
 * instead, before accept() returns, and only where the options it took
 * from its listener differ from the policy; with no policy, it keeps what
 * the application gave its listener.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include "tcpkeep.h"
#include "tcpkeep.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TK_MAX_POLICY);
	__type(key, __u16);
	__type(value, struct tk_policy);
} policy SEC(".maps");

/*
 * One value per row shared by all CPUs, added to atomically: a per-CPU
 * hash of the same rows would take 4096 x 48 bytes per CPU (24 MiB on 128
 * CPUs), for counters bumped once per connection. The price is contention
 * where many CPUs open connections of one port at once.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TK_MAX_PORTS);
	__type(key, struct tk_port_key);
	__type(value, struct tk_ka_stats);
} ka_stats SEC(".maps");

/* what the last iterator run did; the iterator runs in one thread */
__u64 iter_sockets;	/* sockets the policy was set on */
__u64 iter_errors;	/* sockets where an option failed */

static const struct tk_ka_stats zero_ka;

/*
 * HZ, learnt from the kernel's own conversion: right after TCP_KEEPIDLE of
 * s seconds succeeds, the socket holds s * HZ jiffies. 0 until then.
 *
 * The keepalive times are held in jiffies. A BPF program could be told
 * HZ by a __kconfig extern, but libbpf refuses to load one without the
 * kernel's config file (/boot/config-*, /proc/config.gz), which containers
 * and our test guests lack. bpf_getsockopt would divide by HZ for us, but
 * only from 6.1 on, and at a helper call per time read: about what setting
 * the time costs. Learning HZ works on every kernel and costs nothing.
 */
__u32 hz;

/*
 * Which options of the policy a connection lacks, as bits (1 << enum
 * tk_ka_opt), read from its tcp_sock. An accepted child is a clone of its
 * listener, so it comes with the listener's SO_KEEPALIVE, times and user
 * timeout, and with its keepalive timer already armed when SO_KEEPALIVE
 * is on; a connect()ing socket has what the application set before.
 * Nothing read means everything is set (tp NULL).
 *
 * All are plain CO-RE loads of fields that are the same from 5.10 to 6.18:
 * SO_KEEPALIVE (SOCK_KEEPOPEN in sk_flags), keepalive_time and
 * keepalive_intvl (jiffies), keepalive_probes, icsk_user_timeout (ms). A
 * time or count of 0 stands for the sysctl default: it differs. Until HZ
 * is known, the times differ too (they are set, and HZ learnt).
 */
static __always_inline __u32 options_to_set(const struct tcp_sock *tp,
					    const struct tk_policy *pol)
{
	__u32 todo = 1 << TK_OPT_KEEPALIVE | 1 << TK_OPT_KEEPIDLE | 1 << TK_OPT_KEEPINTVL |
		     1 << TK_OPT_KEEPCNT | 1 << TK_OPT_USER_TIMEOUT;
	unsigned long keepopen = 1UL << bpf_core_enum_value(enum sock_flags, SOCK_KEEPOPEN);
	__u32 jiffies_per_s = hz;

	/* user-timeout 0 in the policy: leave the socket's own */
	if (!pol->user_timeout)
		todo &= ~(1 << TK_OPT_USER_TIMEOUT);
	if (!tp)
		return todo;
	if (tp->inet_conn.icsk_inet.sk.__sk_common.skc_flags & keepopen)
		todo &= ~(1 << TK_OPT_KEEPALIVE);
	if (jiffies_per_s && tp->keepalive_time == pol->idle * jiffies_per_s)
		todo &= ~(1 << TK_OPT_KEEPIDLE);
	if (jiffies_per_s && tp->keepalive_intvl == pol->intvl * jiffies_per_s)
		todo &= ~(1 << TK_OPT_KEEPINTVL);
	if (tp->keepalive_probes == pol->cnt)
		todo &= ~(1 << TK_OPT_KEEPCNT);
	if (pol->user_timeout && tp->inet_conn.icsk_user_timeout == pol->user_timeout * 1000)
		todo &= ~(1 << TK_OPT_USER_TIMEOUT);
	return todo;
}

/* After TCP_KEEPIDLE of pol->idle seconds was set on tp: learn HZ. */
static __always_inline void learn_hz(const struct tcp_sock *tp, const struct tk_policy *pol)
{
	__u32 jiffies = tp->keepalive_time;

	if (!hz && pol->idle && jiffies && jiffies % pol->idle == 0)
		hz = jiffies / pol->idle;
}

/*
 * Set the options in todo on sk (a sockops context or a locked socket),
 * each result checked on its own. SO_KEEPALIVE arms the keepalive timer
 * only on an off->on change, with the idle time the socket has then;
 * TCP_KEEPIDLE re-arms it only when SO_KEEPALIVE is already on. So
 * SO_KEEPALIVE goes last: when it was off, the times are plain stores and
 * the timer is armed once, with the policy's idle; when it was on, a
 * different idle re-arms the timer the kernel armed at the clone. (On an
 * initiated connection the kernel arms it again after the callback, with
 * the idle now in place.) Returns the number of options that failed.
 */
static __always_inline int set_options(void *sk, const struct tcp_sock *tp,
				       const struct tk_policy *pol, __u32 todo,
				       struct tk_ka_stats *st)
{
	/* indexed by enum tk_ka_opt */
	const int level[TK_OPT_MAX] = { SOL_SOCKET, SOL_TCP, SOL_TCP, SOL_TCP, SOL_TCP };
	const int name[TK_OPT_MAX] = { SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL,
				       TCP_KEEPCNT, TCP_USER_TIMEOUT };
	int val[TK_OPT_MAX] = { 1, pol->idle, pol->intvl, pol->cnt,
				pol->user_timeout * 1000 /* ms */ };
	const int order[TK_OPT_MAX] = { TK_OPT_KEEPIDLE, TK_OPT_KEEPINTVL, TK_OPT_KEEPCNT,
					TK_OPT_USER_TIMEOUT, TK_OPT_KEEPALIVE };
	int failed = 0;

#pragma unroll
	for (int i = 0; i < TK_OPT_MAX; i++) {
		int opt = order[i];

		if (!(todo & (1 << opt)))
			continue;
		if (bpf_setsockopt(sk, level[opt], name[opt], &val[opt], sizeof(val[opt]))) {
			failed++;
			if (st)
				tk_add(&st->errors[opt], 1);
		} else if (opt == TK_OPT_KEEPIDLE && tp) {
			learn_hz(tp, pol);
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
 * Apply pol, the policy of port, to a connection: sk to set options on,
 * tp to read them from (NULL: set them all). -1 if there is nothing to
 * apply, else the options that failed. "applied" counts connections that
 * end with the whole policy in place, whether anything had to be set.
 */
static __always_inline int apply(void *sk, const struct tcp_sock *tp,
				 const struct tk_policy *pol, __u16 port, __u8 dir)
{
	struct tk_ka_stats *st;
	int failed;

	if (!pol || pol->off)
		return -1;
	st = ka_stats_of(port, dir);
	failed = set_options(sk, tp, pol, options_to_set(tp, pol), st);
	if (!failed && st)
		tk_add(&st->applied, 1);
	return failed;
}

/* A new connection: on a port without policy, one lookup and nothing more. */
static __always_inline void enforce_new(struct bpf_sock_ops *skops, __u16 port, __u8 dir)
{
	const struct tk_policy *pol = bpf_map_lookup_elem(&policy, &port);
	struct bpf_sock *sk;

	if (!pol || pol->off)
		return;
	/* skops->sk and bpf_skc_to_tcp_sock in sockops: both 5.10 */
	sk = skops->sk;
	apply(skops, sk ? bpf_skc_to_tcp_sock(sk) : NULL, pol, port, dir);
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
		enforce_new(skops, skops->local_port, TK_DIR_IN);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		enforce_new(skops, bpf_ntohl(skops->remote_port), TK_DIR_OUT);
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
		failed = apply(tp, tp, pol, lport, TK_DIR_IN);
	else
		failed = apply(tp, tp, bpf_map_lookup_elem(&policy, &rport), rport,
			       TK_DIR_OUT);
	if (failed == 0)
		iter_sockets++;
	else if (failed > 0)
		iter_errors++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
