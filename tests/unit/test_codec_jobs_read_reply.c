/*  test_codec_jobs_read_reply.c: the hand-written JobReply and JobRecord
 *  decoders (lib/core/codec_jobs_read_reply.c) against protobuf-c's
 *  unpack with the same checks (fdy_codec_job_*_decode_pb): offers, batch
 *  answers, status replies with history, stored records, odd but valid
 *  encodings (a spec sent twice, unknown fields, codes out of range, more
 *  attempts than kept), every truncation and every one-byte change of
 *  them: the same code, reason and, field for field, the same result.
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
s_same_spec(const fdy_job_spec_t *a, const fdy_job_spec_t *b)
{
    if (!s_same_str(a->type, b->type) ||
        !s_same_bytes(a->payload, a->payload_len, b->payload, b->payload_len) ||
        a->site_count != b->site_count || a->label_count != b->label_count ||
        a->priority != b->priority || a->timeout_ms != b->timeout_ms ||
        a->max_attempts != b->max_attempts || a->backoff_initial_ms != b->backoff_initial_ms ||
        a->backoff_factor != b->backoff_factor || a->backoff_max_ms != b->backoff_max_ms ||
        !s_same_str(a->key, b->key) || a->deadline_ms != b->deadline_ms ||
        a->result_ttl_ms != b->result_ttl_ms || !s_same_str(a->node, b->node))
        return false;
    for (size_t i = 0; i < a->site_count; i++)
        if (!s_same_str(a->sites[i], b->sites[i]))
            return false;
    for (size_t i = 0; i < a->label_count; i++)
        if (!s_same_str(a->labels[i], b->labels[i]))
            return false;
    return true;
}

static bool
s_same_record(const fdy_job_record_t *a, const fdy_job_record_t *b)
{
    if (a->id != b->id || !s_same_str(a->tenant, b->tenant) ||
        !s_same_str(a->submitter, b->submitter) || !s_same_spec(&a->spec, &b->spec) ||
        !s_same_str(a->state, b->state) || a->attempt != b->attempt || a->fence != b->fence ||
        a->created_ms != b->created_ms || a->updated_ms != b->updated_ms ||
        a->not_before_ms != b->not_before_ms || a->lease_until_ms != b->lease_until_ms ||
        !s_same_str(a->node, b->node) ||
        !s_same_bytes(a->result, a->result_len, b->result, b->result_len) ||
        !s_same_str(a->error, b->error) || !s_same_str(a->log_tail, b->log_tail) ||
        a->attempt_count != b->attempt_count || !s_same_str(a->progress, b->progress) ||
        !s_same_str(a->waiting, b->waiting))
        return false;
    for (size_t i = 0; i < a->attempt_count; i++) {
        const fdy_job_attempt_t *x = &a->attempts[i], *y = &b->attempts[i];
        if (x->attempt != y->attempt || x->fence != y->fence || !s_same_str(x->node, y->node) ||
            x->started_ms != y->started_ms || x->ended_ms != y->ended_ms ||
            !s_same_str(x->state, y->state) || !s_same_str(x->error, y->error))
            return false;
    }
    return true;
}

static bool
s_same_reply(const fdy_job_reply_t *a, const fdy_job_reply_t *b)
{
    if (a->job_id != b->job_id || a->duplicate != b->duplicate || a->job_count != b->job_count ||
        a->outcome_count != b->outcome_count)
        return false;
    for (size_t i = 0; i < a->job_count; i++)
        if (!s_same_record(&a->jobs[i], &b->jobs[i]))
            return false;
    for (size_t i = 0; i < a->outcome_count; i++) {
        const fdy_job_outcome_t *x = &a->outcomes[i], *y = &b->outcomes[i];
        if (x->job_id != y->job_id || x->duplicate != y->duplicate || x->code != y->code ||
            !s_same_str(x->error, y->error))
            return false;
    }
    return true;
}

static void
s_differ(const char *what, const uint8_t *buf, size_t len, foundry_err err, const char *why,
         foundry_err ref_err, const char *ref_why)
{
    fprintf(stderr, "%s of %zu bytes:", what, len);
    for (size_t i = 0; i < len && i < 64; i++)
        fprintf(stderr, " %02x", buf[i]);
    fprintf(stderr, "\nhand: %d '%s'\nprotobuf-c: %d '%s'\n", err, why, ref_err, ref_why);
}

/* buf as a reply and as a record, through both decoders of each. */
static void
s_both(const uint8_t *buf, size_t len)
{
    fdy_arena_t *a = fdy_arena_new(FDY_DECODE_BUDGET(len) + 65536);
    fdy_arena_t *b = fdy_arena_new(FDY_DECODE_BUDGET(len) + 65536);
    assert_non_null(a);
    assert_non_null(b);
    fdy_reason_t why, ref_why;
    fdy_reason_clear(&why);
    fdy_reason_clear(&ref_why);
    fdy_job_reply_t reply, ref_reply;
    foundry_err err = fdy_codec_job_reply_decode(buf, len, a, &reply, &why);
    foundry_err ref_err = fdy_codec_job_reply_decode_pb(buf, len, b, &ref_reply, &ref_why);
    if (err != ref_err || strcmp(why.text, ref_why.text) != 0)
        s_differ("reply", buf, len, err, why.text, ref_err, ref_why.text);
    assert_int_equal(err, ref_err);
    assert_string_equal(why.text, ref_why.text);
    if (err == FOUNDRY_OK)
        assert_true(s_same_reply(&reply, &ref_reply));

    fdy_arena_reset(a, FDY_DECODE_BUDGET(len) + 65536);
    fdy_arena_reset(b, FDY_DECODE_BUDGET(len) + 65536);
    fdy_reason_clear(&why);
    fdy_reason_clear(&ref_why);
    fdy_job_record_t rec, ref_rec;
    err = fdy_codec_job_record_decode(buf, len, a, &rec, &why);
    ref_err = fdy_codec_job_record_decode_pb(buf, len, b, &ref_rec, &ref_why);
    if (err != ref_err || strcmp(why.text, ref_why.text) != 0)
        s_differ("record", buf, len, err, why.text, ref_err, ref_why.text);
    assert_int_equal(err, ref_err);
    assert_string_equal(why.text, ref_why.text);
    if (err == FOUNDRY_OK)
        assert_true(s_same_record(&rec, &ref_rec));
    fdy_arena_destroy(&a);
    fdy_arena_destroy(&b);
}

static void
s_mutations(const uint8_t *buf, size_t len)
{
    for (size_t cut = 0; cut < len; cut++)
        s_both(buf, cut);
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    static const uint8_t values[] = {0x00, 0x01, 0x02, 0x05, 0x7f, 0x80, 0xff};
    for (size_t i = 0; i < len; i++)
        for (size_t v = 0; v <= sizeof values; v++) {
            memcpy(copy, buf, len);
            copy[i] = v < sizeof values ? values[v] : (uint8_t) (buf[i] ^ 0x80);
            s_both(copy, len);
        }
    free(copy);
}

static const char *const s_sites[] = {"siheung", "pangyo"};
static const char *const s_labels[] = {"gpu=a100"};

static fdy_job_record_t
s_full_record(fdy_job_attempt_t *tries)
{
    tries[0] = (fdy_job_attempt_t){1, 1, "node-a", 10, 20, "lost", "lease expired"};
    tries[1] = (fdy_job_attempt_t){2, 1ull << 35, "node-b", 1ull << 42, 0, "running", ""};
    fdy_job_record_t rec = {.id = 300,
                            .tenant = "acme",
                            .submitter = "acme-ops",
                            .state = "running",
                            .attempt = 2,
                            .fence = UINT64_MAX,
                            .created_ms = 1700000000000ull,
                            .updated_ms = 1700000000500ull,
                            .not_before_ms = 7,
                            .lease_until_ms = 1700000006000ull,
                            .node = "node-b",
                            .result = (const uint8_t *) "r\0s",
                            .result_len = 3,
                            .error = "exit status 1",
                            .log_tail = "tail",
                            .attempts = tries,
                            .attempt_count = 2,
                            .progress = "40%",
                            .waiting = "busy"};
    rec.spec = (fdy_job_spec_t){.type = "inspect",
                                .payload = (const uint8_t *) "line-3",
                                .payload_len = 6,
                                .sites = s_sites,
                                .site_count = 2,
                                .labels = s_labels,
                                .label_count = 1,
                                .priority = 200,
                                .timeout_ms = 30000,
                                .key = "order-17",
                                .node = "node-b"};
    return rec;
}

static void
test_codec_jobs_read_reply_matches_protobuf_c_on_every_message(void **state)
{
    (void) state;
    fdy_job_attempt_t tries[2];
    fdy_job_record_t full = s_full_record(tries);
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    /* A stored record, as the broker writes it. */
    assert_int_equal(fdy_codec_job_record_append(&full, &buf, &len, &cap), FOUNDRY_OK);
    s_both(buf, len);
    s_mutations(buf, len);
    /* Offers, as JOB_OFFERS carries them (payloads of one and two-byte
     * lengths, a kill order). */
    static uint8_t big[300];
    memset(big, 'p', sizeof big);
    fdy_job_record_t offers[3];
    memset(offers, 0, sizeof offers);
    offers[0] = (fdy_job_record_t){.id = 1, .state = "leased", .attempt = 1, .fence = 1};
    offers[0].spec =
        (fdy_job_spec_t){.type = "echo", .payload = big, .payload_len = 300, .timeout_ms = 60000};
    offers[1] = (fdy_job_record_t){.id = 1ull << 40, .state = "leased", .fence = UINT64_MAX};
    offers[1].spec = (fdy_job_spec_t){.type = "t", .payload = big, .payload_len = 20};
    offers[2] = (fdy_job_record_t){.id = 77, .state = "cancelled", .attempt = 2, .fence = 5};
    offers[2].spec.type = "inspect";
    len = 0;
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fdy_codec_job_offer_append(&buf, &len, &cap, &offers[i]), FOUNDRY_OK);
    s_both(buf, len);
    s_mutations(buf, len);
    free(buf);
    /* Answers: a batch's outcomes, a status reply with history. */
    fdy_job_outcome_t outs[3] = {{7, false, FOUNDRY_OK, NULL},
                                 {8, true, FOUNDRY_OK, ""},
                                 {0, false, FOUNDRY_EINVAL, "job type 'x y' must be 1..64"}};
    fdy_job_reply_t replies[] = {
        {0, false, NULL, 0, outs, 3},
        {42, true, NULL, 0, NULL, 0},
        {0, false, &full, 1, NULL, 0},
    };
    for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
        uint8_t *body = NULL;
        size_t body_len = 0;
        assert_int_equal(fdy_codec_job_reply_encode(&replies[i], &body, &body_len), FOUNDRY_OK);
        s_both(body, body_len);
        s_mutations(body, body_len);
        free(body);
    }
}

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

static void
test_codec_jobs_read_reply_matches_protobuf_c_on_odd_encodings(void **state)
{
    (void) state;
    /* Each case: what it is, and its bytes in hex (read as a reply and as
     * a record). */
    static const char *const cases[][2] = {
        {"a record with its spec twice (merged)", "08 05 22 03 0a 01 61 22 05 12 01 70 1a 00"},
        {"a reply whose record has its spec twice",
         "1a 0e 08 05 22 03 0a 01 61 22 05 12 01 70 1a 00"},
        {"a record without a spec", "08 05 2a 02 6f 6b"},
        {"a record without an id", "22 03 0a 01 61"},
        {"a record with a bad type", "08 05 22 04 0a 02 61 20"},
        {"unknown fields of every wire type",
         "08 05 22 03 0a 01 61 a8 06 01 b1 06 01 02 03 04 05 06 07 08 ba 06 01 78 c5 06 01 02 03 "
         "04"},
        {"an outcome code out of range", "22 02 18 63"},
        {"a negative outcome code", "22 0b 18 ff ff ff ff ff ff ff ff ff 01"},
        {"an outcome code of 64 bits", "22 06 18 81 80 80 80 10"},
        {"duplicate as bytes", "12 01 01"},
        {"a reply's job_id twice", "08 01 08 02"},
        {"a reply's jobs as a varint", "18 01"},
        {"an attempt with a bad wire type", "08 05 22 03 0a 01 61 82 01 02 0a 00"},
        {"a record's text as a varint", "08 05 22 03 0a 01 61 2a 00 28 01"},
        {"a group", "08 05 22 03 0a 01 61 ab 01"},
        {"empty", ""},
    };
    uint8_t bytes[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = s_hex(cases[i][1], bytes, sizeof bytes);
        s_both(bytes, len);
        s_mutations(bytes, len);
    }
}

/* A record with more attempts than are kept is refused by their number,
 * also when each is read only for its shape. */
static void
test_codec_jobs_read_reply_matches_protobuf_c_on_long_histories(void **state)
{
    (void) state;
    static fdy_job_attempt_t tries[FDY_JOB_ATTEMPTS_MAX + 1];
    for (size_t i = 0; i <= FDY_JOB_ATTEMPTS_MAX; i++)
        tries[i] = (fdy_job_attempt_t){(uint32_t) i + 1, i + 1, "node-a", 1, 2, "lost", ""};
    fdy_job_record_t rec = {.id = 9, .state = "dead", .attempts = tries};
    rec.spec.type = "t";
    for (size_t n = FDY_JOB_ATTEMPTS_MAX; n <= FDY_JOB_ATTEMPTS_MAX + 1; n++) {
        rec.attempt_count = n;
        uint8_t *buf = NULL;
        size_t len = 0; /* protobuf-c's packer: the hand one stops at the limit */
        assert_int_equal(fdy_codec_job_record_encode(&rec, &buf, &len), FOUNDRY_OK);
        s_both(buf, len);
        for (size_t cut = 0; cut < len; cut += 7)
            s_both(buf, cut);
        buf[len - 3] = 0x18; /* the last attempt's field 3 (node) as a varint */
        s_both(buf, len);
        free(buf);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_jobs_read_reply_matches_protobuf_c_on_every_message),
        cmocka_unit_test(test_codec_jobs_read_reply_matches_protobuf_c_on_odd_encodings),
        cmocka_unit_test(test_codec_jobs_read_reply_matches_protobuf_c_on_long_histories),
    };
    return cmocka_run_group_tests_name("codec_jobs_read_reply", tests, NULL, NULL);
}
