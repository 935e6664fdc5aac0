/* SPDX-License-Identifier: GPL-2.0-only */
/* The live view loop, over any source of maps: a loader's or the pins'. */
#ifndef TK_LIVE_H
#define TK_LIVE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include "core/cli.h"
#include "kernel/source.h"

/* Frames every interval until count frames or *stop; returns an exit code. */
int tk_live_view(const struct tk_source *src, const struct tk_opts *o,
		 volatile sig_atomic_t *stop);

#endif
