// SPDX-License-Identifier: GPL-2.0-only
/* /metrics over HTTP with libmicrohttpd: no hand-written HTTP parsing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include "http.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct tk_http {
	struct MHD_Daemon *d;
	tk_http_body_fn fn;
	void *ctx;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status,
			     const char *text, const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
								 MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version,
			      const char *upload_data, size_t *upload_size, void **state)
{
	struct tk_http *h = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *body = NULL;
	size_t len = 0;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n", "GET, HEAD");
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, "tcpkeep: metrics are at /metrics\n", NULL);
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n", NULL);
	if (h->fn(h->ctx, &body, &len))
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read tcpkeep's maps\n",
			     NULL);
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

struct tk_http *tk_http_start(const struct sockaddr *addr, socklen_t len,
			      tk_http_body_fn fn, void *ctx)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
	struct tk_http *h = calloc(1, sizeof(*h));
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned int port;

	if (!h)
		return NULL;
	h->fn = fn;
	h->ctx = ctx;
	if (addr->sa_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, host,
			  sizeof(host));
		port = ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, host,
			  sizeof(host));
		port = ntohs(((const struct sockaddr_in *)addr)->sin_port);
	}
	h->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, h,
				MHD_OPTION_SOCK_ADDR, addr,
				MHD_OPTION_CONNECTION_LIMIT, 32u,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_END);
	if (!h->d) {
		fprintf(stderr, "tcpkeep: cannot listen on %s port %u: %s\n", host, port,
			errno ? strerror(errno) : "libmicrohttpd failed to start");
		free(h);
		return NULL;
	}
	return h;
}

void tk_http_stop(struct tk_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
