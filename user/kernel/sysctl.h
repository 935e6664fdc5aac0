/* SPDX-License-Identifier: GPL-2.0-only */
/* Sysctls of tcpkeep's own network namespace, read from /proc/sys. */
#ifndef TK_KERNEL_SYSCTL_H
#define TK_KERNEL_SYSCTL_H

/*
 * The n whole numbers of a sysctl ("net.ipv4.tcp_tw_reuse") into v: 0, or
 * a negative errno (-EPROTO: the file does not hold exactly n numbers).
 */
int tk_sysctl_read(const char *name, long *v, int n);

#endif
