// SPDX-License-Identifier: GPL-2.0-only
/* Command-line parsing and help. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/cli.h"
#include "core/exit.h"
#include "core/parse.h"
#include "core/snapshot.h"

/* Which options each command takes. */
enum {
	A_INTERVAL = 1 << 0, A_COUNT = 1 << 1, A_PORT = 1 << 2, A_JSON = 1 << 3,
	A_POLICY = 1 << 4, A_CGROUP = 1 << 5, A_APPLY = 1 << 6, A_LIFETIMES = 1 << 7,
	A_LISTEN = 1 << 8, A_TEXTFILE = 1 << 9, A_EXPORT = 1 << 10, A_NETNS = 1 << 11,
	A_AUDIT = 1 << 12, A_STUCK = 1 << 13,
	A_WOULD = 1 << 14,	/* -k alone: what audit weighs, no defaults */
	A_ANY = 1 << 15,	/* -v, -h: every command */
};

static const struct {
	const char *name, *sub;
	enum tk_cmd cmd;
	unsigned int allowed;
	bool positional;	/* takes SPEC... or PORTS... */
	const char *usage;	/* after "tcpkeep " */
	const char *what;	/* what it does, lines indented by 15 */
	const char *examples;	/* lines of "  command   comment\n" */
} commands[] = {
	{ "run", NULL, TK_CMD_RUN,
	  A_INTERVAL | A_COUNT | A_PORT | A_JSON | A_NETNS | A_POLICY | A_CGROUP |
	  A_LIFETIMES | A_LISTEN | A_EXPORT | A_AUDIT | A_STUCK, false,
	  "[run] [-i SEC] [-c N] [-p LIST] [--json] [--audit] [POLICY]",
	  "attach, show a live view until Ctrl-C or SIGTERM, detach\n"
	  "               (the default command); sets the policy's keepalive\n"
	  "               options on new and existing connections of its ports\n"
	  "               (--no-defaults alone: observe only, nothing changed)",
	  "  sudo tcpkeep                        live view, default policy on mail ports\n"
	  "  sudo tcpkeep --no-defaults          observe only: no socket is changed\n"
	  "  sudo tcpkeep -p 143,993,110,995     only the IMAP and POP3 ports\n"
	  "  sudo tcpkeep -i 5 -c 12 > log.txt   a frame every 5 s for a minute\n"
	  "  sudo tcpkeep --json -c 1 | jq .     one JSON frame\n"
	  "  sudo tcpkeep -k 993:idle=120,intvl=30,cnt=4 -k 110:off\n"
	  "                                      shorter probes on IMAPS, none on POP3\n"
	  "  sudo tcpkeep --no-defaults -k 5432,6379:idle=60\n"
	  "                                      only PostgreSQL and Redis\n" },
	{ "pin", NULL, TK_CMD_PIN, A_POLICY | A_CGROUP | A_LIFETIMES, false,
	  "pin [POLICY]",
	  "attach and pin under /sys/fs/bpf/tcpkeep, apply the policy to\n"
	  "               existing connections, exit; safe to repeat: the counts stay\n"
	  "               and the pinned policy becomes exactly the one given",
	  "  sudo tcpkeep pin                    at boot, the default policy\n"
	  "  sudo tcpkeep pin -k 993:idle=120    the same, shorter idle on IMAPS\n" },
	{ "unpin", NULL, TK_CMD_UNPIN, 0, false,
	  "unpin",
	  "detach everything pinned and remove the pins",
	  "  sudo tcpkeep unpin\n" },
	{ "status", NULL, TK_CMD_STATUS, A_JSON, false,
	  "status [--json]",
	  "pinned or not, cgroup, programs, policy, totals; exit 0 when\n"
	  "               active, 3 when not pinned, 1 when pinned but broken, 4 while a\n"
	  "               pin, unpin or policy change is half-way",
	  "  sudo tcpkeep status\n"
	  "  sudo tcpkeep status --json | jq .policy\n" },
	{ "top", NULL, TK_CMD_TOP,
	  A_INTERVAL | A_COUNT | A_PORT | A_JSON | A_NETNS | A_AUDIT | A_STUCK, false,
	  "top [-i SEC] [-c N] [-p LIST] [--json] [--netns] [--audit]",
	  "the live view of run, over the pinned maps",
	  "  sudo tcpkeep top -i 5\n"
	  "  sudo tcpkeep top --audit -p 143,993 idle and stuck IMAP connections, live\n" },
	{ "audit", NULL, TK_CMD_AUDIT, A_PORT | A_JSON | A_NETNS | A_STUCK | A_WOULD, false,
	  "audit [-p LIST] [--json] [--netns] [--stuck-after SEC] [-k SPEC]",
	  "established connections now: keepalive off, kernel default,\n"
	  "               policy or other; idle times; writers stuck retransmitting\n"
	  "               to a silent peer, with their processes; what the policy\n"
	  "               (or -k SPEC, else the built-in default) would change.\n"
	  "               Reads, changes nothing",
	  "  sudo tcpkeep audit -p 143,993,110,995   before tcpkeep pin: what it will do\n"
	  "  sudo tcpkeep audit -k 143:idle=120      what a shorter idle would probe\n"
	  "  sudo tcpkeep audit --json | jq .audit.stuck\n" },
	{ "policy", "list", TK_CMD_POLICY_LIST, A_JSON, false,
	  "policy list [--json]",
	  "the pinned keepalive policy",
	  "  sudo tcpkeep policy list\n" },
	{ "policy", "set", TK_CMD_POLICY_SET, A_APPLY, true,
	  "policy set SPEC... [--apply-existing]",
	  "add or change ports of the pinned policy, live (SPEC as for -k)",
	  "  sudo tcpkeep policy set 143:idle=60 --apply-existing\n" },
	{ "policy", "del", TK_CMD_POLICY_DEL, 0, true,
	  "policy del PORTS...",
	  "remove ports from the pinned policy, live",
	  "  sudo tcpkeep policy del 110,995\n" },
	{ "metrics", NULL, TK_CMD_METRICS,
	  A_INTERVAL | A_COUNT | A_LISTEN | A_TEXTFILE | A_EXPORT | A_STUCK, false,
	  "metrics [--listen ADDR:PORT] [--textfile FILE [-i SEC]] [OPTIONS]",
	  "Prometheus text exposition of the pinned maps: once on stdout,\n"
	  "               to a textfile every -i SEC (default 15), or served over HTTP",
	  "  sudo tcpkeep metrics --listen 9977 --ports 389,3306\n"
	  "  sudo tcpkeep metrics --textfile /var/lib/prometheus/node-exporter/tcpkeep.prom\n" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Each option's help, under the option flag that allows it. */
static const struct {
	unsigned int flag;
	const char *text;
} option_help[] = {
	{ A_INTERVAL, "  -i, --interval SEC  seconds between frames, 0.1 to 3600 (default 1;\n"
		      "                      metrics --textfile: 15)\n" },
	{ A_COUNT, "  -c, --count N       N frames (or textfiles), then exit (default: until\n"
		   "                      stopped)\n" },
	{ A_PORT, "  -p, --port LIST     only these service ports: 993, 143,993 or 10000-10010\n" },
	{ A_JSON, "      --json          JSON: one object per frame, one per line\n" },
	{ A_NETNS, "      --netns         current states per network namespace too (every\n"
		   "                      namespace is counted; rows sum them by default)\n" },
	{ A_POLICY, "  -k, --keepalive SPEC  keepalive policy for ports, repeatable; later wins:\n"
		    "                      PORTS[:KEY=VALUE,...] or PORTS:off, keys idle, intvl\n"
		    "                      (seconds, 1-32767), cnt (1-127), user-timeout (seconds,\n"
		    "                      0 leaves the socket's own; default idle+intvl*cnt)\n"
		    "      --no-defaults   no built-in policy for 143, 993, 110 and 995\n"
		    "                      (idle=300,intvl=60,cnt=5,user-timeout=600)\n" },
	{ A_WOULD, "  -k, --keepalive SPEC  weigh this policy for its ports instead of the\n"
		   "                      pinned one (SPEC as for run; repeatable)\n" },
	{ A_AUDIT, "      --audit         show the audit: keepalive, idle times, stuck writers\n"
		   "                      and the connections behind them (with their processes)\n" },
	{ A_STUCK, "      --stuck-after SEC  a writer is stuck after SEC without an ACK while\n"
		   "                      retransmitting, 1 to 86400 (default 10)\n" },
	{ A_CGROUP, "      --cgroup PATH   enforce in this cgroup v2 subtree (default: the root)\n" },
	{ A_LIFETIMES, "      --no-lifetimes  keep no per-connection slot: no lifetime histograms,\n"
		       "                      direction by port rule; about 1.8x cheaper per event\n" },
	{ A_APPLY, "      --apply-existing  also update established connections\n" },
	{ A_LISTEN, "      --listen ADDR:PORT  serve GET /metrics; PORT or :PORT alone is\n"
		    "                      127.0.0.1; any other address must be given\n" },
	{ A_TEXTFILE, "      --textfile FILE  write atomically for node_exporter's textfile collector\n" },
	{ A_EXPORT, "      --ports LIST    export these ports too (policy and listening ports\n"
		    "                      always are); the rest fold into port=\"other\"\n" },
	{ A_ANY, "  -v, --verbose       print libbpf's log (and the verifier's) to stderr\n"
		 "  -h, --help          help (tcpkeep help COMMAND: that command's)\n" },
};

static const char help_title[] =
"tcpkeep: count TCP state transitions per service port and force keepalive\n";

static const char help_exit[] =
"exit status: 0 done, 1 failed at run time, 2 bad usage (nothing changed),\n"
"3 status: not pinned, 4 status: pin in progress\n";

static void usage_lines(FILE *f, const char *topic)
{
	bool first = true;

	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (topic && strcmp(topic, commands[i].name))
			continue;
		fprintf(f, "%s tcpkeep %s\n", first ? "usage:" : "      ", commands[i].usage);
		first = false;
	}
	if (!topic)
		fputs("       tcpkeep help [COMMAND] | --version\n", f);
}

static void option_lines(FILE *f, unsigned int allowed)
{
	for (size_t i = 0; i < sizeof(option_help) / sizeof(option_help[0]); i++)
		if (option_help[i].flag & (allowed | A_ANY))
			fputs(option_help[i].text, f);
}

/*
 * Help for one command (topic: its name; "policy" is list, set and del)
 * or, topic NULL, for all. -1 when topic names no command.
 */
int tk_usage(FILE *f, const char *topic)
{
	unsigned int allowed = 0;
	bool found = !topic;

	for (size_t i = 0; i < NCOMMANDS; i++)
		if (topic && !strcmp(topic, commands[i].name)) {
			allowed |= commands[i].allowed;
			found = true;
		}
	if (!found)
		return -1;
	fputs(help_title, f);
	fputc('\n', f);
	usage_lines(f, topic);
	fputs("\ncommands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char name[16];

		if (topic && strcmp(topic, commands[i].name))
			continue;
		snprintf(name, sizeof(name), "%s%s%s", commands[i].sub ? "" : commands[i].name,
			 commands[i].sub ? "policy " : "", commands[i].sub ? commands[i].sub : "");
		fprintf(f, "  %-12s %s\n", name, commands[i].what);
	}
	fputs("\noptions:\n", f);
	option_lines(f, topic ? allowed : ~0u);
	if (!topic)
		fputs("      --version       print the version\n", f);
	fputc('\n', f);
	fputs(help_exit, f);
	fputs("\nexamples:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!topic || !strcmp(topic, commands[i].name))
			fputs(commands[i].examples, f);
	return 0;
}

/* Add a port list to *set (65536 flags, allocated on first use). */
static int add_ports(bool **set, const char *arg)
{
	char bad[64];

	if (!*set)
		*set = calloc(TK_PORTS, sizeof(**set));
	if (!*set)
		return tk_usage_error("%s", "out of memory");
	if (tk_parse_ports(arg, *set, bad, sizeof(bad)))
		return tk_usage_error("bad port '%s': a port is 1 to 65535", bad);
	return 0;
}

/*
 * Defaults (unless --no-defaults), then each spec in order: later wins.
 * 0, or TK_EXIT_USAGE after saying why.
 */
static int build_policy(struct tk_opts *o, char **specs, size_t n, bool defaults)
{
	char err[256];

	o->policy = calloc(1, sizeof(*o->policy));
	if (!o->policy)
		return tk_usage_error("%s", "out of memory");
	if (defaults)
		tk_policy_defaults(o->policy);
	for (size_t i = 0; i < n; i++)
		if (tk_policy_parse(specs[i], o->policy, err, sizeof(err)))
			return tk_usage_error("%s", err);
	if (tk_policy_check_count(o->policy, err, sizeof(err)))
		return tk_usage_error("%s", err);
	return 0;
}

enum { PICK_HELP = -1, PICK_HELP_POLICY = -2 };

/*
 * The command word(s): 0 with *which set and argv past them, PICK_HELP
 * for "help", PICK_HELP_POLICY for "policy -h", or TK_EXIT_USAGE.
 */
static int pick_command(int *argc, char ***argv, int *which)
{
	const char *word = *argc > 1 ? (*argv)[1] : NULL;
	const char *sub = *argc > 2 ? (*argv)[2] : NULL;

	*which = 0;	/* run */
	if (!word || word[0] == '-')
		return 0;
	if (!strcmp(word, "help"))
		return PICK_HELP;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(word, commands[i].name))
			continue;
		if (!commands[i].sub) {
			*which = i;
			*argc -= 1;
			*argv += 1;
			return 0;
		}
		if (sub && (!strcmp(sub, "-h") || !strcmp(sub, "--help")))
			return PICK_HELP_POLICY;
		if (!sub)
			return tk_usage_error("'%s' needs list, set or del", word);
		if (strcmp(sub, commands[i].sub))
			continue;
		*which = i;
		*argc -= 2;
		*argv += 2;
		return 0;
	}
	if (!strcmp(word, "policy"))
		return tk_usage_error("unknown policy command '%s': list, set or del", sub);
	return tk_usage_error("unknown command '%s'", word);
}

/*
 * The option as the user wrote it, for messages; returns whether it was a
 * long option that getopt knew (so a '?' for it means "given a value it
 * does not take"). argv[optind - 1] is not the option: after "-c 1" it is
 * the value, and inside a cluster ("-Zv") optind has not moved yet. It is
 * only used, as last, when it is the long option that failed: then getopt
 * left optopt as that option's val (0 if unknown or ambiguous).
 */
static bool option_name(char *buf, size_t len, int c, int li,
			const struct option *longopts, const char *last)
{
	int ch = (c == '?' || c == ':') ? optopt : c;
	size_t n = strcspn(last, "=");

	if (li >= 0) {
		snprintf(buf, len, "--%s", longopts[li].name);
		return true;
	}
	if (!strncmp(last, "--", 2)) {
		/* the val and an abbreviation of the name must both match:
		 * else last is an earlier word and the error is a short one */
		for (const struct option *o = longopts; o->name && ch; o++)
			if (o->val == ch && n > 2 && !strncmp(o->name, last + 2, n - 2)) {
				snprintf(buf, len, "--%s", o->name);
				return true;
			}
		if (!ch) {
			snprintf(buf, len, "%.*s", (int)n, last);
			return false;
		}
	}
	snprintf(buf, len, "-%c", ch);
	return false;
}

static int parse_options(int argc, char **argv, struct tk_opts *o, unsigned int allowed,
			 const char *topic, char **specs, size_t *nspecs, bool *no_defaults)
{
	enum { OPT_JSON = 256, OPT_VERSION, OPT_NO_DEFAULTS, OPT_CGROUP, OPT_APPLY,
	       OPT_NO_LIFETIMES, OPT_LISTEN, OPT_TEXTFILE, OPT_PORTS, OPT_NETNS, OPT_AUDIT,
	       OPT_STUCK };
	static const struct option longopts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "keepalive", required_argument, NULL, 'k' },
		{ "no-defaults", no_argument, NULL, OPT_NO_DEFAULTS },
		{ "cgroup", required_argument, NULL, OPT_CGROUP },
		{ "apply-existing", no_argument, NULL, OPT_APPLY },
		{ "no-lifetimes", no_argument, NULL, OPT_NO_LIFETIMES },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "textfile", required_argument, NULL, OPT_TEXTFILE },
		{ "ports", required_argument, NULL, OPT_PORTS },
		{ "netns", no_argument, NULL, OPT_NETNS },
		{ "audit", no_argument, NULL, OPT_AUDIT },
		{ "stuck-after", required_argument, NULL, OPT_STUCK },
		{ 0 },
	};
	unsigned long n = 0;
	char err[160], name[64];
	bool known_long;
	int c, li;

	/* 0, not 1: glibc then forgets a cluster ("-vh") a previous parse
	 * stopped inside, which it would go on reading otherwise */
	opterr = 0;
	optind = 0;
	while ((li = -1, c = getopt_long(argc, argv, ":i:c:p:k:vh", longopts, &li)) != -1) {
		unsigned int need = 0;

		known_long = option_name(name, sizeof(name), c, li, longopts, argv[optind - 1]);

		switch (c) {
		case 'i': need = A_INTERVAL; break;
		case 'c': need = A_COUNT; break;
		case 'p': need = A_PORT; break;
		case OPT_JSON: need = A_JSON; break;
		case 'k': need = allowed & A_WOULD ? A_WOULD : A_POLICY; break;
		case OPT_NO_DEFAULTS: need = A_POLICY; break;
		case OPT_AUDIT: need = A_AUDIT; break;
		case OPT_STUCK: need = A_STUCK; break;
		case OPT_CGROUP: need = A_CGROUP; break;
		case OPT_APPLY: need = A_APPLY; break;
		case OPT_NO_LIFETIMES: need = A_LIFETIMES; break;
		case OPT_LISTEN: need = A_LISTEN; break;
		case OPT_TEXTFILE: need = A_TEXTFILE; break;
		case OPT_PORTS: need = A_EXPORT; break;
		case OPT_NETNS: need = A_NETNS; break;
		case ':':
			return tk_usage_error("option '%s' needs a value", name);
		case '?':
			if (known_long)	/* "--json=1" */
				return tk_usage_error("option '%s' takes no value", name);
			return tk_usage_error("unknown option '%s'", name);
		}
		if (need && !(allowed & need))
			return tk_usage_error("option '%s' does not apply to this command", name);
		switch (c) {
		case 'i':
			if (tk_parse_seconds(optarg, 0.1, 3600, &o->interval))
				return tk_usage_error("bad interval '%s': seconds from 0.1 to 3600",
						   optarg);
			o->interval_set = true;
			break;
		case 'c':
			if (tk_parse_ulong(optarg, 1, 1000000000, &n))
				return tk_usage_error("bad count '%s': a whole number of frames, "
						   "1 or more", optarg);
			o->count = (long)n;
			break;
		case 'p':
			if (add_ports(&o->ports, optarg))
				return TK_EXIT_USAGE;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			o->cmd = TK_CMD_HELP;
			o->help_topic = topic;
			return 0;
		case OPT_VERSION:
			o->cmd = TK_CMD_VERSION;
			return 0;
		case 'k':
			specs[(*nspecs)++] = optarg;
			break;
		case OPT_NO_DEFAULTS:
			*no_defaults = true;
			break;
		case OPT_CGROUP:
			o->cgroup = optarg;
			break;
		case OPT_APPLY:
			o->apply_existing = true;
			break;
		case OPT_NO_LIFETIMES:
			o->no_lifetimes = true;
			break;
		case OPT_LISTEN:
			if (tk_parse_listen(optarg, &o->listen_addr, &o->listen_len, err,
					    sizeof(err)))
				return tk_usage_error("%s", err);
			o->listen = true;
			break;
		case OPT_TEXTFILE:
			if (!*optarg)
				return tk_usage_error("%s", "--textfile needs a file name");
			o->textfile = optarg;
			break;
		case OPT_PORTS:
			if (add_ports(&o->export_ports, optarg))
				return TK_EXIT_USAGE;
			break;
		case OPT_NETNS:
			o->netns = true;
			break;
		case OPT_AUDIT:
			o->audit = true;
			break;
		case OPT_STUCK:
			if (tk_parse_seconds(optarg, 1, 86400, &o->stuck_after))
				return tk_usage_error("bad --stuck-after '%s': seconds from 1 "
						   "to 86400", optarg);
			break;
		}
	}
	return 0;
}

/* "tcpkeep help [COMMAND]" */
static int help_command(int argc, char **argv, struct tk_opts *o)
{
	o->cmd = TK_CMD_HELP;
	if (argc > 3)
		return tk_usage_error("unexpected argument '%s'", argv[3]);
	if (argc == 3) {
		for (size_t i = 0; i < NCOMMANDS; i++)
			if (!strcmp(argv[2], commands[i].name))
				o->help_topic = commands[i].name;
		if (!o->help_topic)
			return tk_usage_error("no help for '%s': not a command", argv[2]);
	}
	return 0;
}

int tk_parse_args(int argc, char **argv, struct tk_opts *o)
{
	bool explicit = argc > 1 && argv[1][0] != '-';
	bool no_defaults = false;
	size_t nspecs = 0;
	char **specs = NULL;
	int which, ret;

	memset(o, 0, sizeof(*o));
	o->interval = 1.0;
	o->listen_fd = -1;
	ret = pick_command(&argc, &argv, &which);
	if (ret == PICK_HELP_POLICY) {
		o->cmd = TK_CMD_HELP;
		o->help_topic = "policy";
		return 0;
	}
	if (ret == PICK_HELP)
		return help_command(argc, argv, o);
	if (ret)
		return ret;
	o->cmd = commands[which].cmd;
	specs = calloc((size_t)argc + 1, sizeof(*specs));
	if (!specs)
		return tk_usage_error("%s", "out of memory");
	/* "tcpkeep -h" is the whole help; "tcpkeep run -h" run's */
	ret = parse_options(argc, argv, o, commands[which].allowed,
			    explicit ? commands[which].name : NULL, specs, &nspecs, &no_defaults);
	if (ret || o->cmd == TK_CMD_HELP || o->cmd == TK_CMD_VERSION)
		goto out;

	if (commands[which].positional && optind >= argc) {
		ret = tk_usage_error("'policy %s' needs at least one %s", commands[which].sub,
				  o->cmd == TK_CMD_POLICY_SET ? "SPEC" : "PORTS");
		goto out;
	}
	if (!commands[which].positional && optind < argc) {
		ret = tk_usage_error("unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (o->cmd == TK_CMD_POLICY_DEL) {
		for (int i = optind; i < argc && !ret; i++)
			ret = add_ports(&o->del_ports, argv[i]);
		goto out;
	}
	/* policy set: the specs are the words, without built-in defaults */
	if (o->cmd == TK_CMD_POLICY_SET)
		ret = build_policy(o, argv + optind, (size_t)(argc - optind), false);
	else if (commands[which].allowed & A_POLICY)
		ret = build_policy(o, specs, nspecs, !no_defaults);
	else if (commands[which].allowed & A_WOULD)
		ret = build_policy(o, specs, nspecs, false);
out:
	free(specs);
	return ret;
}

void tk_opts_free(struct tk_opts *o)
{
	free(o->ports);
	free(o->policy);
	free(o->del_ports);
	free(o->export_ports);
	o->export_ports = NULL;
	o->ports = NULL;
	o->policy = NULL;
	o->del_ports = NULL;
}
