// SPDX-License-Identifier: GPL-2.0-only
/* tcpkeep pin and unpin: attachments that outlive the command. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "cmd/cmd.h"
#include "kernel/pin.h"

/* pin, under the pin lock: refused while a run is attached. */
static bool run_attached(void)
{
	long holder = tk_run_holder();

	if (holder)
		tk_error("tcpkeep run (pid %ld) is attached: stop it first; one tcpkeep "
			 "enforces per host", holder);
	return holder != 0;
}

int tk_cmd_pin(struct tk_opts *o)
{
	char cgroup[4096] = "";
	struct tk_loader l = { .pin_dir = TK_PIN_DIR, .no_lifetimes = o->no_lifetimes };
	bool fresh = false;
	int ret, lock;

	ret = tk_pick_cgroup(o, cgroup, sizeof(cgroup));
	if (ret)
		return ret;
	lock = tk_lock_for_change();
	if (lock < 0)
		return TK_EXIT_FAIL;
	ret = TK_EXIT_FAIL;
	if (run_attached() || tk_pin_prepare())
		goto out;
	fresh = !tk_is_pinned();
	if (tk_loader_load(&l, o->policy))
		goto fail;
	if (tk_pin_links(&l, cgroup))
		goto fail;
	if (tk_policy_sync(l.fds.policy, o->policy)) {
		tk_error("cannot write the pinned policy: %s", strerror(errno));
		goto fail;
	}
	tk_fix_existing(&l);
	tk_note("pinned at %s (observer %s, enforcer on %s, %zu ports with a policy)",
		TK_PIN_DIR, l.attach_mode, cgroup, tk_policy_count(o->policy));
	ret = TK_EXIT_OK;
	goto out;
fail:
	/* a first pin that failed leaves nothing; a re-pin leaves what was */
	if (fresh) {
		bool had;

		tk_unpin(&had);
	}
out:
	tk_loader_destroy(&l);
	tk_pin_unlock(lock);
	return ret;
}

int tk_cmd_unpin(struct tk_opts *o)
{
	bool had;
	int err, lock;

	lock = tk_lock_for_change();
	if (lock < 0)
		return TK_EXIT_FAIL;
	err = tk_unpin(&had);
	tk_pin_unlock(lock);
	if (err) {
		return tk_error("could not remove everything under %s: %s", TK_PIN_DIR,
				strerror(-err));
	}
	if (had)
		tk_note("unpinned: detached and removed %s", TK_PIN_DIR);
	else
		tk_note("nothing was pinned at %s", TK_PIN_DIR);
	return TK_EXIT_OK;
}
