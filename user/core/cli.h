/* SPDX-License-Identifier: GPL-2.0-only */
/* Command line: what the user asked for, parsed and checked. */
#ifndef TK_CLI_H
#define TK_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include "core/policy.h"

enum tk_cmd {
	TK_CMD_RUN = 0,
	TK_CMD_PIN,
	TK_CMD_UNPIN,
	TK_CMD_STATUS,
	TK_CMD_TOP,
	TK_CMD_POLICY_LIST,
	TK_CMD_POLICY_SET,
	TK_CMD_POLICY_DEL,
	TK_CMD_METRICS,
	TK_CMD_AUDIT,
	TK_CMD_HELP,
	TK_CMD_VERSION,
};

struct tk_opts {
	enum tk_cmd cmd;
	double interval;	/* seconds between frames */
	long count;		/* frames, 0: until stopped */
	bool *ports;		/* -p filter (65536 flags), NULL: all */
	bool json;
	bool netns;		/* --netns: states per network namespace */
	bool audit;		/* --audit (run, top), audit: the audit's section,
				 * with the processes of the listed connections */
	double stuck_after;	/* --stuck-after; 0: the default */
	bool verbose;
	struct tk_policy_table *policy;	/* run/pin: defaults and -k; policy set: the
					 * specs; audit: -k alone, what it weighs */
	bool *del_ports;	/* policy del: the ports */
	bool apply_existing;	/* policy set --apply-existing */
	const char *cgroup;	/* --cgroup, NULL: the cgroup v2 root */
	bool no_lifetimes;	/* --no-lifetimes */
	bool interval_set;	/* -i given */
	const char *textfile;	/* metrics --textfile */
	bool listen;		/* --listen given */
	struct sockaddr_storage listen_addr;
	unsigned int listen_len;
	int listen_fd;		/* bound by tk_check_args; -1 before */
	bool *export_ports;	/* --ports: also exported to Prometheus, NULL: none */
	const char *help_topic;	/* help: the command asked about, NULL: all */
};

/* Parse argv. 0 on success; TK_EXIT_USAGE after printing one line. */
int tk_parse_args(int argc, char **argv, struct tk_opts *o);
/*
 * The checks that look at the system, made before anything is loaded:
 * the --textfile path, the --listen address (bound here, kept in
 * listen_fd). 0, or TK_EXIT_USAGE after printing one line.
 */
int tk_check_args(struct tk_opts *o);
void tk_opts_free(struct tk_opts *o);
/* Help on one command (its name) or, topic NULL, all; -1: no such command. */
int tk_usage(FILE *f, const char *topic);

#endif
