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
#include <sys/socket.h>
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
	d->sockets = d->unattributed = 0;
	memset(d->listening, 0, sizeof(d->listening));
	if (d->ndests)
		memset(d->dests, 0, d->dests_cap * sizeof(*d->dests));
	d->ndests = 0;
	d->dests_untracked = 0;
	d->nlisteners = 0;
	d->listeners_untracked = 0;
}

void tk_diag_free(struct tk_diag *d)
{
	free(d->index);
	free(d->rows);
	free(d->dests);
	free(d->listeners);
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

/* The slot of a destination in a table of cap (a power of two) slots. */
static size_t dest_slot(const struct tk_diag_dest *v, size_t cap, const struct tk_diag_dest *k)
{
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (size_t b = 0; b < 16; b++)
		h = (h ^ k->laddr[b] ^ (uint64_t)k->raddr[b] << 8) * 1099511628211ull;
	h = (h ^ k->rport ^ (uint64_t)k->family << 16) * 1099511628211ull;
	for (i = (size_t)(h ^ h >> 29) & (cap - 1); v[i].family; i = (i + 1) & (cap - 1))
		if (v[i].rport == k->rport && v[i].family == k->family &&
		    !memcmp(v[i].laddr, k->laddr, 16) && !memcmp(v[i].raddr, k->raddr, 16))
			break;
	return i;
}

/* Double the table (kept at most half full); 0 or -ENOMEM. */
static int dests_grow(struct tk_diag *d)
{
	size_t cap = d->dests_cap ? d->dests_cap * 2 : 1024;
	struct tk_diag_dest *v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < d->dests_cap; i++)
		if (d->dests[i].family)
			v[dest_slot(v, cap, &d->dests[i])] = d->dests[i];
	free(d->dests);
	d->dests = v;
	d->dests_cap = cap;
	return 0;
}

/* A socket holding an ephemeral local port towards its destination. */
static int dest_add(struct tk_diag *d, const struct tk_diag_sock *sk)
{
	struct tk_diag_dest k = { .rport = sk->rport, .family = sk->family }, *e;
	int err;

	memcpy(k.laddr, sk->laddr, 16);
	memcpy(k.raddr, sk->raddr, 16);
	if (2 * (d->ndests + 1) > d->dests_cap && d->ndests < TK_DIAG_MAX_DESTS) {
		err = dests_grow(d);
		if (err)
			return err;
	}
	e = &d->dests[dest_slot(d->dests, d->dests_cap, &k)];
	if (!e->family) {
		if (d->ndests == TK_DIAG_MAX_DESTS) {
			d->dests_untracked++;
			return 0;
		}
		*e = k;
		d->ndests++;
	}
	e->used++;
	if (sk->state == TK_TIME_WAIT)
		e->time_wait++;
	return 0;
}

static int listener_add(struct tk_diag *d, const struct tk_diag_sock *sk)
{
	struct tk_listener *l;

	if (d->ports && !d->ports[sk->lport])
		return 0;
	if (d->nlisteners == TK_DIAG_MAX_ROWS) {
		d->listeners_untracked++;
		return 0;
	}
	if (d->nlisteners == d->listeners_cap) {
		size_t cap = d->listeners_cap ? d->listeners_cap * 2 : 16;
		struct tk_listener *v = realloc(d->listeners, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->listeners = v;
		d->listeners_cap = cap;
	}
	l = &d->listeners[d->nlisteners++];
	memset(l, 0, sizeof(*l));
	l->family = sk->family;
	memcpy(l->addr, sk->laddr, 16);
	l->port = sk->lport;
	l->queue = sk->rqueue;
	l->limit = sk->wqueue;
	l->share = tk_queue_share(l->queue, l->limit);
	return 0;
}

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* An IPv4-mapped IPv6 address as the IPv4 address it is: one destination. */
static void unmap(struct tk_diag_sock *sk)
{
	if (sk->family != AF_INET6 || memcmp(sk->laddr, v4_mapped, 12) ||
	    memcmp(sk->raddr, v4_mapped, 12))
		return;
	sk->family = AF_INET;
	memmove(sk->laddr, sk->laddr + 12, 4);
	memset(sk->laddr + 4, 0, 12);
	memmove(sk->raddr, sk->raddr + 12, 4);
	memset(sk->raddr + 4, 0, 12);
}

/*
 * The row of a socket. The dump shows no handshake: a connecting socket is
 * still in SYN_SENT, and a socket on a port with a listener was accepted
 * from it (a leftover of a closed listener is told by its ports).
 */
static struct tk_port_key attrib(const struct tk_diag *d, unsigned int state,
				 uint16_t lport, uint16_t rport)
{
	enum tk_origin origin = tk_origin_of((int)state, (int)state);

	if (origin == TK_ORIGIN_UNKNOWN && is_listening(d, lport))
		origin = TK_ORIGIN_ACCEPTED;
	return tk_attrib(lport, rport, origin, d->eph_lo, d->eph_hi);
}

int tk_diag_add(struct tk_diag *d, const struct tk_diag_sock *in)
{
	struct tk_diag_sock one = *in, *sk = &one;
	unsigned int state = sk->state;
	struct tk_diag_row *r;
	struct tk_port_key key;
	int err = 0;

	if (state == TK_NEW_SYN_RECV)
		state = TK_SYN_RECV;
	if (!state || state >= TK_NSTATES)
		return 0;
	d->sockets++;
	unmap(sk);
	if (state == TK_LISTEN) {
		d->listening[sk->lport / 8] |= 1u << (sk->lport % 8);
		err = listener_add(d, sk);
		if (err)
			return err;
	} else if (sk->lport && tk_port_ephemeral(sk->lport, d->eph_lo, d->eph_hi) &&
		   !is_listening(d, sk->lport) && (!d->ports || d->ports[sk->rport])) {
		err = dest_add(d, sk);
		if (err)
			return err;
	}
	key = attrib(d, state, sk->lport, sk->rport);
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

int tk_diag_audit(struct tk_diag *d, struct tk_snapshot *s, uint32_t ns,
		  struct tk_audit_conn *c)
{
	struct tk_port_key key = attrib(d, c->state, c->lport, c->rport);
	struct tk_policy would;
	struct tk_diag_row *r;
	int err = 0;

	/* as its state: a socket the rule gives no row was counted there */
	if (!key.port || (d->ports && !d->ports[key.port]))
		return 0;
	r = row_of(d, key, &err);
	if (!r)
		return err;
	c->ns = ns;
	c->port = key.port;
	c->dir = key.dir;
	c->ka = (uint8_t)tk_audit_classify(c, tk_snapshot_policy(s, key.port));
	c->stuck = tk_audit_stuck(c, s->stuck_after_s);
	if (tk_snapshot_would(s, key.port, &would) == TK_WOULD_OFF)
		tk_audit_row_add(&r->au, c, NULL);
	else
		tk_audit_row_add(&r->au, c, &would);
	tk_snapshot_offer_conn(s, c);
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
		struct tk_diag_sock sk;
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
		case TCPDIAG_GETSOCK:
			/* a socket comes in a message of the request's type */
			if (h->nlmsg_type != x->type || h->nlmsg_len < NLMSG_LENGTH(sizeof(m)))
				return -EPROTO;
			memcpy(&m, NLMSG_DATA(h), sizeof(m));
			if (x->family == AF_UNSPEC ?
			    m.idiag_family != AF_INET && m.idiag_family != AF_INET6 :
			    m.idiag_family != x->family)
				return -EPROTO;
			sk.state = m.idiag_state;
			sk.lport = ntohs(m.id.idiag_sport);
			sk.rport = ntohs(m.id.idiag_dport);
			sk.family = m.idiag_family;
			memcpy(sk.laddr, m.id.idiag_src, sizeof(sk.laddr));
			memcpy(sk.raddr, m.id.idiag_dst, sizeof(sk.raddr));
			sk.rqueue = m.idiag_rqueue;
			sk.wqueue = m.idiag_wqueue;
			err = tk_diag_add(d, &sk);
			if (err)
				return err;
			break;
		default:
			return -EPROTO;
		}
	}
	return 0;
}

int tk_diag_merge(const struct tk_diag *d, struct tk_snapshot *s, uint32_t ns)
{
	uint32_t range = (uint32_t)d->eph_hi - d->eph_lo + 1;

	for (size_t i = 0; i < d->nrows; i++) {
		const struct tk_diag_row *dr = &d->rows[i];
		struct tk_row *r = tk_snapshot_row(s, dr->port, dr->dir);
		struct tk_ns_row *nr = NULL;

		if (!r)
			return -ENOMEM;
		if (s->want_ns_rows) {
			nr = tk_snapshot_add_ns_row(s, ns, dr->port, dr->dir);
			if (!nr)
				return -ENOMEM;
		}
		tk_audit_row_merge(&r->au, &dr->au);
		for (int st = 0; st < TK_NSTATES; st++) {
			r->states[st] += dr->states[st];
			if (nr)
				nr->states[st] = dr->states[st];
		}
	}
	for (size_t i = 0; i < d->dests_cap; i++) {
		const struct tk_diag_dest *e = &d->dests[i];
		struct tk_dest t = {
			.ns = ns, .family = e->family, .rport = e->rport, .used = e->used,
			.time_wait = e->time_wait, .range = range,
			.share = (double)e->used / range,
		};
		struct tk_row *r;

		if (!e->family)
			continue;
		memcpy(t.laddr, e->laddr, 16);
		memcpy(t.raddr, e->raddr, 16);
		/* the row of its remote port, where the rule made one (a remote
		 * port in the ephemeral range makes none: the top list has it) */
		r = (struct tk_row *)tk_snapshot_find(s, e->rport, TK_DIR_OUT);
		if (r)
			tk_row_offer_eph(r, t.share, t.used);
		tk_snapshot_offer_dest(s, &t);
	}
	s->dests_untracked += d->dests_untracked;
	for (size_t i = 0; i < d->nlisteners; i++) {
		struct tk_listener l = d->listeners[i];
		struct tk_row *r = tk_snapshot_row(s, l.port, TK_DIR_IN);

		if (!r)
			return -ENOMEM;
		l.ns = ns;
		tk_row_add_listeners(r, 1, l.queue, l.limit);
		tk_snapshot_offer_listener(s, &l);
	}
	s->listeners_untracked += d->listeners_untracked;
	return 0;
}
