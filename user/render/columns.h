/* SPDX-License-Identifier: GPL-2.0-only */
/* Text fitted to a width: tables whose columns come in sets, and lines. */
#ifndef TK_COLUMNS_H
#define TK_COLUMNS_H

#include <stddef.h>

/* Column sets, narrowest first; each shows the columns of the ones before. */
enum tk_colset { TK_SET_NARROW, TK_SET_MIDDLE, TK_SET_FULL };

/* Where a column goes: the first member of each table's columns. */
struct tk_col {
	const char *head;
	int width;
	int group;		/* groups are two spaces apart, columns one */
	enum tk_colset set;	/* the narrowest set that shows it */
};

/* A table's columns: n of them, stride bytes apart, each a struct tk_col first. */
struct tk_cols {
	const void *v;
	size_t n, stride;
};
#define TK_COLS(a) ((struct tk_cols){ (a), sizeof(a) / sizeof((a)[0]), sizeof((a)[0]) })

/* Spaces before c, prev being the last column drawn before it (NULL: none). */
int tk_col_gap(const struct tk_col *c, const struct tk_col *prev);
/* How wide a row of set is. */
int tk_cols_width(struct tk_cols t, enum tk_colset set);
/* The widest set whose rows fit in width columns (0: any width). */
enum tk_colset tk_cols_fit(struct tk_cols t, int width);
/* How many columns set leaves out. */
size_t tk_cols_hidden(struct tk_cols t, enum tk_colset set);

/*
 * Bytes of the first width columns of s[0..n) (width 0: all), a column
 * per UTF-8 character, never cut inside one; *cols: the columns taken.
 */
size_t tk_text_fit(const char *s, size_t n, int width, int *cols);

#endif
