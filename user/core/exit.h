/* SPDX-License-Identifier: GPL-2.0-only */
/* Exit codes, for scripts, and the one way errors are reported: a line. */
#ifndef TK_EXIT_H
#define TK_EXIT_H

enum {
	TK_EXIT_OK = 0,
	TK_EXIT_FAIL = 1,	/* a failure at run time */
	TK_EXIT_USAGE = 2,	/* bad usage: nothing was changed */
};

/* "tcpkeep: <message>" on stderr; returns TK_EXIT_FAIL. */
__attribute__((format(printf, 1, 2)))
int tk_error(const char *fmt, ...);
/* "tcpkeep: <message> (see tcpkeep --help)"; returns TK_EXIT_USAGE. */
__attribute__((format(printf, 1, 2)))
int tk_usage_error(const char *fmt, ...);
/* "tcpkeep: <message>" on stderr for what is not an error: what was done,
 * or given up on a kernel that lacks something. */
__attribute__((format(printf, 1, 2)))
void tk_note(const char *fmt, ...);

#endif
