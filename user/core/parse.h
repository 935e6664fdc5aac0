/* SPDX-License-Identifier: GPL-2.0-only */
/* Strict number and port-list parsing, shared by the CLI and the policy grammar. */
#ifndef TK_PARSE_H
#define TK_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* 0 on success; -1 if s is not a whole decimal number in [min, max]. */
int tk_parse_ulong(const char *s, unsigned long min, unsigned long max,
		   unsigned long *out);
/* Seconds with an optional fraction, in [min, max]. */
int tk_parse_seconds(const char *s, double min, double max, double *out);
/*
 * A port list: "993", "143,993", "10000-10010" or a mix. Sets ports[p]
 * for every port named (ports has 65536 entries). On error returns -1 with
 * the offending token copied into errbuf.
 */
int tk_parse_ports(const char *s, bool *ports, char *errbuf, size_t errlen);

struct sockaddr_storage;
/*
 * An HTTP listen address: "PORT" or ":PORT" (loopback, 127.0.0.1),
 * "ADDR:PORT" or "[ADDR6]:PORT" (that address, given explicitly). Numeric
 * addresses only. 0, or -1 with a reason in err.
 */
int tk_parse_listen(const char *s, struct sockaddr_storage *ss, unsigned int *len,
		    char *err, size_t errlen);

#endif
