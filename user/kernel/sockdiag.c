// SPDX-License-Identifier: GPL-2.0-only
/*
 * Current socket states from a sock_diag dump, as ss(8) gets them. The
 * tracepoint cannot give these: full sockets never report TIME_WAIT (a
 * separate mini-socket holds it). Parsing and attribution are core/diag.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
#include "core/diag.h"
#include "kernel/audit.h"
#include "kernel/netns.h"
#include "kernel/sockdiag.h"
#include "kernel/sysctl.h"

/* netlink sends a dump in datagrams of at most 32 KiB */
#define DUMP_BUF	32768
/* dumps interrupted by a change before giving up */
#define DUMP_TRIES	3
/* a reply that does not come; the kernel answers a dump at once */
#define DUMP_TIMEOUT_S	5

struct dumper {
	int fd;
	uint32_t pid;		/* our port id: the kernel's replies carry it */
	uint32_t seq;		/* of the last request */
	char *buf;
};

static int dump_open(struct dumper *dp)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = DUMP_TIMEOUT_S };
	socklen_t len = sizeof(sa);

	dp->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (dp->fd < 0)
		return -errno;
	/* nl_pid 0: the kernel picks our port id; read it back to check replies */
	if (bind(dp->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(dp->fd, (struct sockaddr *)&sa, &len) ||
	    setsockopt(dp->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		return -errno;
	if (len != sizeof(sa) || sa.nl_family != AF_NETLINK)
		return -EPROTO;
	dp->pid = sa.nl_pid;
	return 0;
}

/*
 * One dump of the TCP sockets in the given states into d: with
 * SOCK_DIAG_BY_FAMILY those of family, with TCPDIAG_GETSOCK those of both
 * families (the kernel ignores the family of that older request).
 */
static int dump(struct dumper *dp, struct tk_diag *d, uint16_t type, uint8_t family,
		uint32_t states, bool *intr)
{
	struct {
		struct nlmsghdr nlh;
		union {
			struct inet_diag_req_v2 v2;
			struct inet_diag_req v1;
		};
	} msg = {
		.nlh = {
			.nlmsg_type = type,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = ++dp->seq,
		},
	};
	struct tk_diag_expect x = {
		.pid = dp->pid, .seq = dp->seq, .type = type,
		.family = type == TCPDIAG_GETSOCK ? AF_UNSPEC : family,
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	if (type == TCPDIAG_GETSOCK) {
		msg.nlh.nlmsg_len = NLMSG_LENGTH(sizeof(msg.v1));
		msg.v1.idiag_family = AF_INET;
		msg.v1.idiag_states = states;
	} else {
		msg.nlh.nlmsg_len = NLMSG_LENGTH(sizeof(msg.v2));
		msg.v2.sdiag_family = family;
		msg.v2.sdiag_protocol = IPPROTO_TCP;
		msg.v2.idiag_states = states;
	}
	if (sendto(dp->fd, &msg, msg.nlh.nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		struct sockaddr_nl from;
		struct iovec iov = { .iov_base = dp->buf, .iov_len = DUMP_BUF };
		struct msghdr mh = {
			.msg_name = &from, .msg_namelen = sizeof(from),
			.msg_iov = &iov, .msg_iovlen = 1,
		};
		ssize_t n = recvmsg(dp->fd, &mh, 0);
		int err;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		}
		if (mh.msg_flags & MSG_TRUNC)
			return -EMSGSIZE;
		if (mh.msg_namelen != sizeof(from) || from.nl_pid != 0)
			continue;	/* not from the kernel */
		err = tk_diag_parse(d, dp->buf, (size_t)n, &x, intr);
		if (err)
			return err < 0 ? err : 0;
	}
}

/*
 * The whole dump: listeners first, so that every socket accepted from one
 * is known as such, then the rest.
 *
 * Both families in one TCPDIAG_GETSOCK dump each, not one
 * SOCK_DIAG_BY_FAMILY dump per family: every dump of the rest walks the
 * kernel's whole table of connections, which all namespaces share (unless
 * net.ipv4.tcp_child_ehash_entries gave theirs one of its own), and that
 * walk is most of a frame. With 200,000 sockets in one namespace (make
 * bench, Linux 6.18) it took about 35 ms in a namespace that has none of
 * them. Listeners are in a table of their own, a cheap walk.
 */
static int dump_all(struct dumper *dp, struct tk_diag *d, bool *intr)
{
	const uint32_t listen = 1u << TK_LISTEN;
	const uint8_t families[] = { AF_INET, AF_INET6 };
	const uint32_t states[] = { listen, ~listen };
	int err = dump(dp, d, TCPDIAG_GETSOCK, AF_UNSPEC, listen, intr);

	if (!err)
		return dump(dp, d, TCPDIAG_GETSOCK, AF_UNSPEC, ~listen, intr);
	/* a kernel that no longer takes the older request: family by family */
	if (err != -EINVAL && err != -EOPNOTSUPP)
		return err;
	for (size_t s = 0; s < 2; s++) {
		for (size_t f = 0; f < 2; f++) {
			err = dump(dp, d, SOCK_DIAG_BY_FAMILY, families[f], states[s], intr);

			/* a kernel built without IPv6 has no handler for it */
			if (err == -ENOENT && families[f] == AF_INET6)
				err = 0;
			if (err)
				return err;
		}
	}
	return 0;
}

struct states_arg {
	struct tk_snapshot *s;
	struct tk_diag *d;
	char *buf;
	const struct tk_auditor *au;
	uint32_t ns;		/* the namespace being visited */
	unsigned int hz;	/* the kernel's, from a keepalive sysctl; 0: not yet */
	long ka_time_s;		/* net.ipv4.tcp_keepalive_time, seconds */
	long ka_intvl_s;	/* net.ipv4.tcp_keepalive_intvl, seconds */
};

static int audit_one(const struct tk_audit_rec *r, void *p)
{
	struct states_arg *a = p;
	struct tk_audit_conn c;

	/*
	 * HZ is the kernel's, the same in every namespace: learnt once, from
	 * the first namespace whose sysctls give it. A namespace may set
	 * tcp_keepalive_time to 0 (no HZ in 0 jiffies): its interval then.
	 */
	if (!a->hz)
		a->hz = tk_audit_hz(r->def_time, (uint32_t)a->ka_time_s);
	if (!a->hz)
		a->hz = tk_audit_hz(r->def_intvl, (uint32_t)a->ka_intvl_s);
	if (!a->hz)
		return -EPROTO;
	/* not ours to judge: a socket the iterator should not have sent */
	if (tk_audit_conn_of(r, a->hz, &c))
		return 0;
	return tk_diag_audit(a->d, a->s, a->ns, &c);
}

/*
 * The audit of one namespace, after its dump (the attribution needs its
 * listeners): into d's rows and s's lists.
 */
static int audit_in(struct states_arg *a, uint32_t index)
{
	int err = 0;

	/* this namespace's, to learn HZ from its records; once known, no more */
	if (!a->hz)
		err = tk_sysctl_read("net.ipv4.tcp_keepalive_time", &a->ka_time_s, 1);
	if (!a->hz && !err)
		err = tk_sysctl_read("net.ipv4.tcp_keepalive_intvl", &a->ka_intvl_s, 1);
	if (err)
		return err;
	a->ns = index;
	return tk_auditor_read(a->au, audit_one, a);
}

/* The dump of one namespace, from inside it, into the snapshot. */
static int states_in(struct tk_netns *ns, uint32_t index, void *p)
{
	struct states_arg *a = p;
	struct dumper dp = { .fd = -1, .buf = a->buf };
	struct tk_diag *d = a->d;
	int err;

	/* this namespace's, read from inside it */
	tk_ephemeral_range(&ns->eph_lo, &ns->eph_hi);
	d->eph_lo = ns->eph_lo;
	d->eph_hi = ns->eph_hi;
	err = dump_open(&dp);
	/* an interrupted dump may count a socket twice or miss it: redo it */
	for (int try = 0; !err && try < DUMP_TRIES; try++) {
		bool intr = false;

		tk_diag_reset(d);
		err = dump_all(&dp, d, &intr);
		if (!err && !intr)
			break;
		if (!err && try == DUMP_TRIES - 1)
			err = -EAGAIN;
	}
	if (!err && a->au) {
		/* the audit fails alone: the states stand */
		ns->audit_err = audit_in(a, index);
		if (ns->audit_err == -ENOMEM || ns->audit_err == -E2BIG)
			err = ns->audit_err;
		/* a namespace's audit counts whole or not at all */
		for (size_t i = 0; ns->audit_err && i < d->nrows; i++)
			memset(&d->rows[i].au, 0, sizeof(d->rows[i].au));
	}
	if (!err) {
		ns->sockets = d->sockets;
		err = tk_diag_merge(d, a->s, index);
	}
	if (dp.fd >= 0)
		close(dp.fd);
	return err;
}

int tk_sockdiag_states(struct tk_snapshot *s, const bool *ports,
		       const struct tk_auditor *au)
{
	struct tk_netns_list list;
	struct tk_diag *d = malloc(sizeof(*d));
	struct states_arg a = { .s = s, .d = d, .au = au };
	int err;

	if (!d)
		return -ENOMEM;
	err = tk_diag_init(d, 0, 0, ports);
	a.buf = malloc(DUMP_BUF);
	if (!err && !a.buf)
		err = -ENOMEM;
	if (!err) {
		err = tk_netns_each(&list, states_in, &a);
		/* the list goes into the snapshot, whatever each visit found */
		s->netns = list.v;
		s->nnetns = list.n;
		s->netns_unreadable = list.unreadable;
		s->netns_over = list.over;
		if (au && list.n && list.v[0].self) {
			s->audit_err = list.v[0].err ? list.v[0].err : list.v[0].audit_err;
			s->audit_ok = !s->audit_err;
		}
		if (list.n && list.v[0].self) {
			uint32_t lo = list.v[0].eph_lo, hi = list.v[0].eph_hi;

			s->eph_range = hi >= lo && lo ? hi - lo + 1 : 0;
		}
	}
	if (!err)
		s->states_ok = true;
	free(a.buf);
	tk_diag_free(d);
	free(d);
	return err;
}
