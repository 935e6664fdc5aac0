// SPDX-License-Identifier: GPL-2.0-only
/* tcpkeep metrics: the exposition on stdout, as a textfile, or over HTTP. */
#include <stdio.h>
#include <stdlib.h>
#include "cmd/cmd.h"
#include "kernel/audit.h"
#include "kernel/pin.h"
#include "serve/http.h"
#include "serve/metrics.h"
#include "serve/tick.h"

int tk_cmd_metrics(struct tk_opts *o)
{
	double interval = o->interval_set ? o->interval : 15;
	struct tk_http *http = NULL;
	struct tk_source src;
	struct tk_metrics m;
	struct tk_pinned p;
	struct tk_auditor au;
	struct tk_tick tick;
	long written = 0;
	int ret = tk_open_pinned(&p);

	if (ret)
		return ret;
	src = tk_pinned_source(&p);
	tk_audit_source(&src, o, &au);
	if (tk_metrics_init(&m, &src, o->export_ports, true)) {
		tk_error("%s", "out of memory");
		tk_auditor_close(&au);
		tk_pinned_close(&p);
		return TK_EXIT_FAIL;
	}
	ret = TK_EXIT_FAIL;
	if (!o->textfile && !o->listen) {
		char *body;
		size_t len;

		if (!tk_metrics_body(&m, &body, &len)) {
			fwrite(body, 1, len, stdout);
			free(body);
			ret = TK_EXIT_OK;
		}
		goto out;
	}
	if (o->listen) {
		http = tk_http_start(o->listen_fd, tk_metrics_body, &m);
		o->listen_fd = -1;
		if (!http)
			goto out;
		tk_note("serving /metrics; Ctrl-C to stop");
	}
	ret = TK_EXIT_OK;
	tk_tick_start(&tick, tk_mono_now(), interval);
	while (!tk_stop) {
		if (o->textfile) {
			char err[512];

			if (tk_metrics_textfile(&m, o->textfile, err, sizeof(err))) {
				tk_error("%s", err);
				ret = TK_EXIT_FAIL;
				break;
			}
			if (o->count && ++written >= o->count)
				break;
		}
		if (tk_tick_wait(&tick, &tk_stop, NULL) != TK_TICK_DUE)
			break;
	}
out:
	tk_http_stop(http);
	tk_metrics_destroy(&m);
	tk_auditor_close(&au);
	tk_pinned_close(&p);
	return ret;
}
