// SPDX-License-Identifier: GPL-2.0-only
/* The link roles' names and traits (core/link.h). */
#include "core/link.h"

const struct tk_link_role tk_links[TK_NLINKS] = {
	[TK_LINK_SET_STATE] = { "set_state", true },
	[TK_LINK_NESTED] = { "set_state_nested", false },
	[TK_LINK_ERROR_REPORT] = { "error_report", true },
	[TK_LINK_SOCKOPS] = { "sockops", true },
};
