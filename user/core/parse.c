// SPDX-License-Identifier: GPL-2.0-only
/* Strict parsing: the whole token, in range, or an error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "core/parse.h"

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

/* Plain decimal: digits with at most one '.', at least one digit. strtod
 * alone would also take hex (0x10), exponents (1e3), inf and nan. */
static bool is_plain_decimal(const char *s)
{
	bool digit = false, dot = false;

	for (; *s; s++) {
		if (*s >= '0' && *s <= '9')
			digit = true;
		else if (*s == '.' && !dot)
			dot = true;
		else
			return false;
	}
	return digit;
}

int tk_parse_seconds(const char *s, double min, double max, double *out)
{
	double v;
	char *end;

	if (!s || !is_plain_decimal(s))
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

int tk_parse_listen(const char *s, struct sockaddr_storage *ss, unsigned int *len,
		    char *err, size_t errlen)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	const char *host = "", *port_s = s;
	char hostbuf[64];
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(hostbuf)) {
			snprintf(err, errlen, "bad listen address '%s': use [ADDR6]:PORT", s);
			return -1;
		}
		memcpy(hostbuf, s + 1, end - s - 1);
		hostbuf[end - s - 1] = '\0';
		host = hostbuf;
		port_s = end + 2;
	} else if (strchr(s, ':')) {
		const char *colon = strrchr(s, ':');

		if ((size_t)(colon - s) >= sizeof(hostbuf)) {
			snprintf(err, errlen, "bad listen address '%s'", s);
			return -1;
		}
		memcpy(hostbuf, s, colon - s);
		hostbuf[colon - s] = '\0';
		host = hostbuf;
		port_s = colon + 1;
	}
	if (tk_parse_ulong(port_s, 1, 65535, &port)) {
		snprintf(err, errlen, "bad listen port '%s' in '%s': 1 to 65535", port_s, s);
		return -1;
	}
	if (!*host)
		host = "127.0.0.1";	/* loopback unless an address is given */
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	snprintf(err, errlen, "bad listen address '%s': a numeric IPv4 or [IPv6] address", host);
	return -1;
}
