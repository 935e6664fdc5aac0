// SPDX-License-Identifier: GPL-2.0-only
/* tcpkeep status: what the host offers, what is pinned and how it does. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include "cmd/cmd.h"
#include "kernel/pin.h"
#include "kernel/sysctl.h"
#include "render/status.h"

int tk_cmd_status(struct tk_opts *o)
{
	struct tk_status st = { .pin_dir = TK_PIN_DIR };
	struct tk_snapshot s;
	struct tk_pinned p;
	struct tk_source src;
	struct statfs fs;
	char root[4096];
	int err;

	st.btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	st.tp_set_state = st.btf && tk_kernel_has_tracepoint("inet_sock_set_state");
	st.tp_error_report = st.btf && tk_kernel_has_tracepoint("inet_sk_error_report");
	st.bpffs = statfs("/sys/fs/bpf", &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
	st.cgroup2 = tk_cgroup2_root(root, sizeof(root)) == 0;
	st.hides_pid1 = st.btf && tk_kernel_hides_pid1();
	for (int i = 0; i < TK_NSYSCTLS; i++)
		st.sysctls[i].err = tk_sysctl_read(tk_status_sysctls[i].name, st.sysctls[i].v,
						   tk_status_sysctls[i].n);
	/* without bpffs there is no pin directory: "not pinned" */
	err = tk_pinned_open(&p);
	if (err) {
		return tk_error("cannot open %s: %s", TK_PIN_DIR, strerror(-err));
	}
	st.pinned = p.present;
	st.changing = tk_pin_lock_busy();
	st.run_pid = tk_run_holder();
	st.attach_mode = p.attach_mode;
	memcpy(st.links, p.link_ids, sizeof(st.links));
	st.cgroup = p.cgroup;
	st.cgroup_id = p.cgroup_id;
	st.sockops_defunct = p.sockops_defunct;
	st.lifetimes = p.lifetimes;
	if (p.link_fds[TK_LINK_SOCKOPS] < 0)
		st.existing = TK_EXISTING_NO;
	else
		switch (tk_kernel_can(TK_FEAT_ITER_SETSOCKOPT)) {
		case TK_CAN_YES: st.existing = TK_EXISTING_YES; break;
		case TK_CAN_NO: st.existing = TK_EXISTING_NO; break;
		case TK_CAN_UNKNOWN: st.existing = TK_EXISTING_UNKNOWN; break;
		}

	tk_snapshot_init(&s);
	if (p.present) {
		src = tk_pinned_source(&p);
		if (tk_take_snapshot(&src, NULL, NULL, &s))
			tk_snapshot_init(&s);
	}
	if (o->json)
		tk_status_json(stdout, &st, &s);
	else
		tk_status_text(stdout, &st, &s);
	tk_snapshot_free(&s);
	tk_pinned_close(&p);
	return tk_status_code(&st);
}
