// SPDX-License-Identifier: GPL-2.0-only
/*
 * tcpkeep: parse -> libbpf log -> the command: load, attach (or pin), show
 * frames until stopped, detach.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cli.h"
#include "http.h"
#include "metrics.h"
#include "live.h"
#include "loader.h"
#include "pin.h"
#include "reader.h"
#include "render.h"
#include "status.h"

static volatile sig_atomic_t stop;
static bool verbose;

static void on_signal(int sig)
{
	stop = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (!verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* Where sockops goes: --cgroup, checked, else the cgroup v2 root. */
static int pick_cgroup(const struct tk_opts *o, char *buf, size_t len)
{
	if (o->cgroup) {
		if (tk_check_cgroup(o->cgroup))
			return TK_EXIT_USAGE;
		snprintf(buf, len, "%s", o->cgroup);
		return 0;
	}
	if (tk_cgroup2_root(buf, len)) {
		fprintf(stderr, "tcpkeep: no cgroup v2 file system is mounted: "
			"mount -t cgroup2 none /sys/fs/cgroup/unified, or use --no-defaults "
			"without -k to only observe\n");
		return TK_EXIT_FAIL;
	}
	return 0;
}

static void report_existing(int err, unsigned long long n, unsigned long long errors)
{
	if (err == -EOPNOTSUPP)
		fprintf(stderr, "tcpkeep: this kernel lacks bpf_setsockopt from a socket iterator "
			"(needs Linux 5.15): connections opened before now keep their options; "
			"new ones get the policy\n");
	else if (err == -ENOEXEC)
		fprintf(stderr, "tcpkeep: connections opened before now keep their options\n");
	else if (err)
		fprintf(stderr, "tcpkeep: could not update existing connections: %s\n",
			strerror(-err));
	else
		fprintf(stderr, "tcpkeep: keepalive policy set on %llu existing sockets "
			"(%llu failed)\n", n, errors);
}

static void fix_existing(struct tk_loader *l)
{
	unsigned long long n, errors;

	if (l->enf) {
		int err = tk_loader_fix_existing(l, &n, &errors);

		report_existing(err, n, errors);
	}
}

static bool is_pinned(void)
{
	return access(TK_PIN_DIR "/link_set_state", F_OK) == 0;
}

/*
 * One enforcer per host. A second observer and enforcer beside the pinned
 * ones, or beside another run, would double the cost and fight over the
 * options. Under the pin lock (so that no pin is half-way): not pinned,
 * and no other run. The run lock is then held until exit.
 */
static int take_run_lock(void)
{
	int lock = tk_pin_lock(), fd;
	long holder;

	if (lock < 0)
		return lock;
	if (is_pinned()) {
		fprintf(stderr, "tcpkeep: tcpkeep is pinned at %s and already running: watch "
			"it with tcpkeep top, or tcpkeep unpin first\n", TK_PIN_DIR);
		fd = -EBUSY;
	} else {
		fd = tk_run_lock(&holder);
		if (fd == -EWOULDBLOCK)
			fprintf(stderr, "tcpkeep: another tcpkeep run (pid %ld) is attached: watch "
				"it there, or stop it first\n", holder);
	}
	tk_pin_unlock(lock);
	return fd;
}

/* pin, under the pin lock: refused while a run is attached. */
static bool run_attached(void)
{
	long holder = tk_run_holder();

	if (holder)
		fprintf(stderr, "tcpkeep: tcpkeep run (pid %ld) is attached: stop it first; "
			"one tcpkeep enforces per host\n", holder);
	return holder != 0;
}

static int cmd_run(struct tk_opts *o)
{
	bool enforce = tk_policy_count(o->policy) > 0;
	char cgroup[4096] = "";
	struct tk_loader l = { .no_lifetimes = o->no_lifetimes };
	struct tk_http *http = NULL;
	struct tk_source src;
	struct tk_metrics m;
	int ret, run_lock;

	if (enforce) {
		ret = pick_cgroup(o, cgroup, sizeof(cgroup));
		if (ret)
			return ret;
	}
	if (tk_check_environment())
		return TK_EXIT_FAIL;
	run_lock = take_run_lock();
	if (run_lock < 0)
		return TK_EXIT_FAIL;
	ret = TK_EXIT_FAIL;
	if (tk_loader_load(&l, enforce ? o->policy : NULL))
		goto cleanup;
	if (tk_loader_attach(&l, cgroup))
		goto cleanup;
	fix_existing(&l);
	fprintf(stderr, "tcpkeep: attached (observer %s, enforcer %s%s); Ctrl-C to stop\n",
		l.attach_mode, l.enf ? "on " : "off", l.enf ? l.cgroup : "");
	src = (struct tk_source){ &l.fds, l.attach_mode, l.lifetimes_ok, l.dead_peers_ok,
				  l.enf != NULL, l.eph_lo, l.eph_hi };
	m = (struct tk_metrics){ &src, o->export_ports, false };
	if (o->listen) {
		http = tk_http_start(o->listen_fd, tk_metrics_body, &m);
		o->listen_fd = -1;	/* the endpoint has it now */
		if (!http)
			goto cleanup;
	}
	ret = tk_live_view(&src, o, &stop);
cleanup:
	tk_http_stop(http);
	tk_loader_destroy(&l);
	close(run_lock);	/* after the detach: a pin may come now */
	return ret;
}

static int cmd_pin(const struct tk_opts *o)
{
	char cgroup[4096] = "";
	struct tk_loader l = { .pin_dir = TK_PIN_DIR, .no_lifetimes = o->no_lifetimes };
	bool fresh = false;
	int ret, lock;

	ret = pick_cgroup(o, cgroup, sizeof(cgroup));
	if (ret)
		return ret;
	if (tk_check_environment())
		return TK_EXIT_FAIL;
	lock = tk_pin_lock();
	if (lock < 0)
		return TK_EXIT_FAIL;
	ret = TK_EXIT_FAIL;
	if (run_attached() || tk_pin_prepare())
		goto out;
	fresh = !is_pinned();
	if (tk_loader_load(&l, o->policy))
		goto fail;
	if (tk_pin_links(&l, cgroup))
		goto fail;
	if (tk_policy_sync(l.fds.policy, o->policy)) {
		fprintf(stderr, "tcpkeep: cannot write the pinned policy: %s\n", strerror(errno));
		goto fail;
	}
	fix_existing(&l);
	fprintf(stderr, "tcpkeep: pinned at %s (observer %s, enforcer on %s, %zu ports with "
		"a policy)\n", TK_PIN_DIR, l.attach_mode, cgroup, tk_policy_count(o->policy));
	ret = TK_EXIT_OK;
	goto out;
fail:
	/* a first pin that failed leaves nothing; a re-pin leaves what was */
	if (fresh) {
		bool had;

		tk_unpin(&had);
	}
out:
	tk_loader_destroy(&l);
	tk_pin_unlock(lock);
	return ret;
}

static int cmd_unpin(void)
{
	bool had;
	int err, lock;

	if (tk_check_environment())
		return TK_EXIT_FAIL;
	lock = tk_pin_lock();
	if (lock < 0)
		return TK_EXIT_FAIL;
	err = tk_unpin(&had);
	tk_pin_unlock(lock);
	if (err) {
		fprintf(stderr, "tcpkeep: could not remove everything under %s: %s\n",
			TK_PIN_DIR, strerror(-err));
		return TK_EXIT_FAIL;
	}
	if (had)
		fprintf(stderr, "tcpkeep: unpinned: detached and removed %s\n", TK_PIN_DIR);
	else
		fprintf(stderr, "tcpkeep: nothing was pinned at %s\n", TK_PIN_DIR);
	return TK_EXIT_OK;
}

/* Open the pins, or say that nothing is pinned. */
static int open_pinned(struct tk_pinned *p)
{
	int err;

	if (tk_check_environment())
		return TK_EXIT_FAIL;
	err = tk_pinned_open(p);
	if (err) {
		fprintf(stderr, "tcpkeep: cannot open %s: %s\n", TK_PIN_DIR, strerror(-err));
		return TK_EXIT_FAIL;
	}
	if (!p->present || p->fds.policy < 0) {
		fprintf(stderr, "tcpkeep: nothing is pinned at %s: start it with tcpkeep pin\n",
			TK_PIN_DIR);
		tk_pinned_close(p);
		return TK_EXIT_FAIL;
	}
	return 0;
}

static struct tk_source pinned_source(const struct tk_pinned *p)
{
	struct tk_source src = {
		.fds = &p->fds,
		.attach_mode = p->attach_mode,
		.lifetimes_ok = p->lifetimes,
		.dead_peers_ok = p->link_fds[TK_LINK_ERROR_REPORT] >= 0,
		.enforcer_ok = p->link_fds[TK_LINK_SOCKOPS] >= 0 && !p->sockops_defunct,
	};

	tk_ephemeral_range(&src.eph_lo, &src.eph_hi);
	return src;
}

static int cmd_top(const struct tk_opts *o)
{
	struct tk_pinned p;
	struct tk_source src;
	int ret = open_pinned(&p);

	if (ret)
		return ret;
	src = pinned_source(&p);
	ret = tk_live_view(&src, o, &stop);
	tk_pinned_close(&p);
	return ret;
}

static int cmd_status(const struct tk_opts *o)
{
	struct tk_status st = { .pin_dir = TK_PIN_DIR };
	struct tk_snapshot s;
	struct tk_pinned p;
	struct tk_source src;
	struct statfs fs;
	char root[4096];
	int err;

	if (geteuid() != 0) {
		fprintf(stderr, "tcpkeep: needs root to read %s: run it with sudo\n", TK_PIN_DIR);
		return TK_EXIT_FAIL;
	}
	st.btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	st.tp_set_state = st.btf && tk_kernel_has_tracepoint("inet_sock_set_state");
	st.tp_error_report = st.btf && tk_kernel_has_tracepoint("inet_sk_error_report");
	st.bpffs = statfs("/sys/fs/bpf", &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
	st.cgroup2 = tk_cgroup2_root(root, sizeof(root)) == 0;
	st.hides_pid1 = st.btf && tk_kernel_hides_pid1();
	/* without bpffs there is no pin directory: "not pinned" */
	err = tk_pinned_open(&p);
	if (err) {
		fprintf(stderr, "tcpkeep: cannot open %s: %s\n", TK_PIN_DIR, strerror(-err));
		return TK_EXIT_FAIL;
	}
	st.pinned = p.present;
	st.changing = tk_pin_lock_busy();
	st.run_pid = tk_run_holder();
	st.attach_mode = p.attach_mode;
	st.set_state_link = p.link_ids[TK_LINK_SET_STATE];
	st.error_report_link = p.link_ids[TK_LINK_ERROR_REPORT];
	st.sockops_link = p.link_ids[TK_LINK_SOCKOPS];
	st.nested_link = p.link_ids[TK_LINK_NESTED];
	st.cgroup = p.cgroup;
	st.cgroup_id = p.cgroup_id;
	st.sockops_defunct = p.sockops_defunct;
	st.lifetimes = p.lifetimes;
	st.existing = p.link_fds[TK_LINK_SOCKOPS] >= 0 &&
		      tk_kernel_can(TK_FEAT_ITER_SETSOCKOPT);

	tk_snapshot_init(&s);
	if (p.present) {
		src = pinned_source(&p);
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

static int read_policy(const struct tk_pinned *p, struct tk_snapshot *s)
{
	struct tk_fds only = TK_FDS_NONE;

	only.policy = p->fds.policy;

	tk_snapshot_init(s);
	return tk_read_maps(&only, s);
}

static int cmd_policy(const struct tk_opts *o)
{
	struct tk_policy_table *merged = NULL;
	unsigned long long n = 0, errors = 0;
	struct tk_snapshot s;
	struct tk_pinned p;
	int lock = -1, ret;

	/* set and del read, merge and write: one at a time, and not mid-pin */
	if (o->cmd != TK_CMD_POLICY_LIST && geteuid() == 0) {
		lock = tk_pin_lock();
		if (lock < 0)
			return TK_EXIT_FAIL;
	}
	ret = open_pinned(&p);
	if (ret) {
		tk_pin_unlock(lock);
		return ret;
	}
	ret = TK_EXIT_FAIL;
	tk_snapshot_init(&s);
	if (read_policy(&p, &s)) {
		fprintf(stderr, "tcpkeep: cannot read the pinned policy: %s\n", strerror(errno));
		goto out;
	}
	if (o->cmd == TK_CMD_POLICY_LIST) {
		if (o->json) {
			tk_render_policy_json(stdout, &s);
			fputc('\n', stdout);
		} else {
			tk_render_policy_text(stdout, &s);
		}
		ret = TK_EXIT_OK;
		goto out;
	}

	/* set and del: check everything first, then change */
	merged = calloc(1, sizeof(*merged));
	if (!merged)
		goto out;
	for (size_t i = 0; i < s.npolicy; i++) {
		merged->set[s.policy[i].port] = true;
		merged->pol[s.policy[i].port] = s.policy[i].pol;
	}
	for (unsigned int port = 1; port < 65536; port++) {
		if (o->cmd == TK_CMD_POLICY_SET && o->policy->set[port]) {
			merged->set[port] = true;
			merged->pol[port] = o->policy->pol[port];
		}
		if (o->cmd == TK_CMD_POLICY_DEL && o->del_ports[port]) {
			if (!merged->set[port]) {
				fprintf(stderr, "tcpkeep: port %u has no policy (see tcpkeep policy "
					"list); nothing changed\n", port);
				ret = TK_EXIT_USAGE;
				goto out;
			}
			merged->set[port] = false;
		}
	}
	if (tk_policy_count(merged) > TK_MAX_POLICY) {
		fprintf(stderr, "tcpkeep: %zu ports with a keepalive policy: at most %d; nothing "
			"changed\n", tk_policy_count(merged), TK_MAX_POLICY);
		ret = TK_EXIT_USAGE;
		goto out;
	}
	if (tk_policy_sync(p.fds.policy, merged)) {
		fprintf(stderr, "tcpkeep: cannot write the pinned policy: %s\n", strerror(errno));
		goto out;
	}
	fprintf(stderr, "tcpkeep: policy now has %zu ports\n", tk_policy_count(merged));
	ret = TK_EXIT_OK;
	if (o->apply_existing) {
		int err = tk_fix_existing_pinned(TK_PIN_DIR, &n, &errors);

		report_existing(err, n, errors);
		/* a kernel without it was said: the policy itself is in place */
		if (err && err != -EOPNOTSUPP)
			ret = TK_EXIT_FAIL;
	}
out:
	free(merged);
	tk_snapshot_free(&s);
	tk_pinned_close(&p);
	tk_pin_unlock(lock);
	return ret;
}

static int cmd_metrics(struct tk_opts *o)
{
	double interval = o->interval_set ? o->interval : 15;
	struct tk_http *http = NULL;
	struct tk_source src;
	struct tk_metrics m;
	struct tk_pinned p;
	long written = 0;
	int ret = open_pinned(&p);

	if (ret)
		return ret;
	src = pinned_source(&p);
	m = (struct tk_metrics){ &src, o->export_ports, true };
	ret = TK_EXIT_FAIL;
	if (!o->textfile && !o->listen) {
		char *body;
		size_t len;

		if (!tk_metrics_body(&m, &body, &len)) {
			fwrite(body, 1, len, stdout);
			free(body);
			ret = TK_EXIT_OK;
		}
		goto out;
	}
	if (o->listen) {
		http = tk_http_start(o->listen_fd, tk_metrics_body, &m);
		o->listen_fd = -1;
		if (!http)
			goto out;
		fprintf(stderr, "tcpkeep: serving /metrics; Ctrl-C to stop\n");
	}
	ret = TK_EXIT_OK;
	while (!stop) {
		if (o->textfile) {
			char err[512];

			if (tk_metrics_textfile(&m, o->textfile, err, sizeof(err))) {
				fprintf(stderr, "tcpkeep: %s\n", err);
				ret = TK_EXIT_FAIL;
				break;
			}
			if (o->count && ++written >= o->count)
				break;
		}
		/* a signal ends the sleep early: stop is checked again */
		usleep((useconds_t)(interval * 1e6));
	}
out:
	tk_http_stop(http);
	tk_pinned_close(&p);
	return ret;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct tk_opts opts;
	int ret;

	ret = tk_parse_args(argc, argv, &opts);
	if (!ret)
		ret = tk_check_args(&opts);
	if (ret)
		goto out;
	verbose = opts.verbose;
	libbpf_set_print(libbpf_print);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	switch (opts.cmd) {
	case TK_CMD_HELP:
		tk_usage(stdout);
		break;
	case TK_CMD_VERSION:
		printf("tcpkeep %s (libbpf %s)\n", TCPKEEP_VERSION, libbpf_version_string());
		break;
	case TK_CMD_RUN:
		ret = cmd_run(&opts);
		break;
	case TK_CMD_PIN:
		ret = cmd_pin(&opts);
		break;
	case TK_CMD_UNPIN:
		ret = cmd_unpin();
		break;
	case TK_CMD_STATUS:
		ret = cmd_status(&opts);
		break;
	case TK_CMD_TOP:
		ret = cmd_top(&opts);
		break;
	case TK_CMD_POLICY_LIST:
	case TK_CMD_POLICY_SET:
	case TK_CMD_POLICY_DEL:
		ret = cmd_policy(&opts);
		break;
	case TK_CMD_METRICS:
		ret = cmd_metrics(&opts);
		break;
	}
out:
	tk_opts_free(&opts);
	return ret;
}
