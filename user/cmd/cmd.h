/* SPDX-License-Identifier: GPL-2.0-only */
/* The commands, one file each, and what they share. */
#ifndef TK_CMD_H
#define TK_CMD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include "core/cli.h"
#include "core/exit.h"
#include "kernel/loader.h"
#include "kernel/source.h"

struct tk_pinned;
struct tk_auditor;

/* Set by SIGINT and SIGTERM: every loop stops at its next wake-up. */
extern volatile sig_atomic_t tk_stop;

/* Each returns an exit code (core/exit.h). */
int tk_cmd_run(struct tk_opts *o);
int tk_cmd_pin(struct tk_opts *o);
int tk_cmd_unpin(struct tk_opts *o);
int tk_cmd_top(struct tk_opts *o);
int tk_cmd_status(struct tk_opts *o);
int tk_cmd_policy(struct tk_opts *o);
int tk_cmd_metrics(struct tk_opts *o);
int tk_cmd_audit(struct tk_opts *o);

/*
 * The checks that look at the system, made before anything is loaded:
 * the capabilities the command needs (TK_EXIT_FAIL if one is missing),
 * the --textfile path, the --listen address (bound here, kept in
 * listen_fd: TK_EXIT_USAGE). 0, or the exit code after printing one line.
 */
int tk_check_args(struct tk_opts *o);
/* Where sockops goes: --cgroup, checked, else the cgroup v2 root. */
int tk_pick_cgroup(const struct tk_opts *o, char *buf, size_t len);
/* Say what updating the connections opened before now did. */
void tk_report_existing(int err, const struct tk_existing *x);
/* Apply the policy to connections opened before now, and say so. */
void tk_fix_existing(struct tk_loader *l);
/* Before a change to what is attached: kernel BTF checked, then the pin
 * lock taken (tk_pin_unlock). Its fd, or -1 after saying why. */
int tk_lock_for_change(void);
/* Is anything pinned at TK_PIN_DIR? */
bool tk_is_pinned(void);
/* Open the pins, or say that nothing is pinned (an exit code). */
int tk_open_pinned(struct tk_pinned *p);
/*
 * The audit for src, with what the options say (--netns, --stuck-after,
 * --audit: the processes of the listed connections): for metrics and
 * audit always, for run and top with --audit. Loads the iterator into au;
 * a refused load is no error here, the outputs say why the audit is
 * missing. tk_auditor_close after.
 */
void tk_audit_source(struct tk_source *src, const struct tk_opts *o, struct tk_auditor *au);
/* The pins as a source of snapshots. */
struct tk_source tk_pinned_source(const struct tk_pinned *p);

#endif
