/* SPDX-License-Identifier: GPL-2.0-only */
/* Sysctls of the calling thread's network namespace, read from /proc/sys. */
#ifndef TK_KERNEL_SYSCTL_H
#define TK_KERNEL_SYSCTL_H

#include <stdint.h>

/*
 * The n whole numbers of a sysctl ("net.ipv4.tcp_tw_reuse") into v: 0, or
 * a negative errno (-EPROTO: the file does not hold exactly n numbers).
 */
int tk_sysctl_read(const char *name, long *v, int n);
/* net.ipv4.ip_local_port_range; Linux's default 32768-60999 if unreadable. */
void tk_ephemeral_range(uint16_t *lo, uint16_t *hi);

#endif
