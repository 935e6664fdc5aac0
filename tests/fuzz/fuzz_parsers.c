// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for everything tcpkeep parses from a command line:
 * keepalive specs, port lists, numbers, seconds and listen addresses.
 * Built with ASan and UBSan by `make fuzz`; tests/test_fuzz.py runs it
 * for a fixed number of inputs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "core/parse.h"
#include "core/policy.h"

static struct tk_policy_table table;
static bool ports[65536];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	unsigned long ul;
	unsigned int len;
	char *s, err[256];
	double d;

	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	memset(&table, 0, sizeof(table));
	if (tk_policy_parse(s, &table, err, sizeof(err)) == 0) {
		/* a spec that parses sets only values the kernel accepts */
		for (size_t p = 0; p < 65536; p++) {
			const struct tk_policy *pol = &table.pol[p];

			if (!table.set[p] || pol->off)
				continue;
			if (p == 0 || pol->idle < 1 || pol->idle > TK_MAX_IDLE ||
			    pol->intvl < 1 || pol->intvl > TK_MAX_INTVL ||
			    pol->cnt < 1 || pol->cnt > TK_MAX_CNT)
				abort();
		}
	} else if (!memchr(err, '\0', sizeof(err)) || !err[0]) {
		abort();	/* an error always comes with a message */
	}
	memset(ports, 0, sizeof(ports));
	if (tk_parse_ports(s, ports, err, sizeof(err)) == 0 && ports[0])
		abort();
	tk_parse_ulong(s, 1, 65535, &ul);
	tk_parse_seconds(s, 0.1, 3600, &d);
	tk_parse_listen(s, &ss, &len, err, sizeof(err));
	free(s);
	return 0;
}
