/* SPDX-License-Identifier: GPL-2.0-only */
/* Every network namespace of the host, each visited once, from inside. */
#ifndef TK_NETNS_H
#define TK_NETNS_H

#include <stddef.h>
#include <stdint.h>
#include "core/snapshot.h"

/* The namespaces found, tcpkeep's own first. */
struct tk_netns_list {
	struct tk_netns *v;
	size_t n;
	uint64_t unreadable;	/* processes whose namespace could not be read */
	uint64_t over;		/* namespaces past TK_NETNS_MAX, not visited */
};

/*
 * Called from inside one namespace, in a thread that entered it: sockets
 * it opens are that namespace's, and so are /proc/sys/net's values. index
 * is ns's place in the list. 0, or a negative errno kept in ns->err.
 */
typedef int (*tk_netns_fn)(struct tk_netns *ns, uint32_t index, void *arg);

/*
 * Find every network namespace: those of the processes in /proc and those
 * bind-mounted (ip netns' /run/netns, container runtimes'), each once by
 * its inode. Then call fn inside each, tcpkeep's own first, from a thread
 * of its own that exits afterwards, so that no thread of the caller ever
 * runs in another namespace. A namespace that cannot be entered (no
 * CAP_SYS_ADMIN: -EPERM) keeps the error in its err and fn is not called;
 * one that vanished in between is left out. 0, or a negative errno when
 * even tcpkeep's own could not be visited. Free the list with
 * tk_netns_list_free.
 */
int tk_netns_each(struct tk_netns_list *list, tk_netns_fn fn, void *arg);
void tk_netns_list_free(struct tk_netns_list *list);

#endif
