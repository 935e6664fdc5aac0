// SPDX-License-Identifier: GPL-2.0-only
/*
 * The reader against the running kernel, without tcpkeep's programs: maps
 * made like the observer's and the enforcer's, filled with known values
 * (thousands of keys, distinct per CPU), read in batches and key by key.
 * Both snapshots must hold exactly the known values. Needs root (it makes
 * maps; it attaches and pins nothing).
 *
 *   reader_check [--expect-batch]
 *
 * --expect-batch: fail unless every hash map was read in batches, in far
 * fewer syscalls than keys. Prints what it did; exits 0 when all held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "kernel/reader.h"

#define N_TRANS		5000
#define N_CONNS		3000
#define N_KA		1000
#define N_POLICY	500

static int failed;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		failed++;						\
		fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	}								\
} while (0)

static struct tk_trans_key trans_key(unsigned int i)
{
	/* (port, dir, from) is i itself: every key distinct */
	return (struct tk_trans_key){
		.port = 1000 + i / 16, .dir = (i / 8) % 2, .from = i % 8 + 1, .to = i % 11 + 1,
	};
}

static __u64 trans_on_cpu(unsigned int i, int cpu)
{
	return (__u64)i * 1000 + cpu + 1;
}

static struct tk_port_key port_key(unsigned int base, unsigned int i)
{
	return (struct tk_port_key){ .port = base + i / 2, .dir = i % 2 };
}

static struct tk_conn_stats conn_value(unsigned int i)
{
	struct tk_conn_stats v = { .sum_us = i * 7ull, .dead_peers = i % 5 };

	for (int j = 0; j < TK_HIST_SLOTS; j++)
		v.slots[j] = i + j;
	return v;
}

static int make_map(enum bpf_map_type type, const char *name, size_t key, size_t val,
		    unsigned int max)
{
	int fd = bpf_map_create(type, name, key, val, max, NULL);

	if (fd < 0) {
		fprintf(stderr, "reader_check: cannot make map %s: %s\n", name, strerror(-fd));
		exit(1);
	}
	return fd;
}

static void fill(const struct tk_fds *fds, int ncpu)
{
	__u64 *percpu = calloc((size_t)ncpu, sizeof(*percpu));
	int err = 0;

	if (!percpu)
		exit(1);
	for (unsigned int i = 0; i < N_TRANS; i++) {
		struct tk_trans_key k = trans_key(i);

		for (int c = 0; c < ncpu; c++)
			percpu[c] = trans_on_cpu(i, c);
		err |= bpf_map_update_elem(fds->transitions, &k, percpu, BPF_NOEXIST);
	}
	for (unsigned int i = 0; i < N_CONNS; i++) {
		struct tk_port_key k = port_key(2000, i);
		struct tk_conn_stats v = conn_value(i);

		err |= bpf_map_update_elem(fds->conns, &k, &v, BPF_NOEXIST);
	}
	for (unsigned int i = 0; i < N_KA; i++) {
		struct tk_port_key k = port_key(5000, i);
		struct tk_ka_stats v = { .applied = i, .errors = { i % 3, 0, 0, 0, i % 7 } };

		err |= bpf_map_update_elem(fds->ka_stats, &k, &v, BPF_NOEXIST);
	}
	for (unsigned int i = 0; i < N_POLICY; i++) {
		__u16 port = 10000 + i * 3;
		struct tk_policy v = { .idle = 300 + i, .intvl = 60, .cnt = 5, .user_timeout = i };

		err |= bpf_map_update_elem(fds->policy, &port, &v, BPF_NOEXIST);
	}
	for (__u32 i = 0; i < TK_UNC_MAX; i++) {
		for (int c = 0; c < ncpu; c++)
			percpu[c] = i + c;
		err |= bpf_map_update_elem(fds->uncounted, &i, percpu, BPF_ANY);
	}
	if (err) {
		fprintf(stderr, "reader_check: cannot fill the maps\n");
		exit(1);
	}
	free(percpu);
}

/* Every known value, in the snapshot. */
static void check_values(const struct tk_snapshot *s, int ncpu)
{
	__u64 sum_c = (__u64)ncpu * (ncpu - 1) / 2;
	size_t rows = 0;
	int bad = 0;

	for (unsigned int i = 0; i < N_TRANS; i++) {
		struct tk_trans_key k = trans_key(i);
		const struct tk_row *r = tk_snapshot_find(s, k.port, k.dir);

		bad += !r || r->trans[k.from][k.to] != (__u64)ncpu * (i * 1000ull + 1) + sum_c;
	}
	for (unsigned int i = 0; i < N_CONNS; i++) {
		struct tk_port_key k = port_key(2000, i);
		struct tk_conn_stats v = conn_value(i);
		const struct tk_row *r = tk_snapshot_find(s, k.port, k.dir);

		bad += !r || memcmp(r->slots, v.slots, sizeof(v.slots)) || r->sum_us != v.sum_us ||
		       r->dead_peers != v.dead_peers;
	}
	for (unsigned int i = 0; i < N_KA; i++) {
		struct tk_port_key k = port_key(5000, i);
		const struct tk_row *r = tk_snapshot_find(s, k.port, k.dir);

		bad += !r || r->ka_applied != i || r->ka_errors[0] != i % 3 ||
		       r->ka_errors[4] != i % 7;
	}
	CHECK(bad == 0);
	/* a row per 8 transition keys, per conns key and per ka key */
	rows = N_TRANS / 8 + N_CONNS + N_KA;
	CHECK(s->nrows == rows);
	CHECK(s->npolicy == N_POLICY);
	bad = 0;
	for (size_t i = 0; i < s->npolicy && i < N_POLICY; i++)
		bad += s->policy[i].port != 10000 + i * 3 || s->policy[i].pol.idle != 300 + i ||
		       s->policy[i].pol.user_timeout != i;
	CHECK(bad == 0);
	for (int i = 0; i < TK_UNC_MAX; i++)
		CHECK(s->uncounted[i] == (__u64)ncpu * i + sum_c);
}

static int row_cmp(const void *a, const void *b)
{
	const struct tk_row *x = a, *y = b;

	return x->port != y->port ? x->port - y->port : x->dir - y->dir;
}

int main(int argc, char **argv)
{
	bool expect_batch = argc > 1 && !strcmp(argv[1], "--expect-batch");
	int ncpu = libbpf_num_possible_cpus();
	struct tk_read_stats bst, wst;
	struct tk_snapshot b, w;
	struct tk_fds fds = TK_FDS_NONE;
	unsigned int keys = N_TRANS + N_CONNS + N_KA + N_POLICY;
	int bad = 0;

	if (ncpu < 1)
		return 1;
	fds.transitions = make_map(BPF_MAP_TYPE_PERCPU_HASH, "transitions",
				   sizeof(struct tk_trans_key), sizeof(__u64), TK_MAX_TRANS);
	fds.conns = make_map(BPF_MAP_TYPE_HASH, "conns", sizeof(struct tk_port_key),
			     sizeof(struct tk_conn_stats), TK_MAX_PORTS);
	fds.ka_stats = make_map(BPF_MAP_TYPE_HASH, "ka_stats", sizeof(struct tk_port_key),
				sizeof(struct tk_ka_stats), TK_MAX_PORTS);
	fds.policy = make_map(BPF_MAP_TYPE_HASH, "policy", sizeof(__u16),
			      sizeof(struct tk_policy), TK_MAX_POLICY);
	fds.uncounted = make_map(BPF_MAP_TYPE_PERCPU_ARRAY, "uncounted", sizeof(__u32),
				 sizeof(__u64), TK_UNC_MAX);
	fill(&fds, ncpu);

	tk_snapshot_init(&b);
	tk_snapshot_init(&w);
	CHECK(tk_read_maps_how(&fds, &b, 0, &bst) == 0);
	CHECK(tk_read_maps_how(&fds, &w, TK_READ_NO_BATCH, &wst) == 0);
	printf("reader_check: %d CPUs, %u keys; batch path: %u maps batched in %u calls, "
	       "%u walked; fallback: %u walked, %u batched\n", ncpu, keys, bst.batched,
	       bst.batch_calls, bst.walked, wst.walked, wst.batched);

	check_values(&b, ncpu);
	check_values(&w, ncpu);
	/* the same snapshot both ways, row by row */
	qsort(b.rows, b.nrows, sizeof(*b.rows), row_cmp);
	qsort(w.rows, w.nrows, sizeof(*w.rows), row_cmp);
	CHECK(b.nrows == w.nrows && !memcmp(b.rows, w.rows, b.nrows * sizeof(*b.rows)));
	CHECK(b.npolicy == w.npolicy);
	for (size_t i = 0; i < b.npolicy && i < w.npolicy; i++)
		bad += b.policy[i].port != w.policy[i].port ||
		       memcmp(&b.policy[i].pol, &w.policy[i].pol, sizeof(b.policy[i].pol));
	CHECK(bad == 0);
	CHECK(!memcmp(b.uncounted, w.uncounted, sizeof(b.uncounted)));

	CHECK(wst.walked == 4 && wst.batched == 0 && wst.batch_calls == 0);
	CHECK(bst.batched + bst.walked == 4);
	if (expect_batch) {
		CHECK(bst.batched == 4 && bst.walked == 0);
		/* a syscall per batch, not two per key */
		CHECK(bst.batch_calls >= 4 && bst.batch_calls <= keys / 16);
	}
	tk_snapshot_free(&b);
	tk_snapshot_free(&w);
	printf("reader_check: %s\n", failed ? "FAILED" : "ok");
	return failed ? 1 : 0;
}
