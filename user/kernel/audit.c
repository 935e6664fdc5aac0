// SPDX-License-Identifier: GPL-2.0-only
/* Loading and reading the audit iterator. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "audit.skel.h"
#include "kernel/audit.h"

/* records read per read(2) */
#define BATCH 512

int tk_auditor_open(struct tk_auditor *a)
{
	int err;

	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->owners.lock, NULL);
	a->skel = audit_bpf__open();
	if (!a->skel) {
		a->err = -errno;
		return a->err;
	}
	err = audit_bpf__load(a->skel);
	if (err) {
		/* the verifier's refusal is ours to fix; EPERM the caller's */
		a->err = err == -EPERM || err == -EACCES ? -EPERM :
			 err == -EINVAL ? -ENOEXEC : err;
		goto fail;
	}
	a->link = bpf_program__attach_iter(a->skel->progs.tk_audit, NULL);
	if (!a->link) {
		a->err = -errno;
		goto fail;
	}
	return 0;
fail:
	audit_bpf__destroy(a->skel);
	a->skel = NULL;
	return a->err;
}

void tk_auditor_close(struct tk_auditor *a)
{
	bpf_link__destroy(a->link);
	audit_bpf__destroy(a->skel);
	pthread_mutex_destroy(&a->owners.lock);
	memset(a, 0, sizeof(*a));
}

int tk_auditor_read(const struct tk_auditor *a,
		    int (*fn)(const struct tk_audit_rec *r, void *arg), void *arg)
{
	struct tk_audit_rec *buf;
	size_t have = 0;
	int fd, err = 0;

	if (!a->link)
		return a->err ? a->err : -ENOENT;
	buf = malloc(BATCH * sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	/* the file walks the namespace of the thread that creates it */
	fd = bpf_iter_create(bpf_link__fd(a->link));
	if (fd < 0) {
		err = -errno;
		free(buf);
		return err;
	}
	for (;;) {
		ssize_t n = read(fd, (char *)buf + have, BATCH * sizeof(*buf) - have);
		size_t whole;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0) {
			/* a record cut short: the file is not what we wrote */
			if (have)
				err = -EPROTO;
			break;
		}
		have += (size_t)n;
		whole = have / sizeof(buf[0]);
		for (size_t i = 0; i < whole && !err; i++)
			err = fn(&buf[i], arg);
		if (err)
			break;
		have -= whole * sizeof(buf[0]);
		memmove(buf, buf + whole, have);
	}
	close(fd);
	free(buf);
	return err;
}
