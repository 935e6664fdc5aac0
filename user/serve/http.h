/* SPDX-License-Identifier: GPL-2.0-only */
/* The /metrics endpoint, on libmicrohttpd. Read-only: GET and HEAD. */
#ifndef TK_HTTP_H
#define TK_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

struct tk_http;

/* Produce a freshly malloc'ed body; 0, or -1 on failure (answered 500). */
typedef int (*tk_http_body_fn)(void *ctx, char **body, size_t *len);

/*
 * Bind and listen on addr now, before anything is loaded, so that a busy
 * port is a usage error that changes nothing. The fd, or -1 with a
 * one-line reason in err.
 */
int tk_http_bind(const struct sockaddr *addr, socklen_t len, char *err, size_t errlen);
/* Serve GET /metrics on listen_fd (taken over, closed at stop) in
 * threads of its own; NULL after one line on stderr. */
struct tk_http *tk_http_start(int listen_fd, tk_http_body_fn fn, void *ctx);
void tk_http_stop(struct tk_http *h);

#endif
