// SPDX-License-Identifier: GPL-2.0-only
/* The snapshot: rows, derived totals, sorting and filtering. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "core/policy.h"
#include "core/snapshot.h"

static const char *const state_names[TK_NSTATES] = {
	[TK_ESTABLISHED] = "ESTABLISHED", [TK_SYN_SENT] = "SYN_SENT",
	[TK_SYN_RECV] = "SYN_RECV", [TK_FIN_WAIT1] = "FIN_WAIT1",
	[TK_FIN_WAIT2] = "FIN_WAIT2", [TK_TIME_WAIT] = "TIME_WAIT",
	[TK_CLOSE] = "CLOSE", [TK_CLOSE_WAIT] = "CLOSE_WAIT",
	[TK_LAST_ACK] = "LAST_ACK", [TK_LISTEN] = "LISTEN",
	[TK_CLOSING] = "CLOSING", [TK_NEW_SYN_RECV] = "NEW_SYN_RECV",
	[TK_BOUND_INACTIVE] = "BOUND_INACTIVE",
};

const char *tk_state_name(unsigned int state)
{
	if (state < TK_NSTATES && state_names[state])
		return state_names[state];
	return NULL;
}

double tk_rate(uint64_t now, uint64_t before, double dt)
{
	return dt > 0 && now >= before ? (double)(now - before) / dt : 0.0;
}

const char *tk_addr_name(uint8_t family, const uint8_t addr[16], char *buf, size_t len)
{
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

void tk_endpoint_name(char *buf, size_t len, uint8_t family, const uint8_t addr[16],
		      uint16_t port)
{
	char a[TK_ADDR_LEN];

	tk_addr_name(family, addr, a, sizeof(a));
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}

const char *tk_netns_label(const struct tk_snapshot *s, uint32_t ns, char *buf, size_t len)
{
	const struct tk_netns *n = tk_snapshot_netns(s, ns);

	if (!n)
		return "?";
	if (n->name[0])
		return n->name;
	if (n->self)
		return "host";
	if (n->pid)
		snprintf(buf, len, "pid %d", n->pid);
	else
		snprintf(buf, len, "netns:[%llu]", (unsigned long long)n->ino);
	return buf;
}

const char *tk_age_name(double s, char *buf, size_t len)
{
	unsigned long long n = s > 0 ? (unsigned long long)s : 0;

	/* two units at most, the larger first: what a glance needs */
	if (s < 10)
		snprintf(buf, len, "%.1fs", s > 0 ? s : 0.0);
	else if (n < 60)
		snprintf(buf, len, "%llus", n);
	else if (n < 3600)
		snprintf(buf, len, "%llum%02llus", n / 60, n % 60);
	else if (n < 86400)
		snprintf(buf, len, "%lluh%02llum", n / 3600, n % 3600 / 60);
	else
		snprintf(buf, len, "%llud%02lluh", n / 86400, n % 86400 / 3600);
	return buf;
}

const char *tk_dir_name(unsigned int dir)
{
	return dir == TK_DIR_OUT ? "out" : "in";
}

const char *tk_opt_name(unsigned int opt)
{
	static const char *const names[TK_OPT_MAX] = {
		"keepalive", "idle", "intvl", "cnt", "user_timeout",
	};

	return opt < TK_OPT_MAX ? names[opt] : "?";
}

void tk_snapshot_init(struct tk_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->attach_mode = "none";
}

void tk_snapshot_free(struct tk_snapshot *s)
{
	free(s->rows);
	free(s->policy);
	free(s->netns);
	free(s->ns_rows);
	memset(s, 0, sizeof(*s));
}

const struct tk_row *tk_snapshot_find(const struct tk_snapshot *s, uint16_t port,
				      uint8_t dir)
{
	for (size_t i = 0; i < s->nrows; i++)
		if (s->rows[i].port == port && s->rows[i].dir == dir)
			return &s->rows[i];
	return NULL;
}

struct tk_row *tk_snapshot_row(struct tk_snapshot *s, uint16_t port, uint8_t dir)
{
	struct tk_row *r = (struct tk_row *)tk_snapshot_find(s, port, dir);

	if (r)
		return r;
	if (s->nrows == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct tk_row *rows = realloc(s->rows, cap * sizeof(*rows));

		if (!rows)
			return NULL;
		s->rows = rows;
		s->cap = cap;
	}
	r = &s->rows[s->nrows++];
	memset(r, 0, sizeof(*r));
	r->port = port;
	r->dir = dir;
	return r;
}

struct tk_ns_row *tk_snapshot_add_ns_row(struct tk_snapshot *s, uint32_t ns, uint16_t port,
					 uint8_t dir)
{
	struct tk_ns_row *r;

	if (s->nns_rows == s->ns_rows_cap) {
		size_t cap = s->ns_rows_cap ? s->ns_rows_cap * 2 : 64;
		struct tk_ns_row *rows = realloc(s->ns_rows, cap * sizeof(*rows));

		if (!rows)
			return NULL;
		s->ns_rows = rows;
		s->ns_rows_cap = cap;
	}
	r = &s->ns_rows[s->nns_rows++];
	memset(r, 0, sizeof(*r));
	r->ns = ns;
	r->port = port;
	r->dir = dir;
	return r;
}

/* The one order of destinations and queues: the larger share, then more
 * ports held or connections queued. */
static bool worse(double share_a, uint32_t n_a, double share_b, uint32_t n_b)
{
	return share_a != share_b ? share_a > share_b : n_a > n_b;
}

static bool dest_worse(const struct tk_dest *a, const struct tk_dest *b)
{
	return worse(a->share, a->used, b->share, b->used);
}

static bool listener_fuller(const struct tk_listener *a, const struct tk_listener *b)
{
	return worse(a->share, a->queue, b->share, b->queue);
}

double tk_queue_share(uint32_t queue, uint32_t limit)
{
	return (double)queue / (limit ? limit : 1);
}

void tk_row_offer_eph(struct tk_row *r, double share, uint32_t used)
{
	if (worse(share, used, r->eph_share, r->eph_used)) {
		r->eph_share = share;
		r->eph_used = used;
	}
}

void tk_row_add_listeners(struct tk_row *r, uint32_t n, uint32_t queue, uint32_t limit)
{
	if (!n)
		return;
	if (!r->listeners || worse(tk_queue_share(queue, limit), queue,
				   tk_queue_share(r->queue, r->queue_limit), r->queue)) {
		r->queue = queue;
		r->queue_limit = limit;
	}
	r->listeners += n;
}

/*
 * Insert e into the sorted top list v of *n entries (at most max) if it
 * ranks: a few dozen entries, so insertion is cheaper than a heap.
 */
#define OFFER(v, n, max, e, worse)						\
	do {									\
		size_t i_ = *(n) < (max) ? (*(n))++ : (max);			\
		if (i_ == (max) && !worse((e), &(v)[(max) - 1]))		\
			break;							\
		if (i_ == (max))						\
			i_ = (max) - 1;						\
		while (i_ > 0 && worse((e), &(v)[i_ - 1])) {			\
			(v)[i_] = (v)[i_ - 1];					\
			i_--;							\
		}								\
		(v)[i_] = *(e);							\
	} while (0)

void tk_snapshot_offer_dest(struct tk_snapshot *s, const struct tk_dest *d)
{
	OFFER(s->dests, &s->ndests, (size_t)TK_TOP_DESTS, d, dest_worse);
}

void tk_snapshot_offer_listener(struct tk_snapshot *s, const struct tk_listener *l)
{
	OFFER(s->listeners, &s->nlisteners, (size_t)TK_TOP_LISTENERS, l, listener_fuller);
}

/* Longer idle first; stuck: longer retransmitting first; then by address. */
static bool idler(const struct tk_audit_conn *a, const struct tk_audit_conn *b)
{
	return a->idle_s > b->idle_s;
}

static bool stucker(const struct tk_audit_conn *a, const struct tk_audit_conn *b)
{
	if (a->retrans_age_s != b->retrans_age_s)
		return a->retrans_age_s > b->retrans_age_s;
	return a->ack_age_s > b->ack_age_s;
}

void tk_snapshot_offer_conn(struct tk_snapshot *s, const struct tk_audit_conn *c)
{
	if (c->state == TK_ESTABLISHED)
		OFFER(s->oldest, &s->noldest, (size_t)TK_AUDIT_TOP, c, idler);
	if (c->stuck)
		OFFER(s->stuck, &s->nstuck, (size_t)TK_AUDIT_TOP, c, stucker);
}

static int policy_row_cmp(const void *k, const void *e)
{
	uint16_t port = *(const uint16_t *)k;
	const struct tk_policy_row *r = e;

	return (port > r->port) - (port < r->port);
}

const struct tk_policy *tk_snapshot_policy(const struct tk_snapshot *s, uint16_t port)
{
	/* the reader sorts the policy rows by port */
	const struct tk_policy_row *r = s->npolicy ?
		bsearch(&port, s->policy, s->npolicy, sizeof(*s->policy), policy_row_cmp) : NULL;

	return r ? &r->pol : NULL;
}

const char *tk_would_source_name(unsigned int src)
{
	static const char *const names[] = { "given", "policy", "off", "default" };

	return src < sizeof(names) / sizeof(names[0]) ? names[src] : "?";
}

enum tk_would_source tk_snapshot_would(const struct tk_snapshot *s, uint16_t port,
				       struct tk_policy *out)
{
	const struct tk_policy *own = tk_snapshot_policy(s, port);

	if (s->would && s->would->set[port]) {
		*out = s->would->pol[port];
		return out->off ? TK_WOULD_OFF : TK_WOULD_GIVEN;
	}
	if (own) {
		*out = *own;
		return own->off ? TK_WOULD_OFF : TK_WOULD_POLICY;
	}
	*out = tk_policy_default();
	return TK_WOULD_DEFAULT;
}

const struct tk_netns *tk_snapshot_netns(const struct tk_snapshot *s, uint32_t ns)
{
	return ns < s->nnetns ? &s->netns[ns] : NULL;
}

uint64_t tk_snapshot_netns_unvisited(const struct tk_snapshot *s)
{
	uint64_t n = s->netns_over;

	for (size_t i = 0; i < s->nnetns; i++)
		n += s->netns[i].err != 0;
	return n;
}

uint64_t tk_snapshot_netns_visited(const struct tk_snapshot *s)
{
	return s->nnetns - (tk_snapshot_netns_unvisited(s) - s->netns_over);
}

void tk_snapshot_filter(struct tk_snapshot *s, const bool *ports)
{
	size_t n = 0;

	if (!ports)
		return;
	for (size_t i = 0; i < s->nrows; i++)
		if (ports[s->rows[i].port])
			s->rows[n++] = s->rows[i];
	s->nrows = n;
	n = 0;
	for (size_t i = 0; i < s->nns_rows; i++)
		if (ports[s->ns_rows[i].port])
			s->ns_rows[n++] = s->ns_rows[i];
	s->nns_rows = n;
	n = 0;
	for (size_t i = 0; i < s->ndests; i++)
		if (ports[s->dests[i].rport])
			s->dests[n++] = s->dests[i];
	s->ndests = n;
	n = 0;
	for (size_t i = 0; i < s->nlisteners; i++)
		if (ports[s->listeners[i].port])
			s->listeners[n++] = s->listeners[i];
	s->nlisteners = n;
}

uint64_t tk_row_transitions(const struct tk_row *r)
{
	uint64_t sum = 0;

	for (int f = 0; f < TK_NSTATES; f++)
		for (int t = 0; t < TK_NSTATES; t++)
			sum += r->trans[f][t];
	return sum;
}

uint64_t tk_row_hist_count(const struct tk_row *r)
{
	uint64_t sum = 0;

	for (int i = 0; i < TK_HIST_SLOTS; i++)
		sum += r->slots[i];
	return sum;
}

void tk_row_totals(const struct tk_row *r, struct tk_totals *t)
{
	memset(t, 0, sizeof(*t));
	t->opened = r->trans[TK_SYN_SENT][TK_ESTABLISHED] +
		    r->trans[TK_SYN_RECV][TK_ESTABLISHED];
	t->refused = r->trans[TK_SYN_SENT][TK_CLOSE];
	for (int f = 0; f < TK_NSTATES; f++) {
		if (f == TK_LISTEN || f == TK_SYN_SENT)
			continue;
		t->closed += r->trans[f][TK_CLOSE];
	}
	/* an orderly close reaches CLOSE only from FIN_WAIT2, CLOSING or
	 * LAST_ACK; from these states it was an abort (RST or timeout) */
	t->reset = r->trans[TK_SYN_RECV][TK_CLOSE] + r->trans[TK_ESTABLISHED][TK_CLOSE] +
		   r->trans[TK_CLOSE_WAIT][TK_CLOSE] + r->trans[TK_FIN_WAIT1][TK_CLOSE];
}

uint64_t tk_snapshot_kernel_missed(const struct tk_snapshot *s)
{
	/* caught is read before the misses, and each catch follows a miss */
	return s->recursion_misses > s->nested_caught ?
	       s->recursion_misses - s->nested_caught : 0;
}

uint64_t tk_snapshot_missed(const struct tk_snapshot *s)
{
	return tk_snapshot_kernel_missed(s) + s->uncounted[TK_UNC_TRANS_FULL] +
	       s->uncounted[TK_UNC_CONN_FULL] + s->uncounted[TK_UNC_KA_FULL];
}

/*
 * A row's sort keys, computed once before sorting: the comparator then
 * needs no context. Snapshots are sorted in several threads at once (the
 * live view and the HTTP endpoint's), so nothing is kept in a static.
 */
struct sort_key {
	uint64_t activity;	/* transitions since prev */
	uint64_t total;
	size_t idx;		/* the row's place before sorting */
	uint16_t port;
	uint8_t dir;
};

static int key_cmp(const void *a, const void *b)
{
	const struct sort_key *ka = a, *kb = b;

	if (ka->activity != kb->activity)
		return ka->activity > kb->activity ? -1 : 1;
	if (ka->total != kb->total)
		return ka->total > kb->total ? -1 : 1;
	if (ka->port != kb->port)
		return ka->port < kb->port ? -1 : 1;
	return ka->dir - kb->dir;
}

int tk_snapshot_sort(struct tk_snapshot *s, const struct tk_snapshot *prev)
{
	struct sort_key *keys;

	if (s->nrows < 2)
		return 0;
	keys = malloc(s->nrows * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < s->nrows; i++) {
		const struct tk_row *r = &s->rows[i], *p;
		struct sort_key *k = &keys[i];

		k->total = tk_row_transitions(r);
		k->activity = 0;
		if (prev) {
			p = tk_snapshot_find(prev, r->port, r->dir);
			k->activity = p ? k->total - tk_row_transitions(p) : k->total;
		}
		k->idx = i;
		k->port = r->port;
		k->dir = r->dir;
	}
	qsort(keys, s->nrows, sizeof(*keys), key_cmp);
	/*
	 * Rows are large: move each once, cycle by cycle, into its sorted
	 * place (row i takes row keys[i].idx). A key done points at itself.
	 */
	for (size_t i = 0; i < s->nrows; i++) {
		struct tk_row tmp;
		size_t j = i;

		if (keys[i].idx == i)
			continue;
		tmp = s->rows[i];
		while (keys[j].idx != i) {
			size_t from = keys[j].idx;

			s->rows[j] = s->rows[from];
			keys[j].idx = j;
			j = from;
		}
		s->rows[j] = tmp;
		keys[j].idx = j;
	}
	free(keys);
	return 0;
}
