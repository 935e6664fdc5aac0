// SPDX-License-Identifier: GPL-2.0-only
/* Load and attach: probes by loading, never by kernel version. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "loader.h"
#include "observer.skel.h"

#define VMLINUX_BTF "/sys/kernel/btf/vmlinux"

int tk_check_environment(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "tcpkeep: needs root (CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN): "
			"run it with sudo\n");
		return -EPERM;
	}
	if (access(VMLINUX_BTF, R_OK)) {
		fprintf(stderr, "tcpkeep: no kernel BTF at %s: tcpkeep needs a kernel built "
			"with CONFIG_DEBUG_INFO_BTF=y (5.5 or later)\n", VMLINUX_BTF);
		return -ENOENT;
	}
	return 0;
}

void tk_ephemeral_range(uint16_t *lo, uint16_t *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
	unsigned int a, b;

	*lo = 32768;
	*hi = 60999;
	if (!f)
		return;
	if (fscanf(f, "%u %u", &a, &b) == 2 && a > 0 && a <= b && b <= 65535) {
		*lo = a;
		*hi = b;
	}
	fclose(f);
}

static bool kernel_has_tracepoint(const char *name)
{
	struct btf *btf = btf__load_vmlinux_btf();
	char typedef_name[128];
	bool found;

	if (!btf)
		return false;
	snprintf(typedef_name, sizeof(typedef_name), "btf_trace_%s", name);
	found = btf__find_by_name_kind(btf, typedef_name, BTF_KIND_TYPEDEF) >= 0;
	btf__free(btf);
	return found;
}

static int open_load(struct tk_loader *l, bool btf_mode, bool error_report)
{
	struct observer_bpf *o = observer_bpf__open();
	int err;

	if (!o)
		return -errno;
	o->rodata->eph_lo = l->eph_lo;
	o->rodata->eph_hi = l->eph_hi;
	bpf_program__set_autoload(o->progs.tk_set_state_btf, btf_mode);
	bpf_program__set_autoload(o->progs.tk_set_state_raw, !btf_mode);
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

int tk_loader_load(struct tk_loader *l)
{
	bool error_report = kernel_has_tracepoint("inet_sk_error_report");
	int err;

	l->fds = (struct tk_fds){ -1, -1, -1, -1, -1, {0}, 0 };
	tk_ephemeral_range(&l->eph_lo, &l->eph_hi);
	if (!kernel_has_tracepoint("inet_sock_set_state")) {
		fprintf(stderr, "tcpkeep: the kernel has no sock:inet_sock_set_state tracepoint "
			"(needs Linux 4.16 or later)\n");
		return -ENOENT;
	}

	/* tp_btf first: only it can keep socket-local storage (lifetimes) */
	err = open_load(l, true, error_report);
	if (!err) {
		l->attach_mode = "tp_btf";
	} else {
		err = open_load(l, false, error_report);
		if (err) {
			fprintf(stderr, "tcpkeep: cannot load the observer (%s); run with -v "
				"for the verifier's log\n", strerror(-err));
			return err;
		}
		l->attach_mode = "raw_tp";
		fprintf(stderr, "tcpkeep: tp_btf not available, using raw_tp: no lifetimes, "
			"direction by port rule\n");
	}
	l->dead_peers_ok = error_report;
	if (!error_report)
		fprintf(stderr, "tcpkeep: no sock:inet_sk_error_report tracepoint (Linux 5.14+): "
			"dead peers are not counted\n");

	l->fds.transitions = bpf_map__fd(l->obs->maps.transitions);
	l->fds.conns = bpf_map__fd(l->obs->maps.conns);
	l->fds.uncounted = bpf_map__fd(l->obs->maps.uncounted);
	return 0;
}

static int attach_prog(struct tk_loader *l, struct bpf_program *prog)
{
	struct bpf_link *link;

	if (!bpf_program__autoload(prog))
		return 0;
	link = bpf_program__attach(prog);
	if (!link)
		return -errno;
	l->links[l->nlinks++] = link;
	l->fds.progs[l->fds.nprogs++] = bpf_program__fd(prog);
	return 0;
}

int tk_loader_attach(struct tk_loader *l)
{
	struct observer_bpf *o = l->obs;
	struct bpf_program *progs[] = {
		o->progs.tk_set_state_btf, o->progs.tk_set_state_raw,
		o->progs.tk_error_report_btf, o->progs.tk_error_report_raw,
	};
	int err;

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		err = attach_prog(l, progs[i]);
		if (err) {
			fprintf(stderr, "tcpkeep: cannot attach %s: %s\n",
				bpf_program__name(progs[i]), strerror(-err));
			goto fail;
		}
	}
	return 0;
fail:
	for (int i = 0; i < l->nlinks; i++)
		bpf_link__destroy(l->links[i]);
	l->nlinks = 0;
	l->fds.nprogs = 0;
	return err;
}

void tk_loader_destroy(struct tk_loader *l)
{
	for (int i = 0; i < l->nlinks; i++)
		bpf_link__destroy(l->links[i]);
	l->nlinks = 0;
	observer_bpf__destroy(l->obs);
	l->obs = NULL;
}
