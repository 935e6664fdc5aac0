// SPDX-License-Identifier: GPL-2.0-only
/*
 * tcpkeep audit: one look at the established connections, as text or
 * JSON. Reads the pinned policy when there is one; changes nothing.
 */
#include <errno.h>
#include <string.h>
#include "cmd/cmd.h"
#include "kernel/audit.h"
#include "kernel/pin.h"
#include "render/render.h"

int tk_cmd_audit(struct tk_opts *o)
{
	struct tk_fds none = TK_FDS_NONE;
	struct tk_source src = { .fds = &none, .attach_mode = "none" };
	struct tk_pinned p = { 0 };
	struct tk_auditor au;
	struct tk_snapshot s;
	int ret = TK_EXIT_FAIL, err;

	if (tk_check_environment())
		return TK_EXIT_FAIL;
	/* the pinned policy, to tell its connections apart; none is no error */
	err = tk_pinned_open(&p);
	if (err)
		return tk_error("cannot open %s: %s", TK_PIN_DIR, strerror(-err));
	if (p.present && p.fds.policy >= 0)
		src = tk_pinned_source(&p);
	else if (tk_run_holder() > 0)
		tk_note("tcpkeep run (pid %ld) keeps its policy to itself: its connections "
			"count as other here; tcpkeep run --audit shows them as policy",
			tk_run_holder());
	o->audit = true;
	tk_audit_source(&src, o, &au);
	src.would = o->policy;
	if (au.err) {
		tk_error("cannot load the audit iterator: %s%s", strerror(-au.err),
			 au.err == -EPERM ? " (it needs CAP_BPF and CAP_PERFMON)" :
			 au.err == -ENOEXEC ? " (the verifier refused it: run with -v and "
			 "report it)" : "");
		goto out;
	}
	if (tk_take_snapshot(&src, o->ports, NULL, &s))
		goto out;
	if (!s.audit_ok) {
		tk_error("cannot audit the connections: %s", strerror(-s.audit_err));
	} else {
		if (o->json)
			tk_render_audit_json(stdout, &s);
		else
			tk_render_audit_text(stdout, &s, 0);
		ret = TK_EXIT_OK;
	}
	tk_snapshot_free(&s);
out:
	tk_auditor_close(&au);
	tk_pinned_close(&p);
	return ret;
}
