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
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} probe_storage SEC(".maps");

/* tp_btf itself (5.5) */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tk_probe_tp_btf, struct sock *sk, int old, int new)
{
	return 0;
}

/* socket-local storage from a tracing program (5.11) */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tk_probe_sk_storage, struct sock *sk, int old, int new)
{
	bpf_sk_storage_get(&probe_storage, sk, NULL, 0);
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
