/* SPDX-License-Identifier: GPL-2.0 */
/* Small helpers shared by tcpkeep's BPF programs. */
#ifndef TCPKEEP_BPF_H
#define TCPKEEP_BPF_H

/* vmlinux.h carries types, not #defines: the constants we use, in one place. */
#define AF_INET			2
#define AF_INET6		10
#define IPPROTO_TCP		6
#define ETIMEDOUT		110
#define EEXIST			17
#define SOL_SOCKET		1
#define SO_KEEPALIVE		9
#define SOL_TCP			6
#define TCP_KEEPIDLE		4
#define TCP_KEEPINTVL		5
#define TCP_KEEPCNT		6
#define TCP_USER_TIMEOUT	18

static __always_inline __u32 tk_log2(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u32 tk_log2l(__u64 v)
{
	__u32 hi = v >> 32;

	return hi ? tk_log2(hi) + 32 : tk_log2(v);
}

/*
 * Clamp v to at most max on the register that holds it. Older verifiers
 * (6.1) follow a bound only on the register the compare was made on, and
 * clang may compare a zero-extended copy and index with the original; a
 * compare written in assembly is made on the register itself, and any
 * copy made after it inherits the bound.
 */
#define tk_clamp_umax(v, max) \
	asm volatile("if %[r] <= %[m] goto +1; %[r] = %[m]" : [r] "+r"(v) : [m] "i"(max))

/* Histogram slot of a lifetime in microseconds; the last slot is overflow. */
static __always_inline __u64 tk_hist_slot(__u64 us)
{
	__u64 slot = tk_log2l(us);

	tk_clamp_umax(slot, TK_HIST_OVERFLOW);
	return slot;
}

/*
 * Look a key up in a per-CPU hash, creating a zeroed value when it is
 * absent. NULL means the map is full: the caller counts that as a drop.
 * A concurrent insert from another CPU (EEXIST) is not a failure. err is
 * an int: before 6.4 the helper returns a 32-bit value, which in a long
 * reads back as 4294967279, not -EEXIST.
 */
static __always_inline void *tk_lookup_or_init(void *map, const void *key,
					       const void *zero)
{
	void *val = bpf_map_lookup_elem(map, key);
	int err;

	if (val)
		return val;
	err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	if (err && err != -EEXIST)
		return NULL;
	return bpf_map_lookup_elem(map, key);
}

/*
 * Events seen but not put in a row (enum tk_uncounted), per CPU. Both
 * objects declare it; user space makes them share one map (reuse_fd, or
 * the same pin).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TK_UNC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} uncounted SEC(".maps");

/*
 * Counters shared by programs that can interrupt one another on a CPU (a
 * softirq run over a task-context run) are added atomically: a plain
 * load-add-store interrupted between load and store loses the other's add.
 */
#define tk_add(p, v) __sync_fetch_and_add((p), (v))

static __always_inline void count_uncounted(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&uncounted, &reason);

	if (v)
		tk_add(v, 1);
}

#endif /* TCPKEEP_BPF_H */
