/*  test_crc32c.c: CRC-32C known vectors (RFC 3720 B.4), incremental use, and
 *  agreement of the CPU-instruction and portable paths with a bitwise
 *  reference at every length and alignment the word loops care about.
 */
#include "crc32c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* Bit-at-a-time reference: slow, obviously right. */
static uint32_t
s_reference(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void
test_crc32c_check_value(void **state)
{
    (void) state;
    assert_int_equal(fdy_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(fdy_crc32c_portable(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(fdy_crc32c(0, NULL, 0), 0);
    assert_int_equal(fdy_crc32c(0, "a", 1), 0xC1D04330u);
}

static void
test_crc32c_rfc3720_vectors(void **state)
{
    (void) state;
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    assert_int_equal(fdy_crc32c(0, buf, 32), 0x8A9136AAu);
    assert_int_equal(fdy_crc32c_portable(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, sizeof buf);
    assert_int_equal(fdy_crc32c(0, buf, 32), 0x62A8AB43u);
    assert_int_equal(fdy_crc32c_portable(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t) i;
    assert_int_equal(fdy_crc32c(0, buf, 32), 0x46DD794Eu);
    assert_int_equal(fdy_crc32c_portable(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t) (31 - i);
    assert_int_equal(fdy_crc32c(0, buf, 32), 0x113FDB5Cu);
    assert_int_equal(fdy_crc32c_portable(0, buf, 32), 0x113FDB5Cu);
}

static void
test_crc32c_paths_agree_with_reference(void **state)
{
    (void) state;
    uint8_t buf[300];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t) (x >> 16);
    }
    for (size_t offset = 0; offset < 8; offset++) {
        for (size_t len = 0; len + offset <= sizeof buf; len++) {
            uint32_t want = s_reference(0, buf + offset, len);
            assert_int_equal(fdy_crc32c(0, buf + offset, len), want);
            assert_int_equal(fdy_crc32c_portable(0, buf + offset, len), want);
        }
    }
}

static void
test_crc32c_continues(void **state)
{
    (void) state;
    const char *text = "The quick brown fox jumps over the lazy dog";
    size_t len = strlen(text);
    uint32_t whole = fdy_crc32c(0, text, len);
    assert_int_equal(whole, 0x22620404u);
    for (size_t split = 0; split <= len; split++) {
        uint32_t crc = fdy_crc32c(0, text, split);
        assert_int_equal(fdy_crc32c(crc, text + split, len - split), whole);
        crc = fdy_crc32c_portable(0, text, split);
        assert_int_equal(fdy_crc32c_portable(crc, text + split, len - split), whole);
    }
    /* A flipped bit changes the checksum. */
    char copy[64];
    memcpy(copy, text, len);
    copy[10] ^= 0x01;
    assert_int_not_equal(fdy_crc32c(0, copy, len), whole);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_check_value),
        cmocka_unit_test(test_crc32c_rfc3720_vectors),
        cmocka_unit_test(test_crc32c_paths_agree_with_reference),
        cmocka_unit_test(test_crc32c_continues),
    };
    return cmocka_run_group_tests_name("crc32c", tests, NULL, NULL);
}
