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

int tk_metrics_init(struct tk_metrics *m, const struct tk_source *src, const bool *ports,
		    bool pinned)
{
	*m = (struct tk_metrics){ .src = src, .ports = ports, .pinned = pinned };
	m->mem = tk_prom_memory_new();
	if (!m->mem)
		return -1;
	pthread_mutex_init(&m->lock, NULL);
	return 0;
}

void tk_metrics_destroy(struct tk_metrics *m)
{
	if (!m->mem)
		return;
	pthread_mutex_destroy(&m->lock);
	tk_prom_memory_free(m->mem);
	m->mem = NULL;
}

/* The exposition of s, rendered under the lock: the memory is shared. */
static int render(struct tk_metrics *m, FILE *f, const struct tk_snapshot *s,
		  const struct tk_prom_opts *o)
{
	int err;

	pthread_mutex_lock(&m->lock);
	err = tk_render_prom(f, s, o);
	pthread_mutex_unlock(&m->lock);
	return err;
}

int tk_metrics_body(void *ctx, char **body, size_t *len)
{
	struct tk_metrics *m = ctx;
	struct tk_prom_opts o = {
		.mem = m->mem,
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
	err = render(m, f, &s, &o);
	if (fclose(f))
		err = -1;
	tk_snapshot_free(&s);
	if (err) {
		free(*body);
		*body = NULL;
	}
	return err;
}

int tk_metrics_textfile(struct tk_metrics *m, const char *path, char *err, size_t errlen)
{
	char *body;
	size_t len;
	int ret;

	if (tk_metrics_body(m, &body, &len)) {
		snprintf(err, errlen, "cannot read tcpkeep's maps for %s", path);
		return -1;
	}
	ret = tk_textfile_write(path, body, len, err, errlen);
	free(body);
	return ret;
}
