/* SPDX-License-Identifier: GPL-2.0-only */
/* Atomic textfiles that cannot be turned against root. Plain C, no libbpf. */
#ifndef TK_TEXTFILE_H
#define TK_TEXTFILE_H

#include <stddef.h>

/*
 * Can path be written: its directory exists and takes a new file, and the
 * path is absent or a regular file (not a symlink, device, FIFO or
 * directory)? 0, or -1 with a one-line reason naming path in err.
 */
int tk_textfile_check(const char *path, char *err, size_t errlen);
/*
 * Replace path by body atomically: a new file created O_EXCL|O_NOFOLLOW
 * beside it, fsync, rename. Refuses a target that is not a regular file.
 * 0, or -1 with a one-line reason in err.
 */
int tk_textfile_write(const char *path, const char *body, size_t len, char *err,
		      size_t errlen);

#endif
