// SPDX-License-Identifier: GPL-2.0
/*
 * Observer: counts every TCP state transition per service port and
 * direction, and keeps connection-lifetime histograms.
 *
 * Two thin entry points share one handler: tp_btf (5.5+, direct loads
 * from the socket; lifetimes need 5.12) and raw_tp (the fallback: no
 * lifetimes, direction by the port rule below). User space keeps one.
 * Each has a second, "nested" program beside it that counts the events
 * the kernel skips the main one for (see struct tk_nested).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tcpkeep.h"
#include "attrib.h"
#include "tcpkeep.bpf.h"

/* The local ephemeral port range, read from ip_local_port_range at load. */
const volatile __u16 eph_lo = 32768;
const volatile __u16 eph_hi = 60999;
/*
 * Lifetimes: each connection holds a slot from its first state to CLOSE.
 * Without them the direction comes from the port rule, as under raw_tp.
 */
const volatile bool lifetimes = true;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, TK_MAX_TRANS);
	__type(key, struct tk_trans_key);
	__type(value, __u64);
} transitions SEC(".maps");

/*
 * Lifetimes and dead peers, one row for all CPUs, added atomically: they
 * change once per connection, and a per-CPU row of 312 bytes would take
 * 160 MB on a 128-CPU host.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TK_MAX_PORTS);
	__type(key, struct tk_port_key);
	__type(value, struct tk_conn_stats);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tk_nested);
} nested SEC(".maps");

/*
 * Lifetime slots, shared by all CPUs and allocated once: a connection
 * costs no allocation, only a compare-and-exchange at its first state and
 * one at CLOSE. Socket-local storage cost two allocations and an RCU free
 * per socket: 450 ns per event against 250 with slots on the same load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TK_SLOTS);
	__type(key, __u32);
	__type(value, struct tk_slot);
} slots SEC(".maps");

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

static const struct tk_conn_stats zero_conn;
static const __u64 zero_u64;

/*
 * Socket fields: tp_btf gets a BTF pointer the program may load from
 * directly; raw_tp gets a plain address that needs bpf_probe_read. Direct
 * loads are several times cheaper, and these run on every transition.
 */
#define SK_FIELD(btf, sk, field) ((btf) ? (sk)->field : BPF_CORE_READ(sk, field))

static __always_inline bool is_tcp(const struct sock *sk, const bool btf)
{
	__u16 family = SK_FIELD(btf, sk, __sk_common.skc_family);
	__u16 proto;

	/* sk_protocol was a bitfield before 5.6 */
	if (btf)
		proto = BPF_CORE_READ_BITFIELD(sk, sk_protocol);
	else
		proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	return proto == IPPROTO_TCP && (family == AF_INET || family == AF_INET6);
}

static __always_inline __u16 local_port(const struct sock *sk, const bool btf)
{
	__u16 num = SK_FIELD(btf, sk, __sk_common.skc_num);

	/* skc_num is already 0 when an accepted socket reaches CLOSE: then
	 * inet_sport still has it */
	if (num)
		return num;
	return bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
}

/*
 * Service port and direction of a socket we hold no slot for: one that
 * existed before tcpkeep attached, or any socket under the raw_tp
 * fallback. The rule is tk_attrib() (attrib.h), shared with the socket
 * dump; port 0: none.
 */
static __always_inline struct tk_port_key port_rule(const struct sock *sk, int old, int new,
						    const bool btf)
{
	enum tk_origin origin = tk_origin_of(old, new);
	__u16 dport = bpf_ntohs(SK_FIELD(btf, sk, __sk_common.skc_dport));
	__u16 sport = 0;

	/* a connecting socket's local port is not needed (and may be 0) */
	if (origin != TK_ORIGIN_CONNECTED)
		sport = local_port(sk, btf);
	return tk_attrib(sport, dport, origin, eph_lo, eph_hi);
}

/*
 * The socket's identity in a slot: its address, made a plain number by
 * subtracting another fixed kernel address (the verifier lets privileged
 * programs subtract two pointers, and nothing else on them). Nonzero for
 * any socket. Only tp_btf programs hold slots.
 */
static __always_inline __u64 sk_id(const struct sock *sk)
{
	__u64 id;

	asm volatile("%[id] = %[sk]; %[id] -= %[base]"
		     : [id] "=&r"(id) : [sk] "r"(sk), [base] "r"(&slots));
	return id;
}

/* First of the TK_SLOT_WAYS slots a socket may hold. */
static __always_inline __u32 slot_base(__u64 id)
{
	/* socket structs are cache-line aligned: the low bits say nothing */
	__u32 h = ((id >> 6) * 0x9E3779B97F4A7C15ULL) >> 32;

	return h & (TK_SLOTS - TK_SLOT_WAYS);
}

static __always_inline struct tk_slot *slot_at(__u32 base, __u32 way)
{
	__u32 i = base + way;

	return bpf_map_lookup_elem(&slots, &i);
}

/* The slot the socket holds, or NULL. */
static __always_inline struct tk_slot *slot_find(__u64 id)
{
	__u32 base = slot_base(id);

#pragma unroll
	for (__u32 w = 0; w < TK_SLOT_WAYS; w++) {
		struct tk_slot *s = slot_at(base, w);

		if (s && READ_ONCE(s->sk) == id)
			return s;
	}
	return NULL;
}

/*
 * A slot for a socket entering its first state: the one it still holds
 * (its last CLOSE was missed, or the address is reused and that CLOSE was
 * missed), else a free one claimed with a compare-and-exchange, else NULL.
 * One pass; a second only when another CPU took the free slot first.
 */
static __always_inline struct tk_slot *slot_claim(__u64 id)
{
	__u32 base = slot_base(id), free = TK_SLOT_WAYS;
	struct tk_slot *s;

#pragma unroll
	for (__u32 w = 0; w < TK_SLOT_WAYS; w++) {
		__u64 tag;

		s = slot_at(base, w);
		if (!s)
			continue;
		tag = READ_ONCE(s->sk);
		if (tag == id)
			return s;
		if (!tag && free == TK_SLOT_WAYS)
			free = w;
	}
	s = free < TK_SLOT_WAYS ? slot_at(base, free) : NULL;
	if (s && !__sync_val_compare_and_swap(&s->sk, 0, id))
		return s;
#pragma unroll
	for (__u32 w = 0; w < TK_SLOT_WAYS; w++) {
		s = slot_at(base, w);
		if (s && !READ_ONCE(s->sk) && !__sync_val_compare_and_swap(&s->sk, 0, id))
			return s;
	}
	return NULL;
}

/* Give the slot back; a fully ordered exchange, after every read of it. */
static __always_inline void slot_free(struct tk_slot *s, __u64 id)
{
	__sync_val_compare_and_swap(&s->sk, id, 0);
}

static __always_inline void record_lifetime(const struct tk_slot *s)
{
	struct tk_port_key key = { .port = s->port, .dir = s->dir };
	struct tk_conn_stats *st;
	__u64 us;

	st = tk_lookup_or_init(&conns, &key, &zero_conn);
	if (!st) {
		count_uncounted(TK_UNC_CONN_FULL);
		return;
	}
	us = (bpf_ktime_get_ns() - s->start_ns) / 1000;
	tk_add(&st->slots[tk_hist_slot(us)], 1);
	tk_add(&st->sum_us, us);
}

/*
 * The first event of a socket: a connection starts at CLOSE -> SYN_SENT
 * (connect) or LISTEN -> SYN_RECV (an accepted child, cloned from its
 * listener) and takes a slot. Any other first event (a listener, CLOSE ->
 * CLOSE, or an event no port could be told for, key->port 0) takes none,
 * and drops a slot a missed CLOSE left at this address: nothing stale is
 * ever read.
 */
static __always_inline struct tk_slot *slot_start(__u64 id, int new,
						  const struct tk_port_key *key)
{
	struct tk_slot *s;

	if (!key->port || (new != TCP_SYN_SENT && new != TCP_SYN_RECV)) {
		s = slot_find(id);
		if (s)
			slot_free(s, id);
		return NULL;
	}
	s = slot_claim(id);
	if (!s) {
		count_uncounted(TK_UNC_UNTRACKED);
		return NULL;
	}
	s->start_ns = bpf_ktime_get_ns();
	s->port = key->port;
	s->dir = key->dir;
	return s;
}

static __always_inline int handle_set_state(struct sock *sk, int old, int new,
					    const bool btf, const bool life)
{
	bool first = old == TCP_CLOSE || old == TCP_LISTEN;
	struct tk_trans_key tkey = {};
	struct tk_port_key key = {};
	struct tk_slot *s = NULL;
	__u64 *cnt, id = 0;

	if (!is_tcp(sk, btf))
		return 0;
	if (btf && life && lifetimes) {
		id = sk_id(sk);
		if (!first)
			s = slot_find(id);
	}
	if (s) {
		key.port = s->port;
		key.dir = s->dir;
	} else {
		key = port_rule(sk, old, new, btf);
	}
	if (first && id)
		s = slot_start(id, new, &key);
	if (!key.port) {
		count_uncounted(TK_UNC_UNATTRIBUTED);
		return 0;
	}

	tkey.port = key.port;
	tkey.dir = key.dir;
	tkey.from = old;
	tkey.to = new;
	cnt = tk_lookup_or_init(&transitions, &tkey, &zero_u64);
	if (cnt)
		tk_add(cnt, 1);
	else
		count_uncounted(TK_UNC_TRANS_FULL);

	if (new == TCP_CLOSE && s) {
		record_lifetime(s);
		slot_free(s, id);
	}
	return 0;
}

static __always_inline int handle_error_report(struct sock *sk, const bool btf)
{
	struct tk_slot *s = NULL;
	struct tk_port_key key = {};
	struct tk_conn_stats *st;

	/* most reports are resets: only a keepalive or user timeout ends a
	 * connection in ETIMEDOUT, so look at sk_err before anything else */
	if (SK_FIELD(btf, sk, sk_err) != ETIMEDOUT || !is_tcp(sk, btf))
		return 0;
	if (btf && lifetimes)
		s = slot_find(sk_id(sk));
	if (s) {
		key.port = s->port;
		key.dir = s->dir;
	} else {
		key = port_rule(sk, TCP_ESTABLISHED, TCP_ESTABLISHED, btf);
		if (!key.port)
			return 0;
	}
	st = tk_lookup_or_init(&conns, &key, &zero_conn);
	if (st)
		tk_add(&st->dead_peers, 1);
	else
		count_uncounted(TK_UNC_CONN_FULL);
	return 0;
}

/*
 * The main program: busy is up from its first line to its last. The
 * kernel raises the program's own guard a few instructions earlier and
 * lowers it a few later; an event nested in those few instructions is
 * skipped and not caught, and stays in "missed".
 */
static __always_inline int main_set_state(struct sock *sk, int old, int new, const bool btf,
					  const bool life)
{
	const __u32 zero = 0;
	struct tk_nested *n = bpf_map_lookup_elem(&nested, &zero);

	if (n)
		WRITE_ONCE(n->busy, 1);
	handle_set_state(sk, old, new, btf, life);
	if (n)
		WRITE_ONCE(n->busy, 0);
	return 0;
}

/*
 * The second program: it runs after the main one for every event and does
 * nothing, except while the main one is running on this CPU, when the
 * kernel is skipping the main one for this event. Before Linux 6.1 the
 * kernel ran nested programs instead of skipping them: the nested run of
 * the main program then counts the event itself and lowers busy, so this
 * one does nothing and nothing is counted twice.
 */
static __always_inline int nested_set_state(struct sock *sk, int old, int new,
					    const bool btf, const bool life)
{
	const __u32 zero = 0;
	struct tk_nested *n = bpf_map_lookup_elem(&nested, &zero);

	if (!n || !READ_ONCE(n->busy))
		return 0;
	n->caught++;
	return handle_set_state(sk, old, new, btf, life);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tk_set_state_btf, struct sock *sk, int old, int new)
{
	return main_set_state(sk, old, new, true, true);
}

/*
 * tp_btf without lifetimes, for --no-lifetimes and kernels before 5.12:
 * their verifier rejects a compare-and-exchange anywhere in a program,
 * dead code included, so these two have none.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tk_set_state_btf_nl, struct sock *sk, int old, int new)
{
	return main_set_state(sk, old, new, true, false);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(tk_set_state_raw, struct sock *sk, int old, int new)
{
	return main_set_state(sk, old, new, false, false);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tk_nested_btf, struct sock *sk, int old, int new)
{
	return nested_set_state(sk, old, new, true, true);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tk_nested_btf_nl, struct sock *sk, int old, int new)
{
	return nested_set_state(sk, old, new, true, false);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(tk_nested_raw, struct sock *sk, int old, int new)
{
	return nested_set_state(sk, old, new, false, false);
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
