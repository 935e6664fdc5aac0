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
"  sudo tcpkeep --json -c 1 | jq .     one JSON frame\n",
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

int tk_parse_args(int argc, char **argv, struct tk_opts *o)
{
	enum { OPT_JSON = 256, OPT_VERSION };
	static const struct option longopts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	unsigned long n;
	char bad[64];
	int c;

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
	while ((c = getopt_long(argc, argv, ":i:c:p:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (tk_parse_seconds(optarg, 0.1, 3600, &o->interval))
				return usage_error("bad interval '%s': seconds from 0.1 to 3600",
						   optarg);
			break;
		case 'c':
			if (tk_parse_ulong(optarg, 1, 1000000000, &n))
				return usage_error("bad count '%s': a whole number of frames, 1 or more",
						   optarg);
			o->count = (long)n;
			break;
		case 'p':
			if (!o->ports)
				o->ports = calloc(TK_PORTS, sizeof(*o->ports));
			if (!o->ports)
				return usage_error("%s", "out of memory");
			if (tk_parse_ports(optarg, o->ports, bad, sizeof(bad)))
				return usage_error("bad port '%s': a port is 1 to 65535", bad);
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			o->cmd = TK_CMD_HELP;
			return 0;
		case OPT_VERSION:
			o->cmd = TK_CMD_VERSION;
			return 0;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

void tk_opts_free(struct tk_opts *o)
{
	free(o->ports);
	o->ports = NULL;
}
