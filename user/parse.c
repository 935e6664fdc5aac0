// SPDX-License-Identifier: GPL-2.0-only
/* Strict parsing: the whole token, in range, or an error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "parse.h"

int tk_parse_ulong(const char *s, unsigned long min, unsigned long max,
		   unsigned long *out)
{
	unsigned long v;
	char *end;

	/* strtoul accepts leading space and a minus sign: we do not */
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int tk_parse_seconds(const char *s, double min, double max, double *out)
{
	double v;
	char *end;

	if (!s || ((*s < '0' || *s > '9') && *s != '.'))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= min && v <= max))
		return -1;
	*out = v;
	return 0;
}

static int parse_range(const char *tok, bool *ports)
{
	char buf[32], *dash;
	unsigned long lo, hi;

	if (strlen(tok) >= sizeof(buf))
		return -1;
	strcpy(buf, tok);
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (tk_parse_ulong(buf, 1, 65535, &lo))
		return -1;
	hi = lo;
	if (dash && (tk_parse_ulong(dash + 1, 1, 65535, &hi) || hi < lo))
		return -1;
	for (unsigned long p = lo; p <= hi; p++)
		ports[p] = true;
	return 0;
}

int tk_parse_ports(const char *s, bool *ports, char *errbuf, size_t errlen)
{
	const char *p = s;

	if (!s || !*s) {
		snprintf(errbuf, errlen, "(empty)");
		return -1;
	}
	while (1) {
		size_t len = strcspn(p, ",");
		char tok[64];

		if (len == 0 || len >= sizeof(tok)) {
			snprintf(errbuf, errlen, "%.*s", (int)(len ? len : 7),
				 len ? p : "(empty)");
			return -1;
		}
		memcpy(tok, p, len);
		tok[len] = '\0';
		if (parse_range(tok, ports)) {
			snprintf(errbuf, errlen, "%s", tok);
			return -1;
		}
		if (!p[len])
			return 0;
		p += len + 1;
	}
}
