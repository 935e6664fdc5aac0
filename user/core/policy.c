// SPDX-License-Identifier: GPL-2.0-only
/* The keepalive policy grammar. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/parse.h"
#include "core/policy.h"

static const unsigned short mail_ports[] = { 143, 993, 110, 995 };

static struct tk_policy policy_default(void)
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
		t->pol[mail_ports[i]] = policy_default();
	}
}

size_t tk_policy_count(const struct tk_policy_table *t)
{
	size_t n = 0;

	for (size_t p = 0; p < 65536; p++)
		n += t->set[p];
	return n;
}

struct key_def {
	const char *name;
	unsigned long min, max;
};

static const struct key_def keys[] = {
	{ "idle", 1, TK_MAX_IDLE },
	{ "intvl", 1, TK_MAX_INTVL },
	{ "cnt", 1, TK_MAX_CNT },
	{ "user-timeout", 0, TK_MAX_USER_TIMEOUT },
};

/* Parse "k=v,k=v" into pol. */
static int parse_kvs(char *s, struct tk_policy *pol, char *err, size_t errlen)
{
	unsigned long vals[4];
	bool seen[4] = { false };
	char *save = NULL, *kv;

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
			snprintf(err, errlen, "'%s' is not KEY=VALUE (keys: idle, intvl, cnt, "
				 "user-timeout)", kv);
			return -1;
		}
		*eq = '\0';
		for (k = 0; k < 4; k++)
			if (!strcmp(kv, keys[k].name))
				break;
		if (k == 4) {
			snprintf(err, errlen, "unknown key '%s' (keys: idle, intvl, cnt, "
				 "user-timeout)", kv);
			return -1;
		}
		if (seen[k]) {
			snprintf(err, errlen, "key '%s' given twice", kv);
			return -1;
		}
		if (tk_parse_ulong(eq + 1, keys[k].min, keys[k].max, &vals[k])) {
			snprintf(err, errlen, "bad value '%s' for %s: a whole number from %lu to %lu",
				 eq + 1, kv, keys[k].min, keys[k].max);
			return -1;
		}
		seen[k] = true;
	}
	*pol = policy_default();
	if (seen[0])
		pol->idle = vals[0];
	if (seen[1])
		pol->intvl = vals[1];
	if (seen[2])
		pol->cnt = vals[2];
	/*
	 * With TCP_USER_TIMEOUT set the kernel aborts on it, not on the probe
	 * count: left out, it follows the keepalive settings (300 + 60 x 5 =
	 * 600 s for the defaults) so the probes decide as asked.
	 */
	if (seen[3]) {
		pol->user_timeout = vals[3];
	} else {
		unsigned long ut = (unsigned long)pol->idle + (unsigned long)pol->intvl * pol->cnt;

		/* 32767 + 32767 x 127 s overflows the kernel's int of ms: say
		 * so here, not as a silent setsockopt error on every socket */
		if (ut > TK_MAX_USER_TIMEOUT) {
			snprintf(err, errlen, "user-timeout idle+intvl*cnt = %lu s is over the "
				 "kernel's limit of %d s: lower idle, intvl or cnt, or give "
				 "user-timeout=SEC", ut, TK_MAX_USER_TIMEOUT);
			return -1;
		}
		pol->user_timeout = ut;
	}
	return 0;
}

int tk_policy_parse(const char *spec, struct tk_policy_table *t, char *err, size_t errlen)
{
	struct tk_policy pol = policy_default();
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
