// SPDX-License-Identifier: GPL-2.0-only
/*
 * The audit as text: a table per (port, direction) of the keepalive the
 * established connections run with, how long they have been idle, the
 * writers stuck retransmitting and what the would-be policy does; idle
 * histograms; then the connections idle the longest and the stuck ones,
 * by address. Every line is cut at the width; in the live view the
 * section also fits the lines it is given, dropping what matters least
 * first: histograms, then list entries, then table rows.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "core/hist.h"
#include "render/columns.h"
#include "render/render.h"

/* The live view's share of each list; the audit command shows all kept. */
#define VIEW_CONNS 5

/* Where a section's lines go: cut at width (0: not), counted. */
struct out {
	FILE *f;
	int width;
	int lines;
};

__attribute__((format(printf, 2, 3)))
static void emit(struct out *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* cut at the width, never inside a UTF-8 character (netns names) */
	fwrite(line, 1, tk_text_fit(line, strlen(line), o->width, &n), o->f);
	fputc('\n', o->f);
	o->lines++;
}

enum cell {
	C_PORT, C_DIR, C_ESTAB, C_KA_OFF, C_KA_DEFAULT, C_KA_POLICY, C_KA_OTHER,
	C_OVER_10M, C_OVER_1H, C_OVER_1D, C_STUCK, C_STUCK_OLDEST, C_REAP_NOW,
	C_WOULD, C_PROBE, C_WOULD_REAP,
};

struct column {
	struct tk_col col;
	enum cell cell;
};

/*
 * The narrow set is what says whether dead peers go unnoticed: the
 * keepalive classes, connections idle for over an hour, stuck writers and
 * how many the would-be policy would probe at once. Wider ones add the
 * other idle counts, where the policy comes from and the reap times.
 */
static const struct column columns[] = {
	{ { "PORT",     5, 0, TK_SET_NARROW }, C_PORT },
	{ { "DIR",      3, 0, TK_SET_NARROW }, C_DIR },
	{ { "ESTAB",    6, 1, TK_SET_NARROW }, C_ESTAB },
	{ { "OFF",      6, 2, TK_SET_NARROW }, C_KA_OFF },
	{ { "DEFAULT",  7, 2, TK_SET_NARROW }, C_KA_DEFAULT },
	{ { "POLICY",   6, 2, TK_SET_NARROW }, C_KA_POLICY },
	{ { "OTHER",    6, 2, TK_SET_NARROW }, C_KA_OTHER },
	{ { ">10m",     5, 3, TK_SET_MIDDLE }, C_OVER_10M },
	{ { ">1h",      5, 3, TK_SET_NARROW }, C_OVER_1H },
	{ { ">1d",      5, 3, TK_SET_MIDDLE }, C_OVER_1D },
	{ { "STUCK",    5, 4, TK_SET_NARROW }, C_STUCK },
	{ { "OLDEST",   7, 4, TK_SET_NARROW }, C_STUCK_OLDEST },
	{ { "REAP_NOW", 8, 5, TK_SET_FULL },   C_REAP_NOW },
	{ { "WOULD",    7, 6, TK_SET_MIDDLE }, C_WOULD },
	{ { "PROBE",    6, 6, TK_SET_NARROW }, C_PROBE },
	{ { "REAP",     7, 6, TK_SET_FULL },   C_WOULD_REAP },
};
#define NCOLUMNS (sizeof(columns) / sizeof(columns[0]))

static void count(char *buf, size_t len, uint64_t n)
{
	snprintf(buf, len, "%llu", (unsigned long long)n);
}

/* The text of one cell of row r. */
static void cell_text(char *buf, size_t len, const struct tk_snapshot *s,
		      const struct tk_row *r, enum cell cell)
{
	const struct tk_audit_row *a = &r->au;
	struct tk_policy w;
	enum tk_would_source src;

	switch (cell) {
	case C_PORT:
		count(buf, len, r->port);
		return;
	case C_DIR:
		snprintf(buf, len, "%s", tk_dir_name(r->dir));
		return;
	case C_ESTAB:
		count(buf, len, a->established);
		return;
	case C_KA_OFF:
	case C_KA_DEFAULT:
	case C_KA_POLICY:
	case C_KA_OTHER:
		count(buf, len, a->ka[TK_KA_OFF + (cell - C_KA_OFF)]);
		return;
	case C_OVER_10M:
	case C_OVER_1H:
	case C_OVER_1D:
		count(buf, len, a->idle_over[TK_IDLE_OVER_10M + (cell - C_OVER_10M)]);
		return;
	case C_STUCK:
		count(buf, len, a->stuck);
		return;
	case C_STUCK_OLDEST:
		if (a->stuck)
			tk_age_name(a->stuck_oldest_s, buf, len);
		else
			snprintf(buf, len, "-");
		return;
	case C_REAP_NOW:
		/* as JSON's today.reap_within_s: none while one is never reaped */
		if (a->never_reaped)
			snprintf(buf, len, "never");
		else if (!a->established)
			snprintf(buf, len, "-");
		else
			tk_age_name(a->reap_max_s, buf, len);
		return;
	default:
		break;
	}
	src = tk_snapshot_would(s, r->port, &w);
	if (cell == C_WOULD)
		snprintf(buf, len, "%s", tk_would_source_name(src));
	else if (src == TK_WOULD_OFF)
		snprintf(buf, len, "-");	/* exempt: nothing would change */
	else if (cell == C_PROBE)
		count(buf, len, a->probe_now);
	else
		tk_age_name(tk_audit_reap_s(w.idle, w.intvl, w.cnt, w.user_timeout), buf, len);
}

/* The headings (r NULL) or one row's cells, set's columns. */
static void table_line(struct out *o, const struct tk_snapshot *s, enum tk_colset set,
		       const struct tk_row *r)
{
	const struct tk_col *prev = NULL;
	char line[256], cell[32];
	size_t n = 0;

	line[0] = '\0';
	for (size_t i = 0; i < NCOLUMNS && n < sizeof(line); i++) {
		const struct column *c = &columns[i];

		if (c->col.set > set)
			continue;
		if (r)
			cell_text(cell, sizeof(cell), s, r, c->cell);
		/* the words left-aligned, as their headings; numbers right */
		n += snprintf(line + n, sizeof(line) - n,
			      c->cell == C_DIR || c->cell == C_WOULD ? "%*s%-*s" : "%*s%*s",
			      tk_col_gap(&c->col, prev), "", c->col.width, r ? cell : c->col.head);
		prev = &c->col;
	}
	emit(o, "%s", line);
}

static bool audited(const struct tk_row *r)
{
	/* as JSON's rows: those with established or stuck connections */
	return r->au.established || r->au.stuck;
}

/* Lines of each part, to fit them in a height before drawing. */
static int idle_hist_lines(const struct tk_audit_row *a)
{
	int first = -1, last = -1;

	for (int i = 0; i < TK_IDLE_SLOTS; i++) {
		if (!a->idle_slots[i])
			continue;
		if (first < 0)
			first = i;
		last = i;
	}
	/* blank, title, headings, the span of slots */
	return first < 0 ? 0 : 3 + last - first + 1;
}

static void idle_hist(struct out *o, const struct tk_row *r, unsigned int bar)
{
	const struct tk_audit_row *a = &r->au;
	char mean[TK_AGE_LEN], *buf = NULL;
	size_t len = 0;
	FILE *m;

	emit(o, "%s", "");
	emit(o, "port %u %s: idle time, %llu established, mean %s", r->port,
	     tk_dir_name(r->dir), (unsigned long long)a->established,
	     tk_age_name(a->idle_sum_s / (double)a->established, mean, sizeof(mean)));
	m = open_memstream(&buf, &len);
	if (!m)
		return;
	tk_hist_print(m, a->idle_slots, TK_IDLE_SLOTS, "seconds", bar);
	fclose(m);
	for (char *p = buf, *line; (line = strsep(&p, "\n"));)
		if (*line || p)
			emit(o, "%s", line);
	free(buf);
}

/* "local -> remote", then its state unless ESTABLISHED and its namespace unless the host's. */
static void conn_label(char *buf, size_t len, const struct tk_snapshot *s,
		       const struct tk_audit_conn *c)
{
	const struct tk_netns *n = tk_snapshot_netns(s, c->ns);
	char l[TK_ADDR_LEN + 16], r[TK_ADDR_LEN + 16], name[32];
	int k;

	tk_endpoint_name(l, sizeof(l), c->family, c->laddr, c->lport);
	tk_endpoint_name(r, sizeof(r), c->family, c->raddr, c->rport);
	k = snprintf(buf, len, "%s -> %s", l, r);
	if (k >= 0 && (size_t)k < len && c->state != TK_ESTABLISHED)
		k += snprintf(buf + k, len - k, " %s", tk_state_name(c->state));
	if (k >= 0 && (size_t)k < len && n && !n->self)
		snprintf(buf + k, len - k, "  (netns %s)",
			 tk_netns_label(s, c->ns, name, sizeof(name)));
}

static void pid_text(char *pid, size_t plen, char *comm, size_t clen,
		     const struct tk_audit_conn *c)
{
	if (c->pid)
		snprintf(pid, plen, "%d", c->pid);
	else
		snprintf(pid, plen, "-");
	snprintf(comm, clen, "%s", c->pid && c->comm[0] ? c->comm : "-");
}

/* How long until a dead peer of c is found and c closed, at worst. */
static void conn_reap(char *buf, size_t len, const struct tk_audit_conn *c)
{
	double reap = tk_audit_conn_reap_s(c);

	if (reap < 0)
		snprintf(buf, len, "never");
	else
		tk_age_name(reap, buf, len);
}

static void list_more(struct out *o, size_t n, size_t show, bool view)
{
	if (show < n)
		emit(o, "(%zu more: %s)", n - show,
		     view ? "tcpkeep audit lists them" : "audit --json has them all");
}

static void oldest_list(struct out *o, const struct tk_snapshot *s, size_t show, bool view)
{
	char idle[TK_AGE_LEN], reap[TK_AGE_LEN], pid[16], comm[16], conn[160];

	if (!s->noldest)
		return;
	emit(o, "%s", "");
	emit(o, "oldest idle  (silent the longest; REAP: until keepalive closes it if the "
	     "peer is dead)");
	emit(o, "   IDLE  KEEPALIVE         REAP      PID  COMMAND          CONNECTION");
	for (size_t i = 0; i < show; i++) {
		const struct tk_audit_conn *c = &s->oldest[i];

		pid_text(pid, sizeof(pid), comm, sizeof(comm), c);
		conn_reap(reap, sizeof(reap), c);
		conn_label(conn, sizeof(conn), s, c);
		emit(o, "%7s  %-14s %7s  %7s  %-15s  %s", tk_age_name(c->idle_s, idle, sizeof(idle)),
		     tk_ka_state_name(c->ka), reap, pid, comm, conn);
	}
	list_more(o, s->noldest, show, view);
}

static void stuck_list(struct out *o, const struct tk_snapshot *s, size_t show, bool view)
{
	char retr[TK_AGE_LEN], ack[TK_AGE_LEN], uto[TK_AGE_LEN], pid[16], comm[16], conn[160];

	emit(o, "%s", "");
	if (!s->nstuck) {
		emit(o, "stuck writers: none");
		return;
	}
	emit(o, "stuck writers  (retransmitting to a silent peer, longest first)");
	emit(o, "RETRANS   NO_ACK  RETRIES  UNACKED  USER_TO      PID  COMMAND          "
	     "CONNECTION");
	for (size_t i = 0; i < show; i++) {
		const struct tk_audit_conn *c = &s->stuck[i];

		pid_text(pid, sizeof(pid), comm, sizeof(comm), c);
		conn_label(conn, sizeof(conn), s, c);
		if (c->user_timeout_ms)
			tk_age_name(c->user_timeout_ms / 1000.0, uto, sizeof(uto));
		else
			snprintf(uto, sizeof(uto), "-");
		emit(o, "%7s  %7s  %7u  %7u  %7s  %7s  %-15s  %s",
		     tk_age_name(c->retrans_age_s, retr, sizeof(retr)),
		     tk_age_name(c->ack_age_s, ack, sizeof(ack)), c->retransmits, c->unacked,
		     uto, pid, comm, conn);
	}
	list_more(o, s->nstuck, show, view);
}

/* Namespaces the dump read but the iterator could not. */
static size_t unaudited(const struct tk_snapshot *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nnetns; i++)
		n += !s->netns[i].err && s->netns[i].audit_err;
	return n;
}

static void title(struct out *o, const struct tk_snapshot *s)
{
	char after[TK_AGE_LEN], more[64] = "";
	size_t n = unaudited(s);

	if (!s->audit_ok) {
		if (!s->audit_err)
			emit(o, "audit unavailable: not asked for");
		else
			emit(o, "audit unavailable: %s%s", strerror(-s->audit_err),
			     s->audit_err == -EPERM ? " (needs CAP_BPF and CAP_PERFMON)" : "");
		return;
	}
	if (n)
		snprintf(more, sizeof(more), "; %zu namespace%s not audited", n, n == 1 ? "" : "s");
	emit(o, "audit  (established connections now; stuck: retransmitting, no ACK for %s%s)",
	     tk_age_name(s->stuck_after_s, after, sizeof(after)), more);
}

/* What the columns say, under the table of the audit command. */
static void legend(struct out *o)
{
	emit(o, "keepalive OFF, the kernel's DEFAULT sysctls, the port's POLICY or OTHER "
	     "values;");
	emit(o, "idle for over 10m, 1h, 1d; STUCK writers and the OLDEST one's time "
	     "retransmitting;");
	emit(o, "REAP_NOW: a dead peer's connection is closed within this (never: "
	     "keepalive off);");
	emit(o, "WOULD: the policy weighed (-k, the port's policy, else the default), "
	     "PROBE: the");
	emit(o, "connections it would probe at once, REAP: it closes a dead peer's "
	     "within this");
}

/*
 * Entries of a list of n, at most cap, that fit in budget lines with the
 * line saying how many more there are; one at least (n 0: none).
 */
static size_t fit_list(size_t n, size_t cap, int budget)
{
	size_t show = n < cap ? n : cap;

	if (!n || (long)show + (show < n) <= budget)
		return show;
	return budget > 2 ? (size_t)budget - 1 : 1;
}

/* Lines of those entries and that line. */
static int entry_lines(size_t n, size_t show)
{
	return (int)show + (show < n);
}

/*
 * The section into o, in at most height lines (0: no limit), the lists
 * capped at cap entries; view: the live view's (no legend). Short of
 * lines, the table keeps a row, then the stuck writers one entry, then
 * the oldest idle; what is left goes to more rows and entries, then to
 * the histograms.
 */
static void section(struct out *o, const struct tk_snapshot *s, int height, size_t cap,
		    bool view)
{
	enum tk_colset set = tk_cols_fit(TK_COLS(columns), o->width);
	unsigned int bar = tk_hist_bar_for(o->width);
	size_t nrows = 0, rows, noldest, nstuck, hists = 0, left_out = 0;
	bool stuck = true, oldest = true, note = true;
	int hidden = (int)tk_cols_hidden(TK_COLS(columns), set), left, min;

	title(o, s);
	if (!s->audit_ok)
		return;
	for (size_t i = 0; i < s->nrows; i++) {
		nrows += audited(&s->rows[i]);
		hists += s->rows[i].au.established != 0;
	}
	rows = nrows;
	noldest = s->noldest < cap ? s->noldest : cap;
	nstuck = s->nstuck < cap ? s->nstuck : cap;
	left = height > 0 ? height - o->lines : INT_MAX;
	if (height > 0) {
		/* blank, headings, a row or the line saying there is none */
		left -= 2 + !!hidden + (nrows ? entry_lines(nrows, 1) : 1);
		min = s->nstuck ? 3 + entry_lines(s->nstuck, 1) : 2;
		stuck = min <= left;
		left -= stuck ? min : 0;
		min = s->noldest ? 3 + entry_lines(s->noldest, 1) : 0;
		oldest = min <= left;
		left -= oldest ? min : 0;
		note = hists && 2 <= left;
		left -= note ? 2 : 0;
		/* then more of each, as much as is left */
		rows = fit_list(nrows, nrows, entry_lines(nrows, 1) + left);
		left -= entry_lines(nrows, rows) - entry_lines(nrows, 1);
		if (stuck && s->nstuck) {
			nstuck = fit_list(s->nstuck, cap, entry_lines(s->nstuck, 1) + left);
			left -= entry_lines(s->nstuck, nstuck) - entry_lines(s->nstuck, 1);
		}
		if (oldest && s->noldest) {
			noldest = fit_list(s->noldest, cap, entry_lines(s->noldest, 1) + left);
			left -= entry_lines(s->noldest, noldest) - entry_lines(s->noldest, 1);
		}
	}
	emit(o, "%s", "");
	table_line(o, s, set, NULL);
	for (size_t i = 0, n = 0; i < s->nrows; i++) {
		if (!audited(&s->rows[i]))
			continue;
		if (n++ < rows)
			table_line(o, s, set, &s->rows[i]);
	}
	if (!nrows)
		emit(o, "(no established connections on these ports)");
	if (rows < nrows)
		emit(o, "(%zu more rows: enlarge the terminal or use audit --json)", nrows - rows);
	if (hidden)
		emit(o, "(%d columns hidden: widen the terminal to %d or use audit --json)",
		     hidden, tk_cols_width(TK_COLS(columns), TK_SET_FULL));
	if (!view && nrows)
		legend(o);
	for (size_t i = 0; i < s->nrows; i++) {
		const struct tk_row *r = &s->rows[i];
		int need = idle_hist_lines(&r->au);

		if (!need)
			continue;
		if (!left_out && bar && need <= left) {
			idle_hist(o, r, bar);
			left -= need;
		} else {
			left_out++;
		}
	}
	if (left_out && note) {
		emit(o, "%s", "");
		emit(o, "(%zu idle histogram%s left out: enlarge the terminal)", left_out,
		     left_out == 1 ? "" : "s");
	}
	if (oldest)
		oldest_list(o, s, noldest, view);
	if (stuck)
		stuck_list(o, s, nstuck, view);
}

void tk_render_audit_text(FILE *f, const struct tk_snapshot *s, int width)
{
	struct out o = { .f = f, .width = width };

	section(&o, s, 0, TK_AUDIT_TOP, false);
}

void tk_render_audit_view(FILE *f, const struct tk_snapshot *s, int width, int height)
{
	struct out o = { .f = f, .width = width };

	section(&o, s, height, VIEW_CONNS, true);
}
