// SPDX-License-Identifier: GPL-2.0-only
/* One line per error, on stderr, always prefixed with the tool's name. */
#include <stdarg.h>
#include <stdio.h>
#include "core/exit.h"

static void say(const char *fmt, va_list ap, const char *tail)
{
	fputs("tcpkeep: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(tail, stderr);
}

int tk_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(fmt, ap, "\n");
	va_end(ap);
	return TK_EXIT_FAIL;
}

int tk_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(fmt, ap, " (see tcpkeep --help)\n");
	va_end(ap);
	return TK_EXIT_USAGE;
}

void tk_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(fmt, ap, "\n");
	va_end(ap);
}
