// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the parts of tcpkeep that need no kernel: number and port
 * parsing, histogram slots and drawing, derived totals, JSON rendering.
 * Prints "N passed, N failed" and exits non-zero on any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/hist.h"
#include "core/parse.h"
#include "core/policy.h"
#include "render/render.h"
#include "core/snapshot.h"
/* the attribution rule and the socket dump's parser */
#include <errno.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include "attrib.h"
#include "core/diag.h"

static int passed, failed;

#define CHECK(cond) do {						\
	if (cond) {							\
		passed++;						\
	} else {							\
		failed++;						\
		fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	}								\
} while (0)

static void test_parse_ulong(void)
{
	unsigned long v = 0;

	CHECK(tk_parse_ulong("993", 1, 65535, &v) == 0 && v == 993);
	CHECK(tk_parse_ulong("65535", 1, 65535, &v) == 0 && v == 65535);
	CHECK(tk_parse_ulong("65536", 1, 65535, &v) == -1);
	CHECK(tk_parse_ulong("0", 1, 65535, &v) == -1);
	CHECK(tk_parse_ulong("-1", 0, 65535, &v) == -1);
	CHECK(tk_parse_ulong(" 5", 0, 65535, &v) == -1);
	CHECK(tk_parse_ulong("5 ", 0, 65535, &v) == -1);
	CHECK(tk_parse_ulong("", 0, 65535, &v) == -1);
	CHECK(tk_parse_ulong("99999999999999999999999", 0, ~0UL, &v) == -1);
	CHECK(tk_parse_ulong("0x10", 0, 65535, &v) == -1);
}

static void test_parse_seconds(void)
{
	double d = 0;

	CHECK(tk_parse_seconds("0.5", 0.1, 3600, &d) == 0 && d == 0.5);
	CHECK(tk_parse_seconds("2", 0.1, 3600, &d) == 0 && d == 2);
	CHECK(tk_parse_seconds("0.05", 0.1, 3600, &d) == -1);
	CHECK(tk_parse_seconds("nan", 0.1, 3600, &d) == -1);
	CHECK(tk_parse_seconds("inf", 0.1, 3600, &d) == -1);
	CHECK(tk_parse_seconds("1s", 0.1, 3600, &d) == -1);
	CHECK(tk_parse_seconds("-1", 0.1, 3600, &d) == -1);
	CHECK(tk_parse_seconds("0x10", 0.1, 3600, &d) == -1);
	CHECK(tk_parse_seconds("1e3", 0.1, 3600, &d) == -1);
	CHECK(tk_parse_seconds("1.5.2", 0.1, 3600, &d) == -1);
	CHECK(tk_parse_seconds(".", 0.1, 3600, &d) == -1);
	CHECK(tk_parse_seconds(".5", 0.1, 3600, &d) == 0 && d == 0.5);
	CHECK(tk_parse_seconds("2.", 0.1, 3600, &d) == 0 && d == 2);
}

static void test_parse_ports(void)
{
	bool *p = calloc(TK_PORTS, sizeof(*p));
	char bad[64];

	CHECK(tk_parse_ports("143,993,10000-10002", p, bad, sizeof(bad)) == 0);
	CHECK(p[143] && p[993] && p[10000] && p[10001] && p[10002] && !p[10003] && !p[144]);
	CHECK(tk_parse_ports("1-", p, bad, sizeof(bad)) == -1 && !strcmp(bad, "1-"));
	CHECK(tk_parse_ports("10-5", p, bad, sizeof(bad)) == -1 && !strcmp(bad, "10-5"));
	CHECK(tk_parse_ports("80,,443", p, bad, sizeof(bad)) == -1);
	CHECK(tk_parse_ports("80,", p, bad, sizeof(bad)) == -1);
	CHECK(tk_parse_ports("", p, bad, sizeof(bad)) == -1);
	CHECK(tk_parse_ports("65536", p, bad, sizeof(bad)) == -1 && !strcmp(bad, "65536"));
	CHECK(tk_parse_ports("1-65535", p, bad, sizeof(bad)) == 0 && p[1] && p[65535]);
	free(p);
}

static void test_hist(void)
{
	uint64_t slots[TK_HIST_SLOTS] = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	CHECK(tk_hist_low(0) == 0 && tk_hist_high(0) == 2);
	CHECK(tk_hist_low(17) == 131072 && tk_hist_high(17) == 262144);
	CHECK(tk_hist_high(TK_HIST_OVERFLOW) == 0);
	slots[3] = 10;
	slots[5] = 5;
	slots[TK_HIST_OVERFLOW] = 1;
	f = open_memstream(&buf, &len);
	tk_hist_print(f, slots, TK_HIST_SLOTS, "usecs");
	fclose(f);
	CHECK(strstr(buf, "usecs") != NULL);
	CHECK(strstr(buf, "8 -> 15 : 10         |****************************************|"));
	CHECK(strstr(buf, "32 -> 63 : 5          |********************                    |"));
	CHECK(strstr(buf, "16 -> 31 : 0 "));	/* empty slots inside the span show */
	CHECK(strstr(buf, "68719476736 -> inf : 1"));
	CHECK(strstr(buf, "4 -> 7") == NULL);	/* nothing before the first */
	free(buf);
}

static void test_totals(void)
{
	struct tk_row r = {0};
	struct tk_totals t;

	r.trans[2][1] = 10;	/* SYN_SENT -> ESTABLISHED */
	r.trans[2][7] = 3;	/* SYN_SENT -> CLOSE: refused */
	r.trans[1][7] = 2;	/* ESTABLISHED -> CLOSE: reset */
	r.trans[5][7] = 8;	/* FIN_WAIT2 -> CLOSE: orderly */
	r.trans[10][7] = 1;	/* LISTEN -> CLOSE: not a connection */
	tk_row_totals(&r, &t);
	CHECK(t.opened == 10);
	CHECK(t.refused == 3);
	CHECK(t.closed == 10);
	CHECK(t.reset == 2);
	CHECK(tk_row_transitions(&r) == 24);
}

static void test_snapshot_sort_filter(void)
{
	struct tk_snapshot s, prev;
	bool *ports = calloc(TK_PORTS, sizeof(*ports));

	tk_snapshot_init(&s);
	tk_snapshot_init(&prev);
	tk_snapshot_row(&s, 80, TK_DIR_IN)->trans[1][7] = 100;
	tk_snapshot_row(&s, 993, TK_DIR_IN)->trans[1][7] = 50;
	tk_snapshot_row(&prev, 80, TK_DIR_IN)->trans[1][7] = 100;
	tk_snapshot_sort(&s, &prev);
	CHECK(s.rows[0].port == 993);	/* busiest in this interval first */
	ports[80] = true;
	tk_snapshot_filter(&s, ports);
	CHECK(s.nrows == 1 && s.rows[0].port == 80);
	CHECK(tk_snapshot_row(&s, 80, TK_DIR_IN) == &s.rows[0]);
	tk_snapshot_free(&s);
	tk_snapshot_free(&prev);
	free(ports);
}

/*
 * The attribution rule, case by case (attrib.h): what the observer and the
 * socket dump both decide with. Ephemeral range 32768-60999 unless given.
 */
#define EPH_LO 32768
#define EPH_HI 60999

static const struct attrib_case {
	const char *what;
	uint16_t lport, rport;
	int old, new;		/* a transition; a socket in one state: both */
	uint16_t lo, hi;	/* ephemeral range */
	uint16_t port;		/* expected row; 0: unattributed */
	uint8_t dir;
} attrib_cases[] = {
	/* handshakes tell the origin, whatever the ports */
	{ "listener", 993, 0, TK_CLOSE, TK_LISTEN, EPH_LO, EPH_HI, 993, TK_DIR_IN },
	{ "listener closing", 993, 0, TK_LISTEN, TK_CLOSE, EPH_LO, EPH_HI, 993, TK_DIR_IN },
	{ "listener on an ephemeral port", 40000, 0, TK_CLOSE, TK_LISTEN, EPH_LO, EPH_HI,
	  40000, TK_DIR_IN },
	{ "listener on port 0", 0, 0, TK_CLOSE, TK_LISTEN, EPH_LO, EPH_HI, 0, 0 },
	{ "connect, local port not yet chosen", 0, 993, TK_CLOSE, TK_SYN_SENT, EPH_LO, EPH_HI,
	  993, TK_DIR_OUT },
	{ "connect from a service port", 143, 993, TK_CLOSE, TK_SYN_SENT, EPH_LO, EPH_HI,
	  993, TK_DIR_OUT },
	{ "connect to an ephemeral port", 45000, 40000, TK_SYN_SENT, TK_ESTABLISHED, EPH_LO,
	  EPH_HI, 40000, TK_DIR_OUT },
	{ "connect refused", 45000, 993, TK_SYN_SENT, TK_CLOSE, EPH_LO, EPH_HI, 993,
	  TK_DIR_OUT },
	{ "connect to port 0", 0, 0, TK_CLOSE, TK_SYN_SENT, EPH_LO, EPH_HI, 0, 0 },
	{ "accept on a service port", 993, 45000, TK_LISTEN, TK_SYN_RECV, EPH_LO, EPH_HI, 993,
	  TK_DIR_IN },
	{ "accept on an ephemeral port", 40000, 45000, TK_LISTEN, TK_SYN_RECV, EPH_LO, EPH_HI,
	  40000, TK_DIR_IN },
	{ "accept from a client above the range", 40000, 62000, TK_LISTEN, TK_SYN_RECV, EPH_LO,
	  EPH_HI, 40000, TK_DIR_IN },
	{ "accepted, established", 993, 45000, TK_SYN_RECV, TK_ESTABLISHED, EPH_LO, EPH_HI,
	  993, TK_DIR_IN },
	{ "accepted on an ephemeral port, established", 40000, 45000, TK_SYN_RECV,
	  TK_ESTABLISHED, EPH_LO, EPH_HI, 40000, TK_DIR_IN },
	{ "accepted, reset in the handshake", 993, 62000, TK_SYN_RECV, TK_CLOSE, EPH_LO,
	  EPH_HI, 993, TK_DIR_IN },
	{ "a request socket (the dump)", 993, 45000, TK_SYN_RECV, TK_SYN_RECV, EPH_LO, EPH_HI,
	  993, TK_DIR_IN },
	/* simultaneous open (a self-connect): a connect, then it looks accepted */
	{ "simultaneous open", 45000, 45000, TK_SYN_SENT, TK_SYN_RECV, EPH_LO, EPH_HI, 45000,
	  TK_DIR_OUT },
	{ "simultaneous open, established", 45000, 45000, TK_SYN_RECV, TK_ESTABLISHED, EPH_LO,
	  EPH_HI, 45000, TK_DIR_IN },
	/* no origin: the port outside the range is the service */
	{ "accepted, peer closed", 993, 45000, TK_ESTABLISHED, TK_CLOSE_WAIT, EPH_LO, EPH_HI,
	  993, TK_DIR_IN },
	{ "client, closing", 45000, 993, TK_ESTABLISHED, TK_FIN_WAIT1, EPH_LO, EPH_HI, 993,
	  TK_DIR_OUT },
	{ "client, reset", 45000, 993, TK_ESTABLISHED, TK_CLOSE, EPH_LO, EPH_HI, 993,
	  TK_DIR_OUT },
	{ "a socket in TIME_WAIT, client side", 45000, 993, TK_TIME_WAIT, TK_TIME_WAIT, EPH_LO,
	  EPH_HI, 993, TK_DIR_OUT },
	{ "both ephemeral, client side", 45000, 40000, TK_ESTABLISHED, TK_FIN_WAIT1, EPH_LO,
	  EPH_HI, 0, 0 },
	{ "both ephemeral, accepted side", 40000, 45000, TK_ESTABLISHED, TK_CLOSE_WAIT, EPH_LO,
	  EPH_HI, 0, 0 },
	{ "both ephemeral, at the range's ends", EPH_LO, EPH_HI, TK_ESTABLISHED,
	  TK_ESTABLISHED, EPH_LO, EPH_HI, 0, 0 },
	{ "both outside the range: the local one", 993, 1023, TK_ESTABLISHED, TK_CLOSE_WAIT,
	  EPH_LO, EPH_HI, 993, TK_DIR_IN },
	{ "both outside, the local one higher", 2049, 1023, TK_ESTABLISHED, TK_CLOSE_WAIT,
	  EPH_LO, EPH_HI, 2049, TK_DIR_IN },
	{ "both outside, the local one lower", 800, 2049, TK_ESTABLISHED, TK_FIN_WAIT1,
	  EPH_LO, EPH_HI, 800, TK_DIR_IN },
	{ "client above the range", 993, 62000, TK_ESTABLISHED, TK_CLOSE_WAIT, EPH_LO, EPH_HI,
	  993, TK_DIR_IN },
	{ "service above the range", 62000, 45000, TK_ESTABLISHED, TK_CLOSE_WAIT, EPH_LO,
	  EPH_HI, 62000, TK_DIR_IN },
	{ "local port 1", 1, 45000, TK_ESTABLISHED, TK_ESTABLISHED, EPH_LO, EPH_HI, 1,
	  TK_DIR_IN },
	{ "remote port 65535", 45000, 65535, TK_ESTABLISHED, TK_ESTABLISHED, EPH_LO, EPH_HI,
	  65535, TK_DIR_OUT },
	/* the range's edges, local side */
	{ "local eph_lo - 1", EPH_LO - 1, 993, TK_ESTABLISHED, TK_FIN_WAIT1, EPH_LO, EPH_HI,
	  EPH_LO - 1, TK_DIR_IN },
	{ "local eph_lo", EPH_LO, 993, TK_ESTABLISHED, TK_FIN_WAIT1, EPH_LO, EPH_HI, 993,
	  TK_DIR_OUT },
	{ "local eph_hi", EPH_HI, 993, TK_ESTABLISHED, TK_FIN_WAIT1, EPH_LO, EPH_HI, 993,
	  TK_DIR_OUT },
	{ "local eph_hi + 1", EPH_HI + 1, 993, TK_ESTABLISHED, TK_FIN_WAIT1, EPH_LO, EPH_HI,
	  EPH_HI + 1, TK_DIR_IN },
	/* and remote side */
	{ "remote eph_lo - 1", 45000, EPH_LO - 1, TK_ESTABLISHED, TK_FIN_WAIT1, EPH_LO, EPH_HI,
	  EPH_LO - 1, TK_DIR_OUT },
	{ "remote eph_lo", 45000, EPH_LO, TK_ESTABLISHED, TK_FIN_WAIT1, EPH_LO, EPH_HI, 0, 0 },
	{ "remote eph_hi", 45000, EPH_HI, TK_ESTABLISHED, TK_FIN_WAIT1, EPH_LO, EPH_HI, 0, 0 },
	{ "remote eph_hi + 1", 45000, EPH_HI + 1, TK_ESTABLISHED, TK_FIN_WAIT1, EPH_LO, EPH_HI,
	  EPH_HI + 1, TK_DIR_OUT },
	/* a range of one port, and the whole range */
	{ "one-port range, local in it", 50000, 50001, TK_ESTABLISHED, TK_ESTABLISHED, 50000,
	  50000, 50001, TK_DIR_OUT },
	{ "one-port range, remote in it", 50001, 50000, TK_ESTABLISHED, TK_ESTABLISHED, 50000,
	  50000, 50001, TK_DIR_IN },
	{ "range 1-65535: only handshakes tell", 993, 45000, TK_ESTABLISHED, TK_ESTABLISHED, 1,
	  65535, 0, 0 },
	/* port 0: a port not known */
	{ "no ports (CLOSE -> CLOSE)", 0, 0, TK_CLOSE, TK_CLOSE, EPH_LO, EPH_HI, 0, 0 },
	{ "local 0, remote a service", 0, 993, TK_ESTABLISHED, TK_CLOSE, EPH_LO, EPH_HI, 993,
	  TK_DIR_OUT },
	{ "local a service, remote 0", 993, 0, TK_ESTABLISHED, TK_CLOSE, EPH_LO, EPH_HI, 993,
	  TK_DIR_IN },
	{ "local ephemeral, remote 0", 45000, 0, TK_ESTABLISHED, TK_CLOSE, EPH_LO, EPH_HI, 0, 0 },
};

static void test_attrib_rule(void)
{
	for (size_t i = 0; i < sizeof(attrib_cases) / sizeof(attrib_cases[0]); i++) {
		const struct attrib_case *c = &attrib_cases[i];
		struct tk_port_key k = tk_attrib(c->lport, c->rport, tk_origin_of(c->old, c->new),
						 c->lo, c->hi);
		bool ok = k.port == c->port && (!c->port || k.dir == c->dir);

		CHECK(ok);
		if (!ok)
			fprintf(stderr, "  case \"%s\": got %u/%s, want %u/%s\n", c->what, k.port,
				tk_dir_name(k.dir), c->port, tk_dir_name(c->dir));
	}
	/* the state numbers the rule names are the kernel's */
	CHECK(TK_ATTRIB_SYN_SENT == TK_SYN_SENT && TK_ATTRIB_SYN_RECV == TK_SYN_RECV &&
	      TK_ATTRIB_LISTEN == TK_LISTEN);
}

static uint32_t diag_states(const struct tk_diag *d, uint16_t port, uint8_t dir,
			    unsigned int state)
{
	for (size_t i = 0; i < d->nrows; i++)
		if (d->rows[i].port == port && d->rows[i].dir == dir)
			return d->rows[i].states[state];
	return 0;
}

/* The socket dump's side: the same rule, with listeners for an origin. */
static void test_diag_attrib(void)
{
	bool *ports = calloc(TK_PORTS, sizeof(*ports));
	struct tk_diag d;
	struct tk_snapshot s;
	int failures;

	CHECK(tk_diag_init(&d, EPH_LO, EPH_HI, NULL) == 0);
	/* listeners first, as the dump reads them */
	CHECK(tk_diag_add(&d, 993, 0, TK_LISTEN) == 0);
	CHECK(tk_diag_add(&d, 40000, 0, TK_LISTEN) == 0);
	CHECK(tk_diag_add(&d, 993, 45000, TK_ESTABLISHED) == 0);
	CHECK(tk_diag_add(&d, 45000, 993, TK_ESTABLISHED) == 0);
	CHECK(tk_diag_add(&d, 45001, 993, TK_TIME_WAIT) == 0);
	CHECK(tk_diag_add(&d, 993, 45004, TK_NEW_SYN_RECV) == 0);
	/* both ephemeral: the accepted side has its listener, the client nothing */
	CHECK(tk_diag_add(&d, 40000, 45002, TK_ESTABLISHED) == 0);
	CHECK(tk_diag_add(&d, 45002, 40000, TK_ESTABLISHED) == 0);
	/* still connecting: the origin is known */
	CHECK(tk_diag_add(&d, 45003, 40001, TK_SYN_SENT) == 0);
	/* leftovers of closed listeners: the ports tell */
	CHECK(tk_diag_add(&d, 8080, 45005, TK_TIME_WAIT) == 0);
	CHECK(tk_diag_add(&d, 40002, 45006, TK_TIME_WAIT) == 0);
	/* a state the dump never shows, and one past the table */
	CHECK(tk_diag_add(&d, 993, 45007, 0) == 0);
	CHECK(tk_diag_add(&d, 993, 45007, TK_NSTATES) == 0);

	CHECK(diag_states(&d, 993, TK_DIR_IN, TK_LISTEN) == 1);
	CHECK(diag_states(&d, 993, TK_DIR_IN, TK_ESTABLISHED) == 1);
	CHECK(diag_states(&d, 993, TK_DIR_IN, TK_SYN_RECV) == 1);
	CHECK(diag_states(&d, 993, TK_DIR_OUT, TK_ESTABLISHED) == 1);
	CHECK(diag_states(&d, 993, TK_DIR_OUT, TK_TIME_WAIT) == 1);
	CHECK(diag_states(&d, 40000, TK_DIR_IN, TK_LISTEN) == 1);
	CHECK(diag_states(&d, 40000, TK_DIR_IN, TK_ESTABLISHED) == 1);
	CHECK(diag_states(&d, 40000, TK_DIR_OUT, TK_ESTABLISHED) == 0);
	CHECK(diag_states(&d, 40001, TK_DIR_OUT, TK_SYN_SENT) == 1);
	CHECK(diag_states(&d, 8080, TK_DIR_IN, TK_TIME_WAIT) == 1);
	CHECK(d.unattributed == 2);	/* 45002 -> 40000 and 40002 <- 45006 */
	CHECK(d.nrows == 5);		/* 993 in/out, 40000 in, 40001 out, 8080 in */
	for (size_t i = 0; i < d.nrows; i++)	/* no row of a client's port */
		CHECK(d.rows[i].port < 45000 && d.rows[i].port != 40002);

	/* into a snapshot: added to the maps' rows */
	tk_snapshot_init(&s);
	tk_snapshot_row(&s, 993, TK_DIR_IN)->states[TK_LISTEN] = 1;
	CHECK(tk_diag_merge(&d, &s) == 0);
	CHECK(s.nrows == 5);
	CHECK(tk_snapshot_find(&s, 993, TK_DIR_IN)->states[TK_LISTEN] == 2);
	CHECK(tk_snapshot_find(&s, 8080, TK_DIR_IN)->states[TK_TIME_WAIT] == 1);
	tk_snapshot_free(&s);

	/* a new dump starts from nothing */
	tk_diag_reset(&d);
	CHECK(d.nrows == 0 && d.unattributed == 0);
	CHECK(tk_diag_add(&d, 40000, 45002, TK_ESTABLISHED) == 0);
	CHECK(d.nrows == 0 && d.unattributed == 1);	/* no listener any more */
	tk_diag_free(&d);

	/* a port filter: no rows of other ports are made */
	ports[993] = true;
	CHECK(tk_diag_init(&d, EPH_LO, EPH_HI, ports) == 0);
	CHECK(tk_diag_add(&d, 993, 0, TK_LISTEN) == 0);
	CHECK(tk_diag_add(&d, 143, 0, TK_LISTEN) == 0);
	CHECK(tk_diag_add(&d, 45000, 143, TK_ESTABLISHED) == 0);
	CHECK(tk_diag_add(&d, 45001, 993, TK_ESTABLISHED) == 0);
	CHECK(d.nrows == 2 && diag_states(&d, 993, TK_DIR_OUT, TK_ESTABLISHED) == 1);
	CHECK(diag_states(&d, 143, TK_DIR_IN, TK_LISTEN) == 0);
	tk_diag_free(&d);

	/* bounded: past TK_DIAG_MAX_ROWS rows the dump is refused */
	CHECK(tk_diag_init(&d, EPH_LO, EPH_HI, NULL) == 0);
	failures = 0;
	for (unsigned int p = 1; p <= TK_DIAG_MAX_ROWS; p++)
		failures += tk_diag_add(&d, 45000, (uint16_t)p, TK_SYN_SENT) != 0;
	CHECK(failures == 0 && d.nrows == TK_DIAG_MAX_ROWS);
	CHECK(tk_diag_add(&d, 45000, 1, TK_SYN_SENT) == 0);	/* a row it has */
	CHECK(tk_diag_add(&d, 45000, TK_DIAG_MAX_ROWS + 1, TK_SYN_SENT) == -E2BIG);
	tk_diag_free(&d);
	free(ports);
}

/* Netlink messages for the parser: appended to buf at *off. */
static void nl_put(char *buf, size_t *off, uint16_t type, uint16_t flags, uint32_t pid,
		   uint32_t seq, const void *data, size_t len)
{
	struct nlmsghdr h = {
		.nlmsg_len = NLMSG_LENGTH(len), .nlmsg_type = type,
		.nlmsg_flags = flags, .nlmsg_seq = seq, .nlmsg_pid = pid,
	};

	memcpy(buf + *off, &h, sizeof(h));
	memcpy(buf + *off + NLMSG_HDRLEN, data, len);
	*off += NLMSG_ALIGN(h.nlmsg_len);
}

static void nl_sock(char *buf, size_t *off, uint32_t pid, uint32_t seq, uint8_t family,
		    uint16_t lport, uint16_t rport, uint8_t state, uint16_t flags)
{
	struct inet_diag_msg m = {
		.idiag_family = family, .idiag_state = state,
		.id = { .idiag_sport = htons(lport), .idiag_dport = htons(rport) },
	};

	nl_put(buf, off, SOCK_DIAG_BY_FAMILY, NLM_F_MULTI | flags, pid, seq, &m, sizeof(m));
}

static void test_diag_parse(void)
{
	const struct tk_diag_expect x = { .pid = 4242, .seq = 7, .family = AF_INET };
	_Alignas(struct nlmsghdr) char buf[4096];
	struct nlmsgerr e = { .error = -EINVAL };
	int zero = 0, fail = -EBUSY;
	struct tk_diag d;
	bool intr = false;
	size_t off = 0;

	CHECK(tk_diag_init(&d, EPH_LO, EPH_HI, NULL) == 0);
	/* ours, then one of another request, of another socket, then the end */
	nl_sock(buf, &off, 4242, 7, AF_INET, 993, 0, TK_LISTEN, 0);
	nl_sock(buf, &off, 4242, 7, AF_INET, 45000, 993, TK_ESTABLISHED, 0);
	nl_sock(buf, &off, 4242, 6, AF_INET, 45001, 993, TK_ESTABLISHED, 0);
	nl_sock(buf, &off, 4243, 7, AF_INET, 45002, 993, TK_ESTABLISHED, 0);
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == 0);	/* more to come */
	off = 0;
	nl_put(buf, &off, NLMSG_DONE, NLM_F_MULTI, 4243, 7, &zero, sizeof(zero));
	nl_sock(buf, &off, 4242, 7, AF_INET, 45003, 993, TK_TIME_WAIT, 0);
	nl_put(buf, &off, NLMSG_DONE, NLM_F_MULTI, 4242, 7, &zero, sizeof(zero));
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == 1);
	CHECK(!intr);
	CHECK(diag_states(&d, 993, TK_DIR_IN, TK_LISTEN) == 1);
	CHECK(diag_states(&d, 993, TK_DIR_OUT, TK_ESTABLISHED) == 1);	/* not 3 */
	CHECK(diag_states(&d, 993, TK_DIR_OUT, TK_TIME_WAIT) == 1);

	/* an interrupted dump is read to its end and said so */
	off = 0;
	nl_sock(buf, &off, 4242, 7, AF_INET, 45004, 993, TK_ESTABLISHED, NLM_F_DUMP_INTR);
	nl_put(buf, &off, NLMSG_DONE, NLM_F_MULTI, 4242, 7, &zero, sizeof(zero));
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == 1 && intr);
	intr = false;
	off = 0;
	nl_put(buf, &off, NLMSG_DONE, NLM_F_MULTI | NLM_F_DUMP_INTR, 4242, 7, &zero,
	       sizeof(zero));
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == 1 && intr);
	/* ... but not one of another request */
	intr = false;
	off = 0;
	nl_sock(buf, &off, 4242, 8, AF_INET, 45004, 993, TK_ESTABLISHED, NLM_F_DUMP_INTR);
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == 0 && !intr);

	/* errors: the kernel's, at the end of the dump or instead of it */
	off = 0;
	nl_put(buf, &off, NLMSG_DONE, NLM_F_MULTI, 4242, 7, &fail, sizeof(fail));
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == -EBUSY);
	off = 0;
	nl_put(buf, &off, NLMSG_ERROR, 0, 4242, 7, &e, sizeof(e));
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == -EINVAL);
	e.error = 0;	/* an acknowledgement is no dump */
	off = 0;
	nl_put(buf, &off, NLMSG_ERROR, 0, 4242, 7, &e, sizeof(e));
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == -EPROTO);
	off = 0;
	nl_put(buf, &off, NLMSG_ERROR, 0, 4242, 7, &e, sizeof(int));	/* short */
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == -EPROTO);

	/* truncated or malformed */
	off = 0;
	nl_sock(buf, &off, 4242, 7, AF_INET, 45005, 993, TK_ESTABLISHED, 0);
	CHECK(tk_diag_parse(&d, buf, off - 4, &x, &intr) == -EPROTO);	/* cut */
	CHECK(tk_diag_parse(&d, buf, 8, &x, &intr) == -EPROTO);	/* half a header */
	((struct nlmsghdr *)buf)->nlmsg_len = 8;	/* shorter than its header */
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == -EPROTO);
	off = 0;
	nl_put(buf, &off, SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, 4242, 7, &zero, sizeof(zero));
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == -EPROTO);	/* short message */
	off = 0;
	nl_sock(buf, &off, 4242, 7, AF_INET6, 45005, 993, TK_ESTABLISHED, 0);
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == -EPROTO);	/* other family */
	off = 0;
	nl_put(buf, &off, 0x42, NLM_F_MULTI, 4242, 7, &zero, sizeof(zero));
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == -EPROTO);	/* unknown type */
	off = 0;
	nl_put(buf, &off, NLMSG_NOOP, 0, 4242, 7, &zero, 0);
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == 0);
	CHECK(tk_diag_parse(&d, buf, 0, &x, &intr) == 0);
	/* none of these counted a socket */
	CHECK(diag_states(&d, 993, TK_DIR_OUT, TK_ESTABLISHED) == 2);	/* and the DUMP_INTR one */
	tk_diag_free(&d);
}

static void test_json(void)
{
	struct tk_snapshot s;
	struct tk_row *r;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	tk_snapshot_init(&s);
	s.attach_mode = "tp_btf";
	s.recursion_misses = 2;
	s.uncounted[TK_UNC_TRANS_FULL] = 3;
	s.uncounted[TK_UNC_UNATTRIBUTED] = 4;
	r = tk_snapshot_row(&s, 993, TK_DIR_OUT);
	r->trans[2][1] = 7;
	r->states[6] = 5;
	r->slots[17] = 1;
	f = open_memstream(&buf, &len);
	tk_render_json(f, &s, NULL);
	fclose(f);
	CHECK(strstr(buf, "\"missed\":5,") != NULL);
	CHECK(strstr(buf, "\"unattributed\":4") != NULL);
	CHECK(strstr(buf, "\"port\":993,\"direction\":\"out\"") != NULL);
	CHECK(strstr(buf, "\"SYN_SENT->ESTABLISHED\":7") != NULL);
	CHECK(strstr(buf, "\"TIME_WAIT\":5") != NULL);
	CHECK(strstr(buf, "{\"low\":131072,\"high\":262144,\"count\":1}") != NULL);
	CHECK(buf[len - 1] == '\n' && strchr(buf, '\n') == buf + len - 1);
	free(buf);
	tk_snapshot_free(&s);
}

static void test_policy(void)
{
	struct tk_policy_table *t = calloc(1, sizeof(*t));
	char err[256];

	tk_policy_defaults(t);
	CHECK(tk_policy_count(t) == 4 && t->set[143] && t->set[993] && t->set[110] &&
	      t->set[995]);
	CHECK(t->pol[993].idle == 300 && t->pol[993].intvl == 60 && t->pol[993].cnt == 5 &&
	      t->pol[993].user_timeout == 600 && !t->pol[993].off);
	CHECK(tk_policy_parse("993:idle=2,intvl=1,cnt=2", t, err, sizeof(err)) == 0);
	CHECK(t->pol[993].idle == 2 && t->pol[993].cnt == 2 && t->pol[993].user_timeout == 4);
	CHECK(tk_policy_parse("143,10000-10001:user-timeout=0", t, err, sizeof(err)) == 0);
	CHECK(t->pol[10001].user_timeout == 0 && t->pol[10001].idle == 300 && t->set[10000]);
	CHECK(tk_policy_parse("110:off", t, err, sizeof(err)) == 0 && t->pol[110].off);
	CHECK(tk_policy_parse("2525", t, err, sizeof(err)) == 0 && t->pol[2525].idle == 300);
	CHECK(tk_policy_count(t) == 7);
	/* errors leave the table as it was */
	CHECK(tk_policy_parse("80,90:cnt=128", t, err, sizeof(err)) == -1 && !t->set[80]);
	CHECK(strstr(err, "'128' for cnt") != NULL);
	CHECK(tk_policy_parse("80:idle=5,bogus=1", t, err, sizeof(err)) == -1 && !t->set[80]);
	CHECK(strstr(err, "unknown key 'bogus'") != NULL);
	CHECK(tk_policy_parse("0", t, err, sizeof(err)) == -1 && strstr(err, "'0'"));
	CHECK(tk_policy_parse("993:OFF", t, err, sizeof(err)) == -1);
	/* the computed user timeout must fit the kernel's int of milliseconds */
	CHECK(tk_policy_parse("993:idle=32767,intvl=32767,cnt=127", t, err, sizeof(err)) == -1);
	CHECK(strstr(err, "4194176 s") != NULL && t->pol[993].idle == 2);
	CHECK(tk_policy_parse("993:idle=32767,intvl=32767,cnt=64", t, err, sizeof(err)) == 0);
	CHECK(t->pol[993].user_timeout == 2129855);
	CHECK(tk_policy_parse("993:idle=32767,intvl=32767,cnt=127,user-timeout=600", t, err,
			      sizeof(err)) == 0 && t->pol[993].user_timeout == 600);
	CHECK(tk_policy_parse("993:idle=32767,intvl=32767,cnt=127,user-timeout=0", t, err,
			      sizeof(err)) == 0 && t->pol[993].user_timeout == 0);
	CHECK(tk_policy_parse("993:user-timeout=2147484", t, err, sizeof(err)) == -1);
	CHECK(tk_policy_parse(":idle=5", t, err, sizeof(err)) == -1);
	free(t);
}

int main(void)
{
	test_parse_ulong();
	test_parse_seconds();
	test_parse_ports();
	test_hist();
	test_attrib_rule();
	test_diag_attrib();
	test_diag_parse();
	test_totals();
	test_snapshot_sort_filter();
	test_json();
	test_policy();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
