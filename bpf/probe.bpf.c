// SPDX-License-Identifier: GPL-2.0
/*
 * Feature probes: one tiny program per kernel feature tcpkeep can do
 * without. User space loads them one at a time, only after one of the
 * real programs failed to load, to tell a kernel that lacks a feature
 * (degrade, and say which Linux has it) from a verifier that rejected
 * tcpkeep's own program (a bug to report).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "tcpkeep.h"
#include "tcpkeep.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} probe_word SEC(".maps");

/* tp_btf itself (5.5) */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tk_probe_tp_btf, struct sock *sk, int old, int new)
{
	return 0;
}

/* compare-and-exchange, the lifetime slots' claim (5.12) */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tk_probe_cmpxchg, struct sock *sk, int old, int new)
{
	__u32 zero = 0;
	__u64 *w = bpf_map_lookup_elem(&probe_word, &zero);

	if (w)
		__sync_val_compare_and_swap(w, 0, 1);
	return 0;
}

/* bpf_setsockopt from a TCP socket iterator (5.15) */
SEC("iter/tcp")
int tk_probe_iter_setsockopt(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;
	int one = 1;

	tp = skc ? bpf_skc_to_tcp_sock(skc) : NULL;
	if (tp)
		bpf_setsockopt(tp, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
