// SPDX-License-Identifier: GPL-2.0-only
/*
 * Textfiles for node_exporter, written as root into a directory that other
 * users may be able to write to (the collector's directory is often group
 * writable). Nothing here opens an existing name for writing: the data goes
 * into a new file created with O_EXCL|O_NOFOLLOW under an unpredictable
 * name, which is then renamed over the target. rename() replaces a
 * directory entry and never follows a symlink, so a planted link can
 * redirect nothing. A target that exists and is not a regular file (a
 * symlink, a device such as /dev/null, a FIFO, a directory) is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include "serve/textfile.h"

#define TMP_TRIES 16

/* Split path into its directory (opened) and last component. */
static int open_parent(const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	int fd;

	if (!slash) {
		*base = path;
		snprintf(dir, sizeof(dir), ".");
	} else {
		size_t n = slash == path ? 1 : (size_t)(slash - path);

		if (n >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, n);
		dir[n] = '\0';
		*base = slash + 1;
	}
	if (!**base || !strcmp(*base, ".") || !strcmp(*base, ".."))
		return -EISDIR;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* The target may be absent or a regular file; nothing else. */
static int check_target(int dirfd, const char *base, const char **why)
{
	struct stat st;

	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW)) {
		if (errno == ENOENT)
			return 0;
		*why = strerror(errno);
		return -errno;
	}
	if (S_ISREG(st.st_mode))
		return 0;
	*why = S_ISLNK(st.st_mode) ? "it is a symbolic link: tcpkeep never writes through one" :
	       S_ISDIR(st.st_mode) ? "it is a directory" :
	       "it exists and is not a regular file (a device, FIFO or socket)";
	return -EEXIST;
}

/* A new, empty file beside the target that no one else can have named. */
static int create_tmp(int dirfd, const char *base, char *name, size_t len)
{
	for (int i = 0; i < TMP_TRIES; i++) {
		unsigned long long r = 0;
		int fd;

		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			return -EIO;
		/* a dot first and no .prom at the end: the collector skips it */
		snprintf(name, len, ".%.200s.%016llx.tmp", base, r);
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0644);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static int write_all(int fd, const char *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			off += (size_t)n;
	}
	return 0;
}

/*
 * The target's directory, opened, with the target checked in it: the fd,
 * or -1 with "PREFIX 'path': why" in err.
 */
static int open_checked(const char *path, const char *prefix, const char **base, char *err,
			size_t errlen)
{
	const char *why = NULL;
	int dirfd = open_parent(path, base);

	if (dirfd < 0) {
		snprintf(err, errlen, "%s '%s': %s", prefix, path,
			 dirfd == -EISDIR ? "it names a directory, not a file" :
			 dirfd == -ENOENT ? "its directory does not exist" :
			 dirfd == -ENOTDIR ? "a part of its directory is not a directory" :
			 strerror(-dirfd));
		return -1;
	}
	if (check_target(dirfd, *base, &why)) {
		snprintf(err, errlen, "%s '%s': %s", prefix, path, why);
		close(dirfd);
		return -1;
	}
	return dirfd;
}

int tk_textfile_check(const char *path, char *err, size_t errlen)
{
	const char *base;
	char tmp[512];
	int dirfd, fd;

	dirfd = open_checked(path, "bad --textfile", &base, err, errlen);
	if (dirfd < 0)
		return -1;
	/* can a file be made there at all (not /proc, not read-only)? */
	fd = create_tmp(dirfd, base, tmp, sizeof(tmp));
	if (fd < 0) {
		snprintf(err, errlen, "bad --textfile '%s': cannot create a file in its "
			 "directory: %s", path, strerror(-fd));
		close(dirfd);
		return -1;
	}
	close(fd);
	unlinkat(dirfd, tmp, 0);
	close(dirfd);
	return 0;
}

int tk_textfile_write(const char *path, const char *body, size_t len, char *err,
		      size_t errlen)
{
	const char *base;
	char tmp[512];
	int dirfd, fd, ret;

	dirfd = open_checked(path, "refusing to replace", &base, err, errlen);
	if (dirfd < 0)
		return -1;
	fd = create_tmp(dirfd, base, tmp, sizeof(tmp));
	if (fd < 0) {
		ret = fd;
		snprintf(err, errlen, "cannot create a file beside %s: %s", path, strerror(-ret));
		goto out;
	}
	/* readable by the collector whatever our umask */
	ret = fchmod(fd, 0644) ? -errno : 0;
	if (!ret)
		ret = write_all(fd, body, len);
	/* node_exporter must never read half a file */
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && renameat(dirfd, tmp, dirfd, base))
		ret = -errno;
	if (ret) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-ret));
		unlinkat(dirfd, tmp, 0);
		goto out;
	}
	fsync(dirfd);	/* the rename itself survives a crash */
out:
	close(dirfd);
	return ret ? -1 : 0;
}
