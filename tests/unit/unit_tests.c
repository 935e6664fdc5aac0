// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the parts of tcpkeep that need no kernel: the command
 * line, number and port parsing, histogram slots and drawing, derived
 * totals, JSON rendering.
 * Prints "N passed, N failed" and exits non-zero on any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "core/cli.h"
#include "core/exit.h"
#include "core/hist.h"
#include "core/parse.h"
#include "core/policy.h"
#include "render/render.h"
#include "render/status.h"
#include "core/snapshot.h"

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

/* The policy KEYs are written once (core/policy.c): the help, prose, must
 * still name each with its limits, and the built-in defaults as they are. */
static void test_policy_help(void)
{
	struct tk_policy_table *t = calloc(1, sizeof(*t));
	char *help = NULL, want[128] = "(";
	size_t len = 0, n = 1;
	FILE *f = open_memstream(&help, &len);

	tk_usage(f);
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
}

int main(void)
{
	test_args();
	test_parse_ulong();
	test_parse_seconds();
	test_parse_ports();
	test_hist();
	test_totals();
	test_snapshot_sort_filter();
	test_json();
	test_policy();
	test_policy_help();
	test_links();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
