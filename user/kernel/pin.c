// SPDX-License-Identifier: GPL-2.0-only
/* Pinning: programs that stay attached after tcpkeep exits (for boot). */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "kernel/loader.h"
#include "kernel/pin.h"
#include "core/policy.h"

#define BPFFS "/sys/fs/bpf"

static void pin_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", TK_PIN_DIR, name);
}

void tk_link_pin_path(char *buf, size_t len, enum tk_link role)
{
	snprintf(buf, len, "%s/" TK_LINK_PIN_PREFIX "%s", TK_PIN_DIR, tk_links[role].name);
}

/*
 * A lock file in /run (root's): created if missing, never followed
 * through a symlink, and only a regular file of root's, or of the uid we
 * run as (a service user holding CAP_DAC_OVERRIDE creates it as its own),
 * is trusted.
 */
static int open_lock(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0) {
		int err = errno;	/* saved: printing may change errno */

		tk_error("cannot open the lock %s: %s", path, strerror(err));
		return -err;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != geteuid())) {
		tk_error("%s is not a regular file of root's: remove it", path);
		close(fd);
		return -EPERM;
	}
	return fd;
}

static int take_lock(const char *path, int how)
{
	int fd = open_lock(path);

	if (fd < 0)
		return fd;
	while (flock(fd, how)) {
		int err = errno;

		if (err == EINTR)
			continue;
		close(fd);
		if (err != EWOULDBLOCK)
			tk_error("cannot lock %s: %s", path, strerror(err));
		return -err;
	}
	return fd;
}

int tk_pin_lock(void)
{
	return take_lock(TK_LOCK_FILE, LOCK_EX);
}

void tk_pin_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* releases the flock */
}

bool tk_pin_lock_busy(void)
{
	int fd = take_lock(TK_LOCK_FILE, LOCK_EX | LOCK_NB);

	if (fd >= 0)
		close(fd);
	return fd == -EWOULDBLOCK;
}

/* The run lock is an OFD record lock, not a flock: F_OFD_GETLK can ask
 * who holds it without taking it, so status never makes a run fail. */
static int ofd_lock(int fd, short type, int cmd, struct flock *fl)
{
	*fl = (struct flock){ .l_type = type, .l_whence = SEEK_SET };
	return fcntl(fd, cmd, fl);
}

int tk_run_lock(long *holder)
{
	struct flock fl;
	char buf[32];
	int fd, n;

	*holder = 0;
	fd = open_lock(TK_RUN_LOCK_FILE);
	if (fd < 0)
		return fd;
	if (ofd_lock(fd, F_WRLCK, F_OFD_SETLK, &fl)) {
		int err = errno;

		close(fd);
		if (err != EAGAIN && err != EACCES) {
			tk_error("cannot lock %s: %s", TK_RUN_LOCK_FILE, strerror(err));
			return -err;
		}
		*holder = tk_run_holder();
		if (!*holder)
			*holder = -1;
		return -EWOULDBLOCK;
	}
	/* the pid is only for messages */
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) != n) {
		/* a run without its pid written is still the one run */
	}
	return fd;
}

long tk_run_holder(void)
{
	struct flock fl;
	char buf[32] = "";
	long pid = -1;
	int fd = open(TK_RUN_LOCK_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return 0;
	/* the file outlives its holder: only a held lock names a live run */
	if (ofd_lock(fd, F_WRLCK, F_OFD_GETLK, &fl) || fl.l_type == F_UNLCK) {
		close(fd);
		return 0;
	}
	if (read(fd, buf, sizeof(buf) - 1) > 0)
		pid = strtol(buf, NULL, 10);
	close(fd);
	return pid > 0 ? pid : -1;
}

/* Mount bpffs at BPFFS; naming the capability when it is the cause. */
static int mount_bpffs(void)
{
	int err;

	if (!mount("bpf", BPFFS, "bpf", 0, "mode=0700"))
		return 0;
	err = errno;	/* saved: printing may change it */
	if (err == EPERM)
		tk_error("bpffs is not mounted at %s and mounting it needs CAP_SYS_ADMIN: "
			 "grant it, or mount -t bpf bpf %s first", BPFFS, BPFFS);
	else
		tk_error("bpffs is not mounted at %s and mounting it failed (%s): "
			 "mount -t bpf bpf %s", BPFFS, strerror(err), BPFFS);
	return -err;
}

int tk_pin_prepare(void)
{
	struct statfs fs;
	struct stat st;
	int err;

	/* each errno is saved before printing, which may change it */
	if (statfs(BPFFS, &fs) || fs.f_type != BPF_FS_MAGIC) {
		/* not mounted at boot on some systems: mount it, as systemd would */
		err = mount_bpffs();
		if (err)
			return err;
	}
	if (mkdir(TK_PIN_DIR, 0700) && errno != EEXIST) {
		err = errno;
		tk_error("cannot create %s: %s", TK_PIN_DIR, strerror(err));
		return -err;
	}
	/* only when needed: chmod of root's directory needs CAP_FOWNER
	 * from any other uid */
	if (stat(TK_PIN_DIR, &st) == 0 && (st.st_mode & 07777) == 0700)
		return 0;
	if (chmod(TK_PIN_DIR, 0700)) {
		err = errno;
		tk_error("cannot chmod %s: %s", TK_PIN_DIR, strerror(err));
		return -err;
	}
	return 0;
}

static int link_info(int fd, struct bpf_link_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

/* The pinned link of role: its fd, -1 if not pinned; its info, all zero
 * (id 0) if the kernel would not say. */
static int open_link(enum tk_link role, struct bpf_link_info *info)
{
	char path[256];
	int fd;

	tk_link_pin_path(path, sizeof(path), role);
	fd = bpf_obj_get(path);
	if (fd < 0 || link_info(fd, info))
		memset(info, 0, sizeof(*info));
	return fd;
}

static uint64_t cgroup_id_of(const char *path)
{
	struct stat st;

	/* a cgroup v2 directory's inode number is its cgroup id */
	return stat(path, &st) ? 0 : (uint64_t)st.st_ino;
}

/* Detach the link pinned at path now: a reader holding an fd of it (a
 * running top) must not keep it attached. */
static void detach_pinned(const char *path)
{
	int fd = bpf_obj_get(path);

	if (fd >= 0) {
		bpf_link_detach(fd);
		close(fd);
	}
}

static void prog_pin_path(char *buf, size_t len, enum tk_link role)
{
	snprintf(buf, len, "%s/" TK_PROG_PIN_PREFIX "%s", TK_PIN_DIR, tk_links[role].name);
}

/* Pin fd at path, replacing an older pin there atomically. */
static int pin_fd(int fd, const char *path)
{
	const char *name = strrchr(path, '/') + 1;
	char tmp[300];
	int err;

	/* bpffs refuses names with a dot */
	snprintf(tmp, sizeof(tmp), "%s/tmp_%s", TK_PIN_DIR, name);
	unlink(tmp);
	if (bpf_obj_pin(fd, tmp))
		return -errno;
	if (rename(tmp, path)) {
		err = -errno;
		unlink(tmp);
		return err;
	}
	return 0;
}

/*
 * Pin link as role's, and its program beside it: readers open the
 * program by path, which needs only CAP_BPF (by id it needs CAP_SYS_ADMIN).
 */
static int pin_link(struct bpf_link *link, const struct bpf_program *prog,
		    enum tk_link role)
{
	char path[256];
	int err;

	tk_link_pin_path(path, sizeof(path), role);
	err = pin_fd(bpf_link__fd(link), path);
	if (err)
		return err;
	prog_pin_path(path, sizeof(path), role);
	return pin_fd(bpf_program__fd(prog), path);
}

/* Is the pinned link of this role there and still attached where wanted? */
static bool link_healthy(enum tk_link which, const char *cgroup)
{
	struct bpf_link_info info;
	int fd = open_link(which, &info);
	bool ok = info.id != 0;

	if (fd < 0)
		return false;
	if (ok && which == TK_LINK_SOCKOPS) {
		/* a removed cgroup leaves the link defunct, with cgroup id 0 */
		if (!info.cgroup.cgroup_id) {
			tk_note("the pinned sockops link is defunct (its cgroup was "
				"removed): attaching again");
			ok = false;
		} else if (info.cgroup.cgroup_id != cgroup_id_of(cgroup)) {
			tk_note("moving the sockops link to %s", cgroup);
			ok = false;
		}
	}
	close(fd);
	return ok;
}

int tk_pin_links(struct tk_loader *l, const char *cgroup)
{
	int err;

	for (enum tk_link i = 0; i < TK_NLINKS; i++) {
		struct bpf_link *link;
		char path[256];

		tk_link_pin_path(path, sizeof(path), i);
		/* no error_report program on kernels without the tracepoint */
		if (!tk_loader_prog(l, i) || link_healthy(i, cgroup))
			continue;
		link = tk_loader_attach_role(l, i, cgroup);
		if (!link)
			return -errno;
		/* the new link is in place: an older sockops link of this name
		 * (defunct, or on another cgroup) goes, and the rename below
		 * replaces its pin */
		if (i == TK_LINK_SOCKOPS)
			detach_pinned(path);
		err = pin_link(link, tk_loader_prog(l, i), i);
		bpf_link__disconnect(link);	/* the pin keeps it attached */
		bpf_link__destroy(link);
		if (err) {
			tk_error("cannot pin %s: %s", path, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* Remove the pins in d: the links only (link_* and tmp_link_*), each
 * detached first, or everything. The last error, or 0. */
static int remove_pins(DIR *d, bool links)
{
	struct dirent *de;
	int err = 0;

	rewinddir(d);
	while ((de = readdir(d))) {
		char path[512];

		if (de->d_name[0] == '.' ||
		    (links && !strstr(de->d_name, TK_LINK_PIN_PREFIX)))
			continue;
		pin_path(path, sizeof(path), de->d_name);
		if (links)
			detach_pinned(path);
		if (unlink(path))
			err = -errno;
	}
	return err;
}

int tk_unpin(bool *had)
{
	int err, rest;
	DIR *d;

	*had = false;
	d = opendir(TK_PIN_DIR);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	*had = true;
	/* links first, detached explicitly, then the maps */
	err = remove_pins(d, true);
	rest = remove_pins(d, false);
	closedir(d);
	if (rmdir(TK_PIN_DIR))
		err = -errno;
	return err ? err : rest;
}

static uint64_t find_id;
static char *find_out;
static size_t find_len;

static int match_cgroup(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	if (flag == FTW_D && (uint64_t)st->st_ino == find_id) {
		snprintf(find_out, find_len, "%s", path);
		return 1;
	}
	return 0;
}

static void cgroup_path_of(uint64_t id, char *buf, size_t len)
{
	char root[4096];

	buf[0] = '\0';
	if (!id || tk_cgroup2_root(root, sizeof(root)))
		return;
	find_id = id;
	find_out = buf;
	find_len = len;
	nftw(root, match_cgroup, 16, FTW_PHYS | FTW_MOUNT);
}

/*
 * Does the observer program pfd measure lifetimes? Only the program built
 * with them uses the slots map (slots_fd): its map ids tell, without
 * opening any map by id (which needs CAP_SYS_ADMIN).
 */
static bool observer_lifetimes(int pfd, int slots_fd)
{
	struct bpf_prog_info pinfo = {};
	struct bpf_map_info minfo = {};
	__u32 ids[16], len = sizeof(pinfo), mlen = sizeof(minfo);

	if (slots_fd < 0 || bpf_obj_get_info_by_fd(slots_fd, &minfo, &mlen))
		return false;
	pinfo.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	pinfo.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(pfd, &pinfo, &len))
		return false;
	for (__u32 i = 0; i < pinfo.nr_map_ids && i < sizeof(ids) / sizeof(ids[0]); i++)
		if (ids[i] == minfo.id)
			return true;
	return false;
}

/*
 * The program behind the pinned link of role, whose id is prog_id: its
 * pin (needs CAP_BPF only), else by id (pins of an older tcpkeep; needs
 * CAP_SYS_ADMIN). -1 if neither.
 */
static int open_prog(enum tk_link role, __u32 prog_id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	char path[256];
	int fd;

	prog_pin_path(path, sizeof(path), role);
	fd = bpf_obj_get(path);
	/* a pin of another program: a re-pin is half-way */
	if (fd >= 0 && (bpf_obj_get_info_by_fd(fd, &info, &len) || info.id != prog_id)) {
		close(fd);
		fd = -1;
	}
	return fd >= 0 ? fd : bpf_prog_get_fd_by_id(prog_id);
}

static int open_map(const char *name)
{
	char path[256];

	pin_path(path, sizeof(path), name);
	return bpf_obj_get(path);
}

int tk_pinned_open(struct tk_pinned *p)
{
	struct stat st;

	memset(p, 0, sizeof(*p));
	p->fds = TK_FDS_NONE;
	for (int i = 0; i < TK_NLINKS; i++)
		p->link_fds[i] = -1;
	p->attach_mode = "none";
	if (stat(TK_PIN_DIR, &st))
		return errno == ENOENT ? 0 : -errno;
	p->present = true;
	p->fds.transitions = open_map("transitions");
	p->fds.conns = open_map("conns");
	p->fds.uncounted = open_map("uncounted");
	p->fds.ka_stats = open_map("ka_stats");
	p->fds.policy = open_map("policy");
	p->fds.nested = open_map("nested");
	p->fds.slots = open_map("slots");

	for (enum tk_link i = 0; i < TK_NLINKS; i++) {
		struct bpf_link_info info;
		int fd = open_link(i, &info), pfd;

		if (fd < 0)
			continue;
		p->link_fds[i] = fd;
		if (!info.id)
			continue;
		p->link_ids[i] = info.id;
		p->prog_ids[i] = info.prog_id;
		if (!tk_links[i].misses)
			continue;
		pfd = open_prog(i, info.prog_id);
		if (pfd >= 0 && p->fds.nprogs < TK_MAX_PROGS)
			p->fds.progs[p->fds.nprogs++] = pfd;
		if (i == TK_LINK_SET_STATE && pfd >= 0) {
			struct bpf_prog_info pinfo = {};
			__u32 len = sizeof(pinfo);

			/* tp_btf links are raw tracepoint links too: the program
			 * type tells them apart */
			if (!bpf_obj_get_info_by_fd(pfd, &pinfo, &len))
				p->attach_mode = pinfo.type == BPF_PROG_TYPE_TRACING ?
						 "tp_btf" : "raw_tp";
			p->lifetimes = pinfo.type == BPF_PROG_TYPE_TRACING &&
				       observer_lifetimes(pfd, p->fds.slots);
		}
		if (i == TK_LINK_SOCKOPS) {
			p->cgroup_id = info.cgroup.cgroup_id;
			p->sockops_defunct = !info.cgroup.cgroup_id;
			cgroup_path_of(p->cgroup_id, p->cgroup, sizeof(p->cgroup));
		}
	}
	return 0;
}

void tk_pinned_close(struct tk_pinned *p)
{
	int *fds[] = { &p->fds.transitions, &p->fds.conns, &p->fds.uncounted,
		       &p->fds.ka_stats, &p->fds.policy, &p->fds.nested,
		       &p->fds.slots };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	for (int i = 0; i < p->fds.nprogs; i++)
		close(p->fds.progs[i]);
	for (int i = 0; i < TK_NLINKS; i++)
		if (p->link_fds[i] >= 0)
			close(p->link_fds[i]);
	memset(p, 0, sizeof(*p));
}

void tk_pinned_attached(bool out[TK_NLINKS])
{
	for (enum tk_link i = 0; i < TK_NLINKS; i++) {
		struct bpf_link_info info;
		int fd = open_link(i, &info);

		out[i] = info.id && (i != TK_LINK_SOCKOPS || info.cgroup.cgroup_id != 0);
		if (fd >= 0)
			close(fd);
	}
}
