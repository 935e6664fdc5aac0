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
/* The longest bar, which makes a line 80 columns wide. */
#define TK_HIST_BAR 40
/*
 * The longest bar, up to TK_HIST_BAR, whose lines fit in width columns
 * (0: no limit); 0 when not even a bar short enough to read would fit.
 */
unsigned int tk_hist_bar_for(int width);
/*
 * Print the non-empty span of slots[0..n) as "low -> high : count |***|",
 * bars of up to bar_len stars (at most TK_HIST_BAR) scaled to the largest
 * slot; the last slot is the overflow bucket, drawn as "low -> inf".
 */
void tk_hist_print(FILE *f, const uint64_t *slots, unsigned int n, const char *unit,
		   unsigned int bar_len);

#endif
