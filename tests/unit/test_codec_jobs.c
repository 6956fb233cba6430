/*  test_codec_jobs.c: the jobs codec (lib/core/codec_jobs.c): records and
 *  requests survive a round trip, and the decoder refuses what the broker
 *  must never see: bad types, sites and label selectors, oversized
 *  payloads, unknown operations, heartbeats with mismatched ids and fences;
 *  batches (specs built one by one, results, outcomes) keep every item and
 *  leave a bad one for the broker to refuse alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "codec_jobs.h"
#include "codec_jobs_ref.h"

#include <stdlib.h>
#include <string.h>

static fdy_job_spec_t
s_spec(void)
{
    static const char *const sites[] = {"siheung", "pangyo"};
    static const char *const labels[] = {"gpu=a100"};
    fdy_job_spec_t spec = {.type = "inspect",
                           .payload = (const uint8_t *) "line-3",
                           .payload_len = 6,
                           .sites = sites,
                           .site_count = 2,
                           .labels = labels,
                           .label_count = 1,
                           .priority = 5,
                           .timeout_ms = 30000,
                           .max_attempts = 3,
                           .key = "order-17"};
    return spec;
}

static void
test_codec_jobs_record_round_trip(void **state)
{
    (void) state;
    fdy_job_attempt_t tries[2] = {{1, 1, "node-a", 10, 20, "lost", "lease expired"},
                                  {2, 2, "node-b", 30, 40, "succeeded", ""}};
    fdy_job_record_t rec = {.id = 42,
                            .tenant = "acme",
                            .submitter = "acme-ci",
                            .spec = s_spec(),
                            .state = "succeeded",
                            .attempt = 2,
                            .fence = 2,
                            .result = (const uint8_t *) "ok",
                            .result_len = 2,
                            .attempts = tries,
                            .attempt_count = 2};
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(fdy_codec_job_record_encode(&rec, &buf, &len), FOUNDRY_OK);
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(len));
    fdy_job_record_t out;
    fdy_reason_t reason;
    assert_int_equal(fdy_codec_job_record_decode(buf, len, arena, &out, &reason), FOUNDRY_OK);
    assert_int_equal(out.id, 42);
    assert_string_equal(out.tenant, "acme");
    assert_string_equal(out.spec.type, "inspect");
    assert_int_equal(out.spec.site_count, 2);
    assert_string_equal(out.spec.sites[1], "pangyo");
    assert_string_equal(out.spec.labels[0], "gpu=a100");
    assert_string_equal(out.spec.key, "order-17");
    assert_int_equal(out.spec.payload_len, 6);
    assert_memory_equal(out.spec.payload, "line-3", 6);
    assert_int_equal(out.attempt_count, 2);
    assert_string_equal(out.attempts[0].state, "lost");
    assert_int_equal(out.attempts[1].fence, 2);
    assert_int_equal(out.result_len, 2);
    free(buf);
    fdy_arena_destroy(&arena);
}

static foundry_err
s_decode_submit(const fdy_job_spec_t *spec, fdy_reason_t *reason)
{
    fdy_job_request_t req = {.op = FDY_JOB_SUBMIT, .spec = *spec};
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(fdy_codec_job_request_encode(&req, &buf, &len), FOUNDRY_OK);
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(len));
    fdy_job_request_t out;
    foundry_err err = fdy_codec_job_request_decode(buf, len, arena, &out, reason);
    free(buf);
    fdy_arena_destroy(&arena);
    return err;
}

static void
test_codec_jobs_refuses_bad_specs(void **state)
{
    (void) state;
    fdy_reason_t reason;
    fdy_job_spec_t spec = s_spec();
    assert_int_equal(s_decode_submit(&spec, &reason), FOUNDRY_OK);
    spec.type = "bad type";
    assert_int_equal(s_decode_submit(&spec, &reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "job type"));
    spec = s_spec();
    const char *bad_sites[] = {"Pangyo!"};
    spec.sites = bad_sites;
    spec.site_count = 1;
    assert_int_equal(s_decode_submit(&spec, &reason), FOUNDRY_EINVAL);
    spec = s_spec();
    const char *bad_labels[][1] = {{"gpu"}, {"=a100"}, {"gpu=a 100"}, {"gpu=a,b"}, {"gpu="}};
    for (size_t i = 0; i < 5; i++) {
        spec.labels = bad_labels[i];
        assert_int_equal(s_decode_submit(&spec, &reason), FOUNDRY_EINVAL);
        assert_non_null(strstr(reason.text, "not key=value"));
    }
    spec = s_spec();
    assert_int_equal(fdy_codec_job_spec_check(&spec, 5, &reason), FOUNDRY_ETOOBIG);
    assert_true(fdy_codec_job_label_ok("robot=ur10"));
    assert_false(fdy_codec_job_label_ok("robot"));
}

static void
test_codec_jobs_refuses_malformed_requests(void **state)
{
    (void) state;
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(64));
    fdy_job_request_t out;
    fdy_reason_t reason;
    const uint8_t unknown_op[] = {0x08, 0x63};           /* op 99 */
    const uint8_t no_spec[] = {0x08, 0x01};              /* SUBMIT without spec */
    const uint8_t garbage[] = {0x0a, 0x05, 0x01};        /* truncated */
    /* HEARTBEAT with two ids and one fence. */
    const uint8_t mismatched[] = {0x08, 0x08, 0x7a, 0x02, 0x01, 0x02, 0x82, 0x01, 0x01, 0x01};
    assert_int_equal(fdy_codec_job_request_decode(unknown_op, sizeof unknown_op, arena, &out,
                                                  &reason),
                     FOUNDRY_EPROTO);
    assert_int_equal(fdy_codec_job_request_decode(no_spec, sizeof no_spec, arena, &out, &reason),
                     FOUNDRY_EPROTO);
    assert_int_equal(fdy_codec_job_request_decode(garbage, sizeof garbage, arena, &out, &reason),
                     FOUNDRY_EPROTO);
    assert_int_equal(fdy_codec_job_request_decode(mismatched, sizeof mismatched, arena, &out,
                                                  &reason),
                     FOUNDRY_EPROTO);
    assert_non_null(strstr(reason.text, "heartbeat"));
    fdy_arena_destroy(&arena);
}


/* A SUBMIT batch built one spec at a time decodes to the same specs, in
 * order; a bad spec in it is kept for the broker to refuse alone. */
static void
test_codec_jobs_batch_append_round_trip(void **state)
{
    (void) state;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    fdy_job_spec_t spec = s_spec();
    for (uint32_t i = 0; i < 300; i++) {
        spec.priority = i;
        spec.type = i == 7 ? "bad type" : "inspect";
        assert_int_equal(fdy_codec_job_batch_append(&buf, &len, &cap, &spec), FOUNDRY_OK);
    }
    fdy_arena_t *arena = fdy_arena_new(FDY_JOB_DECODE_BUDGET(len));
    fdy_job_request_t out;
    fdy_reason_t reason;
    assert_int_equal(fdy_codec_job_request_decode(buf, len, arena, &out, &reason), FOUNDRY_OK);
    assert_int_equal(out.op, FDY_JOB_SUBMIT);
    assert_int_equal(out.spec_count, 300);
    for (uint32_t i = 0; i < 300; i++) {
        assert_int_equal(out.specs[i].priority, i);
        assert_int_equal(out.specs[i].payload_len, 6);
        assert_memory_equal(out.specs[i].payload, "line-3", 6);
        assert_string_equal(out.specs[i].sites[1], "pangyo");
        assert_string_equal(out.specs[i].key, "order-17");
    }
    assert_string_equal(out.specs[7].type, "bad type");
    assert_int_equal(fdy_codec_job_spec_check(&out.specs[7], 1024, &reason), FOUNDRY_EINVAL);
    assert_int_equal(fdy_codec_job_spec_check(&out.specs[8], 1024, &reason), FOUNDRY_OK);
    fdy_arena_destroy(&arena);
    free(buf);
}

static void
test_codec_jobs_result_batch_and_outcomes_round_trip(void **state)
{
    (void) state;
    fdy_job_result_item_t items[3] = {
        {11, 1, true, (const uint8_t *) "done", 4, NULL, "tail", 1},
        {12, 2, false, NULL, 0, "torch cold", NULL, 1},
        {13, 3, true, NULL, 0, NULL, NULL, 0},
    };
    fdy_job_request_t req = {.op = FDY_JOB_RESULT, .results = items, .result_count = 3};
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(fdy_codec_job_request_encode(&req, &buf, &len), FOUNDRY_OK);
    fdy_arena_t *arena = fdy_arena_new(FDY_JOB_DECODE_BUDGET(len));
    fdy_job_request_t out;
    fdy_reason_t reason;
    assert_int_equal(fdy_codec_job_request_decode(buf, len, arena, &out, &reason), FOUNDRY_OK);
    free(buf);
    assert_int_equal(out.result_count, 3);
    assert_int_equal(out.results[0].job_id, 11);
    assert_memory_equal(out.results[0].result, "done", 4);
    assert_string_equal(out.results[0].log_tail, "tail");
    assert_false(out.results[1].ok);
    assert_string_equal(out.results[1].error, "torch cold");
    assert_int_equal(out.results[2].fence, 3);
    assert_int_equal(out.results[2].credit, 0);
    assert_int_equal(fdy_codec_job_result_check(&out.results[0], &reason), FOUNDRY_OK);
    fdy_job_result_item_t huge = {1, 1, true, NULL, FDY_JOB_RESULT_MAX + 1, NULL, NULL, 0};
    assert_int_equal(fdy_codec_job_result_check(&huge, &reason), FOUNDRY_ETOOBIG);

    fdy_job_outcome_t outs[2] = {{21, false, FOUNDRY_OK, NULL},
                                 {0, false, FOUNDRY_ESTALE, "job 22: fence 1 is stale"}};
    fdy_job_reply_t reply = {0, false, NULL, 0, outs, 2};
    assert_int_equal(fdy_codec_job_reply_encode(&reply, &buf, &len), FOUNDRY_OK);
    fdy_arena_reset(arena, FDY_JOB_DECODE_BUDGET(len));
    fdy_job_reply_t back;
    assert_int_equal(fdy_codec_job_reply_decode(buf, len, arena, &back, &reason), FOUNDRY_OK);
    free(buf);
    assert_int_equal(back.outcome_count, 2);
    assert_int_equal(back.outcomes[0].job_id, 21);
    assert_int_equal(back.outcomes[0].code, FOUNDRY_OK);
    assert_int_equal(back.outcomes[1].code, FOUNDRY_ESTALE);
    assert_string_equal(back.outcomes[1].error, "job 22: fence 1 is stale");
    fdy_arena_destroy(&arena);
}

/* Batches only where they belong, and never over the limit. */
static void
test_codec_jobs_refuses_misplaced_batches(void **state)
{
    (void) state;
    fdy_arena_t *arena = fdy_arena_new(FDY_JOB_DECODE_BUDGET(64));
    fdy_job_request_t out;
    fdy_reason_t reason;
    /* RESULT (op 7) carrying a spec batch entry (field 17: an empty spec). */
    const uint8_t specs_in_result[] = {0x08, 0x07, 0x8a, 0x01, 0x00};
    /* SUBMIT (op 1) carrying a result batch entry (field 18). */
    const uint8_t results_in_submit[] = {0x08, 0x01, 0x92, 0x01, 0x02, 0x08, 0x05};
    /* SUBMIT with a single spec (field 2) and a batch entry. */
    const uint8_t both[] = {0x08, 0x01, 0x12, 0x00, 0x8a, 0x01, 0x00};
    assert_int_equal(fdy_codec_job_request_decode(specs_in_result, sizeof specs_in_result, arena,
                                                  &out, &reason),
                     FOUNDRY_EPROTO);
    assert_non_null(strstr(reason.text, "batch of specs"));
    assert_int_equal(fdy_codec_job_request_decode(results_in_submit, sizeof results_in_submit,
                                                  arena, &out, &reason),
                     FOUNDRY_EPROTO);
    assert_non_null(strstr(reason.text, "batch of results"));
    assert_int_equal(fdy_codec_job_request_decode(both, sizeof both, arena, &out, &reason),
                     FOUNDRY_EPROTO);
    fdy_arena_destroy(&arena);

    fdy_job_result_item_t one = {1, 1, true, NULL, 0, NULL, NULL, 0};
    fdy_job_result_item_t *many = calloc(FDY_JOB_BATCH_MAX + 1, sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i <= FDY_JOB_BATCH_MAX; i++)
        many[i] = one;
    fdy_job_request_t req = {.op = FDY_JOB_RESULT, .results = many,
                             .result_count = FDY_JOB_BATCH_MAX + 1};
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(fdy_codec_job_request_encode(&req, &buf, &len), FOUNDRY_EINVAL);
    assert_null(buf);
    free(many);
}

/* The hand-packed stored record and SUBMIT batch (codec_jobs_pack.c) are
 * byte for byte what protobuf-c packs: every field set, large varints,
 * two-byte tags (attempts, progress, waiting), empty and absent texts. */
static void
test_codec_jobs_hand_packed_record_and_batch_match_the_packer(void **state)
{
    (void) state;
    static const char *const sites[] = {"siheung", "pangyo"};
    static const char *const labels[] = {"gpu=a100", "robot=ur10"};
    fdy_job_attempt_t tries[2] = {{1, 1, "node-a", 10, 20, "lost", "lease expired"},
                                  {2, 1ull << 35, "node-b", 1ull << 42, 0, "running", ""}};
    fdy_job_record_t rec = {.id = 300, .tenant = "acme", .submitter = "acme-ops",
                            .state = "running", .attempt = 2, .fence = UINT64_MAX,
                            .created_ms = 1700000000000ull, .updated_ms = 1700000000500ull,
                            .not_before_ms = 7, .lease_until_ms = 1700000006000ull,
                            .node = "node-b", .result = (const uint8_t *) "r\0s", .result_len = 3,
                            .error = "exit status 1", .log_tail = "tail", .attempts = tries,
                            .attempt_count = 2, .progress = "40%", .waiting = "busy"};
    rec.spec = (fdy_job_spec_t){.type = "inspect", .payload = (const uint8_t *) "line-3",
                                .payload_len = 6, .sites = sites, .site_count = 2,
                                .labels = labels, .label_count = 2, .priority = 200,
                                .timeout_ms = 30000, .max_attempts = 3,
                                .backoff_initial_ms = 1000, .backoff_factor = 2,
                                .backoff_max_ms = 60000, .key = "order-17",
                                .deadline_ms = 1800000000000ull, .result_ttl_ms = 86400000,
                                .node = "node-b"};
    fdy_job_record_t bare = {.id = 1, .state = "queued"};
    bare.spec.type = "t";
    uint8_t *mine = NULL, *packed = NULL;
    size_t len = 0, cap = 0, packed_len = 0;
    const fdy_job_record_t *cases[] = {&rec, &bare};
    for (size_t i = 0; i < 2; i++) {
        len = 0;
        assert_int_equal(fdy_codec_job_record_append(cases[i], &mine, &len, &cap), FOUNDRY_OK);
        assert_int_equal(fdy_codec_job_record_encode(cases[i], &packed, &packed_len), FOUNDRY_OK);
        assert_int_equal(len, packed_len);
        assert_memory_equal(mine, packed, len);
        free(packed);
    }
    free(mine);

    fdy_job_spec_t specs[3] = {rec.spec, s_spec(), bare.spec};
    mine = NULL;
    len = cap = 0;
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fdy_codec_job_batch_append(&mine, &len, &cap, &specs[i]), FOUNDRY_OK);
    fdy_job_request_t req = {.op = FDY_JOB_SUBMIT, .specs = specs, .spec_count = 3};
    assert_int_equal(fdy_codec_job_request_encode_pb(&req, &packed, &packed_len), FOUNDRY_OK);
    assert_int_equal(len, packed_len);
    assert_memory_equal(mine, packed, len);
    free(packed);
    free(mine);
}

/* The hand-packed JOB_OFFERS body is byte for byte what protobuf-c packs
 * for the same offers (big ids, fences and payloads, an empty payload, a
 * kill order, a zero timeout), and decodes back. */
static void
test_codec_jobs_offer_append_matches_the_packer(void **state)
{
    (void) state;
    static uint8_t big[300];
    memset(big, 'p', sizeof big);
    fdy_job_record_t recs[4];
    memset(recs, 0, sizeof recs);
    recs[0] = (fdy_job_record_t){.id = 1, .state = "leased", .attempt = 1, .fence = 1};
    recs[0].spec.type = "echo";
    recs[0].spec.payload = big;
    recs[0].spec.payload_len = sizeof big;
    recs[0].spec.timeout_ms = 60000;
    recs[1] = (fdy_job_record_t){.id = 1ull << 40, .state = "leased", .attempt = 300,
                                 .fence = UINT64_MAX};
    recs[1].spec.type = "t";
    recs[2] = (fdy_job_record_t){.id = 77, .state = "cancelled", .attempt = 2, .fence = 5};
    recs[2].spec.type = "inspect";
    recs[2].spec.timeout_ms = 127;
    recs[3] = (fdy_job_record_t){.id = 128, .state = "leased", .attempt = 1, .fence = 128};
    recs[3].spec.type = "x";
    recs[3].spec.payload = big;
    recs[3].spec.payload_len = 127;
    uint8_t *mine = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(fdy_codec_job_offer_append(&mine, &len, &cap, &recs[i]), FOUNDRY_OK);
    fdy_job_reply_t reply = {0, false, recs, 4, NULL, 0};
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    assert_int_equal(fdy_codec_job_reply_encode_pb(&reply, &packed, &packed_len), FOUNDRY_OK);
    assert_int_equal(len, packed_len);
    assert_memory_equal(mine, packed, len);

    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(len));
    fdy_job_reply_t back;
    fdy_reason_t reason = {{0}};
    assert_int_equal(fdy_codec_job_reply_decode(mine, len, arena, &back, &reason), FOUNDRY_OK);
    assert_int_equal(back.job_count, 4);
    assert_int_equal(back.jobs[1].id, 1ull << 40);
    assert_int_equal(back.jobs[1].fence, UINT64_MAX);
    assert_string_equal(back.jobs[2].state, "cancelled");
    assert_int_equal(back.jobs[0].spec.payload_len, sizeof big);
    assert_int_equal(back.jobs[0].spec.timeout_ms, 60000);
    fdy_arena_destroy(&arena);
    free(mine);
    free(packed);
}

/* The hand-packed JobReply (codec_jobs_pack.c) is byte for byte what
 * protobuf-c packs: empty, a single answer, a batch's outcomes (stored,
 * duplicate, refused with a reason, all zero), records with history. */
static void
test_codec_jobs_reply_encode_matches_the_packer(void **state)
{
    (void) state;
    fdy_job_outcome_t outs[4] = {{1ull << 40, false, FOUNDRY_OK, NULL},
                                 {7, true, FOUNDRY_OK, ""},
                                 {0, false, FOUNDRY_EINVAL, "job type 'x y' must be 1..64"},
                                 {0, false, FOUNDRY_OK, NULL}};
    fdy_job_attempt_t tries[1] = {{1, 1, "node-a", 10, 20, "lost", "lease expired"}};
    fdy_job_record_t recs[2];
    memset(recs, 0, sizeof recs);
    recs[0] = (fdy_job_record_t){.id = 42, .tenant = "acme", .state = "running", .attempt = 1,
                                 .fence = 1, .attempts = tries, .attempt_count = 1,
                                 .waiting = "every eligible node is busy"};
    recs[0].spec = s_spec();
    recs[1] = (fdy_job_record_t){.id = 9, .fence = 3, .state = "stale"};
    recs[1].spec.type = "-";
    const fdy_job_reply_t cases[] = {
        {0, false, NULL, 0, NULL, 0},
        {300, true, NULL, 0, NULL, 0},
        {0, false, NULL, 0, outs, 4},
        {5, false, recs, 2, outs, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *mine = NULL, *packed = NULL;
        size_t len = 0, packed_len = 0;
        assert_int_equal(fdy_codec_job_reply_encode(&cases[i], &mine, &len), FOUNDRY_OK);
        assert_non_null(mine);
        assert_int_equal(fdy_codec_job_reply_encode_pb(&cases[i], &packed, &packed_len),
                         FOUNDRY_OK);
        assert_int_equal(len, packed_len);
        assert_memory_equal(mine, packed, len);
        free(mine);
        free(packed);
    }
}

/* The hand-packed JobRequest is byte for byte what protobuf-c packs, for
 * every operation: a single submit (an empty spec too), batches of specs
 * and of results, heartbeat ids and fences (packed), a registration. */
static void
test_codec_jobs_request_encode_matches_the_packer(void **state)
{
    (void) state;
    static const char *const labels[] = {"gpu=a100", ""};
    static const char *const types[] = {"inspect", "echo"};
    fdy_job_spec_t specs[2] = {s_spec(), {.type = "t"}};
    fdy_job_result_item_t items[3] = {{7, 1, true, (const uint8_t *) "echo", 4, "", NULL, 1},
                                      {1ull << 40, UINT64_MAX, false, NULL, 0, "exit 1", "tail", 0},
                                      {0, 0, false, NULL, 0, NULL, NULL, 0}};
    uint64_t ids[3] = {1, 300, 1ull << 60}, fences[3] = {0, 2, UINT64_MAX};
    const fdy_job_request_t cases[] = {
        {.op = FDY_JOB_SUBMIT, .spec = s_spec()},
        {.op = FDY_JOB_SUBMIT},
        {.op = FDY_JOB_SUBMIT, .specs = specs, .spec_count = 2},
        {.op = FDY_JOB_RESULT, .job_id = 5, .fence = 2, .ok = true,
         .result = (const uint8_t *) "r", .result_len = 1, .error = "e", .log_tail = "l",
         .credit = 1},
        {.op = FDY_JOB_RESULT, .results = items, .result_count = 3},
        {.op = FDY_JOB_HEARTBEAT, .job_ids = ids, .fences = fences, .id_count = 3},
        {.op = FDY_JOB_REGISTER, .name = "node-a", .labels = labels, .label_count = 2,
         .types = types, .type_count = 2, .credit = 256, .offer_batches = true},
        {.op = FDY_JOB_PROGRESS, .job_id = 9, .fence = 1, .progress = "40%"},
        {.op = FDY_JOB_LIST, .state = "queued"},
        {.op = FDY_JOB_RETRY, .job_id = 1ull << 33},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *mine = NULL, *packed = NULL;
        size_t len = 0, packed_len = 0;
        assert_int_equal(fdy_codec_job_request_encode(&cases[i], &mine, &len), FOUNDRY_OK);
        assert_non_null(mine);
        assert_int_equal(fdy_codec_job_request_encode_pb(&cases[i], &packed, &packed_len),
                         FOUNDRY_OK);
        assert_int_equal(len, packed_len);
        assert_memory_equal(mine, packed, len);
        free(mine);
        free(packed);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_jobs_record_round_trip),
        cmocka_unit_test(test_codec_jobs_refuses_bad_specs),
        cmocka_unit_test(test_codec_jobs_refuses_malformed_requests),
        cmocka_unit_test(test_codec_jobs_batch_append_round_trip),
        cmocka_unit_test(test_codec_jobs_result_batch_and_outcomes_round_trip),
        cmocka_unit_test(test_codec_jobs_refuses_misplaced_batches),
        cmocka_unit_test(test_codec_jobs_offer_append_matches_the_packer),
        cmocka_unit_test(test_codec_jobs_hand_packed_record_and_batch_match_the_packer),
        cmocka_unit_test(test_codec_jobs_reply_encode_matches_the_packer),
        cmocka_unit_test(test_codec_jobs_request_encode_matches_the_packer),
    };
    return cmocka_run_group_tests_name("codec_jobs", tests, NULL, NULL);
}
