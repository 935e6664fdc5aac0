// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the parts of tcpkeep that need no kernel: the command
 * line, number and port parsing, histogram slots and drawing, the live
 * view's fit to a terminal, derived totals, the JSON writer and JSON
 * rendering. Prints "N passed, N failed" and exits non-zero on any
 * failure. With --json-string it prints stdin as JSON instead, for
 * tests/test_unit.py to hand to Python's json module.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "core/cli.h"
#include "core/exit.h"
#include "core/hist.h"
#include "core/json.h"
#include "core/parse.h"
#include "core/policy.h"
#include "render/render.h"
#include "render/status.h"
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

static const struct tk_policy *pol(const struct tk_opts *o, unsigned int port)
{
	return o->policy && o->policy->set[port] ? &o->policy->pol[port] : NULL;
}

static bool is_default(const struct tk_policy *p)
{
	return p && !p->off && p->idle == 300 && p->intvl == 60 && p->cnt == 5 &&
	       p->user_timeout == 600;
}

static size_t npol(const struct tk_opts *o)
{
	return o->policy ? tk_policy_count(o->policy) : (size_t)-1;
}

/* What each case of test_args checks beyond the command. */
static bool run_defaults(const struct tk_opts *o)
{
	return o->interval == 1.0 && !o->interval_set && o->count == 0 && !o->ports &&
	       !o->json && !o->verbose && !o->cgroup && !o->no_lifetimes && !o->listen &&
	       !o->export_ports && o->listen_fd == -1 && npol(o) == 4 &&
	       is_default(pol(o, 143)) && is_default(pol(o, 993)) &&
	       is_default(pol(o, 110)) && is_default(pol(o, 995));
}

static bool view_ports(const struct tk_opts *o)
{
	return o->ports && o->ports[143] && o->ports[993] && o->ports[10000] &&
	       o->ports[10010] && !o->ports[144] && !o->ports[10011] && !o->ports[0];
}

static bool frames(const struct tk_opts *o)
{
	return o->interval == 0.5 && o->interval_set && o->count == 12 && o->json;
}

static bool keepalive(const struct tk_opts *o)
{
	const struct tk_policy *p = pol(o, 993);

	/* user-timeout follows idle + intvl x cnt; the others keep theirs */
	return npol(o) == 4 && p && p->idle == 120 && p->intvl == 30 && p->cnt == 4 &&
	       p->user_timeout == 240 && pol(o, 110) && pol(o, 110)->off &&
	       is_default(pol(o, 143));
}

static bool later_wins(const struct tk_opts *o)
{
	const struct tk_policy *p = pol(o, 993);

	/* a later spec replaces the port's policy whole, not key by key */
	return p && p->idle == 300 && p->cnt == 2 && p->user_timeout == 420;
}

static bool no_policy(const struct tk_opts *o)
{
	return npol(o) == 0;
}

static bool only_db(const struct tk_opts *o)
{
	return npol(o) == 2 && pol(o, 5432) && pol(o, 5432)->idle == 60 &&
	       pol(o, 6379) && !pol(o, 993);
}

static bool only_993(const struct tk_opts *o)
{
	return npol(o) == 1 && pol(o, 993) && pol(o, 993)->user_timeout == 0;
}

static bool max_policy(const struct tk_opts *o)
{
	return npol(o) == TK_MAX_POLICY;
}

static bool pin_opts(const struct tk_opts *o)
{
	return npol(o) == 4 && pol(o, 993)->idle == 120 && o->cgroup &&
	       !strcmp(o->cgroup, "/sys/fs/cgroup/mail") && o->no_lifetimes;
}

static bool json_only(const struct tk_opts *o)
{
	return o->json && !o->policy && !o->verbose;
}

static bool quiet(const struct tk_opts *o)
{
	return !o->verbose && !o->json;
}

static bool verbose(const struct tk_opts *o)
{
	return o->verbose;
}

static bool top_opts(const struct tk_opts *o)
{
	return o->interval == 2 && o->ports && o->ports[993] && !o->ports[143] && o->json &&
	       !o->policy;
}

static bool policy_set(const struct tk_opts *o)
{
	/* the words are the specs, without the built-in defaults */
	return npol(o) == 2 && pol(o, 143)->idle == 60 && pol(o, 993)->off &&
	       o->apply_existing;
}

static bool policy_del(const struct tk_opts *o)
{
	return o->del_ports && o->del_ports[143] && o->del_ports[993] && o->del_ports[110] &&
	       !o->del_ports[995] && !o->policy;
}

static bool listen4(const struct tk_opts *o)
{
	const struct sockaddr_in *a = (const struct sockaddr_in *)&o->listen_addr;

	return o->listen && o->listen_len == sizeof(*a) && a->sin_family == AF_INET &&
	       a->sin_port == htons(9977) && a->sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
	       o->export_ports && o->export_ports[143] && !o->export_ports[110] &&
	       !o->ports && o->listen_fd == -1;
}

static bool listen6(const struct tk_opts *o)
{
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&o->listen_addr;

	return o->listen && o->listen_len == sizeof(*a) && a->sin6_family == AF_INET6 &&
	       a->sin6_port == htons(9977) && !o->export_ports;
}

static bool textfile(const struct tk_opts *o)
{
	return o->textfile && !strcmp(o->textfile, "/var/lib/tcpkeep.prom") &&
	       o->interval == 30 && o->interval_set && o->count == 2 && !o->listen;
}

/* the words after "tcpkeep": parsed, or bad usage saying says */
#define OK(cmd, check, ...) { { __VA_ARGS__, NULL }, 0, cmd, check, NULL }
#define BAD(says, ...) { { __VA_ARGS__, NULL }, TK_EXIT_USAGE, TK_CMD_RUN, NULL, says }

/*
 * tk_parse_args: the words after "tcpkeep" -> the command and what it set,
 * or bad usage and its one line. In order: each case also checks that the
 * one before left getopt nothing to carry over.
 */
static void test_args(void)
{
	static const struct {
		const char *argv[12];
		int ret;
		enum tk_cmd cmd;
		bool (*check)(const struct tk_opts *o);
		const char *says;	/* bad usage: in the line it printed */
	} cases[] = {
		/* every command */
		OK(TK_CMD_RUN, run_defaults, NULL),
		OK(TK_CMD_RUN, run_defaults, "run"),
		OK(TK_CMD_PIN, NULL, "pin"),
		OK(TK_CMD_UNPIN, quiet, "unpin"),
		OK(TK_CMD_STATUS, json_only, "status", "--json"),
		OK(TK_CMD_TOP, top_opts, "top", "-i", "2", "-p", "993", "--json"),
		OK(TK_CMD_POLICY_LIST, json_only, "policy", "list", "--json"),
		OK(TK_CMD_POLICY_SET, policy_set, "policy", "set", "143:idle=60", "993:off",
		   "--apply-existing"),
		OK(TK_CMD_POLICY_DEL, policy_del, "policy", "del", "143", "993,110"),
		OK(TK_CMD_METRICS, listen4, "metrics", "--listen", "9977", "--ports", "143,993"),
		OK(TK_CMD_METRICS, textfile, "metrics", "--textfile", "/var/lib/tcpkeep.prom",
		   "-i", "30", "-c", "2"),
		OK(TK_CMD_HELP, NULL, "-h"),
		OK(TK_CMD_HELP, NULL, "status", "--help"),
		OK(TK_CMD_VERSION, NULL, "--version"),
		/* a cluster stopped half-way: the next parse starts afresh */
		OK(TK_CMD_HELP, NULL, "-hv"),
		OK(TK_CMD_UNPIN, quiet, "unpin"),
		OK(TK_CMD_UNPIN, verbose, "unpin", "-v"),
		/* view options */
		OK(TK_CMD_RUN, view_ports, "-p", "143,993", "-p", "10000-10010"),
		OK(TK_CMD_RUN, frames, "-i", "0.5", "--count=12", "--json"),
		OK(TK_CMD_RUN, frames, "--interval", "0.5", "-c", "12", "--js"),
		OK(TK_CMD_RUN, listen6, "run", "--listen", "[::1]:9977"),
		/* policies */
		OK(TK_CMD_RUN, keepalive, "-k", "993:idle=120,intvl=30,cnt=4", "-k", "110:off"),
		OK(TK_CMD_RUN, later_wins, "-k", "993:idle=120", "--keepalive=993:cnt=2"),
		OK(TK_CMD_RUN, no_policy, "--no-defaults"),
		OK(TK_CMD_RUN, no_policy, "--no-def"),
		OK(TK_CMD_RUN, only_db, "--no-defaults", "-k", "5432,6379:idle=60"),
		OK(TK_CMD_RUN, only_993, "-k", "993:user-timeout=0", "--no-defaults"),
		OK(TK_CMD_RUN, max_policy, "--no-defaults", "-k", "1-1024"),
		OK(TK_CMD_PIN, pin_opts, "pin", "-k", "993:idle=120", "--cgroup",
		   "/sys/fs/cgroup/mail", "--no-lifetimes"),
		OK(TK_CMD_PIN, no_policy, "pin", "--no-defaults"),
		/* bad values */
		BAD("bad interval '0'", "-i", "0"),
		BAD("bad interval '3601'", "-i", "3601"),
		BAD("bad interval '1e2'", "-i", "1e2"),
		BAD("bad count '0'", "-c", "0"),
		BAD("bad count '2x'", "-c", "2x"),
		BAD("bad port '65536'", "-p", "65536"),
		BAD("bad port", "-p", "80,,443"),
		BAD("bad port '0'", "--ports", "0"),
		BAD("bad value '128' for cnt", "-k", "993:cnt=128"),
		BAD("unknown key 'bogus'", "-k", "993:bogus=1"),
		BAD("empty keepalive spec", "-k", ""),
		BAD("1025 ports with a keepalive policy: at most 1024", "--no-defaults", "-k",
		    "1-1025"),
		BAD("1025 ports with a keepalive policy", "-k", "1-1021", "-k", "2000-2003"),
		BAD("bad listen port '99999'", "--listen", "99999"),
		BAD("bad listen address 'localhost'", "--listen", "localhost:9977"),
		BAD("--textfile needs a file name", "metrics", "--textfile", ""),
		BAD("bad value '0' for idle", "policy", "set", "143:idle=0"),
		BAD("bad port '0'", "policy", "del", "0"),
		/* bad options and words */
		BAD("option '-k' needs a value", "-k"),
		BAD("option '--interval' needs a value", "top", "--interval"),
		BAD("option '--json' takes no value", "--json=1"),
		BAD("unknown option '--bogus'", "--bogus"),
		BAD("unknown option '-Z'", "pin", "-Zv"),
		BAD("option '-c' does not apply", "status", "-c", "1"),
		BAD("option '-k' does not apply", "unpin", "-k", "993"),
		BAD("option '-p' does not apply", "pin", "-p", "993"),
		BAD("option '--listen' does not apply", "pin", "--listen", "9977"),
		BAD("option '--no-defaults' does not apply", "top", "--no-defaults"),
		BAD("option '--apply-existing' does not apply", "policy", "list",
		    "--apply-existing"),
		BAD("option '--json' does not apply", "metrics", "--json"),
		BAD("unknown command 'frobnicate'", "frobnicate"),
		BAD("unexpected argument 'extra'", "run", "extra"),
		BAD("'policy' needs list, set or del", "policy"),
		BAD("unknown policy command 'frob'", "policy", "frob"),
		BAD("'policy set' needs at least one SPEC", "policy", "set"),
		BAD("'policy del' needs at least one PORTS", "policy", "del"),
		BAD("unexpected argument 'extra'", "policy", "list", "extra"),
	};
	FILE *saved = stderr;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[14] = { "tcpkeep" }, *said = NULL;
		struct tk_opts o;
		size_t len = 0;
		int argc = 1, ret;
		bool ok;

		while (cases[i].argv[argc - 1])
			argc++, argv[argc - 1] = (char *)cases[i].argv[argc - 2];
		stderr = open_memstream(&said, &len);
		ret = tk_parse_args(argc, argv, &o);
		fclose(stderr);
		stderr = saved;
		if (cases[i].ret)
			ok = ret == cases[i].ret && !strncmp(said, "tcpkeep: ", 9) &&
			     strstr(said, cases[i].says) &&
			     strchr(said, '\n') == said + len - 1;
		else
			ok = ret == 0 && !len && o.cmd == cases[i].cmd &&
			     (!cases[i].check || cases[i].check(&o));
		if (!ok)
			fprintf(stderr, "FAIL args case %zu (%s %s ...): ret %d, said %s", i,
				argv[1] ? argv[1] : "", argc > 2 ? argv[2] : "", ret,
				len ? said : "nothing\n");
		CHECK(ok);
		tk_opts_free(&o);
		free(said);
	}
}

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
	tk_hist_print(f, slots, TK_HIST_SLOTS, "usecs", TK_HIST_BAR);
	fclose(f);
	CHECK(strstr(buf, "usecs") != NULL);
	CHECK(strstr(buf, "8 -> 15 : 10         |****************************************|"));
	CHECK(strstr(buf, "32 -> 63 : 5          |********************                    |"));
	CHECK(strstr(buf, "16 -> 31 : 0 "));	/* empty slots inside the span show */
	CHECK(strstr(buf, "68719476736 -> inf : 1"));
	CHECK(strstr(buf, "4 -> 7") == NULL);	/* nothing before the first */
	free(buf);
}

static void test_hist_bar(void)
{
	CHECK(tk_hist_bar_for(0) == TK_HIST_BAR);	/* a pipe */
	CHECK(tk_hist_bar_for(200) == TK_HIST_BAR);
	CHECK(tk_hist_bar_for(80) == TK_HIST_BAR);	/* 40 + the bar */
	CHECK(tk_hist_bar_for(79) == 39);
	CHECK(tk_hist_bar_for(50) == 10);
	CHECK(tk_hist_bar_for(49) == 0);		/* too short to read */
}

/* The headings of the three column sets. */
#define VIEW_FULL " PORT DIR   NEW/s CLOSE/s  RST/s REFU/s        NEW    CLOSED   RESET " \
	"REFUSED  LISTEN  ESTAB   SYN  FINW CLOSEW LASTACK  TIMEWT   KA_APPL KAERR  DEAD"
#define VIEW_MIDDLE " PORT DIR   NEW/s CLOSE/s  RST/s REFU/s   ESTAB  FINW CLOSEW LASTACK  " \
	"TIMEWT   KA_APPL KAERR  DEAD"
#define VIEW_NARROW " PORT DIR   NEW/s CLOSE/s  RST/s   ESTAB CLOSEW  TIMEWT   KA_APPL KAERR  DEAD"

/* A snapshot with rows, histograms and a policy, an interval after prev. */
static void view_snapshot(struct tk_snapshot *s, struct tk_snapshot *prev, int nrows)
{
	static struct tk_policy_row pol[] = {
		{ 993, { .idle = 300, .intvl = 60, .cnt = 5, .user_timeout = 600 } },
		{ 110, { .off = 1 } },
	};

	tk_snapshot_init(s);
	tk_snapshot_init(prev);
	s->attach_mode = "tp_btf";
	s->states_ok = s->lifetimes_ok = s->dead_peers_ok = s->enforcer_ok = true;
	prev->mono_s = 10;
	s->mono_s = 12;
	for (int i = 0; i < nrows; i++) {
		struct tk_row *r = tk_snapshot_row(s, 1000 + i, i % 2);

		r->trans[2][1] = 1000001 + i;	/* SYN_SENT -> ESTABLISHED */
		r->states[TK_ESTABLISHED] = 7;
		r->states[TK_CLOSE_WAIT] = 3;
		r->slots[4] = 9;
		r->slots[9] = 3;
		r->sum_us = 1000;
		tk_snapshot_row(prev, 1000 + i, i % 2)->trans[2][1] = 1000000;
	}
	s->policy = pol;
	s->npolicy = 2;
}

/* Lines of a frame, cut apart in place, without the terminal's escapes. */
static int view_lines(char *frame, char **lines, int max)
{
	static const char *const esc[] = { "\033[H", "\033[K", "\033[J" };
	int n = 0;
	char *p;

	for (size_t e = 0; e < 3; e++)
		while ((p = strstr(frame, esc[e])))
			memmove(p, p + 3, strlen(p + 3) + 1);
	while (frame && *frame && n < max)
		lines[n++] = strsep(&frame, "\n");
	return n;
}

/* The frame for a width x height terminal (0, 0: a pipe), cleared first or not. */
static char *view_draw(const struct tk_snapshot *s, const struct tk_snapshot *prev,
		       int width, int height, bool clear)
{
	struct tk_render_opts o = {
		.histograms = true, .width = width, .height = height, .clear = clear,
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	tk_render_text(f, s, prev, &o);
	fclose(f);
	return buf;
}

static char *view_render(const struct tk_snapshot *s, const struct tk_snapshot *prev,
			 int width, int height)
{
	return view_draw(s, prev, width, height, false);
}

static char *view_render_clear(const struct tk_snapshot *s, const struct tk_snapshot *prev,
			       int width, int height)
{
	return view_draw(s, prev, width, height, true);
}

/* How a frame fits a terminal. */
struct view_fit {
	char heading[200];	/* the line with the column headings */
	int longest, lines;
	bool hint;		/* says columns are hidden */
};

static void view_fit(const struct tk_snapshot *s, const struct tk_snapshot *prev,
		     int width, int height, struct view_fit *v)
{
	char *buf = view_render(s, prev, width, height), *lines[200];
	int n = view_lines(buf, lines, 200);

	memset(v, 0, sizeof(*v));
	for (int i = 0; i < n; i++) {
		int len = (int)strlen(lines[i]);

		if (len > v->longest)
			v->longest = len;
		if (!strncmp(lines[i], " PORT DIR", 9))
			snprintf(v->heading, sizeof(v->heading), "%s", lines[i]);
		v->hint |= strstr(lines[i], "columns hidden") != NULL;
	}
	v->lines = n;
	free(buf);
}

static void test_view_widths(void)
{
	static const struct {
		int width, height;
		const char *heading;
	} cases[] = {
		{ 0, 0, VIEW_FULL }, { 200, 60, VIEW_FULL }, { 148, 60, VIEW_FULL },
		{ 147, 60, VIEW_MIDDLE }, { 100, 40, VIEW_MIDDLE }, { 98, 40, VIEW_MIDDLE },
		{ 97, 40, VIEW_NARROW }, { 80, 24, VIEW_NARROW }, { 77, 24, VIEW_NARROW },
	};
	struct tk_snapshot s, prev;
	struct view_fit v;
	char *buf;

	view_snapshot(&s, &prev, 3);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		view_fit(&s, &prev, cases[i].width, cases[i].height, &v);
		CHECK(!strcmp(v.heading, cases[i].heading));
		if (cases[i].width) {
			CHECK(v.longest <= cases[i].width);
			CHECK(v.lines <= cases[i].height);
		}
		/* the hint shows when and only when columns are hidden */
		CHECK(v.hint == !!strcmp(cases[i].heading, VIEW_FULL));
	}
	/* narrower than the narrow set: cut, never wrapped */
	view_fit(&s, &prev, 40, 12, &v);
	CHECK(!strncmp(v.heading, VIEW_NARROW, 40) && strlen(v.heading) == 40);
	CHECK(v.longest == 40 && v.lines == 12);
	/* rows line up under the headings */
	buf = view_render(&s, &prev, 0, 0);
	CHECK(strstr(buf, "\n" VIEW_FULL "\n") != NULL);
	CHECK(strstr(buf, "\n 1000 in      0.5     0.0    0.0    0.0    1000001         0       "
			  "0       0       0      7     0     0      3       0       0         "
			  "0     0     0\n") != NULL);
	CHECK(strstr(buf, "|****************************************|") != NULL);
	free(buf);
	tk_snapshot_free(&prev);
	s.policy = NULL;
	tk_snapshot_free(&s);
}

static void test_view_height(void)
{
	struct tk_snapshot s, prev;
	char *buf, *lines[200];
	int n;

	/* shorter bars at 79 columns, and what the height leaves out is said */
	view_snapshot(&s, &prev, 2);
	buf = view_render(&s, &prev, 79, 24);
	CHECK(strstr(buf, "|***************************************|") != NULL);
	CHECK(strstr(buf, "port 1000 in: connection lifetime, 12 closed") != NULL);
	CHECK(strstr(buf, "\n(1 lifetime histogram left out") != NULL);
	CHECK(strstr(buf, "\033[2J") == NULL);	/* no clearing into the scrollback... */
	n = view_lines(buf, lines, 200);
	CHECK(n <= 24);
	/* the second histogram left out whole, the count of it last */
	CHECK(strstr(lines[n - 1], "left out") != NULL);
	free(buf);
	buf = view_render_clear(&s, &prev, 79, 24);
	CHECK(!strncmp(buf, "\033[H\033[2J", 7));	/* ...unless asked */
	free(buf);
	/* a pipe has them all */
	buf = view_render(&s, &prev, 0, 0);
	CHECK(strstr(buf, "left out") == NULL);
	CHECK(strstr(buf, "port 1001 out: connection lifetime, 12 closed") != NULL);
	free(buf);
	tk_snapshot_free(&prev);
	s.policy = NULL;
	tk_snapshot_free(&s);
}

/* An address of a test destination or listener, family and all. */
static uint8_t test_addr(const char *text, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, text, out) == 1)
		return AF_INET;
	CHECK(inet_pton(AF_INET6, text, out) == 1);
	return AF_INET6;
}

static void offer_dest(struct tk_snapshot *s, uint32_t ns, const char *laddr,
		       const char *raddr, uint16_t rport, uint32_t used, uint32_t tw)
{
	struct tk_dest d = { .ns = ns, .rport = rport, .used = used, .time_wait = tw,
			     .range = 28232, .share = used / 28232.0 };

	d.family = test_addr(laddr, d.laddr);
	test_addr(raddr, d.raddr);
	tk_snapshot_offer_dest(s, &d);
}

static void offer_listener(struct tk_snapshot *s, uint32_t ns, const char *addr,
			   uint16_t port, uint32_t queue, uint32_t limit)
{
	struct tk_listener l = { .ns = ns, .port = port, .queue = queue, .limit = limit,
				 .share = (double)queue / (limit ? limit : 1) };

	l.family = test_addr(addr, l.addr);
	tk_snapshot_offer_listener(s, &l);
}

/*
 * What the dump found on a mail host: its own namespace, one from ip netns,
 * one only a process is in, two it could not enter. Seven destinations,
 * the worst holding share of the range; a full accept queue on 993.
 */
static void pressure_snapshot(struct tk_snapshot *s, double share)
{
	static const struct { const char *name; int pid, err; bool self; } ns[] = {
		{ "", 1, 0, true }, { "tkr-a", 0, 0, false }, { "", 4242, 0, false },
		{ "", 77, -EPERM, false }, { "", 78, -EACCES, false },
	};
	uint32_t worst = (uint32_t)(share * 28232);

	view_snapshot(s, &(struct tk_snapshot){ 0 }, 0);
	s->policy = NULL;
	s->npolicy = 0;
	s->netns = calloc(5, sizeof(*s->netns));
	s->nnetns = 5;
	for (int i = 0; i < 5; i++) {
		s->netns[i].ino = 4026531840u + i;
		snprintf(s->netns[i].name, sizeof(s->netns[i].name), "%s", ns[i].name);
		s->netns[i].pid = ns[i].pid;
		s->netns[i].err = ns[i].err;
		s->netns[i].self = ns[i].self;
	}
	s->netns_unreadable = 1;
	s->eph_range = 28232;
	tk_snapshot_row(s, 25, TK_DIR_OUT)->states[TK_TIME_WAIT] = worst + 100;
	tk_snapshot_row(s, 993, TK_DIR_IN)->states[TK_LISTEN] = 2;
	offer_dest(s, 0, "10.0.0.5", "10.0.0.9", 25, worst, worst - 10);
	offer_dest(s, 2, "fd00::5", "fd00::9", 25, 100, 90);
	for (int i = 0; i < 5; i++)
		offer_dest(s, 1, "10.1.0.1", "10.1.0.2", (uint16_t)(2000 + i), 10 - i, 0);
	offer_listener(s, 0, "0.0.0.0", 993, 128, 128);
	offer_listener(s, 1, "::", 993, 3, 4096);
	offer_listener(s, 2, "127.0.0.1", 2525, 0, 8);
	s->want_ns_rows = true;
	/* the dump's order: by namespace; the view's: the table's */
	tk_snapshot_add_ns_row(s, 2, 25, TK_DIR_OUT)->states[TK_TIME_WAIT] = 100;
	tk_snapshot_add_ns_row(s, 0, 993, TK_DIR_IN)->states[TK_LISTEN] = 1;
	tk_snapshot_add_ns_row(s, 0, 25, TK_DIR_OUT)->states[TK_TIME_WAIT] = worst;
	tk_snapshot_add_ns_row(s, 1, 993, TK_DIR_IN)->states[TK_LISTEN] = 1;
}

/* Lines of buf holding every one of the NULL-ended substrings. */
static int view_lines_with(const char *buf, ...)
{
	int n = 0;

	for (const char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		char line[512];
		const char *want;
		bool all = true;
		va_list ap;

		snprintf(line, sizeof(line), "%.*s", (int)strcspn(l, "\n"), l);
		va_start(ap, buf);
		while ((want = va_arg(ap, const char *)))
			all = all && strstr(line, want);
		va_end(ap);
		n += all;
	}
	return n;
}

/*
 * The sections under the table: namespaces in the header, per-namespace
 * rows in the table's order, the five worst destinations and the hint
 * past half a range, the fullest listeners; on a terminal, within it.
 */
static void test_view_pressure(void)
{
	static const int sizes[][2] = { { 80, 24 }, { 160, 50 }, { 77, 12 } };
	struct tk_snapshot s;
	struct view_fit v;
	char *buf, *p, *q;

	pressure_snapshot(&s, 0.6);
	buf = view_render(&s, NULL, 0, 0);
	CHECK(strstr(buf, "  netns 3 visited, 2 not  (1 need CAP_SYS_ADMIN, 1 access denied)  "
		     "1 process unreadable (access denied)\n"));
	CHECK(strstr(buf, "\nper namespace  (states now; the counters above sum every "
		     "namespace)\n PORT DIR  LISTEN  ESTAB   SYN  FINW CLOSEW LASTACK  TIMEWT  "
		     "NETNS\n"));
	/* rows follow the table (25 out, busier, first), namespaces in order */
	p = strstr(buf, "\n   25 out       0      0     0     0      0       0   16939  host\n");
	q = strstr(buf, "\n   25 out       0      0     0     0      0       0     100  "
		   "pid 4242\n");
	CHECK(p && q && p < q);
	p = strstr(buf, "\n  993 in        1      0     0     0      0       0       0  host\n");
	q = strstr(buf, "\n  993 in        1      0     0     0      0       0       0  tkr-a\n");
	CHECK(p && q && p < q && p > strstr(buf, "pid 4242"));
	CHECK(strstr(buf, "\nport pressure  (local ports in use per destination, worst first)\n"
		     " SHARE   USED TIMEWT  RANGE  DESTINATION                NETNS\n"
		     " 60.0%  16939  16929  28232  10.0.0.5 -> 10.0.0.9:25    host\n"
		     "  0.4%    100     90  28232  fd00::5 -> [fd00::9]:25    pid 4242\n"
		     "  0.0%     10      0  28232  10.1.0.1 -> 10.1.0.2:2000  tkr-a\n"));
	CHECK(view_lines_with(buf, " -> ", NULL) == 5);	/* of 7 */
	CHECK(!strstr(buf, ":2003") && !strstr(buf, ":2004"));
	CHECK(view_lines_with(buf, "hint: over half of a local port range in use: see README, "
			      "\"Port pressure\"", NULL) == 1);
	CHECK(strstr(buf, "\naccept queues  (fullest first; the kernel drops connections past "
		     "the limit)\n QUEUE  LIMIT   FULL  LISTENER        NETNS\n"
		     "   128    128 100.0%  0.0.0.0:993     host\n"
		     "     3   4096   0.1%  [::]:993        tkr-a\n"
		     "     0      8   0.0%  127.0.0.1:2525  pid 4242\n"));
	free(buf);
	/*
	 * On a terminal every line within it; where there is room, the
	 * namespaces' reasons whole, the hint and the fullest listener, with
	 * fewer rows per namespace and fewer destinations to make it.
	 */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int w = sizes[i][0], h = sizes[i][1];

		view_fit(&s, NULL, w, h, &v);
		CHECK(v.longest <= w && v.lines <= h);
		if (h < 24)
			continue;
		buf = view_render(&s, NULL, w, h);
		CHECK(strstr(buf, "netns 3 visited, 2 not"));
		CHECK(strstr(buf, "(1 need CAP_SYS_ADMIN, 1 access denied)"));
		CHECK(strstr(buf, "1 process unreadable (access denied)"));
		CHECK(strstr(buf, "hint: over half"));
		CHECK(strstr(buf, "   128    128 100.0%  0.0.0.0:993"));
		CHECK(!strstr(buf, "more: enlarge the terminal") == (h >= 50));
		free(buf);
	}
	tk_snapshot_free(&s);

	/* half a range is no hint yet; no --netns, no rows per namespace */
	pressure_snapshot(&s, 0.5);
	s.want_ns_rows = false;
	buf = view_render(&s, NULL, 0, 0);
	CHECK(strstr(buf, "\n 50.0%  14116  14106  28232  10.0.0.5 -> 10.0.0.9:25"));
	CHECK(!strstr(buf, "hint:") && !strstr(buf, "per namespace"));
	free(buf);
	/* every namespace visited; none found: no dump, no field */
	for (size_t i = 0; i < s.nnetns; i++)
		s.netns[i].err = 0;
	s.netns_unreadable = 0;
	buf = view_render(&s, NULL, 0, 0);
	CHECK(strstr(buf, "  netns 5 visited\n"));
	free(buf);
	s.nnetns = 0;
	s.ndests = s.nlisteners = 0;
	buf = view_render(&s, NULL, 0, 0);
	CHECK(!strstr(buf, "netns") && !strstr(buf, "port pressure") &&
	      !strstr(buf, "accept queues"));
	free(buf);
	tk_snapshot_free(&s);
}

/* The same snapshot as JSON: every namespace, destination and listener by
 * the namespace's inode, and the rows' worst destination and listener. */
static void test_json_pressure(void)
{
	struct tk_snapshot s;
	struct tk_row *r;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	pressure_snapshot(&s, 0.6);
	r = tk_snapshot_row(&s, 25, TK_DIR_OUT);
	r->eph_used = 16939;
	r->eph_share = 0.6;
	r = tk_snapshot_row(&s, 993, TK_DIR_IN);
	r->listeners = 2;
	r->queue = r->queue_limit = 128;
	f = open_memstream(&buf, &len);
	tk_render_json(f, &s, NULL);
	fclose(f);
	CHECK(strstr(buf, "\"ephemeral_ports\":{\"used\":16939,\"share\":0.6000}"));
	CHECK(strstr(buf, "\"accept_queue\":{\"listeners\":2,\"queue\":128,\"limit\":128}"));
	CHECK(strstr(buf, "\"netns\":{\"visited\":3,\"unvisited\":2,\"unreadable_processes\":1,"
		     "\"namespaces\":[{\"inode\":4026531840,\"self\":true,\"name\":null,\"pid\":1,"
		     "\"error\":null,\"audit_error\":null,\"sockets\":0,\"local_port_range\":[0,0]},"
		     "{\"inode\":4026531841,\"self\":false,\"name\":\"tkr-a\",\"pid\":null,"));
	CHECK(strstr(buf, "{\"inode\":4026531843,\"self\":false,\"name\":null,\"pid\":77,"
		     "\"error\":\"Operation not permitted\"}"));
	CHECK(strstr(buf, "\"netns_rows\":[{\"netns\":4026531842,\"port\":25,\"direction\":\"out\","
		     "\"states\":{"));
	CHECK(strstr(buf, "\"port_pressure\":{\"local_port_range_size\":28232,\"untracked\":0,"
		     "\"destinations\":[{\"netns\":4026531840,\"local\":\"10.0.0.5\","
		     "\"remote\":\"10.0.0.9\",\"port\":25,\"used\":16939,\"time_wait\":16929,"
		     "\"range\":28232,\"share\":0.6000},{\"netns\":4026531842,"
		     "\"local\":\"fd00::5\",\"remote\":\"fd00::9\",\"port\":25,"));
	CHECK(strstr(buf, "\"listen_queues\":{\"untracked\":0,\"listeners\":[{\"netns\":4026531840,"
		     "\"address\":\"0.0.0.0\",\"port\":993,\"queue\":128,\"limit\":128,"
		     "\"share\":1.0000},"));
	free(buf);
	tk_snapshot_free(&s);
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
	CHECK(tk_snapshot_sort(&s, &prev) == 0);
	CHECK(s.rows[0].port == 993);	/* busiest in this interval first */
	ports[80] = true;
	tk_snapshot_filter(&s, ports);
	CHECK(s.nrows == 1 && s.rows[0].port == 80);
	CHECK(tk_snapshot_row(&s, 80, TK_DIR_IN) == &s.rows[0]);
	tk_snapshot_free(&s);
	tk_snapshot_free(&prev);
	free(ports);
}

/* A reference order, as the sort's documentation states it. */
static bool sorted_before(const struct tk_row *a, const struct tk_row *b,
			  const struct tk_snapshot *prev)
{
	const struct tk_row *pa = tk_snapshot_find(prev, a->port, a->dir);
	const struct tk_row *pb = tk_snapshot_find(prev, b->port, b->dir);
	uint64_t ta = tk_row_transitions(a), tb = tk_row_transitions(b);
	uint64_t xa = ta - (pa ? tk_row_transitions(pa) : 0);
	uint64_t xb = tb - (pb ? tk_row_transitions(pb) : 0);

	if (xa != xb)
		return xa > xb;
	if (ta != tb)
		return ta > tb;
	if (a->port != b->port)
		return a->port < b->port;
	return a->dir < b->dir;
}

/* Many rows, moved in cycles: each row's whole contents go with it. */
static void test_snapshot_sort_many(void)
{
	struct tk_snapshot s, prev;
	bool ordered = true, intact = true;
	unsigned int seed = 1;

	tk_snapshot_init(&s);
	tk_snapshot_init(&prev);
	for (unsigned int i = 0; i < 300; i++) {
		uint16_t port = 1 + (uint16_t)(i / 2);
		uint8_t dir = i % 2;
		struct tk_row *r = tk_snapshot_row(&s, port, dir);

		seed = seed * 1103515245 + 12345;
		/* few distinct counts: many ties broken by port and direction */
		r->trans[1][7] = 10 + (seed >> 16) % 8;
		r->sum_us = port * 2u + dir;
		r->states[1] = port;
		r->ka_errors[TK_OPT_MAX - 1] = dir + 1;
		if ((seed >> 8) % 3)	/* a third are new since prev */
			tk_snapshot_row(&prev, port, dir)->trans[1][7] = (seed >> 20) % 10;
	}
	CHECK(tk_snapshot_sort(&s, &prev) == 0 && s.nrows == 300);
	for (size_t i = 0; i < s.nrows; i++) {
		const struct tk_row *r = &s.rows[i];

		if (i && !sorted_before(&s.rows[i - 1], r, &prev))
			ordered = false;
		if (r->sum_us != r->port * 2u + r->dir || r->states[1] != r->port ||
		    r->ka_errors[TK_OPT_MAX - 1] != r->dir + 1u)
			intact = false;
	}
	CHECK(ordered);
	CHECK(intact);
	/* without prev: by transitions in total, then port, then direction */
	CHECK(tk_snapshot_sort(&s, NULL) == 0);
	ordered = true;
	for (size_t i = 1; i < s.nrows; i++) {
		const struct tk_row *a = &s.rows[i - 1], *b = &s.rows[i];
		uint64_t ta = tk_row_transitions(a), tb = tk_row_transitions(b);

		if (ta < tb || (ta == tb && (a->port > b->port ||
					     (a->port == b->port && a->dir >= b->dir))))
			ordered = false;
	}
	CHECK(ordered);
	tk_snapshot_free(&s);
	tk_snapshot_free(&prev);
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
}

static uint32_t diag_states(const struct tk_diag *d, uint16_t port, uint8_t dir,
			    unsigned int state)
{
	for (size_t i = 0; i < d->nrows; i++)
		if (d->rows[i].port == port && d->rows[i].dir == dir)
			return d->rows[i].states[state];
	return 0;
}

/* A socket of the dump by its ports only, on 127.0.0.1 to 127.0.0.2. */
static int diag_add(struct tk_diag *d, uint16_t lport, uint16_t rport, unsigned int state)
{
	struct tk_diag_sock sk = {
		.family = AF_INET, .state = (uint8_t)state, .lport = lport, .rport = rport,
		.laddr = { 127, 0, 0, 1 }, .raddr = { 127, 0, 0, 2 },
	};

	return tk_diag_add(d, &sk);
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
	CHECK(diag_add(&d, 993, 0, TK_LISTEN) == 0);
	CHECK(diag_add(&d, 40000, 0, TK_LISTEN) == 0);
	CHECK(diag_add(&d, 993, 45000, TK_ESTABLISHED) == 0);
	CHECK(diag_add(&d, 45000, 993, TK_ESTABLISHED) == 0);
	CHECK(diag_add(&d, 45001, 993, TK_TIME_WAIT) == 0);
	CHECK(diag_add(&d, 993, 45004, TK_NEW_SYN_RECV) == 0);
	/* both ephemeral: the accepted side has its listener, the client nothing */
	CHECK(diag_add(&d, 40000, 45002, TK_ESTABLISHED) == 0);
	CHECK(diag_add(&d, 45002, 40000, TK_ESTABLISHED) == 0);
	/* still connecting: the origin is known */
	CHECK(diag_add(&d, 45003, 40001, TK_SYN_SENT) == 0);
	/* leftovers of closed listeners: the ports tell */
	CHECK(diag_add(&d, 8080, 45005, TK_TIME_WAIT) == 0);
	CHECK(diag_add(&d, 40002, 45006, TK_TIME_WAIT) == 0);
	/* a state the dump never shows, and one past the table */
	CHECK(diag_add(&d, 993, 45007, 0) == 0);
	CHECK(diag_add(&d, 993, 45007, TK_NSTATES) == 0);

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
	CHECK(tk_diag_merge(&d, &s, 0) == 0);
	CHECK(s.nrows == 5);
	CHECK(tk_snapshot_find(&s, 993, TK_DIR_IN)->states[TK_LISTEN] == 2);
	CHECK(tk_snapshot_find(&s, 8080, TK_DIR_IN)->states[TK_TIME_WAIT] == 1);
	tk_snapshot_free(&s);

	/* a new dump starts from nothing */
	tk_diag_reset(&d);
	CHECK(d.nrows == 0 && d.unattributed == 0);
	CHECK(diag_add(&d, 40000, 45002, TK_ESTABLISHED) == 0);
	CHECK(d.nrows == 0 && d.unattributed == 1);	/* no listener any more */
	tk_diag_free(&d);

	/* a port filter: no rows of other ports are made */
	ports[993] = true;
	CHECK(tk_diag_init(&d, EPH_LO, EPH_HI, ports) == 0);
	CHECK(diag_add(&d, 993, 0, TK_LISTEN) == 0);
	CHECK(diag_add(&d, 143, 0, TK_LISTEN) == 0);
	CHECK(diag_add(&d, 45000, 143, TK_ESTABLISHED) == 0);
	CHECK(diag_add(&d, 45001, 993, TK_ESTABLISHED) == 0);
	CHECK(d.nrows == 2 && diag_states(&d, 993, TK_DIR_OUT, TK_ESTABLISHED) == 1);
	CHECK(diag_states(&d, 143, TK_DIR_IN, TK_LISTEN) == 0);
	tk_diag_free(&d);

	/* bounded: past TK_DIAG_MAX_ROWS rows the dump is refused */
	CHECK(tk_diag_init(&d, EPH_LO, EPH_HI, NULL) == 0);
	failures = 0;
	for (unsigned int p = 1; p <= TK_DIAG_MAX_ROWS; p++)
		failures += diag_add(&d, 45000, (uint16_t)p, TK_SYN_SENT) != 0;
	CHECK(failures == 0 && d.nrows == TK_DIAG_MAX_ROWS);
	CHECK(diag_add(&d, 45000, 1, TK_SYN_SENT) == 0);	/* a row it has */
	CHECK(diag_add(&d, 45000, TK_DIAG_MAX_ROWS + 1, TK_SYN_SENT) == -E2BIG);
	tk_diag_free(&d);
	free(ports);
}

static int diag_sock(struct tk_diag *d, uint8_t family, const char *laddr, uint16_t lport,
		     const char *raddr, uint16_t rport, unsigned int state, uint32_t rq,
		     uint32_t wq)
{
	struct tk_diag_sock sk = {
		.family = family, .state = (uint8_t)state, .lport = lport, .rport = rport,
		.rqueue = rq, .wqueue = wq,
	};

	inet_pton(family, laddr, sk.laddr);
	inet_pton(family, raddr, sk.raddr);
	return tk_diag_add(d, &sk);
}

/* Ports held per destination and accept queues, over two namespaces. */
static void test_diag_pressure(void)
{
	struct tk_diag d;
	struct tk_snapshot s;
	const struct tk_row *r;
	char a[TK_ADDR_LEN];
	int failures = 0;

	tk_snapshot_init(&s);
	/* namespace 0: range 40000-40099 (100 ports) */
	CHECK(tk_diag_init(&d, 40000, 40099, NULL) == 0);
	CHECK(diag_sock(&d, AF_INET, "0.0.0.0", 25, "0.0.0.0", 0, TK_LISTEN, 3, 2) == 0);
	CHECK(diag_sock(&d, AF_INET, "0.0.0.0", 40090, "0.0.0.0", 0, TK_LISTEN, 0, 128) == 0);
	/* 60 ports to 10.0.0.2:25, 55 of them in TIME_WAIT */
	for (unsigned int i = 0; i < 60; i++)
		failures += diag_sock(&d, AF_INET, "10.0.0.1", (uint16_t)(40000 + i), "10.0.0.2",
				      25, i < 55 ? TK_TIME_WAIT : TK_ESTABLISHED, 0, 0) != 0;
	/* 10 to 10.0.0.3:25, and from a second local address to 10.0.0.2:25 */
	for (unsigned int i = 0; i < 10; i++) {
		failures += diag_sock(&d, AF_INET, "10.0.0.1", (uint16_t)(40000 + i), "10.0.0.3",
				      25, TK_ESTABLISHED, 0, 0) != 0;
		failures += diag_sock(&d, AF_INET, "10.0.0.9", (uint16_t)(40000 + i), "10.0.0.2",
				      25, TK_ESTABLISHED, 0, 0) != 0;
	}
	/* IPv4-mapped IPv6 is the same destination as IPv4 */
	failures += diag_sock(&d, AF_INET6, "::ffff:10.0.0.1", 40070, "::ffff:10.0.0.2", 25,
			      TK_SYN_SENT, 0, 0) != 0;
	/* not holding an ephemeral port: outside the range, or a listener's */
	failures += diag_sock(&d, AF_INET, "10.0.0.1", 30000, "10.0.0.2", 25, TK_ESTABLISHED,
			      0, 0) != 0;
	failures += diag_sock(&d, AF_INET, "10.0.0.1", 40090, "10.0.0.7", 50000, TK_ESTABLISHED,
			      0, 0) != 0;
	CHECK(failures == 0);
	CHECK(d.ndests == 3);
	CHECK(d.nlisteners == 2);
	CHECK(tk_diag_merge(&d, &s, 0) == 0);

	/* worst first, with its own range */
	CHECK(s.ndests == 3);
	CHECK(s.dests[0].used == 61 && s.dests[0].time_wait == 55 && s.dests[0].range == 100);
	CHECK(s.dests[0].share > 0.609 && s.dests[0].share < 0.611);
	CHECK(!strcmp(tk_addr_name(s.dests[0].family, s.dests[0].raddr, a, sizeof(a)),
		      "10.0.0.2"));
	CHECK(!strcmp(tk_addr_name(s.dests[0].family, s.dests[0].laddr, a, sizeof(a)),
		      "10.0.0.1"));
	CHECK(s.dests[1].used == 10 && s.dests[2].used == 10);
	r = tk_snapshot_find(&s, 25, TK_DIR_OUT);
	CHECK(r && r->eph_used == 61 && r->eph_share == s.dests[0].share);
	/* the listener past its backlog is the fullest */
	CHECK(s.nlisteners == 2 && s.listeners[0].port == 25 && s.listeners[0].queue == 3 &&
	      s.listeners[0].limit == 2 && s.listeners[0].share == 1.5);
	r = tk_snapshot_find(&s, 25, TK_DIR_IN);
	CHECK(r && r->listeners == 1 && r->queue == 3 && r->queue_limit == 2);

	/* namespace 1: the default range; a worse destination, a fuller listener */
	tk_diag_free(&d);
	s.want_ns_rows = true;
	CHECK(tk_diag_init(&d, 32768, 60999, NULL) == 0);
	CHECK(diag_sock(&d, AF_INET6, "::", 25, "::", 0, TK_LISTEN, 1, 0) == 0);
	CHECK(diag_sock(&d, AF_INET6, "fd00::1", 33000, "fd00::2", 25, TK_ESTABLISHED, 0, 0) == 0);
	CHECK(tk_diag_merge(&d, &s, 1) == 0);
	r = tk_snapshot_find(&s, 25, TK_DIR_IN);
	/* a backlog of 0 holds one: 1 of 1 is full, as 1.0 < 1.5 it stays second */
	CHECK(r && r->listeners == 2 && r->queue == 3 && r->queue_limit == 2);
	CHECK(s.nlisteners == 3 && s.listeners[1].ns == 1 && s.listeners[1].share == 1.0);
	CHECK(s.ndests == 4 && s.dests[3].ns == 1 && s.dests[3].range == 28232);
	r = tk_snapshot_find(&s, 25, TK_DIR_OUT);
	/* 5 + 10 + 10 in the first (from 30000: the rule counts it "in"), 1 here */
	CHECK(r && r->states[TK_ESTABLISHED] == 26 && r->eph_used == 61);
	/* per namespace rows only from when they were asked for */
	CHECK(s.nns_rows == 2);
	for (size_t i = 0; i < s.nns_rows; i++)
		CHECK(s.ns_rows[i].ns == 1 && s.ns_rows[i].port == 25);

	/* a new dump forgets destinations and listeners */
	tk_diag_reset(&d);
	CHECK(d.ndests == 0 && d.nlisteners == 0 && d.sockets == 0);
	tk_diag_free(&d);
	tk_snapshot_free(&s);

	/* bounded: past TK_DIAG_MAX_DESTS destinations sockets are counted untracked */
	CHECK(tk_diag_init(&d, 1024, 65535, NULL) == 0);
	failures = 0;
	for (unsigned int i = 0; i < TK_DIAG_MAX_DESTS + 5; i++) {
		struct tk_diag_sock sk = {
			.family = AF_INET, .state = TK_TIME_WAIT, .lport = 2000, .rport = 80,
			.raddr = { 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i },
		};

		failures += tk_diag_add(&d, &sk) != 0;
	}
	CHECK(failures == 0 && d.ndests == TK_DIAG_MAX_DESTS && d.dests_untracked == 5);
	tk_snapshot_init(&s);
	CHECK(tk_diag_merge(&d, &s, 0) == 0);
	CHECK(s.ndests == TK_TOP_DESTS && s.dests_untracked == 5);
	tk_snapshot_free(&s);
	tk_diag_free(&d);
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

/* A socket in a reply of the given type (that of the request). */
static void nl_sock_typed(char *buf, size_t *off, uint16_t type, uint32_t pid, uint32_t seq,
			  uint8_t family, uint16_t lport, uint16_t rport, uint8_t state,
			  uint16_t flags)
{
	struct inet_diag_msg m = {
		.idiag_family = family, .idiag_state = state,
		.id = { .idiag_sport = htons(lport), .idiag_dport = htons(rport) },
	};

	nl_put(buf, off, type, NLM_F_MULTI | flags, pid, seq, &m, sizeof(m));
}

static void nl_sock(char *buf, size_t *off, uint32_t pid, uint32_t seq, uint8_t family,
		    uint16_t lport, uint16_t rport, uint8_t state, uint16_t flags)
{
	nl_sock_typed(buf, off, SOCK_DIAG_BY_FAMILY, pid, seq, family, lport, rport, state,
		      flags);
}

static void test_diag_parse(void)
{
	const struct tk_diag_expect x = {
		.pid = 4242, .seq = 7, .type = SOCK_DIAG_BY_FAMILY, .family = AF_INET,
	};
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
	nl_sock_typed(buf, &off, TCPDIAG_GETSOCK, 4242, 7, AF_INET, 45005, 993,
		      TK_ESTABLISHED, 0);
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == -EPROTO);	/* other request's */
	off = 0;
	nl_put(buf, &off, NLMSG_NOOP, 0, 4242, 7, &zero, 0);
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == 0);
	CHECK(tk_diag_parse(&d, buf, 0, &x, &intr) == 0);
	/* none of these counted a socket */
	CHECK(diag_states(&d, 993, TK_DIR_OUT, TK_ESTABLISHED) == 2);	/* and the DUMP_INTR one */
	tk_diag_free(&d);
}

/* TCPDIAG_GETSOCK: both families in one dump, in replies of that type. */
static void test_diag_parse_both(void)
{
	const struct tk_diag_expect x = {
		.pid = 4242, .seq = 9, .type = TCPDIAG_GETSOCK, .family = AF_UNSPEC,
	};
	_Alignas(struct nlmsghdr) char buf[4096];
	struct tk_diag d;
	bool intr = false;
	size_t off = 0;
	int zero = 0;

	CHECK(tk_diag_init(&d, EPH_LO, EPH_HI, NULL) == 0);
	nl_sock_typed(buf, &off, TCPDIAG_GETSOCK, 4242, 9, AF_INET, 993, 0, TK_LISTEN, 0);
	nl_sock_typed(buf, &off, TCPDIAG_GETSOCK, 4242, 9, AF_INET6, 993, 0, TK_LISTEN, 0);
	nl_sock_typed(buf, &off, TCPDIAG_GETSOCK, 4242, 9, AF_INET, 993, 45000,
		      TK_ESTABLISHED, 0);
	nl_sock_typed(buf, &off, TCPDIAG_GETSOCK, 4242, 9, AF_INET6, 993, 45001,
		      TK_ESTABLISHED, 0);
	nl_put(buf, &off, NLMSG_DONE, NLM_F_MULTI, 4242, 9, &zero, sizeof(zero));
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == 1 && !intr);
	CHECK(d.sockets == 4);
	CHECK(diag_states(&d, 993, TK_DIR_IN, TK_LISTEN) == 2);
	CHECK(diag_states(&d, 993, TK_DIR_IN, TK_ESTABLISHED) == 2);
	/* a family that is neither, or a reply of the other request */
	off = 0;
	nl_sock_typed(buf, &off, TCPDIAG_GETSOCK, 4242, 9, AF_UNIX, 993, 45002,
		      TK_ESTABLISHED, 0);
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == -EPROTO);
	off = 0;
	nl_sock(buf, &off, 4242, 9, AF_INET, 993, 45002, TK_ESTABLISHED, 0);
	CHECK(tk_diag_parse(&d, buf, off, &x, &intr) == -EPROTO);
	CHECK(d.sockets == 4);
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

/* What the writer makes of one string of n bytes, as a string value. */
static bool json_string_is(const char *in, size_t n, const char *want)
{
	struct tk_json j;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool ok;

	tk_json_init(&j, f);
	tk_json_stringn(&j, in, n);
	ok = tk_json_finish(&j) == 0;
	fclose(f);
	ok = ok && len == strlen(want) && !memcmp(buf, want, len);
	if (!ok)
		fprintf(stderr, "  got  %.*s\n  want %s\n", (int)len, buf, want);
	free(buf);
	return ok;
}

/* in: a string literal, NULs and all */
#define STR_IS(in, want) json_string_is(in, sizeof(in) - 1, want)
#define FFFD "\\ufffd"

static void test_json_escapes(void)
{
	CHECK(STR_IS("", "\"\""));
	CHECK(STR_IS("plain /path", "\"plain /path\""));
	CHECK(STR_IS("a\"b\\c", "\"a\\\"b\\\\c\""));
	CHECK(STR_IS("\n\t\r\b\f", "\"\\n\\t\\r\\b\\f\""));
	CHECK(STR_IS("\x01\x1f\x1b[0m\x7f", "\"\\u0001\\u001f\\u001b[0m\x7f\""));
	CHECK(STR_IS("a\0b", "\"a\\u0000b\""));	/* n bytes: a NUL is a byte */
	/* valid UTF-8 passes unchanged, the edges of each length included */
	CHECK(STR_IS("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
		     "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""));
	CHECK(STR_IS("\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf",
		     "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\""));
	CHECK(STR_IS("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", "\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\""));
	CHECK(STR_IS("\xe2\x80\xa8", "\"\xe2\x80\xa8\""));	/* U+2028: valid JSON */
}

/* Each byte of an invalid sequence becomes U+FFFD; what follows is read afresh. */
static void test_json_bad_utf8(void)
{
	CHECK(STR_IS("\xff", "\"" FFFD "\""));
	CHECK(STR_IS("a\xff" "b", "\"a" FFFD "b\""));
	CHECK(STR_IS("\xfe\xf5\xc1", "\"" FFFD FFFD FFFD "\""));	/* never lead bytes */
	CHECK(STR_IS("\x80", "\"" FFFD "\""));			/* lone continuation */
	CHECK(STR_IS("\xbf\xc3\xa9", "\"" FFFD "\xc3\xa9\""));
	CHECK(STR_IS("\xe2\x82", "\"" FFFD FFFD "\""));		/* truncated at the end */
	CHECK(STR_IS("\xe2\x82x", "\"" FFFD FFFD "x\""));	/* truncated inside */
	CHECK(STR_IS("\xe2\x82\xe2\x82\xac", "\"" FFFD FFFD "\xe2\x82\xac\""));
	CHECK(STR_IS("\xc3", "\"" FFFD "\""));
	CHECK(STR_IS("\xf0\x9f\x98", "\"" FFFD FFFD FFFD "\""));
	CHECK(STR_IS("\xc3\"", "\"" FFFD "\\\"\""));	/* an escape ends a sequence */
	CHECK(STR_IS("\xc0\xaf", "\"" FFFD FFFD "\""));		/* overlong '/' */
	CHECK(STR_IS("\xe0\x80\xaf", "\"" FFFD FFFD FFFD "\""));
	CHECK(STR_IS("\xe0\x9f\xbf", "\"" FFFD FFFD FFFD "\""));
	CHECK(STR_IS("\xf0\x8f\xbf\xbf", "\"" FFFD FFFD FFFD FFFD "\""));
	CHECK(STR_IS("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\""));	/* surrogate U+D800 */
	CHECK(STR_IS("\xed\xbf\xbf", "\"" FFFD FFFD FFFD "\""));	/* U+DFFF */
	CHECK(STR_IS("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""));	/* U+110000 */
	CHECK(STR_IS("\xf7\xbf\xbf\xbf", "\"" FFFD FFFD FFFD FFFD "\""));
}

/* What fn writes, compared with want; and what tk_json_finish() says. */
static bool json_doc_is(void (*fn)(struct tk_json *), const char *want, int finish)
{
	struct tk_json j;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool ok;

	tk_json_init(&j, f);
	fn(&j);
	ok = tk_json_finish(&j) == finish;
	fclose(f);
	ok = ok && len == strlen(want) && !memcmp(buf, want, len);
	if (!ok)
		fprintf(stderr, "  got  %.*s (finish %d)\n  want %s\n", (int)len, buf,
			tk_json_finish(&j), want);
	free(buf);
	return ok;
}

static void doc_nested(struct tk_json *j)
{
	tk_json_begin_object(j);
	tk_json_key(j, "a");
	tk_json_begin_array(j);
	tk_json_u64(j, 1);
	tk_json_begin_object(j);
	tk_json_key(j, "b");
	tk_json_null(j);
	tk_json_end_object(j);
	tk_json_begin_array(j);
	tk_json_end_array(j);
	tk_json_string(j, "x");
	tk_json_string(j, NULL);
	tk_json_end_array(j);
	tk_json_key(j, "c");
	tk_json_begin_object(j);
	tk_json_end_object(j);
	tk_json_kv_bool(j, "d", true);
	tk_json_keyn(j, "e\0\xff", 3);
	tk_json_i64(j, INT64_MIN);
	tk_json_kv_u64(j, "f", UINT64_MAX);
	tk_json_end_object(j);
}

static void doc_numbers(struct tk_json *j)
{
	tk_json_begin_array(j);
	tk_json_double(j, 1.5, 3);
	tk_json_double(j, 2.0 / 3, 6);
	tk_json_double(j, -0.0, 3);
	tk_json_double(j, 7.7, 0);
	tk_json_double(j, NAN, 3);
	tk_json_double(j, INFINITY, 3);
	tk_json_double(j, -INFINITY, 3);
	tk_json_i64(j, -1);
	tk_json_bool(j, false);
	tk_json_end_array(j);
}

static void doc_deep(struct tk_json *j)
{
	for (int i = 0; i < TK_JSON_MAX_DEPTH; i++)
		tk_json_begin_array(j);
	for (int i = 0; i < TK_JSON_MAX_DEPTH; i++)
		tk_json_end_array(j);
}

/* one level too deep: nothing more is written, ends included */
static void doc_too_deep(struct tk_json *j)
{
	for (int i = 0; i <= TK_JSON_MAX_DEPTH; i++)
		tk_json_begin_array(j);
	for (int i = 0; i <= TK_JSON_MAX_DEPTH; i++)
		tk_json_end_array(j);
}

static void doc_value_without_key(struct tk_json *j)
{
	tk_json_begin_object(j);
	tk_json_u64(j, 1);
	tk_json_end_object(j);
}

static void doc_key_in_array(struct tk_json *j)
{
	tk_json_begin_array(j);
	tk_json_key(j, "k");
	tk_json_end_array(j);
}

static void doc_key_twice(struct tk_json *j)
{
	tk_json_begin_object(j);
	tk_json_key(j, "k");
	tk_json_key(j, "l");
}

static void doc_dangling_key(struct tk_json *j)
{
	tk_json_begin_object(j);
	tk_json_key(j, "k");
	tk_json_end_object(j);
}

static void doc_wrong_end(struct tk_json *j)
{
	tk_json_begin_array(j);
	tk_json_end_object(j);
	tk_json_end_array(j);
}

static void doc_end_first(struct tk_json *j)
{
	tk_json_end_array(j);
	tk_json_u64(j, 1);
}

static void doc_two_values(struct tk_json *j)
{
	tk_json_u64(j, 1);
	tk_json_u64(j, 2);
}

static void doc_open(struct tk_json *j)
{
	tk_json_begin_object(j);
	tk_json_kv_u64(j, "a", 1);
}

static void doc_bad_precision(struct tk_json *j)
{
	tk_json_begin_array(j);
	tk_json_double(j, 1, 18);
	tk_json_end_array(j);
}

static void doc_nothing(struct tk_json *j)
{
}

static void test_json_writer(void)
{
	CHECK(json_doc_is(doc_nested, "{\"a\":[1,{\"b\":null},[],\"x\",null],\"c\":{},"
			  "\"d\":true,\"e\\u0000" FFFD "\":-9223372036854775808,"
			  "\"f\":18446744073709551615}", 0));
	CHECK(json_doc_is(doc_numbers, "[1.500,0.666667,-0.000,8,null,null,null,-1,false]", 0));
	CHECK(json_doc_is(doc_deep, "[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]", 0));
	/* misuse: the writer stops, and says so */
	CHECK(json_doc_is(doc_too_deep, "[[[[[[[[[[[[[[[[", -1));
	CHECK(json_doc_is(doc_value_without_key, "{", -1));
	CHECK(json_doc_is(doc_key_in_array, "[", -1));
	CHECK(json_doc_is(doc_key_twice, "{\"k\":", -1));
	CHECK(json_doc_is(doc_dangling_key, "{\"k\":", -1));
	CHECK(json_doc_is(doc_wrong_end, "[", -1));
	CHECK(json_doc_is(doc_end_first, "", -1));
	CHECK(json_doc_is(doc_two_values, "1", -1));
	CHECK(json_doc_is(doc_open, "{\"a\":1", -1));
	CHECK(json_doc_is(doc_bad_precision, "[", -1));
	CHECK(json_doc_is(doc_nothing, "", -1));
}

/* What render writes for (a, b), compared with want. */
static bool rendered_is(void (*render)(FILE *, const void *, const void *), const void *a,
			const void *b, const char *want)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool ok;

	render(f, a, b);
	fclose(f);
	ok = len == strlen(want) && !memcmp(buf, want, len);
	if (!ok)
		fprintf(stderr, "  got  %.*s\n  want %s\n", (int)len, buf, want);
	free(buf);
	return ok;
}

static void status_json(FILE *f, const void *st, const void *s)
{
	tk_status_json(f, st, s);
}

static void frame_json(FILE *f, const void *cur, const void *prev)
{
	tk_render_json(f, cur, prev);
}

static void policy_json(FILE *f, const void *s, const void *unused)
{
	tk_render_policy_json(f, s);
}

/* The bytes of the status and frame JSON, as they were before the writer, but
 * for strings from the system: a cgroup path may hold any bytes. */
#define POLICY "[{\"port\":110,\"off\":true},{\"port\":993,\"off\":false,\"idle\":300," \
	"\"intvl\":60,\"cnt\":5,\"user_timeout\":600}]"
#define STATUS_TAIL "\"totals\":{\"transitions\":9,\"opened\":9,\"closed\":0,\"reset\":0," \
	"\"keepalive_applied\":0,\"dead_peers\":0},\"missed\":1,\"nested_caught\":1," \
	"\"unattributed\":4,\"lifetimes_untracked\":0," \
	"\"memory\":{\"cpus\":8,\"bytes\":1048576,\"bytes_128_cpus\":8388608}," \
	"\"policy\":" POLICY "}\n"

#define SYSCTLS "\"sysctls\":{\"net.ipv4.ip_local_port_range\":[32768,60999]," \
	"\"net.ipv4.tcp_tw_reuse\":1,\"net.ipv4.tcp_max_tw_buckets\":null}"

static void test_status_json(void)
{
	struct tk_status st = {
		.pinned = true, .pin_dir = "/sys/fs/bpf/tcpkeep", .attach_mode = "tp_btf",
		.links = { [TK_LINK_SET_STATE] = 5, [TK_LINK_NESTED] = 6, [TK_LINK_SOCKOPS] = 7 },
		.cgroup = "/sys/fs/cgroup/a\xff\"b\n", .cgroup_id = 42, .run_pid = -1,
		.btf = true, .bpffs = true, .cgroup2 = true, .lifetimes = true,
		.sysctls = {
			[TK_SYSCTL_PORT_RANGE] = { { 32768, 60999 } },
			[TK_SYSCTL_TW_REUSE] = { { 1 } },
			[TK_SYSCTL_MAX_TW_BUCKETS] = { .err = -EACCES },
		},
	};
	struct tk_snapshot s;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	tk_snapshot_init(&s);
	s.attach_mode = "tp_btf";
	s.recursion_misses = 2;
	s.nested_caught = 1;
	s.uncounted[TK_UNC_UNATTRIBUTED] = 4;
	s.mem_bytes = 1048576;
	s.mem_bytes_big = 8388608;
	s.ncpus = 8;
	tk_snapshot_row(&s, 993, TK_DIR_IN)->trans[3][1] = 9;
	s.policy = calloc(2, sizeof(*s.policy));
	s.npolicy = 2;
	s.policy[0] = (struct tk_policy_row){ 110, { .off = true } };
	s.policy[1] = (struct tk_policy_row){ 993, { .idle = 300, .intvl = 60, .cnt = 5,
						     .user_timeout = 600 } };
	CHECK(rendered_is(status_json, &st, &s, "{\"state\":\"active\",\"active\":true,"
		"\"pinned\":true,\"pin_path\":\"/sys/fs/bpf/tcpkeep\",\"run_pid\":-1,"
		"\"kernel\":{\"btf\":true,\"inet_sock_set_state\":false,"
		"\"inet_sk_error_report\":false,\"bpffs\":true,\"cgroup2\":true,"
		"\"hides_pid1\":false}," SYSCTLS ",\"observer\":\"tp_btf\","
		"\"links\":{\"set_state\":5,"
		"\"set_state_nested\":6,\"error_report\":0,\"sockops\":7},"
		"\"capabilities\":{\"lifetimes\":true,\"dead_peers\":false,\"enforcer\":true,"
		"\"existing_connections\":false},"
		"\"cgroup\":\"/sys/fs/cgroup/a" FFFD "\\\"b\\n\",\"cgroup_id\":42,"
		"\"defunct\":false," STATUS_TAIL));
	st.pinned = false;
	st.links[TK_LINK_SOCKOPS] = 0;
	st.run_pid = 1234;
	CHECK(rendered_is(status_json, &st, &s, "{\"state\":\"not pinned\",\"active\":false,"
		"\"pinned\":false,\"pin_path\":\"/sys/fs/bpf/tcpkeep\",\"run_pid\":1234,"
		"\"kernel\":{\"btf\":true,\"inet_sock_set_state\":false,"
		"\"inet_sk_error_report\":false,\"bpffs\":true,\"cgroup2\":true,"
		"\"hides_pid1\":false}," SYSCTLS ",\"observer\":\"tp_btf\","
		"\"links\":{\"set_state\":5,"
		"\"set_state_nested\":6,\"error_report\":0,\"sockops\":0},"
		"\"capabilities\":{\"lifetimes\":true,\"dead_peers\":false,\"enforcer\":false,"
		"\"existing_connections\":false},"
		"\"cgroup\":null,\"cgroup_id\":null,\"defunct\":false," STATUS_TAIL));
	CHECK(rendered_is(policy_json, &s, NULL, POLICY));
	/* the sysctls as sysctl(8) names them, pinned or not, what cannot be
	 * read said so */
	f = open_memstream(&text, &len);
	tk_status_text(f, &st, &s);
	fclose(f);
	CHECK(strstr(text, "\nsysctls:       net.ipv4.ip_local_port_range = 32768 60999 "
		     "(28232 ports)\n               net.ipv4.tcp_tw_reuse = 1 (on, outgoing "
		     "connections)\n               net.ipv4.tcp_max_tw_buckets: cannot read: "
		     "Permission denied\n"));
	free(text);
	s.nrows = 0;
	s.wall_s = 1700000000;
	s.mono_s = 12.5;
	CHECK(rendered_is(frame_json, &s, NULL, "{\"time\":\"2023-11-14T22:13:20Z\","
		"\"monotonic\":12.500000,\"interval_s\":0.000,\"observer\":\"tp_btf\","
		"\"enforcer\":false,\"states_available\":false,\"lifetimes_available\":false,"
		"\"dead_peers_available\":false,\"missed\":1,\"missed_detail\":{"
		"\"kernel_skipped\":2,\"nested_caught\":1,\"transitions_map_full\":0,"
		"\"conns_map_full\":0,\"keepalive_map_full\":0},\"unattributed\":4,"
		"\"lifetimes_untracked\":0,"
		"\"memory\":{\"cpus\":8,\"bytes\":1048576,\"bytes_128_cpus\":8388608},"
		"\"rows\":[],\"netns\":{\"visited\":0,\"unvisited\":0,\"unreadable_processes\":0,"
		"\"namespaces\":[]},\"port_pressure\":{\"local_port_range_size\":0,\"untracked\":0,"
		"\"destinations\":[]},\"listen_queues\":{\"untracked\":0,\"listeners\":[]},"
		"\"audit\":{\"available\":false,\"error\":\"not asked for\","
		"\"stuck_after_s\":0.000,\"processes\":false,\"rows\":[],\"oldest_idle\":[],"
		"\"stuck\":[]},"
		"\"policy\":" POLICY "}\n"));
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

/* The policy KEYs are written once (core/policy.c): the help, prose, must
 * still name each with its limits, and the built-in defaults as they are. */
static void test_policy_help(void)
{
	struct tk_policy_table *t = calloc(1, sizeof(*t));
	char *help = NULL, want[128] = "(";
	size_t len = 0, n = 1;
	FILE *f = open_memstream(&help, &len);

	tk_usage(f, NULL);
	fclose(f);
	tk_policy_defaults(t);
	for (int k = 0; k < TK_POL_NKEYS; k++) {
		const struct tk_policy_field *fd = &tk_policy_fields[k];
		char range[48];

		snprintf(range, sizeof(range), "%lu-%lu", fd->min, fd->max);
		CHECK(strstr(help, fd->key) != NULL);
		CHECK(!fd->min ? strstr(help, "0 leaves the socket's own") != NULL :
				 strstr(help, range) != NULL);
		n += snprintf(want + n, sizeof(want) - n, "%s%s=%u", k ? "," : "", fd->key,
			      tk_policy_get(&t->pol[993], k));
	}
	snprintf(want + n, sizeof(want) - n, ")");
	CHECK(strstr(help, want) != NULL);
	free(help);
	free(t);
}

/* Each link role under its one name, wherever links are shown. */
static void test_links(void)
{
	struct tk_status st = {
		.pinned = true, .pin_dir = "/sys/fs/bpf/tcpkeep", .attach_mode = "tp_btf",
		.cgroup = "/sys/fs/cgroup", .cgroup_id = 1,
		.links = { [TK_LINK_SET_STATE] = 11, [TK_LINK_NESTED] = 12,
			   [TK_LINK_ERROR_REPORT] = 13, [TK_LINK_SOCKOPS] = 14 },
	};
	struct tk_prom_opts po = {
		.mem = tk_prom_memory_new(),
		.version = "0", .libbpf_version = "1",
		.attached = { [TK_LINK_SOCKOPS] = true, [TK_LINK_NESTED] = true },
	};
	struct tk_snapshot s;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	tk_snapshot_init(&s);
	f = open_memstream(&buf, &len);
	tk_status_json(f, &st, &s);
	tk_status_text(f, &st, &s);
	tk_render_prom(f, &s, &po);
	fclose(f);
	CHECK(strstr(buf, "\"links\":{\"set_state\":11,\"set_state_nested\":12,"
		     "\"error_report\":13,\"sockops\":14}"));
	CHECK(strstr(buf, "(link 11, nested link 12)\n"));
	CHECK(strstr(buf, "dead peers:    counted (link 13)\n"));
	CHECK(strstr(buf, "cgroup id 1, link 14)"));
	CHECK(strstr(buf, "tcpkeep_bpf_program_attached{program=\"set_state\"} 0\n"
		     "tcpkeep_bpf_program_attached{program=\"set_state_nested\"} 1\n"
		     "tcpkeep_bpf_program_attached{program=\"error_report\"} 0\n"
		     "tcpkeep_bpf_program_attached{program=\"sockops\"} 1\n"));
	CHECK(tk_status_code(&st) == 0);
	st.links[TK_LINK_SET_STATE] = 0;
	CHECK(tk_status_code(&st) == 1);
	free(buf);
	tk_snapshot_free(&s);
	tk_prom_memory_free(po.mem);
}

/* Lines of an exposition that start with prefix and hold every one of the
 * NULL-ended substrings after it. */
static int lines_with(const char *text, const char *prefix, ...)
{
	int n = 0;

	for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
		size_t len = strcspn(l, "\n") + 1;	/* with its newline */
		char line[512];
		const char *want;
		bool all = true;
		va_list ap;

		snprintf(line, sizeof(line), "%.*s", (int)len, l);
		if (strncmp(line, prefix, strlen(prefix)))
			continue;
		va_start(ap, prefix);
		while ((want = va_arg(ap, const char *)))
			all = all && strstr(line, want);
		va_end(ap);
		n += all;
	}
	return n;
}

static char *render_prom(const struct tk_snapshot *s, struct tk_prom_opts *po)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(tk_render_prom(f, s, po) == 0);
	fclose(f);
	return buf;
}

static void add_policy(struct tk_snapshot *s, uint16_t port, bool off)
{
	s->policy = realloc(s->policy, (s->npolicy + 1) * sizeof(*s->policy));
	s->policy[s->npolicy++] = (struct tk_policy_row){ port, { 300, 60, 5, 600, off } };
}

/*
 * The exported set and what stays in it: policy ports (even "off"),
 * listeners and --ports have their own series, the rest sums into
 * "other"; a row with every counter and state set gives the per-row bound
 * README states; a port and a state gauge stay once exported.
 */
static void test_prom_cardinality(void)
{
	bool *ports = calloc(TK_PORTS, sizeof(*ports));
	struct tk_prom_opts po = { .mem = tk_prom_memory_new(), .ports = ports,
				   .version = "0", .libbpf_version = "1" };
	struct tk_snapshot s;
	struct tk_row *r;
	char *out;

	ports[5432] = true;
	tk_snapshot_init(&s);
	s.states_ok = true;
	add_policy(&s, 993, false);
	add_policy(&s, 110, true);
	r = tk_snapshot_row(&s, 993, TK_DIR_IN);
	for (int a = 0; a < TK_NSTATES; a++) {
		r->states[a] = 1;
		for (int b = 0; b < TK_NSTATES; b++)
			r->trans[a][b] = 1;
	}
	for (int i = 0; i < TK_HIST_SLOTS; i++)
		r->slots[i] = 1;
	tk_snapshot_row(&s, 40000, TK_DIR_OUT)->trans[TK_SYN_SENT][TK_CLOSE] = 5;
	tk_snapshot_row(&s, 40001, TK_DIR_OUT)->trans[TK_SYN_SENT][TK_CLOSE] = 3;
	tk_snapshot_row(&s, 2024, TK_DIR_IN)->states[TK_LISTEN] = 1;
	tk_snapshot_row(&s, 110, TK_DIR_IN)->trans[TK_CLOSE][TK_LISTEN] = 1;
	tk_snapshot_row(&s, 5432, TK_DIR_OUT);
	out = render_prom(&s, &po);
	/* 27 known pairs and the rest as other/other */
	CHECK(lines_with(out, "tcpkeep_transitions_total{", "port=\"993\"", NULL) == 28);
	CHECK(lines_with(out, "tcpkeep_transitions_total{", "port=\"993\"",
			 "from_state=\"other\",to_state=\"other\"} 229\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_connections{", "port=\"993\"", NULL) == 11);
	CHECK(lines_with(out, "tcpkeep_connection_duration_seconds_bucket{", "port=\"993\"",
			 NULL) == 13);
	CHECK(lines_with(out, "tcpkeep_connection_duration_seconds_bucket{", "port=\"993\"",
			 "le=\"0.001024\"} 10\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_connection_duration_seconds_bucket{", "port=\"993\"",
			 "le=\"68719.476736\"} 36\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_connection_duration_seconds_bucket{", "port=\"993\"",
			 "le=\"+Inf\"} 37\n", NULL) == 1);
	/* keepalive counters for the port with a policy in force only */
	CHECK(lines_with(out, "tcpkeep_keepalive_applied_total{", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_keepalive_errors_total{", "port=\"993\"", NULL) ==
	      TK_OPT_MAX);
	CHECK(lines_with(out, "tcpkeep_keepalive_errors_total{", NULL) == TK_OPT_MAX);
	/* the two remote ports fold, with no series of their own */
	CHECK(lines_with(out, "tcpkeep_transitions_total{port=\"other\",direction=\"out\","
			 "from_state=\"syn_sent\",to_state=\"close\"} 8\n", NULL) == 1);
	CHECK(!strstr(out, "\"40000\"") && !strstr(out, "\"40001\""));
	CHECK(lines_with(out, "tcpkeep_dead_peers_total{", NULL) == 5);
	CHECK(lines_with(out, "tcpkeep_connections{port=\"2024\",direction=\"in\","
			 "state=\"listen\"} 1\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_connections{", "port=\"5432\"", NULL) == 0);
	CHECK(lines_with(out, "tcpkeep_dead_peers_total{port=\"5432\"", NULL) == 1);
	free(out);

	/* the next scrape: states gone, the listener gone, 40000 listens */
	tk_snapshot_free(&s);
	tk_snapshot_init(&s);
	s.states_ok = true;
	add_policy(&s, 993, false);
	tk_snapshot_row(&s, 40000, TK_DIR_IN)->states[TK_LISTEN] = 1;
	tk_snapshot_row(&s, 5432, TK_DIR_OUT)->states[TK_ESTABLISHED] = 2;
	out = render_prom(&s, &po);
	CHECK(lines_with(out, "tcpkeep_connections{", "port=\"993\"", "} 0\n", NULL) == 11);
	CHECK(lines_with(out, "tcpkeep_connections{port=\"2024\",direction=\"in\","
			 "state=\"listen\"} 0\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_dead_peers_total{port=\"110\",direction=\"in\"} 0\n",
			 NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_connections{port=\"5432\",direction=\"out\","
			 "state=\"established\"} 2\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_connections{port=\"40000\",direction=\"in\","
			 "state=\"listen\"} 1\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_connections{", "port=\"other\"", NULL) == 0);
	CHECK(lines_with(out, "tcpkeep_transitions_total{port=\"other\"", NULL) == 0);
	CHECK(lines_with(out, "tcpkeep_dead_peers_total{port=\"other\",direction=\"out\"} 0\n",
			 NULL) == 1);
	free(out);
	tk_snapshot_free(&s);
	tk_prom_memory_free(po.mem);
	free(ports);
}

/*
 * Port pressure in the exposition: per exported port and "other" (the
 * worst of the ports it folds, not a sum), listener gauges only on ports
 * that have had a listener and staying once there, none of it without a
 * dump; the range and the namespaces without a port label.
 */
static void test_prom_pressure(void)
{
	bool *ports = calloc(TK_PORTS, sizeof(*ports));
	struct tk_prom_opts po = { .mem = tk_prom_memory_new(), .ports = ports,
				   .version = "0", .libbpf_version = "1" };
	struct tk_snapshot s;
	struct tk_row *r;
	char *out;

	ports[25] = true;
	tk_snapshot_init(&s);
	s.states_ok = true;
	s.eph_range = 28232;
	s.netns = calloc(4, sizeof(*s.netns));
	s.nnetns = 4;
	s.netns[0].self = true;
	s.netns[2].err = -EPERM;
	s.netns_over = 2;
	r = tk_snapshot_row(&s, 25, TK_DIR_OUT);
	r->eph_used = 14116;
	r->eph_share = 0.5;
	/* folded: 40000's worst destination is worse than 40001's bigger one */
	r = tk_snapshot_row(&s, 40000, TK_DIR_OUT);
	r->eph_used = 300;
	r->eph_share = 0.25;
	r = tk_snapshot_row(&s, 40001, TK_DIR_OUT);
	r->eph_used = 1000;
	r->eph_share = 1000 / 60000.0;
	r = tk_snapshot_row(&s, 993, TK_DIR_IN);
	r->states[TK_LISTEN] = 2;
	r->listeners = 2;
	r->queue = 128;
	r->queue_limit = 128;
	tk_snapshot_row(&s, 143, TK_DIR_IN)->states[TK_ESTABLISHED] = 1;	/* no listener */
	tk_snapshot_row(&s, 25, TK_DIR_IN);
	out = render_prom(&s, &po);
	CHECK(lines_with(out, "tcpkeep_ephemeral_ports_used_ratio{port=\"25\"} 0.5\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_ephemeral_ports_used{port=\"25\"} 14116\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_ephemeral_ports_used_ratio{port=\"other\"} 0.25\n",
			 NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_ephemeral_ports_used{port=\"other\"} 300\n", NULL) == 1);
	/* 25 and other in both families, nothing else */
	CHECK(lines_with(out, "tcpkeep_ephemeral_ports_used", NULL) == 4);
	CHECK(lines_with(out, "tcpkeep_listen_queue_length{port=\"993\"} 128\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_listen_queue_limit{port=\"993\"} 128\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_listen_queue_length{", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_listen_queue_limit{", NULL) == 1);
	CHECK(lines_with(out, "# TYPE tcpkeep_listen_queue_length gauge\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_local_port_range_size 28232\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_netns_visited 3\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_netns_unvisited 3\n", NULL) == 1);
	CHECK(!strstr(out, "\"40000\"") && !strstr(out, "\"40001\"") && !strstr(out, "\"143\""));
	free(out);

	/* the listener closed, 25 holds nothing: the same series, at zero */
	tk_snapshot_free(&s);
	tk_snapshot_init(&s);
	s.states_ok = true;
	s.eph_range = 28232;
	tk_snapshot_row(&s, 40002, TK_DIR_OUT)->eph_share = 0.125;
	out = render_prom(&s, &po);
	CHECK(lines_with(out, "tcpkeep_ephemeral_ports_used_ratio{port=\"25\"} 0\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_ephemeral_ports_used_ratio{port=\"other\"} 0.125\n",
			 NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_listen_queue_length{port=\"993\"} 0\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_listen_queue_limit{port=\"993\"} 0\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_netns_visited 0\n", NULL) == 1);
	free(out);

	/* no dump: no pressure, no range, the namespaces still counted */
	s.states_ok = false;
	s.eph_range = 0;
	out = render_prom(&s, &po);
	CHECK(!strstr(out, "tcpkeep_ephemeral_ports") && !strstr(out, "tcpkeep_listen_queue"));
	CHECK(!strstr(out, "tcpkeep_local_port_range_size"));
	CHECK(lines_with(out, "tcpkeep_netns_unvisited 0\n", NULL) == 1);
	free(out);
	tk_snapshot_free(&s);
	tk_prom_memory_free(po.mem);
	free(ports);
}

/* ---- the audit (core/audit.c) and its outputs ---- */

static void test_audit_hz(void)
{
	CHECK(tk_audit_hz(7200 * 250, 7200) == 250);
	CHECK(tk_audit_hz(7200 * 1000, 7200) == 1000);
	CHECK(tk_audit_hz(7200 * 100, 7200) == 100);
	CHECK(tk_audit_hz(300 * 24, 300) == 24);
	CHECK(tk_audit_hz(7200 * 250, 0) == 0);		/* no sysctl read */
	CHECK(tk_audit_hz(7200 * 250 + 1, 7200) == 0);	/* not a whole HZ */
	CHECK(tk_audit_hz(7200 * 7, 7200) == 0);	/* an HZ Linux has not */
	CHECK(tk_audit_hz(0, 7200) == 0);
}

#define HZ 250

/* A record of an established IPv4 connection 10.0.0.1:993 <- 10.0.0.2:45000. */
static struct tk_audit_rec audit_rec(void)
{
	struct tk_audit_rec r = {
		.family = AF_INET, .state = TK_ESTABLISHED, .keepalive = 1,
		.def_cnt = 9, .lport = 993, .rport = 45000,
		.idle = 90 * HZ, .ack_age = 5 * HZ + HZ / 2,
		.ka_intvl = 60 * HZ, .def_time = 7200 * HZ, .def_intvl = 75 * HZ,
		.packets_out = 3, .retrans_age = 12500, .retransmits = 4, .backoff = 2,
		.ino = 4242,
		.laddr = { 10, 0, 0, 1 }, .raddr = { 10, 0, 0, 2 },
	};

	return r;
}

static void test_audit_conn_of(void)
{
	static const uint8_t mapped1[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 1 };
	static const uint8_t mapped2[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 2 };
	static const uint8_t v6[16] = { 0xfd, [15] = 1 };
	struct tk_audit_rec r = audit_rec();
	struct tk_audit_conn c;

	CHECK(tk_audit_conn_of(&r, HZ, &c) == 0);
	CHECK(c.family == AF_INET && c.state == TK_ESTABLISHED && c.keepalive);
	CHECK(c.lport == 993 && c.rport == 45000 && !memcmp(c.laddr, r.laddr, 16));
	CHECK(c.idle_s == 90 && c.ack_age_s == 5.5 && c.retrans_age_s == 12.5);
	/* unset options are the namespace's; set ones the socket's */
	CHECK(c.def_idle == 7200 && c.def_intvl == 75 && c.def_cnt == 9);
	CHECK(c.ka_idle == 7200 && c.ka_intvl == 60 && c.ka_cnt == 9);
	CHECK(c.retransmits == 4 && c.backoff == 2 && c.unacked == 3 && c.ino == 4242);
	CHECK(c.user_timeout_ms == 0 && c.pid == 0 && !c.stuck);
	/* whole seconds, as getsockopt rounds jiffies */
	r.ka_time = 300 * HZ + HZ - 1;
	r.ka_cnt = 5;
	r.user_timeout = 600000;
	CHECK(tk_audit_conn_of(&r, HZ, &c) == 0);
	CHECK(c.ka_idle == 300 && c.ka_cnt == 5 && c.user_timeout_ms == 600000);
	/* v4-mapped addresses: IPv4, the address in the first four bytes */
	r.family = AF_INET6;
	memcpy(r.laddr, mapped1, 16);
	memcpy(r.raddr, mapped2, 16);
	CHECK(tk_audit_conn_of(&r, HZ, &c) == 0);
	CHECK(c.family == AF_INET && !memcmp(c.laddr, mapped1 + 12, 4) &&
	      !memcmp(c.raddr, mapped2 + 12, 4));
	CHECK(!memcmp(c.laddr + 4, v6 + 4, 11) && !memcmp(c.raddr + 4, v6 + 4, 11));
	/* only both mapped is IPv4 */
	memcpy(r.raddr, v6, 16);
	CHECK(tk_audit_conn_of(&r, HZ, &c) == 0);
	CHECK(c.family == AF_INET6 && !memcmp(c.raddr, v6, 16) && !memcmp(c.laddr, mapped1, 16));
	r.state = TK_CLOSE_WAIT;
	CHECK(tk_audit_conn_of(&r, HZ, &c) == 0 && c.state == TK_CLOSE_WAIT);
	/* what it cannot convert */
	CHECK(tk_audit_conn_of(&r, 0, &c) == -EINVAL);
	r.state = TK_LISTEN;
	CHECK(tk_audit_conn_of(&r, HZ, &c) == -EINVAL);
	r = audit_rec();
	r.family = AF_UNIX;
	CHECK(tk_audit_conn_of(&r, HZ, &c) == -EINVAL);
}

static void test_audit_classify(void)
{
	const struct tk_policy pol = { .idle = 300, .intvl = 60, .cnt = 5, .user_timeout = 600 };
	const struct tk_policy no_uto = { .idle = 300, .intvl = 60, .cnt = 5 };
	const struct tk_policy off = { .idle = 300, .intvl = 60, .cnt = 5, .off = 1 };
	struct tk_audit_conn c = {
		.keepalive = true, .ka_idle = 300, .ka_intvl = 60, .ka_cnt = 5,
		.def_idle = 7200, .def_intvl = 75, .def_cnt = 9, .user_timeout_ms = 600000,
	};

	CHECK(tk_audit_classify(&c, &pol) == TK_KA_POLICY);
	CHECK(tk_audit_classify(&c, &no_uto) == TK_KA_POLICY);
	CHECK(tk_audit_classify(&c, NULL) == TK_KA_OTHER);
	CHECK(tk_audit_classify(&c, &off) == TK_KA_OTHER);	/* exempt: no policy */
	/* the policy sets a user timeout: one missing is not the policy's */
	c.user_timeout_ms = 0;
	CHECK(tk_audit_classify(&c, &pol) == TK_KA_OTHER);
	CHECK(tk_audit_classify(&c, &no_uto) == TK_KA_POLICY);
	c.ka_cnt = 4;
	CHECK(tk_audit_classify(&c, &no_uto) == TK_KA_OTHER);
	/* the namespace's values, with or without a policy */
	c.ka_idle = 7200;
	c.ka_intvl = 75;
	c.ka_cnt = 9;
	CHECK(tk_audit_classify(&c, NULL) == TK_KA_DEFAULT);
	CHECK(tk_audit_classify(&c, &pol) == TK_KA_DEFAULT);
	/* off is off, whatever the values */
	c.keepalive = false;
	CHECK(tk_audit_classify(&c, NULL) == TK_KA_OFF);
	c.ka_idle = 300;
	c.ka_intvl = 60;
	c.ka_cnt = 5;
	CHECK(tk_audit_classify(&c, &no_uto) == TK_KA_OFF);
	CHECK(!strcmp(tk_ka_state_name(TK_KA_OFF), "off"));
	CHECK(!strcmp(tk_ka_state_name(TK_KA_DEFAULT), "kernel_default"));
	CHECK(!strcmp(tk_ka_state_name(TK_KA_POLICY), "policy"));
	CHECK(!strcmp(tk_ka_state_name(TK_KA_OTHER), "other"));
	CHECK(!strcmp(tk_ka_state_name(TK_KA_NSTATES), "?"));
}

static void test_audit_reap(void)
{
	/* probes after idle, cnt of them intvl apart */
	CHECK(tk_audit_reap_s(300, 60, 5, 0) == 600);
	CHECK(tk_audit_reap_s(7200, 75, 9, 0) == 7875);
	/* a user timeout: the first tick after it */
	CHECK(tk_audit_reap_s(300, 60, 5, 600) == 600);
	CHECK(tk_audit_reap_s(300, 60, 5, 610) == 660);
	CHECK(tk_audit_reap_s(300, 60, 5, 1000) == 1020);	/* later than cnt probes */
	/* shorter than idle: the first probe's tick */
	CHECK(tk_audit_reap_s(300, 60, 5, 100) == 360);
	CHECK(tk_audit_reap_s(300, 0, 5, 600) == 300);
}

/* An established connection idle for idle_s, into a. */
static void audit_add(struct tk_audit_row *a, double idle_s, bool keepalive,
		      const struct tk_policy *would)
{
	struct tk_audit_conn c = {
		.state = TK_ESTABLISHED, .keepalive = keepalive, .idle_s = idle_s,
		.ka = keepalive ? TK_KA_DEFAULT : TK_KA_OFF,
		.ka_idle = 7200, .ka_intvl = 75, .ka_cnt = 9,
	};

	tk_audit_row_add(a, &c, would);
}

static void test_audit_row(void)
{
	static const double idle[] = {
		0.5, 59.9, 60, 60.5, 600, 600.5, 3600, 3601, 86400, 86401,
	};
	const struct tk_policy would = { .idle = 600, .intvl = 60, .cnt = 5 };
	struct tk_audit_row a = { 0 }, b;
	struct tk_audit_conn stuck = {
		.state = TK_CLOSE_WAIT, .stuck = true, .retrans_age_s = 30,
		.keepalive = true, .ka = TK_KA_OTHER, .idle_s = 99999,
	};
	double sum = 0;

	for (size_t i = 0; i < sizeof(idle) / sizeof(idle[0]); i++) {
		audit_add(&a, idle[i], i % 2, &would);
		sum += idle[i];
	}
	/* a CLOSE_WAIT one counts as stuck only */
	tk_audit_row_add(&a, &stuck, &would);
	stuck.state = TK_ESTABLISHED;
	stuck.retrans_age_s = 12;
	stuck.idle_s = 0;
	tk_audit_row_add(&a, &stuck, &would);
	CHECK(a.established == 11);
	CHECK(a.ka[TK_KA_OFF] == 5 && a.ka[TK_KA_DEFAULT] == 5 && a.ka[TK_KA_OTHER] == 1 &&
	      a.ka[TK_KA_POLICY] == 0);
	/* le: at most the bound, the bound included */
	CHECK(a.idle_le[0] == 4);	/* 0, 0.5, 59.9, 60 */
	CHECK(a.idle_le[1] == 6);	/* and 60.5, 600 */
	CHECK(a.idle_le[2] == 8);	/* and 600.5, 3600 */
	CHECK(a.idle_le[3] == 9);	/* and 3601 */
	CHECK(a.idle_le[4] == 10);	/* and 86400; 86401 only in +Inf */
	/* over: strictly more */
	CHECK(a.idle_over[TK_IDLE_OVER_10M] == 5);
	CHECK(a.idle_over[TK_IDLE_OVER_1H] == 3);
	CHECK(a.idle_over[TK_IDLE_OVER_1D] == 1);
	CHECK(fabs(a.idle_sum_s - sum) < 1e-6);
	/* log2 slots of whole seconds: [0, 2), [32, 64), [512, 1024), ... */
	CHECK(a.idle_slots[0] == 2 && a.idle_slots[5] == 3 && a.idle_slots[6] == 0);
	CHECK(a.idle_slots[9] == 2 && a.idle_slots[11] == 2 && a.idle_slots[16] == 2);
	CHECK(a.stuck == 2 && a.stuck_oldest_s == 30);
	CHECK(a.never_reaped == 5 && a.reap_max_s == 7875);
	/* would probe at once: idle for its idle or more */
	CHECK(a.probe_now == 6);
	audit_add(&a, 1e9, false, NULL);	/* past the last slot; no would-be policy */
	CHECK(a.idle_slots[TK_IDLE_SLOTS - 1] == 1 && a.probe_now == 6);
	b = a;
	b.stuck_oldest_s = 5;
	b.reap_max_s = 9000;
	tk_audit_row_merge(&a, &b);
	CHECK(a.established == 24 && a.ka[TK_KA_OFF] == 12 && a.idle_le[4] == 20 &&
	      a.idle_over[TK_IDLE_OVER_1D] == 4 && a.idle_slots[16] == 4);
	CHECK(a.stuck == 4 && a.stuck_oldest_s == 30 && a.reap_max_s == 9000);
	CHECK(a.never_reaped == 12 && a.probe_now == 12);
	CHECK(fabs(a.idle_sum_s - 2 * (sum + 1e9)) < 1e-3);
}

static void test_snapshot_would(void)
{
	struct tk_policy_table *given = calloc(1, sizeof(*given));
	struct tk_policy p, def = tk_policy_default();
	struct tk_snapshot s;

	tk_snapshot_init(&s);
	add_policy(&s, 110, true);
	add_policy(&s, 993, false);
	CHECK(tk_snapshot_would(&s, 993, &p) == TK_WOULD_POLICY && p.idle == 300 &&
	      p.user_timeout == 600);
	CHECK(tk_snapshot_would(&s, 110, &p) == TK_WOULD_OFF);
	CHECK(tk_snapshot_would(&s, 25, &p) == TK_WOULD_DEFAULT &&
	      !memcmp(&p, &def, sizeof(p)));
	/* -k: given for its ports, the rest as before */
	given->set[993] = given->set[25] = true;
	given->pol[993] = (struct tk_policy){ .idle = 120, .intvl = 30, .cnt = 4 };
	given->pol[25] = (struct tk_policy){ .off = 1 };
	s.would = given;
	CHECK(tk_snapshot_would(&s, 993, &p) == TK_WOULD_GIVEN && p.idle == 120 &&
	      p.user_timeout == 0);
	CHECK(tk_snapshot_would(&s, 25, &p) == TK_WOULD_OFF);
	CHECK(tk_snapshot_would(&s, 110, &p) == TK_WOULD_OFF);
	CHECK(tk_snapshot_would(&s, 143, &p) == TK_WOULD_DEFAULT);
	CHECK(!strcmp(tk_would_source_name(TK_WOULD_GIVEN), "given") &&
	      !strcmp(tk_would_source_name(TK_WOULD_DEFAULT), "default"));
	tk_snapshot_free(&s);
	free(given);
}

static void test_age_name(void)
{
	char b[TK_AGE_LEN];

	CHECK(!strcmp(tk_age_name(0, b, sizeof(b)), "0.0s"));
	CHECK(!strcmp(tk_age_name(-1, b, sizeof(b)), "0.0s"));
	CHECK(!strcmp(tk_age_name(4.25, b, sizeof(b)), "4.2s"));
	CHECK(!strcmp(tk_age_name(59.9, b, sizeof(b)), "59s"));
	CHECK(!strcmp(tk_age_name(60, b, sizeof(b)), "1m00s"));
	CHECK(!strcmp(tk_age_name(192, b, sizeof(b)), "3m12s"));
	CHECK(!strcmp(tk_age_name(3600 * 3 + 12 * 60 + 59, b, sizeof(b)), "3h12m"));
	CHECK(!strcmp(tk_age_name(86400 * 2 + 3600 * 4 + 1, b, sizeof(b)), "2d04h"));
}

/* A conn of the audit's lists. */
static struct tk_audit_conn audit_conn(uint8_t last, double idle_s, int pid, uint32_t ns)
{
	struct tk_audit_conn c = {
		.ns = ns, .port = 993, .dir = TK_DIR_IN, .family = AF_INET,
		.state = TK_ESTABLISHED, .ka = TK_KA_OFF, .idle_s = idle_s,
		.laddr = { 10, 0, 0, 1 }, .raddr = { 10, 0, 0, last },
		.lport = 993, .rport = 40000 + last, .pid = pid,
		.ka_idle = 7200, .ka_intvl = 75, .ka_cnt = 9,
	};

	if (pid)
		snprintf(c.comm, sizeof(c.comm), "imap");
	return c;
}

/*
 * A snapshot with an audit: 993 in with a policy, some of every class and
 * a stuck writer; 25 out under the default; the lists, one connection in
 * a named namespace, one without a process.
 */
static void audit_snapshot(struct tk_snapshot *s)
{
	struct tk_row *r;

	tk_snapshot_init(s);
	s->states_ok = true;
	s->audit_ok = true;
	s->audit_pids = true;
	s->stuck_after_s = 10;
	s->attach_mode = "tp_btf";
	s->netns = calloc(2, sizeof(*s->netns));
	s->nnetns = 2;
	s->netns[0].self = true;
	snprintf(s->netns[1].name, sizeof(s->netns[1].name), "mail");
	add_policy(s, 993, false);
	r = tk_snapshot_row(s, 993, TK_DIR_IN);
	r->states[TK_ESTABLISHED] = 12;
	r->au.established = 12;
	r->au.ka[TK_KA_OFF] = 3;
	r->au.ka[TK_KA_DEFAULT] = 1;
	r->au.ka[TK_KA_POLICY] = 7;
	r->au.ka[TK_KA_OTHER] = 1;
	r->au.idle_slots[2] = 8;	/* 4 -> 7 */
	r->au.idle_slots[12] = 3;	/* 4096 -> 8191 */
	r->au.idle_slots[17] = 1;	/* 131072 -> 262143 */
	r->au.idle_over[TK_IDLE_OVER_10M] = 4;
	r->au.idle_over[TK_IDLE_OVER_1H] = 4;
	r->au.idle_over[TK_IDLE_OVER_1D] = 1;
	r->au.idle_sum_s = 12 * 11520;
	r->au.stuck = 1;
	r->au.stuck_oldest_s = 192;
	r->au.never_reaped = 3;
	r->au.probe_now = 4;
	r = tk_snapshot_row(s, 25, TK_DIR_OUT);
	r->au.established = 2;
	r->au.ka[TK_KA_DEFAULT] = 2;
	r->au.idle_slots[0] = 2;
	r->au.idle_sum_s = 1;
	r->au.reap_max_s = 7875;
	tk_snapshot_row(s, 143, TK_DIR_IN)->states[TK_LISTEN] = 1;	/* nothing audited */
	for (uint8_t i = 0; i < 7; i++)
		s->oldest[s->noldest++] = audit_conn(2 + i, 11520 - i, i == 1 ? 0 : 4321,
						     i == 2);
	s->oldest[0].ka = TK_KA_POLICY;
	s->oldest[0].keepalive = true;
	s->oldest[0].ka_idle = 300;
	s->oldest[0].ka_intvl = 60;
	s->oldest[0].ka_cnt = 5;
	s->oldest[0].user_timeout_ms = 600000;
	s->stuck[0] = audit_conn(20, 3, 4321, 0);
	s->stuck[0].state = TK_CLOSE_WAIT;
	s->stuck[0].stuck = true;
	s->stuck[0].retrans_age_s = 192;
	s->stuck[0].ack_age_s = 190;
	s->stuck[0].retransmits = 9;
	s->stuck[0].unacked = 14;
	s->stuck[0].user_timeout_ms = 600000;
	s->nstuck = 1;
}

static char *audit_render(const struct tk_snapshot *s, int width)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	tk_render_audit_text(f, s, width);
	fclose(f);
	return buf;
}

static int longest_line(const char *buf, int *lines)
{
	int longest = 0;

	*lines = 0;
	for (const char *l = buf; *l; l += strcspn(l, "\n") + !!l[strcspn(l, "\n")]) {
		int n = (int)strcspn(l, "\n");

		if (n > longest)
			longest = n;
		++*lines;
	}
	return longest;
}

#define AUDIT_TITLE "audit  (established connections now; stuck: retransmitting, no ACK " \
	"for 10s)"
#define AUDIT_FULL " PORT DIR   ESTAB     OFF DEFAULT POLICY  OTHER   >10m   >1h   >1d  " \
	"STUCK  OLDEST  REAP_NOW  WOULD    PROBE    REAP"
#define AUDIT_NARROW " PORT DIR   ESTAB     OFF DEFAULT POLICY  OTHER    >1h  STUCK  OLDEST  " \
	" PROBE"

/* What a live frame with --audit shows of the section. */
struct audit_fit {
	bool title, heading, stuck;
	int lines, longest;
};

/* The frame, and into v what it shows once its lines are cut apart. */
static char *audit_view(const struct tk_snapshot *s, const struct tk_snapshot *prev,
			int width, int height, struct audit_fit *v)
{
	struct tk_render_opts o = {
		.histograms = true, .audit = true, .width = width, .height = height,
	};
	char *buf = NULL, *cut, *l[200];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	tk_render_text(f, s, prev, &o);
	fclose(f);
	cut = strdup(buf);
	memset(v, 0, sizeof(*v));
	v->lines = view_lines(cut, l, 200);
	for (int i = 0; i < v->lines; i++) {
		if ((int)strlen(l[i]) > v->longest)
			v->longest = (int)strlen(l[i]);
		v->title |= !strncmp(l[i], "audit  (", 8);
		v->heading |= !strncmp(l[i], " PORT DIR   ESTAB     OFF", 25);
		v->stuck |= !strncmp(l[i], "stuck writers", 13);
	}
	free(cut);
	return buf;
}

static void test_audit_text(void)
{
	struct tk_snapshot s, prev;
	struct audit_fit v;
	int lines;
	char *buf;

	audit_snapshot(&s);
	buf = audit_render(&s, 0);
	CHECK(!strncmp(buf, AUDIT_TITLE "\n", strlen(AUDIT_TITLE "\n")));
	CHECK(strstr(buf, "\n" AUDIT_FULL "\n") != NULL);
	CHECK(strstr(buf, "\n  993 in       12       3       1      7      1      4     4     1"
		     "      1   3m12s     never  policy       4  10m00s\n") != NULL);
	CHECK(strstr(buf, "\n   25 out       2       0       2      0      0      0     0     0"
		     "      0       -     2h11m  default      0  10m00s\n") != NULL);
	CHECK(view_lines_with(buf, "  143 ", NULL) == 0);	/* nothing audited there */
	CHECK(strstr(buf, "keepalive OFF, the kernel's DEFAULT sysctls") != NULL);
	/* the idle histograms, in seconds, the last slot open */
	CHECK(strstr(buf, "\nport 993 in: idle time, 12 established, mean 3h12m\n") != NULL);
	CHECK(strstr(buf, "  4 -> 7 : 8          |****************************************|\n"));
	CHECK(strstr(buf, "4096 -> 8191 : 3          |***************"));
	CHECK(strstr(buf, "131072 -> 262143 : 1 "));
	CHECK(strstr(buf, "\nport 25 out: idle time, 2 established, mean 0.5s\n") != NULL);
	/* the lists: process or "-", the namespace unless the host's */
	CHECK(strstr(buf, "\n   IDLE  KEEPALIVE         REAP      PID  COMMAND          "
		     "CONNECTION\n") != NULL);
	CHECK(strstr(buf, "\n  3h12m  policy          10m00s     4321  imap             "
		     "10.0.0.1:993 -> 10.0.0.2:40002\n") != NULL);
	CHECK(strstr(buf, "\n  3h11m  off              never        -  -                "
		     "10.0.0.1:993 -> 10.0.0.3:40003\n") != NULL);
	CHECK(view_lines_with(buf, "10.0.0.4:40004  (netns mail)", NULL) == 1);
	CHECK(view_lines_with(buf, "(netns", NULL) == 1);
	CHECK(view_lines_with(buf, "10.0.0.1:993 -> 10.0.0.8:40008", NULL) == 1);	/* all 7 */
	CHECK(strstr(buf, "\nstuck writers  (retransmitting to a silent peer, longest first)\n"));
	CHECK(strstr(buf, "\n  3m12s    3m10s        9       14   10m00s     4321  imap"
		     "             10.0.0.1:993 -> 10.0.0.20:40020 CLOSE_WAIT\n") != NULL);
	CHECK(longest_line(buf, &lines) > 100);
	free(buf);

	/* a terminal's width: the narrow columns, every line within it */
	buf = audit_render(&s, 80);
	CHECK(strstr(buf, "\n" AUDIT_NARROW "\n") != NULL);
	CHECK(strstr(buf, "(5 columns hidden: widen the terminal to 115 or use audit --json)"));
	CHECK(longest_line(buf, &lines) <= 80);
	CHECK(strstr(buf, "|****************************************|") != NULL);
	free(buf);
	buf = audit_render(&s, 79);	/* shorter bars */
	CHECK(longest_line(buf, &lines) <= 79);
	CHECK(strstr(buf, "|***************************************|") != NULL);
	free(buf);
	buf = audit_render(&s, 40);
	CHECK(longest_line(buf, &lines) <= 40);
	CHECK(strstr(buf, "histograms left out") != NULL);	/* no bar fits */
	free(buf);

	/* no stuck writer, no connection */
	s.nstuck = 0;
	for (size_t i = 0; i < s.nrows; i++)
		memset(&s.rows[i].au, 0, sizeof(s.rows[i].au));
	s.noldest = 0;
	buf = audit_render(&s, 0);
	CHECK(strstr(buf, "\n(no established connections on these ports)\n") != NULL);
	CHECK(strstr(buf, "\nstuck writers: none\n") != NULL);
	CHECK(!strstr(buf, "oldest idle") && !strstr(buf, "keepalive OFF"));
	free(buf);

	/* why not, and nothing else */
	s.audit_ok = false;
	s.audit_err = -EPERM;
	buf = audit_render(&s, 0);
	CHECK(!strcmp(buf, "audit unavailable: Operation not permitted (needs CAP_BPF and "
		      "CAP_PERFMON)\n"));
	free(buf);
	s.audit_err = -ENOEXEC;
	buf = audit_render(&s, 0);
	CHECK(!strcmp(buf, "audit unavailable: Exec format error\n"));
	free(buf);
	tk_snapshot_free(&s);

	/* the live view's section: on a pipe, all of it but the lists cut to
	 * five, no legend; on a terminal within it, the stuck writers in
	 * view even at 80x24 */
	audit_snapshot(&s);
	tk_snapshot_init(&prev);
	prev.mono_s = s.mono_s - 1;
	buf = audit_view(&s, &prev, 0, 0, &v);
	CHECK(v.title && v.heading && v.stuck);
	CHECK(view_lines_with(buf, "(2 more: tcpkeep audit lists them)", NULL) == 1);
	CHECK(!strstr(buf, "keepalive OFF"));
	free(buf);
	free(audit_view(&s, &prev, 100, 40, &v));
	CHECK(v.title && v.heading && v.stuck && v.lines <= 40 && v.longest <= 100);
	free(audit_view(&s, &prev, 80, 24, &v));
	CHECK(v.title && v.heading && v.stuck && v.lines <= 24 && v.longest <= 80);
	/* and none without --audit */
	buf = view_render(&s, &prev, 0, 0);
	CHECK(!strstr(buf, "audit  ("));
	free(buf);
	tk_snapshot_free(&prev);
	tk_snapshot_free(&s);
}

/*
 * The audit in the exposition: per exported row and "other" (sums, and the
 * oldest stuck writer of the ports it folds), none of it without the
 * audit but tcpkeep_audit_available.
 */
static void test_prom_audit(void)
{
	struct tk_prom_opts po = { .mem = tk_prom_memory_new(), .version = "0",
				   .libbpf_version = "1" };
	struct tk_snapshot s;
	struct tk_row *r;
	char *out;

	audit_snapshot(&s);
	r = tk_snapshot_row(&s, 40000, TK_DIR_OUT);
	r->au.established = 1;
	r->au.ka[TK_KA_OFF] = 1;
	r->au.stuck = 2;
	r->au.stuck_oldest_s = 30.5;
	r->au.idle_le[4] = 1;
	r->au.idle_sum_s = 7;
	r = tk_snapshot_row(&s, 40001, TK_DIR_OUT);
	r->au.established = 1;
	r->au.ka[TK_KA_OFF] = 1;
	r->au.stuck = 1;
	r->au.stuck_oldest_s = 12;
	r->au.idle_le[0] = 1;
	r->au.idle_le[4] = 1;
	r->au.idle_sum_s = 5;
	s.rows[0].au.idle_le[0] = 8;
	s.rows[0].au.idle_le[2] = 8;
	s.rows[0].au.idle_le[3] = 11;
	s.rows[0].au.idle_le[4] = 11;
	out = render_prom(&s, &po);
	CHECK(lines_with(out, "tcpkeep_established_keepalive{port=\"993\",direction=\"in\"",
			 NULL) == TK_KA_NSTATES);
	CHECK(lines_with(out, "tcpkeep_established_keepalive{port=\"993\",direction=\"in\","
			 "state=\"policy\"} 7\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_established_keepalive{port=\"993\",direction=\"in\","
			 "state=\"kernel_default\"} 1\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_established_keepalive{port=\"other\",direction=\"out\","
			 "state=\"off\"} 2\n", NULL) == 1);
	/* a row with nothing audited has its zeros: 143 listens */
	CHECK(lines_with(out, "tcpkeep_established_keepalive{port=\"143\",direction=\"in\","
			 "state=\"off\"} 0\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_connections_idle_seconds_bucket{port=\"993\"", NULL) == 6);
	CHECK(lines_with(out, "tcpkeep_connections_idle_seconds_bucket{port=\"993\",direction="
			 "\"in\",le=\"60\"} 8\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_connections_idle_seconds_bucket{port=\"993\",direction="
			 "\"in\",le=\"86400\"} 11\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_connections_idle_seconds_bucket{port=\"993\",direction="
			 "\"in\",le=\"+Inf\"} 12\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_connections_idle_seconds_count{port=\"993\",direction="
			 "\"in\"} 12\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_connections_idle_seconds_sum{port=\"993\",direction="
			 "\"in\"} 1.3824e+05\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_connections_idle_seconds_bucket{port=\"other\",direction="
			 "\"out\",le=\"60\"} 1\n", NULL) == 1);
	/* 25 has no policy, no listener: folded too */
	CHECK(lines_with(out, "tcpkeep_connections_idle_seconds_sum{port=\"other\",direction="
			 "\"out\"} 13\n", NULL) == 1);
	CHECK(lines_with(out, "# TYPE tcpkeep_connections_idle_seconds histogram\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_stuck_writers{port=\"993\",direction=\"in\"} 1\n",
			 NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_stuck_writers{port=\"other\",direction=\"out\"} 3\n",
			 NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_stuck_writer_oldest_seconds{port=\"993\",direction="
			 "\"in\"} 192\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_stuck_writer_oldest_seconds{port=\"other\",direction="
			 "\"out\"} 30.5\n", NULL) == 1);
	CHECK(lines_with(out, "tcpkeep_stuck_writer_oldest_seconds{port=\"25\"", NULL) == 0);
	CHECK(lines_with(out, "tcpkeep_audit_available 1\n", NULL) == 1);
	/* no addresses, no processes */
	CHECK(!strstr(out, "10.0.0.") && !strstr(out, "imap") && !strstr(out, "40000"));
	free(out);

	s.audit_ok = false;
	s.audit_err = -EPERM;
	out = render_prom(&s, &po);
	CHECK(!strstr(out, "tcpkeep_established_keepalive") &&
	      !strstr(out, "tcpkeep_connections_idle_seconds") &&
	      !strstr(out, "tcpkeep_stuck_writer"));
	CHECK(lines_with(out, "tcpkeep_audit_available 0\n", NULL) == 1);
	CHECK(lines_with(out, "# TYPE tcpkeep_audit_available gauge\n", NULL) == 1);
	free(out);
	tk_snapshot_free(&s);
	tk_prom_memory_free(po.mem);
}

/* --json-string: stdin, whatever its bytes, as the key and the value of an object. */
static int json_string_of_stdin(void)
{
	char *in = NULL;
	size_t n = 0, cap = 0, got;
	struct tk_json j;

	for (;;) {
		if (n == cap) {
			char *bigger = realloc(in, cap = cap ? 2 * cap : 4096);

			if (!bigger)
				return 1;
			in = bigger;
		}
		got = fread(in + n, 1, cap - n, stdin);
		if (!got)
			break;
		n += got;
	}
	tk_json_init(&j, stdout);
	tk_json_begin_object(&j);
	tk_json_keyn(&j, in, n);
	tk_json_stringn(&j, in, n);
	tk_json_end_object(&j);
	putchar('\n');
	free(in);
	return tk_json_finish(&j) || ferror(stdin) || fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--json-string"))
		return json_string_of_stdin();
	test_args();
	test_parse_ulong();
	test_parse_seconds();
	test_parse_ports();
	test_hist();
	test_hist_bar();
	test_view_widths();
	test_view_height();
	test_view_pressure();
	test_json_pressure();
	test_attrib_rule();
	test_diag_attrib();
	test_diag_pressure();
	test_diag_parse();
	test_diag_parse_both();
	test_totals();
	test_snapshot_sort_filter();
	test_snapshot_sort_many();
	test_json();
	test_json_escapes();
	test_json_bad_utf8();
	test_json_writer();
	test_status_json();
	test_policy();
	test_policy_help();
	test_links();
	test_prom_cardinality();
	test_prom_pressure();
	test_audit_hz();
	test_audit_conn_of();
	test_audit_classify();
	test_audit_reap();
	test_audit_row();
	test_snapshot_would();
	test_age_name();
	test_audit_text();
	test_prom_audit();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
