/*  utf8.c: UTF-8 validation for the codecs and everything else that takes
 *  text from a peer or a file. It only says yes or no: no decoding to code
 *  points, no normalisation, no replacement characters.
 */
#include "utf8.h"

#include <assert.h>

bool
fdy_utf8_valid(const uint8_t *s, size_t len, unsigned flags)
{
    assert(s || len == 0);
    size_t i = 0;
    while (i < len) {
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
