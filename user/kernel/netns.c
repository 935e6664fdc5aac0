// SPDX-License-Identifier: GPL-2.0-only
/*
 * Network namespaces: found through /proc/<pid>/ns/net and the nsfs bind
 * mounts in /proc/self/mountinfo, each visited once by inode, from a
 * thread that enters them with setns(2) and then exits.
 *
 * setns(CLONE_NEWNET) needs CAP_SYS_ADMIN; reading the namespace of a
 * process that holds capabilities tcpkeep lacks needs CAP_SYS_PTRACE.
 * Without them tcpkeep still sees its own namespace, and says how many
 * others it could not.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include "kernel/netns.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

/* processes tried per namespace before it counts as gone */
#define PIDS_PER_NS 4

/* A namespace found, and the ways to open it. */
struct found {
	uint64_t ino;
	int pids[PIDS_PER_NS];
	int npids;
	char mount[256];	/* a bind mount of it; "": none */
};

struct scan {
	struct found *v;
	size_t n;
	uint32_t *index;	/* open addressing over inodes: 1 + v[i], 0 free */
	size_t index_cap;	/* a power of two, twice TK_NETNS_MAX */
	uint64_t unreadable, over;
};

static struct found *scan_get(struct scan *sc, uint64_t ino)
{
	size_t i = (size_t)(ino * 0x9e3779b97f4a7c15ull >> 32) & (sc->index_cap - 1);

	for (; sc->index[i]; i = (i + 1) & (sc->index_cap - 1))
		if (sc->v[sc->index[i] - 1].ino == ino)
			return &sc->v[sc->index[i] - 1];
	if (sc->n == TK_NETNS_MAX) {
		sc->over++;
		return NULL;
	}
	sc->index[i] = (uint32_t)++sc->n;
	memset(&sc->v[sc->n - 1], 0, sizeof(sc->v[0]));
	sc->v[sc->n - 1].ino = ino;
	return &sc->v[sc->n - 1];
}

/* mountinfo's octal escapes (\040 for a space) undone in place */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

/* nsfs mounts whose root is a network namespace: "net:[ino]" */
static void scan_mounts(struct scan *sc)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char root[64], point[4096], *sep = strstr(line, " - ");
		unsigned long long ino;
		struct found *fd;

		/* id parent major:minor root point ... - fstype source options */
		if (!sep || strncmp(sep, " - nsfs ", 8) ||
		    sscanf(line, "%*s %*s %*s %63s %4095s", root, point) != 2 ||
		    sscanf(root, "net:[%llu]", &ino) != 1)
			continue;
		unescape(point);
		fd = scan_get(sc, ino);
		if (fd && !fd->mount[0] && strlen(point) < sizeof(fd->mount))
			strcpy(fd->mount, point);
	}
	free(line);
	fclose(f);
}

static void scan_procs(struct scan *sc)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[64], link[64];
		unsigned long long ino;
		struct found *fd;
		char *end;
		long pid;
		ssize_t n;

		pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid > 0x7fffffff)
			continue;
		snprintf(path, sizeof(path), "%ld/ns/net", pid);
		n = readlinkat(dirfd(d), path, link, sizeof(link) - 1);
		if (n < 0) {
			/* exited meanwhile: nothing lost; refused: said */
			if (errno == EACCES || errno == EPERM)
				sc->unreadable++;
			continue;
		}
		link[n] = 0;
		/* 5.10 answers a reader it refuses with an empty link */
		if (sscanf(link, "net:[%llu]", &ino) != 1) {
			sc->unreadable++;
			continue;
		}
		fd = scan_get(sc, ino);
		if (fd && fd->npids < PIDS_PER_NS)
			fd->pids[fd->npids++] = (int)pid;
	}
	closedir(d);
}

/* fd of the namespace f, checked to be it; -ENOENT: it is gone. */
static int open_ns(const struct found *f)
{
	int err = -ENOENT;

	for (int i = -1; i < f->npids; i++) {
		char path[64];
		struct statfs sfs;
		struct stat st;
		int fd;

		if (i < 0 && !f->mount[0])
			continue;
		if (i >= 0)
			snprintf(path, sizeof(path), "/proc/%d/ns/net", f->pids[i]);
		/* a bind mount is a plain path: no symlink followed at its end */
		fd = open(i < 0 ? f->mount : path,
			  O_RDONLY | O_CLOEXEC | O_NOCTTY | (i < 0 ? O_NOFOLLOW : 0));
		if (fd < 0) {
			if (errno == EACCES || errno == EPERM)
				err = -errno;
			continue;
		}
		/* the process may have gone and its pid been reused, or the
		 * mount replaced: only the namespace found will do */
		if (!fstatfs(fd, &sfs) && sfs.f_type == NSFS_MAGIC && !fstat(fd, &st) &&
		    st.st_ino == f->ino)
			return fd;
		close(fd);
	}
	return err;
}

static void describe(struct tk_netns *ns, const struct found *f, uint64_t self)
{
	const char *base = strrchr(f->mount, '/');

	memset(ns, 0, sizeof(*ns));
	ns->ino = f->ino;
	ns->self = f->ino == self;
	ns->pid = f->npids ? f->pids[0] : 0;
	/* ip netns' names; any other bind mount by its path */
	if (base && (!strncmp(f->mount, "/run/netns/", 11) ||
		     !strncmp(f->mount, "/var/run/netns/", 15)))
		snprintf(ns->name, sizeof(ns->name), "%s", base + 1);
	else
		snprintf(ns->name, sizeof(ns->name), "%s", f->mount);
}

struct work {
	struct scan *sc;
	struct tk_netns_list *list;
	tk_netns_fn fn;
	void *arg;
	uint64_t self;
	bool own_only;		/* no thread: only the caller's own namespace */
};

/* Append the namespaces visited (or refused) to the list, in scan order. */
static void *visit(void *p)
{
	struct work *w = p;

	for (size_t i = 0; i < w->sc->n; i++) {
		const struct found *f = &w->sc->v[i];
		struct tk_netns *ns = &w->list->v[w->list->n];
		int fd;

		if (f->ino == w->self) {
			/* first in the scan, before this thread moved */
			describe(ns, f, w->self);
			w->list->n++;
			ns->err = w->fn(ns, (uint32_t)(w->list->n - 1), w->arg);
			continue;
		}
		if (w->own_only) {
			describe(ns, f, w->self);
			w->list->n++;
			ns->err = -EAGAIN;
			continue;
		}
		fd = open_ns(f);
		if (fd == -ENOENT)
			continue;	/* gone since the scan: not an error */
		describe(ns, f, w->self);
		w->list->n++;
		if (fd < 0) {
			ns->err = fd;
			continue;
		}
		if (setns(fd, CLONE_NEWNET))
			ns->err = -errno;
		close(fd);
		if (!ns->err)
			ns->err = w->fn(ns, (uint32_t)(w->list->n - 1), w->arg);
	}
	return NULL;
}

int tk_netns_each(struct tk_netns_list *list, tk_netns_fn fn, void *arg)
{
	struct scan sc = { .index_cap = 2 * TK_NETNS_MAX };
	struct work w = { .sc = &sc, .list = list, .fn = fn, .arg = arg };
	sigset_t all, old;
	pthread_t t;
	struct stat st;
	int err = 0;

	memset(list, 0, sizeof(*list));
	if (stat("/proc/self/ns/net", &st))
		return -errno;
	w.self = st.st_ino;
	sc.v = malloc(TK_NETNS_MAX * sizeof(*sc.v));
	sc.index = calloc(sc.index_cap, sizeof(*sc.index));
	if (!sc.v || !sc.index) {
		err = -ENOMEM;
		goto out;
	}
	scan_get(&sc, w.self);		/* our own first, and always */
	scan_mounts(&sc);
	scan_procs(&sc);
	list->unreadable = sc.unreadable;
	list->over = sc.over;
	list->v = calloc(sc.n, sizeof(*list->v));
	if (!list->v) {
		err = -ENOMEM;
		goto out;
	}

	/* the visiting thread takes no signal: they stay the caller's */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&t, NULL, visit, &w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		/* no thread (a task limit): our own namespace needs none */
		w.own_only = true;
		visit(&w);
		err = 0;
	} else {
		pthread_join(t, NULL);
	}
	if (!list->n || !list->v[0].self)
		err = -ENOENT;
	else if (list->v[0].err)
		err = list->v[0].err;
out:
	free(sc.v);
	free(sc.index);
	return err;
}

void tk_netns_list_free(struct tk_netns_list *list)
{
	free(list->v);
	memset(list, 0, sizeof(*list));
}
