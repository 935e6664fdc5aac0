/* SPDX-License-Identifier: GPL-2.0-only */
/* Log2 histograms drawn as text bars. */
#ifndef TK_HIST_H
#define TK_HIST_H

#include <stdint.h>
#include <stdio.h>

/* Lower bound of slot i in microseconds (slot 0 starts at 0). */
uint64_t tk_hist_low(unsigned int slot);
/* Upper bound (exclusive) of slot i; 0 for the overflow slot (no bound). */
uint64_t tk_hist_high(unsigned int slot);
/*
 * Print the non-empty span of slots[0..n) as "low -> high : count |***|",
 * the bars scaled to the largest slot; the last slot is the overflow
 * bucket, drawn as "low -> inf".
 */
void tk_hist_print(FILE *f, const uint64_t *slots, unsigned int n, const char *unit);

#endif
