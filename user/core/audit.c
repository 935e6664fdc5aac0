// SPDX-License-Identifier: GPL-2.0-only
/*
 * The audit: the iterator's records of established connections, converted
 * and classified, counted per row. Plain C, tested without a kernel.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/socket.h>
#include "core/audit.h"

const uint32_t tk_idle_buckets[TK_IDLE_NBUCKETS] = { 60, 600, 3600, 21600, 86400 };
const uint32_t tk_idle_over_s[TK_IDLE_NOVER] = { 600, 3600, 86400 };
const char *const tk_idle_over_names[TK_IDLE_NOVER] = { "over_10m", "over_1h", "over_1d" };

const char *tk_ka_state_name(unsigned int st)
{
	static const char *const names[TK_KA_NSTATES] = {
		"off", "kernel_default", "policy", "other",
	};

	return st < TK_KA_NSTATES ? names[st] : "?";
}

unsigned int tk_audit_hz(uint32_t jiffies, uint32_t seconds)
{
	/* every CONFIG_HZ a Linux architecture offers */
	static const unsigned int known[] = {
		24, 32, 48, 64, 100, 128, 200, 250, 256, 300, 500, 1000, 1024, 1200,
	};

	if (!seconds || jiffies % seconds)
		return 0;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (jiffies / seconds == known[i])
			return known[i];
	return 0;
}

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* jiffies to whole seconds, as the kernel's getsockopt rounds them */
static uint32_t secs(uint32_t j, unsigned int hz)
{
	return j / hz;
}

int tk_audit_conn_of(const struct tk_audit_rec *r, unsigned int hz, struct tk_audit_conn *c)
{
	if (!hz || (r->state != TK_ESTABLISHED && r->state != TK_CLOSE_WAIT) ||
	    (r->family != AF_INET && r->family != AF_INET6))
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	c->family = r->family;
	c->state = r->state;
	c->keepalive = r->keepalive;
	memcpy(c->laddr, r->laddr, 16);
	memcpy(c->raddr, r->raddr, 16);
	if (c->family == AF_INET6 && !memcmp(c->laddr, v4_mapped, 12) &&
	    !memcmp(c->raddr, v4_mapped, 12)) {
		c->family = AF_INET;
		memmove(c->laddr, c->laddr + 12, 4);
		memset(c->laddr + 4, 0, 12);
		memmove(c->raddr, c->raddr + 12, 4);
		memset(c->raddr + 4, 0, 12);
	}
	c->lport = r->lport;
	c->rport = r->rport;
	c->idle_s = (double)r->idle / hz;
	c->ack_age_s = (double)r->ack_age / hz;
	c->retrans_age_s = r->retrans_age / 1000.0;
	c->def_idle = secs(r->def_time, hz);
	c->def_intvl = secs(r->def_intvl, hz);
	c->def_cnt = r->def_cnt;
	/* a socket's own option, 0 when never set: the namespace's then */
	c->ka_idle = r->ka_time ? secs(r->ka_time, hz) : c->def_idle;
	c->ka_intvl = r->ka_intvl ? secs(r->ka_intvl, hz) : c->def_intvl;
	c->ka_cnt = r->ka_cnt ? r->ka_cnt : c->def_cnt;
	c->user_timeout_ms = r->user_timeout;
	c->retransmits = r->retransmits;
	c->backoff = r->backoff;
	c->unacked = r->packets_out;
	c->ino = r->ino;
	return 0;
}

enum tk_ka_state tk_audit_classify(const struct tk_audit_conn *c, const struct tk_policy *pol)
{
	if (!c->keepalive)
		return TK_KA_OFF;
	/* the enforcer sets all three, and the user timeout where the
	 * policy has one (0: leaves the socket's) */
	if (pol && !pol->off && c->ka_idle == pol->idle && c->ka_intvl == pol->intvl &&
	    c->ka_cnt == pol->cnt &&
	    (!pol->user_timeout || c->user_timeout_ms == pol->user_timeout * 1000ull))
		return TK_KA_POLICY;
	if (c->ka_idle == c->def_idle && c->ka_intvl == c->def_intvl && c->ka_cnt == c->def_cnt)
		return TK_KA_DEFAULT;
	return TK_KA_OTHER;
}

double tk_audit_reap_s(uint32_t idle, uint32_t intvl, uint32_t cnt, uint32_t user_timeout)
{
	double k;

	/*
	 * The keepalive timer fires after idle, then every intvl. Without a
	 * user timeout it aborts at the tick that finds cnt probes
	 * unanswered; with one, at the first tick after a probe went out
	 * that finds the peer silent for user_timeout (tcp_keepalive_timer).
	 */
	if (!user_timeout)
		return idle + (double)cnt * intvl;
	k = intvl ? ceil(((double)user_timeout - idle) / intvl) : 1;
	if (k < 1)
		k = 1;
	return idle + k * intvl;
}

bool tk_audit_stuck(const struct tk_audit_conn *c, double after)
{
	return c->unacked && (c->retransmits || c->backoff) && c->ack_age_s >= after;
}

double tk_audit_conn_reap_s(const struct tk_audit_conn *c)
{
	if (!c->keepalive)
		return -1;
	/* the kernel keeps the user timeout in ms; a probe tick is whole seconds */
	return tk_audit_reap_s(c->ka_idle, c->ka_intvl, c->ka_cnt,
			       (c->user_timeout_ms + 999) / 1000);
}

static unsigned int idle_slot(double idle_s)
{
	unsigned int slot = 0;
	uint64_t v = (uint64_t)idle_s;

	while (v >= 2 && slot < TK_IDLE_LOG_SLOTS) {
		v >>= 1;
		slot++;
	}
	return slot;
}

void tk_audit_row_add(struct tk_audit_row *a, const struct tk_audit_conn *c,
		      const struct tk_policy *would)
{
	double reap;

	if (c->stuck) {
		a->stuck++;
		if (c->retrans_age_s > a->stuck_oldest_s)
			a->stuck_oldest_s = c->retrans_age_s;
	}
	/* keepalive and idle time are of established connections only: a
	 * CLOSE_WAIT one is here for being stuck */
	if (c->state != TK_ESTABLISHED)
		return;
	a->established++;
	a->ka[c->ka < TK_KA_NSTATES ? c->ka : TK_KA_OTHER]++;
	a->idle_slots[idle_slot(c->idle_s)]++;
	for (int i = 0; i < TK_IDLE_NBUCKETS; i++)
		a->idle_le[i] += c->idle_s <= tk_idle_buckets[i];
	for (int i = 0; i < TK_IDLE_NOVER; i++)
		a->idle_over[i] += c->idle_s > tk_idle_over_s[i];
	a->idle_sum_s += c->idle_s;
	reap = tk_audit_conn_reap_s(c);
	if (reap < 0)
		a->never_reaped++;
	else if (reap > a->reap_max_s)
		a->reap_max_s = reap;
	if (would && c->idle_s >= would->idle)
		a->probe_now++;
}

void tk_audit_row_merge(struct tk_audit_row *a, const struct tk_audit_row *b)
{
	a->established += b->established;
	for (int i = 0; i < TK_KA_NSTATES; i++)
		a->ka[i] += b->ka[i];
	for (int i = 0; i < TK_IDLE_SLOTS; i++)
		a->idle_slots[i] += b->idle_slots[i];
	for (int i = 0; i < TK_IDLE_NBUCKETS; i++)
		a->idle_le[i] += b->idle_le[i];
	for (int i = 0; i < TK_IDLE_NOVER; i++)
		a->idle_over[i] += b->idle_over[i];
	a->idle_sum_s += b->idle_sum_s;
	a->stuck += b->stuck;
	if (b->stuck_oldest_s > a->stuck_oldest_s)
		a->stuck_oldest_s = b->stuck_oldest_s;
	a->never_reaped += b->never_reaped;
	if (b->reap_max_s > a->reap_max_s)
		a->reap_max_s = b->reap_max_s;
	a->probe_now += b->probe_now;
}
