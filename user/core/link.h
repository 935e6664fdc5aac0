/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The programs tcpkeep attaches, one link each, by role: the index of
 * every per-link array, and the one place their names are written.
 */
#ifndef TK_LINK_H
#define TK_LINK_H

#include <stdbool.h>

enum tk_link {
	TK_LINK_SET_STATE = 0,	/* the observer */
	TK_LINK_NESTED,		/* the observer's nested catcher, same tracepoint */
	TK_LINK_ERROR_REPORT,	/* dead peers; absent without the tracepoint */
	TK_LINK_SOCKOPS,	/* the enforcer, on a cgroup */
	TK_NLINKS,
};

struct tk_link_role {
	/* "set_state", ...: the pin is link_<name>, the program label in
	 * the metrics and the key in status --json are <name> */
	const char *name;
	/* the program's recursion misses are missed events; not the nested
	 * program's: what it misses, the main one counted */
	bool misses;
};

extern const struct tk_link_role tk_links[TK_NLINKS];

#endif
