/* SPDX-License-Identifier: GPL-2.0-only */
/* The capabilities this process holds, and the check before a command. */
#ifndef TK_KERNEL_CAPS_H
#define TK_KERNEL_CAPS_H

#include <stdint.h>
#include "core/caps.h"

/* The effective capabilities (1 << CAP_x); 0 if the kernel would not say. */
uint64_t tk_caps_effective(void);
/*
 * Does this process hold what the command needs (core/caps.c)? 0, or
 * TK_EXIT_FAIL after one line naming the command and what is missing.
 */
int tk_check_caps(enum tk_cmd cmd, bool enforces);

#endif
