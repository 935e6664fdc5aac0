// SPDX-License-Identifier: GPL-2.0-only
/* The keepalive policy grammar. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/parse.h"
#include "core/policy.h"

static const unsigned short mail_ports[] = { 143, 993, 110, 995 };

struct tk_policy tk_policy_default(void)
{
	return (struct tk_policy){
		.idle = TK_DEF_IDLE,
		.intvl = TK_DEF_INTVL,
		.cnt = TK_DEF_CNT,
		.user_timeout = TK_DEF_IDLE + TK_DEF_INTVL * TK_DEF_CNT,
	};
}

void tk_policy_defaults(struct tk_policy_table *t)
{
	for (size_t i = 0; i < sizeof(mail_ports) / sizeof(mail_ports[0]); i++) {
		t->set[mail_ports[i]] = true;
		t->pol[mail_ports[i]] = tk_policy_default();
	}
}

size_t tk_policy_count(const struct tk_policy_table *t)
{
	size_t n = 0;

	for (size_t p = 0; p < 65536; p++)
		n += t->set[p];
	return n;
}

/* Limits: include/net/tcp.h (MAX_TCP_KEEPIDLE, ...); a user timeout is ms in an int. */
const struct tk_policy_field tk_policy_fields[TK_POL_NKEYS] = {
	[TK_POL_IDLE] = {
		"idle", "idle", "IDLE", 6, true, offsetof(struct tk_policy, idle),
		1, 32767, "tcpkeep_keepalive_idle_seconds",
		"Keepalive idle time in force per port.",
	},
	[TK_POL_INTVL] = {
		"intvl", "intvl", "INTVL", 6, true, offsetof(struct tk_policy, intvl),
		1, 32767, "tcpkeep_keepalive_interval_seconds",
		"Keepalive probe interval per port.",
	},
	[TK_POL_CNT] = {
		"cnt", "cnt", "CNT", 4, false, offsetof(struct tk_policy, cnt),
		1, 127, "tcpkeep_keepalive_probes",
		"Unanswered keepalive probes before the abort.",
	},
	[TK_POL_USER_TIMEOUT] = {
		"user-timeout", "user_timeout", "USER_TIMEOUT", 13, true,
		offsetof(struct tk_policy, user_timeout), 0, 2147483,
		"tcpkeep_user_timeout_seconds",
		"TCP_USER_TIMEOUT in force per port (0: the socket's own).",
	},
};

uint32_t tk_policy_get(const struct tk_policy *p, enum tk_policy_key k)
{
	uint32_t v;

	memcpy(&v, (const char *)p + tk_policy_fields[k].off, sizeof(v));
	return v;
}

static void policy_set(struct tk_policy *p, enum tk_policy_key k, uint32_t v)
{
	memcpy((char *)p + tk_policy_fields[k].off, &v, sizeof(v));
}

/* "idle, intvl, cnt, user-timeout", for messages */
static const char *key_list(char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < TK_POL_NKEYS && n < len; k++)
		n += snprintf(buf + n, len - n, "%s%s", k ? ", " : "", tk_policy_fields[k].key);
	return buf;
}

/* Parse "k=v,k=v" into pol. */
static int parse_kvs(char *s, struct tk_policy *pol, char *err, size_t errlen)
{
	unsigned long vals[TK_POL_NKEYS];
	bool seen[TK_POL_NKEYS] = { false };
	char *save = NULL, *kv, keys[64];

	if (!*s) {
		snprintf(err, errlen, "empty option list after ':' (use KEY=VALUE or off)");
		return -1;
	}
	if (!strcmp(s, "off")) {
		*pol = (struct tk_policy){ .off = 1 };
		return 0;
	}
	/* strtok would skip empty items: find them first */
	if (s[strlen(s) - 1] == ',' || strstr(s, ",,") || s[0] == ',') {
		snprintf(err, errlen, "empty KEY=VALUE in '%s'", s);
		return -1;
	}
	for (kv = strtok_r(s, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		size_t k;

		if (!eq) {
			snprintf(err, errlen, "'%s' is not KEY=VALUE (keys: %s)", kv,
				 key_list(keys, sizeof(keys)));
			return -1;
		}
		*eq = '\0';
		for (k = 0; k < TK_POL_NKEYS; k++)
			if (!strcmp(kv, tk_policy_fields[k].key))
				break;
		if (k == TK_POL_NKEYS) {
			snprintf(err, errlen, "unknown key '%s' (keys: %s)", kv,
				 key_list(keys, sizeof(keys)));
			return -1;
		}
		if (seen[k]) {
			snprintf(err, errlen, "key '%s' given twice", kv);
			return -1;
		}
		if (tk_parse_ulong(eq + 1, tk_policy_fields[k].min, tk_policy_fields[k].max,
				   &vals[k])) {
			snprintf(err, errlen, "bad value '%s' for %s: a whole number from %lu to %lu",
				 eq + 1, kv, tk_policy_fields[k].min, tk_policy_fields[k].max);
			return -1;
		}
		seen[k] = true;
	}
	*pol = tk_policy_default();
	for (size_t k = 0; k < TK_POL_NKEYS; k++)
		if (seen[k])
			policy_set(pol, k, vals[k]);
	/*
	 * With TCP_USER_TIMEOUT set the kernel aborts on it, not on the probe
	 * count: left out, it follows the keepalive settings (300 + 60 x 5 =
	 * 600 s for the defaults) so the probes decide as asked.
	 */
	if (!seen[TK_POL_USER_TIMEOUT]) {
		unsigned long ut = (unsigned long)pol->idle + (unsigned long)pol->intvl * pol->cnt;
		unsigned long max = tk_policy_fields[TK_POL_USER_TIMEOUT].max;

		/* 32767 + 32767 x 127 s overflows the kernel's int of ms: say
		 * so here, not as a silent setsockopt error on every socket */
		if (ut > max) {
			snprintf(err, errlen, "user-timeout idle+intvl*cnt = %lu s is over the "
				 "kernel's limit of %lu s: lower idle, intvl or cnt, or give "
				 "user-timeout=SEC", ut, max);
			return -1;
		}
		pol->user_timeout = ut;
	}
	return 0;
}

int tk_policy_parse(const char *spec, struct tk_policy_table *t, char *err, size_t errlen)
{
	struct tk_policy pol = tk_policy_default();
	char *copy, *colon;
	bool *ports;
	char bad[64];
	int ret = -1;

	if (!spec || !*spec) {
		snprintf(err, errlen, "empty keepalive spec (PORTS[:KEY=VALUE,...] or PORTS:off)");
		return -1;
	}
	copy = strdup(spec);
	ports = calloc(65536, sizeof(*ports));
	if (!copy || !ports) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	colon = strchr(copy, ':');
	if (colon) {
		*colon = '\0';
		if (parse_kvs(colon + 1, &pol, err, errlen))
			goto out;
	}
	if (tk_parse_ports(copy, ports, bad, sizeof(bad))) {
		snprintf(err, errlen, "bad port '%s' in '%s': ports are 1 to 65535", bad, spec);
		goto out;
	}
	for (size_t p = 1; p < 65536; p++) {
		if (!ports[p])
			continue;
		t->set[p] = true;
		t->pol[p] = pol;
	}
	ret = 0;
out:
	free(ports);
	free(copy);
	return ret;
}

int tk_policy_check_count(const struct tk_policy_table *t, char *err, size_t errlen)
{
	size_t n = tk_policy_count(t);

	if (n <= TK_MAX_POLICY)
		return 0;
	snprintf(err, errlen, "%zu ports with a keepalive policy: at most %d", n, TK_MAX_POLICY);
	return -1;
}

int tk_policy_merge(struct tk_policy_table *into, const struct tk_policy_table *set,
		    const bool *del, char *err, size_t errlen)
{
	for (unsigned int port = 1; port < 65536; port++) {
		if (set && set->set[port]) {
			into->set[port] = true;
			into->pol[port] = set->pol[port];
		}
		if (del && del[port]) {
			if (!into->set[port]) {
				snprintf(err, errlen, "port %u has no policy (see tcpkeep policy list)",
					 port);
				return -1;
			}
			into->set[port] = false;
		}
	}
	return tk_policy_check_count(into, err, errlen);
}
