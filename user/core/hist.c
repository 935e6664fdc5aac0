// SPDX-License-Identifier: GPL-2.0-only
#include <string.h>
#include "core/hist.h"
#include "tcpkeep.h"

#define BAR_WIDTH 40

uint64_t tk_hist_low(unsigned int slot)
{
	return slot ? 1ULL << slot : 0;
}

uint64_t tk_hist_high(unsigned int slot)
{
	return slot >= TK_HIST_OVERFLOW ? 0 : 1ULL << (slot + 1);
}

void tk_hist_print(FILE *f, const uint64_t *slots, unsigned int n, const char *unit)
{
	unsigned int first = n, last = 0;
	uint64_t max = 0;
	char bar[BAR_WIDTH + 1];

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
		fprintf(f, "%24s (no connection closed yet)\n", "");
		return;
	}
	fprintf(f, "%24s : count      distribution\n", unit);
	for (unsigned int i = first; i <= last; i++) {
		int stars = (int)((slots[i] * BAR_WIDTH + max - 1) / max);
		char range[48];

		memset(bar, '*', stars);
		memset(bar + stars, ' ', BAR_WIDTH - stars);
		bar[BAR_WIDTH] = '\0';
		if (i == n - 1 && n == TK_HIST_SLOTS)
			snprintf(range, sizeof(range), "%llu -> inf",
				 (unsigned long long)tk_hist_low(i));
		else
			snprintf(range, sizeof(range), "%llu -> %llu",
				 (unsigned long long)tk_hist_low(i),
				 (unsigned long long)tk_hist_high(i) - 1);
		fprintf(f, "%24s : %-10llu |%s|\n", range,
			(unsigned long long)slots[i], bar);
	}
}
