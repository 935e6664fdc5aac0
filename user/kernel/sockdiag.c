// SPDX-License-Identifier: GPL-2.0-only
/*
 * Current socket states from a sock_diag dump, as ss(8) gets them. The
 * tracepoint cannot give these: full sockets never report TIME_WAIT (a
 * separate mini-socket holds it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
#include "kernel/sockdiag.h"

#define DUMP_BUF		32768

struct sock_entry {
	uint16_t lport, rport;
	uint8_t state;
};

struct sock_list {
	struct sock_entry *v;
	size_t n, cap;
};

static int list_add(struct sock_list *l, uint16_t lport, uint16_t rport, uint8_t state)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		struct sock_entry *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct sock_entry){ lport, rport, state };
	return 0;
}

static int dump_family(int fd, int family, struct sock_list *l, char *buf, size_t buflen)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = {
			.nlmsg_len = sizeof(msg),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		},
		.req = {
			.sdiag_family = family,
			.sdiag_protocol = IPPROTO_TCP,
			.idiag_states = ~0U,	/* TIME_WAIT and request sockets too */
		},
	};
	if (send(fd, &msg, sizeof(msg), 0) < 0)
		return -errno;
	for (;;) {
		ssize_t len = recv(fd, buf, buflen, 0);
		struct nlmsghdr *h;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			struct inet_diag_msg *d = NLMSG_DATA(h);
			int err;

			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				return e->error ? e->error : -EIO;
			}
			err = list_add(l, ntohs(d->id.idiag_sport), ntohs(d->id.idiag_dport),
				       d->idiag_state);
			if (err)
				return err;
		}
	}
}

static bool is_eph(uint16_t p, uint16_t lo, uint16_t hi)
{
	return p >= lo && p <= hi;
}

int tk_sockdiag_states(struct tk_snapshot *s, uint16_t eph_lo, uint16_t eph_hi)
{
	struct sock_list l = {};
	bool *listening = NULL;
	char *buf;
	int fd, err;

	/* callers may run in several threads (the HTTP endpoint): no statics */
	buf = malloc(DUMP_BUF);
	if (!buf)
		return -ENOMEM;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	err = dump_family(fd, AF_INET, &l, buf, DUMP_BUF);
	if (!err)
		err = dump_family(fd, AF_INET6, &l, buf, DUMP_BUF);
	close(fd);
	free(buf);
	listening = calloc(TK_PORTS, sizeof(*listening));
	if (!err && !listening)
		err = -ENOMEM;
	if (err)
		goto out;

	for (size_t i = 0; i < l.n; i++)
		if (l.v[i].state == TK_LISTEN)
			listening[l.v[i].lport] = true;
	/*
	 * Attribution: a listener and any socket on a listening local port is
	 * "in" under that port; a socket from an ephemeral local port is "out"
	 * under the remote port; what is left (a service port whose listener
	 * has gone, e.g. TIME_WAIT after a restart) is "in" under the local port.
	 */
	for (size_t i = 0; i < l.n; i++) {
		struct sock_entry *e = &l.v[i];
		uint8_t state = e->state == TK_NEW_SYN_RECV ? TK_SYN_RECV : e->state;
		struct tk_row *r;

		if (listening[e->lport] || !is_eph(e->lport, eph_lo, eph_hi))
			r = tk_snapshot_row(s, e->lport, TK_DIR_IN);
		else
			r = tk_snapshot_row(s, e->rport, TK_DIR_OUT);
		if (!r) {
			err = -ENOMEM;
			goto out;
		}
		if (state < TK_NSTATES)
			r->states[state]++;
	}
	s->states_ok = true;
out:
	free(listening);
	free(l.v);
	return err;
}
