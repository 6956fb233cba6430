/*  test_codec.c: round trips of every message and envelope kind, and every
 *  class of malformed input the codec must refuse with an error instead of
 *  crashing. Malformed frames are written with a small protobuf writer here,
 *  so they can be what the codec's own encoder would never produce.
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

#define assert_foundry_ok(expr)                                                                    \
    do {                                                                                           \
        foundry_err err_ = (expr);                                                                 \
        if (err_ != FOUNDRY_OK)                                                                    \
            fail_msg("%s: %s (%s)", #expr, foundry_strerror(err_), reason.text);                   \
    } while (0)

#define assert_foundry_err(expr, want)                                                             \
    do {                                                                                           \
        foundry_err err_ = (expr);                                                                 \
        if (err_ != (want))                                                                        \
            fail_msg("%s: got %s, want %s (%s)", #expr, foundry_strerror(err_),                    \
                     foundry_strerror(want), reason.text);                                         \
    } while (0)

/* ---- a protobuf writer for hand-made frames ----------------------------- */

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} pbw_t;

static pbw_t *
pbw_new(void)
{
    pbw_t *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->cap = 1024;
    w->data = malloc(w->cap);
    assert_non_null(w->data);
    return w;
}

static void
pbw_destroy(pbw_t **w_p)
{
    free((*w_p)->data);
    free(*w_p);
    *w_p = NULL;
}

static void
pbw_raw(pbw_t *w, const void *data, size_t len)
{
    while (w->len + len > w->cap) {
        w->cap *= 2;
        w->data = realloc(w->data, w->cap);
        assert_non_null(w->data);
    }
    if (len)
        memcpy(w->data + w->len, data, len);
    w->len += len;
}

static void
pbw_varint(pbw_t *w, uint64_t value)
{
    uint8_t buf[10];
    size_t n = 0;
    while (value >= 0x80) {
        buf[n++] = (uint8_t) (value | 0x80);
        value >>= 7;
    }
    buf[n++] = (uint8_t) value;
    pbw_raw(w, buf, n);
}

static void
pbw_uint(pbw_t *w, unsigned field, uint64_t value)
{
    pbw_varint(w, (uint64_t) field << 3);
    pbw_varint(w, value);
}

static void
pbw_bytes(pbw_t *w, unsigned field, const void *data, size_t len)
{
    pbw_varint(w, ((uint64_t) field << 3) | 2);
    pbw_varint(w, len);
    pbw_raw(w, data, len);
}

static void
pbw_str(pbw_t *w, unsigned field, const char *text)
{
    pbw_bytes(w, field, text, strlen(text));
}

static void
pbw_sub(pbw_t *w, unsigned field, const pbw_t *sub)
{
    pbw_bytes(w, field, sub->data, sub->len);
}

/* ---- fixtures --------------------------------------------------------- */

typedef struct {
    fdy_arena_t *arena;
} fixture_t;

static int
setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    fx->arena = fdy_arena_new(1u << 20);
    *state = fx;
    return fx->arena ? 0 : -1;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    fdy_arena_destroy(&fx->arena);
    free(fx);
    return 0;
}

static const fdy_header_t s_headers[] = {
    {"content-type", (const uint8_t *) "text/plain", 10},
    {"x", NULL, 0},
};

static fdy_msg_t
s_msg_full(void)
{
    fdy_msg_t msg = {
        .id = (const uint8_t *) "id-0001",
        .id_len = 7,
        .subject = "telemetry.siheung.temp",
        .payload = (const uint8_t *) "hello\0world",
        .payload_len = 11,
        .timestamp_ns = 1700000000123456789ull,
        .ttl_ms = 60000,
        .priority = 7,
        .target = "siheung",
        .correlation_id = (const uint8_t *) "\x01\x02\x03",
        .correlation_id_len = 3,
        .headers = s_headers,
        .header_count = 2,
    };
    return msg;
}

static fdy_msg_t
s_msg_min(void)
{
    fdy_msg_t msg = {.id = (const uint8_t *) "a", .id_len = 1, .subject = "a"};
    return msg;
}

/* Writes the fields of a valid message except those the test varies. */
static void
pbw_msg_base(pbw_t *w, bool id, bool subject)
{
    if (id)
        pbw_bytes(w, 1, "msg-1", 5);
    if (subject)
        pbw_str(w, 2, "telemetry.a.b");
}

/* ---- messages --------------------------------------------------------- */

static void
test_codec_msg_round_trip_all_fields(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    fdy_msg_t msg = s_msg_full();
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_foundry_ok(fdy_codec_encode_msg(&msg, &buf, &len, &reason));
    assert_int_equal(len, fdy_codec_msg_size(&msg));

    /* The zero-copy writer produces the same bytes. */
    uint8_t *copy = malloc(len);
    assert_int_equal(fdy_codec_msg_write(&msg, copy), len);
    assert_memory_equal(copy, buf, len);
    free(copy);

    fdy_msg_t out;
    assert_foundry_ok(fdy_codec_decode_msg(buf, len, fx->arena, &out, &reason));
    assert_int_equal(out.id_len, 7);
    assert_memory_equal(out.id, "id-0001", 7);
    assert_string_equal(out.subject, "telemetry.siheung.temp");
    assert_int_equal(out.payload_len, 11);
    assert_memory_equal(out.payload, "hello\0world", 11);
    assert_int_equal(out.payload_frame, 0);
    assert_true(out.timestamp_ns == 1700000000123456789ull);
    assert_int_equal(out.ttl_ms, 60000);
    assert_int_equal(out.priority, 7);
    assert_string_equal(out.target, "siheung");
    assert_int_equal(out.correlation_id_len, 3);
    assert_memory_equal(out.correlation_id, "\x01\x02\x03", 3);
    assert_int_equal(out.header_count, 2);
    assert_string_equal(out.headers[0].key, "content-type");
    assert_int_equal(out.headers[0].value_len, 10);
    assert_memory_equal(out.headers[0].value, "text/plain", 10);
    assert_string_equal(out.headers[1].key, "x");
    assert_int_equal(out.headers[1].value_len, 0);
    free(buf);

    /* Decoded pointers live in the arena, not in the input buffer. */
    assert_true(fdy_arena_used(fx->arena) > 0);
}

static void
test_codec_msg_round_trip_minimal_and_payload_frame(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    fdy_msg_t msg = s_msg_min();
    msg.payload_frame = 3;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_foundry_ok(fdy_codec_encode_msg(&msg, &buf, &len, &reason));

    fdy_msg_t out;
    assert_foundry_ok(fdy_codec_decode_msg(buf, len, fx->arena, &out, &reason));
    assert_int_equal(out.id_len, 1);
    assert_string_equal(out.subject, "a");
    assert_null(out.payload);
    assert_int_equal(out.payload_len, 0);
    assert_int_equal(out.payload_frame, 3);
    assert_int_equal(out.header_count, 0);
    assert_non_null(out.target);
    assert_string_equal(out.target, "");
    free(buf);
}

static void
test_codec_msg_32_headers_and_64_byte_id_are_allowed(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    static char keys[FDY_HEADERS_MAX][FDY_HEADER_KEY_MAX + 1];
    fdy_header_t headers[FDY_HEADERS_MAX];
    for (size_t i = 0; i < FDY_HEADERS_MAX; i++) {
        memset(keys[i], 'a' + (int) (i % 26), FDY_HEADER_KEY_MAX);
        keys[i][FDY_HEADER_KEY_MAX] = '\0';
        headers[i] = (fdy_header_t){keys[i], (const uint8_t *) "v", 1};
    }
    uint8_t id[FOUNDRY_MSG_ID_MAX];
    memset(id, 'i', sizeof id);
    fdy_msg_t msg = s_msg_min();
    msg.id = id;
    msg.id_len = sizeof id;
    msg.headers = headers;
    msg.header_count = FDY_HEADERS_MAX;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_foundry_ok(fdy_codec_encode_msg(&msg, &buf, &len, &reason));
    fdy_msg_t out;
    assert_foundry_ok(fdy_codec_decode_msg(buf, len, fx->arena, &out, &reason));
    assert_int_equal(out.header_count, FDY_HEADERS_MAX);
    assert_int_equal(out.id_len, FOUNDRY_MSG_ID_MAX);
    assert_string_equal(out.headers[31].key, keys[31]);
    free(buf);
}

static void
test_codec_check_msg_refuses_invalid(void **state)
{
    (void) state;
    fdy_reason_t reason = {""};
    fdy_msg_t msg = s_msg_full();
    assert_foundry_ok(fdy_codec_check_msg(&msg, &reason));

    uint8_t long_id[FOUNDRY_MSG_ID_MAX + 1];
    memset(long_id, 'x', sizeof long_id);

    msg = s_msg_full();
    msg.id_len = 0;
    assert_foundry_err(fdy_codec_check_msg(&msg, &reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, "id"));

    msg = s_msg_full();
    msg.id = NULL;
    assert_foundry_err(fdy_codec_check_msg(&msg, &reason), FOUNDRY_EINVAL);

    msg = s_msg_full();
    msg.id = long_id;
    msg.id_len = sizeof long_id;
    assert_foundry_err(fdy_codec_check_msg(&msg, &reason), FOUNDRY_EINVAL);

    msg = s_msg_full();
    msg.subject = NULL;
    assert_foundry_err(fdy_codec_check_msg(&msg, &reason), FOUNDRY_EINVAL);

    const char *bad_subjects[] = {"", "a..b", ".a", "a.", "a.*", "a.>", "a b", "a/b"};
    for (size_t i = 0; i < sizeof bad_subjects / sizeof bad_subjects[0]; i++) {
        msg = s_msg_full();
        msg.subject = bad_subjects[i];
        if (fdy_codec_check_msg(&msg, &reason) != FOUNDRY_EINVAL)
            fail_msg("subject '%s' accepted", bad_subjects[i]);
    }

    msg = s_msg_full();
    msg.payload_len = FDY_PAYLOAD_MAX + 1;
    assert_foundry_err(fdy_codec_check_msg(&msg, &reason), FOUNDRY_ETOOBIG);

    msg = s_msg_full();
    msg.payload_frame = 1;
    assert_foundry_err(fdy_codec_check_msg(&msg, &reason), FOUNDRY_EINVAL);

    msg = s_msg_full();
    msg.payload = NULL;
    assert_foundry_err(fdy_codec_check_msg(&msg, &reason), FOUNDRY_EINVAL);

    fdy_header_t headers[FDY_HEADERS_MAX + 1];
    for (size_t i = 0; i <= FDY_HEADERS_MAX; i++)
        headers[i] = (fdy_header_t){"k", NULL, 0};
    msg = s_msg_full();
    msg.headers = headers;
    msg.header_count = FDY_HEADERS_MAX + 1;
    assert_foundry_err(fdy_codec_check_msg(&msg, &reason), FOUNDRY_EINVAL);

    char long_key[FDY_HEADER_KEY_MAX + 2];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    headers[0].key = long_key;
    msg.header_count = 1;
    assert_foundry_err(fdy_codec_check_msg(&msg, &reason), FOUNDRY_EINVAL);
    headers[0].key = "";
    assert_foundry_err(fdy_codec_check_msg(&msg, &reason), FOUNDRY_EINVAL);
    headers[0].key = NULL;
    assert_foundry_err(fdy_codec_check_msg(&msg, &reason), FOUNDRY_EINVAL);
    headers[0] = (fdy_header_t){"k", NULL, 5};
    assert_foundry_err(fdy_codec_check_msg(&msg, &reason), FOUNDRY_EINVAL);

    /* encode_msg checks too, and hands back nothing. */
    msg = s_msg_full();
    msg.subject = "a..b";
    uint8_t *buf = (uint8_t *) &reason;
    size_t len = 99;
    assert_foundry_err(fdy_codec_encode_msg(&msg, &buf, &len, &reason), FOUNDRY_EINVAL);
    assert_null(buf);
    assert_int_equal(len, 0);
}

static void
test_codec_decode_msg_refuses_garbage_and_truncation(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    fdy_msg_t out;

    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_foundry_err(fdy_codec_decode_msg(garbage, sizeof garbage, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    assert_true(reason.text[0] != '\0');

    /* Wrong wire type for the subject field. */
    const uint8_t wire[] = {0x0a, 0x01, 'a', 0x10, 0x05};
    assert_foundry_err(fdy_codec_decode_msg(wire, sizeof wire, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);

    /* Every strict prefix of a valid record either fails to unpack or
     * lacks a required field; none may succeed or crash. */
    fdy_msg_t msg = s_msg_full();
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_foundry_ok(fdy_codec_encode_msg(&msg, &buf, &len, &reason));
    size_t protos = 0;
    for (size_t cut = 0; cut < len; cut++) {
        fdy_arena_reset(fx->arena, 1u << 20);
        uint8_t *prefix = malloc(cut ? cut : 1);
        memcpy(prefix, buf, cut);
        foundry_err err = fdy_codec_decode_msg(prefix, cut, fx->arena, &out, &reason);
        free(prefix);
        if (err == FOUNDRY_OK) {
            /* Cutting exactly between fields can leave a valid message
             * only once every required field is in. */
            assert_true(cut >= 9 + 24);
        } else {
            protos += err == FOUNDRY_EPROTO;
        }
    }
    assert_true(protos > len / 2);
    free(buf);
}

static void
test_codec_decode_msg_refuses_oversized_record(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    fdy_msg_t out;
    size_t len = FDY_BATCH_FRAME_MAX + 1;
    uint8_t *big = calloc(1, len);
    assert_foundry_err(fdy_codec_decode_msg(big, len, fx->arena, &out, &reason), FOUNDRY_ETOOBIG);
    /* Refused before unpacking: nothing came out of the arena. */
    assert_int_equal(fdy_arena_used(fx->arena), 0);
    free(big);
}

static void
test_codec_decode_msg_refuses_bad_fields(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    fdy_msg_t out;
    pbw_t *w = pbw_new();

    /* The base is valid. */
    pbw_msg_base(w, true, true);
    assert_foundry_ok(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason));

    /* No id / empty id. */
    w->len = 0;
    pbw_msg_base(w, false, true);
    assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    pbw_bytes(w, 1, "", 0);
    assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);

    /* Id of 65 bytes. */
    uint8_t long_id[FOUNDRY_MSG_ID_MAX + 1];
    memset(long_id, 'x', sizeof long_id);
    w->len = 0;
    pbw_msg_base(w, false, true);
    pbw_bytes(w, 1, long_id, sizeof long_id);
    assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    assert_non_null(strstr(reason.text, "id"));

    /* No subject: malformed record. Bad subject syntax: EINVAL. */
    w->len = 0;
    pbw_msg_base(w, true, false);
    assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    const char *bad_subjects[] = {"a..b", "telemetry.*", "x.>", ".", "a b"};
    for (size_t i = 0; i < sizeof bad_subjects / sizeof bad_subjects[0]; i++) {
        w->len = 0;
        pbw_msg_base(w, true, false);
        pbw_str(w, 2, bad_subjects[i]);
        foundry_err err = fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason);
        if (err != FOUNDRY_EINVAL)
            fail_msg("subject '%s': %s", bad_subjects[i], foundry_strerror(err));
    }

    /* Inline payload and a payload frame. */
    w->len = 0;
    pbw_msg_base(w, true, true);
    pbw_bytes(w, 3, "p", 1);
    pbw_uint(w, 4, 1);
    assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);

    /* Payload over FDY_PAYLOAD_MAX. */
    uint8_t *payload = calloc(1, FDY_PAYLOAD_MAX + 1);
    w->len = 0;
    pbw_msg_base(w, true, true);
    pbw_bytes(w, 3, payload, FDY_PAYLOAD_MAX + 1);
    fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(w->len));
    assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_ETOOBIG);
    /* ... and exactly FDY_PAYLOAD_MAX is fine. */
    w->len = 0;
    pbw_msg_base(w, true, true);
    pbw_bytes(w, 3, payload, FDY_PAYLOAD_MAX);
    fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(w->len));
    assert_foundry_ok(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason));
    assert_int_equal(out.payload_len, FDY_PAYLOAD_MAX);
    free(payload);
    fdy_arena_reset(fx->arena, 1u << 20);

    /* 33 headers. */
    pbw_t *header = pbw_new();
    pbw_str(header, 1, "k");
    pbw_bytes(header, 2, "v", 1);
    w->len = 0;
    pbw_msg_base(w, true, true);
    for (unsigned i = 0; i < FDY_HEADERS_MAX; i++)
        pbw_sub(w, 10, header);
    assert_foundry_ok(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason));
    pbw_sub(w, 10, header);
    assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    assert_non_null(strstr(reason.text, "headers"));

    /* Header key too long, and empty. */
    char long_key[FDY_HEADER_KEY_MAX + 2];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    header->len = 0;
    pbw_str(header, 1, long_key);
    w->len = 0;
    pbw_msg_base(w, true, true);
    pbw_sub(w, 10, header);
    assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    header->len = 0;
    pbw_bytes(header, 2, "v", 1);
    w->len = 0;
    pbw_msg_base(w, true, true);
    pbw_sub(w, 10, header);
    assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);

    pbw_destroy(&header);
    pbw_destroy(&w);
}

static void
test_codec_decode_msg_budget_exhaustion_is_enomem(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    fdy_msg_t out;
    fdy_msg_t msg = s_msg_full();
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_foundry_ok(fdy_codec_encode_msg(&msg, &buf, &len, &reason));
    for (size_t budget = 0; budget < 512; budget += 16) {
        fdy_arena_reset(fx->arena, budget);
        foundry_err err = fdy_codec_decode_msg(buf, len, fx->arena, &out, &reason);
        assert_true(err == FOUNDRY_ENOMEM || err == FOUNDRY_OK);
        if (err == FOUNDRY_ENOMEM)
            assert_non_null(strstr(reason.text, "budget"));
    }
    fdy_arena_reset(fx->arena, 0);
    assert_foundry_err(fdy_codec_decode_msg(buf, len, fx->arena, &out, &reason), FOUNDRY_ENOMEM);
    free(buf);

    /* Amplification: thousands of empty headers would cost far more than
     * the budget for their size; they are refused (past FDY_HEADERS_MAX)
     * before anything is allocated for them. */
    pbw_t *w = pbw_new();
    pbw_msg_base(w, true, true);
    for (int i = 0; i < 20000; i++)
        pbw_bytes(w, 10, "", 0);
    fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(w->len));
    foundry_err err = fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason);
    assert_true(err == FOUNDRY_EPROTO || err == FOUNDRY_ENOMEM);
    assert_true(fdy_arena_used(fx->arena) <= FDY_DECODE_BUDGET(w->len));
    pbw_destroy(&w);
}

/* ---- the batch frame -------------------------------------------------- */

static void
test_codec_batch_round_trip(void **state)
{
    (void) state;
    fdy_reason_t reason = {""};
    size_t lens[] = {0, 1, 127, 128, 300, 16383, 16384, 70000};
    enum { N = sizeof lens / sizeof lens[0] };
    size_t total = 0;
    for (size_t i = 0; i < N; i++)
        total += lens[i] + 10;
    uint8_t *frame = malloc(total);
    size_t len = 0;
    for (size_t i = 0; i < N; i++) {
        size_t n = fdy_codec_batch_put_prefix(lens[i], frame + len);
        assert_true(n >= 1 && n <= 10);
        len += n;
        memset(frame + len, (int) i, lens[i]);
        len += lens[i];
    }
    fdy_slice_t slices[N];
    assert_foundry_ok(fdy_codec_split_batch(frame, len, N, slices, &reason));
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(slices[i].len, lens[i]);
        assert_true(slices[i].data >= frame && slices[i].data + slices[i].len <= frame + len);
        for (size_t j = 0; j < lens[i]; j++)
            assert_int_equal(slices[i].data[j], i);
    }
    free(frame);

    uint8_t prefix[10];
    assert_int_equal(fdy_codec_batch_put_prefix(0, prefix), 1);
    assert_int_equal(prefix[0], 0);
    assert_int_equal(fdy_codec_batch_put_prefix(300, prefix), 2);
    assert_int_equal(prefix[0], 0xac);
    assert_int_equal(prefix[1], 0x02);

    /* An empty batch is an empty frame. */
    assert_foundry_ok(fdy_codec_split_batch(NULL, 0, 0, NULL, &reason));
}

static void
test_codec_batch_of_real_messages(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    enum { N = 100 };
    uint8_t *frame = malloc(N * 256);
    size_t len = 0;
    char subject[64];
    for (int i = 0; i < N; i++) {
        fdy_msg_t msg = s_msg_full();
        snprintf(subject, sizeof subject, "telemetry.site%d.t", i);
        msg.subject = subject;
        assert_foundry_ok(fdy_codec_check_msg(&msg, &reason));
        size_t size = fdy_codec_msg_size(&msg);
        len += fdy_codec_batch_put_prefix(size, frame + len);
        len += fdy_codec_msg_write(&msg, frame + len);
    }
    fdy_slice_t slices[N];
    assert_foundry_ok(fdy_codec_split_batch(frame, len, N, slices, &reason));
    fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(len));
    for (int i = 0; i < N; i++) {
        fdy_msg_t out;
        assert_foundry_ok(
            fdy_codec_decode_msg(slices[i].data, slices[i].len, fx->arena, &out, &reason));
        snprintf(subject, sizeof subject, "telemetry.site%d.t", i);
        assert_string_equal(out.subject, subject);
    }
    free(frame);
}

static void
test_codec_batch_refuses_malformed_frames(void **state)
{
    (void) state;
    fdy_reason_t reason = {""};
    fdy_slice_t slices[8];

    /* Two records: "abc" and "de". */
    const uint8_t good[] = {3, 'a', 'b', 'c', 2, 'd', 'e'};
    assert_foundry_ok(fdy_codec_split_batch(good, sizeof good, 2, slices, &reason));

    /* Record truncated: the length says more than the frame holds. */
    assert_foundry_err(fdy_codec_split_batch(good, sizeof good - 1, 2, slices, &reason),
                       FOUNDRY_EPROTO);
    /* Frame ends right after a record: count says more. */
    assert_foundry_err(fdy_codec_split_batch(good, 4, 2, slices, &reason), FOUNDRY_EPROTO);
    assert_foundry_err(fdy_codec_split_batch(good, sizeof good, 3, slices, &reason),
                       FOUNDRY_EPROTO);
    assert_non_null(strstr(reason.text, "2 records"));
    /* Count says fewer: trailing bytes. */
    assert_foundry_err(fdy_codec_split_batch(good, sizeof good, 1, slices, &reason),
                       FOUNDRY_EPROTO);
    assert_non_null(strstr(reason.text, "after"));
    /* Trailing garbage after the last record. */
    const uint8_t trailing[] = {1, 'a', 0};
    assert_foundry_err(fdy_codec_split_batch(trailing, sizeof trailing, 1, slices, &reason),
                       FOUNDRY_EPROTO);
    /* Nothing at all for one record. */
    assert_foundry_err(fdy_codec_split_batch(good, 0, 1, slices, &reason), FOUNDRY_EPROTO);

    /* Length prefix truncated mid-varint. */
    const uint8_t cut_varint[] = {1, 'a', 0x80};
    assert_foundry_err(fdy_codec_split_batch(cut_varint, sizeof cut_varint, 2, slices, &reason),
                       FOUNDRY_EPROTO);
    assert_non_null(strstr(reason.text, "truncated"));
    /* Overlong varints: a redundant zero byte, and one longer than 5. */
    const uint8_t overlong[] = {0x81, 0x00, 'a'};
    assert_foundry_err(fdy_codec_split_batch(overlong, sizeof overlong, 1, slices, &reason),
                       FOUNDRY_EPROTO);
    const uint8_t zero_overlong[] = {0x80, 0x00};
    assert_foundry_err(
        fdy_codec_split_batch(zero_overlong, sizeof zero_overlong, 1, slices, &reason),
        FOUNDRY_EPROTO);
    const uint8_t too_long[] = {0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 'a'};
    assert_foundry_err(fdy_codec_split_batch(too_long, sizeof too_long, 1, slices, &reason),
                       FOUNDRY_EPROTO);
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 'a'};
    assert_foundry_err(fdy_codec_split_batch(huge, sizeof huge, 1, slices, &reason),
                       FOUNDRY_EPROTO);
    const uint8_t all_ff[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_foundry_err(fdy_codec_split_batch(all_ff, sizeof all_ff, 1, slices, &reason),
                       FOUNDRY_EPROTO);

    /* Sizes. */
    assert_foundry_err(
        fdy_codec_split_batch(good, sizeof good, FDY_BATCH_MSGS_MAX + 1, slices, &reason),
        FOUNDRY_ETOOBIG);
    /* DELIVER frames may carry the largest storable message: the codec's
     * limit is FDY_DELIVER_FRAME_MAX (publish batches are held to
     * max_batch_bytes by the broker before they get here). */
    assert_foundry_err(fdy_codec_split_batch(good, FDY_DELIVER_FRAME_MAX + 1, 2, slices, &reason),
                       FOUNDRY_ETOOBIG);
}

/* ---- envelopes -------------------------------------------------------- */

static void
s_round_trip(fixture_t *fx, const fdy_envelope_t *env, fdy_envelope_t *out)
{
    fdy_reason_t reason = {""};
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_foundry_ok(fdy_codec_encode_envelope(env, &buf, &len));
    fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(len));
    assert_foundry_ok(fdy_codec_decode_envelope(buf, len, fx->arena, out, &reason));
    free(buf);
    assert_int_equal(out->version, FDY_PROTOCOL_VERSION);
    assert_int_equal(out->kind, env->kind);
    assert_true(out->request_id == env->request_id);
}

static void
test_codec_envelope_round_trip_simple_kinds(void **state)
{
    fixture_t *fx = *state;
    fdy_envelope_t out;

    fdy_envelope_t publish = {
        .version = 77, .kind = FDY_KIND_PUBLISH, .request_id = UINT64_MAX, .count = 16384};
    s_round_trip(fx, &publish, &out);
    assert_int_equal(out.count, 16384);

    fdy_envelope_t ping = {.kind = FDY_KIND_PING, .request_id = 5};
    s_round_trip(fx, &ping, &out);
    fdy_envelope_t pong = {.kind = FDY_KIND_PONG, .request_id = 0};
    s_round_trip(fx, &pong, &out);

    fdy_envelope_t error = {.kind = FDY_KIND_ERROR,
                            .request_id = 9,
                            .error_code = FOUNDRY_EAUTH,
                            .error_reason = "key revoked"};
    s_round_trip(fx, &error, &out);
    assert_int_equal(out.error_code, FOUNDRY_EAUTH);
    assert_string_equal(out.error_reason, "key revoked");

    const char *args[] = {"name=alice", "allow=a.>", ""};
    fdy_envelope_t admin = {.kind = FDY_KIND_ADMIN,
                            .request_id = 10,
                            .command = "key.add",
                            .args = args,
                            .arg_count = 3};
    s_round_trip(fx, &admin, &out);
    assert_string_equal(out.command, "key.add");
    assert_int_equal(out.arg_count, 3);
    assert_string_equal(out.args[0], "name=alice");
    assert_string_equal(out.args[1], "allow=a.>");
    assert_string_equal(out.args[2], "");

    fdy_envelope_t status = {.kind = FDY_KIND_ADMIN, .request_id = 11, .command = "status"};
    s_round_trip(fx, &status, &out);
    assert_string_equal(out.command, "status");
    assert_int_equal(out.arg_count, 0);
    assert_int_equal(out.admin_token_len, 0);

    uint8_t token[FDY_ADMIN_TOKEN_LEN];
    for (size_t i = 0; i < sizeof token; i++)
        token[i] = (uint8_t) (0xa0 + i);
    fdy_envelope_t tokened = {.kind = FDY_KIND_ADMIN, .request_id = 12, .command = "status",
                              .admin_token = token, .admin_token_len = sizeof token};
    s_round_trip(fx, &tokened, &out);
    assert_int_equal(out.admin_token_len, sizeof token);
    assert_memory_equal(out.admin_token, token, sizeof token);

    /* A token of another length is refused on both sides. */
    uint8_t *buf = NULL;
    size_t len = 0;
    tokened.admin_token_len = 8;
    assert_int_equal(fdy_codec_encode_envelope(&tokened, &buf, &len), FOUNDRY_EINVAL);
    assert_null(buf);
}

static void
test_codec_envelope_round_trip_publish_ack(void **state)
{
    fixture_t *fx = *state;
    uint64_t seqs[] = {1, 0, 300, 1ull << 40, 0};
    uint32_t refs[] = {0, 0, 1, 1, 0};
    const char *streams[] = {"telemetry-siheung", "telemetry-hanam"};
    uint32_t dups[] = {2};
    fdy_msg_error_t errors[] = {{1, FOUNDRY_EDENIED, "subject not allowed"},
                                {4, FOUNDRY_ENOSTREAM, ""}};
    fdy_envelope_t ack = {
        .kind = FDY_KIND_PUBLISH_ACK,
        .request_id = 42,
        .ack = {.count = 5,
                .seqs = seqs,
                .stream_refs = refs,
                .streams = streams,
                .stream_count = 2,
                .duplicates = dups,
                .duplicate_count = 1,
                .errors = errors,
                .error_count = 2},
    };
    fdy_envelope_t out;
    s_round_trip(fx, &ack, &out);
    assert_int_equal(out.ack.count, 5);
    for (int i = 0; i < 5; i++) {
        assert_true(out.ack.seqs[i] == seqs[i]);
        assert_int_equal(out.ack.stream_refs[i], refs[i]);
    }
    assert_int_equal(out.ack.stream_count, 2);
    assert_string_equal(out.ack.streams[1], "telemetry-hanam");
    assert_int_equal(out.ack.duplicate_count, 1);
    assert_int_equal(out.ack.duplicates[0], 2);
    assert_int_equal(out.ack.error_count, 2);
    assert_int_equal(out.ack.errors[0].index, 1);
    assert_int_equal(out.ack.errors[0].code, FOUNDRY_EDENIED);
    assert_string_equal(out.ack.errors[0].reason, "subject not allowed");
    assert_int_equal(out.ack.errors[1].code, FOUNDRY_ENOSTREAM);

    /* An ack of nothing still carries its (empty) ack. */
    fdy_envelope_t empty = {.kind = FDY_KIND_PUBLISH_ACK, .request_id = 43};
    s_round_trip(fx, &empty, &out);
    assert_int_equal(out.ack.count, 0);
}

static void
test_codec_envelope_round_trip_admin_reply(void **state)
{
    fixture_t *fx = *state;
    const char *columns[] = {"seq", "subject", "payload"};
    fdy_col_type_t types[] = {FDY_COL_INT, FDY_COL_TEXT, FDY_COL_BYTES};
    fdy_slice_t cells[] = {
        {(const uint8_t *) "1", 1},
        {(const uint8_t *) "a.b", 3},
        {(const uint8_t *) "\x00\xff", 2},
        {(const uint8_t *) "2", 1},
        {NULL, 0},
        {(const uint8_t *) "x", 1},
    };
    fdy_envelope_t reply = {
        .kind = FDY_KIND_ADMIN_REPLY,
        .request_id = 7,
        .table =
            {.column_count = 3, .columns = columns, .types = types, .row_count = 2, .cells = cells},
    };
    fdy_envelope_t out;
    s_round_trip(fx, &reply, &out);
    assert_int_equal(out.table.column_count, 3);
    assert_int_equal(out.table.row_count, 2);
    for (int c = 0; c < 3; c++) {
        assert_string_equal(out.table.columns[c], columns[c]);
        assert_int_equal(out.table.types[c], types[c]);
    }
    for (int i = 0; i < 6; i++) {
        assert_int_equal(out.table.cells[i].len, cells[i].len);
        if (cells[i].len)
            assert_memory_equal(out.table.cells[i].data, cells[i].data, cells[i].len);
    }

    /* An empty table: columns, no rows. */
    reply.table.row_count = 0;
    s_round_trip(fx, &reply, &out);
    assert_int_equal(out.table.row_count, 0);
    assert_int_equal(out.table.column_count, 3);
}

static void
test_codec_envelope_encode_refuses_invalid(void **state)
{
    (void) state;
    uint8_t *buf = NULL;
    size_t len = 0;
    fdy_envelope_t env = {.kind = 0};
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    env.kind = 99;
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    fdy_envelope_t admin = {.kind = FDY_KIND_ADMIN};
    assert_int_equal(fdy_codec_encode_envelope(&admin, &buf, &len), FOUNDRY_EINVAL);
    const char *args[] = {"a", NULL};
    admin.command = "x";
    admin.args = args;
    admin.arg_count = 2;
    assert_int_equal(fdy_codec_encode_envelope(&admin, &buf, &len), FOUNDRY_EINVAL);
    fdy_col_type_t bad_type[] = {7};
    const char *columns[] = {"c"};
    fdy_envelope_t reply = {.kind = FDY_KIND_ADMIN_REPLY,
                            .table = {.column_count = 1, .columns = columns, .types = bad_type}};
    assert_int_equal(fdy_codec_encode_envelope(&reply, &buf, &len), FOUNDRY_EINVAL);
    assert_null(buf);
}

/* Decodes a hand-made envelope expecting `want`. */
static void
s_expect(fixture_t *fx, const pbw_t *w, foundry_err want, const char *why)
{
    fdy_reason_t reason = {""};
    fdy_envelope_t out;
    fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(w->len));
    foundry_err err = fdy_codec_decode_envelope(w->data, w->len, fx->arena, &out, &reason);
    if (err != want)
        fail_msg("%s: got %s, want %s (%s)", why, foundry_strerror(err), foundry_strerror(want),
                 reason.text);
    if (want != FOUNDRY_OK && reason.text[0] == '\0')
        fail_msg("%s: no reason given", why);
}

static void
pbw_env(pbw_t *w, uint64_t version, uint64_t kind)
{
    w->len = 0;
    pbw_uint(w, 1, version);
    pbw_uint(w, 2, kind);
    pbw_uint(w, 3, 1234);
}

static void
test_codec_envelope_version_and_kind_keep_request_id(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    fdy_envelope_t out;
    pbw_t *w = pbw_new();

    pbw_env(w, 2, FDY_KIND_PING);
    assert_foundry_err(fdy_codec_decode_envelope(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EVERSION);
    assert_true(out.request_id == 1234);
    assert_non_null(strstr(reason.text, "version 2"));

    /* Version missing (0). */
    w->len = 0;
    pbw_uint(w, 2, FDY_KIND_PING);
    pbw_uint(w, 3, 99);
    assert_foundry_err(fdy_codec_decode_envelope(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EVERSION);
    assert_true(out.request_id == 99);

    pbw_env(w, 1, 99);
    assert_foundry_err(fdy_codec_decode_envelope(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EKIND);
    assert_true(out.request_id == 1234);
    pbw_env(w, 1, 0);
    assert_foundry_err(fdy_codec_decode_envelope(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EKIND);
    assert_true(out.request_id == 1234);
    /* A negative enum value on the wire (10-byte varint). */
    pbw_env(w, 1, UINT64_MAX);
    assert_foundry_err(fdy_codec_decode_envelope(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EKIND);

    pbw_env(w, 1, FDY_KIND_PING);
    assert_foundry_ok(fdy_codec_decode_envelope(w->data, w->len, fx->arena, &out, &reason));
    assert_int_equal(out.kind, FDY_KIND_PING);
    pbw_destroy(&w);
}

static void
test_codec_envelope_refuses_garbage_and_size(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    fdy_envelope_t out;

    const uint8_t garbage[] = {0x08, 0x01, 0x12, 0xff, 0xff};
    assert_foundry_err(fdy_codec_decode_envelope(garbage, sizeof garbage, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    const uint8_t bad_tag[] = {0x00, 0x01};
    assert_foundry_err(fdy_codec_decode_envelope(bad_tag, sizeof bad_tag, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);

    /* Every strict prefix of a valid ack envelope fails cleanly. */
    uint64_t seqs[] = {1, 2};
    uint32_t refs[] = {0, 0};
    const char *streams[] = {"s"};
    fdy_envelope_t ack = {
        .kind = FDY_KIND_PUBLISH_ACK,
        .request_id = 1,
        .ack = {
            .count = 2, .seqs = seqs, .stream_refs = refs, .streams = streams, .stream_count = 1}};
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_foundry_ok(fdy_codec_encode_envelope(&ack, &buf, &len));
    for (size_t cut = 0; cut < len; cut++) {
        fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(len));
        uint8_t *prefix = malloc(cut ? cut : 1);
        memcpy(prefix, buf, cut);
        foundry_err err = fdy_codec_decode_envelope(prefix, cut, fx->arena, &out, &reason);
        free(prefix);
        assert_int_not_equal(err, FOUNDRY_OK);
    }
    free(buf);

    size_t big_len = FDY_ENVELOPE_MAX + 1;
    uint8_t *big = calloc(1, big_len);
    fdy_arena_reset(fx->arena, 1u << 20);
    assert_foundry_err(fdy_codec_decode_envelope(big, big_len, fx->arena, &out, &reason),
                       FOUNDRY_ETOOBIG);
    assert_int_equal(fdy_arena_used(fx->arena), 0);
    free(big);

    /* Empty frame: all defaults, so version 0. */
    assert_foundry_err(fdy_codec_decode_envelope(NULL, 0, fx->arena, &out, &reason),
                       FOUNDRY_EVERSION);
}

static void
test_codec_envelope_refuses_missing_fields(void **state)
{
    fixture_t *fx = *state;
    pbw_t *w = pbw_new();
    pbw_t *sub = pbw_new();
    pbw_t *row = pbw_new();

    pbw_env(w, 1, FDY_KIND_PUBLISH);
    s_expect(fx, w, FOUNDRY_EPROTO, "PUBLISH without count");
    pbw_uint(w, 4, FDY_BATCH_MSGS_MAX + 1);
    s_expect(fx, w, FOUNDRY_ETOOBIG, "PUBLISH count too big");
    pbw_env(w, 1, FDY_KIND_PUBLISH);
    pbw_uint(w, 4, 3);
    s_expect(fx, w, FOUNDRY_OK, "PUBLISH with count");

    pbw_env(w, 1, FDY_KIND_PUBLISH_ACK);
    s_expect(fx, w, FOUNDRY_EPROTO, "PUBLISH_ACK without ack");
    pbw_env(w, 1, FDY_KIND_ERROR);
    s_expect(fx, w, FOUNDRY_EPROTO, "ERROR without error");
    sub->len = 0;
    pbw_str(sub, 2, "why");
    pbw_sub(w, 6, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "ERROR with code 0");
    pbw_env(w, 1, FDY_KIND_ADMIN);
    s_expect(fx, w, FOUNDRY_EPROTO, "ADMIN without admin");
    sub->len = 0;
    pbw_str(sub, 2, "arg=1");
    pbw_sub(w, 7, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "ADMIN without command");
    pbw_env(w, 1, FDY_KIND_ADMIN);
    sub->len = 0;
    pbw_str(sub, 1, "status");
    pbw_bytes(sub, 3, "short", 5);
    pbw_sub(w, 7, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "ADMIN token of 5 bytes");
    pbw_env(w, 1, FDY_KIND_ADMIN_REPLY);
    s_expect(fx, w, FOUNDRY_EPROTO, "ADMIN_REPLY without table");

    /* Ack: seqs and stream refs disagree. */
    sub->len = 0;
    pbw_uint(sub, 1, 5);
    pbw_uint(sub, 1, 6);
    pbw_uint(sub, 2, 0);
    pbw_str(sub, 3, "s");
    pbw_env(w, 1, FDY_KIND_PUBLISH_ACK);
    pbw_sub(w, 5, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "ack seqs/refs mismatch");
    /* Stream ref out of range. */
    sub->len = 0;
    pbw_uint(sub, 1, 5);
    pbw_uint(sub, 2, 1);
    pbw_str(sub, 3, "s");
    pbw_env(w, 1, FDY_KIND_PUBLISH_ACK);
    pbw_sub(w, 5, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "ack stream ref out of range");
    /* Duplicate index out of range. */
    sub->len = 0;
    pbw_uint(sub, 1, 5);
    pbw_uint(sub, 2, 0);
    pbw_str(sub, 3, "s");
    pbw_uint(sub, 4, 1);
    pbw_env(w, 1, FDY_KIND_PUBLISH_ACK);
    pbw_sub(w, 5, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "ack duplicate out of range");
    /* Error index out of range. */
    row->len = 0;
    pbw_uint(row, 1, 1);
    pbw_uint(row, 2, FOUNDRY_EDENIED);
    sub->len = 0;
    pbw_uint(sub, 1, 0);
    pbw_uint(sub, 2, 0);
    pbw_sub(sub, 5, row);
    pbw_env(w, 1, FDY_KIND_PUBLISH_ACK);
    pbw_sub(w, 5, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "ack error index out of range");

    /* Table: types do not match columns. */
    sub->len = 0;
    pbw_str(sub, 1, "a");
    pbw_str(sub, 1, "b");
    pbw_uint(sub, 2, FDY_COL_TEXT);
    pbw_env(w, 1, FDY_KIND_ADMIN_REPLY);
    pbw_sub(w, 8, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "table types/columns mismatch");
    /* Unknown column type. */
    sub->len = 0;
    pbw_str(sub, 1, "a");
    pbw_uint(sub, 2, 9);
    pbw_env(w, 1, FDY_KIND_ADMIN_REPLY);
    pbw_sub(w, 8, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "unknown column type");
    /* A row with too few cells. */
    sub->len = 0;
    pbw_str(sub, 1, "a");
    pbw_str(sub, 1, "b");
    pbw_uint(sub, 2, FDY_COL_TEXT);
    pbw_uint(sub, 2, FDY_COL_INT);
    row->len = 0;
    pbw_bytes(row, 1, "x", 1);
    pbw_sub(sub, 3, row);
    pbw_env(w, 1, FDY_KIND_ADMIN_REPLY);
    pbw_sub(w, 8, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "row with too few cells");
    pbw_bytes(row, 1, "y", 1);
    sub->len = 0;
    pbw_str(sub, 1, "a");
    pbw_str(sub, 1, "b");
    pbw_uint(sub, 2, FDY_COL_TEXT);
    pbw_uint(sub, 2, FDY_COL_INT);
    pbw_sub(sub, 3, row);
    pbw_env(w, 1, FDY_KIND_ADMIN_REPLY);
    pbw_sub(w, 8, sub);
    s_expect(fx, w, FOUNDRY_OK, "row with its cells");

    pbw_destroy(&row);
    pbw_destroy(&sub);
    pbw_destroy(&w);
}

static void
test_codec_envelope_amplification_hits_budget(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    fdy_envelope_t out;
    pbw_t *w = pbw_new();
    pbw_t *sub = pbw_new();
    /* 30000 empty rows: 2 bytes each on the wire, ~56 bytes each unpacked. */
    for (int i = 0; i < 30000; i++)
        pbw_bytes(sub, 3, "", 0);
    pbw_env(w, 1, FDY_KIND_ADMIN_REPLY);
    pbw_sub(w, 8, sub);
    assert_true(w->len <= FDY_ENVELOPE_MAX);
    fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(w->len));
    assert_foundry_err(fdy_codec_decode_envelope(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_ENOMEM);
    assert_true(fdy_arena_used(fx->arena) <= FDY_DECODE_BUDGET(w->len));
    /* The same arena still decodes once reset. */
    pbw_env(w, 1, FDY_KIND_PING);
    s_expect(fx, w, FOUNDRY_OK, "ping after exhaustion");
    pbw_destroy(&sub);
    pbw_destroy(&w);
}

static void
test_codec_decode_msg_refuses_nul_and_bad_utf8(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    fdy_msg_t out;
    pbw_t *w = pbw_new();
    pbw_t *header = pbw_new();

    /* "a\0b" would decode as "a": the ACL would judge a different subject
     * from the one stored. */
    pbw_msg_base(w, true, false);
    pbw_bytes(w, 2, "a\0b", 3);
    assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    assert_non_null(strstr(reason.text, "subject"));

    const char *bad_text[] = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                              "x\0y"};
    size_t bad_len[] = {1, 2, 2, 3, 4, 3};
    for (size_t i = 0; i < sizeof bad_text / sizeof bad_text[0]; i++) {
        w->len = 0;
        pbw_msg_base(w, true, true);
        pbw_bytes(w, 8, bad_text[i], bad_len[i]);
        if (fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason) != FOUNDRY_EPROTO)
            fail_msg("target %zu accepted", i);
        header->len = 0;
        pbw_bytes(header, 1, bad_text[i], bad_len[i]);
        w->len = 0;
        pbw_msg_base(w, true, true);
        pbw_sub(w, 10, header);
        if (fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason) != FOUNDRY_EPROTO)
            fail_msg("header key %zu accepted", i);
    }
    /* Valid multi-byte text is fine, and a NUL inside a bytes field too. */
    w->len = 0;
    pbw_msg_base(w, true, true);
    pbw_str(w, 8, "\xec\x8b\x9c\xed\x9d\xa5 \xf0\x9f\x98\x80");
    pbw_bytes(w, 3, "a\0b", 3);
    header->len = 0;
    pbw_str(header, 1, "caf\xc3\xa9");
    pbw_bytes(header, 2, "\0", 1);
    pbw_sub(w, 10, header);
    assert_foundry_ok(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason));
    assert_string_equal(out.target, "\xec\x8b\x9c\xed\x9d\xa5 \xf0\x9f\x98\x80");
    assert_int_equal(out.payload_len, 3);

    /* check_msg refuses the same on the sending side. */
    fdy_msg_t msg = s_msg_full();
    msg.target = "\xc3(";
    assert_foundry_err(fdy_codec_check_msg(&msg, &reason), FOUNDRY_EINVAL);
    fdy_header_t bad_header = {"\xff", NULL, 0};
    msg = s_msg_full();
    msg.headers = &bad_header;
    msg.header_count = 1;
    assert_foundry_err(fdy_codec_check_msg(&msg, &reason), FOUNDRY_EINVAL);

    pbw_destroy(&header);
    pbw_destroy(&w);
}

static void
test_codec_batch_of_tiny_messages_fits_batch_budget(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    enum { N = FDY_BATCH_MSGS_MAX };
    uint8_t *frame = malloc((size_t) N * 32);
    size_t len = 0;
    fdy_msg_t msg = s_msg_min();
    for (int i = 0; i < N; i++) {
        len += fdy_codec_batch_put_prefix(fdy_codec_msg_size(&msg), frame + len);
        len += fdy_codec_msg_write(&msg, frame + len);
    }
    fdy_slice_t *slices = calloc(N, sizeof *slices);
    assert_foundry_ok(fdy_codec_split_batch(frame, len, N, slices, &reason));
    fdy_arena_reset(fx->arena, FDY_BATCH_DECODE_BUDGET(len, N));
    for (int i = 0; i < N; i++) {
        fdy_msg_t out;
        assert_foundry_ok(
            fdy_codec_decode_msg(slices[i].data, slices[i].len, fx->arena, &out, &reason));
    }
    free(slices);
    free(frame);
}

static void
test_codec_envelope_large_replies_decode(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    fdy_envelope_t out;

    /* A key.ls-like table of 1000 rows: over FDY_ENVELOPE_MAX, and within
     * FDY_DECODE_BUDGET of its size. */
    enum { ROWS = 1000, COLS = 8 };
    const char *columns[COLS] = {"name",          "role",    "site",       "tenant",
                                 "allow_publish", "revoked", "created_ns", "public_key"};
    fdy_col_type_t types[COLS] = {0, 0, 0, 0, 0, 1, 1, 0};
    const char *values[COLS] = {"node-siheung-1",
                                "node",
                                "siheung",
                                "",
                                "",
                                "0",
                                "1700000000000000000",
                                "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"};
    fdy_slice_t *cells = calloc(ROWS * COLS, sizeof *cells);
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++)
            cells[r * COLS + c] = (fdy_slice_t){(const uint8_t *) values[c], strlen(values[c])};
    fdy_envelope_t reply = {.kind = FDY_KIND_ADMIN_REPLY,
                            .request_id = 3,
                            .table = {COLS, columns, types, ROWS, cells}};
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_foundry_ok(fdy_codec_encode_envelope(&reply, &buf, &len));
    assert_true(len > FDY_ENVELOPE_MAX);
    fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(len));
    assert_foundry_ok(fdy_codec_decode_envelope(buf, len, fx->arena, &out, &reason));
    assert_int_equal(out.table.row_count, ROWS);
    assert_string_equal(out.table.columns[7], "public_key");
    assert_memory_equal(out.table.cells[(ROWS - 1) * COLS].data, "node-siheung-1", 14);
    free(buf);
    free(cells);

    /* A request kind that large is refused before unpacking. */
    pbw_t *w = pbw_new();
    pbw_env(w, 1, FDY_KIND_ADMIN);
    uint8_t *junk = calloc(1, FDY_ENVELOPE_MAX);
    pbw_bytes(w, 7, junk, FDY_ENVELOPE_MAX);
    fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(w->len));
    assert_foundry_err(fdy_codec_decode_envelope(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_ETOOBIG);
    assert_int_equal(fdy_arena_used(fx->arena), 0);
    /* So is a reply kind over FDY_REPLY_MAX. */
    pbw_env(w, 1, FDY_KIND_PONG);
    assert_foundry_err(
        fdy_codec_decode_envelope(w->data, (size_t) FDY_REPLY_MAX + 1, fx->arena, &out, &reason),
        FOUNDRY_ETOOBIG);
    free(junk);

    /* A big ack of small seqs fits its budget. */
    enum { N = FDY_BATCH_MSGS_MAX };
    uint64_t *seqs = calloc(N, sizeof *seqs);
    uint32_t *refs = calloc(N, sizeof *refs);
    fdy_msg_error_t *errors = calloc(N, sizeof *errors);
    for (int i = 0; i < N; i++) {
        seqs[i] = (uint64_t) i + 1;
        errors[i] = (fdy_msg_error_t){(uint32_t) i, FOUNDRY_EDENIED, "subject not allowed"};
    }
    const char *streams[] = {"telemetry-siheung"};
    fdy_envelope_t ack = {.kind = FDY_KIND_PUBLISH_ACK,
                          .request_id = 4,
                          .ack = {N, seqs, refs, streams, 1, NULL, 0, NULL, 0}};
    assert_foundry_ok(fdy_codec_encode_envelope(&ack, &buf, &len));
    fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(len));
    assert_foundry_ok(fdy_codec_decode_envelope(buf, len, fx->arena, &out, &reason));
    assert_int_equal(out.ack.count, N);
    free(buf);
    /* ... and with every message refused, past FDY_ENVELOPE_MAX. */
    ack.ack.errors = errors;
    ack.ack.error_count = N;
    assert_foundry_ok(fdy_codec_encode_envelope(&ack, &buf, &len));
    assert_true(len > FDY_ENVELOPE_MAX);
    fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(FDY_REPLY_MAX));
    assert_foundry_ok(fdy_codec_decode_envelope(buf, len, fx->arena, &out, &reason));
    assert_int_equal(out.ack.error_count, N);
    assert_string_equal(out.ack.errors[N - 1].reason, "subject not allowed");
    free(buf);
    free(errors);
    free(refs);
    free(seqs);
    pbw_destroy(&w);
}

/* ---- principals ------------------------------------------------------- */

static void
s_principal_fill(fdy_principal_t *p)
{
    memset(p, 0, sizeof *p);
    strcpy(p->name, "node-siheung-1");
    memset(p->public_key, 'A', FDY_Z85_KEY_LEN);
    p->role = FDY_ROLE_NODE;
    strcpy(p->site, "siheung");
    strcpy(p->tenant, "acme");
    p->allow_publish[0] = strdup("jobs.siheung.>");
    p->allow_publish[1] = strdup("models.*.status");
    p->allow_count = 2;
    p->allow_models[0] = strdup("vision");
    p->allow_models[1] = strdup("*");
    p->allow_models_count = 2;
    p->revoked = true;
    p->created_ns = 1;
    p->revoked_ns = UINT64_MAX;
}

static void
test_codec_principal_round_trip(void **state)
{
    (void) state;
    fdy_principal_t p, out;
    s_principal_fill(&p);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(fdy_codec_encode_principal(&p, &buf, &len), FOUNDRY_OK);
    assert_int_equal(fdy_codec_decode_principal(buf, len, &out), FOUNDRY_OK);
    assert_string_equal(out.name, p.name);
    assert_string_equal(out.public_key, p.public_key);
    assert_int_equal(out.role, FDY_ROLE_NODE);
    assert_string_equal(out.site, "siheung");
    assert_string_equal(out.tenant, "acme");
    assert_int_equal(out.allow_count, 2);
    assert_string_equal(out.allow_publish[0], "jobs.siheung.>");
    assert_string_equal(out.allow_publish[1], "models.*.status");
    assert_int_equal(out.allow_models_count, 2);
    assert_string_equal(out.allow_models[0], "vision");
    assert_string_equal(out.allow_models[1], "*");
    assert_true(out.revoked);
    assert_true(out.created_ns == 1);
    assert_true(out.revoked_ns == UINT64_MAX);
    free(buf);
    fdy_principal_clear(&out);
    assert_int_equal(out.allow_count, 0);
    assert_null(out.allow_publish[0]);

    /* Minimal: admin, no site, no filters. */
    fdy_principal_clear(&p);
    strcpy(p.name, "root");
    memset(p.public_key, 'z', FDY_Z85_KEY_LEN);
    p.role = FDY_ROLE_ADMIN;
    assert_int_equal(fdy_codec_encode_principal(&p, &buf, &len), FOUNDRY_OK);
    assert_int_equal(fdy_codec_decode_principal(buf, len, &out), FOUNDRY_OK);
    assert_int_equal(out.role, FDY_ROLE_ADMIN);
    assert_string_equal(out.site, "");
    assert_int_equal(out.allow_count, 0);
    free(buf);
    fdy_principal_clear(&out);
}

static void
test_codec_principal_refuses_bad_records(void **state)
{
    (void) state;
    fdy_principal_t p, out;
    uint8_t *buf = NULL;
    size_t len = 0;

    /* Encoding refuses what could not be decoded back. */
    s_principal_fill(&p);
    p.role = 0;
    assert_int_equal(fdy_codec_encode_principal(&p, &buf, &len), FOUNDRY_EINVAL);
    p.role = FDY_ROLE_LINK;
    p.public_key[5] = '\0';
    assert_int_equal(fdy_codec_encode_principal(&p, &buf, &len), FOUNDRY_EINVAL);
    memset(p.public_key, 'A', FDY_Z85_KEY_LEN);
    p.name[0] = '\0';
    assert_int_equal(fdy_codec_encode_principal(&p, &buf, &len), FOUNDRY_EINVAL);
    assert_null(buf);
    fdy_principal_clear(&p);

    char key[FDY_Z85_KEY_LEN + 1];
    memset(key, 'K', FDY_Z85_KEY_LEN);
    key[FDY_Z85_KEY_LEN] = '\0';
    char long_name[FDY_NAME_MAX + 1];
    memset(long_name, 'n', FDY_NAME_MAX);
    long_name[FDY_NAME_MAX] = '\0';

    struct {
        const char *why;
        const char *name, *public_key, *role, *site;
        const char *allow;
        int allow_times;
    } cases[] = {
        {"empty name", "", key, "node", "s", NULL, 0},
        {"name too long", long_name, key, "node", "s", NULL, 0},
        {"site too long", "n", key, "node", long_name, NULL, 0},
        {"short key", "n", "abc", "node", "s", NULL, 0},
        {"unknown role", "n", key, "root", "s", NULL, 0},
        {"no role", "n", key, "", "s", NULL, 0},
        {"bad filter", "n", key, "node", "s", "a..b", 1},
        {"too many filters", "n", key, "node", "s", "a.>", FDY_ALLOW_MAX + 1},
    };
    pbw_t *w = pbw_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        w->len = 0;
        pbw_str(w, 1, cases[i].name);
        pbw_str(w, 2, cases[i].public_key);
        pbw_str(w, 3, cases[i].role);
        pbw_str(w, 4, cases[i].site);
        for (int j = 0; j < cases[i].allow_times; j++)
            pbw_str(w, 6, cases[i].allow);
        foundry_err err = fdy_codec_decode_principal(w->data, w->len, &out);
        if (err != FOUNDRY_EPROTO)
            fail_msg("%s: got %s", cases[i].why, foundry_strerror(err));
        assert_int_equal(out.allow_count, 0);
    }
    /* The same record with valid values decodes. */
    w->len = 0;
    pbw_str(w, 1, "n");
    pbw_str(w, 2, key);
    pbw_str(w, 3, "partner");
    for (int j = 0; j < FDY_ALLOW_MAX; j++)
        pbw_str(w, 6, "a.>");
    assert_int_equal(fdy_codec_decode_principal(w->data, w->len, &out), FOUNDRY_OK);
    assert_int_equal(out.allow_count, FDY_ALLOW_MAX);
    fdy_principal_clear(&out);

    const uint8_t garbage[] = {0x0a, 0x10, 'a'};
    assert_int_equal(fdy_codec_decode_principal(garbage, sizeof garbage, &out), FOUNDRY_EPROTO);
    pbw_destroy(&w);
}

static void
test_codec_role_names(void **state)
{
    (void) state;
    fdy_role_t role;
    const char *names[] = {"node", "partner", "admin", "link"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(fdy_role_parse(names[i], &role), FOUNDRY_OK);
        assert_int_equal(role, FDY_ROLE_NODE + i);
        assert_string_equal(fdy_role_name(role), names[i]);
    }
    assert_int_equal(fdy_role_parse("Admin", &role), FOUNDRY_EINVAL);
    assert_int_equal(fdy_role_parse("", &role), FOUNDRY_EINVAL);
    assert_int_equal(fdy_role_parse(NULL, &role), FOUNDRY_EINVAL);
    assert_string_equal(fdy_role_name(0), "?");
    assert_string_equal(fdy_role_name(5), "?");
}

/* ---- subscriptions (issue 3) ------------------------------------------- */

static void
test_codec_envelope_round_trip_subscription_kinds(void **state)
{
    fixture_t *fx = *state;
    fdy_envelope_t out;

    fdy_envelope_t durable = {.kind = FDY_KIND_SUBSCRIBE, .request_id = 3,
                              .sub_stream = "telemetry-siheung", .sub_consumer = "archiver",
                              .credit_msgs = 1000, .credit_bytes = 1ull << 33};
    s_round_trip(fx, &durable, &out);
    assert_string_equal(out.sub_stream, "telemetry-siheung");
    assert_string_equal(out.sub_consumer, "archiver");
    assert_null(out.sub_filter);
    assert_int_equal(out.credit_msgs, 1000);
    assert_true(out.credit_bytes == 1ull << 33);

    fdy_envelope_t ephemeral = {.kind = FDY_KIND_SUBSCRIBE, .request_id = 4,
                                .sub_filter = "telemetry.*.robot42.>", .credit_msgs = 0};
    s_round_trip(fx, &ephemeral, &out);
    assert_string_equal(out.sub_filter, "telemetry.*.robot42.>");
    assert_null(out.sub_stream);
    assert_null(out.sub_consumer);
    assert_int_equal(out.credit_msgs, 0);

    fdy_envelope_t subscribed = {.kind = FDY_KIND_SUBSCRIBED, .request_id = 3,
                                 .subscription = UINT64_MAX};
    s_round_trip(fx, &subscribed, &out);
    assert_true(out.subscription == UINT64_MAX);

    fdy_envelope_t credit = {.kind = FDY_KIND_CREDIT, .request_id = 5, .subscription = 7,
                             .credit_msgs = 10, .credit_bytes = 4096};
    s_round_trip(fx, &credit, &out);
    assert_true(out.subscription == 7);
    assert_int_equal(out.credit_msgs, 10);
    assert_true(out.credit_bytes == 4096);

    fdy_envelope_t deliver = {.kind = FDY_KIND_DELIVER, .subscription = 7, .count = 300,
                              .dropped = 12345};
    s_round_trip(fx, &deliver, &out);
    assert_int_equal(out.count, 300);
    assert_true(out.dropped == 12345);
    assert_true(out.subscription == 7);

    uint64_t seqs[] = {5, 1ull << 50, 6};
    fdy_envelope_t ack = {.kind = FDY_KIND_ACK, .request_id = 6, .subscription = 7,
                          .ack_seqs = seqs, .ack_seq_count = 3, .ack_floor = 4};
    s_round_trip(fx, &ack, &out);
    assert_int_equal(out.ack_seq_count, 3);
    assert_true(out.ack_seqs[1] == 1ull << 50);
    assert_true(out.ack_floor == 4);
    fdy_envelope_t floor_only = {.kind = FDY_KIND_ACK, .request_id = 6, .subscription = 7,
                                 .ack_floor = 99};
    s_round_trip(fx, &floor_only, &out);
    assert_int_equal(out.ack_seq_count, 0);
    assert_null(out.ack_seqs);
    assert_true(out.ack_floor == 99);

    fdy_envelope_t unsubscribe = {.kind = FDY_KIND_UNSUBSCRIBE, .request_id = 8,
                                  .subscription = 7};
    s_round_trip(fx, &unsubscribe, &out);
    assert_true(out.subscription == 7);

    /* An ERROR about a subscription names it; other ERRORs carry 0. */
    fdy_envelope_t error = {.kind = FDY_KIND_ERROR, .request_id = 0, .subscription = 7,
                            .error_code = FOUNDRY_ECLOSED, .error_reason = "idle"};
    s_round_trip(fx, &error, &out);
    assert_true(out.subscription == 7);
    assert_int_equal(out.error_code, FOUNDRY_ECLOSED);
    error.subscription = 0;
    s_round_trip(fx, &error, &out);
    assert_true(out.subscription == 0);
}

static void
test_codec_envelope_encode_refuses_bad_subscription_kinds(void **state)
{
    (void) state;
    uint8_t *buf = NULL;
    size_t len = 0;
    fdy_envelope_t env = {.kind = FDY_KIND_SUBSCRIBE};
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    env.sub_stream = "s";
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    env.sub_consumer = "c";
    env.sub_filter = "a.b";
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    env = (fdy_envelope_t){.kind = FDY_KIND_SUBSCRIBE, .sub_filter = "a..b"};
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    env = (fdy_envelope_t){.kind = FDY_KIND_SUBSCRIBED};
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    env = (fdy_envelope_t){.kind = FDY_KIND_UNSUBSCRIBE};
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    env = (fdy_envelope_t){.kind = FDY_KIND_CREDIT, .credit_msgs = 1};
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    env = (fdy_envelope_t){.kind = FDY_KIND_DELIVER, .subscription = 1};
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    env.count = FDY_BATCH_MSGS_MAX + 1;
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    env = (fdy_envelope_t){.kind = FDY_KIND_ACK, .subscription = 1};
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    uint64_t zero[] = {3, 0};
    env.ack_seqs = zero;
    env.ack_seq_count = 2;
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    env.ack_seqs = NULL;
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    env = (fdy_envelope_t){.kind = FDY_KIND_JOB_OFFERS + 1, .subscription = 1};
    assert_int_equal(fdy_codec_encode_envelope(&env, &buf, &len), FOUNDRY_EINVAL);
    assert_null(buf);
}

static void
test_codec_envelope_refuses_malformed_subscription_kinds(void **state)
{
    fixture_t *fx = *state;
    pbw_t *w = pbw_new();
    pbw_t *sub = pbw_new();

    pbw_env(w, 1, FDY_KIND_SUBSCRIBE);
    s_expect(fx, w, FOUNDRY_EPROTO, "SUBSCRIBE without subscribe");
    sub->len = 0;
    pbw_uint(sub, 4, 10);
    pbw_env(w, 1, FDY_KIND_SUBSCRIBE);
    pbw_sub(w, 9, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "SUBSCRIBE with only a credit");
    sub->len = 0;
    pbw_str(sub, 1, "telemetry-siheung");
    pbw_env(w, 1, FDY_KIND_SUBSCRIBE);
    pbw_sub(w, 9, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "SUBSCRIBE with a stream but no consumer");
    pbw_str(sub, 3, "a.b");
    pbw_str(sub, 2, "c");
    pbw_env(w, 1, FDY_KIND_SUBSCRIBE);
    pbw_sub(w, 9, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "SUBSCRIBE durable with a filter too");
    sub->len = 0;
    pbw_str(sub, 2, "c");
    pbw_str(sub, 3, "a.b");
    pbw_env(w, 1, FDY_KIND_SUBSCRIBE);
    pbw_sub(w, 9, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "SUBSCRIBE filter with a consumer");

    const char *bad_filters[] = {"a..b", ">.a", "a.>.b", "a b", ".", "a.*x", "a.b."};
    for (size_t i = 0; i < sizeof bad_filters / sizeof bad_filters[0]; i++) {
        sub->len = 0;
        pbw_str(sub, 3, bad_filters[i]);
        pbw_env(w, 1, FDY_KIND_SUBSCRIBE);
        pbw_sub(w, 9, sub);
        s_expect(fx, w, FOUNDRY_EINVAL, bad_filters[i]);
    }
    char long_filter[FOUNDRY_SUBJECT_MAX + 8];
    memset(long_filter, 'a', sizeof long_filter - 1);
    long_filter[sizeof long_filter - 1] = '\0';
    sub->len = 0;
    pbw_str(sub, 3, long_filter);
    pbw_env(w, 1, FDY_KIND_SUBSCRIBE);
    pbw_sub(w, 9, sub);
    s_expect(fx, w, FOUNDRY_EINVAL, "filter too long");
    sub->len = 0;
    pbw_str(sub, 3, "telemetry.>");
    pbw_env(w, 1, FDY_KIND_SUBSCRIBE);
    pbw_sub(w, 9, sub);
    s_expect(fx, w, FOUNDRY_OK, "ephemeral SUBSCRIBE");

    /* The subscription-scoped kinds need a subscription id. */
    const unsigned kinds[] = {FDY_KIND_SUBSCRIBED, FDY_KIND_CREDIT, FDY_KIND_DELIVER,
                              FDY_KIND_ACK, FDY_KIND_UNSUBSCRIBE};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        pbw_env(w, 1, kinds[i]);
        s_expect(fx, w, FOUNDRY_EPROTO, "no subscription");
    }
    pbw_env(w, 1, FDY_KIND_CREDIT);
    pbw_uint(w, 10, 5);
    s_expect(fx, w, FOUNDRY_OK, "CREDIT without a credit is a no-op");
    pbw_env(w, 1, FDY_KIND_UNSUBSCRIBE);
    pbw_uint(w, 10, 5);
    s_expect(fx, w, FOUNDRY_OK, "UNSUBSCRIBE");

    pbw_env(w, 1, FDY_KIND_DELIVER);
    pbw_uint(w, 10, 5);
    s_expect(fx, w, FOUNDRY_EPROTO, "DELIVER without count");
    pbw_uint(w, 4, FDY_BATCH_MSGS_MAX + 1);
    s_expect(fx, w, FOUNDRY_ETOOBIG, "DELIVER count too big");

    pbw_env(w, 1, FDY_KIND_ACK);
    pbw_uint(w, 10, 5);
    s_expect(fx, w, FOUNDRY_EPROTO, "ACK without acks");
    sub->len = 0;
    pbw_env(w, 1, FDY_KIND_ACK);
    pbw_uint(w, 10, 5);
    pbw_sub(w, 12, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "ACK with empty acks");
    sub->len = 0;
    pbw_uint(sub, 1, 7);
    pbw_uint(sub, 1, 0);
    pbw_env(w, 1, FDY_KIND_ACK);
    pbw_uint(w, 10, 5);
    pbw_sub(w, 12, sub);
    s_expect(fx, w, FOUNDRY_EPROTO, "ACK of seq 0");
    sub->len = 0;
    pbw_uint(sub, 2, 9);
    pbw_env(w, 1, FDY_KIND_ACK);
    pbw_uint(w, 10, 5);
    pbw_sub(w, 12, sub);
    s_expect(fx, w, FOUNDRY_OK, "ACK floor only");
    /* Wrong wire type for the acks sub-message. */
    pbw_env(w, 1, FDY_KIND_ACK);
    pbw_uint(w, 10, 5);
    pbw_uint(w, 12, 9);
    s_expect(fx, w, FOUNDRY_EPROTO, "ACK acks as varint");
    /* Kinds past the last one stay unknown. */
    pbw_env(w, 1, FDY_KIND_JOB_OFFERS + 1);
    s_expect(fx, w, FOUNDRY_EKIND, "kind 21");
    pbw_destroy(&sub);
    pbw_destroy(&w);
}

static void
test_codec_delivery_round_trip(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    uint8_t *msg_buf = NULL;
    size_t msg_len = 0;
    fdy_msg_t msg = s_msg_full();
    assert_foundry_ok(fdy_codec_encode_msg(&msg, &msg_buf, &msg_len, &reason));

    fdy_delivery_t d = {.stream = "telemetry-siheung", .seq = 1ull << 40, .delivery_count = 3,
                        .stored_ns = 1700000000000000000ull, .publisher = "node-1",
                        .message = msg_buf, .message_len = msg_len,
                        .ext = (const uint8_t *) "\0ext", .ext_len = 4};
    size_t size = fdy_codec_delivery_size(&d);
    uint8_t *buf = malloc(size + 16);
    memset(buf, 0xee, size + 16);
    assert_int_equal(fdy_codec_delivery_write(&d, buf), size);
    assert_int_equal(buf[size], 0xee);   /* wrote exactly size bytes */

    fdy_delivery_t out;
    assert_foundry_ok(fdy_codec_decode_delivery(buf, size, fx->arena, &out, &reason));
    assert_string_equal(out.stream, "telemetry-siheung");
    assert_true(out.seq == 1ull << 40);
    assert_int_equal(out.delivery_count, 3);
    assert_true(out.stored_ns == 1700000000000000000ull);
    assert_string_equal(out.publisher, "node-1");
    assert_int_equal(out.message_len, msg_len);
    assert_memory_equal(out.message, msg_buf, msg_len);
    assert_int_equal(out.ext_len, 4);
    assert_memory_equal(out.ext, "\0ext", 4);

    /* The message inside decodes to what was published. */
    fdy_msg_t back;
    assert_foundry_ok(fdy_codec_decode_msg(out.message, out.message_len, fx->arena, &back,
                                           &reason));
    assert_string_equal(back.subject, msg.subject);

    /* Its subject without unpacking. */
    fdy_slice_t subject;
    assert_true(fdy_codec_msg_subject(msg_buf, msg_len, &subject));
    assert_int_equal(subject.len, strlen(msg.subject));
    assert_memory_equal(subject.data, msg.subject, subject.len);
    assert_false(fdy_codec_msg_subject(msg_buf, msg_len - 1, &subject));
    assert_false(fdy_codec_msg_subject((const uint8_t *) "\x0a\x01x", 3, &subject));
    assert_false(fdy_codec_msg_subject((const uint8_t *) "\x12\x05x", 3, &subject));
    assert_false(fdy_codec_msg_subject(NULL, 0, &subject));

    /* No ext, no publisher, no stored_ns: defaults are omitted and come
     * back as empty. */
    fdy_delivery_t bare = {.stream = "s", .seq = 1, .delivery_count = 1, .message = msg_buf,
                           .message_len = msg_len};
    size = fdy_codec_delivery_size(&bare);
    assert_int_equal(fdy_codec_delivery_write(&bare, buf), size);
    assert_foundry_ok(fdy_codec_decode_delivery(buf, size, fx->arena, &out, &reason));
    assert_null(out.ext);
    assert_int_equal(out.ext_len, 0);
    assert_string_equal(out.publisher, "");
    assert_true(out.stored_ns == 0);

    /* A batch frame of deliveries splits like a publish batch. */
    uint8_t frame[4096];
    size_t used = 0;
    for (int i = 0; i < 3; i++) {
        bare.seq = (uint64_t) i + 10;
        size = fdy_codec_delivery_size(&bare);
        used += fdy_codec_batch_put_prefix(size, frame + used);
        used += fdy_codec_delivery_write(&bare, frame + used);
    }
    fdy_slice_t slices[3];
    assert_foundry_ok(fdy_codec_split_batch(frame, used, 3, slices, &reason));
    assert_foundry_ok(fdy_codec_decode_delivery(slices[2].data, slices[2].len, fx->arena, &out,
                                                &reason));
    assert_true(out.seq == 12);
    free(buf);
    free(msg_buf);
}

static void
test_codec_delivery_refuses_malformed(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    fdy_delivery_t out;
    pbw_t *w = pbw_new();
    struct {
        const char *stream;
        uint64_t seq, count;
        const char *message;
        const char *why;
    } cases[] = {
        {"", 1, 1, "m", "no stream"},
        {"s", 0, 1, "m", "seq 0"},
        {"s", 1, 0, "m", "count 0"},
        {"s", 1, 1, "", "no message"},
        {"0123456789012345678901234567890123456789012345678901234567890123", 1, 1, "m",
         "stream name too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        w->len = 0;
        pbw_str(w, 1, cases[i].stream);
        pbw_uint(w, 2, cases[i].seq);
        pbw_uint(w, 3, cases[i].count);
        pbw_str(w, 6, cases[i].message);
        fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(w->len));
        foundry_err err = fdy_codec_decode_delivery(w->data, w->len, fx->arena, &out, &reason);
        if (err != FOUNDRY_EPROTO)
            fail_msg("%s: got %s", cases[i].why, foundry_strerror(err));
        assert_true(reason.text[0] != '\0');
    }
    /* Bad UTF-8 in the stream name and publisher. */
    w->len = 0;
    pbw_bytes(w, 1, "s\xff", 2);
    pbw_uint(w, 2, 1);
    pbw_uint(w, 3, 1);
    pbw_str(w, 6, "m");
    assert_foundry_err(fdy_codec_decode_delivery(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    w->len = 0;
    pbw_str(w, 1, "s");
    pbw_uint(w, 2, 1);
    pbw_uint(w, 3, 1);
    pbw_bytes(w, 5, "p\xc0\x80", 3);
    pbw_str(w, 6, "m");
    assert_foundry_err(fdy_codec_decode_delivery(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    /* Every strict prefix of a valid record fails cleanly. */
    w->len = 0;
    pbw_str(w, 1, "stream");
    pbw_uint(w, 2, 300);
    pbw_uint(w, 3, 2);
    pbw_str(w, 5, "pub");
    pbw_str(w, 6, "message");
    assert_foundry_ok(fdy_codec_decode_delivery(w->data, w->len, fx->arena, &out, &reason));
    for (size_t cut = 0; cut < w->len; cut++) {
        fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(w->len));
        uint8_t *prefix = malloc(cut ? cut : 1);
        memcpy(prefix, w->data, cut);
        assert_int_not_equal(fdy_codec_decode_delivery(prefix, cut, fx->arena, &out, &reason),
                             FOUNDRY_OK);
        free(prefix);
    }
    /* Unknown fields are skipped and the last value of a field wins, as
     * any protobuf decoder does. */
    w->len = 0;
    pbw_str(w, 1, "old");
    pbw_uint(w, 2, 1);
    pbw_uint(w, 3, 1);
    pbw_str(w, 6, "m");
    pbw_uint(w, 99, 5);
    pbw_str(w, 100, "future");
    pbw_str(w, 1, "stream");
    pbw_uint(w, 2, 7);
    assert_foundry_ok(fdy_codec_decode_delivery(w->data, w->len, fx->arena, &out, &reason));
    assert_string_equal(out.stream, "stream");
    assert_true(out.seq == 7);
    /* A known field with the wrong wire type, a group, an oversized count,
     * field number 0, a varint that never ends. */
    const struct {
        uint8_t bytes[16];
        size_t len;
        const char *why;
    } raw[] = {
        {{0x10, 0x01, 0x18, 0x01, 0x0a, 0x01, 's', 0x32, 0x01, 'm', 0x12, 0x00}, 12,
         "seq as bytes"},
        {{0x0d, 0x01, 0x00, 0x00, 0x00}, 5, "stream as fixed32"},
        {{0x0b, 0x0c}, 2, "group"},
        {{0x0a, 0x01, 's', 0x10, 0x01, 0x32, 0x01, 'm', 0x18, 0x80, 0x80, 0x80, 0x80, 0x10}, 14,
         "count over 32 bits"},
        {{0x02, 0x00}, 2, "field 0"},
        {{0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 12,
         "11-byte varint"},
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        foundry_err err = fdy_codec_decode_delivery(raw[i].bytes, raw[i].len, fx->arena, &out,
                                                    &reason);
        if (err != FOUNDRY_EPROTO)
            fail_msg("%s: got %s", raw[i].why, foundry_strerror(err));
    }
    /* What it returns lives in the arena, not in the frame. */
    w->len = 0;
    pbw_str(w, 1, "s");
    pbw_uint(w, 2, 3);
    pbw_uint(w, 3, 2);
    pbw_str(w, 5, "pub");
    pbw_str(w, 6, "message");
    pbw_str(w, 7, "ext");
    uint8_t *frame = malloc(w->len);
    memcpy(frame, w->data, w->len);
    assert_foundry_ok(fdy_codec_decode_delivery(frame, w->len, fx->arena, &out, &reason));
    memset(frame, 0, w->len);
    free(frame);
    assert_string_equal(out.stream, "s");
    assert_string_equal(out.publisher, "pub");
    assert_memory_equal(out.message, "message", 7);
    assert_memory_equal(out.ext, "ext", 3);
    assert_int_equal(out.delivery_count, 2);

    const uint8_t garbage[] = {0xff, 0xff, 0xff};
    assert_foundry_err(fdy_codec_decode_delivery(garbage, sizeof garbage, fx->arena, &out,
                                                 &reason),
                       FOUNDRY_EPROTO);
    assert_foundry_err(fdy_codec_decode_delivery(NULL, 0, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    assert_foundry_err(fdy_codec_decode_delivery(garbage, FDY_DELIVER_FRAME_MAX + 1ul, fx->arena,
                                                 &out, &reason),
                       FOUNDRY_ETOOBIG);
    pbw_destroy(&w);
}

static void
test_codec_principal_allow_subscribe(void **state)
{
    (void) state;
    fdy_principal_t p, out;
    memset(&p, 0, sizeof p);
    strcpy(p.name, "partner-acme");
    memset(p.public_key, 'B', FDY_Z85_KEY_LEN);
    p.role = FDY_ROLE_PARTNER;
    p.allow_subscribe[0] = "telemetry.*.acme.>";
    p.allow_subscribe[1] = "jobs.acme";
    p.allow_subscribe_count = 2;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(fdy_codec_encode_principal(&p, &buf, &len), FOUNDRY_OK);
    assert_int_equal(fdy_codec_decode_principal(buf, len, &out), FOUNDRY_OK);
    assert_int_equal(out.allow_count, 0);
    assert_int_equal(out.allow_subscribe_count, 2);
    assert_string_equal(out.allow_subscribe[0], "telemetry.*.acme.>");
    assert_string_equal(out.allow_subscribe[1], "jobs.acme");
    free(buf);
    fdy_principal_clear(&out);
    assert_null(out.allow_subscribe[0]);

    /* A stored record with a malformed read filter is refused. */
    p.allow_subscribe[1] = "jobs..acme";
    assert_int_equal(fdy_codec_encode_principal(&p, &buf, &len), FOUNDRY_OK);
    assert_int_equal(fdy_codec_decode_principal(buf, len, &out), FOUNDRY_EPROTO);
    free(buf);
    p.allow_subscribe[1] = NULL;
    assert_int_equal(fdy_codec_encode_principal(&p, &buf, &len), FOUNDRY_EINVAL);
    p.allow_subscribe_count = FDY_ALLOW_MAX + 1;
    assert_int_equal(fdy_codec_encode_principal(&p, &buf, &len), FOUNDRY_EINVAL);
}

/* The hand-written Message parser accepts and refuses what protobuf-c does. */
static void
test_codec_decode_msg_wire_rules(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {""};
    fdy_msg_t out;
    pbw_t *w = pbw_new();
    pbw_t *header = pbw_new();

    /* Unknown fields of every wire type are skipped; the last value wins. */
    pbw_msg_base(w, true, true);
    pbw_uint(w, 50, 7);
    pbw_str(w, 51, "future");
    pbw_varint(w, (52u << 3) | 1);
    pbw_raw(w, "12345678", 8);
    pbw_varint(w, (53u << 3) | 5);
    pbw_raw(w, "1234", 4);
    pbw_str(w, 2, "telemetry.last.wins");
    pbw_uint(w, 6, 5);
    pbw_uint(w, 6, 9);
    /* uint32 fields keep the low 32 bits of a wider varint, as protobuf-c. */
    pbw_uint(w, 7, (1ull << 32) | 3);
    fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(w->len));
    assert_foundry_ok(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason));
    assert_string_equal(out.subject, "telemetry.last.wins");
    assert_int_equal(out.ttl_ms, 9);
    assert_int_equal(out.priority, 3);
    assert_string_equal(out.target, "");
    assert_null(out.payload);
    assert_null(out.headers);

    /* Known fields with the wrong wire type. */
    const unsigned bytes_fields[] = {1, 2, 3, 8, 9, 10};
    for (size_t i = 0; i < sizeof bytes_fields / sizeof bytes_fields[0]; i++) {
        w->len = 0;
        pbw_msg_base(w, true, true);
        pbw_uint(w, bytes_fields[i], 1);
        assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                           FOUNDRY_EPROTO);
    }
    for (unsigned field = 4; field <= 7; field++) {
        w->len = 0;
        pbw_msg_base(w, true, true);
        pbw_str(w, field, "x");
        assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                           FOUNDRY_EPROTO);
    }
    /* Groups, field number 0, a truncated fixed64. */
    const uint8_t group[] = {0x0a, 0x01, 'i', 0x12, 0x01, 'a', 0x1b, 0x1c};
    const uint8_t field0[] = {0x0a, 0x01, 'i', 0x12, 0x01, 'a', 0x02, 0x00};
    const uint8_t fixed[] = {0x0a, 0x01, 'i', 0x12, 0x01, 'a', 0x59, 0x01, 0x02};
    assert_foundry_err(fdy_codec_decode_msg(group, sizeof group, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    assert_foundry_err(fdy_codec_decode_msg(field0, sizeof field0, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    assert_foundry_err(fdy_codec_decode_msg(fixed, sizeof fixed, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);

    /* Headers: unknown fields inside are skipped, a key of the wrong wire
     * type or with bad UTF-8 is refused, values may hold any byte. */
    pbw_str(header, 1, "k");
    pbw_uint(header, 9, 1);
    pbw_bytes(header, 2, "\0\xff", 2);
    w->len = 0;
    pbw_msg_base(w, true, true);
    pbw_sub(w, 10, header);
    pbw_sub(w, 10, header);
    fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(w->len));
    assert_foundry_ok(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason));
    assert_int_equal(out.header_count, 2);
    assert_string_equal(out.headers[1].key, "k");
    assert_int_equal(out.headers[1].value_len, 2);
    assert_memory_equal(out.headers[1].value, "\0\xff", 2);
    header->len = 0;
    pbw_uint(header, 1, 5);
    w->len = 0;
    pbw_msg_base(w, true, true);
    pbw_sub(w, 10, header);
    assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    header->len = 0;
    pbw_bytes(header, 1, "k\xc0", 2);
    w->len = 0;
    pbw_msg_base(w, true, true);
    pbw_sub(w, 10, header);
    assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);
    header->len = 0;
    pbw_raw(header, "\x0a\x05k", 3); /* key longer than the header */
    w->len = 0;
    pbw_msg_base(w, true, true);
    pbw_sub(w, 10, header);
    assert_foundry_err(fdy_codec_decode_msg(w->data, w->len, fx->arena, &out, &reason),
                       FOUNDRY_EPROTO);

    /* What it returns lives in the arena, not in the record. */
    fdy_msg_t msg = s_msg_full();
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_foundry_ok(fdy_codec_encode_msg(&msg, &buf, &len, &reason));
    fdy_arena_reset(fx->arena, FDY_DECODE_BUDGET(len));
    assert_foundry_ok(fdy_codec_decode_msg(buf, len, fx->arena, &out, &reason));
    memset(buf, 0, len);
    free(buf);
    assert_string_equal(out.subject, msg.subject);
    assert_memory_equal(out.payload, msg.payload, msg.payload_len);
    assert_memory_equal(out.id, msg.id, msg.id_len);
    assert_string_equal(out.target, msg.target);
    assert_string_equal(out.headers[0].key, "content-type");
    pbw_destroy(&header);
    pbw_destroy(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_codec_msg_round_trip_all_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_msg_round_trip_minimal_and_payload_frame, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_msg_32_headers_and_64_byte_id_are_allowed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_check_msg_refuses_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_decode_msg_refuses_garbage_and_truncation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_decode_msg_refuses_oversized_record, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_decode_msg_refuses_bad_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_decode_msg_budget_exhaustion_is_enomem, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_batch_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_batch_of_real_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_batch_refuses_malformed_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_envelope_round_trip_simple_kinds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_envelope_round_trip_publish_ack, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_envelope_round_trip_admin_reply, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_envelope_encode_refuses_invalid, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_envelope_version_and_kind_keep_request_id, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_envelope_refuses_garbage_and_size, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_envelope_refuses_missing_fields, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_envelope_amplification_hits_budget, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_decode_msg_refuses_nul_and_bad_utf8, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_batch_of_tiny_messages_fits_batch_budget, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_envelope_large_replies_decode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_principal_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_principal_refuses_bad_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_role_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_envelope_round_trip_subscription_kinds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_envelope_encode_refuses_bad_subscription_kinds,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_envelope_refuses_malformed_subscription_kinds,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_delivery_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_delivery_refuses_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_principal_allow_subscribe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_decode_msg_wire_rules, setup, teardown),
    };
    return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
