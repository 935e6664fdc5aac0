// SPDX-License-Identifier: GPL-2.0-only
/*
 * Capabilities, per command. Each need, once:
 *   CAP_BPF         every bpf() call: kernels before 6.5 refuse all of them
 *                   without it when unprivileged BPF is off (Debian's default)
 *   CAP_PERFMON     loading the tracing programs (observer, iterator)
 *   CAP_NET_ADMIN   loading and attaching the sockops program (enforcer)
 *   CAP_DAC_OVERRIDE a uid other than root's, to reach root's /run and
 *                   /sys/fs/bpf (mode 0700)
 * CAP_SYS_ADMIN only mounts bpffs when it is missing: asked of the kernel
 * then (kernel/pin.c), not here.
 * OPTIONAL, never asked for here, for the commands that read the sockets'
 * current states (run, top, status, metrics) or set the policy on open
 * connections (run, pin, policy set --apply-existing): they widen both
 * from tcpkeep's own network namespace to every other (kernel/netns.c).
 *   CAP_SYS_ADMIN   setns(2) into another network namespace
 *   CAP_SYS_PTRACE  readlink of /proc/PID/ns/net of a process holding
 *                   capabilities tcpkeep lacks or of another uid, the only
 *                   trace of a namespace that no bind mount holds
 * Without them a command still works: the namespaces it found and could
 * not enter are counted as unvisited, and shown.
 * OPTIONAL as well, for run, top and metrics: CAP_PERFMON (or
 * CAP_SYS_ADMIN) loads the audit iterator (kernel/audit.c), which reads
 * the keepalive and idle time of every connection; without it they show
 * why the audit is missing. audit needs it always.
 */
#include <stdarg.h>
#include <stdio.h>
#include <linux/capability.h>
#include "core/caps.h"

#define BIT(c) (1ULL << (c))
#define READS BIT(CAP_BPF)
#define OBSERVES (READS | BIT(CAP_PERFMON))
#define ENFORCES (OBSERVES | BIT(CAP_NET_ADMIN))

static const struct {
	const char *name;
	uint64_t always;
	uint64_t enforcing;	/* added when the command loads the enforcer */
} needs[] = {
	[TK_CMD_RUN] = { "run", OBSERVES, ENFORCES },
	[TK_CMD_PIN] = { "pin", ENFORCES, ENFORCES },
	[TK_CMD_UNPIN] = { "unpin", READS, READS },
	[TK_CMD_STATUS] = { "status", READS, READS },
	[TK_CMD_TOP] = { "top", READS, READS },
	[TK_CMD_POLICY_LIST] = { "policy list", READS, READS },
	[TK_CMD_POLICY_SET] = { "policy set", READS, ENFORCES },
	[TK_CMD_POLICY_DEL] = { "policy del", READS, READS },
	[TK_CMD_METRICS] = { "metrics", READS, READS },
	[TK_CMD_AUDIT] = { "audit", OBSERVES, OBSERVES },
	[TK_CMD_HELP] = { "help", 0, 0 },
	[TK_CMD_VERSION] = { "version", 0, 0 },
};

/* In the order they are named: the most basic first. */
static const unsigned int order[] = {
	CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_DAC_OVERRIDE, CAP_SYS_ADMIN,
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

const char *tk_cap_name(unsigned int cap)
{
	switch (cap) {
	case CAP_BPF:		return "CAP_BPF";
	case CAP_PERFMON:	return "CAP_PERFMON";
	case CAP_NET_ADMIN:	return "CAP_NET_ADMIN";
	case CAP_DAC_OVERRIDE:	return "CAP_DAC_OVERRIDE";
	case CAP_SYS_ADMIN:	return "CAP_SYS_ADMIN";
	}
	return "CAP_?";
}

uint64_t tk_caps_needed(const struct tk_caps_ask *a)
{
	uint64_t need;

	if ((size_t)a->cmd >= N(needs))
		return 0;
	need = a->enforces ? needs[a->cmd].enforcing : needs[a->cmd].always;
	if (need && !a->owner)
		need |= BIT(CAP_DAC_OVERRIDE);
	return need;
}

/* Append to buf at at (past its end: counted only); the new end. */
__attribute__((format(printf, 4, 5)))
static size_t append(char *buf, size_t len, size_t at, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + (at < len ? at : len), at < len ? len - at : 0, fmt, ap);
	va_end(ap);
	return at + (n > 0 ? (size_t)n : 0);
}

/* "A, B and C" of the capabilities in mask. */
static size_t list_caps(char *buf, size_t len, size_t at, uint64_t mask)
{
	unsigned int n = 0, total = __builtin_popcountll(mask);

	for (size_t i = 0; i < N(order); i++) {
		if (!(mask & BIT(order[i])))
			continue;
		n++;
		at = append(buf, len, at, "%s%s", n == 1 ? "" : n == total ? " and " : ", ",
			    tk_cap_name(order[i]));
	}
	return at;
}

int tk_caps_explain(const struct tk_caps_ask *a, uint64_t have, char *buf, size_t len)
{
	uint64_t need = tk_caps_needed(a), missing = need & ~have;
	size_t at;

	if (!missing)
		return 0;
	at = append(buf, len, 0, "%s needs ", needs[a->cmd].name);
	at = list_caps(buf, len, at, need);
	at = append(buf, len, at, "; missing ");
	at = list_caps(buf, len, at, missing);
	return (int)append(buf, len, at, " (run it as root, or grant them)");
}
