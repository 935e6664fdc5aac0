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

/* the kernel's own "not supported", which some map types return as is */
#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

/* A batch's values take at most this much memory, whatever the CPUs. */
#define BATCH_BYTES	(1 << 20)
#define BATCH_MAX	256
/* Retries of a batch whose bucket a BPF program holds locked on this CPU. */
#define BATCH_BUSY_TRIES 3

typedef int (*elem_fn)(struct tk_snapshot *s, const void *key, const void *val);

/*
 * A hash map being read: its layout, and a buffer for one value. Per-CPU
 * values are arrays of u64 counters (all of tcpkeep's are), summed over
 * the CPUs before fn sees them; a per-CPU copy is value_size rounded up
 * to 8 bytes.
 */
struct hash_read {
	int fd;
	__u32 key_sz, val_sz, max_entries;
	int ncpu;		/* values per key */
	size_t stride;		/* bytes of one key's values */
	void *sum;
	elem_fn fn;
	struct tk_snapshot *s;
};

static int hash_open(struct hash_read *h, int fd, size_t key_sz, size_t val_sz, elem_fn fn,
		     struct tk_snapshot *s)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int err = bpf_obj_get_info_by_fd(fd, &info, &len);

	if (err)
		return err;
	/* a map pinned by another version of tcpkeep is not read as ours */
	if (info.key_size != key_sz || info.value_size != val_sz)
		return -EPROTO;
	h->fd = fd;
	h->key_sz = info.key_size;
	h->val_sz = info.value_size;
	h->max_entries = info.max_entries;
	h->ncpu = values_per_key_of(&info);
	if (h->ncpu < 1)
		return h->ncpu < 0 ? h->ncpu : -EINVAL;
	if (h->ncpu > 1 && val_sz % sizeof(uint64_t))
		return -EINVAL;
	h->stride = h->ncpu > 1 ? (size_t)h->ncpu * val_sz : val_sz;
	h->fn = fn;
	h->s = s;
	h->sum = malloc(val_sz);
	return h->sum ? 0 : -ENOMEM;
}

/* Hand one element to fn, its per-CPU values summed. */
static int hash_elem(struct hash_read *h, const void *key, const void *vals)
{
	if (h->ncpu == 1)
		return h->fn(h->s, key, vals);
	sum_percpu(vals, h->ncpu, h->val_sz / sizeof(uint64_t), h->sum);
	return h->fn(h->s, key, h->sum);
}

/* The fallback: two syscalls per key. */
static int hash_walk(struct hash_read *h)
{
	char key[32], next[32];
	void *vals = malloc(h->stride);
	void *prev = NULL;
	int err = 0;

	if (!vals)
		return -ENOMEM;
	if (h->key_sz > sizeof(key)) {
		free(vals);
		return -EINVAL;
	}
	while (bpf_map_get_next_key(h->fd, prev, next) == 0) {
		memcpy(key, next, h->key_sz);
		prev = key;
		if (bpf_map_lookup_elem(h->fd, key, vals))
			continue;	/* deleted under us */
		err = hash_elem(h, key, vals);
		if (err)
			break;
	}
	free(vals);
	return err;
}

/*
 * One syscall per batch of keys (Linux 5.6+). -EOPNOTSUPP when the kernel
 * has no batch reads for the map, before anything was read: then walk it.
 */
static int hash_batch(struct hash_read *h, unsigned int *calls)
{
	__u32 cap = BATCH_BYTES / h->stride, in_tok = 0, out_tok = 0, busy = 0;
	void *keys = NULL, *vals = NULL;
	bool first = true;
	int err = 0;

	cap = cap < 1 ? 1 : cap > BATCH_MAX ? BATCH_MAX : cap;
	for (;;) {
		__u32 n = cap;

		if (!keys) {
			keys = malloc((size_t)cap * h->key_sz);
			vals = malloc((size_t)cap * h->stride);
			if (!keys || !vals) {
				err = -ENOMEM;
				break;
			}
		}
		/* hash maps take a u32 bucket number as the batch token */
		err = bpf_map_lookup_batch(h->fd, first ? NULL : &in_tok, &out_tok, keys, vals,
					   &n, NULL);
		if (err && err != -ENOENT) {
			if (first && (err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUPP)) {
				err = -EOPNOTSUPP;
				break;
			}
			/* one bucket holds more keys than fit: take more at once */
			if (err == -ENOSPC && cap < h->max_entries) {
				cap *= 2;
				free(keys);
				free(vals);
				keys = vals = NULL;
				continue;
			}
			if (err == -EBUSY && ++busy < BATCH_BUSY_TRIES)
				continue;
			break;
		}
		(*calls)++;
		for (__u32 i = 0; i < n && i < cap; i++) {
			int e = hash_elem(h, (char *)keys + (size_t)i * h->key_sz,
					  (char *)vals + (size_t)i * h->stride);

			if (e) {
				err = e;
				goto out;
			}
		}
		if (err == -ENOENT) {	/* the last batch */
			err = 0;
			break;
		}
		if (!n) {		/* no progress: never loop on it */
			err = -EPROTO;
			break;
		}
		in_tok = out_tok;
		first = false;
		busy = 0;
	}
out:
	free(keys);
	free(vals);
	return err;
}

/* Read a hash map: in batches, or key by key where the kernel cannot. */
static int read_hash(int fd, size_t key_sz, size_t val_sz, elem_fn fn, struct tk_snapshot *s,
		     unsigned int flags, struct tk_read_stats *st)
{
	struct hash_read h = {};
	unsigned int calls = 0;
	int err = hash_open(&h, fd, key_sz, val_sz, fn, s);

	if (!err) {
		err = flags & TK_READ_NO_BATCH ? -EOPNOTSUPP : hash_batch(&h, &calls);
		if (err == -EOPNOTSUPP) {
			err = hash_walk(&h);
			if (st)
				st->walked++;
		} else if (st) {
			st->batched++;
			st->batch_calls += calls;
		}
	}
	free(h.sum);
	return err;
}

static int add_transition(struct tk_snapshot *s, const void *k, const void *v)
{
	const struct tk_trans_key *key = k;
	uint64_t n;
	struct tk_row *r;

	if (key->from >= TK_NSTATES || key->to >= TK_NSTATES)
		return 0;
	r = tk_snapshot_row(s, key->port, key->dir);
	if (!r)
		return -ENOMEM;
	memcpy(&n, v, sizeof(n));
	r->trans[key->from][key->to] += n;
	return 0;
}

static int add_conn(struct tk_snapshot *s, const void *k, const void *v)
{
	const struct tk_port_key *key = k;
	const struct tk_conn_stats *st = v;
	struct tk_row *r = tk_snapshot_row(s, key->port, key->dir);

	if (!r)
		return -ENOMEM;
	memcpy(r->slots, st->slots, sizeof(r->slots));
	r->sum_us = st->sum_us;
	r->dead_peers = st->dead_peers;
	return 0;
}

static int add_ka(struct tk_snapshot *s, const void *k, const void *v)
{
	const struct tk_port_key *key = k;
	const struct tk_ka_stats *st = v;
	struct tk_row *r = tk_snapshot_row(s, key->port, key->dir);

	if (!r)
		return -ENOMEM;
	r->ka_applied = st->applied;
	memcpy(r->ka_errors, st->errors, sizeof(r->ka_errors));
	return 0;
}

static int add_policy(struct tk_snapshot *s, const void *k, const void *v)
{
	struct tk_policy_row *rows = realloc(s->policy, (s->npolicy + 1) * sizeof(*rows));

	if (!rows)
		return -ENOMEM;
	s->policy = rows;
	memcpy(&rows[s->npolicy].port, k, sizeof(rows[s->npolicy].port));
	memcpy(&rows[s->npolicy].pol, v, sizeof(rows[s->npolicy].pol));
	s->npolicy++;
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

int tk_read_maps_how(const struct tk_fds *fds, struct tk_snapshot *s, unsigned int flags,
		     struct tk_read_stats *st)
{
	int ncpu = libbpf_num_possible_cpus();
	int err = 0;

	if (st)
		memset(st, 0, sizeof(*st));
	if (fds->transitions >= 0)
		err = read_hash(fds->transitions, sizeof(struct tk_trans_key), sizeof(__u64),
				add_transition, s, flags, st);
	if (!err && fds->conns >= 0)
		err = read_hash(fds->conns, sizeof(struct tk_port_key),
				sizeof(struct tk_conn_stats), add_conn, s, flags, st);
	if (!err && fds->ka_stats >= 0)
		err = read_hash(fds->ka_stats, sizeof(struct tk_port_key),
				sizeof(struct tk_ka_stats), add_ka, s, flags, st);
	if (!err && fds->policy >= 0) {
		err = read_hash(fds->policy, sizeof(__u16), sizeof(struct tk_policy), add_policy,
				s, flags, st);
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

int tk_read_maps(const struct tk_fds *fds, struct tk_snapshot *s)
{
	return tk_read_maps_how(fds, s, 0, NULL);
}
