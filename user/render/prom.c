// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prometheus text exposition (format 0.0.4) of a snapshot, with a bound on
 * its series that follows from the tables below (README: Cardinality).
 * Labels are port, direction, states and option names only. Ports outside
 * the exported set (policy, local listener, --ports) fold into
 * port="other"; a port once exported, and a state gauge once non-zero,
 * stay for the life of the process, so no series comes and goes.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/hist.h"
#include "core/policy.h"
#include "render/render.h"

#define U(x) ((unsigned long long)(x))
#define OTHER_PORT 0		/* port 0 never is a row: it stands for "other" */
#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The (from, to) pairs Linux's TCP reports on sock:inet_sock_set_state:
 * tcp_set_state's callers, the listener's child made by
 * inet_csk_clone_lock, tcp_done's CLOSE from wherever a socket was, and
 * close() on a socket already half-closed (tcp_close_state keeps the
 * state). TIME_WAIT never shows: the timewait socket replaces the full
 * one, which goes to CLOSE. Any other pair is exported as
 * from_state="other",to_state="other", so the bound is this table's.
 */
static const uint8_t known_trans[][2] = {
	{ TK_CLOSE, TK_SYN_SENT },		/* connect() */
	{ TK_CLOSE, TK_LISTEN },		/* listen() */
	{ TK_CLOSE, TK_CLOSE },			/* tcp_done on a closed socket */
	{ TK_LISTEN, TK_SYN_RECV },		/* a child cloned from the listener */
	{ TK_LISTEN, TK_CLOSE },		/* close(), a failed listen() */
	{ TK_SYN_SENT, TK_ESTABLISHED },
	{ TK_SYN_SENT, TK_SYN_RECV },		/* simultaneous open */
	{ TK_SYN_SENT, TK_CLOSE },		/* refused, timed out, closed */
	{ TK_SYN_RECV, TK_ESTABLISHED },
	{ TK_SYN_RECV, TK_FIN_WAIT1 },		/* a Fast Open child closed */
	{ TK_SYN_RECV, TK_CLOSE_WAIT },		/* tcp_fin */
	{ TK_SYN_RECV, TK_CLOSE },
	{ TK_ESTABLISHED, TK_FIN_WAIT1 },
	{ TK_ESTABLISHED, TK_CLOSE_WAIT },
	{ TK_ESTABLISHED, TK_CLOSE },		/* reset, abort, unread data */
	{ TK_FIN_WAIT1, TK_FIN_WAIT1 },		/* close() after shutdown() */
	{ TK_FIN_WAIT1, TK_FIN_WAIT2 },
	{ TK_FIN_WAIT1, TK_CLOSING },
	{ TK_FIN_WAIT1, TK_CLOSE },
	{ TK_FIN_WAIT2, TK_FIN_WAIT2 },
	{ TK_FIN_WAIT2, TK_CLOSE },		/* tcp_time_wait */
	{ TK_CLOSING, TK_CLOSING },
	{ TK_CLOSING, TK_CLOSE },
	{ TK_CLOSE_WAIT, TK_LAST_ACK },
	{ TK_CLOSE_WAIT, TK_CLOSE },
	{ TK_LAST_ACK, TK_LAST_ACK },
	{ TK_LAST_ACK, TK_CLOSE },
};

/*
 * The exported histogram's buckets, each the last kernel slot it takes.
 * Slot i ends at 2^(i+1) us (core/hist.h), so every le is a slot boundary
 * and every cumulative count exact: 1.024 ms, 16 ms, 131 ms, 1.05 s,
 * 4.2 s, 17 s, 67 s, 4.5 min, 18 min, 72 min, 4.8 h and 19 h, where the
 * kernel's overflow slot begins; that one is +Inf only. The terminal and
 * JSON keep every log2 slot.
 */
static const uint8_t le_slots[] = { 9, 13, 16, 19, 21, 23, 25, 27, 29, 31, 33, 35 };
_Static_assert(TK_HIST_OVERFLOW == 36, "le_slots end where the overflow slot begins");

#define SEEN_ROW 1u	/* seen[][] bit 0: the row was exported; bit st: state st was non-zero */
#define PORT_WORDS (TK_PORTS / 64)

struct tk_prom_memory {
	uint64_t exported[PORT_WORDS];	/* ports with series of their own */
	uint64_t policed[PORT_WORDS];	/* ports that had a policy in force */
	uint16_t seen[TK_PORTS][2];	/* by port and direction */
};
_Static_assert(TK_NSTATES <= 16, "a state's bit fits seen[][]");

struct tk_prom_memory *tk_prom_memory_new(void)
{
	return calloc(1, sizeof(struct tk_prom_memory));
}

void tk_prom_memory_free(struct tk_prom_memory *m)
{
	free(m);
}

static bool bit_test(const uint64_t *set, unsigned int i)
{
	return set[i / 64] >> (i % 64) & 1;
}

static void bit_set(uint64_t *set, unsigned int i)
{
	set[i / 64] |= 1ULL << (i % 64);
}

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
	/* "other" has the worst destination and the fullest listener of the
	 * ports it folds: a sum of shares of different ranges means nothing */
	tk_row_offer_eph(dst, src->eph_share, src->eph_used);
	tk_row_add_listeners(dst, src->listeners, src->queue, src->queue_limit);
	tk_audit_row_merge(&dst->au, &src->au);
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

/* Ports joining the exported set: policy (even "off"), listeners, --ports. */
static void remember_ports(struct tk_prom_memory *m, const struct tk_snapshot *s,
			   const bool *ports)
{
	for (size_t i = 0; i < s->npolicy; i++) {
		bit_set(m->exported, s->policy[i].port);
		if (!s->policy[i].pol.off)
			bit_set(m->policed, s->policy[i].port);
	}
	for (size_t i = 0; i < s->nrows; i++)
		if (s->rows[i].dir == TK_DIR_IN && s->rows[i].states[TK_LISTEN])
			bit_set(m->exported, s->rows[i].port);
	for (unsigned int p = 1; ports && p < TK_PORTS; p++)
		if (ports[p])
			bit_set(m->exported, p);
}

/* Rows exported before and absent now come back, zeroed. */
static int keep_rows(const struct tk_prom_memory *m, struct tk_snapshot *out)
{
	for (unsigned int p = 0; p < TK_PORTS; p++) {
		if (p % 64 == 0 && p != OTHER_PORT && !m->exported[p / 64]) {
			p += 63;	/* none of this word's ports */
			continue;
		}
		if (p != OTHER_PORT && !bit_test(m->exported, p))
			continue;
		for (uint8_t dir = TK_DIR_IN; dir <= TK_DIR_OUT; dir++)
			if (m->seen[p][dir] & SEEN_ROW && !tk_snapshot_row(out, p, dir))
				return -1;
	}
	return 0;
}

static void remember_rows(struct tk_prom_memory *m, const struct tk_snapshot *out)
{
	for (size_t i = 0; i < out->nrows; i++) {
		const struct tk_row *r = &out->rows[i];
		uint16_t *seen = &m->seen[r->port][r->dir];

		*seen |= SEEN_ROW;
		for (int st = 1; out->states_ok && st <= TK_LAST_DUMP_STATE; st++)
			if (r->states[st])
				*seen |= 1u << st;
	}
}

/* The rows to export: exported ports as they are, the rest summed. */
static int fold_rows(const struct tk_snapshot *s, struct tk_prom_memory *m,
		     struct tk_snapshot *out)
{
	tk_snapshot_init(out);
	out->states_ok = s->states_ok;
	for (size_t i = 0; i < s->nrows; i++) {
		const struct tk_row *r = &s->rows[i];
		uint16_t port = bit_test(m->exported, r->port) ? r->port : OTHER_PORT;
		struct tk_row *d = tk_snapshot_row(out, port, r->dir);

		if (!d)
			return -1;
		add_row(d, r);
	}
	if (keep_rows(m, out))
		return -1;
	remember_rows(m, out);
	qsort(out->rows, out->nrows, sizeof(*out->rows), row_order);
	return 0;
}

static bool known_pair(unsigned int from, unsigned int to)
{
	for (size_t i = 0; i < NELEMS(known_trans); i++)
		if (known_trans[i][0] == from && known_trans[i][1] == to)
			return true;
	return false;
}

static void transition(FILE *f, const struct tk_row *r, const char *from, const char *to,
		       uint64_t n)
{
	char port[8];

	port_label(port, sizeof(port), r->port);
	fprintf(f, "tcpkeep_transitions_total{port=\"%s\",direction=\"%s\","
		"from_state=\"%s\",to_state=\"%s\"} %llu\n", port, tk_dir_name(r->dir),
		from, to, U(n));
}

static void transitions(FILE *f, const struct tk_snapshot *s)
{
	family(f, "tcpkeep_transitions_total", "counter",
	       "TCP state transitions by service port and direction since tcpkeep attached.");
	for (size_t i = 0; i < s->nrows; i++) {
		const struct tk_row *r = &s->rows[i];
		uint64_t other = 0;

		for (int a = 0; a < TK_NSTATES; a++) {
			for (int b = 0; b < TK_NSTATES; b++) {
				char from[24], to[24];

				if (!r->trans[a][b])
					continue;
				if (!known_pair(a, b)) {
					other += r->trans[a][b];
					continue;
				}
				lower(from, tk_state_name(a), sizeof(from));
				lower(to, tk_state_name(b), sizeof(to));
				transition(f, r, from, to, r->trans[a][b]);
			}
		}
		if (other)
			transition(f, r, "other", "other", other);
	}
}

static void connections(FILE *f, const struct tk_snapshot *s,
			const struct tk_prom_memory *m)
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

			/* from its first non-zero value on: never an all-zero
			 * block, never a series that comes and goes */
			if (!(m->seen[r->port][r->dir] & 1u << st))
				continue;
			lower(name, tk_state_name(st), sizeof(name));
			fprintf(f, "tcpkeep_connections{port=\"%s\",direction=\"%s\",state=\"%s\"} "
				"%llu\n", port, tk_dir_name(r->dir), name, U(r->states[st]));
		}
	}
}

/*
 * Port pressure from the dump, like the state gauges: none without it. Out
 * rows: the worst destination on the remote port (ephemeral ports per
 * local address, remote address and port, in its namespace). In rows, once
 * the port has had a listener: its fullest accept queue, 0 while none.
 */
static void pressure(FILE *f, const struct tk_snapshot *s, const struct tk_prom_memory *m)
{
	char port[8], num[40];

	if (!s->states_ok)
		return;
	family(f, "tcpkeep_ephemeral_ports_used_ratio", "gauge",
	       "Share of its namespace's local port range that the worst destination on this "
	       "remote port holds.");
	for (size_t i = 0; i < s->nrows; i++) {
		const struct tk_row *r = &s->rows[i];

		if (r->dir != TK_DIR_OUT)
			continue;
		port_label(port, sizeof(port), r->port);
		fmt_float(num, sizeof(num), r->eph_share);
		fprintf(f, "tcpkeep_ephemeral_ports_used_ratio{port=\"%s\"} %s\n", port, num);
	}
	family(f, "tcpkeep_ephemeral_ports_used", "gauge",
	       "Local ports the worst destination on this remote port holds, TIME_WAIT included.");
	for (size_t i = 0; i < s->nrows; i++) {
		const struct tk_row *r = &s->rows[i];

		if (r->dir != TK_DIR_OUT)
			continue;
		port_label(port, sizeof(port), r->port);
		fprintf(f, "tcpkeep_ephemeral_ports_used{port=\"%s\"} %u\n", port, r->eph_used);
	}
	family(f, "tcpkeep_listen_queue_length", "gauge",
	       "Connections waiting for accept() on the port's fullest listener.");
	for (size_t i = 0; i < s->nrows; i++) {
		const struct tk_row *r = &s->rows[i];

		if (r->dir != TK_DIR_IN || !(m->seen[r->port][r->dir] & 1u << TK_LISTEN))
			continue;
		port_label(port, sizeof(port), r->port);
		fprintf(f, "tcpkeep_listen_queue_length{port=\"%s\"} %u\n", port, r->queue);
	}
	family(f, "tcpkeep_listen_queue_limit", "gauge",
	       "Accept queue limit (the backlog) of the port's fullest listener.");
	for (size_t i = 0; i < s->nrows; i++) {
		const struct tk_row *r = &s->rows[i];

		if (r->dir != TK_DIR_IN || !(m->seen[r->port][r->dir] & 1u << TK_LISTEN))
			continue;
		port_label(port, sizeof(port), r->port);
		fprintf(f, "tcpkeep_listen_queue_limit{port=\"%s\"} %u\n", port, r->queue_limit);
	}
}

static void bucket(FILE *f, const char *port, const struct tk_row *r, const char *le,
		   uint64_t cum)
{
	fprintf(f, "tcpkeep_connection_duration_seconds_bucket{port=\"%s\",direction=\"%s\","
		"le=\"%s\"} %llu\n", port, tk_dir_name(r->dir), le, U(cum));
}

static void durations(FILE *f, const struct tk_snapshot *s)
{
	family(f, "tcpkeep_connection_duration_seconds", "histogram",
	       "Connection lifetimes, from the first state to CLOSE.");
	for (size_t i = 0; i < s->nrows; i++) {
		const struct tk_row *r = &s->rows[i];
		unsigned int slot = 0;
		uint64_t cum = 0;
		char port[8], num[40];

		port_label(port, sizeof(port), r->port);
		for (size_t b = 0; b < NELEMS(le_slots); b++) {
			for (; slot <= le_slots[b]; slot++)
				cum += r->slots[slot];
			fmt_float(num, sizeof(num), (double)tk_hist_high(le_slots[b]) / 1e6);
			bucket(f, port, r, num, cum);
		}
		for (; slot < TK_HIST_SLOTS; slot++)
			cum += r->slots[slot];
		bucket(f, port, r, "+Inf", cum);
		fmt_float(num, sizeof(num), (double)r->sum_us / 1e6);
		fprintf(f, "tcpkeep_connection_duration_seconds_sum{port=\"%s\",direction=\"%s\"} "
			"%s\n", port, tk_dir_name(r->dir), num);
		fprintf(f, "tcpkeep_connection_duration_seconds_count{port=\"%s\",direction=\"%s\"} "
			"%llu\n", port, tk_dir_name(r->dir), U(cum));
	}
}

/* The enforcer acts on policy ports only: no keepalive series elsewhere. */
static void keepalive(FILE *f, const struct tk_snapshot *s, const struct tk_prom_memory *m)
{
	family(f, "tcpkeep_keepalive_applied_total", "counter",
	       "Connections the keepalive policy was set on.");
	for (size_t i = 0; i < s->nrows; i++) {
		if (s->rows[i].port == OTHER_PORT || !bit_test(m->policed, s->rows[i].port))
			continue;
		fprintf(f, "tcpkeep_keepalive_applied_total{port=\"%u\",direction=\"%s\"} %llu\n",
			s->rows[i].port, tk_dir_name(s->rows[i].dir), U(s->rows[i].ka_applied));
	}
	family(f, "tcpkeep_keepalive_errors_total", "counter",
	       "Keepalive options the kernel refused to set, by option.");
	for (size_t i = 0; i < s->nrows; i++) {
		if (s->rows[i].port == OTHER_PORT || !bit_test(m->policed, s->rows[i].port))
			continue;
		for (int o = 0; o < TK_OPT_MAX; o++)
			fprintf(f, "tcpkeep_keepalive_errors_total{port=\"%u\",direction=\"%s\","
				"option=\"%s\"} %llu\n", s->rows[i].port, tk_dir_name(s->rows[i].dir),
				tk_opt_name(o), U(s->rows[i].ka_errors[o]));
	}
}

static void dead_peers(FILE *f, const struct tk_snapshot *s)
{
	family(f, "tcpkeep_dead_peers_total", "counter",
	       "Connections aborted by the keepalive or user timeout (ETIMEDOUT).");
	for (size_t i = 0; i < s->nrows; i++) {
		char port[8];

		port_label(port, sizeof(port), s->rows[i].port);
		fprintf(f, "tcpkeep_dead_peers_total{port=\"%s\",direction=\"%s\"} %llu\n",
			port, tk_dir_name(s->rows[i].dir), U(s->rows[i].dead_peers));
	}
}

/* The series of row r, name{port="",direction="" left open for more labels. */
static void row_series(FILE *f, const char *name, const struct tk_row *r)
{
	char port[8];

	port_label(port, sizeof(port), r->port);
	fprintf(f, "%s{port=\"%s\",direction=\"%s\"", name, port, tk_dir_name(r->dir));
}

/*
 * The audit, per exported row like the rest and without addresses: every
 * series of a row at once, zeros included, so none comes and goes while
 * the audit works; none when it does not (tcpkeep_audit_available says
 * which), rather than zeros that read as "all is well".
 */
static void audit(FILE *f, const struct tk_snapshot *s, bool ok)
{
	char num[40];

	if (ok) {
		family(f, "tcpkeep_established_keepalive", "gauge",
		       "Established connections now by the keepalive they run with: off, the "
		       "kernel's defaults, the port's policy or other values.");
		for (size_t i = 0; i < s->nrows; i++) {
			for (int k = 0; k < TK_KA_NSTATES; k++) {
				row_series(f, "tcpkeep_established_keepalive", &s->rows[i]);
				fprintf(f, ",state=\"%s\"} %llu\n", tk_ka_state_name(k),
					U(s->rows[i].au.ka[k]));
			}
		}
		family(f, "tcpkeep_connections_idle_seconds", "histogram",
		       "Established connections now by the time since their peer was last heard "
		       "from: a distribution of this moment, not counts since start.");
		for (size_t i = 0; i < s->nrows; i++) {
			const struct tk_row *r = &s->rows[i];

			for (int b = 0; b < TK_IDLE_NBUCKETS; b++) {
				row_series(f, "tcpkeep_connections_idle_seconds_bucket", r);
				fprintf(f, ",le=\"%u\"} %llu\n", tk_idle_buckets[b],
					U(r->au.idle_le[b]));
			}
			row_series(f, "tcpkeep_connections_idle_seconds_bucket", r);
			fprintf(f, ",le=\"+Inf\"} %llu\n", U(r->au.established));
			fmt_float(num, sizeof(num), r->au.idle_sum_s);
			row_series(f, "tcpkeep_connections_idle_seconds_sum", r);
			fprintf(f, "} %s\n", num);
			row_series(f, "tcpkeep_connections_idle_seconds_count", r);
			fprintf(f, "} %llu\n", U(r->au.established));
		}
		family(f, "tcpkeep_stuck_writers", "gauge",
		       "Connections retransmitting to a peer that has sent no ACK for "
		       "--stuck-after seconds (default 10).");
		for (size_t i = 0; i < s->nrows; i++) {
			row_series(f, "tcpkeep_stuck_writers", &s->rows[i]);
			fprintf(f, "} %llu\n", U(s->rows[i].au.stuck));
		}
		family(f, "tcpkeep_stuck_writer_oldest_seconds", "gauge",
		       "Seconds the longest stuck writer has been retransmitting; 0 while none is.");
		for (size_t i = 0; i < s->nrows; i++) {
			fmt_float(num, sizeof(num), s->rows[i].au.stuck_oldest_s);
			row_series(f, "tcpkeep_stuck_writer_oldest_seconds", &s->rows[i]);
			fprintf(f, "} %s\n", num);
		}
	}
	family(f, "tcpkeep_audit_available", "gauge",
	       "1 if the audit of established connections worked for this scrape, 0 if not "
	       "(it needs CAP_BPF and CAP_PERFMON).");
	fprintf(f, "tcpkeep_audit_available %d\n", ok ? 1 : 0);
}

/* Every policy port is exported: its gauges while the policy is in force. */
static void policy(FILE *f, const struct tk_snapshot *s)
{
	for (int k = 0; k < TK_POL_NKEYS; k++) {
		const struct tk_policy_field *g = &tk_policy_fields[k];

		family(f, g->metric, "gauge", g->help);
		for (size_t i = 0; i < s->npolicy; i++) {
			const struct tk_policy_row *p = &s->policy[i];

			if (p->pol.off)
				continue;	/* exempt: no policy in force */
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
	/* no range without a dump: better no gauge than a false zero */
	if (s->eph_range) {
		family(f, "tcpkeep_local_port_range_size", "gauge",
		       "Ports in net.ipv4.ip_local_port_range of tcpkeep's own network namespace.");
		fprintf(f, "tcpkeep_local_port_range_size %u\n", s->eph_range);
	}
	family(f, "tcpkeep_netns_visited", "gauge",
	       "Network namespaces whose sockets the last dump read.");
	fprintf(f, "tcpkeep_netns_visited %llu\n",
		U(tk_snapshot_netns_visited(s)));
	family(f, "tcpkeep_netns_unvisited", "gauge",
	       "Network namespaces found but not read: refused (capabilities), failed, or past "
	       "the limit.");
	fprintf(f, "tcpkeep_netns_unvisited %llu\n", U(tk_snapshot_netns_unvisited(s)));
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

	remember_ports(o->mem, s, o->ports);
	if (fold_rows(s, o->mem, &folded)) {
		tk_snapshot_free(&folded);
		return -1;
	}
	transitions(f, &folded);
	connections(f, &folded, o->mem);
	pressure(f, &folded, o->mem);
	durations(f, &folded);
	keepalive(f, &folded, o->mem);
	dead_peers(f, &folded);
	audit(f, &folded, s->audit_ok);
	policy(f, s);
	health(f, s, o);
	tk_snapshot_free(&folded);
	return 0;
}
