/*  utf8.h: the one UTF-8 validator. Every string that crosses the wire or
 *  ends up in a log or a table is checked with it; the flags say which
 *  control characters a caller also refuses.
 */
#ifndef FDY_UTF8_H_INCLUDED
#define FDY_UTF8_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Refuse U+0000: a NUL would make the C string differ from the bytes. */
#define FDY_UTF8_NO_NUL 1u
/* Refuse the C0 controls U+0000..U+001F (NUL, tab and newline included)
 * and DEL U+007F. Implies FDY_UTF8_NO_NUL. */
#define FDY_UTF8_NO_C0 2u
/* Refuse the C1 controls U+0080..U+009F (two-byte sequences C2 80..C2 9F),
 * which some terminals act on as escape sequences. */
#define FDY_UTF8_NO_C1 4u

/* True when s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms,
 * no UTF-16 surrogates, nothing above U+10FFFF, no truncated sequence) and
 * holds none of the characters flags refuse. s may be NULL when len is 0.
 * Reads only s[0..len), so s need not be NUL-ended. Thread-safe. */
bool fdy_utf8_valid(const uint8_t *s, size_t len, unsigned flags);

#endif
