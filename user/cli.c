// SPDX-License-Identifier: GPL-2.0-only
/* Command-line parsing and help. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "loader.h"
#include "parse.h"
#include "snapshot.h"

void tk_usage(FILE *f)
{
	fputs(
"tcpkeep: count TCP state transitions per service port and force keepalive\n"
"\n"
"usage: tcpkeep [run] [OPTIONS]\n"
"\n"
"  run               attach, show a live view until Ctrl-C or SIGTERM, detach\n"
"                    (the default command)\n"
"\n"
"options:\n"
"  -i, --interval SEC  seconds between frames, 0.1 to 3600 (default 1)\n"
"  -c, --count N       show N frames, then exit (default: until stopped)\n"
"  -p, --port LIST     only these service ports: 993, 143,993 or 10000-10010\n"
"  -k, --keepalive SPEC  keepalive policy for ports, repeatable; later wins:\n"
"                      PORTS[:KEY=VALUE,...] or PORTS:off, keys idle, intvl\n"
"                      (seconds, 1-32767), cnt (1-127), user-timeout (seconds,\n"
"                      0 leaves the socket's own; default idle+intvl*cnt)\n"
"      --no-defaults   no built-in policy for 143, 993, 110 and 995\n"
"                      (idle=300,intvl=60,cnt=5,user-timeout=600)\n"
"      --cgroup PATH   enforce in this cgroup v2 subtree (default: the root)\n"
"      --json          one JSON object per frame, one per line\n"
"  -v, --verbose       print libbpf's log (and the verifier's) to stderr\n"
"  -h, --help          this help\n"
"      --version       print the version\n"
"\n"
"exit status: 0 done, 1 failed at run time, 2 bad usage (nothing changed)\n"
"\n"
"examples:\n"
"  sudo tcpkeep                        live view of every service port\n"
"  sudo tcpkeep -p 143,993,110,995     only the IMAP and POP3 ports\n"
"  sudo tcpkeep -i 5 -c 12 > log.txt   a frame every 5 s for a minute\n"
"  sudo tcpkeep --json -c 1 | jq .     one JSON frame\n"
"  sudo tcpkeep -k 993:idle=120,intvl=30,cnt=4 -k 110:off\n"
"                                      shorter probes on IMAPS, none on POP3\n"
"  sudo tcpkeep --no-defaults -k 5432,6379:idle=60\n"
"                                      only PostgreSQL and Redis\n",
	f);
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tcpkeep: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see tcpkeep --help)\n");
	return TK_EXIT_USAGE;
}

static int build_policy(struct tk_opts *o, const char **specs, size_t n,
			bool no_defaults, char *err, size_t errlen);

int tk_parse_args(int argc, char **argv, struct tk_opts *o)
{
	enum { OPT_JSON = 256, OPT_VERSION, OPT_NO_DEFAULTS, OPT_CGROUP };
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
		{ 0 },
	};
	const char **specs = NULL;
	size_t nspecs = 0;
	bool no_defaults = false;
	unsigned long n = 0;
	char bad[64], err[256];
	int c, ret = 0;

	memset(o, 0, sizeof(*o));
	o->interval = 1.0;
	if (argc > 1 && argv[1][0] != '-') {
		if (strcmp(argv[1], "run"))
			return usage_error("unknown command '%s'", argv[1]);
		argc--;
		argv++;
	}
	opterr = 0;
	optind = 1;
	specs = calloc((size_t)argc, sizeof(*specs));
	if (!specs)
		return usage_error("%s", "out of memory");
	while ((c = getopt_long(argc, argv, ":i:c:p:k:vh", longopts, NULL)) != -1) {
		ret = 0;
		switch (c) {
		case 'i':
			if (tk_parse_seconds(optarg, 0.1, 3600, &o->interval))
				ret = usage_error("bad interval '%s': seconds from 0.1 to 3600",
						  optarg);
			break;
		case 'c':
			if (tk_parse_ulong(optarg, 1, 1000000000, &n))
				ret = usage_error("bad count '%s': a whole number of frames, "
						  "1 or more", optarg);
			o->count = (long)n;
			break;
		case 'p':
			if (!o->ports)
				o->ports = calloc(TK_PORTS, sizeof(*o->ports));
			if (!o->ports)
				ret = usage_error("%s", "out of memory");
			else if (tk_parse_ports(optarg, o->ports, bad, sizeof(bad)))
				ret = usage_error("bad port '%s': a port is 1 to 65535", bad);
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			o->cmd = TK_CMD_HELP;
			goto out;
		case OPT_VERSION:
			o->cmd = TK_CMD_VERSION;
			goto out;
		case 'k':
			specs[nspecs++] = optarg;
			break;
		case OPT_NO_DEFAULTS:
			no_defaults = true;
			break;
		case OPT_CGROUP:
			o->cgroup = optarg;
			break;
		case ':':
			ret = usage_error("option '%s' needs a value", argv[optind - 1]);
			break;
		default:
			ret = usage_error("unknown option '%s'", argv[optind - 1]);
			break;
		}
		if (ret)
			goto out;
	}
	if (optind < argc) {
		ret = usage_error("unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (build_policy(o, specs, nspecs, no_defaults, err, sizeof(err)))
		ret = usage_error("%s", err);
out:
	free(specs);
	return ret;
}

/* Defaults (unless --no-defaults), then each -k in order: later wins. */
static int build_policy(struct tk_opts *o, const char **specs, size_t n,
			bool no_defaults, char *err, size_t errlen)
{
	o->policy = calloc(1, sizeof(*o->policy));
	if (!o->policy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!no_defaults)
		tk_policy_defaults(o->policy);
	for (size_t i = 0; i < n; i++)
		if (tk_policy_parse(specs[i], o->policy, err, errlen))
			return -1;
	if (tk_policy_count(o->policy) > TK_MAX_POLICY) {
		snprintf(err, errlen, "%zu ports with a keepalive policy: at most %d",
			 tk_policy_count(o->policy), TK_MAX_POLICY);
		return -1;
	}
	return 0;
}

void tk_opts_free(struct tk_opts *o)
{
	free(o->ports);
	free(o->policy);
	o->ports = NULL;
	o->policy = NULL;
}
