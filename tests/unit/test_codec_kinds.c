/*  test_codec_kinds.c: the codec's kind table (fdy_codec_kind_info), and
 *  that the encoder and decoder take their kind rules from it. Kept apart
 *  from test_codec.c, which covers the encodings themselves and is already
 *  long.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "codec.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Every kind proto/foundry.proto defines, by value. */
#define KIND_FIRST FDY_KIND_PUBLISH
#define KIND_LAST  FDY_KIND_JOB_OFFERS

static void
test_codec_kind_info_names_every_kind(void **state)
{
    (void) state;
    for (int k = KIND_FIRST; k <= KIND_LAST; k++) {
        const fdy_kind_info_t *info = fdy_codec_kind_info((fdy_kind_t) k);
        assert_non_null(info);
        assert_int_equal(info->kind, k);
        assert_non_null(info->name);
        assert_true(strlen(info->name) > 0);
        for (const char *c = info->name; *c; c++)
            assert_true((*c >= 'A' && *c <= 'Z') || *c == '_');
        for (int other = KIND_FIRST; other < k; other++)
            assert_string_not_equal(info->name, fdy_codec_kind_info((fdy_kind_t) other)->name);
    }
    assert_string_equal(fdy_codec_kind_info(FDY_KIND_PUBLISH_ACK)->name, "PUBLISH_ACK");
    assert_string_equal(fdy_codec_kind_info(FDY_KIND_UNSUBSCRIBE)->name, "UNSUBSCRIBE");
    assert_string_equal(fdy_codec_kind_info(FDY_KIND_JOB_OFFER)->name, "JOB_OFFER");
    assert_string_equal(fdy_codec_kind_info(FDY_KIND_MODEL_NOTICE)->name, "MODEL_NOTICE");
    assert_string_equal(fdy_codec_kind_info(FDY_KIND_JOB_OFFERS)->name, "JOB_OFFERS");
}

static void
test_codec_kind_info_reply_kinds(void **state)
{
    (void) state;
    for (int k = KIND_FIRST; k <= KIND_LAST; k++) {
        bool want = k == FDY_KIND_PUBLISH_ACK || k == FDY_KIND_ERROR || k == FDY_KIND_ADMIN_REPLY ||
                    k == FDY_KIND_PONG || k == FDY_KIND_JOB_REPLY || k == FDY_KIND_JOB_OFFER ||
                    k == FDY_KIND_MODEL_REPLY || k == FDY_KIND_MODEL_NOTICE ||
                    k == FDY_KIND_JOB_OFFERS;
        if (fdy_codec_kind_info((fdy_kind_t) k)->reply != want)
            fail_msg("kind %d (%s): reply is %d", k, fdy_codec_kind_info((fdy_kind_t) k)->name,
                     !want);
    }
}

static void
test_codec_kind_info_only_publish_job_and_model_have_extra_frames(void **state)
{
    (void) state;
    for (int k = KIND_FIRST; k <= KIND_LAST; k++) {
        bool want = k == FDY_KIND_PUBLISH || k == FDY_KIND_JOB || k == FDY_KIND_MODEL;
        if (fdy_codec_kind_info((fdy_kind_t) k)->extra_frames != want)
            fail_msg("kind %d (%s): extra_frames is %d", k,
                     fdy_codec_kind_info((fdy_kind_t) k)->name, !want);
    }
}

static void
test_codec_kind_info_unknown_is_null(void **state)
{
    (void) state;
    assert_null(fdy_codec_kind_info((fdy_kind_t) 0)); /* KIND_UNSPECIFIED */
    assert_null(fdy_codec_kind_info((fdy_kind_t) (KIND_LAST + 1)));
    assert_null(fdy_codec_kind_info((fdy_kind_t) 1000));
    assert_null(fdy_codec_kind_info((fdy_kind_t) -1));
    assert_null(fdy_codec_kind_info((fdy_kind_t) INT_MAX));
    assert_null(fdy_codec_kind_info((fdy_kind_t) INT_MIN));
}

/* The encoder refuses what the table does not know, and the decoder
 * answers it with EKIND. */
static void
test_codec_kind_info_drives_the_codec(void **state)
{
    (void) state;
    uint8_t *buf = NULL;
    size_t len = 0;
    fdy_envelope_t env = {.kind = (fdy_kind_t) (KIND_LAST + 1), .request_id = 7};
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    assert_null(buf);

    /* version 1, kind 21, request_id 7: what a newer peer might send. */
    const uint8_t newer[] = {0x08, 0x01, 0x10, KIND_LAST + 1, 0x18, 0x07};
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(sizeof newer));
    assert_non_null(arena);
    fdy_envelope_t out;
    fdy_reason_t reason;
    assert_int_equal(fdy_codec_decode_envelope(newer, sizeof newer, arena, &out, &reason),
                     FOUNDRY_EKIND);
    assert_int_equal(out.request_id, 7);

    /* Every kind in the table encodes with its minimal fields and decodes
     * back to itself. */
    for (int k = KIND_FIRST; k <= KIND_LAST; k++) {
        static const uint64_t seqs[] = {1};
        env = (fdy_envelope_t){.kind = (fdy_kind_t) k,
                               .request_id = 9,
                               .count = 1,
                               .error_code = FOUNDRY_EINVAL,
                               .command = "status",
                               .sub_filter = "a.>",
                               .subscription = 3,
                               .ack_seqs = seqs,
                               .ack_seq_count = 1,
                               .job = (const uint8_t *) "\x08\x01",
                               .job_len = 2,
                               .model = (const uint8_t *) "\x08\x01",
                               .model_len = 2};
        if (fdy_codec_encode_envelope(&env, &buf, &len) != FOUNDRY_OK)
            fail_msg("kind %d (%s) does not encode", k, fdy_codec_kind_info((fdy_kind_t) k)->name);
        fdy_arena_reset(arena, FDY_DECODE_BUDGET(len));
        if (fdy_codec_decode_envelope(buf, len, arena, &out, &reason) != FOUNDRY_OK)
            fail_msg("kind %d does not decode: %s", k, reason.text);
        assert_int_equal(out.kind, k);
        free(buf);
        buf = NULL;
    }
    fdy_arena_destroy(&arena);
}

/* Only the reply kinds may exceed FDY_ENVELOPE_MAX: the same frame, padded
 * past it with an unknown field, is refused by size for every other kind. */
static void
test_codec_kind_info_reply_size_rule(void **state)
{
    (void) state;
    size_t pad = FDY_ENVELOPE_MAX;
    size_t len = 4 + 1 + 3 + pad;
    uint8_t *frame = calloc(1, len);
    assert_non_null(frame);
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(len));
    assert_non_null(arena);
    for (int k = KIND_FIRST; k <= KIND_LAST; k++) {
        size_t n = 0;
        frame[n++] = 0x08; /* version 1 */
        frame[n++] = 0x01;
        frame[n++] = 0x10; /* kind */
        frame[n++] = (uint8_t) k;
        frame[n++] = (15 << 3) | 2; /* field 15, length-delimited: unknown to this side */
        frame[n++] = (uint8_t) (0x80 | (pad & 0x7f));
        frame[n++] = (uint8_t) (0x80 | ((pad >> 7) & 0x7f));
        frame[n++] = (uint8_t) (pad >> 14);
        assert_int_equal(n + pad, len);
        fdy_arena_reset(arena, FDY_DECODE_BUDGET(len));
        fdy_envelope_t out;
        fdy_reason_t reason;
        foundry_err err = fdy_codec_decode_envelope(frame, len, arena, &out, &reason);
        bool reply = fdy_codec_kind_info((fdy_kind_t) k)->reply;
        if ((err == FOUNDRY_ETOOBIG) == reply)
            fail_msg("kind %d (%s) of %zu bytes: %s (%s)", k,
                     fdy_codec_kind_info((fdy_kind_t) k)->name, len, foundry_strerror(err),
                     reason.text);
    }
    fdy_arena_destroy(&arena);
    free(frame);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_kind_info_names_every_kind),
        cmocka_unit_test(test_codec_kind_info_reply_kinds),
        cmocka_unit_test(test_codec_kind_info_only_publish_job_and_model_have_extra_frames),
        cmocka_unit_test(test_codec_kind_info_unknown_is_null),
        cmocka_unit_test(test_codec_kind_info_drives_the_codec),
        cmocka_unit_test(test_codec_kind_info_reply_size_rule),
    };
    return cmocka_run_group_tests_name("codec_kinds", tests, NULL, NULL);
}
