// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sysctls by their dotted names. /proc/sys/net shows the network
 * namespace of the thread that opens it: tcpkeep's own, or the one a
 * visiting thread entered (kernel/netns.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernel/sysctl.h"

int tk_sysctl_read(const char *name, long *v, int n)
{
	char path[128], buf[128], *p, *end;
	size_t len;
	FILE *f;
	int i;

	if (snprintf(path, sizeof(path), "/proc/sys/%s", name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (p = path + strlen("/proc/sys/"); *p; p++)
		if (*p == '.')
			*p = '/';
	f = fopen(path, "re");
	if (!f)
		return -errno;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	if (ferror(f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	if (len == sizeof(buf) - 1)
		return -EPROTO;	/* longer than any sysctl of numbers we read */
	buf[len] = '\0';
	/* "32768\t60999\n": numbers apart by blanks, nothing else */
	for (i = 0, p = buf; i < n; i++, p = end) {
		errno = 0;
		v[i] = strtol(p, &end, 10);
		if (end == p || errno || (*end && !strchr(" \t\n", *end)))
			return -EPROTO;
	}
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	return *p ? -EPROTO : 0;
}

void tk_ephemeral_range(uint16_t *lo, uint16_t *hi)
{
	long v[2];

	*lo = 32768;
	*hi = 60999;
	if (!tk_sysctl_read("net.ipv4.ip_local_port_range", v, 2) && v[0] > 0 &&
	    v[0] <= v[1] && v[1] <= 65535) {
		*lo = (uint16_t)v[0];
		*hi = (uint16_t)v[1];
	}
}
