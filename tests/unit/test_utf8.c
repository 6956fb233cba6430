/*  test_utf8.c: the UTF-8 validator. Hand-picked edge cases (overlong forms,
 *  surrogates, code points above U+10FFFF, truncation, stray continuations,
 *  the control-character flags) and an exhaustive comparison of every
 *  sequence of up to three bytes with a reference written the other way
 *  round: decode loosely, then re-encode and compare.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "utf8.h"

#include <stdio.h>
#include <string.h>

#define ALL_FLAGS (FDY_UTF8_NO_NUL | FDY_UTF8_NO_C0 | FDY_UTF8_NO_C1)

/* Checks `len` bytes of `bytes` against want, under flags. */
static void
s_expect(const char *bytes, size_t len, unsigned flags, bool want)
{
    bool got = fdy_utf8_valid((const uint8_t *) bytes, len, flags);
    if (got != want) {
        char hex[64 * 3 + 1] = "";
        for (size_t i = 0; i < len && i < 64; i++)
            snprintf(hex + 3 * i, 4, "%02x ", (unsigned char) bytes[i]);
        fail_msg("fdy_utf8_valid(%s, flags %u) = %d, want %d", hex, flags, got, want);
    }
}

#define EXPECT(literal, flags, want) s_expect(literal, sizeof literal - 1, flags, want)

static void
test_utf8_accepts_well_formed(void **state)
{
    (void) state;
    s_expect(NULL, 0, ALL_FLAGS, true);
    EXPECT("", ALL_FLAGS, true);
    EXPECT("plain ASCII ~!", ALL_FLAGS, true);
    EXPECT("\xc2\xa0", ALL_FLAGS, true);         /* U+00A0, first after C1 */
    EXPECT("caf\xc3\xa9", ALL_FLAGS, true);      /* é */
    EXPECT("\xdf\xbf", ALL_FLAGS, true);         /* U+07FF, last two-byte */
    EXPECT("\xe0\xa0\x80", ALL_FLAGS, true);     /* U+0800, first three-byte */
    EXPECT("\xe2\x82\xac", ALL_FLAGS, true);     /* € */
    EXPECT("\xed\x9f\xbf", ALL_FLAGS, true);     /* U+D7FF, below the surrogates */
    EXPECT("\xee\x80\x80", ALL_FLAGS, true);     /* U+E000, above them */
    EXPECT("\xef\xbf\xbf", ALL_FLAGS, true);     /* U+FFFF: a noncharacter, still valid */
    EXPECT("\xf0\x90\x80\x80", ALL_FLAGS, true); /* U+10000, first four-byte */
    EXPECT("\xf0\x9f\x98\x80", ALL_FLAGS, true); /* 😀 */
    EXPECT("\xf4\x8f\xbf\xbf", ALL_FLAGS, true); /* U+10FFFF, the last code point */
}

static void
test_utf8_refuses_overlong(void **state)
{
    (void) state;
    EXPECT("\xc0\x80", 0, false);             /* U+0000 in two bytes */
    EXPECT("\xc0\xaf", 0, false);             /* '/' in two bytes */
    EXPECT("\xc1\xbf", 0, false);             /* U+007F in two bytes */
    EXPECT("\xe0\x80\x80", 0, false);         /* U+0000 in three */
    EXPECT("\xe0\x9f\xbf", 0, false);         /* U+07FF in three */
    EXPECT("\xf0\x80\x80\x80", 0, false);     /* U+0000 in four */
    EXPECT("\xf0\x8f\xbf\xbf", 0, false);     /* U+FFFF in four */
    EXPECT("\xf8\x88\x80\x80\x80", 0, false); /* five-byte forms do not exist */
    EXPECT("\xfc\x84\x80\x80\x80\x80", 0, false);
}

static void
test_utf8_refuses_surrogates(void **state)
{
    (void) state;
    EXPECT("\xed\xa0\x80", 0, false);             /* U+D800 */
    EXPECT("\xed\xaf\xbf", 0, false);             /* U+DBFF */
    EXPECT("\xed\xb0\x80", 0, false);             /* U+DC00 */
    EXPECT("\xed\xbf\xbf", 0, false);             /* U+DFFF */
    EXPECT("\xed\xa0\xbd\xed\xb8\x80", 0, false); /* CESU-8 pair for 😀 */
}

static void
test_utf8_refuses_beyond_10ffff(void **state)
{
    (void) state;
    EXPECT("\xf4\x90\x80\x80", 0, false); /* U+110000 */
    EXPECT("\xf4\xbf\xbf\xbf", 0, false);
    EXPECT("\xf5\x80\x80\x80", 0, false);
    EXPECT("\xf7\xbf\xbf\xbf", 0, false); /* U+1FFFFF */
    EXPECT("\xfe", 0, false);
    EXPECT("\xff", 0, false);
}

static void
test_utf8_refuses_truncated(void **state)
{
    (void) state;
    EXPECT("\xc3", 0, false);
    EXPECT("\xe2\x82", 0, false);
    EXPECT("\xe2", 0, false);
    EXPECT("\xf0\x9f\x98", 0, false);
    EXPECT("\xf0\x9f", 0, false);
    EXPECT("abc\xf0", 0, false);
    /* Cut short by the next character rather than by the end. */
    EXPECT("\xe2\x82\x41", 0, false); /* then "A" */
    EXPECT("\xc3\xc3\xa9", 0, false);
    EXPECT("\xf0\x9f\x98\xe2\x82\xac", 0, false);
    /* The length is what counts, not a NUL: "é" cut after its lead byte. */
    s_expect("\xc3\xa9", 1, 0, false);
    s_expect("\xf0\x9f\x98\x80", 3, 0, false);
}

static void
test_utf8_refuses_stray_continuation(void **state)
{
    (void) state;
    EXPECT("\x80", 0, false);
    EXPECT("\xbf", 0, false);
    EXPECT("a\x80z", 0, false);
    EXPECT("\xc3\xa9\xa9", 0, false); /* one continuation too many */
}

static void
test_utf8_c1_only_with_flag(void **state)
{
    (void) state;
    EXPECT("\xc2\x80", 0, true); /* U+0080 */
    EXPECT("\xc2\x85", 0, true); /* NEL */
    EXPECT("\xc2\x9b", 0, true); /* CSI: a terminal escape */
    EXPECT("\xc2\x9f", 0, true); /* U+009F */
    EXPECT("\xc2\x80", FDY_UTF8_NO_C1, false);
    EXPECT("\xc2\x85", FDY_UTF8_NO_C1, false);
    EXPECT("ok \xc2\x9b\x33\x31m", FDY_UTF8_NO_C1, false); /* CSI 31m: red */
    EXPECT("\xc2\x9f", FDY_UTF8_NO_C1, false);
    EXPECT("\xc2\xa0", FDY_UTF8_NO_C1, true);
    /* NO_C1 says nothing about C0 or NUL. */
    s_expect("a\0\t\x1b\x7f", 5, FDY_UTF8_NO_C1, true);
}

static void
test_utf8_nul_and_c0_flags(void **state)
{
    (void) state;
    s_expect("a\0b", 3, 0, true);
    s_expect("a\0b", 3, FDY_UTF8_NO_NUL, false);
    s_expect("a\0b", 3, FDY_UTF8_NO_C0, false); /* NUL is a C0 control */
    s_expect("\0", 1, FDY_UTF8_NO_NUL, false);
    EXPECT("tab\there", FDY_UTF8_NO_NUL, true);
    EXPECT("tab\there", FDY_UTF8_NO_C0, false);
    EXPECT("line\n", FDY_UTF8_NO_C0, false);
    EXPECT("\r", FDY_UTF8_NO_C0, false);
    EXPECT("\x1b[31m", FDY_UTF8_NO_C0, false);
    EXPECT("\x1f", FDY_UTF8_NO_C0, false);
    EXPECT("\x7f", FDY_UTF8_NO_C0, false); /* DEL counts with C0 */
    EXPECT("\x7f", FDY_UTF8_NO_NUL | FDY_UTF8_NO_C1, true);
    EXPECT(" spaces and ~ are fine ", FDY_UTF8_NO_C0, true);
    /* Control bytes never hide inside a multi-byte character: C0 80 (an
     * overlong NUL) is refused as overlong whatever the flags. */
    EXPECT("\xc0\x80", 0, false);
}

/* ---- exhaustive comparison with a reference ------------------------------ */

static size_t
s_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t) cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t) (0xc0 | cp >> 6);
        out[1] = (uint8_t) (0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t) (0xe0 | cp >> 12);
        out[1] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
        out[2] = (uint8_t) (0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t) (0xf0 | cp >> 18);
    out[1] = (uint8_t) (0x80 | ((cp >> 12) & 0x3f));
    out[2] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
    out[3] = (uint8_t) (0x80 | (cp & 0x3f));
    return 4;
}

static bool
s_refused_by(uint32_t cp, unsigned flags)
{
    if (cp == 0 && (flags & (FDY_UTF8_NO_NUL | FDY_UTF8_NO_C0)))
        return true;
    if ((cp < 0x20 || cp == 0x7f) && (flags & FDY_UTF8_NO_C0))
        return true;
    return cp >= 0x80 && cp <= 0x9f && (flags & FDY_UTF8_NO_C1);
}

/* The reference: split s into characters by the lead byte's bit pattern
 * alone, decode each with no range checks, and accept only when every
 * character is a scalar value whose shortest encoding is the bytes seen. */
static bool
s_reference(const uint8_t *s, size_t len, unsigned flags)
{
    size_t i = 0;
    while (i < len) {
        size_t n;
        if (s[i] < 0x80)
            n = 1;
        else if ((s[i] & 0xe0) == 0xc0)
            n = 2;
        else if ((s[i] & 0xf0) == 0xe0)
            n = 3;
        else if ((s[i] & 0xf8) == 0xf0)
            n = 4;
        else
            return false;
        if (n > len - i)
            return false;
        uint32_t cp = n == 1 ? s[i] : s[i] & (0x7fu >> n);
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || s_refused_by(cp, flags))
            return false;
        uint8_t again[4];
        if (s_encode(cp, again) != n || memcmp(again, s + i, n) != 0)
            return false;
        i += n;
    }
    return true;
}

static const unsigned s_flag_sets[] = {
    0, FDY_UTF8_NO_NUL, FDY_UTF8_NO_C0, FDY_UTF8_NO_C1, FDY_UTF8_NO_NUL | FDY_UTF8_NO_C1, ALL_FLAGS,
};

/* Every string of one and two bytes under every flag set, and every string
 * of three bytes (16.8 million) with no flags and with all of them: the
 * flags only concern ASCII and C2 80..C2 9F, which occur in those too. */
static void
test_utf8_matches_reference_up_to_three_bytes(void **state)
{
    (void) state;
    for (size_t f = 0; f < sizeof s_flag_sets / sizeof s_flag_sets[0]; f++) {
        unsigned flags = s_flag_sets[f];
        size_t max_len = flags == 0 || flags == ALL_FLAGS ? 3 : 2;
        for (size_t len = 1; len <= max_len; len++)
            for (uint32_t v = 0; v < (1u << (8 * len)); v++) {
                uint8_t s[3] = {(uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16)};
                bool got = fdy_utf8_valid(s, len, flags), want = s_reference(s, len, flags);
                if (got != want)
                    fail_msg("bytes %02x %02x %02x (len %zu, flags %u): validator %d, "
                             "reference %d",
                             s[0], s[1], s[2], len, flags, got, want);
            }
    }
}

/* Every code point, encoded, followed by a byte that must not join it. */
static void
test_utf8_every_code_point(void **state)
{
    (void) state;
    for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
        uint8_t s[5];
        size_t n = s_encode(cp, s);
        s[n] = 'x';
        bool scalar = cp < 0xd800 || cp > 0xdfff;
        for (size_t f = 0; f < sizeof s_flag_sets / sizeof s_flag_sets[0]; f++) {
            unsigned flags = s_flag_sets[f];
            bool want = scalar && !s_refused_by(cp, flags);
            if (fdy_utf8_valid(s, n + 1, flags) != want)
                fail_msg("U+%04X (flags %u): want %d", (unsigned) cp, flags, want);
        }
        /* And truncated by one byte, it is never valid. */
        if (n > 1 && fdy_utf8_valid(s, n - 1, 0))
            fail_msg("U+%04X cut to %zu bytes is accepted", (unsigned) cp, n - 1);
    }
}

/* The validator takes 8 ASCII bytes at a time: every byte value at every
 * position of a longer ASCII string, and characters of 2 to 4 bytes
 * straddling each word boundary, give the reference's answer. */
static void
test_utf8_word_at_a_time_matches_reference(void **state)
{
    (void) state;
    enum { LEN = 24 };
    for (size_t f = 0; f < sizeof s_flag_sets / sizeof s_flag_sets[0]; f++) {
        unsigned flags = s_flag_sets[f];
        for (size_t at = 0; at < LEN; at++)
            for (unsigned v = 0; v < 256; v++) {
                uint8_t s[LEN];
                memset(s, 'a', sizeof s);
                s[at] = (uint8_t) v;
                bool got = fdy_utf8_valid(s, LEN, flags), want = s_reference(s, LEN, flags);
                if (got != want)
                    fail_msg("byte %02x at %zu of %d (flags %u): validator %d, reference %d", v, at,
                             LEN, flags, got, want);
            }
    }
    const char *chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    for (size_t c = 0; c < 3; c++) {
        size_t n = strlen(chars[c]);
        for (size_t at = 0; at + n <= LEN; at++) {
            uint8_t s[LEN];
            memset(s, 'a', sizeof s);
            memcpy(s + at, chars[c], n);
            if (!fdy_utf8_valid(s, LEN, ALL_FLAGS))
                fail_msg("a %zu-byte character at %zu is refused", n, at);
            if (fdy_utf8_valid(s, at + n - 1, 0))
                fail_msg("a %zu-byte character cut at %zu is accepted", n, at + n - 1);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_accepts_well_formed),
        cmocka_unit_test(test_utf8_refuses_overlong),
        cmocka_unit_test(test_utf8_refuses_surrogates),
        cmocka_unit_test(test_utf8_refuses_beyond_10ffff),
        cmocka_unit_test(test_utf8_refuses_truncated),
        cmocka_unit_test(test_utf8_refuses_stray_continuation),
        cmocka_unit_test(test_utf8_c1_only_with_flag),
        cmocka_unit_test(test_utf8_nul_and_c0_flags),
        cmocka_unit_test(test_utf8_matches_reference_up_to_three_bytes),
        cmocka_unit_test(test_utf8_every_code_point),
        cmocka_unit_test(test_utf8_word_at_a_time_matches_reference),
    };
    return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
