// SPDX-License-Identifier: GPL-2.0-only
/* The live text view. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/hist.h"
#include "core/policy.h"
#include "render/render.h"

static void print_header(FILE *f, const struct tk_snapshot *cur, double dt)
{
	char when[32];
	time_t t = (time_t)cur->wall_s;
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(f, "tcpkeep %s  observer %s  enforcer %s  interval %.1fs\n", when,
		cur->attach_mode, cur->enforcer_ok ? "on" : "off", dt);
	fprintf(f, "missed %llu (kernel skipped %llu, caught %llu, map full %llu)  "
		"unattributed %llu  untracked lifetimes %llu%s%s%s\n",
		(unsigned long long)tk_snapshot_missed(cur),
		(unsigned long long)cur->recursion_misses,
		(unsigned long long)cur->nested_caught,
		(unsigned long long)(tk_snapshot_missed(cur) - tk_snapshot_kernel_missed(cur)),
		(unsigned long long)cur->uncounted[TK_UNC_UNATTRIBUTED],
		(unsigned long long)cur->uncounted[TK_UNC_UNTRACKED],
		cur->states_ok ? "" : "  [current states unavailable]",
		cur->lifetimes_ok ? "" : "  [no lifetimes]",
		cur->dead_peers_ok ? "" : "  [dead peers unavailable]");
}

static void print_row(FILE *f, const struct tk_row *r, const struct tk_row *p, double dt)
{
	struct tk_totals t, pt = {};
	const uint64_t *s = r->states;
	uint64_t ka_err = 0;

	tk_row_totals(r, &t);
	if (p)
		tk_row_totals(p, &pt);
	for (int i = 0; i < TK_OPT_MAX; i++)
		ka_err += r->ka_errors[i];
	fprintf(f, "%5u %-3s %7.1f %7.1f %6.1f %6.1f  %9llu %9llu %7llu %7llu  "
		"%6llu %6llu %5llu %5llu %6llu %6llu %7llu  %8llu %5llu %5llu\n",
		r->port, tk_dir_name(r->dir),
		tk_rate(t.opened, pt.opened, dt), tk_rate(t.closed, pt.closed, dt),
		tk_rate(t.reset, pt.reset, dt), tk_rate(t.refused, pt.refused, dt),
		(unsigned long long)t.opened, (unsigned long long)t.closed,
		(unsigned long long)t.reset, (unsigned long long)t.refused,
		(unsigned long long)s[TK_LISTEN], (unsigned long long)s[TK_ESTABLISHED],
		(unsigned long long)(s[TK_SYN_SENT] + s[TK_SYN_RECV] + s[TK_NEW_SYN_RECV]),
		(unsigned long long)(s[TK_FIN_WAIT1] + s[TK_FIN_WAIT2] + s[TK_CLOSING]),
		(unsigned long long)s[TK_CLOSE_WAIT], (unsigned long long)s[TK_LAST_ACK],
		(unsigned long long)s[TK_TIME_WAIT],
		(unsigned long long)r->ka_applied, (unsigned long long)ka_err,
		(unsigned long long)r->dead_peers);
}

void tk_render_policy_text(FILE *f, const struct tk_snapshot *cur)
{
	const struct tk_policy_field *fields = tk_policy_fields;
	const char *sep = "";

	fputs("keepalive policy  (", f);
	for (int k = 0; k < TK_POL_NKEYS; k++) {
		if (fields[k].seconds) {
			fprintf(f, "%s%s", sep, fields[k].key);
			sep = "/";
		}
	}
	fputs(" in seconds)\n", f);
	fprintf(f, "%5s", "PORT");
	for (int k = 0; k < TK_POL_NKEYS; k++)
		fprintf(f, " %*s", fields[k].width, fields[k].heading);
	fputc('\n', f);
	for (size_t i = 0; i < cur->npolicy; i++) {
		const struct tk_policy_row *p = &cur->policy[i];

		fprintf(f, "%5u", p->port);
		if (p->pol.off) {
			fprintf(f, " %*s\n", fields[0].width, "off");
			continue;
		}
		for (int k = 0; k < TK_POL_NKEYS; k++) {
			uint32_t v = tk_policy_get(&p->pol, k);

			if (!v && !fields[k].min)	/* left as the socket has it */
				fprintf(f, " %*s", fields[k].width, "(socket's)");
			else
				fprintf(f, " %*u", fields[k].width, v);
		}
		fputc('\n', f);
	}
}

/* A duration in microseconds, in the unit that reads best. */
static void fmt_duration(char *buf, size_t len, double us)
{
	if (us < 1000)
		snprintf(buf, len, "%.0f us", us);
	else if (us < 1e6)
		snprintf(buf, len, "%.1f ms", us / 1e3);
	else if (us < 600e6)
		snprintf(buf, len, "%.1f s", us / 1e6);
	else
		snprintf(buf, len, "%.1f min", us / 60e6);
}

static void print_histograms(FILE *f, const struct tk_snapshot *cur)
{
	for (size_t i = 0; i < cur->nrows; i++) {
		const struct tk_row *r = &cur->rows[i];
		uint64_t n = tk_row_hist_count(r);

		char mean[32];

		if (!n)
			continue;
		fmt_duration(mean, sizeof(mean), (double)r->sum_us / n);
		fprintf(f, "\nport %u %s: connection lifetime, %llu closed, mean %s\n",
			r->port, tk_dir_name(r->dir), (unsigned long long)n, mean);
		tk_hist_print(f, r->slots, TK_HIST_SLOTS, "usecs", TK_HIST_BAR);
	}
}

static void render(FILE *f, const struct tk_snapshot *cur,
		   const struct tk_snapshot *prev, const struct tk_render_opts *o)
{
	double dt = prev ? cur->mono_s - prev->mono_s : 0;

	print_header(f, cur, dt);
	fprintf(f, "\n%5s %-3s %7s %7s %6s %6s  %9s %9s %7s %7s  "
		"%6s %6s %5s %5s %6s %6s %7s  %8s %5s %5s\n",
		"PORT", "DIR", "NEW/s", "CLOSE/s", "RST/s", "REFU/s",
		"NEW", "CLOSED", "RESET", "REFUSED",
		"LISTEN", "ESTAB", "SYN", "FINW", "CLOSEW", "LASTACK", "TIMEWT",
		"KA_APPL", "KAERR", "DEAD");
	for (size_t i = 0; i < cur->nrows; i++) {
		const struct tk_row *r = &cur->rows[i];

		print_row(f, r, prev ? tk_snapshot_find(prev, r->port, r->dir) : NULL, dt);
	}
	if (!cur->nrows)
		fprintf(f, "(no TCP activity seen yet)\n");
	if (cur->npolicy) {
		fputc('\n', f);
		tk_render_policy_text(f, cur);
	}
	if (o->histograms)
		print_histograms(f, cur);
}

void tk_render_text(FILE *f, const struct tk_snapshot *cur,
		    const struct tk_snapshot *prev, const struct tk_render_opts *o)
{
	char *buf = NULL, *p;
	size_t len = 0;
	FILE *m;
	int lines = 0;

	if (o->max_lines <= 0) {
		render(f, cur, prev, o);
		return;
	}
	/* a terminal: draw only what fits, like top */
	m = open_memstream(&buf, &len);
	if (!m) {
		render(f, cur, prev, o);
		return;
	}
	render(m, cur, prev, o);
	fclose(m);
	for (p = buf; *p && lines < o->max_lines; lines++) {
		char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);

		/* the last line on screen gets no newline, so nothing scrolls */
		if (lines == o->max_lines - 1 && nl)
			n--;
		fwrite(p, 1, n, f);
		p += nl ? (size_t)(nl - p) + 1 : n;
	}
	free(buf);
}
