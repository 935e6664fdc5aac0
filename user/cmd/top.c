// SPDX-License-Identifier: GPL-2.0-only
/* tcpkeep top: the live view of what is pinned. */
#include "cmd/cmd.h"
#include "kernel/audit.h"
#include "kernel/pin.h"
#include "serve/live.h"

int tk_cmd_top(struct tk_opts *o)
{
	struct tk_pinned p;
	struct tk_auditor au;
	struct tk_source src;
	int ret = tk_open_pinned(&p);

	if (ret)
		return ret;
	src = tk_pinned_source(&p);
	tk_audit_source(&src, o, &au);
	ret = tk_live_view(&src, o, &tk_stop);
	tk_auditor_close(&au);
	tk_pinned_close(&p);
	return ret;
}
