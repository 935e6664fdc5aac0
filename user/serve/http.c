// SPDX-License-Identifier: GPL-2.0-only
/* /metrics over HTTP with libmicrohttpd: no hand-written HTTP parsing. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include "serve/http.h"

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

/*
 * Bounds against slow or many clients (slowloris): every connection is
 * served by an epoll loop, never blocking the others, in a pool of two
 * threads so one scrape's snapshot does not hold up the next; at most
 * TK_HTTP_MAX_CONNS connections in all and TK_HTTP_MAX_PER_IP from one
 * address, each with a small memory pool, closed after TK_HTTP_IDLE_S
 * seconds without a byte. Memory and threads are bounded by these.
 */
#define TK_HTTP_THREADS		2u
#define TK_HTTP_MAX_CONNS	256u
#define TK_HTTP_MAX_PER_IP	16u
#define TK_HTTP_IDLE_S		5u
#define TK_HTTP_CONN_MEMORY	((size_t)16384)

/* No percent-decoding: /metrics is the only path served, and a decoded
 * "/metrics%00x" would otherwise read as "/metrics". */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

static void describe(const struct sockaddr *addr, char *host, size_t len, unsigned int *port)
{
	if (addr->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, host, len);
		*port = ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, host, len);
		*port = ntohs(((const struct sockaddr_in *)addr)->sin_port);
	}
}

int tk_http_bind(const struct sockaddr *addr, socklen_t len, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned int port;
	int fd, one = 1;

	describe(addr, host, sizeof(host), &port);
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (addr->sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, addr, len) || listen(fd, 64))
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "cannot listen on %s%s%s port %u: %s",
		 addr->sa_family == AF_INET6 ? "[" : "", host,
		 addr->sa_family == AF_INET6 ? "]" : "", port, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

struct tk_http *tk_http_start(int listen_fd, tk_http_body_fn fn, void *ctx)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	struct tk_http *h = calloc(1, sizeof(*h));
	sigset_t stop_sigs, old_mask;

	if (!h) {
		close(listen_fd);
		return NULL;
	}
	h->fn = fn;
	h->ctx = ctx;
	/*
	 * The daemon's threads inherit this mask: SIGINT and SIGTERM then
	 * reach the main thread only, whose handler sets tk_stop, read
	 * there. In another thread that write would race with the read,
	 * and would not wake the main thread's sleep.
	 */
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_sigs, &old_mask);
	errno = 0;
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, h,
				MHD_OPTION_LISTEN_SOCKET, listen_fd,
				MHD_OPTION_THREAD_POOL_SIZE, TK_HTTP_THREADS,
				MHD_OPTION_CONNECTION_LIMIT, TK_HTTP_MAX_CONNS,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, TK_HTTP_MAX_PER_IP,
				MHD_OPTION_CONNECTION_TIMEOUT, TK_HTTP_IDLE_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, TK_HTTP_CONN_MEMORY,
				MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
				MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);	/* leaves errno */
	if (!h->d) {
		fprintf(stderr, "tcpkeep: cannot start the metrics endpoint: %s\n",
			errno ? strerror(errno) : "libmicrohttpd failed to start");
		close(listen_fd);
		free(h);
		return NULL;
	}
	return h;
}

void tk_http_stop(struct tk_http *h)
{
	if (!h)
		return;
	/* MHD closes the listen socket it was given */
	MHD_stop_daemon(h->d);
	free(h);
}
