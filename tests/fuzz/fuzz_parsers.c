// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for everything tcpkeep parses from a command line:
 * the whole command line (tk_parse_args), keepalive specs, port lists,
 * numbers, seconds and listen addresses. Built with ASan and UBSan by
 * `make fuzz`; tests/test_fuzz.py runs it for a fixed number of inputs.
 *
 * An input is read twice: up to its first NUL as one string for each
 * parser, and split on newlines and NULs into the words after "tcpkeep"
 * for tk_parse_args.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "core/cli.h"
#include "core/exit.h"
#include "core/parse.h"
#include "core/policy.h"

#define MAX_WORDS 64

static struct tk_policy_table table;
static bool ports[65536];
static char *said;		/* what the parsers wrote to stderr */
static size_t said_len;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* glibc's stderr is a plain variable: point it at memory, so that
	 * what an error says can be checked and does not flood the log.
	 * libFuzzer and the sanitizers keep their own handle on fd 2. */
	stderr = open_memstream(&said, &said_len);
	if (!stderr)
		abort();
	return 0;
}

/* A table that parsed holds only values the kernel accepts. */
static void check_table(const struct tk_policy_table *t)
{
	if (t->set[0])
		abort();
	for (size_t p = 1; p < 65536; p++) {
		if (!t->set[p] || t->pol[p].off)
			continue;
		for (int k = 0; k < TK_POL_NKEYS; k++) {
			uint32_t v = tk_policy_get(&t->pol[p], k);

			if (v < tk_policy_fields[k].min || v > tk_policy_fields[k].max)
				abort();
		}
	}
}

static bool any_port(const bool *set)
{
	for (size_t p = 0; p < 65536; p++)
		if (set[p])
			return true;
	return false;
}

/* The words of data after "tcpkeep", parsed as a command line. */
static void fuzz_args(const uint8_t *data, size_t size)
{
	char *argv[MAX_WORDS + 2] = { "tcpkeep" }, *buf = malloc(size + 1);
	struct tk_opts o;
	int argc = 1, ret;

	if (!buf)
		return;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* a separator at the very end starts no word: "" is no words */
	for (char *w = buf; argc <= MAX_WORDS && w < buf + size; ) {
		size_t n = strcspn(w, "\n");

		w[n] = '\0';
		argv[argc++] = w;
		w += n + 1;
	}
	argv[argc] = NULL;

	rewind(stderr);
	ret = tk_parse_args(argc, argv, &o);
	fflush(stderr);
	if (ret) {
		/* bad usage says one line, naming the tool, and nothing else */
		if (ret != TK_EXIT_USAGE || said_len <= 9 || memcmp(said, "tcpkeep: ", 9) ||
		    memchr(said, '\n', said_len) != said + said_len - 1)
			abort();
		goto out;
	}
	if (said_len || o.cmd > TK_CMD_VERSION || o.listen_fd != -1)
		abort();
	if (o.cmd == TK_CMD_HELP || o.cmd == TK_CMD_VERSION)
		goto out;
	if (o.interval < 0.1 || o.interval > 3600 || o.count < 0)
		abort();
	if ((o.ports && o.ports[0]) || (o.export_ports && o.export_ports[0]))
		abort();
	if (o.cmd == TK_CMD_POLICY_DEL && (!o.del_ports || o.del_ports[0] ||
					    !any_port(o.del_ports)))
		abort();
	/* run and pin always have a table (maybe empty); policy set a
	 * non-empty one */
	if ((o.cmd == TK_CMD_RUN || o.cmd == TK_CMD_PIN || o.cmd == TK_CMD_POLICY_SET) &&
	    !o.policy)
		abort();
	if (o.cmd == TK_CMD_POLICY_SET && !tk_policy_count(o.policy))
		abort();
	if (o.policy) {
		check_table(o.policy);
		if (tk_policy_count(o.policy) > TK_MAX_POLICY)
			abort();
	}
	if (o.listen && (!o.listen_len || (o.listen_addr.ss_family != AF_INET &&
					   o.listen_addr.ss_family != AF_INET6)))
		abort();
	if (o.textfile && !*o.textfile)
		abort();
out:
	tk_opts_free(&o);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	unsigned long ul;
	unsigned int len;
	char *s, err[256];
	double d;

	fuzz_args(data, size);

	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	memset(&table, 0, sizeof(table));
	if (tk_policy_parse(s, &table, err, sizeof(err)) == 0)
		check_table(&table);
	else if (!memchr(err, '\0', sizeof(err)) || !err[0])
		abort();	/* an error always comes with a message */
	memset(ports, 0, sizeof(ports));
	if (tk_parse_ports(s, ports, err, sizeof(err)) == 0 && ports[0])
		abort();
	tk_parse_ulong(s, 1, 65535, &ul);
	tk_parse_seconds(s, 0.1, 3600, &d);
	tk_parse_listen(s, &ss, &len, err, sizeof(err));
	free(s);
	return 0;
}
