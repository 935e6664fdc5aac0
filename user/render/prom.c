// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prometheus text exposition (format 0.0.4) of a snapshot. Bounded
 * cardinality: labels are port, direction, states and option names only;
 * ports outside the exported set fold into port="other".
 */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "core/hist.h"
#include "core/policy.h"
#include "render/render.h"

#define U(x) ((unsigned long long)(x))
#define OTHER_PORT 0		/* port 0 never is a row: it stands for "other" */

/* Shortest text that reads back as the same double, as Prometheus writes. */
static void fmt_float(char *buf, size_t len, double v)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static void lower(char *dst, const char *src, size_t len)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < len; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

static void port_label(char *buf, size_t len, uint16_t port)
{
	if (port == OTHER_PORT)
		snprintf(buf, len, "other");
	else
		snprintf(buf, len, "%u", port);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void add_row(struct tk_row *dst, const struct tk_row *src)
{
	for (int a = 0; a < TK_NSTATES; a++) {
		dst->states[a] += src->states[a];
		for (int b = 0; b < TK_NSTATES; b++)
			dst->trans[a][b] += src->trans[a][b];
	}
	for (int i = 0; i < TK_HIST_SLOTS; i++)
		dst->slots[i] += src->slots[i];
	dst->sum_us += src->sum_us;
	dst->dead_peers += src->dead_peers;
	dst->ka_applied += src->ka_applied;
	for (int i = 0; i < TK_OPT_MAX; i++)
		dst->ka_errors[i] += src->ka_errors[i];
}

static int row_order(const void *a, const void *b)
{
	const struct tk_row *x = a, *y = b;
	/* "other" (port 0) last */
	unsigned int px = x->port ? x->port : 65536, py = y->port ? y->port : 65536;

	if (px != py)
		return px < py ? -1 : 1;
	return (int)x->dir - (int)y->dir;
}

/* The rows to export: exported ports as they are, the rest summed. */
static int fold_rows(const struct tk_snapshot *s, const bool *ports, struct tk_snapshot *out)
{
	tk_snapshot_init(out);
	for (size_t i = 0; i < s->nrows; i++) {
		const struct tk_row *r = &s->rows[i];
		uint16_t port = !ports || ports[r->port] ? r->port : OTHER_PORT;
		struct tk_row *d = tk_snapshot_row(out, port, r->dir);

		if (!d)
			return -1;
		add_row(d, r);
	}
	qsort(out->rows, out->nrows, sizeof(*out->rows), row_order);
	return 0;
}

static void transitions(FILE *f, const struct tk_snapshot *s)
{
	family(f, "tcpkeep_transitions_total", "counter",
	       "TCP state transitions by service port and direction since tcpkeep attached.");
	for (size_t i = 0; i < s->nrows; i++) {
		const struct tk_row *r = &s->rows[i];
		char port[8];

		port_label(port, sizeof(port), r->port);
		for (int a = 0; a < TK_NSTATES; a++) {
			for (int b = 0; b < TK_NSTATES; b++) {
				char from[24], to[24];

				if (!r->trans[a][b] || !tk_state_name(a) || !tk_state_name(b))
					continue;
				lower(from, tk_state_name(a), sizeof(from));
				lower(to, tk_state_name(b), sizeof(to));
				fprintf(f, "tcpkeep_transitions_total{port=\"%s\",direction=\"%s\","
					"from_state=\"%s\",to_state=\"%s\"} %llu\n", port,
					tk_dir_name(r->dir), from, to, U(r->trans[a][b]));
			}
		}
	}
}

static void connections(FILE *f, const struct tk_snapshot *s)
{
	if (!s->states_ok)
		return;	/* no dump: better no gauge than a false zero */
	family(f, "tcpkeep_connections", "gauge",
	       "TCP sockets in each state now, by service port and direction.");
	for (size_t i = 0; i < s->nrows; i++) {
		const struct tk_row *r = &s->rows[i];
		char port[8];

		port_label(port, sizeof(port), r->port);
		for (int st = 1; st <= TK_LAST_DUMP_STATE; st++) {
			char name[24];

			lower(name, tk_state_name(st), sizeof(name));
			fprintf(f, "tcpkeep_connections{port=\"%s\",direction=\"%s\",state=\"%s\"} "
				"%llu\n", port, tk_dir_name(r->dir), name, U(r->states[st]));
		}
	}
}

static void durations(FILE *f, const struct tk_snapshot *s)
{
	family(f, "tcpkeep_connection_duration_seconds", "histogram",
	       "Connection lifetimes, from the first state to CLOSE.");
	for (size_t i = 0; i < s->nrows; i++) {
		const struct tk_row *r = &s->rows[i];
		uint64_t cum = 0;
		char port[8], num[40];

		port_label(port, sizeof(port), r->port);
		/* slot i holds whole microseconds below 2^(i+1): that is its le */
		for (unsigned int b = 0; b < TK_HIST_OVERFLOW; b++) {
			cum += r->slots[b];
			fmt_float(num, sizeof(num), (double)tk_hist_high(b) / 1e6);
			fprintf(f, "tcpkeep_connection_duration_seconds_bucket{port=\"%s\","
				"direction=\"%s\",le=\"%s\"} %llu\n", port, tk_dir_name(r->dir),
				num, U(cum));
		}
		cum += r->slots[TK_HIST_OVERFLOW];
		fprintf(f, "tcpkeep_connection_duration_seconds_bucket{port=\"%s\","
			"direction=\"%s\",le=\"+Inf\"} %llu\n", port, tk_dir_name(r->dir), U(cum));
		fmt_float(num, sizeof(num), (double)r->sum_us / 1e6);
		fprintf(f, "tcpkeep_connection_duration_seconds_sum{port=\"%s\",direction=\"%s\"} "
			"%s\n", port, tk_dir_name(r->dir), num);
		fprintf(f, "tcpkeep_connection_duration_seconds_count{port=\"%s\",direction=\"%s\"} "
			"%llu\n", port, tk_dir_name(r->dir), U(cum));
	}
}

static void keepalive(FILE *f, const struct tk_snapshot *s)
{
	family(f, "tcpkeep_keepalive_applied_total", "counter",
	       "Connections the keepalive policy was set on.");
	for (size_t i = 0; i < s->nrows; i++) {
		char port[8];

		port_label(port, sizeof(port), s->rows[i].port);
		fprintf(f, "tcpkeep_keepalive_applied_total{port=\"%s\",direction=\"%s\"} %llu\n",
			port, tk_dir_name(s->rows[i].dir), U(s->rows[i].ka_applied));
	}
	family(f, "tcpkeep_keepalive_errors_total", "counter",
	       "Keepalive options the kernel refused to set, by option.");
	for (size_t i = 0; i < s->nrows; i++) {
		char port[8];

		port_label(port, sizeof(port), s->rows[i].port);
		for (int o = 0; o < TK_OPT_MAX; o++)
			fprintf(f, "tcpkeep_keepalive_errors_total{port=\"%s\",direction=\"%s\","
				"option=\"%s\"} %llu\n", port, tk_dir_name(s->rows[i].dir),
				tk_opt_name(o), U(s->rows[i].ka_errors[o]));
	}
	family(f, "tcpkeep_dead_peers_total", "counter",
	       "Connections aborted by the keepalive or user timeout (ETIMEDOUT).");
	for (size_t i = 0; i < s->nrows; i++) {
		char port[8];

		port_label(port, sizeof(port), s->rows[i].port);
		fprintf(f, "tcpkeep_dead_peers_total{port=\"%s\",direction=\"%s\"} %llu\n",
			port, tk_dir_name(s->rows[i].dir), U(s->rows[i].dead_peers));
	}
}

static void policy(FILE *f, const struct tk_snapshot *s, const bool *ports)
{
	for (int k = 0; k < TK_POL_NKEYS; k++) {
		const struct tk_policy_field *g = &tk_policy_fields[k];

		family(f, g->metric, "gauge", g->help);
		for (size_t i = 0; i < s->npolicy; i++) {
			const struct tk_policy_row *p = &s->policy[i];

			/* an exempt port has no policy in force; a port outside
			 * --ports has no series of its own to fold into */
			if (p->pol.off || (ports && !ports[p->port]))
				continue;
			fprintf(f, "%s{port=\"%u\"} %u\n", g->metric, p->port,
				tk_policy_get(&p->pol, k));
		}
	}
}

static void label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void health(FILE *f, const struct tk_snapshot *s, const struct tk_prom_opts *o)
{
	char num[40];

	family(f, "tcpkeep_missed_events_total", "counter",
	       "Events not counted: skipped by the kernel (recursion) and not caught, or a full map.");
	fprintf(f, "tcpkeep_missed_events_total %llu\n", U(tk_snapshot_missed(s)));
	family(f, "tcpkeep_nested_events_caught_total", "counter",
	       "Events the kernel skipped the observer for, counted by its nested program.");
	fprintf(f, "tcpkeep_nested_events_caught_total %llu\n", U(s->nested_caught));
	family(f, "tcpkeep_unattributed_transitions_total", "counter",
	       "Transitions of sockets with no service port (both ports ephemeral).");
	fprintf(f, "tcpkeep_unattributed_transitions_total %llu\n",
		U(s->uncounted[TK_UNC_UNATTRIBUTED]));
	family(f, "tcpkeep_lifetimes_untracked_total", "counter",
	       "Connections whose lifetime was not measured: every slot they may take was held.");
	fprintf(f, "tcpkeep_lifetimes_untracked_total %llu\n", U(s->uncounted[TK_UNC_UNTRACKED]));
	family(f, "tcpkeep_maps_bytes", "gauge",
	       "Kernel memory of tcpkeep's BPF maps (bytes_memlock) on this host.");
	fprintf(f, "tcpkeep_maps_bytes %llu\n", U(s->mem_bytes));
	family(f, "tcpkeep_bpf_program_attached", "gauge",
	       "1 if the BPF program is attached, 0 if not.");
	for (int i = 0; i < TK_NLINKS; i++)
		fprintf(f, "tcpkeep_bpf_program_attached{program=\"%s\"} %d\n", tk_links[i].name,
			o->attached[i] ? 1 : 0);
	family(f, "tcpkeep_build_info", "gauge", "tcpkeep's version and libbpf's, always 1.");
	fputs("tcpkeep_build_info{version=\"", f);
	label_value(f, o->version);
	fputs("\",libbpf_version=\"", f);
	label_value(f, o->libbpf_version);
	fputs("\"} 1\n", f);
	family(f, "tcpkeep_scrape_duration_seconds", "gauge",
	       "Seconds it took to read the maps and the socket dump for this scrape.");
	fmt_float(num, sizeof(num), o->scrape_seconds);
	fprintf(f, "tcpkeep_scrape_duration_seconds %s\n", num);
}

int tk_render_prom(FILE *f, const struct tk_snapshot *s, const struct tk_prom_opts *o)
{
	struct tk_snapshot folded;

	if (fold_rows(s, o->ports, &folded)) {
		tk_snapshot_free(&folded);
		return -1;
	}
	folded.states_ok = s->states_ok;
	transitions(f, &folded);
	connections(f, &folded);
	durations(f, &folded);
	keepalive(f, &folded);
	policy(f, s, o->ports);
	health(f, s, o);
	tk_snapshot_free(&folded);
	return 0;
}
