// SPDX-License-Identifier: GPL-2.0-only
/* --json: one object per frame, on one line. Schema in README.md. */
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include "core/hist.h"
#include "core/json.h"
#include "core/policy.h"
#include "render/render.h"

static void json_transitions(struct tk_json *j, const struct tk_row *r)
{
	tk_json_key(j, "transitions");
	tk_json_begin_object(j);
	for (int a = 0; a < TK_NSTATES; a++) {
		for (int b = 0; b < TK_NSTATES; b++) {
			const char *from = tk_state_name(a), *to = tk_state_name(b);
			char key[48];

			if (!r->trans[a][b])
				continue;
			if (from && to)
				snprintf(key, sizeof(key), "%s->%s", from, to);
			else
				snprintf(key, sizeof(key), "%d->%d", a, b);
			tk_json_kv_u64(j, key, r->trans[a][b]);
		}
	}
	tk_json_end_object(j);
}

static void json_states(struct tk_json *j, const struct tk_row *r)
{
	tk_json_key(j, "states");
	tk_json_begin_object(j);
	for (int s = 1; s <= TK_LAST_DUMP_STATE; s++)
		tk_json_kv_u64(j, tk_state_name(s), r->states[s]);
	tk_json_end_object(j);
}

static void json_lifetime(struct tk_json *j, const struct tk_row *r)
{
	tk_json_key(j, "lifetime");
	tk_json_begin_object(j);
	tk_json_kv_string(j, "unit", "us");
	tk_json_kv_u64(j, "count", tk_row_hist_count(r));
	tk_json_kv_u64(j, "sum", r->sum_us);
	tk_json_kv_u64(j, "overflow", r->slots[TK_HIST_OVERFLOW]);
	tk_json_key(j, "buckets");
	tk_json_begin_array(j);
	for (unsigned int i = 0; i < TK_HIST_SLOTS; i++) {
		tk_json_begin_object(j);
		tk_json_kv_u64(j, "low", tk_hist_low(i));
		tk_json_key(j, "high");
		if (i == TK_HIST_OVERFLOW)
			tk_json_null(j);
		else
			tk_json_u64(j, tk_hist_high(i));
		tk_json_kv_u64(j, "count", r->slots[i]);
		tk_json_end_object(j);
	}
	tk_json_end_array(j);
	tk_json_end_object(j);
}

static void json_keepalive(struct tk_json *j, const struct tk_row *r)
{
	tk_json_key(j, "keepalive");
	tk_json_begin_object(j);
	tk_json_kv_u64(j, "applied", r->ka_applied);
	tk_json_kv_u64(j, "dead_peers", r->dead_peers);
	tk_json_key(j, "errors");
	tk_json_begin_object(j);
	for (int i = 0; i < TK_OPT_MAX; i++)
		tk_json_kv_u64(j, tk_opt_name(i), r->ka_errors[i]);
	tk_json_end_object(j);
	tk_json_end_object(j);
}

static void json_row(struct tk_json *j, const struct tk_row *r, const struct tk_row *p,
		     double dt)
{
	struct tk_totals t, pt = {};

	tk_row_totals(r, &t);
	if (p)
		tk_row_totals(p, &pt);
	tk_json_begin_object(j);
	tk_json_kv_u64(j, "port", r->port);
	tk_json_kv_string(j, "direction", tk_dir_name(r->dir));
	json_transitions(j, r);
	tk_json_key(j, "totals");
	tk_json_begin_object(j);
	tk_json_kv_u64(j, "new", t.opened);
	tk_json_kv_u64(j, "closed", t.closed);
	tk_json_kv_u64(j, "reset", t.reset);
	tk_json_kv_u64(j, "refused", t.refused);
	tk_json_end_object(j);
	tk_json_key(j, "rates");
	tk_json_begin_object(j);
	tk_json_kv_double(j, "new", tk_rate(t.opened, pt.opened, dt), 3);
	tk_json_kv_double(j, "closed", tk_rate(t.closed, pt.closed, dt), 3);
	tk_json_kv_double(j, "reset", tk_rate(t.reset, pt.reset, dt), 3);
	tk_json_kv_double(j, "refused", tk_rate(t.refused, pt.refused, dt), 3);
	tk_json_end_object(j);
	json_states(j, r);
	if (r->dir == TK_DIR_IN) {
		tk_json_key(j, "accept_queue");
		tk_json_begin_object(j);
		tk_json_kv_u64(j, "listeners", r->listeners);
		tk_json_kv_u64(j, "queue", r->queue);
		tk_json_kv_u64(j, "limit", r->queue_limit);
		tk_json_end_object(j);
	} else {
		tk_json_key(j, "ephemeral_ports");
		tk_json_begin_object(j);
		tk_json_kv_u64(j, "used", r->eph_used);
		tk_json_kv_double(j, "share", r->eph_share, 4);
		tk_json_end_object(j);
	}
	json_lifetime(j, r);
	json_keepalive(j, r);
	tk_json_end_object(j);
}

/* The namespace a dest or listener is in, by its inode. */
static void json_ns_ref(struct tk_json *j, const struct tk_snapshot *s, uint32_t ns)
{
	const struct tk_netns *n = tk_snapshot_netns(s, ns);

	tk_json_key(j, "netns");
	if (n)
		tk_json_u64(j, n->ino);
	else
		tk_json_null(j);
}

static void json_netns(struct tk_json *j, const struct tk_snapshot *s)
{
	tk_json_key(j, "netns");
	tk_json_begin_object(j);
	tk_json_kv_u64(j, "visited", tk_snapshot_netns_visited(s));
	tk_json_kv_u64(j, "unvisited", tk_snapshot_netns_unvisited(s));
	tk_json_kv_u64(j, "unreadable_processes", s->netns_unreadable);
	tk_json_key(j, "namespaces");
	tk_json_begin_array(j);
	for (size_t i = 0; i < s->nnetns; i++) {
		const struct tk_netns *n = &s->netns[i];

		tk_json_begin_object(j);
		tk_json_kv_u64(j, "inode", n->ino);
		tk_json_kv_bool(j, "self", n->self);
		tk_json_key(j, "name");
		if (n->name[0])
			tk_json_string(j, n->name);
		else
			tk_json_null(j);
		tk_json_key(j, "pid");
		if (n->pid)
			tk_json_i64(j, n->pid);
		else
			tk_json_null(j);
		tk_json_key(j, "error");
		if (n->err)
			tk_json_string(j, strerror(-n->err));
		else
			tk_json_null(j);
		if (!n->err) {
			/* its sockets were read, its audit (if asked) may not be */
			tk_json_key(j, "audit_error");
			if (n->audit_err)
				tk_json_string(j, strerror(-n->audit_err));
			else
				tk_json_null(j);
			tk_json_kv_u64(j, "sockets", n->sockets);
			tk_json_key(j, "local_port_range");
			tk_json_begin_array(j);
			tk_json_u64(j, n->eph_lo);
			tk_json_u64(j, n->eph_hi);
			tk_json_end_array(j);
		}
		tk_json_end_object(j);
	}
	tk_json_end_array(j);
	tk_json_end_object(j);
	if (!s->want_ns_rows)
		return;
	tk_json_key(j, "netns_rows");
	tk_json_begin_array(j);
	for (size_t i = 0; i < s->nns_rows; i++) {
		const struct tk_ns_row *r = &s->ns_rows[i];

		tk_json_begin_object(j);
		json_ns_ref(j, s, r->ns);
		tk_json_kv_u64(j, "port", r->port);
		tk_json_kv_string(j, "direction", tk_dir_name(r->dir));
		tk_json_key(j, "states");
		tk_json_begin_object(j);
		for (int st = 1; st <= TK_LAST_DUMP_STATE; st++)
			tk_json_kv_u64(j, tk_state_name(st), r->states[st]);
		tk_json_end_object(j);
		tk_json_end_object(j);
	}
	tk_json_end_array(j);
}

static void json_pressure(struct tk_json *j, const struct tk_snapshot *s)
{
	char a[TK_ADDR_LEN];

	tk_json_key(j, "port_pressure");
	tk_json_begin_object(j);
	tk_json_kv_u64(j, "local_port_range_size", s->eph_range);
	tk_json_kv_u64(j, "untracked", s->dests_untracked);
	tk_json_key(j, "destinations");
	tk_json_begin_array(j);
	for (size_t i = 0; i < s->ndests; i++) {
		const struct tk_dest *d = &s->dests[i];

		tk_json_begin_object(j);
		json_ns_ref(j, s, d->ns);
		tk_json_kv_string(j, "local", tk_addr_name(d->family, d->laddr, a, sizeof(a)));
		tk_json_kv_string(j, "remote", tk_addr_name(d->family, d->raddr, a, sizeof(a)));
		tk_json_kv_u64(j, "port", d->rport);
		tk_json_kv_u64(j, "used", d->used);
		tk_json_kv_u64(j, "time_wait", d->time_wait);
		tk_json_kv_u64(j, "range", d->range);
		tk_json_kv_double(j, "share", d->share, 4);
		tk_json_end_object(j);
	}
	tk_json_end_array(j);
	tk_json_end_object(j);

	tk_json_key(j, "listen_queues");
	tk_json_begin_object(j);
	tk_json_kv_u64(j, "untracked", s->listeners_untracked);
	tk_json_key(j, "listeners");
	tk_json_begin_array(j);
	for (size_t i = 0; i < s->nlisteners; i++) {
		const struct tk_listener *l = &s->listeners[i];

		tk_json_begin_object(j);
		json_ns_ref(j, s, l->ns);
		tk_json_kv_string(j, "address", tk_addr_name(l->family, l->addr, a, sizeof(a)));
		tk_json_kv_u64(j, "port", l->port);
		tk_json_kv_u64(j, "queue", l->queue);
		tk_json_kv_u64(j, "limit", l->limit);
		tk_json_kv_double(j, "share", l->share, 4);
		tk_json_end_object(j);
	}
	tk_json_end_array(j);
	tk_json_end_object(j);
}

/* A policy's KEYs (core/policy.h) as members, in their order. */
static void json_policy_values(struct tk_json *j, const struct tk_policy *p)
{
	for (int k = 0; k < TK_POL_NKEYS; k++)
		tk_json_kv_u64(j, tk_policy_fields[k].name, tk_policy_get(p, k));
}

/* "time" (UTC) and "monotonic" (seconds) of a snapshot */
static void json_time(struct tk_json *j, const struct tk_snapshot *s)
{
	time_t t = (time_t)s->wall_s;
	char when[32];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	tk_json_kv_string(j, "time", when);
	tk_json_kv_double(j, "monotonic", s->mono_s, 6);
}

static void json_audit_conn(struct tk_json *j, const struct tk_snapshot *s,
			    const struct tk_audit_conn *c)
{
	char a[TK_ADDR_LEN];

	tk_json_begin_object(j);
	json_ns_ref(j, s, c->ns);
	tk_json_kv_string(j, "family", c->family == AF_INET6 ? "ipv6" : "ipv4");
	tk_json_kv_string(j, "local", tk_addr_name(c->family, c->laddr, a, sizeof(a)));
	tk_json_kv_u64(j, "local_port", c->lport);
	tk_json_kv_string(j, "remote", tk_addr_name(c->family, c->raddr, a, sizeof(a)));
	tk_json_kv_u64(j, "remote_port", c->rport);
	tk_json_kv_u64(j, "port", c->port);
	tk_json_kv_string(j, "direction", tk_dir_name(c->dir));
	tk_json_kv_string(j, "state", tk_state_name(c->state));
	tk_json_kv_double(j, "idle_s", c->idle_s, 3);
	tk_json_kv_double(j, "no_ack_s", c->ack_age_s, 3);
	tk_json_kv_double(j, "retransmitting_s", c->retrans_age_s, 3);
	tk_json_kv_bool(j, "stuck", c->stuck);
	tk_json_kv_string(j, "keepalive", tk_ka_state_name(c->ka));
	tk_json_kv_u64(j, "keepalive_idle", c->ka_idle);
	tk_json_kv_u64(j, "keepalive_intvl", c->ka_intvl);
	tk_json_kv_u64(j, "keepalive_cnt", c->ka_cnt);
	tk_json_kv_u64(j, "user_timeout_ms", c->user_timeout_ms);
	tk_json_kv_u64(j, "retransmits", c->retransmits);
	tk_json_kv_u64(j, "backoff", c->backoff);
	tk_json_kv_u64(j, "unacked", c->unacked);
	tk_json_kv_u64(j, "inode", c->ino);
	tk_json_key(j, "pid");
	if (c->pid)
		tk_json_i64(j, c->pid);
	else
		tk_json_null(j);
	tk_json_key(j, "command");
	if (c->pid && c->comm[0])
		tk_json_string(j, c->comm);
	else
		tk_json_null(j);
	tk_json_end_object(j);
}

static void json_audit_row(struct tk_json *j, const struct tk_snapshot *s,
			   const struct tk_row *r)
{
	const struct tk_audit_row *a = &r->au;
	enum tk_would_source src;
	struct tk_policy w;
	char le[16];

	tk_json_begin_object(j);
	tk_json_kv_u64(j, "port", r->port);
	tk_json_kv_string(j, "direction", tk_dir_name(r->dir));
	tk_json_kv_u64(j, "established", a->established);
	tk_json_key(j, "keepalive");
	tk_json_begin_object(j);
	for (int k = 0; k < TK_KA_NSTATES; k++)
		tk_json_kv_u64(j, tk_ka_state_name(k), a->ka[k]);
	tk_json_end_object(j);

	tk_json_key(j, "idle");
	tk_json_begin_object(j);
	for (int i = 0; i < TK_IDLE_NOVER; i++)
		tk_json_kv_u64(j, tk_idle_over_names[i], a->idle_over[i]);
	tk_json_kv_double(j, "sum_s", a->idle_sum_s, 3);
	tk_json_key(j, "buckets");
	tk_json_begin_object(j);
	for (int i = 0; i < TK_IDLE_NBUCKETS; i++) {
		snprintf(le, sizeof(le), "%u", tk_idle_buckets[i]);
		tk_json_kv_u64(j, le, a->idle_le[i]);
	}
	tk_json_kv_u64(j, "+Inf", a->established);
	tk_json_end_object(j);
	tk_json_key(j, "histogram");
	tk_json_begin_array(j);
	for (int i = 0; i < TK_IDLE_SLOTS; i++) {
		if (!a->idle_slots[i])
			continue;
		tk_json_begin_object(j);
		tk_json_kv_u64(j, "low_s", i ? 1ull << i : 0);
		tk_json_key(j, "high_s");
		if (i < TK_IDLE_LOG_SLOTS)
			tk_json_u64(j, 1ull << (i + 1));
		else
			tk_json_null(j);
		tk_json_kv_u64(j, "count", a->idle_slots[i]);
		tk_json_end_object(j);
	}
	tk_json_end_array(j);
	tk_json_end_object(j);

	tk_json_key(j, "stuck");
	tk_json_begin_object(j);
	tk_json_kv_u64(j, "count", a->stuck);
	tk_json_kv_double(j, "oldest_s", a->stuck_oldest_s, 3);
	tk_json_end_object(j);

	tk_json_key(j, "today");
	tk_json_begin_object(j);
	tk_json_kv_u64(j, "never_reaped", a->never_reaped);
	tk_json_key(j, "reap_within_s");
	if (a->never_reaped || !a->established)
		tk_json_null(j);
	else
		tk_json_double(j, a->reap_max_s, 0);
	tk_json_end_object(j);

	src = tk_snapshot_would(s, r->port, &w);
	tk_json_key(j, "would");
	tk_json_begin_object(j);
	tk_json_kv_string(j, "source", tk_would_source_name(src));
	if (src != TK_WOULD_OFF) {
		json_policy_values(j, &w);
		tk_json_kv_u64(j, "probe_now", a->probe_now);
		tk_json_kv_u64(j, "probe_within_idle", a->established);
		tk_json_kv_double(j, "reap_within_s",
				  tk_audit_reap_s(w.idle, w.intvl, w.cnt, w.user_timeout), 0);
	}
	tk_json_end_object(j);
	tk_json_end_object(j);
}

/* The "audit" member: per row, then the connections by address. */
static void json_audit(struct tk_json *j, const struct tk_snapshot *s)
{
	tk_json_key(j, "audit");
	tk_json_begin_object(j);
	tk_json_kv_bool(j, "available", s->audit_ok);
	tk_json_key(j, "error");
	if (s->audit_ok)
		tk_json_null(j);
	else
		tk_json_string(j, s->audit_err ? strerror(-s->audit_err) : "not asked for");
	tk_json_kv_double(j, "stuck_after_s", s->stuck_after_s, 3);
	tk_json_kv_bool(j, "processes", s->audit_pids);
	tk_json_key(j, "rows");
	tk_json_begin_array(j);
	for (size_t i = 0; s->audit_ok && i < s->nrows; i++)
		if (s->rows[i].au.established || s->rows[i].au.stuck)
			json_audit_row(j, s, &s->rows[i]);
	tk_json_end_array(j);
	tk_json_key(j, "oldest_idle");
	tk_json_begin_array(j);
	for (size_t i = 0; i < s->noldest; i++)
		json_audit_conn(j, s, &s->oldest[i]);
	tk_json_end_array(j);
	tk_json_key(j, "stuck");
	tk_json_begin_array(j);
	for (size_t i = 0; i < s->nstuck; i++)
		json_audit_conn(j, s, &s->stuck[i]);
	tk_json_end_array(j);
	tk_json_end_object(j);
}

void tk_render_audit_json(FILE *f, const struct tk_snapshot *s)
{
	struct tk_json j;

	tk_json_init(&j, f);
	tk_json_begin_object(&j);
	json_time(&j, s);
	json_netns(&j, s);
	json_audit(&j, s);
	tk_json_key(&j, "policy");
	tk_render_policy_json_to(&j, s);
	tk_json_end_object(&j);
	fputc('\n', f);
	fflush(f);
}

void tk_render_policy_json_to(struct tk_json *j, const struct tk_snapshot *s)
{
	tk_json_begin_array(j);
	for (size_t i = 0; i < s->npolicy; i++) {
		const struct tk_policy_row *p = &s->policy[i];

		tk_json_begin_object(j);
		tk_json_kv_u64(j, "port", p->port);
		tk_json_kv_bool(j, "off", p->pol.off);
		if (!p->pol.off)
			json_policy_values(j, &p->pol);
		tk_json_end_object(j);
	}
	tk_json_end_array(j);
}

void tk_render_policy_json(FILE *f, const struct tk_snapshot *s)
{
	struct tk_json j;

	tk_json_init(&j, f);
	tk_render_policy_json_to(&j, s);
}

void tk_render_memory_json_to(struct tk_json *j, const struct tk_snapshot *s)
{
	char key[32];

	snprintf(key, sizeof(key), "bytes_%d_cpus", TK_MEM_BIG_HOST);
	tk_json_key(j, "memory");
	tk_json_begin_object(j);
	tk_json_key(j, "cpus");
	tk_json_i64(j, s->ncpus);
	tk_json_kv_u64(j, "bytes", s->mem_bytes);
	tk_json_kv_u64(j, key, s->mem_bytes_big);
	tk_json_end_object(j);
}

void tk_render_json(FILE *f, const struct tk_snapshot *cur, const struct tk_snapshot *prev)
{
	double dt = prev ? cur->mono_s - prev->mono_s : 0;
	struct tk_json j;

	tk_json_init(&j, f);
	tk_json_begin_object(&j);
	json_time(&j, cur);
	tk_json_kv_double(&j, "interval_s", dt, 3);
	tk_json_kv_string(&j, "observer", cur->attach_mode);
	tk_json_kv_bool(&j, "enforcer", cur->enforcer_ok);
	tk_json_kv_bool(&j, "states_available", cur->states_ok);
	tk_json_kv_bool(&j, "lifetimes_available", cur->lifetimes_ok);
	tk_json_kv_bool(&j, "dead_peers_available", cur->dead_peers_ok);
	tk_json_kv_u64(&j, "missed", tk_snapshot_missed(cur));
	tk_json_key(&j, "missed_detail");
	tk_json_begin_object(&j);
	tk_json_kv_u64(&j, "kernel_skipped", cur->recursion_misses);
	tk_json_kv_u64(&j, "nested_caught", cur->nested_caught);
	tk_json_kv_u64(&j, "transitions_map_full", cur->uncounted[TK_UNC_TRANS_FULL]);
	tk_json_kv_u64(&j, "conns_map_full", cur->uncounted[TK_UNC_CONN_FULL]);
	tk_json_kv_u64(&j, "keepalive_map_full", cur->uncounted[TK_UNC_KA_FULL]);
	tk_json_end_object(&j);
	tk_json_kv_u64(&j, "unattributed", cur->uncounted[TK_UNC_UNATTRIBUTED]);
	tk_json_kv_u64(&j, "lifetimes_untracked", cur->uncounted[TK_UNC_UNTRACKED]);
	tk_render_memory_json_to(&j, cur);
	tk_json_key(&j, "rows");
	tk_json_begin_array(&j);
	for (size_t i = 0; i < cur->nrows; i++) {
		const struct tk_row *r = &cur->rows[i];

		json_row(&j, r, prev ? tk_snapshot_find(prev, r->port, r->dir) : NULL, dt);
	}
	tk_json_end_array(&j);
	json_netns(&j, cur);
	json_pressure(&j, cur);
	json_audit(&j, cur);
	tk_json_key(&j, "policy");
	tk_render_policy_json_to(&j, cur);
	tk_json_end_object(&j);
	fputc('\n', f);
	fflush(f);
}
