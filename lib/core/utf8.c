/*  utf8.c: UTF-8 validation for the codecs and everything else that takes
 *  text from a peer or a file. It only says yes or no: no decoding to code
 *  points, no normalisation, no replacement characters.
 */
#include "utf8.h"

#include <assert.h>
#include <string.h>

#define S_ONES  0x0101010101010101ull
#define S_HIGHS 0x8080808080808080ull

/* True when the 8 bytes at s are all ASCII and, with no_nul, none is NUL:
 * most text is, and a word at a time is several times faster than the
 * byte loop. (w - ONES) & ~w has a high bit set exactly when some byte of
 * an all-ASCII w is zero. */
static bool
s_ascii8(const uint8_t *s, bool no_nul)
{
    uint64_t w;
    memcpy(&w, s, sizeof w);
    uint64_t bad = w;
    if (no_nul)
        bad |= (w - S_ONES) & ~w;
    return (bad & S_HIGHS) == 0;
}

bool
fdy_utf8_valid(const uint8_t *s, size_t len, unsigned flags)
{
    assert(s || len == 0);
    size_t i = 0;
    bool words = !(flags & FDY_UTF8_NO_C0); /* C0 needs the byte loop */
    while (i < len) {
        if (words && len - i >= 8 && s_ascii8(s + i, flags & FDY_UTF8_NO_NUL)) {
            i += 8;
            continue;
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c == 0 && (flags & FDY_UTF8_NO_NUL))
                return false;
            if ((c < 0x20 || c == 0x7f) && (flags & FDY_UTF8_NO_C0))
                return false;
            i++;
            continue;
        }
        /* Lead bytes C0 and C1 could only start overlong two-byte forms and
         * F5..FF only code points above U+10FFFF; 80..BF are continuations
         * without a lead. */
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000))
            return false; /* overlong */
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false; /* not a Unicode scalar value */
        if (cp <= 0x9f && (flags & FDY_UTF8_NO_C1))
            return false; /* only two-byte forms get here, so cp >= 0x80 */
        i += n + 1;
    }
    return true;
}
