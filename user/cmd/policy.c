// SPDX-License-Identifier: GPL-2.0-only
/* tcpkeep policy list|set|del: the pinned policy, read, merged, written. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmd/cmd.h"
#include "kernel/pin.h"
#include "kernel/reader.h"
#include "render/render.h"

static int read_policy(const struct tk_pinned *p, struct tk_snapshot *s)
{
	struct tk_fds only = TK_FDS_NONE;

	only.policy = p->fds.policy;

	tk_snapshot_init(s);
	return tk_read_maps(&only, s);
}

int tk_cmd_policy(struct tk_opts *o)
{
	struct tk_policy_table *merged = NULL;
	struct tk_snapshot s;
	struct tk_pinned p;
	char why[128];
	int lock = -1, ret;

	/* set and del read, merge and write: one at a time, and not mid-pin */
	if (o->cmd != TK_CMD_POLICY_LIST) {
		lock = tk_pin_lock();
		if (lock < 0)
			return TK_EXIT_FAIL;
	}
	ret = tk_open_pinned(&p);
	if (ret) {
		tk_pin_unlock(lock);
		return ret;
	}
	ret = TK_EXIT_FAIL;
	tk_snapshot_init(&s);
	if (read_policy(&p, &s)) {
		tk_error("cannot read the pinned policy: %s", strerror(errno));
		goto out;
	}
	if (o->cmd == TK_CMD_POLICY_LIST) {
		if (o->json) {
			tk_render_policy_json(stdout, &s);
			fputc('\n', stdout);
		} else {
			tk_render_policy_text(stdout, &s);
		}
		ret = TK_EXIT_OK;
		goto out;
	}

	/* set and del: check everything first, then change */
	merged = calloc(1, sizeof(*merged));
	if (!merged)
		goto out;
	for (size_t i = 0; i < s.npolicy; i++) {
		merged->set[s.policy[i].port] = true;
		merged->pol[s.policy[i].port] = s.policy[i].pol;
	}
	if (tk_policy_merge(merged, o->cmd == TK_CMD_POLICY_SET ? o->policy : NULL,
			    o->cmd == TK_CMD_POLICY_DEL ? o->del_ports : NULL, why, sizeof(why))) {
		tk_error("%s; nothing changed", why);
		ret = TK_EXIT_USAGE;
		goto out;
	}
	if (tk_policy_sync(p.fds.policy, merged)) {
		tk_error("cannot write the pinned policy: %s", strerror(errno));
		goto out;
	}
	tk_note("policy now has %zu ports", tk_policy_count(merged));
	ret = TK_EXIT_OK;
	if (o->apply_existing) {
		struct tk_existing x;
		int err = tk_fix_existing_pinned(TK_PIN_DIR, &x);

		tk_report_existing(err, &x);
		/* a kernel without it was said: the policy itself is in place */
		if (err && err != -EOPNOTSUPP)
			ret = TK_EXIT_FAIL;
	}
out:
	free(merged);
	tk_snapshot_free(&s);
	tk_pinned_close(&p);
	tk_pin_unlock(lock);
	return ret;
}
