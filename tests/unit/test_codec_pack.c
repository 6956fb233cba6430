/*  test_codec_pack.c: the hand-packed Message (fdy_codec_msg_size and
 *  fdy_codec_msg_write, libfoundry's publish path) is byte for byte what
 *  protobuf-c packs for it (fdy_codec_encode_msg): every field set, big
 *  varints, long lengths, headers with empty values, no optional field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Packs msg both ways and compares. */
static void
s_check(const fdy_msg_t *msg)
{
    fdy_reason_t reason = {""};
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    foundry_err err = fdy_codec_encode_msg(msg, &packed, &packed_len, &reason);
    if (err != FOUNDRY_OK)
        fail_msg("fdy_codec_encode_msg: %s (%s)", foundry_strerror(err), reason.text);
    size_t size = fdy_codec_msg_size(msg);
    assert_int_equal(size, packed_len);
    uint8_t *mine = malloc(size + 1);
    assert_non_null(mine);
    mine[size] = 0xee;
    assert_int_equal(fdy_codec_msg_write(msg, mine), size);
    assert_int_equal(mine[size], 0xee); /* exactly size bytes */
    assert_memory_equal(mine, packed, size);
    free(mine);
    free(packed);
}

static void
test_codec_pack_message_matches_the_packer(void **state)
{
    (void) state;
    static uint8_t big[70000]; /* a three-byte length */
    memset(big, 'p', sizeof big);
    const uint8_t id[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    fdy_header_t headers[FDY_HEADERS_MAX];
    char keys[FDY_HEADERS_MAX][16];
    for (size_t i = 0; i < FDY_HEADERS_MAX; i++) {
        snprintf(keys[i], sizeof keys[i], "k%zu", i);
        headers[i] = (fdy_header_t){
            .key = keys[i], .value = (const uint8_t *) "v\0w", .value_len = i % 2 ? 3 : 0};
    }

    fdy_msg_t full = {.id = id,
                      .id_len = sizeof id,
                      .subject = "telemetry.site1.cpu",
                      .payload = big,
                      .payload_len = 200,
                      .timestamp_ns = UINT64_MAX,
                      .ttl_ms = UINT32_MAX,
                      .priority = 7,
                      .target = "site1",
                      .correlation_id = (const uint8_t *) "\0corr",
                      .correlation_id_len = 5,
                      .headers = headers,
                      .header_count = FDY_HEADERS_MAX};
    s_check(&full);

    fdy_msg_t bare = {.id = id, .id_len = 1, .subject = "a"};
    s_check(&bare);
    bare.target = ""; /* an empty text is left out like a missing one */
    s_check(&bare);

    fdy_msg_t external = {.id = id,
                          .id_len = 8,
                          .subject = "a.b",
                          .payload_frame = 1,
                          .timestamp_ns = 1764870000000000000ull,
                          .headers = headers,
                          .header_count = 1};
    s_check(&external);

    fdy_msg_t large = {.id = id,
                       .id_len = sizeof id,
                       .subject = "bench.max.sensor",
                       .payload = big,
                       .payload_len = sizeof big,
                       .timestamp_ns = 127,
                       .ttl_ms = 128,
                       .priority = 1};
    s_check(&large);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_pack_message_matches_the_packer),
    };
    return cmocka_run_group_tests_name("codec_pack", tests, NULL, NULL);
}
