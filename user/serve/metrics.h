/* SPDX-License-Identifier: GPL-2.0-only */
/* Metrics of a source: the exposition text, as a body or a textfile. */
#ifndef TK_METRICS_H
#define TK_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include "serve/live.h"

struct tk_metrics {
	const struct tk_source *src;
	const bool *ports;	/* --ports, NULL: all */
	bool pinned;		/* attachment read from the pins at each scrape */
};

/* A fresh exposition in *body (malloc'ed); fits tk_http_body_fn. */
int tk_metrics_body(void *metrics, char **body, size_t *len);
/* Write it to path atomically (textfile.h); -1 with a reason in err. */
int tk_metrics_textfile(const struct tk_metrics *m, const char *path, char *err,
			size_t errlen);

#endif
