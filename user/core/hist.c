// SPDX-License-Identifier: GPL-2.0-only
#include <string.h>
#include "core/hist.h"
#include "tcpkeep.h"

/* A line: "<range> : <count> |<bar>|", the first two this wide. */
#define RANGE_WIDTH 24
#define COUNT_WIDTH 10
#define LINE_WIDTH(bar) (RANGE_WIDTH + 3 + COUNT_WIDTH + 2 + (bar) + 1)
/* a shorter bar no longer tells slots apart */
#define MIN_BAR 10

uint64_t tk_hist_low(unsigned int slot)
{
	return slot ? 1ULL << slot : 0;
}

uint64_t tk_hist_high(unsigned int slot)
{
	return slot >= TK_HIST_OVERFLOW ? 0 : 1ULL << (slot + 1);
}

unsigned int tk_hist_bar_for(int width)
{
	if (width <= 0 || width >= LINE_WIDTH(TK_HIST_BAR))
		return TK_HIST_BAR;
	if (width < LINE_WIDTH(MIN_BAR))
		return 0;
	return width - LINE_WIDTH(0);
}

void tk_hist_print(FILE *f, const uint64_t *slots, unsigned int n, const char *unit,
		   unsigned int bar_len)
{
	unsigned int first = n, last = 0;
	uint64_t max = 0;
	char bar[TK_HIST_BAR + 1];

	for (unsigned int i = 0; i < n; i++) {
		if (!slots[i])
			continue;
		if (first == n)
			first = i;
		last = i;
		if (slots[i] > max)
			max = slots[i];
	}
	if (!max) {
		fprintf(f, "%*s (no connection closed yet)\n", RANGE_WIDTH, "");
		return;
	}
	if (bar_len > TK_HIST_BAR)
		bar_len = TK_HIST_BAR;
	fprintf(f, "%*s : %-*s distribution\n", RANGE_WIDTH, unit, COUNT_WIDTH, "count");
	for (unsigned int i = first; i <= last; i++) {
		int stars = (int)((slots[i] * bar_len + max - 1) / max);
		char range[48];

		memset(bar, '*', stars);
		memset(bar + stars, ' ', bar_len - stars);
		bar[bar_len] = '\0';
		if (i == n - 1)
			snprintf(range, sizeof(range), "%llu -> inf",
				 (unsigned long long)tk_hist_low(i));
		else
			snprintf(range, sizeof(range), "%llu -> %llu",
				 (unsigned long long)tk_hist_low(i),
				 (unsigned long long)tk_hist_high(i) - 1);
		fprintf(f, "%*s : %-*llu |%s|\n", RANGE_WIDTH, range, COUNT_WIDTH,
			(unsigned long long)slots[i], bar);
	}
}
