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
#include "tcpkeep.h"

/* Built-in default: a vanished client is reaped in about 10 minutes. */
#define TK_DEF_IDLE	300
#define TK_DEF_INTVL	60
#define TK_DEF_CNT	5

/* Kernel limits (include/net/tcp.h: MAX_TCP_KEEPIDLE, ...). */
#define TK_MAX_IDLE	32767
#define TK_MAX_INTVL	32767
#define TK_MAX_CNT	127
#define TK_MAX_USER_TIMEOUT 2147483	/* seconds; the kernel takes ms in an int */

struct tk_policy_table {
	bool set[65536];
	struct tk_policy pol[65536];
};

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
