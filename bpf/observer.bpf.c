// SPDX-License-Identifier: GPL-2.0
/*
 * Observer: counts every TCP state transition per service port and
 * direction, and keeps connection-lifetime histograms.
 *
 * Two thin entry points share one handler: tp_btf (5.5+, can use
 * socket-local storage) and raw_tp (the fallback, no storage: no
 * lifetimes, direction by the port rule below). User space keeps one.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tcpkeep.h"
#include "tcpkeep.bpf.h"

/* The local ephemeral port range, read from ip_local_port_range at load. */
const volatile __u16 eph_lo = 32768;
const volatile __u16 eph_hi = 60999;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, TK_MAX_TRANS);
	__type(key, struct tk_trans_key);
	__type(value, __u64);
} transitions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, TK_MAX_PORTS);
	__type(key, struct tk_port_key);
	__type(value, struct tk_conn_stats);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TK_UNC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} uncounted SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tk_sk_info);
} sk_info SEC(".maps");

static const struct tk_conn_stats zero_conn;
static const __u64 zero_u64;

static __always_inline void count_uncounted(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&uncounted, &reason);

	if (v)
		*v += 1;
}

static __always_inline bool is_ephemeral(__u16 port)
{
	return port >= eph_lo && port <= eph_hi;
}

static __always_inline bool is_tcp(const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	/* sk_protocol was a bitfield before 5.6 */
	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP)
		return false;
	return family == AF_INET || family == AF_INET6;
}

/*
 * Service port and direction of a socket we hold no storage for: one that
 * existed before tcpkeep attached, or any socket under the raw_tp
 * fallback. Handshake states tell the direction; after that the side
 * whose port is outside the ephemeral range is the service.
 * Ports come from inet_sport/skc_dport: skc_num is already 0 when an
 * accepted socket reaches CLOSE.
 */
static __always_inline bool port_rule(const struct sock *sk, int old, int new,
				      struct tk_port_key *key)
{
	__u16 sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	__u16 dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));

	if (old == TCP_SYN_SENT || new == TCP_SYN_SENT) {
		key->port = dport;	/* local port may still be 0 */
		key->dir = TK_DIR_OUT;
	} else if (old == TCP_LISTEN || new == TCP_LISTEN) {
		key->port = sport;
		key->dir = TK_DIR_IN;
	} else if (!is_ephemeral(sport) && sport) {
		key->port = sport;
		key->dir = TK_DIR_IN;
	} else if (!is_ephemeral(dport) && dport) {
		key->port = dport;
		key->dir = TK_DIR_OUT;
	} else {
		return false;
	}
	return key->port != 0;
}

/* Storage for a socket entering its first state: a connect, an accepted
 * child (cloned from the listener, so LISTEN -> SYN_RECV) or a listener. */
static __always_inline struct tk_sk_info *
sk_info_start(struct sock *sk, int old, int new, const struct tk_port_key *key)
{
	struct tk_sk_info *info;

	if (!(new == TCP_SYN_SENT || new == TCP_LISTEN ||
	      (old == TCP_LISTEN && new == TCP_SYN_RECV)))
		return NULL;
	info = bpf_sk_storage_get(&sk_info, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!info)
		return NULL;
	info->start_ns = bpf_ktime_get_ns();
	info->port = key->port;
	info->dir = key->dir;
	info->listener = new == TCP_LISTEN;
	return info;
}

static __always_inline void record_lifetime(const struct tk_sk_info *info)
{
	struct tk_port_key key = { .port = info->port, .dir = info->dir };
	struct tk_conn_stats *st;
	__u64 us;

	if (info->listener || !info->start_ns)
		return;
	st = tk_lookup_or_init(&conns, &key, &zero_conn);
	if (!st) {
		count_uncounted(TK_UNC_CONN_FULL);
		return;
	}
	us = (bpf_ktime_get_ns() - info->start_ns) / 1000;
	st->slots[tk_hist_slot(us)] += 1;
	st->sum_us += us;
}

static __always_inline int handle_set_state(struct sock *sk, int old, int new,
					    const bool with_storage)
{
	struct tk_sk_info *info = NULL;
	struct tk_trans_key tkey = {};
	struct tk_port_key key = {};
	__u64 *cnt;

	if (!is_tcp(sk))
		return 0;

	if (with_storage) {
		info = bpf_sk_storage_get(&sk_info, sk, NULL, 0);
		if (info && new != TCP_CLOSE && (new == TCP_SYN_SENT || new == TCP_LISTEN)) {
			/* a closed socket reused for a new connect or listen */
			bpf_sk_storage_delete(&sk_info, sk);
			info = NULL;
		}
	}
	if (info) {
		key.port = info->port;
		key.dir = info->dir;
	} else {
		if (!port_rule(sk, old, new, &key)) {
			count_uncounted(TK_UNC_UNATTRIBUTED);
			return 0;
		}
		if (with_storage)
			info = sk_info_start(sk, old, new, &key);
	}

	tkey.port = key.port;
	tkey.dir = key.dir;
	tkey.from = old;
	tkey.to = new;
	cnt = tk_lookup_or_init(&transitions, &tkey, &zero_u64);
	if (cnt)
		*cnt += 1;
	else
		count_uncounted(TK_UNC_TRANS_FULL);

	if (new == TCP_CLOSE && info) {
		record_lifetime(info);
		bpf_sk_storage_delete(&sk_info, sk);
	}
	return 0;
}

static __always_inline int handle_error_report(struct sock *sk, const bool with_storage)
{
	struct tk_sk_info *info = NULL;
	struct tk_port_key key = {};
	struct tk_conn_stats *st;

	/* only a keepalive or user timeout ends a connection in ETIMEDOUT */
	if (!is_tcp(sk) || BPF_CORE_READ(sk, sk_err) != ETIMEDOUT)
		return 0;
	if (with_storage)
		info = bpf_sk_storage_get(&sk_info, sk, NULL, 0);
	if (info) {
		key.port = info->port;
		key.dir = info->dir;
	} else if (!port_rule(sk, TCP_ESTABLISHED, TCP_ESTABLISHED, &key)) {
		return 0;
	}
	st = tk_lookup_or_init(&conns, &key, &zero_conn);
	if (st)
		st->dead_peers += 1;
	else
		count_uncounted(TK_UNC_CONN_FULL);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tk_set_state_btf, struct sock *sk, int old, int new)
{
	return handle_set_state(sk, old, new, true);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(tk_set_state_raw, struct sock *sk, int old, int new)
{
	return handle_set_state(sk, old, new, false);
}

SEC("tp_btf/inet_sk_error_report")
int BPF_PROG(tk_error_report_btf, struct sock *sk)
{
	return handle_error_report(sk, true);
}

SEC("raw_tp/inet_sk_error_report")
int BPF_PROG(tk_error_report_raw, struct sock *sk)
{
	return handle_error_report(sk, false);
}

char LICENSE[] SEC("license") = "GPL";
