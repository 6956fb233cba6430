/*  test_codec_jobs_read.c: the hand-written JobRequest decoder
 *  (lib/core/codec_jobs_read.c) against protobuf-c's unpack with the same
 *  checks (fdy_codec_job_request_decode_pb): for every request the codec
 *  and libfoundry send, odd but valid encodings (unknown fields of every
 *  wire type, unpacked ids, strange bools, long varints, NULs, repeated
 *  scalars, a spec sent twice), every truncation and every one-byte change
 *  of them, both give the same code and reason, and field for field the
 *  same request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "codec_jobs.h"
#include "codec_jobs_ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
s_same_str(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool
s_same_bytes(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    if (a_len != b_len || (!a) != (!b))
        return false;
    return a_len == 0 || memcmp(a, b, a_len) == 0;
}

static bool
s_same_strs(const char *const *a, const char *const *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!s_same_str(a[i], b[i]))
            return false;
    return true;
}

static bool
s_same_spec(const fdy_job_spec_t *a, const fdy_job_spec_t *b)
{
    return s_same_str(a->type, b->type) &&
           s_same_bytes(a->payload, a->payload_len, b->payload, b->payload_len) &&
           a->site_count == b->site_count && s_same_strs(a->sites, b->sites, a->site_count) &&
           a->label_count == b->label_count && s_same_strs(a->labels, b->labels, a->label_count) &&
           a->priority == b->priority && a->timeout_ms == b->timeout_ms &&
           a->max_attempts == b->max_attempts && a->backoff_initial_ms == b->backoff_initial_ms &&
           a->backoff_factor == b->backoff_factor && a->backoff_max_ms == b->backoff_max_ms &&
           s_same_str(a->key, b->key) && a->deadline_ms == b->deadline_ms &&
           a->result_ttl_ms == b->result_ttl_ms && s_same_str(a->node, b->node);
}

static bool
s_same_item(const fdy_job_result_item_t *a, const fdy_job_result_item_t *b)
{
    return a->job_id == b->job_id && a->fence == b->fence && a->ok == b->ok &&
           s_same_bytes(a->result, a->result_len, b->result, b->result_len) &&
           s_same_str(a->error, b->error) && s_same_str(a->log_tail, b->log_tail) &&
           a->credit == b->credit;
}

static bool
s_same_request(const fdy_job_request_t *a, const fdy_job_request_t *b)
{
    if (a->op != b->op || !s_same_spec(&a->spec, &b->spec) || a->job_id != b->job_id ||
        a->fence != b->fence || a->ok != b->ok ||
        !s_same_bytes(a->result, a->result_len, b->result, b->result_len) ||
        !s_same_str(a->error, b->error) || !s_same_str(a->log_tail, b->log_tail) ||
        a->credit != b->credit || !s_same_str(a->name, b->name) ||
        a->label_count != b->label_count || !s_same_strs(a->labels, b->labels, a->label_count) ||
        a->type_count != b->type_count || !s_same_strs(a->types, b->types, a->type_count) ||
        !s_same_str(a->state, b->state) || !s_same_str(a->progress, b->progress) ||
        a->id_count != b->id_count || a->spec_count != b->spec_count ||
        a->result_count != b->result_count || a->offer_batches != b->offer_batches)
        return false;
    for (size_t i = 0; i < a->id_count; i++)
        if (a->job_ids[i] != b->job_ids[i] || a->fences[i] != b->fences[i])
            return false;
    for (size_t i = 0; i < a->spec_count; i++)
        if (!s_same_spec(&a->specs[i], &b->specs[i]))
            return false;
    for (size_t i = 0; i < a->result_count; i++)
        if (!s_same_item(&a->results[i], &b->results[i]))
            return false;
    return true;
}

/* Both decoders on buf: the same code, reason and request. Returns the
 * code. */
static foundry_err
s_both(const uint8_t *buf, size_t len)
{
    fdy_arena_t *mine_arena = fdy_arena_new(FDY_JOB_DECODE_BUDGET(len));
    fdy_arena_t *ref_arena = fdy_arena_new(FDY_JOB_DECODE_BUDGET(len));
    assert_non_null(mine_arena);
    assert_non_null(ref_arena);
    fdy_job_request_t mine, ref;
    fdy_reason_t mine_why, ref_why;
    fdy_reason_clear(&mine_why);
    fdy_reason_clear(&ref_why);
    foundry_err err = fdy_codec_job_request_decode(buf, len, mine_arena, &mine, &mine_why);
    foundry_err ref_err = fdy_codec_job_request_decode_pb(buf, len, ref_arena, &ref, &ref_why);
    if (err != ref_err || strcmp(mine_why.text, ref_why.text) != 0) {
        fprintf(stderr, "%zu bytes:", len);
        for (size_t i = 0; i < len && i < 64; i++)
            fprintf(stderr, " %02x", buf[i]);
        fprintf(stderr, "\nhand: %d '%s'\nprotobuf-c: %d '%s'\n", err, mine_why.text, ref_err,
                ref_why.text);
    }
    assert_int_equal(err, ref_err);
    assert_string_equal(mine_why.text, ref_why.text);
    if (err == FOUNDRY_OK)
        assert_true(s_same_request(&mine, &ref));
    fdy_arena_destroy(&mine_arena);
    fdy_arena_destroy(&ref_arena);
    return err;
}

/* Every truncation and every one-byte change of buf (to a few values
 * that change a tag, a length or a varint's end) through both. */
static void
s_mutations(const uint8_t *buf, size_t len)
{
    for (size_t cut = 0; cut < len; cut++)
        (void) s_both(buf, cut);
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    static const uint8_t values[] = {0x00, 0x01, 0x02, 0x05, 0x07, 0x7f, 0x80, 0xff};
    for (size_t i = 0; i < len; i++) {
        for (size_t v = 0; v < sizeof values; v++) {
            memcpy(copy, buf, len);
            copy[i] = values[v];
            (void) s_both(copy, len);
            copy[i] = (uint8_t) (buf[i] ^ 0x80);
            (void) s_both(copy, len);
        }
    }
    free(copy);
}

static const char *const s_sites[] = {"siheung", "pangyo"};
static const char *const s_labels[] = {"gpu=a100", "robot=ur10"};

static fdy_job_spec_t
s_full_spec(void)
{
    return (fdy_job_spec_t){.type = "inspect",
                            .payload = (const uint8_t *) "line\0-3",
                            .payload_len = 7,
                            .sites = s_sites,
                            .site_count = 2,
                            .labels = s_labels,
                            .label_count = 2,
                            .priority = 200,
                            .timeout_ms = 30000,
                            .max_attempts = 3,
                            .backoff_initial_ms = 1000,
                            .backoff_factor = 2,
                            .backoff_max_ms = 60000,
                            .key = "order-17",
                            .deadline_ms = 1800000000000ull,
                            .result_ttl_ms = 86400000,
                            .node = "node-b"};
}

/* Encodes req with the protobuf-c encoder, checks it both ways and, when
 * asked, every mutation of it. */
static void
s_encoded(const fdy_job_request_t *req, bool mutate)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(fdy_codec_job_request_encode(req, &buf, &len), FOUNDRY_OK);
    (void) s_both(buf, len);
    if (mutate)
        s_mutations(buf, len);
    free(buf);
}

static void
test_codec_jobs_read_matches_protobuf_c_on_every_request(void **state)
{
    (void) state;
    fdy_job_spec_t spec = s_full_spec();
    fdy_job_request_t submit = {.op = FDY_JOB_SUBMIT, .spec = spec};
    s_encoded(&submit, true);

    /* Lengths of two bytes (every change of them too) and of three. */
    static uint8_t big[20000];
    memset(big, 'b', sizeof big);
    fdy_job_request_t two = {.op = FDY_JOB_SUBMIT,
                             .spec = {.type = "t", .payload = big, .payload_len = 300}};
    s_encoded(&two, true);
    two.spec.payload_len = sizeof big;
    s_encoded(&two, false);

    fdy_job_spec_t specs[3] = {spec, {.type = "t"}, {.type = "bad type!", .backoff_factor = 101}};
    fdy_job_request_t batch = {.op = FDY_JOB_SUBMIT, .specs = specs, .spec_count = 3};
    s_encoded(&batch, true);

    fdy_job_request_t result = {.op = FDY_JOB_RESULT,
                                .job_id = 1ull << 40,
                                .fence = UINT64_MAX,
                                .ok = true,
                                .result = (const uint8_t *) "out",
                                .result_len = 3,
                                .error = "exit status 1",
                                .log_tail = "tail",
                                .credit = 1};
    s_encoded(&result, true);

    fdy_job_result_item_t items[3] = {
        {7, 1, true, (const uint8_t *) "echo", 4, "", "", 1},
        {8, 300, false, NULL, 0, "killed by signal 9", "\xc3\xa9t\xc3\xa9", 0},
        {1ull << 50, 1ull << 33, true, (const uint8_t *) "r", 1, "\xff", NULL, 4096}};
    fdy_job_request_t results = {.op = FDY_JOB_RESULT, .results = items, .result_count = 3};
    s_encoded(&results, true);

    uint64_t ids[3] = {1, 300, 1ull << 60}, fences[3] = {1, 2, UINT64_MAX};
    fdy_job_request_t heartbeat = {
        .op = FDY_JOB_HEARTBEAT, .job_ids = ids, .fences = fences, .id_count = 3};
    s_encoded(&heartbeat, true);

    static const char *const types[] = {"inspect", "echo"};
    fdy_job_request_t reg = {.op = FDY_JOB_REGISTER,
                             .name = "node-a",
                             .labels = s_labels,
                             .label_count = 2,
                             .types = types,
                             .type_count = 2,
                             .credit = 256,
                             .offer_batches = true};
    s_encoded(&reg, true);

    fdy_job_request_t progress = {
        .op = FDY_JOB_PROGRESS, .job_id = 9, .fence = 2, .progress = "40%"};
    s_encoded(&progress, true);
    fdy_job_request_t list = {.op = FDY_JOB_LIST, .state = "queued"};
    s_encoded(&list, false);
    for (int op = FDY_JOB_STATUS; op <= FDY_JOB_RETRY; op++) {
        fdy_job_request_t one = {.op = (fdy_job_op_t) op, .job_id = 42};
        s_encoded(&one, false);
    }

    /* libfoundry's hand-packed SUBMIT batch. */
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fdy_codec_job_batch_append(&buf, &len, &cap, &specs[i]), FOUNDRY_OK);
    assert_int_equal(s_both(buf, len), FOUNDRY_OK);
    free(buf);
}

/* Reads "0a 1b ..." into out; returns the byte count. */
static size_t
s_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    unsigned byte;
    int used;
    while (sscanf(hex, " %2x%n", &byte, &used) == 1) {
        assert_true(n < cap);
        out[n++] = (uint8_t) byte;
        hex += used;
    }
    return n;
}

/* Valid protobuf no encoder of ours writes, and invalid protobuf. */
static void
test_codec_jobs_read_matches_protobuf_c_on_odd_encodings(void **state)
{
    (void) state;
    /* Each case: what it is, and its bytes in hex. */
    static const char *const cases[][2] = {
        {"unknown fields of every wire type",
         "08 02 a8 01 05 b1 01 01 02 03 04 05 06 07 08 ba 01 02 68 69 c5 01 01 02 03 04 18 07"},
        {"unpacked ids and fences", "08 08 78 01 80 01 02 78 03 80 01 04"},
        {"packed and unpacked mixed", "08 08 7a 02 01 02 78 03 82 01 03 04 05 06"},
        {"bool as a long varint", "08 07 18 01 28 80 80 00"},
        {"bool true in its second byte", "08 07 18 01 28 80 01"},
        {"bool as fixed64", "08 07 18 01 29 00 00 00 00 00 00 00 01"},
        {"bool as fixed32 of zeros", "08 05 9d 01 00 00 00 00"},
        {"bool as bytes", "08 07 18 01 2a 01 00"},
        {"bool as empty bytes", "08 07 18 01 2a 00"},
        {"op as a ten-byte varint", "08 82 80 80 80 f0 ff ff ff ff 01 18 01"},
        {"op over ten bytes", "08 82 80 80 80 80 80 80 80 80 80 01"},
        {"negative op", "08 ff ff ff ff ff ff ff ff ff 01"},
        {"uint32 credit from a 64-bit value", "08 06 48 81 80 80 80 10"},
        {"a NUL in a text", "08 09 18 01 72 03 61 00 62"},
        {"a NUL in a label", "08 05 5a 04 61 3d 00 62"},
        {"a text not UTF-8", "08 09 18 01 72 02 c3 28"},
        {"a scalar twice", "08 02 18 05 08 03 18 06"},
        {"a text twice", "08 04 6a 01 78 6a 06 71 75 65 75 65 64"},
        {"a spec twice (merged)",
         "08 01 12 09 0a 01 61 12 01 70 1a 01 73 12 07 0a 01 62 1a 02 73 32"},
        {"specs next to a spec", "08 01 12 03 0a 01 61 8a 01 03 0a 01 62"},
        {"results with a job_id", "08 07 18 01 92 01 02 08 01"},
        {"a result with a bad wire type", "08 07 92 01 02 0a 00"},
        {"a spec twice, the first only a priority", "08 01 12 02 28 00 12 00"},
        {"a spec field as a varint", "08 01 10 01"},
        {"a group", "08 01 ab 01 ac 01"},
        {"wire type 6", "08 01 ae 01 00"},
        {"tag 0", "00 01 08 02"},
        {"tag 0 in two bytes", "80 00 01 08 02"},
        {"a five-byte tag", "08 02 f8 ff ff ff 0f 01"},
        {"a six-byte tag", "08 02 f8 ff ff ff ff 01 01"},
        {"a five-byte length", "08 04 6a 82 80 80 80 00 61 62"},
        {"a length that wraps 32 bits", "08 04 6a ff ff ff ff 0f 61 62 63 64"},
        {"a length just under 2^32", "08 04 6a fc ff ff ff 0f 61 62 63 64"},
        {"a length past the end", "08 04 6a 05 61"},
        {"a packed id cut short", "08 08 7a 02 01 80 82 01 01 01"},
        {"a packed id over ten bytes", "08 08 7a 0b 80 80 80 80 80 80 80 80 80 80 01 82 01 01 01"},
        {"more fences than ids", "08 08 78 01 80 01 01 80 01 02"},
        {"ids as fixed64", "08 08 79 01 00 00 00 00 00 00 00"},
        {"empty", ""},
        {"a submit without a spec", "08 01"},
        {"an empty spec", "08 01 12 00"},
        {"an empty batch item", "08 01 8a 01 00"},
        {"an empty result", "08 07 18 01 32 00"},
    };
    uint8_t bytes[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = s_hex(cases[i][1], bytes, sizeof bytes);
        (void) s_both(bytes, len);
        s_mutations(bytes, len);
    }
}

/* A batch over the limit is refused by its size, as before, also when
 * one of its items is malformed (then it does not unpack). */
static void
test_codec_jobs_read_matches_protobuf_c_on_oversized_batches(void **state)
{
    (void) state;
    size_t n = FDY_JOB_BATCH_MAX + 1;
    uint8_t *buf = malloc(2 + 3 * n + 3);
    assert_non_null(buf);
    size_t len = 0;
    buf[len++] = 0x08;
    buf[len++] = 0x07;
    for (size_t i = 0; i < n; i++) {
        buf[len++] = 0x92; /* results, an empty one */
        buf[len++] = 0x01;
        buf[len++] = 0x00;
    }
    assert_int_equal(s_both(buf, len), FOUNDRY_ETOOBIG);
    buf[len - 1] = 0x02; /* the last one's length past the end */
    assert_int_equal(s_both(buf, len), FOUNDRY_EPROTO);
    buf[len - 1] = 0x00;
    buf[1] = 0x01; /* results in a SUBMIT: the size is judged first */
    assert_int_equal(s_both(buf, len), FOUNDRY_ETOOBIG);
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_jobs_read_matches_protobuf_c_on_every_request),
        cmocka_unit_test(test_codec_jobs_read_matches_protobuf_c_on_odd_encodings),
        cmocka_unit_test(test_codec_jobs_read_matches_protobuf_c_on_oversized_batches),
    };
    return cmocka_run_group_tests_name("codec_jobs_read", tests, NULL, NULL);
}
