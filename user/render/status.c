// SPDX-License-Identifier: GPL-2.0-only
/* `tcpkeep status` rendering: plain data in, text or JSON out. */
#include "render/render.h"
#include "render/status.h"

#define U(x) ((unsigned long long)(x))

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
			st->links[TK_LINK_SOCKOPS], st->existing ? "set by --apply-existing" :
			"keep their options (needs Linux 5.15)");
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

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

void tk_status_json(FILE *f, const struct tk_status *st, const struct tk_snapshot *s)
{
	struct sums t;

	sum_rows(s, &t);
	fprintf(f, "{\"state\":\"%s\",\"active\":%s,\"pinned\":%s,\"pin_path\":",
		state_word(st), tk_status_code(st) == 0 ? "true" : "false",
		st->pinned ? "true" : "false");
	json_str(f, st->pin_dir);
	fprintf(f, ",\"run_pid\":%ld", st->run_pid);
	fprintf(f, ",\"kernel\":{\"btf\":%s,\"inet_sock_set_state\":%s,"
		"\"inet_sk_error_report\":%s,\"bpffs\":%s,\"cgroup2\":%s,\"hides_pid1\":%s}",
		st->btf ? "true" : "false", st->tp_set_state ? "true" : "false",
		st->tp_error_report ? "true" : "false", st->bpffs ? "true" : "false",
		st->cgroup2 ? "true" : "false", st->hides_pid1 ? "true" : "false");
	fprintf(f, ",\"observer\":\"%s\",\"links\":{", st->attach_mode);
	for (int i = 0; i < TK_NLINKS; i++)
		fprintf(f, "%s\"%s\":%u", i ? "," : "", tk_links[i].name, st->links[i]);
	fputc('}', f);
	fprintf(f, ",\"capabilities\":{\"lifetimes\":%s,\"dead_peers\":%s,\"enforcer\":%s,"
		"\"existing_connections\":%s}", st->lifetimes ? "true" : "false",
		st->links[TK_LINK_ERROR_REPORT] ? "true" : "false",
		st->links[TK_LINK_SOCKOPS] && !st->sockops_defunct ? "true" : "false",
		st->existing ? "true" : "false");
	fputs(",\"cgroup\":", f);
	if (st->links[TK_LINK_SOCKOPS]) {
		json_str(f, st->cgroup);
		fprintf(f, ",\"cgroup_id\":%llu,\"defunct\":%s", U(st->cgroup_id),
			st->sockops_defunct ? "true" : "false");
	} else {
		fputs("null,\"cgroup_id\":null,\"defunct\":false", f);
	}
	fprintf(f, ",\"totals\":{\"transitions\":%llu,\"opened\":%llu,\"closed\":%llu,"
		"\"reset\":%llu,\"keepalive_applied\":%llu,\"dead_peers\":%llu}",
		U(t.transitions), U(t.opened), U(t.closed), U(t.reset), U(t.applied),
		U(t.dead_peers));
	fprintf(f, ",\"missed\":%llu,\"nested_caught\":%llu,\"unattributed\":%llu,"
		"\"lifetimes_untracked\":%llu,\"memory\":{\"cpus\":%d,\"bytes\":%llu,"
		"\"bytes_%d_cpus\":%llu},\"policy\":",
		U(tk_snapshot_missed(s)), U(s->nested_caught),
		U(s->uncounted[TK_UNC_UNATTRIBUTED]), U(s->uncounted[TK_UNC_UNTRACKED]),
		s->ncpus, U(s->mem_bytes), TK_MEM_BIG_HOST, U(s->mem_bytes_big));
	tk_render_policy_json(f, s);
	fputs("}\n", f);
}
