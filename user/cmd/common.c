// SPDX-License-Identifier: GPL-2.0-only
/* What several commands share: the cgroup, the pins, existing connections. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cmd/cmd.h"
#include "kernel/audit.h"
#include "kernel/caps.h"
#include "kernel/pin.h"
#include "serve/http.h"
#include "serve/textfile.h"

volatile sig_atomic_t tk_stop;

/* Where sockops goes: --cgroup, checked, else the cgroup v2 root. */
int tk_pick_cgroup(const struct tk_opts *o, char *buf, size_t len)
{
	if (o->cgroup) {
		if (tk_check_cgroup(o->cgroup))
			return TK_EXIT_USAGE;
		snprintf(buf, len, "%s", o->cgroup);
		return 0;
	}
	if (tk_cgroup2_root(buf, len)) {
		return tk_error("no cgroup v2 file system is mounted: mount -t cgroup2 none "
				"/sys/fs/cgroup/unified, or use --no-defaults without -k to "
				"only observe");
	}
	return 0;
}

void tk_report_existing(int err, const struct tk_existing *x)
{
	char more[160] = "";

	if (err == -EOPNOTSUPP) {
		tk_note("this kernel lacks bpf_setsockopt from a socket iterator (needs Linux "
			"5.15): connections opened before now keep their options; new ones "
			"get the policy");
		return;
	}
	if (err == -ENOEXEC) {
		tk_note("connections opened before now keep their options");
		return;
	}
	if (err) {
		tk_error("could not update existing connections: %s", strerror(-err));
		return;
	}
	if (x->unvisited)
		snprintf(more, sizeof(more), "; %u more not entered: %s%s", x->unvisited,
			 strerror(-x->unvisited_err), x->unvisited_err == -EPERM ?
			 " (entering a namespace needs CAP_SYS_ADMIN)" : "");
	tk_note("keepalive policy set on %llu existing sockets (%llu failed) in %u network "
		"namespace%s%s", x->sockets, x->errors, x->netns, x->netns == 1 ? "" : "s",
		more);
}

void tk_fix_existing(struct tk_loader *l)
{
	struct tk_existing x;

	if (l->enf)
		tk_report_existing(tk_loader_fix_existing(l, &x), &x);
}

int tk_lock_for_change(void)
{
	if (tk_check_environment())
		return -1;
	return tk_pin_lock();
}

bool tk_is_pinned(void)
{
	char path[256];

	tk_link_pin_path(path, sizeof(path), TK_LINK_SET_STATE);
	return access(path, F_OK) == 0;
}

/* Open the pins, or say that nothing is pinned. */
int tk_open_pinned(struct tk_pinned *p)
{
	int err;

	if (tk_check_environment())
		return TK_EXIT_FAIL;
	err = tk_pinned_open(p);
	if (err) {
		return tk_error("cannot open %s: %s", TK_PIN_DIR, strerror(-err));
	}
	if (!p->present || p->fds.policy < 0) {
		tk_error("nothing is pinned at %s: start it with tcpkeep pin", TK_PIN_DIR);
		tk_pinned_close(p);
		return TK_EXIT_FAIL;
	}
	return 0;
}

void tk_audit_source(struct tk_source *src, const struct tk_opts *o, struct tk_auditor *au)
{
	memset(au, 0, sizeof(*au));
	src->netns_rows = o->netns;
	/*
	 * The audit walks every connection again, after the dump: at 100,000
	 * connections it costs about as much as the dump (make bench). The
	 * live view does it when asked (--audit); metrics and audit always.
	 */
	if (!o->audit && o->cmd != TK_CMD_METRICS && o->cmd != TK_CMD_AUDIT)
		return;
	tk_auditor_open(au);
	src->auditor = au;
	src->stuck_after_s = o->stuck_after;
	/* reading /proc for owners is for eyes: the view's section, audit */
	src->audit_pids = o->audit;
	src->owners = &au->owners;
}

struct tk_source tk_pinned_source(const struct tk_pinned *p)
{
	struct tk_source src = {
		.fds = &p->fds,
		.attach_mode = p->attach_mode,
		.lifetimes_ok = p->lifetimes,
		.dead_peers_ok = p->link_fds[TK_LINK_ERROR_REPORT] >= 0,
		.enforcer_ok = p->link_fds[TK_LINK_SOCKOPS] >= 0 && !p->sockops_defunct,
	};

	return src;
}

int tk_check_args(struct tk_opts *o)
{
	char err[512];

	if (o->cmd == TK_CMD_HELP || o->cmd == TK_CMD_VERSION)
		return 0;
	/* first: a command that cannot run changes nothing, binds nothing */
	if (tk_check_caps(o->cmd, o->cmd == TK_CMD_RUN ? tk_policy_count(o->policy) > 0 :
				  o->apply_existing))
		return TK_EXIT_FAIL;
	if (o->textfile && tk_textfile_check(o->textfile, err, sizeof(err)))
		return tk_usage_error("%s", err);
	if (o->listen) {
		o->listen_fd = tk_http_bind((struct sockaddr *)&o->listen_addr, o->listen_len,
					    err, sizeof(err));
		if (o->listen_fd < 0)
			return tk_usage_error("%s", err);
	}
	return 0;
}
