// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the JSON writer (core/json.c). Each input is used
 * three ways:
 *  1. as one string, and as one key: the output must parse (a strict
 *     validator below) and decode to the input with each byte of invalid
 *     UTF-8 as U+FFFD, computed here by a decoder written apart from the
 *     writer's table;
 *  2. as calls to the writer, mended so they are well formed: the writer
 *     must accept them and its output must parse;
 *  3. as the same calls, raw: misuse must never write out of bounds, and
 *     whatever the writer calls complete must parse.
 * Built with ASan and UBSan; tests/test_fuzz.py runs it for a fixed
 * number of inputs, `make fuzz` longer.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A byte buffer that grows; out of memory is not what is fuzzed here. */
struct buf {
	unsigned char *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *s, size_t n)
{
	if (!n)
		return;
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 16;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void put_cp(struct buf *b, uint32_t cp)
{
	unsigned char u[4];

	if (cp < 0x80) {
		u[0] = cp;
		put(b, u, 1);
	} else if (cp < 0x800) {
		u[0] = 0xc0 | cp >> 6;
		u[1] = 0x80 | (cp & 0x3f);
		put(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = 0xe0 | cp >> 12;
		u[1] = 0x80 | (cp >> 6 & 0x3f);
		u[2] = 0x80 | (cp & 0x3f);
		put(b, u, 3);
	} else {
		u[0] = 0xf0 | cp >> 18;
		u[1] = 0x80 | (cp >> 12 & 0x3f);
		u[2] = 0x80 | (cp >> 6 & 0x3f);
		u[3] = 0x80 | (cp & 0x3f);
		put(b, u, 4);
	}
}

/*
 * Decode one UTF-8 sequence at s by arithmetic (not by the writer's table
 * of second-byte ranges): its length, or 0 if it is not valid, with the
 * code point in *cp.
 */
static size_t decode_utf8(const unsigned char *s, size_t n, uint32_t *cp)
{
	static const uint32_t min[4] = { 0, 0x80, 0x800, 0x10000 };
	size_t more;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		more = 1;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		more = 2;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		more = 3;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n <= more)
		return 0;
	for (size_t i = 1; i <= more; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min[more] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return more + 1;
}

/* What a string of these bytes must decode to: bad bytes as U+FFFD each. */
static void expected(struct buf *b, const unsigned char *s, size_t n)
{
	uint32_t cp;

	for (size_t i = 0; i < n;) {
		size_t len = decode_utf8(s + i, n - i, &cp);

		if (len) {
			put(b, s + i, len);
			i += len;
		} else {
			put_cp(b, 0xfffd);
			i++;
		}
	}
}

/* A strict JSON parser: RFC 8259, no whitespace (the writer writes none). */
struct parser {
	const unsigned char *p, *end;
	int depth;
};

static bool parse_value(struct parser *ps, struct buf *str);

static int hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A string, decoded into out (if given). */
static bool parse_string(struct parser *ps, struct buf *out)
{
	struct buf scratch = { 0 };
	bool ok = false;
	uint32_t cp;

	if (!out)
		out = &scratch;
	if (ps->p == ps->end || *ps->p++ != '"')
		goto out;
	while (ps->p < ps->end && *ps->p != '"') {
		const unsigned char *s = ps->p;
		size_t len;

		if (*s < 0x20)
			goto out;	/* raw control bytes are not JSON */
		if (*s != '\\') {
			len = decode_utf8(s, ps->end - s, &cp);
			if (!len)
				goto out;	/* nor is invalid UTF-8 */
			put(out, s, len);
			ps->p += len;
			continue;
		}
		if (ps->end - s < 2)
			goto out;
		ps->p += 2;
		switch (s[1]) {
		case '"': case '\\': case '/': put(out, s + 1, 1); break;
		case 'b': put(out, "\b", 1); break;
		case 'f': put(out, "\f", 1); break;
		case 'n': put(out, "\n", 1); break;
		case 'r': put(out, "\r", 1); break;
		case 't': put(out, "\t", 1); break;
		case 'u':
			if (ps->end - ps->p < 4)
				goto out;
			cp = 0;
			for (int i = 0; i < 4; i++) {
				if (hex(ps->p[i]) < 0)
					goto out;
				cp = cp << 4 | hex(ps->p[i]);
			}
			ps->p += 4;
			/* the writer escapes only control bytes and U+FFFD: no
			 * surrogate pairs to join */
			if (cp >= 0xd800 && cp <= 0xdfff)
				goto out;
			put_cp(out, cp);
			break;
		default:
			goto out;
		}
	}
	if (ps->p == ps->end)
		goto out;
	ps->p++;
	ok = true;
out:
	free(scratch.p);
	return ok;
}

static bool digits(struct parser *ps)
{
	const unsigned char *start = ps->p;

	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
		ps->p++;
	return ps->p > start;
}

static bool parse_number(struct parser *ps)
{
	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p < ps->end && *ps->p == '0')
		ps->p++;
	else if (!digits(ps))
		return false;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!digits(ps))
			return false;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!digits(ps))
			return false;
	}
	return true;
}

static bool parse_word(struct parser *ps, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n))
		return false;
	ps->p += n;
	return true;
}

static bool parse_container(struct parser *ps, bool object)
{
	unsigned char close = object ? '}' : ']';

	ps->p++;
	if (++ps->depth > TK_JSON_MAX_DEPTH)
		return false;	/* the writer never nests deeper */
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return true;
	}
	for (;;) {
		if (object && (!parse_string(ps, NULL) || ps->p == ps->end || *ps->p++ != ':'))
			return false;
		if (!parse_value(ps, NULL) || ps->p == ps->end)
			return false;
		if (*ps->p == close) {
			ps->p++;
			ps->depth--;
			return true;
		}
		if (*ps->p++ != ',')
			return false;
	}
}

/* One value; a string one decoded into str (if given). */
static bool parse_value(struct parser *ps, struct buf *str)
{
	if (ps->p == ps->end)
		return false;
	switch (*ps->p) {
	case '{': return parse_container(ps, true);
	case '[': return parse_container(ps, false);
	case '"': return parse_string(ps, str);
	case 't': return parse_word(ps, "true");
	case 'f': return parse_word(ps, "false");
	case 'n': return parse_word(ps, "null");
	default: return parse_number(ps);
	}
}

/* out[0..n) is exactly one JSON value; a string one decoded into str. */
static bool valid_json(const char *out, size_t n, struct buf *str)
{
	struct parser ps = { (const unsigned char *)out, (const unsigned char *)out + n, 0 };

	return parse_value(&ps, str) && ps.p == ps.end;
}

/* 1: the input as a string, and as a key */
static void check_string(const uint8_t *data, size_t size)
{
	struct buf want = { 0 }, got = { 0 };
	struct tk_json j;
	char *out = NULL;
	size_t n = 0;
	FILE *f;

	expected(&want, data, size);
	for (int as_key = 0; as_key < 2; as_key++) {
		f = open_memstream(&out, &n);
		if (!f)
			abort();
		tk_json_init(&j, f);
		if (as_key) {
			tk_json_begin_object(&j);
			tk_json_keyn(&j, (const char *)data, size);
			tk_json_null(&j);
			tk_json_end_object(&j);
		} else {
			tk_json_stringn(&j, (const char *)data, size);
		}
		fclose(f);
		if (tk_json_finish(&j) || !valid_json(out, n, &got))
			abort();
		/* as a key: {"...":null}, the string between the braces */
		if (as_key) {
			struct parser ps = { (unsigned char *)out + 1,
					     (unsigned char *)out + n, 0 };

			got.n = 0;
			if (!parse_string(&ps, &got))
				abort();
		}
		if (got.n != want.n || (want.n && memcmp(got.p, want.p, want.n)))
			abort();
		got.n = 0;
		free(out);
		out = NULL;
	}
	free(want.p);
	free(got.p);
}

/* What the calls of 2 and 3 know of the document, to mend it. */
struct model {
	int depth;
	bool object[TK_JSON_MAX_DEPTH];
	bool key, done;
};

/* 2 and 3: each byte a call, some followed by their argument's bytes */
static void check_calls(const uint8_t *data, size_t size, bool mend)
{
	struct model m = { 0 };
	struct tk_json j;
	char *out = NULL;
	size_t n = 0, i = 0;
	FILE *f = open_memstream(&out, &n);

	if (!f)
		abort();
	tk_json_init(&j, f);
	while (i < size && !(mend && m.done)) {
		unsigned int op = data[i++] % 13;
		bool opens = op == 0 || op == 2, closes = op == 1 || op == 3;
		size_t len = 0;

		if (op == 4 || op == 5) {	/* a string's length, then its bytes */
			len = i < size ? data[i++] : 0;
			len = len < size - i ? len : size - i;
		}
		if (mend) {
			bool in_object = m.depth && m.object[m.depth - 1];

			if (op == 4 && (!in_object || m.key))
				op = 5;		/* a key where none is due: a string */
			if (closes) {
				if (!m.depth)
					continue;
				op = m.object[m.depth - 1] ? 1 : 3;
				if (m.key)
					tk_json_null(&j);
			} else {
				if (opens && m.depth == TK_JSON_MAX_DEPTH) {
					op = 12;	/* too deep: a null instead */
					opens = false;
				}
				if (op != 4 && in_object && !m.key)
					tk_json_key(&j, "k");
			}
			m.key = op == 4;
			if (opens)
				m.object[m.depth++] = op == 0;
			if (closes)
				m.depth--;
			if (!m.depth && op != 4)
				m.done = true;
		}
		switch (op) {
		case 0: tk_json_begin_object(&j); break;
		case 1: tk_json_end_object(&j); break;
		case 2: tk_json_begin_array(&j); break;
		case 3: tk_json_end_array(&j); break;
		case 4: tk_json_keyn(&j, (const char *)data + i, len); break;
		case 5: tk_json_stringn(&j, (const char *)data + i, len); break;
		case 6:
		case 7: {
			uint64_t v = 0;

			len = size - i < sizeof(v) ? size - i : sizeof(v);
			memcpy(&v, data + i, len);
			if (op == 6)
				tk_json_u64(&j, v);
			else
				tk_json_i64(&j, (int64_t)v);
			break;
		}
		case 8: {
			double d = 0;

			len = size - i < sizeof(d) ? size - i : sizeof(d);
			memcpy(&d, data + i, len);
			/* a precision of 18 or more is misuse: mended, 0..17 */
			tk_json_double(&j, d, i + len < size ? data[i + len] % (mend ? 18 : 20) : 3);
			len += i + len < size;
			break;
		}
		case 9: tk_json_double(&j, NAN, 3); break;
		case 10: tk_json_bool(&j, i & 1); break;
		case 11: tk_json_string(&j, NULL); break;
		default: tk_json_null(&j); break;
		}
		i += len;
	}
	if (mend) {
		if (m.key)
			tk_json_null(&j);
		for (; m.depth; m.done = true) {
			if (m.object[--m.depth])
				tk_json_end_object(&j);
			else
				tk_json_end_array(&j);
		}
		if (!m.done)
			tk_json_null(&j);	/* no call at all: one value still */
	}
	fclose(f);
	if (mend && tk_json_finish(&j))
		abort();	/* well-formed calls are never refused */
	if (!tk_json_finish(&j) && !valid_json(out, n, NULL))
		abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_string(data, size);
	check_calls(data, size, true);
	check_calls(data, size, false);
	return 0;
}
