/* SPDX-License-Identifier: GPL-2.0-only */
/* Metrics of a source: the exposition text, as a body or a textfile. */
#ifndef TK_METRICS_H
#define TK_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include "serve/live.h"

struct tk_metrics {
	const struct tk_source *src;
	const bool *ports;	/* --ports: exported besides policy and listener ports */
	bool pinned;		/* attachment read from the pins at each scrape */
	/* what every scrape adds to, so series never flap (render.h);
	 * the lock serialises the HTTP threads' renders */
	struct tk_prom_memory *mem;
	pthread_mutex_t lock;
};

/* 0, or -1 when out of memory (nothing to destroy then). */
int tk_metrics_init(struct tk_metrics *m, const struct tk_source *src, const bool *ports,
		    bool pinned);
void tk_metrics_destroy(struct tk_metrics *m);

/* A fresh exposition in *body (malloc'ed); fits tk_http_body_fn. */
int tk_metrics_body(void *metrics, char **body, size_t *len);
/* Write it to path atomically (textfile.h); -1 with a reason in err. */
int tk_metrics_textfile(struct tk_metrics *m, const char *path, char *err, size_t errlen);

#endif
