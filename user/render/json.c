// SPDX-License-Identifier: GPL-2.0-only
/* --json: one object per frame, on one line. Schema in README.md. */
#include <time.h>
#include "core/hist.h"
#include "render/render.h"

#define U(x) ((unsigned long long)(x))

static void json_transitions(FILE *f, const struct tk_row *r)
{
	const char *sep = "";

	fputs("\"transitions\":{", f);
	for (int a = 0; a < TK_NSTATES; a++) {
		for (int b = 0; b < TK_NSTATES; b++) {
			const char *from = tk_state_name(a), *to = tk_state_name(b);

			if (!r->trans[a][b])
				continue;
			if (from && to)
				fprintf(f, "%s\"%s->%s\":%llu", sep, from, to, U(r->trans[a][b]));
			else
				fprintf(f, "%s\"%d->%d\":%llu", sep, a, b, U(r->trans[a][b]));
			sep = ",";
		}
	}
	fputc('}', f);
}

static void json_states(FILE *f, const struct tk_row *r)
{
	fputs("\"states\":{", f);
	for (int s = 1; s <= TK_LAST_DUMP_STATE; s++)
		fprintf(f, "%s\"%s\":%llu", s > 1 ? "," : "", tk_state_name(s), U(r->states[s]));
	fputc('}', f);
}

static void json_lifetime(FILE *f, const struct tk_row *r)
{
	fprintf(f, "\"lifetime\":{\"unit\":\"us\",\"count\":%llu,\"sum\":%llu,"
		"\"overflow\":%llu,\"buckets\":[",
		U(tk_row_hist_count(r)), U(r->sum_us), U(r->slots[TK_HIST_OVERFLOW]));
	for (unsigned int i = 0; i < TK_HIST_SLOTS; i++) {
		fprintf(f, "%s{\"low\":%llu,", i ? "," : "", U(tk_hist_low(i)));
		if (i == TK_HIST_OVERFLOW)
			fputs("\"high\":null,", f);
		else
			fprintf(f, "\"high\":%llu,", U(tk_hist_high(i)));
		fprintf(f, "\"count\":%llu}", U(r->slots[i]));
	}
	fputs("]}", f);
}

static void json_keepalive(FILE *f, const struct tk_row *r)
{
	fprintf(f, "\"keepalive\":{\"applied\":%llu,\"dead_peers\":%llu,\"errors\":{",
		U(r->ka_applied), U(r->dead_peers));
	for (int i = 0; i < TK_OPT_MAX; i++)
		fprintf(f, "%s\"%s\":%llu", i ? "," : "", tk_opt_name(i), U(r->ka_errors[i]));
	fputs("}}", f);
}

static void json_row(FILE *f, const struct tk_row *r, const struct tk_row *p, double dt)
{
	struct tk_totals t, pt = {};

	tk_row_totals(r, &t);
	if (p)
		tk_row_totals(p, &pt);
	fprintf(f, "{\"port\":%u,\"direction\":\"%s\",", r->port, tk_dir_name(r->dir));
	json_transitions(f, r);
	fprintf(f, ",\"totals\":{\"new\":%llu,\"closed\":%llu,\"reset\":%llu,\"refused\":%llu}",
		U(t.opened), U(t.closed), U(t.reset), U(t.refused));
	fprintf(f, ",\"rates\":{\"new\":%.3f,\"closed\":%.3f,\"reset\":%.3f,\"refused\":%.3f},",
		tk_rate(t.opened, pt.opened, dt), tk_rate(t.closed, pt.closed, dt),
		tk_rate(t.reset, pt.reset, dt), tk_rate(t.refused, pt.refused, dt));
	json_states(f, r);
	fputc(',', f);
	json_lifetime(f, r);
	fputc(',', f);
	json_keepalive(f, r);
	fputc('}', f);
}

void tk_render_policy_json(FILE *f, const struct tk_snapshot *s)
{
	fputc('[', f);
	for (size_t i = 0; i < s->npolicy; i++) {
		const struct tk_policy_row *p = &s->policy[i];

		fprintf(f, "%s{\"port\":%u,", i ? "," : "", p->port);
		if (p->pol.off)
			fputs("\"off\":true}", f);
		else
			fprintf(f, "\"off\":false,\"idle\":%u,\"intvl\":%u,\"cnt\":%u,"
				"\"user_timeout\":%u}", p->pol.idle, p->pol.intvl,
				p->pol.cnt, p->pol.user_timeout);
	}
	fputc(']', f);
}

void tk_render_json(FILE *f, const struct tk_snapshot *cur, const struct tk_snapshot *prev)
{
	double dt = prev ? cur->mono_s - prev->mono_s : 0;
	time_t t = (time_t)cur->wall_s;
	char when[32];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "{\"time\":\"%s\",\"monotonic\":%.6f,\"interval_s\":%.3f,\"observer\":\"%s\","
		"\"enforcer\":%s,\"states_available\":%s,\"lifetimes_available\":%s,"
		"\"dead_peers_available\":%s,",
		when, cur->mono_s, dt, cur->attach_mode, cur->enforcer_ok ? "true" : "false",
		cur->states_ok ? "true" : "false", cur->lifetimes_ok ? "true" : "false",
		cur->dead_peers_ok ? "true" : "false");
	fprintf(f, "\"missed\":%llu,\"missed_detail\":{\"kernel_skipped\":%llu,"
		"\"nested_caught\":%llu,"
		"\"transitions_map_full\":%llu,\"conns_map_full\":%llu,"
		"\"keepalive_map_full\":%llu},\"unattributed\":%llu,"
		"\"lifetimes_untracked\":%llu,\"memory\":{\"cpus\":%d,\"bytes\":%llu,"
		"\"bytes_%d_cpus\":%llu},\"rows\":[",
		U(tk_snapshot_missed(cur)), U(cur->recursion_misses), U(cur->nested_caught),
		U(cur->uncounted[TK_UNC_TRANS_FULL]), U(cur->uncounted[TK_UNC_CONN_FULL]),
		U(cur->uncounted[TK_UNC_KA_FULL]), U(cur->uncounted[TK_UNC_UNATTRIBUTED]),
		U(cur->uncounted[TK_UNC_UNTRACKED]), cur->ncpus, U(cur->mem_bytes), TK_MEM_BIG_HOST,
		U(cur->mem_bytes_big));
	for (size_t i = 0; i < cur->nrows; i++) {
		const struct tk_row *r = &cur->rows[i];

		if (i)
			fputc(',', f);
		json_row(f, r, prev ? tk_snapshot_find(prev, r->port, r->dir) : NULL, dt);
	}
	fputs("],\"policy\":", f);
	tk_render_policy_json(f, cur);
	fputs("}\n", f);
	fflush(f);
}
