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

/* Mark every connection on inode ino as held by pid; how many were new. */
static size_t claim(struct tk_audit_conn *v, size_t n, unsigned long long ino, int pid)
{
	size_t got = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i].pid || v[i].ino != ino)
			continue;
		v[i].pid = pid;
		read_comm(pid, v[i].comm);
		got++;
	}
	return got;
}

static int pid_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

void tk_procs_owners(struct tk_audit_conn *v, size_t n)
{
	size_t want = 0, fds = 0, npids = 0;
	struct dirent *e;
	int *pids;
	DIR *proc;

	for (size_t i = 0; i < n; i++) {
		v[i].pid = 0;
		v[i].comm[0] = '\0';
		want += v[i].ino != 0;
	}
	if (!want)
		return;
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
				want -= claim(v, n, ino, pids[p]);
		}
		closedir(d);
	}
	free(pids);
}
