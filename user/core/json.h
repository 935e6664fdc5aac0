/* SPDX-License-Identifier: GPL-2.0-only */
/* A streaming JSON writer onto a FILE: commas, nesting and string escaping. */
#ifndef TK_JSON_H
#define TK_JSON_H

/*
 * Every JSON tcpkeep prints goes through here, so there is one escaper.
 * Not jansson (or another library): that builds a tree, allocating per
 * frame, to print what a few fprintf calls print; it would be one more
 * package to build and ship against; and it would change the output's
 * bytes (spacing, number formats) that scripts may already read.
 *
 * Use: tk_json_init(), then exactly one value (usually an object) built
 * from the calls below, then tk_json_finish(). Inside an object every
 * value is preceded by a key. Misuse (a value without a key, a key in an
 * array, an end that matches no begin, nesting deeper than
 * TK_JSON_MAX_DEPTH, a second top-level value) is a programming error:
 * the writer writes nothing more from then on and tk_json_finish() says -1.
 *
 * Strings (and keys) may hold any bytes: '"', '\\' and control bytes are
 * escaped, valid UTF-8 passes through unchanged, and each byte of an
 * invalid UTF-8 sequence becomes \ufffd, so the output is always valid
 * JSON in valid UTF-8.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TK_JSON_MAX_DEPTH 16

struct tk_json {
	FILE *f;
	unsigned int depth;			/* containers open */
	bool broken;				/* misused: writes nothing more */
	bool done;				/* the top-level value is complete */
	bool key;				/* a key is written, its value is due */
	bool object[TK_JSON_MAX_DEPTH];		/* per level: object, else array */
	bool items[TK_JSON_MAX_DEPTH];		/* per level: the next item needs a comma */
};

void tk_json_init(struct tk_json *j, FILE *f);
/* 0 when one complete value was written without misuse, else -1. */
int tk_json_finish(const struct tk_json *j);

void tk_json_begin_object(struct tk_json *j);
void tk_json_end_object(struct tk_json *j);
void tk_json_begin_array(struct tk_json *j);
void tk_json_end_array(struct tk_json *j);

/* A key (NUL-terminated, or n bytes that may hold NULs), escaped as strings are. */
void tk_json_key(struct tk_json *j, const char *k);
void tk_json_keyn(struct tk_json *j, const char *k, size_t n);

/* A string; NULL writes null. */
void tk_json_string(struct tk_json *j, const char *s);
void tk_json_stringn(struct tk_json *j, const char *s, size_t n);
void tk_json_u64(struct tk_json *j, uint64_t v);
void tk_json_i64(struct tk_json *j, int64_t v);
/*
 * A fixed-point number, printf's "%.<prec>f" (prec 0..17). A precision,
 * not a format: the compiler cannot check a format passed at run time,
 * and %g, %a or %e could print what JSON does not accept. NaN and the
 * infinities, which JSON cannot hold, write null.
 */
void tk_json_double(struct tk_json *j, double v, int prec);
void tk_json_bool(struct tk_json *j, bool b);
void tk_json_null(struct tk_json *j);

/* A key and its value, the common case in an object. */
static inline void tk_json_kv_u64(struct tk_json *j, const char *k, uint64_t v)
{
	tk_json_key(j, k);
	tk_json_u64(j, v);
}

static inline void tk_json_kv_string(struct tk_json *j, const char *k, const char *s)
{
	tk_json_key(j, k);
	tk_json_string(j, s);
}

static inline void tk_json_kv_bool(struct tk_json *j, const char *k, bool b)
{
	tk_json_key(j, k);
	tk_json_bool(j, b);
}

static inline void tk_json_kv_double(struct tk_json *j, const char *k, double v, int prec)
{
	tk_json_key(j, k);
	tk_json_double(j, v, prec);
}

#endif /* TK_JSON_H */
