// SPDX-License-Identifier: GPL-2.0-only
/* The JSON writer (json.h): no allocation, stdio only. */
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include "core/json.h"

void tk_json_init(struct tk_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

int tk_json_finish(const struct tk_json *j)
{
	return !j->broken && j->done ? 0 : -1;
}

static bool misuse(struct tk_json *j)
{
	j->broken = true;
	return false;
}

/* Before a value: its comma, or the check that a key is due. */
static bool value_begins(struct tk_json *j)
{
	unsigned int top;

	if (j->broken)
		return false;
	if (!j->depth)
		return j->done ? misuse(j) : true;
	top = j->depth - 1;
	if (j->object[top]) {
		if (!j->key)
			return misuse(j);
		j->key = false;
		return true;
	}
	if (j->items[top])
		fputc(',', j->f);
	j->items[top] = true;
	return true;
}

static void value_ends(struct tk_json *j)
{
	if (!j->depth)
		j->done = true;
}

/*
 * Length of the valid UTF-8 sequence at s (Unicode table 3-7: no
 * overlongs, no surrogates, nothing above U+10FFFF), 0 if there is none.
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;	/* below: overlong */
		else if (s[0] == 0xed)
			hi = 0x9f;	/* above: surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;	/* below: overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f;	/* above: beyond U+10FFFF */
	} else {
		return 0;	/* 80..c1 and f5..ff never lead (ASCII is not passed here) */
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static void put_string(FILE *f, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;	/* s[run..i) passes through unchanged */

	fputc('"', f);
	while (i < n) {
		unsigned char c = s[i];
		const char *esc = NULL;
		size_t len = 1;

		if (c >= 0x80) {
			len = utf8_len(s + i, n - i);
			if (!len) {
				esc = "\\ufffd";	/* this byte only: resync on the next */
				len = 1;
			}
		} else if (c == '"') {
			esc = "\\\"";
		} else if (c == '\\') {
			esc = "\\\\";
		} else if (c < 0x20) {
			switch (c) {
			case '\b': esc = "\\b"; break;
			case '\f': esc = "\\f"; break;
			case '\n': esc = "\\n"; break;
			case '\r': esc = "\\r"; break;
			case '\t': esc = "\\t"; break;
			default: esc = "";	/* \u00XX below */
			}
		}
		if (!esc) {
			i += len;
			continue;
		}
		fwrite(s + run, 1, i - run, f);
		if (*esc)
			fputs(esc, f);
		else
			fprintf(f, "\\u%04x", c);
		i += len;
		run = i;
	}
	fwrite(s + run, 1, i - run, f);
	fputc('"', f);
}

static void begin(struct tk_json *j, bool object)
{
	if (j->depth >= TK_JSON_MAX_DEPTH) {
		misuse(j);
		return;
	}
	if (!value_begins(j))
		return;
	fputc(object ? '{' : '[', j->f);
	j->object[j->depth] = object;
	j->items[j->depth] = false;
	j->depth++;
}

static void end(struct tk_json *j, bool object)
{
	if (j->broken)
		return;
	if (!j->depth || j->object[j->depth - 1] != object || j->key) {
		misuse(j);
		return;
	}
	fputc(object ? '}' : ']', j->f);
	j->depth--;
	value_ends(j);
}

void tk_json_begin_object(struct tk_json *j)
{
	begin(j, true);
}

void tk_json_end_object(struct tk_json *j)
{
	end(j, true);
}

void tk_json_begin_array(struct tk_json *j)
{
	begin(j, false);
}

void tk_json_end_array(struct tk_json *j)
{
	end(j, false);
}

void tk_json_keyn(struct tk_json *j, const char *k, size_t n)
{
	unsigned int top;

	if (j->broken)
		return;
	if (!j->depth || !j->object[j->depth - 1] || j->key || !k) {
		misuse(j);
		return;
	}
	top = j->depth - 1;
	if (j->items[top])
		fputc(',', j->f);
	j->items[top] = true;
	put_string(j->f, k, n);
	fputc(':', j->f);
	j->key = true;
}

void tk_json_key(struct tk_json *j, const char *k)
{
	tk_json_keyn(j, k, k ? strlen(k) : 0);
}

void tk_json_stringn(struct tk_json *j, const char *s, size_t n)
{
	if (!s) {
		tk_json_null(j);
		return;
	}
	if (!value_begins(j))
		return;
	put_string(j->f, s, n);
	value_ends(j);
}

void tk_json_string(struct tk_json *j, const char *s)
{
	tk_json_stringn(j, s, s ? strlen(s) : 0);
}

void tk_json_u64(struct tk_json *j, uint64_t v)
{
	if (!value_begins(j))
		return;
	fprintf(j->f, "%" PRIu64, v);
	value_ends(j);
}

void tk_json_i64(struct tk_json *j, int64_t v)
{
	if (!value_begins(j))
		return;
	fprintf(j->f, "%" PRId64, v);
	value_ends(j);
}

void tk_json_double(struct tk_json *j, double v, int prec)
{
	if (prec < 0 || prec > 17) {
		misuse(j);
		return;
	}
	if (!isfinite(v)) {
		tk_json_null(j);
		return;
	}
	if (!value_begins(j))
		return;
	fprintf(j->f, "%.*f", prec, v);
	value_ends(j);
}

static void literal(struct tk_json *j, const char *word)
{
	if (!value_begins(j))
		return;
	fputs(word, j->f);
	value_ends(j);
}

void tk_json_bool(struct tk_json *j, bool b)
{
	literal(j, b ? "true" : "false");
}

void tk_json_null(struct tk_json *j)
{
	literal(j, "null");
}
