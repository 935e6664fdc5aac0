// SPDX-License-Identifier: GPL-2.0-only
/* Text fitted to a width: one layout rule for the tables, one cut for lines. */
#include <stdbool.h>
#include "render/columns.h"

static const struct tk_col *col_at(struct tk_cols t, size_t i)
{
	return (const struct tk_col *)((const char *)t.v + i * t.stride);
}

int tk_col_gap(const struct tk_col *c, const struct tk_col *prev)
{
	if (!prev)
		return 0;
	return c->group == prev->group ? 1 : 2;
}

int tk_cols_width(struct tk_cols t, enum tk_colset set)
{
	const struct tk_col *prev = NULL;
	int w = 0;

	for (size_t i = 0; i < t.n; i++) {
		const struct tk_col *c = col_at(t, i);

		if (c->set > set)
			continue;
		w += tk_col_gap(c, prev) + c->width;
		prev = c;
	}
	return w;
}

enum tk_colset tk_cols_fit(struct tk_cols t, int width)
{
	enum tk_colset set = TK_SET_FULL;

	while (width > 0 && set > TK_SET_NARROW && tk_cols_width(t, set) > width)
		set--;
	return set;
}

size_t tk_cols_hidden(struct tk_cols t, enum tk_colset set)
{
	size_t n = 0;

	for (size_t i = 0; i < t.n; i++)
		n += col_at(t, i)->set > set;
	return n;
}

size_t tk_text_fit(const char *s, size_t n, int width, int *cols)
{
	size_t i;

	*cols = 0;
	for (i = 0; i < n; i++) {
		bool starts_char = ((unsigned char)s[i] & 0xc0) != 0x80;

		if (starts_char && width > 0 && *cols == width)
			break;
		*cols += starts_char;
	}
	return i;
}
