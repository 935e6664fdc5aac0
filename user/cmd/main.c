// SPDX-License-Identifier: GPL-2.0-only
/*
 * tcpkeep: parse (core/cli.c) -> check what touches the system -> the
 * command's handler, from the table below (one file per command).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "cmd/cmd.h"

static bool verbose;

static void on_signal(int sig)
{
	tk_stop = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (!verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static int cmd_help(struct tk_opts *o)
{
	tk_usage(stdout, o->help_topic);
	return TK_EXIT_OK;
}

static int cmd_version(struct tk_opts *o)
{
	printf("tcpkeep %s (libbpf %s)\n", TCPKEEP_VERSION, libbpf_version_string());
	return TK_EXIT_OK;
}

/* The parser (core/cli.c) knows each command's name and options. */
static int (*const handlers[])(struct tk_opts *o) = {
	[TK_CMD_RUN] = tk_cmd_run,
	[TK_CMD_PIN] = tk_cmd_pin,
	[TK_CMD_UNPIN] = tk_cmd_unpin,
	[TK_CMD_STATUS] = tk_cmd_status,
	[TK_CMD_TOP] = tk_cmd_top,
	[TK_CMD_POLICY_LIST] = tk_cmd_policy,
	[TK_CMD_POLICY_SET] = tk_cmd_policy,
	[TK_CMD_POLICY_DEL] = tk_cmd_policy,
	[TK_CMD_METRICS] = tk_cmd_metrics,
	[TK_CMD_AUDIT] = tk_cmd_audit,
	[TK_CMD_HELP] = cmd_help,
	[TK_CMD_VERSION] = cmd_version,
};

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct tk_opts opts;
	int ret;

	ret = tk_parse_args(argc, argv, &opts);
	if (!ret)
		ret = tk_check_args(&opts);
	if (ret)
		goto out;
	verbose = opts.verbose;
	libbpf_set_print(libbpf_print);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	ret = handlers[opts.cmd](&opts);
out:
	if (opts.listen_fd >= 0)
		close(opts.listen_fd);
	tk_opts_free(&opts);
	return ret;
}
