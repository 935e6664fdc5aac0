/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Which capabilities each command needs, and the line that says what is
 * missing. Pure: the process's capabilities are read in kernel/caps.c.
 */
#ifndef TK_CAPS_H
#define TK_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/cli.h"

/* What decides a command's needs besides the command itself. */
struct tk_caps_ask {
	enum tk_cmd cmd;
	bool enforces;		/* loads the enforcer: run with a policy,
				 * policy set --apply-existing */
	bool owner;		/* the effective uid owns /run and /sys/fs/bpf (root) */
};

/* The capabilities (1 << CAP_x) the command needs. */
uint64_t tk_caps_needed(const struct tk_caps_ask *a);
/*
 * The line for a command that lacks some of them (without "tcpkeep: "):
 * "pin needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN; missing CAP_PERFMON
 * (...)". 0 if nothing is missing, else the length snprintf would write.
 */
int tk_caps_explain(const struct tk_caps_ask *a, uint64_t have, char *buf, size_t len);
/* "CAP_BPF" for CAP_BPF, and so on, for the capabilities tcpkeep needs. */
const char *tk_cap_name(unsigned int cap);

#endif
