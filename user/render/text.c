// SPDX-License-Identifier: GPL-2.0-only
/*
 * The live text view. On a pipe each frame is written in full. On a
 * terminal the frame is fitted to the window so that nothing wraps or
 * scrolls: the widest column set whose rows fit, header fields packed into
 * lines of the width, shorter histogram bars, only the histograms that fit
 * in the height, and every line cut at the width as a last resort.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include "core/hist.h"
#include "core/policy.h"
#include "render/columns.h"
#include "render/render.h"

/* What one table row draws from: the row, its totals now and before. */
struct rowvals {
	const struct tk_row *r;
	struct tk_totals t, pt;
	double dt;
};

/* What a cell shows, and how */
enum cell {
	CELL_PORT,	/* "%*llu", as the counts */
	CELL_DIR,	/* "%-*s", and so its heading */
	CELL_RATE,	/* a tk_totals member per second, "%*.1f" */
	CELL_TOTAL,	/* a tk_totals member, "%*llu" */
	CELL_STATES,	/* the sockets in the states of a mask now, "%*llu" */
	CELL_FIELD,	/* a uint64_t member of the row, "%*llu" */
	CELL_KA_ERRORS,	/* keepalive options refused, all options, "%*llu" */
};

struct column {
	struct tk_col col;
	enum cell cell;
	size_t off;		/* RATE, TOTAL: in struct tk_totals; FIELD: in tk_row */
	unsigned int states;	/* STATES: 1 << TK_ state, or'ed */
};

#define RATE(m) .cell = CELL_RATE, .off = offsetof(struct tk_totals, m)
#define TOTAL(m) .cell = CELL_TOTAL, .off = offsetof(struct tk_totals, m)
#define FIELD(m) .cell = CELL_FIELD, .off = offsetof(struct tk_row, m)
#define STATES(mask) .cell = CELL_STATES, .states = (mask)
#define STATE(s) (1U << (s))

/*
 * The narrow set (77 columns) is what shows connections going half-open
 * and keepalive catching them: the churn (NEW/s, CLOSE/s, RST/s), the
 * connections keepalive guards (ESTAB), those the peer closed and the
 * application not (CLOSEW), TIME_WAIT build-up, and keepalive itself:
 * applied, failing, peers found dead. The middle set (98) adds refusals
 * and the closing states; only the full set (148) has the totals since
 * attach, listeners and handshakes in flight.
 */
static const struct column columns[] = {
	{ { "PORT",    5, 0, TK_SET_NARROW }, .cell = CELL_PORT },
	{ { "DIR",     3, 0, TK_SET_NARROW }, .cell = CELL_DIR },
	{ { "NEW/s",   7, 0, TK_SET_NARROW }, RATE(opened) },
	{ { "CLOSE/s", 7, 0, TK_SET_NARROW }, RATE(closed) },
	{ { "RST/s",   6, 0, TK_SET_NARROW }, RATE(reset) },
	{ { "REFU/s",  6, 0, TK_SET_MIDDLE }, RATE(refused) },
	{ { "NEW",     9, 1, TK_SET_FULL },   TOTAL(opened) },
	{ { "CLOSED",  9, 1, TK_SET_FULL },   TOTAL(closed) },
	{ { "RESET",   7, 1, TK_SET_FULL },   TOTAL(reset) },
	{ { "REFUSED", 7, 1, TK_SET_FULL },   TOTAL(refused) },
	{ { "LISTEN",  6, 2, TK_SET_FULL },   STATES(STATE(TK_LISTEN)) },
	{ { "ESTAB",   6, 2, TK_SET_NARROW }, STATES(STATE(TK_ESTABLISHED)) },
	{ { "SYN",     5, 2, TK_SET_FULL },
	  STATES(STATE(TK_SYN_SENT) | STATE(TK_SYN_RECV) | STATE(TK_NEW_SYN_RECV)) },
	{ { "FINW",    5, 2, TK_SET_MIDDLE },
	  STATES(STATE(TK_FIN_WAIT1) | STATE(TK_FIN_WAIT2) | STATE(TK_CLOSING)) },
	{ { "CLOSEW",  6, 2, TK_SET_NARROW }, STATES(STATE(TK_CLOSE_WAIT)) },
	{ { "LASTACK", 7, 2, TK_SET_MIDDLE }, STATES(STATE(TK_LAST_ACK)) },
	{ { "TIMEWT",  7, 2, TK_SET_NARROW }, STATES(STATE(TK_TIME_WAIT)) },
	{ { "KA_APPL", 8, 3, TK_SET_NARROW }, FIELD(ka_applied) },
	{ { "KAERR",   5, 3, TK_SET_NARROW }, .cell = CELL_KA_ERRORS },
	{ { "DEAD",    5, 3, TK_SET_NARROW }, FIELD(dead_peers) },
};
#define NCOLUMNS (sizeof(columns) / sizeof(columns[0]))

static uint64_t u64_at(const void *base, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

/* The value of a count cell (any but CELL_DIR and CELL_RATE). */
static uint64_t count_of(const struct column *c, const struct rowvals *v)
{
	uint64_t n = 0;

	switch (c->cell) {
	case CELL_PORT:
		return v->r->port;
	case CELL_TOTAL:
		return u64_at(&v->t, c->off);
	case CELL_FIELD:
		return u64_at(v->r, c->off);
	case CELL_STATES:
		for (unsigned int s = 0; s < TK_NSTATES; s++)
			if (c->states & STATE(s))
				n += v->r->states[s];
		return n;
	case CELL_KA_ERRORS:
		for (int i = 0; i < TK_OPT_MAX; i++)
			n += v->r->ka_errors[i];
		return n;
	default:
		return 0;
	}
}

static void print_cell(FILE *f, const struct column *c, const struct rowvals *v)
{
	switch (c->cell) {
	case CELL_DIR:
		fprintf(f, "%-*s", c->col.width, tk_dir_name(v->r->dir));
		break;
	case CELL_RATE:
		fprintf(f, "%*.1f", c->col.width, tk_rate(u64_at(&v->t, c->off),
						    u64_at(&v->pt, c->off), v->dt));
		break;
	default:
		fprintf(f, "%*llu", c->col.width, (unsigned long long)count_of(c, v));
		break;
	}
}

/* The headings of set's columns (v NULL), or one row's values. */
static void print_table_line(FILE *f, enum tk_colset set, const struct rowvals *v)
{
	const struct tk_col *prev = NULL;

	for (size_t i = 0; i < NCOLUMNS; i++) {
		const struct column *c = &columns[i];

		if (c->col.set > set)
			continue;
		fprintf(f, "%*s", tk_col_gap(&c->col, prev), "");
		if (v)
			print_cell(f, c, v);
		else
			fprintf(f, c->cell == CELL_DIR ? "%-*s" : "%*s", c->col.width, c->col.head);
		prev = &c->col;
	}
	fputc('\n', f);
}

static void print_row(FILE *f, enum tk_colset set, const struct tk_row *r,
		      const struct tk_row *p, double dt)
{
	struct rowvals v = { .r = r, .dt = dt };

	tk_row_totals(r, &v.t);
	if (p)
		tk_row_totals(p, &v.pt);
	print_table_line(f, set, &v);
}

/* Fields on lines of at most width columns (0: one line), two spaces apart. */
struct packer {
	FILE *f;
	int width;
	int col;
};

__attribute__((format(printf, 2, 3)))
static void pack(struct packer *p, const char *fmt, ...)
{
	char field[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(field, sizeof(field), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (p->col && p->width > 0 && p->col + 2 + n > p->width) {
		fputc('\n', p->f);
		p->col = 0;
	}
	if (p->col) {
		fputs("  ", p->f);
		p->col += 2;
	}
	fputs(field, p->f);
	p->col += n;
}

static void pack_end(struct packer *p)
{
	fputc('\n', p->f);
	p->col = 0;
}

/* Why a namespace was not looked into, as the header says it. */
static const char *netns_reason(int err)
{
	switch (err) {
	case -EPERM:	/* setns(2) into another namespace */
		return "need CAP_SYS_ADMIN";
	case -EACCES:	/* /proc/PID/ns/net: CAP_SYS_PTRACE, or an LSM, refused it */
		return "access denied";
	default:
		return strerror(-err);
	}
}

/* Distinct reasons the header names one by one; the rest are "other". */
#define NETNS_REASONS 3

/*
 * How many namespaces the dump looked into, and why not into the others:
 * always there, however many there are, in fields that wrap as the
 * header's others do rather than one cut at the edge.
 */
static void pack_netns(struct packer *p, const struct tk_snapshot *s)
{
	struct {
		int err;
		uint64_t n;
	} why[NETNS_REASONS] = { 0 };
	uint64_t unvisited = tk_snapshot_netns_unvisited(s), other = 0;
	const char *sep = "";
	char field[160];
	size_t len = 0, nwhy = 0;

	if (!s->nnetns && !s->netns_over)
		return;	/* no dump: the header says states are unavailable */
	for (size_t i = 0; i < s->nnetns; i++) {
		size_t k;

		if (!s->netns[i].err)
			continue;
		for (k = 0; k < nwhy && why[k].err != s->netns[i].err; k++)
			;
		if (k == nwhy && nwhy < NETNS_REASONS)
			why[nwhy++].err = s->netns[i].err;
		if (k < nwhy)
			why[k].n++;
		else
			other++;
	}
	if (!unvisited) {
		pack(p, "netns %llu visited", (unsigned long long)s->nnetns);
	} else {
		pack(p, "netns %llu visited, %llu not",
		     (unsigned long long)tk_snapshot_netns_visited(s),
		     (unsigned long long)unvisited);
		for (size_t k = 0; k < nwhy && len < sizeof(field); k++) {
			len += snprintf(field + len, sizeof(field) - len, "%s%llu %s", sep,
					(unsigned long long)why[k].n, netns_reason(why[k].err));
			sep = ", ";
		}
		if (other && len < sizeof(field)) {
			len += snprintf(field + len, sizeof(field) - len, "%s%llu other", sep,
					(unsigned long long)other);
			sep = ", ";
		}
		if (s->netns_over && len < sizeof(field))
			snprintf(field + len, sizeof(field) - len, "%s%llu past %d", sep,
				 (unsigned long long)s->netns_over, TK_NETNS_MAX);
		pack(p, "(%s)", field);
	}
	/* a namespace only such processes are in is in neither count */
	if (s->netns_unreadable)
		pack(p, "%llu process%s unreadable (access denied)",
		     (unsigned long long)s->netns_unreadable,
		     s->netns_unreadable == 1 ? "" : "es");
}

static void print_header(FILE *f, int width, const struct tk_snapshot *cur, double dt)
{
	struct packer p = { .f = f, .width = width };
	char when[32];
	time_t t = (time_t)cur->wall_s;
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	pack(&p, "tcpkeep %s", when);
	pack(&p, "observer %s", cur->attach_mode);
	pack(&p, "enforcer %s", cur->enforcer_ok ? "on" : "off");
	pack(&p, "interval %.1fs", dt);
	pack_end(&p);
	pack(&p, "missed %llu (kernel skipped %llu, caught %llu, map full %llu)",
	     (unsigned long long)tk_snapshot_missed(cur),
	     (unsigned long long)cur->recursion_misses,
	     (unsigned long long)cur->nested_caught,
	     (unsigned long long)(tk_snapshot_missed(cur) - tk_snapshot_kernel_missed(cur)));
	pack(&p, "unattributed %llu", (unsigned long long)cur->uncounted[TK_UNC_UNATTRIBUTED]);
	pack(&p, "untracked lifetimes %llu",
	     (unsigned long long)cur->uncounted[TK_UNC_UNTRACKED]);
	pack_netns(&p, cur);
	if (!cur->states_ok)
		pack(&p, "[current states unavailable]");
	if (!cur->lifetimes_ok)
		pack(&p, "[no lifetimes]");
	if (!cur->dead_peers_ok)
		pack(&p, "[dead peers unavailable]");
	pack_end(&p);
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

/* What a frame may fill, and the frame so far. */
struct frame {
	FILE *f;
	const char *const *buf;	/* on a terminal: f's memory, to count lines */
	const size_t *len;
	int width, height;	/* 0: no limit */
	enum tk_colset set;
};

static int count_lines(const char *s, size_t len)
{
	int n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	return n;
}

static int frame_lines(const struct frame *fr)
{
	fflush(fr->f);
	return count_lines(*fr->buf, *fr->len);
}

static void print_histogram(FILE *f, const struct tk_row *r, unsigned int bar)
{
	uint64_t n = tk_row_hist_count(r);
	char mean[32];

	fmt_duration(mean, sizeof(mean), (double)r->sum_us / n);
	fprintf(f, "\nport %u %s: connection lifetime, %llu closed, mean %s\n",
		r->port, tk_dir_name(r->dir), (unsigned long long)n, mean);
	tk_hist_print(f, r->slots, TK_HIST_SLOTS, "usecs", bar);
}

/*
 * Whether r's histogram fits below what the frame has, leaving room for
 * the two lines saying how many more were left out when others follow.
 */
static bool histogram_fits(const struct frame *fr, const struct tk_row *r,
			   unsigned int bar, bool others)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	int need;

	if (fr->height <= 0)
		return true;
	m = open_memstream(&buf, &len);
	if (!m)
		return false;
	print_histogram(m, r, bar);
	fclose(m);
	need = count_lines(buf, len) + (others ? 2 : 0);
	free(buf);
	return frame_lines(fr) + need <= fr->height;
}

static void print_histograms(const struct frame *fr, const struct tk_snapshot *cur)
{
	unsigned int bar = tk_hist_bar_for(fr->width);
	size_t todo = 0, left_out = 0;

	for (size_t i = 0; i < cur->nrows; i++)
		todo += tk_row_hist_count(&cur->rows[i]) != 0;
	for (size_t i = 0; i < cur->nrows && todo; i++) {
		const struct tk_row *r = &cur->rows[i];

		if (!tk_row_hist_count(r))
			continue;
		todo--;
		if (!left_out && bar && histogram_fits(fr, r, bar, todo))
			print_histogram(fr->f, r, bar);
		else
			left_out++;
	}
	if (left_out)
		fprintf(fr->f, "\n(%zu lifetime histogram%s left out: enlarge the terminal)\n",
			left_out, left_out == 1 ? "" : "s");
}

/* Lines left below the frame so far, keeping reserve (INT_MAX: no height). */
static int room(const struct frame *fr, int reserve)
{
	if (fr->height <= 0)
		return INT_MAX;
	return fr->height - frame_lines(fr) - reserve;
}

/* Of n entries after fixed lines, as many as the room has, at least one. */
static size_t fitting(const struct frame *fr, int reserve, int fixed, size_t n)
{
	int left = room(fr, reserve) - fixed;

	if (left < 1)
		return n ? 1 : 0;
	return (size_t)left < n ? (size_t)left : n;
}

/* The state columns of the table, whatever the set: what --netns breaks down. */
static bool ns_column(const struct column *c)
{
	return c->cell == CELL_PORT || c->cell == CELL_DIR || c->cell == CELL_STATES;
}

/* Its headings (r NULL) or one namespace's states, then the namespace. */
static void print_ns_line(FILE *f, const struct tk_snapshot *s, const struct tk_ns_row *r)
{
	const struct tk_col *prev = NULL;
	struct tk_row row = { 0 };
	struct rowvals v = { .r = &row };
	char name[32];

	if (r) {
		row.port = r->port;
		row.dir = r->dir;
		memcpy(row.states, r->states, sizeof(row.states));
	}
	for (size_t i = 0; i < NCOLUMNS; i++) {
		const struct column *c = &columns[i];

		if (!ns_column(c))
			continue;
		fprintf(f, "%*s", tk_col_gap(&c->col, prev), "");
		if (r)
			print_cell(f, c, &v);
		else
			fprintf(f, c->cell == CELL_DIR ? "%-*s" : "%*s", c->col.width, c->col.head);
		prev = &c->col;
	}
	fprintf(f, "  %s\n", r ? tk_netns_label(s, r->ns, name, sizeof(name)) : "NETNS");
}

struct ns_order {
	uint32_t rank, ns;
	size_t i;
};

static int ns_order_cmp(const void *a, const void *b)
{
	const struct ns_order *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->ns != y->ns)
		return x->ns < y->ns ? -1 : 1;
	return 0;
}

/*
 * --netns: each row's current states per namespace, in the table's order.
 * Only the dump knows namespaces; the counters above sum them all.
 */
static void print_ns_rows(const struct frame *fr, const struct tk_snapshot *s, int reserve)
{
	struct ns_order *order;
	uint32_t *rank;
	size_t show;

	if (!s->want_ns_rows)
		return;
	fputs("\nper namespace  (states now; the counters above sum every namespace)\n", fr->f);
	print_ns_line(fr->f, s, NULL);
	if (!s->nns_rows) {
		fputs("(no sockets of these ports in any namespace)\n", fr->f);
		return;
	}
	show = fitting(fr, reserve, 0, s->nns_rows);
	if (show < s->nns_rows)	/* and the line saying so */
		show = show > 1 ? show - 1 : 1;
	rank = calloc(2 * TK_PORTS, sizeof(*rank));
	order = malloc(s->nns_rows * sizeof(*order));
	for (size_t i = 0; rank && i < s->nrows; i++)
		rank[s->rows[i].port << 1 | s->rows[i].dir] = (uint32_t)i;
	for (size_t i = 0; order && i < s->nns_rows; i++) {
		const struct tk_ns_row *r = &s->ns_rows[i];

		order[i] = (struct ns_order){
			.rank = rank ? rank[r->port << 1 | r->dir] : 0, .ns = r->ns, .i = i,
		};
	}
	/* out of memory: in the dump's order, which is no worse a list */
	if (order)
		qsort(order, s->nns_rows, sizeof(*order), ns_order_cmp);
	for (size_t i = 0; i < show; i++)
		print_ns_line(fr->f, s, &s->ns_rows[order ? order[i].i : i]);
	if (show < s->nns_rows)
		fprintf(fr->f, "(%zu more: enlarge the terminal or use --json)\n",
			s->nns_rows - show);
	free(order);
	free(rank);
}

/* The view's share of the top lists; --json has every entry kept. */
#define VIEW_DESTS	5
#define VIEW_LISTENERS	5
/* A destination past this share of its range gets the hint. */
#define PRESSURE_HINT	0.5

/* "local -> remote:port" of a destination into buf; its length. */
static size_t dest_label(const struct tk_dest *d, char *buf, size_t len)
{
	char a[TK_ADDR_LEN];
	int n = snprintf(buf, len, "%s -> ", tk_addr_name(d->family, d->laddr, a, sizeof(a)));

	tk_endpoint_name(buf + n, len - (size_t)n, d->family, d->raddr, d->rport);
	return strlen(buf);
}

static void print_pressure(const struct frame *fr, const struct tk_snapshot *s, int reserve)
{
	bool hint = s->ndests && s->dests[0].share > PRESSURE_HINT;
	char dest[2 * TK_ADDR_LEN + 16], name[32];
	size_t show = s->ndests < VIEW_DESTS ? s->ndests : VIEW_DESTS;
	int width = (int)strlen("DESTINATION");

	if (!s->ndests && !s->dests_untracked)
		return;
	show = fitting(fr, reserve, 3 + hint + !!s->dests_untracked, show);
	for (size_t i = 0; i < show; i++)
		if ((int)dest_label(&s->dests[i], dest, sizeof(dest)) > width)
			width = (int)strlen(dest);
	/* each share is of its own namespace's range: they may differ */
	fputs("\nport pressure  (local ports in use per destination, worst first)\n", fr->f);
	fprintf(fr->f, " SHARE   USED TIMEWT  RANGE  %-*s  NETNS\n", width, "DESTINATION");
	for (size_t i = 0; i < show; i++) {
		const struct tk_dest *d = &s->dests[i];

		dest_label(d, dest, sizeof(dest));
		fprintf(fr->f, "%5.1f%% %6u %6u  %5u  %-*s  %s\n", 100 * d->share, d->used,
			d->time_wait, d->range, width, dest,
			tk_netns_label(s, d->ns, name, sizeof(name)));
	}
	if (s->dests_untracked)
		fprintf(fr->f, "(%llu sockets past the destinations one dump holds: not ranked)\n",
			(unsigned long long)s->dests_untracked);
	if (hint)
		fputs("hint: over half of a local port range in use: see README, "
		      "\"Port pressure\"\n", fr->f);
}

static void print_queues(const struct frame *fr, const struct tk_snapshot *s, int reserve)
{
	char addr[TK_ADDR_LEN + 16], name[32];
	size_t show = s->nlisteners < VIEW_LISTENERS ? s->nlisteners : VIEW_LISTENERS;
	int width = (int)strlen("LISTENER");

	if (!s->nlisteners && !s->listeners_untracked)
		return;
	show = fitting(fr, reserve, 3 + !!s->listeners_untracked, show);
	for (size_t i = 0; i < show; i++) {
		const struct tk_listener *l = &s->listeners[i];

		tk_endpoint_name(addr, sizeof(addr), l->family, l->addr, l->port);
		if ((int)strlen(addr) > width)
			width = (int)strlen(addr);
	}
	fputs("\naccept queues  (fullest first; the kernel drops connections past the "
	      "limit)\n", fr->f);
	fprintf(fr->f, " QUEUE  LIMIT   FULL  %-*s  NETNS\n", width, "LISTENER");
	for (size_t i = 0; i < show; i++) {
		const struct tk_listener *l = &s->listeners[i];

		tk_endpoint_name(addr, sizeof(addr), l->family, l->addr, l->port);
		fprintf(fr->f, "%6u %6u %5.1f%%  %-*s  %s\n", l->queue, l->limit,
			100 * l->share, width, addr, tk_netns_label(s, l->ns, name, sizeof(name)));
	}
	if (s->listeners_untracked)
		fprintf(fr->f, "(%llu listeners past those one dump holds: not ranked)\n",
			(unsigned long long)s->listeners_untracked);
}

/*
 * The fewest lines a section takes: blank, title, headings, one entry and
 * the notes under it. The sections before it leave these, so that the
 * hint and the fullest listener stay in view.
 */
static int pressure_lines(const struct tk_snapshot *s)
{
	if (!s->ndests && !s->dests_untracked)
		return 0;
	return 3 + !!s->ndests + !!s->dests_untracked +
	       (s->ndests && s->dests[0].share > PRESSURE_HINT);
}

static int queues_lines(const struct tk_snapshot *s)
{
	if (!s->nlisteners && !s->listeners_untracked)
		return 0;
	return 3 + !!s->nlisteners + !!s->listeners_untracked;
}

/* Lines the histograms keep for saying how many were left out. */
static int histogram_reserve(const struct tk_snapshot *s, const struct tk_render_opts *o)
{
	for (size_t i = 0; o->histograms && i < s->nrows; i++)
		if (tk_row_hist_count(&s->rows[i]))
			return 2;
	return 0;
}

/*
 * --audit: asked for, so before the lifetime histograms, in the lines the
 * sections above leave (they keep TK_AUDIT_VIEW_MIN of them).
 */
static void print_audit(const struct frame *fr, const struct tk_snapshot *s, int reserve)
{
	int left = room(fr, reserve);

	fputc('\n', fr->f);
	if (left == INT_MAX)
		left = 0;
	else if (--left < TK_AUDIT_VIEW_MIN)
		left = TK_AUDIT_VIEW_MIN;
	tk_render_audit_view(fr->f, s, fr->width, left);
}

static void render(const struct frame *fr, const struct tk_snapshot *cur,
		   const struct tk_snapshot *prev, const struct tk_render_opts *o)
{
	double dt = prev ? cur->mono_s - prev->mono_s : 0;
	size_t hidden = tk_cols_hidden(TK_COLS(columns), fr->set);
	int reserve, audit;

	print_header(fr->f, fr->width, cur, dt);
	fputc('\n', fr->f);
	print_table_line(fr->f, fr->set, NULL);
	for (size_t i = 0; i < cur->nrows; i++) {
		const struct tk_row *r = &cur->rows[i];

		print_row(fr->f, fr->set, r,
			  prev ? tk_snapshot_find(prev, r->port, r->dir) : NULL, dt);
	}
	if (!cur->nrows)
		fprintf(fr->f, "(no TCP activity seen yet)\n");
	if (hidden)
		fprintf(fr->f, "(%zu columns hidden: widen the terminal to %d or use --json)\n",
			hidden, tk_cols_width(TK_COLS(columns), TK_SET_FULL));
	reserve = histogram_reserve(cur, o);
	audit = o->audit ? 1 + TK_AUDIT_VIEW_MIN : 0;
	print_ns_rows(fr, cur, reserve + audit + pressure_lines(cur) + queues_lines(cur));
	print_pressure(fr, cur, reserve + audit + queues_lines(cur));
	print_queues(fr, cur, reserve + audit);
	if (cur->npolicy) {
		fputc('\n', fr->f);
		tk_render_policy_text(fr->f, cur);
	}
	if (o->audit)
		print_audit(fr, cur, reserve);
	if (o->histograms)
		print_histograms(fr, cur);
}

/*
 * The frame over the last one, from the top-left corner: each line cut at
 * the width and cleared to its end, no more lines than the height, the
 * last line on screen without a newline (so nothing scrolls), and below
 * the frame cleared. Clearing the whole screen for every frame would push
 * each into the terminal's scrollback; it is done when asked.
 */
static void draw_on_terminal(FILE *f, const char *buf, int width, int height, bool clear)
{
	int lines = 0;

	fputs(clear ? "\033[H\033[2J" : "\033[H", f);
	for (const char *p = buf; *p && (height <= 0 || lines < height); lines++) {
		const char *nl = strchrnul(p, '\n');
		int cols;

		fwrite(p, 1, tk_text_fit(p, nl - p, width, &cols), f);
		if (width <= 0 || cols < width)
			fputs("\033[K", f);
		if (*nl && (height <= 0 || lines < height - 1))
			fputc('\n', f);
		p = *nl ? nl + 1 : nl;
	}
	if (height <= 0 || lines < height)
		fputs("\033[J", f);
}

void tk_render_text(FILE *f, const struct tk_snapshot *cur,
		    const struct tk_snapshot *prev, const struct tk_render_opts *o)
{
	struct frame fr = {
		.f = f, .width = o->width, .height = o->height,
		.set = tk_cols_fit(TK_COLS(columns), o->width),
	};
	char *buf = NULL;
	size_t len = 0;

	if (o->width <= 0 && o->height <= 0) {
		render(&fr, cur, prev, o);
		return;
	}
	fr.f = open_memstream(&buf, &len);
	if (!fr.f) {	/* out of memory: the frame as on a pipe, from the top */
		fr.f = f;
		fr.height = 0;
		fputs("\033[H\033[2J", f);
		render(&fr, cur, prev, o);
		return;
	}
	fr.buf = (const char *const *)&buf;
	fr.len = &len;
	render(&fr, cur, prev, o);
	fclose(fr.f);
	draw_on_terminal(f, buf, o->width, o->height, o->clear);
	free(buf);
}
