// SPDX-License-Identifier: GPL-2.0-only
/* `tcpkeep status` rendering: plain data in, text or JSON out. */
#include <string.h>
#include "core/json.h"
#include "render/render.h"
#include "render/status.h"

#define U(x) ((unsigned long long)(x))

/* What a policy change does to open connections, by st->existing. */
static const char *const existing_text[] = {
	[TK_EXISTING_NO] = "keep their options (needs Linux 5.15)",
	[TK_EXISTING_YES] = "set by --apply-existing",
	[TK_EXISTING_UNKNOWN] = "set by --apply-existing if the kernel can "
				"(checking it needs CAP_PERFMON)",
};

const struct tk_sysctl_def tk_status_sysctls[TK_NSYSCTLS] = {
	[TK_SYSCTL_PORT_RANGE] = { "net.ipv4.ip_local_port_range", 2 },
	[TK_SYSCTL_TW_REUSE] = { "net.ipv4.tcp_tw_reuse", 1 },
	[TK_SYSCTL_MAX_TW_BUCKETS] = { "net.ipv4.tcp_max_tw_buckets", 1 },
};

int tk_status_code(const struct tk_status *st)
{
	int code = 0;

	if (!st->pinned)
		code = 3;
	else if (!st->links[TK_LINK_SET_STATE] ||
		 (st->links[TK_LINK_SOCKOPS] && st->sockops_defunct))
		code = 1;
	/* half-way is neither broken nor absent: say so, and let scripts wait */
	return code && st->changing ? 4 : code;
}

static const char *state_word(const struct tk_status *st)
{
	switch (tk_status_code(st)) {
	case 0: return "active";
	case 3: return "not pinned";
	case 4: return "pin in progress";
	default: return "broken";
	}
}

struct sums {
	uint64_t transitions, opened, closed, reset, applied, dead_peers;
};

static void sum_rows(const struct tk_snapshot *s, struct sums *t)
{
	*t = (struct sums){ 0 };
	for (size_t i = 0; i < s->nrows; i++) {
		struct tk_totals rt;

		tk_row_totals(&s->rows[i], &rt);
		t->transitions += tk_row_transitions(&s->rows[i]);
		t->opened += rt.opened;
		t->closed += rt.closed;
		t->reset += rt.reset;
		t->applied += s->rows[i].ka_applied;
		t->dead_peers += s->rows[i].dead_peers;
	}
}

/* "name = value (what it means)", as sysctl(8) prints them, one a line. */
static void sysctls_text(FILE *f, const struct tk_status *st)
{
	for (int i = 0; i < TK_NSYSCTLS; i++) {
		const struct tk_sysctl_def *d = &tk_status_sysctls[i];
		const struct tk_sysctl_val *v = &st->sysctls[i];

		fputs(i ? "               " : "sysctls:       ", f);
		if (v->err) {
			fprintf(f, "%s: cannot read: %s\n", d->name, strerror(-v->err));
			continue;
		}
		fprintf(f, "%s = %ld", d->name, v->v[0]);
		if (d->n > 1)
			fprintf(f, " %ld", v->v[1]);
		switch (i) {
		case TK_SYSCTL_PORT_RANGE:
			if (v->v[1] >= v->v[0])
				fprintf(f, " (%ld ports)", v->v[1] - v->v[0] + 1);
			break;
		case TK_SYSCTL_TW_REUSE:
			if (v->v[0] == 0)
				fputs(" (off)", f);
			else if (v->v[0] == 1)
				fputs(" (on, outgoing connections)", f);
			else if (v->v[0] == 2)
				fputs(" (loopback only)", f);
			break;
		}
		fputc('\n', f);
	}
}

static void sysctls_json(struct tk_json *j, const struct tk_status *st)
{
	tk_json_key(j, "sysctls");
	tk_json_begin_object(j);
	for (int i = 0; i < TK_NSYSCTLS; i++) {
		const struct tk_sysctl_def *d = &tk_status_sysctls[i];
		const struct tk_sysctl_val *v = &st->sysctls[i];

		tk_json_key(j, d->name);
		if (v->err) {
			tk_json_null(j);
		} else if (d->n == 1) {
			tk_json_i64(j, v->v[0]);
		} else {
			tk_json_begin_array(j);
			for (int k = 0; k < d->n; k++)
				tk_json_i64(j, v->v[k]);
			tk_json_end_array(j);
		}
	}
	tk_json_end_object(j);
}

static const char *yes(bool b)
{
	return b ? "yes" : "no";
}

void tk_status_text(FILE *f, const struct tk_status *st, const struct tk_snapshot *s)
{
	struct sums t;

	fprintf(f, "tcpkeep: %s\n", state_word(st));
	fprintf(f, "pin path:      %s%s\n", st->pin_dir, st->pinned ? "" : " (nothing pinned)");
	fprintf(f, "kernel:        BTF %s, inet_sock_set_state %s, inet_sk_error_report %s, "
		"bpffs %s, cgroup v2 %s\n", yes(st->btf), yes(st->tp_set_state),
		yes(st->tp_error_report), yes(st->bpffs), yes(st->cgroup2));
	if (st->hides_pid1)
		fprintf(f, "               tracing programs never run while PID 1 is on the CPU: "
			"what the kernel does then is not counted\n");
	sysctls_text(f, st);
	if (st->run_pid)
		fprintf(f, "run:           tcpkeep run is attached (pid %ld), not pinned\n",
			st->run_pid);
	if (!st->pinned)
		return;
	fprintf(f, "observer:      %s, lifetimes %s (link %u, nested link %u)\n",
		st->attach_mode, st->lifetimes ? "on" : "off", st->links[TK_LINK_SET_STATE],
		st->links[TK_LINK_NESTED]);
	if (st->links[TK_LINK_ERROR_REPORT])
		fprintf(f, "dead peers:    counted (link %u)\n", st->links[TK_LINK_ERROR_REPORT]);
	else
		fprintf(f, "dead peers:    not counted\n");
	if (!st->links[TK_LINK_SOCKOPS])
		fprintf(f, "enforcer:      off (no policy)\n");
	else if (st->sockops_defunct)
		fprintf(f, "enforcer:      DEFUNCT: its cgroup was removed; run tcpkeep pin\n");
	else
		fprintf(f, "enforcer:      sockops on %s (cgroup id %llu, link %u); open "
			"connections %s\n", *st->cgroup ? st->cgroup : "?", U(st->cgroup_id),
			st->links[TK_LINK_SOCKOPS], existing_text[st->existing]);
	sum_rows(s, &t);
	fprintf(f, "counted:       %llu transitions, %llu opened, %llu closed (%llu reset), "
		"%llu keepalive applied, %llu dead peers\n", U(t.transitions), U(t.opened),
		U(t.closed), U(t.reset), U(t.applied), U(t.dead_peers));
	fprintf(f, "missed:        %llu (kernel skipped %llu, caught %llu)  unattributed %llu  "
		"untracked lifetimes %llu\n",
		U(tk_snapshot_missed(s)), U(s->recursion_misses), U(s->nested_caught),
		U(s->uncounted[TK_UNC_UNATTRIBUTED]), U(s->uncounted[TK_UNC_UNTRACKED]));
	fprintf(f, "maps:          %.1f MiB on this host (%d CPUs), %.1f MiB on %d CPUs\n",
		s->mem_bytes / 1048576.0, s->ncpus, s->mem_bytes_big / 1048576.0,
		TK_MEM_BIG_HOST);
	fprintf(f, "policy:        %zu port%s\n", s->npolicy, s->npolicy == 1 ? "" : "s");
	if (s->npolicy)
		tk_render_policy_text(f, s);
}

void tk_status_json(FILE *f, const struct tk_status *st, const struct tk_snapshot *s)
{
	struct tk_json j;
	struct sums t;

	sum_rows(s, &t);
	tk_json_init(&j, f);
	tk_json_begin_object(&j);
	tk_json_kv_string(&j, "state", state_word(st));
	tk_json_kv_bool(&j, "active", tk_status_code(st) == 0);
	tk_json_kv_bool(&j, "pinned", st->pinned);
	tk_json_kv_string(&j, "pin_path", st->pin_dir);
	tk_json_key(&j, "run_pid");
	tk_json_i64(&j, st->run_pid);
	tk_json_key(&j, "kernel");
	tk_json_begin_object(&j);
	tk_json_kv_bool(&j, "btf", st->btf);
	tk_json_kv_bool(&j, "inet_sock_set_state", st->tp_set_state);
	tk_json_kv_bool(&j, "inet_sk_error_report", st->tp_error_report);
	tk_json_kv_bool(&j, "bpffs", st->bpffs);
	tk_json_kv_bool(&j, "cgroup2", st->cgroup2);
	tk_json_kv_bool(&j, "hides_pid1", st->hides_pid1);
	tk_json_end_object(&j);
	sysctls_json(&j, st);
	tk_json_kv_string(&j, "observer", st->attach_mode);
	tk_json_key(&j, "links");
	tk_json_begin_object(&j);
	for (int i = 0; i < TK_NLINKS; i++)
		tk_json_kv_u64(&j, tk_links[i].name, st->links[i]);
	tk_json_end_object(&j);
	tk_json_key(&j, "capabilities");
	tk_json_begin_object(&j);
	tk_json_kv_bool(&j, "lifetimes", st->lifetimes);
	tk_json_kv_bool(&j, "dead_peers", st->links[TK_LINK_ERROR_REPORT]);
	tk_json_kv_bool(&j, "enforcer", st->links[TK_LINK_SOCKOPS] && !st->sockops_defunct);
	tk_json_key(&j, "existing_connections");
	if (st->existing == TK_EXISTING_UNKNOWN)
		tk_json_null(&j);	/* not known to this caller */
	else
		tk_json_bool(&j, st->existing == TK_EXISTING_YES);
	tk_json_end_object(&j);
	tk_json_key(&j, "cgroup");
	if (st->links[TK_LINK_SOCKOPS]) {
		tk_json_string(&j, st->cgroup);
		tk_json_kv_u64(&j, "cgroup_id", st->cgroup_id);
	} else {
		tk_json_null(&j);
		tk_json_key(&j, "cgroup_id");
		tk_json_null(&j);
	}
	tk_json_kv_bool(&j, "defunct", st->links[TK_LINK_SOCKOPS] && st->sockops_defunct);
	tk_json_key(&j, "totals");
	tk_json_begin_object(&j);
	tk_json_kv_u64(&j, "transitions", t.transitions);
	tk_json_kv_u64(&j, "opened", t.opened);
	tk_json_kv_u64(&j, "closed", t.closed);
	tk_json_kv_u64(&j, "reset", t.reset);
	tk_json_kv_u64(&j, "keepalive_applied", t.applied);
	tk_json_kv_u64(&j, "dead_peers", t.dead_peers);
	tk_json_end_object(&j);
	tk_json_kv_u64(&j, "missed", tk_snapshot_missed(s));
	tk_json_kv_u64(&j, "nested_caught", s->nested_caught);
	tk_json_kv_u64(&j, "unattributed", s->uncounted[TK_UNC_UNATTRIBUTED]);
	tk_json_kv_u64(&j, "lifetimes_untracked", s->uncounted[TK_UNC_UNTRACKED]);
	tk_render_memory_json_to(&j, s);
	tk_json_key(&j, "policy");
	tk_render_policy_json_to(&j, s);
	tk_json_end_object(&j);
	fputc('\n', f);
}
