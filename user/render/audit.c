// SPDX-License-Identifier: GPL-2.0-only
/* The audit as text. (being written) */
#include "render/render.h"

void tk_render_audit_text(FILE *f, const struct tk_snapshot *s, int width)
{
	fprintf(f, "audit: %s\n", s->audit_ok ? "ok" : "unavailable");
}
