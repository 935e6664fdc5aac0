// SPDX-License-Identifier: GPL-2.0-only
/*
 * Socket owners from /proc/PID/fd: each link reads "socket:[INODE]". Every
 * name under /proc is the kernel's, but a process may exit (or exec) while
 * it is read: whatever fails to open is skipped.
 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kernel/procs.h"

static bool all_numeric(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static void read_comm(int pid, char comm[16])
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	comm[0] = '\0';
	if (fd < 0)
		return;
	n = read(fd, comm, 15);
	close(fd);
	if (n <= 0) {
		comm[0] = '\0';
		return;
	}
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	/* a command is whatever its process named itself: keep it printable */
	for (char *c = comm; *c; c++)
		if (!isprint((unsigned char)*c))
			*c = '?';
}

/* Does /proc/PID/fd/FD still read socket:[ino]? */
static bool holds(int pid, int fd, unsigned long long ino)
{
	char path[64], link[64], want[40];
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	len = readlink(path, link, sizeof(link) - 1);
	if (len <= 0)
		return false;
	link[len] = '\0';
	snprintf(want, sizeof(want), "socket:[%llu]", ino);
	return !strcmp(link, want);
}

static void remember(struct tk_procs_cache *c, const struct tk_audit_conn *conn, int fd)
{
	struct tk_procs_owner *o;

	if (!c)
		return;
	/* a connection in both lists is one socket: one entry */
	for (size_t k = 0; k < c->n; k++)
		if (c->v[k].ino == conn->ino && c->v[k].pid == conn->pid &&
		    c->v[k].fd == fd)
			return;
	o = &c->v[c->next];
	c->next = (c->next + 1) % TK_PROCS_CACHE;
	if (c->n < TK_PROCS_CACHE)
		c->n++;
	o->ino = conn->ino;
	o->pid = conn->pid;
	o->fd = fd;
	memcpy(o->comm, conn->comm, sizeof(o->comm));
}

/* Mark every connection on inode ino as held by pid; how many were new. */
static size_t claim(struct tk_audit_conn *const *v, size_t n, unsigned long long ino, int pid,
		    int fd, struct tk_procs_cache *cache)
{
	size_t got = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i]->pid || v[i]->ino != ino)
			continue;
		v[i]->pid = pid;
		read_comm(pid, v[i]->comm);
		remember(cache, v[i], fd);
		got++;
	}
	return got;
}

/* Owners the cache knows and that still hold their socket; how many. */
static size_t from_cache(struct tk_audit_conn *const *v, size_t n, struct tk_procs_cache *c)
{
	size_t got = 0;

	for (size_t i = 0; c && i < n; i++) {
		for (size_t k = 0; v[i]->ino && !v[i]->pid && k < c->n; k++) {
			const struct tk_procs_owner *o = &c->v[k];

			if (o->ino != v[i]->ino || !holds(o->pid, o->fd, o->ino))
				continue;
			v[i]->pid = o->pid;
			/* a process renames itself (prctl): read it again */
			read_comm(o->pid, v[i]->comm);
			got++;
		}
	}
	return got;
}

static int pid_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static void search(struct tk_audit_conn *const *v, size_t n, size_t want,
		   struct tk_procs_cache *cache);

void tk_procs_owners(struct tk_audit_conn *const *v, size_t n, struct tk_procs_cache *cache)
{
	size_t want = 0;

	for (size_t i = 0; i < n; i++) {
		v[i]->pid = 0;
		v[i]->comm[0] = '\0';
		want += v[i]->ino != 0;
	}
	if (cache)
		pthread_mutex_lock(&cache->lock);
	want -= from_cache(v, n, cache);
	if (want)
		search(v, n, want, cache);
	if (cache)
		pthread_mutex_unlock(&cache->lock);
}

static void search(struct tk_audit_conn *const *v, size_t n, size_t want,
		   struct tk_procs_cache *cache)
{
	size_t fds = 0, npids = 0;
	struct dirent *e;
	int *pids;
	DIR *proc;

	proc = opendir("/proc");
	if (!proc)
		return;
	pids = malloc(TK_PROCS_MAX * sizeof(*pids));
	while (pids && npids < TK_PROCS_MAX && (e = readdir(proc)))
		if (all_numeric(e->d_name))
			pids[npids++] = atoi(e->d_name);
	closedir(proc);
	if (!pids)
		return;
	qsort(pids, npids, sizeof(*pids), pid_cmp);
	for (size_t p = 0; p < npids && want && fds < TK_PROCS_FDS_MAX; p++) {
		char path[64];
		int dfd;
		DIR *d;

		snprintf(path, sizeof(path), "/proc/%d/fd", pids[p]);
		dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (dfd < 0)
			continue;
		d = fdopendir(dfd);
		if (!d) {
			close(dfd);
			continue;
		}
		while (want && fds < TK_PROCS_FDS_MAX && (e = readdir(d))) {
			char link[64];
			unsigned long long ino;
			ssize_t len;

			if (e->d_name[0] == '.')
				continue;
			fds++;
			len = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
			if (len <= 0)
				continue;
			link[len] = '\0';
			if (sscanf(link, "socket:[%llu]", &ino) == 1)
				want -= claim(v, n, ino, pids[p], atoi(e->d_name), cache);
		}
		closedir(d);
	}
	free(pids);
}
