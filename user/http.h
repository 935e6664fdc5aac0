/* SPDX-License-Identifier: GPL-2.0-only */
/* The /metrics endpoint, on libmicrohttpd. Read-only: GET and HEAD. */
#ifndef TK_HTTP_H
#define TK_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

struct tk_http;

/* Produce a freshly malloc'ed body; 0, or -1 on failure (answered 500). */
typedef int (*tk_http_body_fn)(void *ctx, char **body, size_t *len);

/* Serve GET /metrics on addr in a thread of its own; NULL after one line
 * on stderr if the address cannot be bound. */
struct tk_http *tk_http_start(const struct sockaddr *addr, socklen_t len,
			      tk_http_body_fn fn, void *ctx);
void tk_http_stop(struct tk_http *h);

#endif
