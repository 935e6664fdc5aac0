// SPDX-License-Identifier: GPL-2.0-only
/* Reads the observer's and enforcer's maps into a snapshot. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "kernel/reader.h"

/* Sum a per-CPU value of n u64 counters into out[n]. */
static void sum_percpu(const void *vals, int ncpu, size_t n, uint64_t *out)
{
	const uint64_t *v = vals;

	memset(out, 0, n * sizeof(*out));
	for (int c = 0; c < ncpu; c++)
		for (size_t i = 0; i < n; i++)
			out[i] += v[(size_t)c * n + i];
}

/* Values per key of a map: one per possible CPU for per-CPU maps. */
static int values_per_key_of(const struct bpf_map_info *info)
{
	if (info->type == BPF_MAP_TYPE_PERCPU_HASH || info->type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	    info->type == BPF_MAP_TYPE_LRU_PERCPU_HASH)
		return libbpf_num_possible_cpus();
	return 1;
}

static int values_per_key(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int err = bpf_obj_get_info_by_fd(fd, &info, &len);

	return err ? err : values_per_key_of(&info);
}

/*
 * Walk a hash whose values are arrays of u64, per CPU or shared, calling
 * fn with the key and the values (summed over CPUs).
 */
static int walk_counters(int fd, size_t key_sz, size_t nvals,
			 int (*fn)(struct tk_snapshot *, const void *, const uint64_t *),
			 struct tk_snapshot *s)
{
	int ncpu = values_per_key(fd);
	char key[32], next[32];
	uint64_t *sum = NULL;
	void *vals = NULL;
	void *prev = NULL;
	int err = 0;

	if (ncpu < 0)
		return ncpu;
	vals = calloc((size_t)ncpu, nvals * sizeof(uint64_t));
	sum = calloc(nvals, sizeof(uint64_t));
	if (!vals || !sum) {
		err = -ENOMEM;
		goto out;
	}
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_sz);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, vals))
			continue;	/* deleted under us */
		sum_percpu(vals, ncpu, nvals, sum);
		err = fn(s, key, sum);
		if (err)
			break;
	}
out:
	free(vals);
	free(sum);
	return err;
}

static int add_transition(struct tk_snapshot *s, const void *k, const uint64_t *v)
{
	const struct tk_trans_key *key = k;
	struct tk_row *r;

	if (key->from >= TK_NSTATES || key->to >= TK_NSTATES)
		return 0;
	r = tk_snapshot_row(s, key->port, key->dir);
	if (!r)
		return -ENOMEM;
	r->trans[key->from][key->to] += v[0];
	return 0;
}

static int add_conn(struct tk_snapshot *s, const void *k, const uint64_t *v)
{
	const struct tk_port_key *key = k;
	const struct tk_conn_stats *st = (const void *)v;
	struct tk_row *r = tk_snapshot_row(s, key->port, key->dir);

	if (!r)
		return -ENOMEM;
	memcpy(r->slots, st->slots, sizeof(r->slots));
	r->sum_us = st->sum_us;
	r->dead_peers = st->dead_peers;
	return 0;
}

static int add_ka(struct tk_snapshot *s, const void *k, const uint64_t *v)
{
	const struct tk_port_key *key = k;
	const struct tk_ka_stats *st = (const void *)v;
	struct tk_row *r = tk_snapshot_row(s, key->port, key->dir);

	if (!r)
		return -ENOMEM;
	r->ka_applied = st->applied;
	memcpy(r->ka_errors, st->errors, sizeof(r->ka_errors));
	return 0;
}

static int read_policy(int fd, struct tk_snapshot *s)
{
	__u16 key, cur;
	struct tk_policy pol;
	bool first = true;

	while (bpf_map_get_next_key(fd, first ? NULL : &cur, &key) == 0) {
		struct tk_policy_row *rows;

		first = false;
		cur = key;
		if (bpf_map_lookup_elem(fd, &key, &pol))
			continue;
		rows = realloc(s->policy, (s->npolicy + 1) * sizeof(*rows));
		if (!rows)
			return -ENOMEM;
		s->policy = rows;
		s->policy[s->npolicy++] = (struct tk_policy_row){ key, pol };
	}
	return 0;
}

static int policy_cmp(const void *a, const void *b)
{
	const struct tk_policy_row *x = a, *y = b;

	return (int)x->port - (int)y->port;
}

/* bytes_memlock of a map from its fdinfo, 0 if unknown */
static uint64_t memlock_of(int fd)
{
	char path[64], line[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * What the maps take in the kernel, here and on a TK_MEM_BIG_HOST-CPU
 * host: a per-CPU map holds a copy of every value per possible CPU, the
 * rest does not grow with the CPUs.
 */
static void read_memory(const struct tk_fds *fds, struct tk_snapshot *s)
{
	const int maps[] = { fds->transitions, fds->conns, fds->uncounted, fds->ka_stats,
			     fds->policy, fds->nested, fds->slots };

	s->ncpus = libbpf_num_possible_cpus();
	s->mem_bytes = s->mem_bytes_big = 0;
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		uint64_t here;
		int per_key;

		if (maps[i] < 0 || bpf_obj_get_info_by_fd(maps[i], &info, &len))
			continue;
		here = memlock_of(maps[i]);
		per_key = values_per_key_of(&info);
		s->mem_bytes += here;
		s->mem_bytes_big += here;
		if (per_key > 1 && per_key < TK_MEM_BIG_HOST)
			s->mem_bytes_big += (uint64_t)((info.value_size + 7) & ~7u) *
					    info.max_entries * (TK_MEM_BIG_HOST - per_key);
	}
}

int tk_read_maps(const struct tk_fds *fds, struct tk_snapshot *s)
{
	int ncpu = libbpf_num_possible_cpus();
	int err = 0;

	if (fds->transitions >= 0)
		err = walk_counters(fds->transitions, sizeof(struct tk_trans_key), 1,
				  add_transition, s);
	if (!err && fds->conns >= 0)
		err = walk_counters(fds->conns, sizeof(struct tk_port_key),
				  sizeof(struct tk_conn_stats) / sizeof(uint64_t), add_conn, s);
	if (!err && fds->ka_stats >= 0)
		err = walk_counters(fds->ka_stats, sizeof(struct tk_port_key),
				  sizeof(struct tk_ka_stats) / sizeof(uint64_t), add_ka, s);
	if (!err && fds->policy >= 0) {
		err = read_policy(fds->policy, s);
		qsort(s->policy, s->npolicy, sizeof(*s->policy), policy_cmp);
	}
	if (err)
		return err;

	if (fds->uncounted >= 0 && ncpu > 0) {
		uint64_t *vals = calloc((size_t)ncpu, sizeof(uint64_t));

		if (!vals)
			return -ENOMEM;
		for (__u32 i = 0; i < TK_UNC_MAX; i++)
			if (!bpf_map_lookup_elem(fds->uncounted, &i, vals))
				sum_percpu(vals, ncpu, 1, &s->uncounted[i]);
		free(vals);
	}

	if (fds->nested >= 0 && ncpu > 0) {
		struct tk_nested *vals = calloc((size_t)ncpu, sizeof(*vals));
		__u32 zero = 0;

		if (!vals)
			return -ENOMEM;
		if (!bpf_map_lookup_elem(fds->nested, &zero, vals))
			for (int c = 0; c < ncpu; c++)
				s->nested_caught += vals[c].caught;
		free(vals);
	}

	read_memory(fds, s);
	s->recursion_misses = 0;
	for (int i = 0; i < fds->nprogs; i++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (!bpf_obj_get_info_by_fd(fds->progs[i], &info, &len))
			s->recursion_misses += info.recursion_misses;
	}
	return 0;
}
