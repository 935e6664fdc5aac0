/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The attribution rule, defined once: the service port and direction a
 * socket is counted under. The observer (BPF) and the socket dump (user
 * space) both decide with tk_attrib(); only what they know differs.
 */
#ifndef TK_ATTRIB_H
#define TK_ATTRIB_H

#ifndef __VMLINUX_H__
#include <stdbool.h>
#endif
#include "tcpkeep.h"

/* What is known of how a socket came to be. */
enum tk_origin {
	TK_ORIGIN_UNKNOWN = 0,	/* nothing: its ports tell */
	TK_ORIGIN_ACCEPTED,	/* a listener, or accepted from one */
	TK_ORIGIN_CONNECTED,	/* connect() from this host */
};

/*
 * The origin a state transition shows: a connect passes through SYN_SENT;
 * an accepted socket is cloned from its listener (LISTEN -> SYN_RECV) and
 * completes its handshake from SYN_RECV. (A simultaneous open, SYN_SENT ->
 * SYN_RECV, is a connect that then looks accepted: rare enough.) For a
 * socket in one state, pass it as both.
 */
static inline __attribute__((always_inline))
enum tk_origin tk_origin_of(int old, int new)
{
	if (old == TK_SYN_SENT || new == TK_SYN_SENT)
		return TK_ORIGIN_CONNECTED;
	if (old == TK_LISTEN || new == TK_LISTEN ||
	    old == TK_SYN_RECV || new == TK_SYN_RECV)
		return TK_ORIGIN_ACCEPTED;
	return TK_ORIGIN_UNKNOWN;
}

static inline __attribute__((always_inline))
bool tk_port_ephemeral(__u16 port, __u16 eph_lo, __u16 eph_hi)
{
	return port >= eph_lo && port <= eph_hi;
}

/*
 * The row of a socket with local port lport and remote port rport (host
 * order; 0 when not known yet), given its origin and the local ephemeral
 * range [eph_lo, eph_hi]. A known origin decides: accepted is "in" under
 * the local port, connected is "out" under the remote one (a connecting
 * socket's local port may still be 0). Otherwise the port outside the
 * ephemeral range is the service: the local one first, as a server's
 * clients may come from ports above Linux's range (other systems use
 * 49152-65535). Both ephemeral: no row.
 *
 * Returns the row's key; port 0 means none (unattributed).
 */
static inline __attribute__((always_inline))
struct tk_port_key tk_attrib(__u16 lport, __u16 rport, enum tk_origin origin,
			     __u16 eph_lo, __u16 eph_hi)
{
	struct tk_port_key key = {};

	if (origin == TK_ORIGIN_CONNECTED) {
		key.port = rport;
		key.dir = TK_DIR_OUT;
	} else if (origin == TK_ORIGIN_ACCEPTED ||
		   (lport && !tk_port_ephemeral(lport, eph_lo, eph_hi))) {
		key.port = lport;
		key.dir = TK_DIR_IN;
	} else if (rport && !tk_port_ephemeral(rport, eph_lo, eph_hi)) {
		key.port = rport;
		key.dir = TK_DIR_OUT;
	}
	return key;
}

#endif /* TK_ATTRIB_H */
