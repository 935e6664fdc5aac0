// SPDX-License-Identifier: GPL-2.0
/* Another tool's sockops program, for tcpkeep's coexistence tests: it
 * counts the callbacks it sees and changes nothing. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 calls;

SEC("sockops")
int other_sockops(struct bpf_sock_ops *skops)
{
	__sync_fetch_and_add(&calls, 1);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
