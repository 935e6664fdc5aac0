/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The keepalive policy grammar, plain C (no libbpf) so it can be tested
 * and fuzzed without a kernel.
 *
 *   SPEC  := PORTS [":" ( "off" | KV ("," KV)* )]
 *   PORTS := PORT | PORT "-" PORT | PORTS "," PORTS
 *   KV    := ("idle" | "intvl" | "cnt" | "user-timeout") "=" NUMBER
 */
#ifndef TK_POLICY_H
#define TK_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tcpkeep.h"

/* Built-in default: a vanished client is reaped in about 10 minutes. */
#define TK_DEF_IDLE	300
#define TK_DEF_INTVL	60
#define TK_DEF_CNT	5

/* The KEYs of a policy, in the order the grammar and every output list them. */
enum tk_policy_key {
	TK_POL_IDLE = 0,
	TK_POL_INTVL,
	TK_POL_CNT,
	TK_POL_USER_TIMEOUT,
	TK_POL_NKEYS,
};

/* Everything said about a KEY, here only: the grammar and the outputs read it. */
struct tk_policy_field {
	const char *key;	/* in a SPEC: "user-timeout" */
	const char *name;	/* in JSON: "user_timeout" */
	const char *heading;	/* the text table's column, and its width */
	int width;
	bool seconds;		/* a time in seconds, else a count */
	size_t off;		/* of its __u32 in struct tk_policy */
	unsigned long min, max;	/* the kernel's; 0, where min is 0: the socket's own */
	const char *metric, *help;	/* the Prometheus gauge */
};

extern const struct tk_policy_field tk_policy_fields[TK_POL_NKEYS];

uint32_t tk_policy_get(const struct tk_policy *p, enum tk_policy_key k);

struct tk_policy_table {
	bool set[65536];
	struct tk_policy pol[65536];
};

/* The built-in default policy, with a user timeout as long as its probes. */
struct tk_policy tk_policy_default(void);
/* The built-in mail ports: 143 (IMAP), 993 (IMAPS), 110 (POP3), 995 (POP3S). */
void tk_policy_defaults(struct tk_policy_table *t);
/*
 * Parse one SPEC and set its ports in t (later specs override earlier
 * ones). On error returns -1, t unchanged, and a one-line reason naming
 * the bad token in err.
 */
int tk_policy_parse(const char *spec, struct tk_policy_table *t, char *err, size_t errlen);
/* Number of ports with a policy (off included). */
size_t tk_policy_count(const struct tk_policy_table *t);
/* At most TK_MAX_POLICY ports: 0, or -1 with a one-line reason in err. */
int tk_policy_check_count(const struct tk_policy_table *t, char *err, size_t errlen);
/*
 * Apply set (ports with a policy, NULL: none) and del (65536 flags, NULL:
 * none) to into. -1 with a reason in err, into half-changed (throw it
 * away), when del names a port without a policy or the result is too big.
 */
int tk_policy_merge(struct tk_policy_table *into, const struct tk_policy_table *set,
		    const bool *del, char *err, size_t errlen);

#endif
