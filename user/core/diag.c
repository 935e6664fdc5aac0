// SPDX-License-Identifier: GPL-2.0-only
/*
 * The replies of a sock_diag dump, checked strictly and attributed by the
 * rule the observer uses (attrib.h), so that a socket's current state and
 * its transitions land in the same row.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
#include "attrib.h"
#include "core/diag.h"

#define INDEX_LEN (2 * TK_PORTS)

int tk_diag_init(struct tk_diag *d, uint16_t eph_lo, uint16_t eph_hi, const bool *ports)
{
	memset(d, 0, sizeof(*d));
	d->eph_lo = eph_lo;
	d->eph_hi = eph_hi;
	d->ports = ports;
	d->index = calloc(INDEX_LEN, sizeof(*d->index));
	return d->index ? 0 : -ENOMEM;
}

void tk_diag_reset(struct tk_diag *d)
{
	for (size_t i = 0; i < d->nrows; i++)
		d->index[d->rows[i].port << 1 | d->rows[i].dir] = 0;
	d->nrows = 0;
	d->unattributed = 0;
	memset(d->listening, 0, sizeof(d->listening));
}

void tk_diag_free(struct tk_diag *d)
{
	free(d->index);
	free(d->rows);
	memset(d, 0, sizeof(*d));
}

static bool is_listening(const struct tk_diag *d, uint16_t port)
{
	return d->listening[port / 8] & (1u << (port % 8));
}

static struct tk_diag_row *row_of(struct tk_diag *d, struct tk_port_key key, int *err)
{
	uint16_t *slot = &d->index[key.port << 1 | key.dir];
	struct tk_diag_row *r;

	if (*slot)
		return &d->rows[*slot - 1];
	if (d->nrows == TK_DIAG_MAX_ROWS) {
		*err = -E2BIG;
		return NULL;
	}
	if (d->nrows == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct tk_diag_row *rows = realloc(d->rows, cap * sizeof(*rows));

		if (!rows) {
			*err = -ENOMEM;
			return NULL;
		}
		d->rows = rows;
		d->cap = cap;
	}
	r = &d->rows[d->nrows++];
	memset(r, 0, sizeof(*r));
	r->port = key.port;
	r->dir = key.dir;
	*slot = d->nrows;
	return r;
}

int tk_diag_add(struct tk_diag *d, uint16_t lport, uint16_t rport, unsigned int state)
{
	struct tk_diag_row *r;
	struct tk_port_key key;
	enum tk_origin origin;
	int err = 0;

	if (state == TK_NEW_SYN_RECV)
		state = TK_SYN_RECV;
	if (!state || state >= TK_NSTATES)
		return 0;
	if (state == TK_LISTEN)
		d->listening[lport / 8] |= 1u << (lport % 8);
	/*
	 * The dump shows no handshake: a connecting socket is still in
	 * SYN_SENT, and a socket on a port with a listener was accepted from
	 * it (a leftover of a closed listener is told by its ports).
	 */
	origin = tk_origin_of(state, state);
	if (origin == TK_ORIGIN_UNKNOWN && is_listening(d, lport))
		origin = TK_ORIGIN_ACCEPTED;
	key = tk_attrib(lport, rport, origin, d->eph_lo, d->eph_hi);
	if (!key.port) {
		d->unattributed++;
		return 0;
	}
	if (d->ports && !d->ports[key.port])
		return 0;
	r = row_of(d, key, &err);
	if (!r)
		return err;
	r->states[state]++;
	return 0;
}

int tk_diag_parse(struct tk_diag *d, const void *buf, size_t len,
		  const struct tk_diag_expect *x, bool *intr)
{
	const char *p = buf;
	size_t off = 0;

	while (off < len) {
		const struct nlmsghdr *h = (const void *)(p + off);
		struct inet_diag_msg m;
		struct nlmsgerr e;
		int err;

		if (len - off < sizeof(*h) || h->nlmsg_len < sizeof(*h) ||
		    h->nlmsg_len > len - off)
			return -EPROTO;	/* cut short */
		off += NLMSG_ALIGN(h->nlmsg_len);
		if (h->nlmsg_pid != x->pid || h->nlmsg_seq != x->seq)
			continue;	/* not the reply to this request */
		if (h->nlmsg_flags & NLM_F_DUMP_INTR)
			*intr = true;
		switch (h->nlmsg_type) {
		case NLMSG_NOOP:
			break;
		case NLMSG_DONE:
			/* the dump's last return value: 0, or why it stopped */
			if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(err))) {
				memcpy(&err, NLMSG_DATA(h), sizeof(err));
				if (err < 0)
					return err;
			}
			return 1;
		case NLMSG_ERROR:
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(e)))
				return -EPROTO;
			memcpy(&e, NLMSG_DATA(h), sizeof(e));
			/* an acknowledgement (0) ends no dump */
			return e.error < 0 ? e.error : -EPROTO;
		case SOCK_DIAG_BY_FAMILY:
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(m)))
				return -EPROTO;
			memcpy(&m, NLMSG_DATA(h), sizeof(m));
			if (m.idiag_family != x->family)
				return -EPROTO;
			err = tk_diag_add(d, ntohs(m.id.idiag_sport), ntohs(m.id.idiag_dport),
					  m.idiag_state);
			if (err)
				return err;
			break;
		default:
			return -EPROTO;
		}
	}
	return 0;
}

int tk_diag_merge(const struct tk_diag *d, struct tk_snapshot *s)
{
	for (size_t i = 0; i < d->nrows; i++) {
		const struct tk_diag_row *dr = &d->rows[i];
		struct tk_row *r = tk_snapshot_row(s, dr->port, dr->dir);

		if (!r)
			return -ENOMEM;
		for (int st = 0; st < TK_NSTATES; st++)
			r->states[st] += dr->states[st];
	}
	return 0;
}
