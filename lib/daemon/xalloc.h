/*  xalloc.h: allocate or abort, for the daemons and foundryctl only.
 *  libfoundry never links this: it returns FOUNDRY_ENOMEM instead.
 */
#ifndef FDY_XALLOC_H_INCLUDED
#define FDY_XALLOC_H_INCLUDED

#include <stddef.h>

/* Zeroed memory of size bytes (1 when size is 0). Logs and aborts on
 * out-of-memory. Caller owns; free(). */
void *fdy_xalloc(size_t size);

/* realloc() that logs and aborts on out-of-memory. Caller owns; free(). */
void *fdy_xrealloc(void *mem, size_t size);

/* Makes array (of *cap elements of size bytes) hold at least need
 * elements: doubles *cap (from 8) until it does, zeroing the new elements.
 * Returns the array, moved or not; logs and aborts on out-of-memory. */
void *fdy_xgrow(void *array, size_t *cap, size_t need, size_t size);

/* A copy of text. Logs and aborts on out-of-memory. Caller owns; free(). */
char *fdy_xstrdup(const char *text);

#endif
