// SPDX-License-Identifier: GPL-2.0-only
/* Load and attach: probes by loading, never by kernel version. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "kernel/loader.h"
#include "kernel/netns.h"
#include "kernel/sysctl.h"
#include "core/policy.h"
#include "enforcer.skel.h"
#include "observer.skel.h"
#include "probe.skel.h"

#define VMLINUX_BTF "/sys/kernel/btf/vmlinux"
#define PATH_MAX_LEN 4096
#define PATH_MAX_FMT "4095"

int tk_check_environment(void)
{
	if (access(VMLINUX_BTF, R_OK)) {
		tk_error("no kernel BTF at %s: tcpkeep needs a kernel built "
			"with CONFIG_DEBUG_INFO_BTF=y (5.5 or later)", VMLINUX_BTF);
		return -ENOENT;
	}
	return 0;
}

/*
 * The kernel's BTF, parsed once per process (several megabytes): every
 * feature question below asks it, and it does not change while we run.
 */
static const struct btf *kernel_btf(void)
{
	static struct btf *btf;
	static bool tried;

	if (!tried) {
		tried = true;
		btf = btf__load_vmlinux_btf();
	}
	return btf;
}

bool tk_kernel_has_tracepoint(const char *name)
{
	const struct btf *btf = kernel_btf();
	char typedef_name[128];

	if (!btf)
		return false;
	snprintf(typedef_name, sizeof(typedef_name), "btf_trace_%s", name);
	return btf__find_by_name_kind(btf, typedef_name, BTF_KIND_TYPEDEF) >= 0;
}

bool tk_kernel_hides_pid1(void)
{
	const struct btf *btf = kernel_btf();
	const struct btf_member *m;
	const struct btf_type *t;
	int id;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, "bpf_prog_aux", BTF_KIND_STRUCT);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	m = t ? btf_members(t) : NULL;
	for (int i = 0; m && i < btf_vlen(t); i++, m++)
		if (!strcmp(btf__name_by_offset(btf, m->name_off), "init_owned"))
			return true;
	return false;
}

/*
 * Can this kernel do f? Asked only after one of tcpkeep's programs failed
 * to load: a tiny program that uses nothing but the feature tells a
 * kernel that lacks it from a verifier that rejected our program. The
 * answer is kept for the process.
 */
enum tk_can tk_kernel_can(enum tk_feature f)
{
	static signed char known[TK_FEAT_MAX];	/* 0 unknown, 1 yes, -1 no */
	struct probe_bpf *p;
	int err;

	if (known[f])
		return known[f] > 0 ? TK_CAN_YES : TK_CAN_NO;
	p = probe_bpf__open();
	if (!p)
		return TK_CAN_UNKNOWN;	/* not a kernel answer: ask again next time */
	bpf_program__set_autoload(p->progs.tk_probe_tp_btf, f == TK_FEAT_TP_BTF);
	bpf_program__set_autoload(p->progs.tk_probe_cmpxchg, f == TK_FEAT_CMPXCHG);
	bpf_program__set_autoload(p->progs.tk_probe_iter_setsockopt,
				  f == TK_FEAT_ITER_SETSOCKOPT);
	err = probe_bpf__load(p);
	probe_bpf__destroy(p);
	/* refused for want of a capability (status with CAP_BPF alone):
	 * that says nothing of the kernel */
	if (err == -EPERM || err == -EACCES)
		return TK_CAN_UNKNOWN;
	known[f] = err ? -1 : 1;
	return err ? TK_CAN_NO : TK_CAN_YES;
}

/*
 * A map already pinned at path must be the one this build declares:
 * libbpf would refuse it anyway, but only as one more failed load that
 * looks like the kernel's doing. -ESTALE, said once, if it differs.
 */
static int check_pinned_map(const struct bpf_map *map, const char *path)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);
	bool same;

	if (fd < 0)
		return 0;	/* not pinned yet: pinned at load */
	same = !bpf_obj_get_info_by_fd(fd, &info, &len) &&
	       info.type == bpf_map__type(map) &&
	       info.key_size == bpf_map__key_size(map) &&
	       info.value_size == bpf_map__value_size(map) &&
	       info.max_entries == bpf_map__max_entries(map) &&
	       info.map_flags == bpf_map__map_flags(map);
	close(fd);
	if (same)
		return 0;
	tk_error("the map %s pinned at %s is not the one this tcpkeep "
		"declares (another version?): run tcpkeep unpin first",
		bpf_map__name(map), path);
	return -ESTALE;
}

/*
 * Maps found pinned in pin_dir are reused (after checking they are ours),
 * the others pinned there at load.
 */
static int set_pin_paths(struct bpf_object *obj, const char *pin_dir)
{
	struct bpf_map *map;
	char path[256];

	if (!pin_dir)
		return 0;
	bpf_object__for_each_map(map, obj) {
		int err;

		if (bpf_map__is_internal(map))
			continue;	/* .bss, .rodata: private to one load */
		snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(map));
		err = check_pinned_map(map, path);
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			return err;
	}
	return 0;
}

static int open_load(struct tk_loader *l, bool btf_mode, bool lifetimes, bool error_report)
{
	struct observer_bpf *o = observer_bpf__open();
	int err;

	if (!o)
		return -errno;
	err = set_pin_paths(o->obj, l->pin_dir);
	if (err) {
		observer_bpf__destroy(o);
		return err;
	}
	o->rodata->eph_lo = l->eph_lo;
	o->rodata->eph_hi = l->eph_hi;
	o->rodata->lifetimes = lifetimes;
	bpf_program__set_autoload(o->progs.tk_set_state_btf, btf_mode && lifetimes);
	bpf_program__set_autoload(o->progs.tk_set_state_btf_nl, btf_mode && !lifetimes);
	bpf_program__set_autoload(o->progs.tk_set_state_raw, !btf_mode);
	bpf_program__set_autoload(o->progs.tk_nested_btf, btf_mode && lifetimes);
	bpf_program__set_autoload(o->progs.tk_nested_btf_nl, btf_mode && !lifetimes);
	bpf_program__set_autoload(o->progs.tk_nested_raw, !btf_mode);
	bpf_program__set_autoload(o->progs.tk_error_report_btf, btf_mode && error_report);
	bpf_program__set_autoload(o->progs.tk_error_report_raw, !btf_mode && error_report);
	err = observer_bpf__load(o);
	if (err) {
		observer_bpf__destroy(o);
		return err;
	}
	l->obs = o;
	return 0;
}

int tk_cgroup2_root(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int err = -ENOENT;

	if (!f)
		return -errno;
	/* "id parent maj:min root mountpoint opts... - fstype source opts" */
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");
		char mnt[PATH_MAX_LEN];

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %" PATH_MAX_FMT "s", mnt) != 1)
			continue;
		snprintf(buf, len, "%s", mnt);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

int tk_check_cgroup(const char *path)
{
	struct statfs fs;
	struct stat st;

	if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
		tk_error("cgroup '%s' is not a directory", path);
		return -ENOTDIR;
	}
	if (statfs(path, &fs) || fs.f_type != CGROUP2_SUPER_MAGIC) {
		tk_error("'%s' is not in a cgroup v2 file system "
			"(find it with: findmnt -t cgroup2)", path);
		return -EINVAL;
	}
	return 0;
}

int tk_policy_sync(int fd, const struct tk_policy_table *t)
{
	__u16 key, next;
	bool first = true;

	for (unsigned int p = 1; p < 65536; p++) {
		__u16 port = p;

		if (t->set[p] && bpf_map_update_elem(fd, &port, &t->pol[p], BPF_ANY))
			return -errno;
	}
	/* then drop ports the table no longer has */
	while (bpf_map_get_next_key(fd, first ? NULL : &key, &next) == 0) {
		first = false;
		key = next;
		if (!t->set[next] && bpf_map_delete_elem(fd, &next) == 0)
			first = true;	/* restart: the walk lost its place */
	}
	return 0;
}

static int load_enforcer(struct tk_loader *l, bool with_iter)
{
	struct enforcer_bpf *e = enforcer_bpf__open();
	int err;

	if (!e)
		return -errno;
	bpf_program__set_autoload(e->progs.tk_iter_existing, with_iter);
	if (l->pin_dir)
		err = set_pin_paths(e->obj, l->pin_dir);
	else
		err = bpf_map__reuse_fd(e->maps.uncounted, bpf_map__fd(l->obs->maps.uncounted));
	if (!err)
		err = enforcer_bpf__load(e);
	if (err) {
		enforcer_bpf__destroy(e);
		return err;
	}
	l->enf = e;
	return 0;
}

/*
 * The iterator's bpf_setsockopt needs 5.15: load with it, else without.
 * l->iter_err says why existing connections cannot be set: -EOPNOTSUPP
 * when the kernel lacks it, -ENOEXEC when its verifier rejected ours.
 */
static int load_enforcer_probed(struct tk_loader *l)
{
	int err = load_enforcer(l, true);

	if (!err) {
		l->iter_err = 0;
		return 0;
	}
	if (err == -ESTALE)
		return err;
	err = load_enforcer(l, false);
	if (err)
		return err;
	if (tk_kernel_can(TK_FEAT_ITER_SETSOCKOPT) == TK_CAN_YES) {
		tk_note("this kernel's verifier rejected tcpkeep's iterator "
			"for existing connections, a tcpkeep bug: run with -v and report it");
		l->iter_err = -ENOEXEC;
	} else {
		l->iter_err = -EOPNOTSUPP;
	}
	return 0;
}

/*
 * The observer, best first: tp_btf with lifetimes, tp_btf without them,
 * raw_tp. Each step down is said once, with its reason: a feature the
 * kernel lacks (probed), or a verifier that rejected our program (a bug).
 */
static int load_observer(struct tk_loader *l, bool error_report)
{
	bool lifetimes = !l->no_lifetimes;
	int err;

	err = open_load(l, true, lifetimes, error_report);
	if (!err || err == -ESTALE)
		goto out;
	if (tk_kernel_can(TK_FEAT_TP_BTF) == TK_CAN_NO) {
		tk_note("this kernel lacks tp_btf programs (needs Linux 5.5): "
			"using raw_tp: no lifetimes, direction by the port rule");
		goto raw;
	}
	if (lifetimes && tk_kernel_can(TK_FEAT_CMPXCHG) == TK_CAN_NO) {
		tk_note("this kernel lacks BPF compare-and-exchange (needs "
			"Linux 5.12): no lifetimes, direction by the port rule");
	} else {
		tk_note("this kernel's verifier rejected the observer, a "
			"tcpkeep bug: run with -v and report it; falling back to %s",
			lifetimes ? "tp_btf without lifetimes" : "raw_tp");
		if (!lifetimes)
			goto raw;
	}
	lifetimes = false;
	err = open_load(l, true, lifetimes, error_report);
	if (!err)
		goto out;
	tk_note("this kernel's verifier rejected the observer without "
		"lifetimes too, a tcpkeep bug: run with -v and report it; falling back to "
		"raw_tp");
raw:
	err = open_load(l, false, false, error_report);
	if (err && err != -ESTALE)
		tk_error("cannot load the observer (%s); run with -v for the "
			"verifier's log", strerror(-err));
	if (!err)
		l->attach_mode = "raw_tp";
	return err;
out:
	if (!err) {
		l->attach_mode = "tp_btf";
		l->lifetimes_ok = lifetimes;
	}
	return err;
}

int tk_loader_load(struct tk_loader *l, const struct tk_policy_table *policy)
{
	bool error_report = tk_kernel_has_tracepoint("inet_sk_error_report");
	int err;

	l->fds = TK_FDS_NONE;
	tk_ephemeral_range(&l->eph_lo, &l->eph_hi);
	if (!tk_kernel_has_tracepoint("inet_sock_set_state")) {
		tk_error("the kernel has no sock:inet_sock_set_state tracepoint "
			"(needs Linux 4.16 or later)");
		return -ENOENT;
	}

	err = load_observer(l, error_report);
	if (err)
		return err;
	l->dead_peers_ok = error_report;
	if (tk_kernel_hides_pid1())
		tk_note("this kernel never runs tracing programs while a thread "
			"of PID 1 is on the CPU (bpf_prog_aux.init_owned): transitions the kernel "
			"handles then are neither counted nor missed");
	if (!error_report)
		tk_note("this kernel lacks the sock:inet_sk_error_report "
			"tracepoint (needs Linux 5.14): dead peers are not counted");

	l->fds.transitions = bpf_map__fd(l->obs->maps.transitions);
	l->fds.conns = bpf_map__fd(l->obs->maps.conns);
	l->fds.uncounted = bpf_map__fd(l->obs->maps.uncounted);
	l->fds.nested = bpf_map__fd(l->obs->maps.nested);
	l->fds.slots = bpf_map__fd(l->obs->maps.slots);

	/* run: an empty policy means observer only; pin always loads the
	 * enforcer so that `policy set` works later without a re-pin */
	if (!policy || (!l->pin_dir && !tk_policy_count(policy)))
		return 0;
	err = load_enforcer_probed(l);
	if (err == -ESTALE)
		return err;
	if (err) {
		tk_error("cannot load the keepalive enforcer (%s): "
			"sockops bpf_setsockopt of keepalive options needs Linux 5.9 "
			"or later; run with -v for the verifier's log", strerror(-err));
		return err;
	}
	/* pinned: the caller syncs the policy once the links are in place */
	err = l->pin_dir ? 0 : tk_policy_sync(bpf_map__fd(l->enf->maps.policy), policy);
	if (err) {
		tk_error("cannot fill the policy map: %s", strerror(-err));
		return err;
	}
	l->fds.ka_stats = bpf_map__fd(l->enf->maps.ka_stats);
	l->fds.policy = bpf_map__fd(l->enf->maps.policy);
	return 0;
}

/* Explain an EPERM from a cgroup attach: who holds the cgroup. */
static void explain_cgroup_eperm(const char *cgroup, int cgfd)
{
	__u32 ids[64], cnt = 64, flags = 0;

	if (bpf_prog_query(cgfd, BPF_CGROUP_SOCK_OPS, 0, &flags, ids, &cnt) == 0 && cnt &&
	    !(flags & BPF_F_ALLOW_MULTI)) {
		tk_error("cannot attach sockops to %s: another tool holds it "
			"exclusively (program id %u attached %s); detach it or use --cgroup",
			cgroup, ids[0], flags & BPF_F_ALLOW_OVERRIDE ?
			"with BPF_F_ALLOW_OVERRIDE" : "without BPF_F_ALLOW_MULTI");
		return;
	}
	tk_error("cannot attach sockops to %s: permission denied (a sockops "
		"program attached without BPF_F_ALLOW_MULTI on it or on a parent cgroup holds "
		"it exclusively; see bpftool cgroup tree)", cgroup);
}

static struct bpf_link *attach_sockops(struct bpf_program *prog, const char *cgroup)
{
	struct bpf_link *link;
	int cgfd, err;

	cgfd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0) {
		err = -errno;
		tk_error("cannot open cgroup %s: %s", cgroup, strerror(-err));
		errno = -err;
		return NULL;
	}
	/* libbpf 1.1 does not auto-attach sockops: attach it ourselves */
	link = bpf_program__attach_cgroup(prog, cgfd);
	if (!link) {
		err = -errno;
		if (err == -EPERM)
			explain_cgroup_eperm(cgroup, cgfd);
		else
			tk_error("cannot attach sockops to %s: %s", cgroup,
				strerror(-err));
		errno = -err;
	}
	close(cgfd);
	return link;
}

#define OBSERVER_MODES 3

struct bpf_program *tk_loader_prog(const struct tk_loader *l, enum tk_link role)
{
	/* each role's programs, at most one per observer mode (tp_btf,
	 * tp_btf without lifetimes, raw_tp): the one loaded is the role's */
	const struct observer_bpf *o = l->obs;
	struct bpf_program *const progs[TK_NLINKS][OBSERVER_MODES] = {
		[TK_LINK_SET_STATE] = { o->progs.tk_set_state_btf, o->progs.tk_set_state_btf_nl,
					o->progs.tk_set_state_raw },
		[TK_LINK_NESTED] = { o->progs.tk_nested_btf, o->progs.tk_nested_btf_nl,
				     o->progs.tk_nested_raw },
		[TK_LINK_ERROR_REPORT] = { o->progs.tk_error_report_btf,
					   o->progs.tk_error_report_raw },
		[TK_LINK_SOCKOPS] = { l->enf ? l->enf->progs.tk_sockops : NULL },
	};

	if (role == TK_LINK_ERROR_REPORT && !l->dead_peers_ok)
		return NULL;
	for (size_t i = 0; i < OBSERVER_MODES; i++)
		if (progs[role][i] && bpf_program__autoload(progs[role][i]))
			return progs[role][i];
	return NULL;
}

struct bpf_link *tk_loader_attach_role(const struct tk_loader *l, enum tk_link role,
				       const char *cgroup)
{
	struct bpf_program *prog = tk_loader_prog(l, role);
	struct bpf_link *link;
	int err;

	if (role == TK_LINK_SOCKOPS)
		return attach_sockops(prog, cgroup);	/* says its own causes */
	link = bpf_program__attach(prog);
	if (!link) {
		err = -errno;
		tk_error("cannot attach %s: %s", bpf_program__name(prog), strerror(-err));
		errno = -err;
	}
	return link;
}

static void destroy_links(struct tk_loader *l)
{
	for (int i = 0; i < TK_NLINKS; i++) {
		bpf_link__destroy(l->links[i]);
		l->links[i] = NULL;
	}
}

struct existing_arg {
	struct tk_loader *l;
	int link_fd;
};

/* Walk the sockets of one namespace: the iterator takes the namespace of
 * the thread that creates its file, this one's. */
static int existing_in(struct tk_netns *ns, uint32_t index, void *p)
{
	struct existing_arg *a = p;
	char buf[256];
	int fd, err;

	(void)ns;
	(void)index;
	fd = bpf_iter_create(a->link_fd);
	if (fd < 0)
		return -errno;
	/* reading runs the program over every TCP socket of the namespace */
	while ((err = read(fd, buf, sizeof(buf))) > 0)
		;
	err = err < 0 ? -errno : 0;
	close(fd);
	return err;
}

int tk_loader_fix_existing(struct tk_loader *l, struct tk_existing *x)
{
	struct existing_arg a = { .l = l };
	struct tk_netns_list list;
	struct bpf_link *link;
	int err;

	memset(x, 0, sizeof(*x));
	if (!l->enf)
		return 0;
	if (l->iter_err)
		return l->iter_err;
	link = bpf_program__attach_iter(l->enf->progs.tk_iter_existing, NULL);
	if (!link)
		return -errno;
	a.link_fd = bpf_link__fd(link);
	l->enf->bss->iter_sockets = l->enf->bss->iter_errors = 0;
	err = tk_netns_each(&list, existing_in, &a);
	for (size_t i = 0; i < list.n; i++) {
		if (!list.v[i].err) {
			x->netns++;
		} else if (!list.v[i].self) {
			if (!x->unvisited++)
				x->unvisited_err = list.v[i].err;
		}
	}
	x->unvisited += (unsigned int)list.over;
	x->sockets = l->enf->bss->iter_sockets;
	x->errors = l->enf->bss->iter_errors;
	tk_netns_list_free(&list);
	bpf_link__destroy(link);
	return err;
}

int tk_fix_existing_pinned(const char *pin_dir, struct tk_existing *x)
{
	struct tk_loader l = { .pin_dir = pin_dir };
	int err;

	memset(x, 0, sizeof(*x));
	/* only the iterator runs; every map is the pinned one */
	err = load_enforcer_probed(&l);
	if (!err)
		err = tk_loader_fix_existing(&l, x);
	enforcer_bpf__destroy(l.enf);
	return err;
}

int tk_loader_attach(struct tk_loader *l, const char *cgroup)
{
	/* in role order: sockops last, once everything is observed */
	for (enum tk_link i = 0; i < TK_NLINKS; i++) {
		struct bpf_program *prog = tk_loader_prog(l, i);
		int err;

		if (!prog)
			continue;
		l->links[i] = tk_loader_attach_role(l, i, cgroup);
		if (!l->links[i]) {
			err = -errno;
			destroy_links(l);
			l->fds.nprogs = 0;
			return err;
		}
		if (tk_links[i].misses)
			l->fds.progs[l->fds.nprogs++] = bpf_program__fd(prog);
	}
	if (l->enf)
		l->cgroup = cgroup;
	return 0;
}

void tk_loader_destroy(struct tk_loader *l)
{
	destroy_links(l);
	enforcer_bpf__destroy(l->enf);
	l->enf = NULL;
	observer_bpf__destroy(l->obs);
	l->obs = NULL;
}
