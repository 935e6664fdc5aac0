// SPDX-License-Identifier: GPL-2.0-only
/* A snapshot of a source: its maps, then every socket's state. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "kernel/procs.h"
#include "kernel/sockdiag.h"
#include "core/exit.h"
#include "kernel/source.h"

double tk_mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int tk_take_snapshot(const struct tk_source *src, const bool *ports,
		     const struct tk_snapshot *prev, struct tk_snapshot *s)
{
	int err;

	tk_snapshot_init(s);
	s->mono_s = tk_mono_now();
	s->wall_s = time(NULL);
	s->attach_mode = src->attach_mode;
	s->lifetimes_ok = src->lifetimes_ok;
	s->dead_peers_ok = src->dead_peers_ok;
	s->enforcer_ok = src->enforcer_ok;
	err = tk_read_maps(src->fds, s);
	if (err) {
		tk_error("cannot read the maps: %s", strerror(-err));
		tk_snapshot_free(s);
		return err;
	}
	/* a failed dump leaves states_ok false: the view says so */
	s->want_ns_rows = src->netns_rows;
	s->stuck_after_s = src->stuck_after_s > 0 ? src->stuck_after_s : TK_STUCK_AFTER_S;
	s->would = src->would;
	tk_sockdiag_states(s, ports, src->auditor);
	if (src->audit_pids && s->audit_ok) {
		/* both lists in one search of /proc: they often share connections */
		struct tk_audit_conn *v[2 * TK_AUDIT_TOP];
		size_t n = 0;

		for (size_t i = 0; i < s->noldest; i++)
			v[n++] = &s->oldest[i];
		for (size_t i = 0; i < s->nstuck; i++)
			v[n++] = &s->stuck[i];
		tk_procs_owners(v, n, src->owners);
		s->audit_pids = true;
	}
	tk_snapshot_filter(s, ports);
	err = tk_snapshot_sort(s, prev);
	if (err) {
		fprintf(stderr, "tcpkeep: cannot sort the rows: %s\n", strerror(-err));
		tk_snapshot_free(s);
		return err;
	}
	return 0;
}
