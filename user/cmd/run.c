// SPDX-License-Identifier: GPL-2.0-only
/* tcpkeep run: load, attach, show frames until stopped, detach. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include "cmd/cmd.h"
#include "kernel/audit.h"
#include "kernel/pin.h"
#include "serve/http.h"
#include "serve/live.h"
#include "serve/metrics.h"

/*
 * One enforcer per host. A second observer and enforcer beside the pinned
 * ones, or beside another run, would double the cost and fight over the
 * options. Under the pin lock (so that no pin is half-way): not pinned,
 * and no other run. The run lock is then held until exit.
 */
static int take_run_lock(void)
{
	int lock = tk_lock_for_change(), fd;
	long holder;

	if (lock < 0)
		return lock;
	if (tk_is_pinned()) {
		tk_error("tcpkeep is pinned at %s and already running: watch it with "
			 "tcpkeep top, or tcpkeep unpin first", TK_PIN_DIR);
		fd = -EBUSY;
	} else {
		fd = tk_run_lock(&holder);
		if (fd == -EWOULDBLOCK)
			tk_error("another tcpkeep run (pid %ld) is attached: watch it there, "
				 "or stop it first", holder);
	}
	tk_pin_unlock(lock);
	return fd;
}

int tk_cmd_run(struct tk_opts *o)
{
	bool enforce = tk_policy_count(o->policy) > 0;
	char cgroup[4096] = "";
	struct tk_loader l = { .no_lifetimes = o->no_lifetimes };
	struct tk_http *http = NULL;
	struct tk_source src;
	struct tk_metrics m = { 0 };
	struct tk_auditor au = { 0 };
	int ret, run_lock;

	if (enforce) {
		ret = tk_pick_cgroup(o, cgroup, sizeof(cgroup));
		if (ret)
			return ret;
	}
	run_lock = take_run_lock();
	if (run_lock < 0)
		return TK_EXIT_FAIL;
	ret = TK_EXIT_FAIL;
	if (tk_loader_load(&l, enforce ? o->policy : NULL))
		goto cleanup;
	if (tk_loader_attach(&l, cgroup))
		goto cleanup;
	tk_fix_existing(&l);
	tk_note("attached (observer %s, enforcer %s%s); Ctrl-C to stop",
		l.attach_mode, l.enf ? "on " : "off", l.enf ? l.cgroup : "");
	src = (struct tk_source){
		.fds = &l.fds, .attach_mode = l.attach_mode, .lifetimes_ok = l.lifetimes_ok,
		.dead_peers_ok = l.dead_peers_ok, .enforcer_ok = l.enf != NULL,
	};
	tk_audit_source(&src, o, &au);
	if (o->listen) {
		if (tk_metrics_init(&m, &src, o->export_ports, false)) {
			tk_error("%s", "out of memory");
			goto cleanup;
		}
		http = tk_http_start(o->listen_fd, tk_metrics_body, &m);
		o->listen_fd = -1;	/* the endpoint has it now */
		if (!http)
			goto cleanup;
	}
	ret = tk_live_view(&src, o, &tk_stop);
cleanup:
	tk_http_stop(http);
	tk_metrics_destroy(&m);
	tk_loader_destroy(&l);
	tk_auditor_close(&au);
	close(run_lock);	/* after the detach: a pin may come now */
	return ret;
}
