// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmark's floor: the cheapest program that can sit where tcpkeep's
 * observer sits. Attaching any tp_btf program to inet_sock_set_state turns
 * the tracepoint on and adds a trampoline call per transition; what
 * tcpkeep costs beyond this is what its own code costs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_set_state, struct sock *sk, int old, int new)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
