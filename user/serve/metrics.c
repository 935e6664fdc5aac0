// SPDX-License-Identifier: GPL-2.0-only
/* Metrics glue: snapshot -> exposition text -> HTTP body or textfile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "serve/metrics.h"
#include "kernel/pin.h"
#include "render/render.h"
#include "serve/textfile.h"

int tk_metrics_body(void *ctx, char **body, size_t *len)
{
	const struct tk_metrics *m = ctx;
	struct tk_prom_opts o = {
		.ports = m->ports,
		.version = TCPKEEP_VERSION,
		.libbpf_version = libbpf_version_string(),
	};
	double t0 = tk_mono_now();
	struct tk_snapshot s;
	FILE *f;
	int err;

	if (tk_take_snapshot(m->src, NULL, NULL, &s))
		return -1;
	if (m->pinned) {
		tk_pinned_attached(o.attached);
	} else {
		o.attached[TK_LINK_SET_STATE] = true;
		o.attached[TK_LINK_ERROR_REPORT] = m->src->dead_peers_ok;
		o.attached[TK_LINK_SOCKOPS] = m->src->enforcer_ok;
		o.attached[TK_LINK_NESTED] = true;
	}
	o.scrape_seconds = tk_mono_now() - t0;
	*body = NULL;
	f = open_memstream(body, len);
	if (!f) {
		tk_snapshot_free(&s);
		return -1;
	}
	err = tk_render_prom(f, &s, &o);
	if (fclose(f))
		err = -1;
	tk_snapshot_free(&s);
	if (err) {
		free(*body);
		*body = NULL;
	}
	return err;
}

int tk_metrics_textfile(const struct tk_metrics *m, const char *path, char *err,
			size_t errlen)
{
	char *body;
	size_t len;
	int ret;

	if (tk_metrics_body((void *)m, &body, &len)) {
		snprintf(err, errlen, "cannot read tcpkeep's maps for %s", path);
		return -1;
	}
	ret = tk_textfile_write(path, body, len, err, errlen);
	free(body);
	return ret;
}
