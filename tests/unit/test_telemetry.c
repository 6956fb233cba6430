/*  test_telemetry.c: the typed telemetry codec and the text line parser
 *  (lib/core/telemetry.h): round trips, every class of malformed batch and
 *  line refused with an error instead of a crash, the decoding budget for
 *  legitimate and hostile batches. Malformed batches are written by hand
 *  with a small protobuf writer, as the codec would never produce them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "telemetry.h"

#include <math.h>
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

/* ---- a protobuf writer for hand-made batches ---------------------------- */

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} pbw_t;

static void
pbw_init(pbw_t *w)
{
    memset(w, 0, sizeof *w);
    w->cap = 256;
    w->data = malloc(w->cap);
    assert_non_null(w->data);
}

static void
pbw_free(pbw_t *w)
{
    free(w->data);
    memset(w, 0, sizeof *w);
}

static void
pbw_bytes(pbw_t *w, const void *data, size_t len)
{
    while (w->len + len > w->cap) {
        w->cap *= 2;
        w->data = realloc(w->data, w->cap);
        assert_non_null(w->data);
    }
    memcpy(w->data + w->len, data, len);
    w->len += len;
}

static void
pbw_varint(pbw_t *w, uint64_t value)
{
    uint8_t buf[10];
    size_t n = 0;
    do {
        buf[n] = (uint8_t) (value & 0x7f);
        value >>= 7;
        if (value)
            buf[n] |= 0x80;
        n++;
    } while (value);
    pbw_bytes(w, buf, n);
}

static void
pbw_tag(pbw_t *w, unsigned field, unsigned wire_type)
{
    pbw_varint(w, ((uint64_t) field << 3) | wire_type);
}

static void
pbw_len_field(pbw_t *w, unsigned field, const void *data, size_t len)
{
    pbw_tag(w, field, 2);
    pbw_varint(w, len);
    pbw_bytes(w, data, len);
}

static void
pbw_string(pbw_t *w, unsigned field, const char *text)
{
    pbw_len_field(w, field, text, strlen(text));
}

static void
pbw_double(pbw_t *w, unsigned field, double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    pbw_tag(w, field, 1);
    uint8_t buf[8];
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t) (bits >> (8 * i));
    pbw_bytes(w, buf, 8);
}

/* Wraps a Sample body as field 1 of a Batch (appended to batch). */
static void
pbw_wrap_sample(pbw_t *batch, const pbw_t *sample)
{
    pbw_len_field(batch, 1, sample->data, sample->len);
}

/* ---- fixture ------------------------------------------------------------ */

typedef struct {
    fdy_arena_t *arena;
} fixture_t;

static fdy_reason_t reason;

static int
setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->arena = fdy_arena_new(FDY_TELEMETRY_DECODE_BUDGET(FDY_TELEMETRY_FRAME_MAX));
    assert_non_null(fx->arena);
    memset(&reason, 0, sizeof reason);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    fdy_arena_destroy(&fx->arena);
    free(fx);
    return 0;
}

/* Decodes buf with the budget a real caller gives. */
static foundry_err
s_decode(fixture_t *fx, const uint8_t *buf, size_t len, fdy_sample_t **samples, size_t *count)
{
    fdy_arena_reset(fx->arena, FDY_TELEMETRY_DECODE_BUDGET(len));
    return fdy_telemetry_decode(buf, len, fx->arena, samples, count, &reason);
}

static foundry_err
s_parse(fixture_t *fx, const char *line, fdy_sample_t *sample)
{
    fdy_arena_reset(fx->arena, FDY_TELEMETRY_PARSE_BUDGET(strlen(line)));
    return fdy_telemetry_parse_line(line, strlen(line), fx->arena, sample, &reason);
}

/* ---- encode / decode ---------------------------------------------------- */

static void
test_telemetry_round_trip(void **state)
{
    fixture_t *fx = *state;
    fdy_label_t labels[] = {{"line", "3"}, {"serial", "A17 \xc2\xb0 rev2"}};
    fdy_sample_t in[3] = {
        {"robot42.joint3.temp", 41.5, "C", 1700000000123456789ull, labels, 2},
        {"robot42.joint3.temp", -0.25e-3,
         "\xc2\xb0"
         "C",
         0, NULL, 0},
        {"line7.throughput", 0.0, NULL, 42, labels + 1, 1},
    };
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_foundry_ok(fdy_telemetry_encode(in, 3, &buf, &len, &reason));
    size_t sum = 0;
    for (size_t i = 0; i < 3; i++)
        sum += fdy_telemetry_sample_size(&in[i]);
    assert_int_equal(len, sum);

    fdy_sample_t *out = NULL;
    size_t count = 0;
    assert_foundry_ok(s_decode(fx, buf, len, &out, &count));
    assert_int_equal(count, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(out[i].metric, in[i].metric);
        assert_true(out[i].value == in[i].value);
        assert_string_equal(out[i].unit, in[i].unit ? in[i].unit : "");
        assert_int_equal(out[i].timestamp_ns, in[i].timestamp_ns);
        assert_int_equal(out[i].label_count, in[i].label_count);
        for (size_t k = 0; k < in[i].label_count; k++) {
            assert_string_equal(out[i].labels[k].key, in[i].labels[k].key);
            assert_string_equal(out[i].labels[k].value, in[i].labels[k].value);
        }
    }
    free(buf);
}

static void
test_telemetry_encode_refuses_bad_samples(void **state)
{
    (void) state;
    char long_unit[FDY_TELEMETRY_UNIT_MAX + 2];
    memset(long_unit, 'u', sizeof long_unit - 1);
    long_unit[sizeof long_unit - 1] = '\0';
    char long_key[FDY_TELEMETRY_LABEL_KEY_MAX + 2];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    char long_value[FDY_TELEMETRY_LABEL_VALUE_MAX + 2];
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    fdy_label_t many[FDY_TELEMETRY_LABELS_MAX + 1];
    char keys[FDY_TELEMETRY_LABELS_MAX + 1][8];
    for (size_t i = 0; i < FDY_TELEMETRY_LABELS_MAX + 1; i++) {
        snprintf(keys[i], sizeof keys[i], "k%zu", i);
        many[i].key = keys[i];
        many[i].value = "v";
    }
    fdy_label_t bad_key[] = {{"a b", "v"}};
    fdy_label_t empty_key[] = {{"", "v"}};
    fdy_label_t empty_value[] = {{"k", ""}};
    fdy_label_t control_value[] = {{"k", "a\x01"}};
    fdy_label_t bad_utf8_value[] = {{"k", "\xc3\x28"}};
    fdy_label_t duplicate[] = {{"k", "1"}, {"k", "2"}};
    fdy_label_t too_long_key[] = {{long_key, "v"}};
    fdy_label_t too_long_value[] = {{"k", long_value}};
    const fdy_sample_t bad[] = {
        {NULL, 1, NULL, 0, NULL, 0},          {"", 1, NULL, 0, NULL, 0},
        {"a..b", 1, NULL, 0, NULL, 0},        {"a.*", 1, NULL, 0, NULL, 0},
        {"a b", 1, NULL, 0, NULL, 0},         {"m", NAN, NULL, 0, NULL, 0},
        {"m", INFINITY, NULL, 0, NULL, 0},    {"m", -INFINITY, NULL, 0, NULL, 0},
        {"m", 1, long_unit, 0, NULL, 0},      {"m", 1, "deg C", 0, NULL, 0},
        {"m", 1, "a=b", 0, NULL, 0},          {"m", 1, "123", 0, NULL, 0},
        {"m", 1, "\x01", 0, NULL, 0},         {"m", 1, NULL, 0, many, FDY_TELEMETRY_LABELS_MAX + 1},
        {"m", 1, NULL, 0, NULL, 1},           {"m", 1, NULL, 0, bad_key, 1},
        {"m", 1, NULL, 0, empty_key, 1},      {"m", 1, NULL, 0, empty_value, 1},
        {"m", 1, NULL, 0, control_value, 1},  {"m", 1, NULL, 0, bad_utf8_value, 1},
        {"m", 1, NULL, 0, duplicate, 2},      {"m", 1, NULL, 0, too_long_key, 1},
        {"m", 1, NULL, 0, too_long_value, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t *buf = (uint8_t *) "untouched";
        size_t len = 99;
        foundry_err err = fdy_telemetry_encode(&bad[i], 1, &buf, &len, &reason);
        if (err != FOUNDRY_EINVAL)
            fail_msg("bad sample %zu: got %s, want EINVAL", i, foundry_strerror(err));
        assert_null(buf);
        assert_int_equal(len, 0);
        assert_true(reason.text[0] != '\0');
    }
    /* The limits themselves are fine. */
    fdy_label_t max_key[] = {{long_key + 1, long_value + 1}};
    fdy_sample_t edge = {"m", 1, long_unit + 1, 0, many, FDY_TELEMETRY_LABELS_MAX};
    assert_foundry_ok(fdy_telemetry_check_sample(&edge, &reason));
    edge.labels = max_key;
    edge.label_count = 1;
    assert_foundry_ok(fdy_telemetry_check_sample(&edge, &reason));

    uint8_t *buf = NULL;
    size_t len = 0;
    fdy_sample_t ok = {"m", 1, NULL, 0, NULL, 0};
    assert_foundry_err(fdy_telemetry_encode(&ok, 0, &buf, &len, &reason), FOUNDRY_EINVAL);
    assert_foundry_err(
        fdy_telemetry_encode(&ok, FDY_TELEMETRY_SAMPLES_MAX + 1, &buf, &len, &reason),
        FOUNDRY_EINVAL);
    assert_null(buf);
}

static void
test_telemetry_encode_refuses_oversized_batch(void **state)
{
    (void) state;
    /* 16384 samples of ~300 bytes each exceed the 1 MiB frame. */
    char metric[200];
    memset(metric, 'm', sizeof metric - 1);
    metric[sizeof metric - 1] = '\0';
    fdy_label_t label = {"k", "value-of-some-length-value-of-some-length-value-of-some-length"};
    fdy_sample_t *samples = calloc(FDY_TELEMETRY_SAMPLES_MAX, sizeof *samples);
    assert_non_null(samples);
    for (size_t i = 0; i < FDY_TELEMETRY_SAMPLES_MAX; i++)
        samples[i] = (fdy_sample_t){metric, (double) i, "C", 1, &label, 1};
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_foundry_err(
        fdy_telemetry_encode(samples, FDY_TELEMETRY_SAMPLES_MAX, &buf, &len, &reason),
        FOUNDRY_ETOOBIG);
    assert_null(buf);
    free(samples);
}

static void
test_telemetry_decode_refuses_malformed(void **state)
{
    fixture_t *fx = *state;
    fdy_sample_t *samples = NULL;
    size_t count = 0;

    /* Empty, not protobuf, truncated. */
    assert_foundry_err(s_decode(fx, (const uint8_t *) "", 0, &samples, &count), FOUNDRY_EPROTO);
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_foundry_err(s_decode(fx, garbage, sizeof garbage, &samples, &count), FOUNDRY_EPROTO);
    const uint8_t truncated[] = {0x0a, 0x10, 0x0a, 0x01, 'm'};
    assert_foundry_err(s_decode(fx, truncated, sizeof truncated, &samples, &count), FOUNDRY_EPROTO);
    /* A group (wire type 3) is not in the schema. */
    const uint8_t group[] = {0x0b, 0x0c};
    assert_foundry_err(s_decode(fx, group, sizeof group, &samples, &count), FOUNDRY_EPROTO);
    /* Only an unknown field: no samples. */
    const uint8_t no_samples[] = {0x10, 0x01};
    assert_foundry_err(s_decode(fx, no_samples, sizeof no_samples, &samples, &count),
                       FOUNDRY_EPROTO);
    assert_null(samples);
    assert_int_equal(count, 0);

    /* A NUL inside the metric, the unit, a label key or a label value. */
    for (int where = 0; where < 4; where++) {
        pbw_t sample, label, batch;
        pbw_init(&sample);
        pbw_init(&label);
        pbw_init(&batch);
        pbw_len_field(&sample, 1, where == 0 ? "ab\0c" : "abc", 4 - (where != 0));
        pbw_double(&sample, 2, 1.0);
        pbw_len_field(&sample, 3, where == 1 ? "C\0" : "C", 1 + (where == 1));
        pbw_len_field(&label, 1, where == 2 ? "k\0" : "k", 1 + (where == 2));
        pbw_len_field(&label, 2, where == 3 ? "v\0" : "v", 1 + (where == 3));
        pbw_len_field(&sample, 5, label.data, label.len);
        pbw_wrap_sample(&batch, &sample);
        assert_foundry_err(s_decode(fx, batch.data, batch.len, &samples, &count), FOUNDRY_EPROTO);
        pbw_free(&sample);
        pbw_free(&label);
        pbw_free(&batch);
    }

    /* Field-level refusals: each sample alone in a batch. */
    static const struct {
        const char *metric;
        double value;
        const char *unit;
        const char *key;
        const char *value_text;
    } bad[] = {
        {"", 1, "", NULL, NULL},          /* no metric */
        {"a..b", 1, "", NULL, NULL},      /* empty token */
        {"a.>", 1, "", NULL, NULL},       /* wildcard */
        {"m", NAN, "", NULL, NULL},       /* not finite */
        {"m", INFINITY, "", NULL, NULL},  /* not finite */
        {"m", 1, "\xc3\x28", NULL, NULL}, /* unit not UTF-8 */
        {"m", 1, "a b", NULL, NULL},      /* unit with a space */
        {"m", 1, "", "", "v"},            /* empty label key */
        {"m", 1, "", "k", ""},            /* empty label value */
        {"m", 1, "", "k!", "v"},          /* bad label key */
        {"m", 1, "", "k", "\x7f"},        /* control character */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pbw_t sample, label, batch;
        pbw_init(&sample);
        pbw_init(&label);
        pbw_init(&batch);
        pbw_string(&sample, 1, bad[i].metric);
        pbw_double(&sample, 2, bad[i].value);
        if (bad[i].unit[0])
            pbw_string(&sample, 3, bad[i].unit);
        if (bad[i].key) {
            pbw_string(&label, 1, bad[i].key);
            pbw_string(&label, 2, bad[i].value_text);
            pbw_len_field(&sample, 5, label.data, label.len);
        }
        pbw_wrap_sample(&batch, &sample);
        foundry_err err = s_decode(fx, batch.data, batch.len, &samples, &count);
        if (err != FOUNDRY_EINVAL)
            fail_msg("bad field %zu: got %s, want EINVAL (%s)", i, foundry_strerror(err),
                     reason.text);
        assert_non_null(strstr(reason.text, "sample 0"));
        pbw_free(&sample);
        pbw_free(&label);
        pbw_free(&batch);
    }

    /* Duplicate label keys and too many labels. */
    pbw_t sample, label, batch;
    pbw_init(&sample);
    pbw_init(&batch);
    pbw_string(&sample, 1, "m");
    for (unsigned i = 0; i < FDY_TELEMETRY_LABELS_MAX + 1; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%u", i);
        pbw_init(&label);
        pbw_string(&label, 1, key);
        pbw_string(&label, 2, "v");
        pbw_len_field(&sample, 5, label.data, label.len);
        pbw_free(&label);
    }
    pbw_wrap_sample(&batch, &sample);
    assert_foundry_err(s_decode(fx, batch.data, batch.len, &samples, &count), FOUNDRY_EINVAL);
    pbw_free(&sample);
    pbw_free(&batch);

    pbw_init(&sample);
    pbw_init(&batch);
    pbw_string(&sample, 1, "m");
    for (int i = 0; i < 2; i++) {
        pbw_init(&label);
        pbw_string(&label, 1, "same");
        pbw_string(&label, 2, "v");
        pbw_len_field(&sample, 5, label.data, label.len);
        pbw_free(&label);
    }
    pbw_wrap_sample(&batch, &sample);
    assert_foundry_err(s_decode(fx, batch.data, batch.len, &samples, &count), FOUNDRY_EINVAL);
    pbw_free(&sample);
    pbw_free(&batch);

    /* Over the frame limit, before any unpacking. */
    size_t huge = FDY_TELEMETRY_FRAME_MAX + 1;
    uint8_t *big = calloc(1, huge);
    assert_non_null(big);
    assert_foundry_err(s_decode(fx, big, huge, &samples, &count), FOUNDRY_ETOOBIG);
    free(big);
}

static void
test_telemetry_decode_refuses_too_many_samples(void **state)
{
    fixture_t *fx = *state;
    pbw_t sample, batch;
    pbw_init(&sample);
    pbw_init(&batch);
    pbw_string(&sample, 1, "m");
    for (unsigned i = 0; i < FDY_TELEMETRY_SAMPLES_MAX + 1; i++)
        pbw_wrap_sample(&batch, &sample);
    fdy_sample_t *samples = NULL;
    size_t count = 0;
    assert_foundry_err(s_decode(fx, batch.data, batch.len, &samples, &count), FOUNDRY_ETOOBIG);
    pbw_free(&sample);
    pbw_free(&batch);
}

/* The smallest legitimate samples decode within the budget; hostile ones
 * (empty labels, which cost protobuf-c the most per wire byte) run out of
 * it instead of making us allocate without bound. */
static void
test_telemetry_decode_budget(void **state)
{
    fixture_t *fx = *state;
    fdy_sample_t *samples = NULL;
    size_t count = 0;

    /* 16384 one-letter metrics with a value and nothing else. */
    fdy_sample_t *tiny = calloc(FDY_TELEMETRY_SAMPLES_MAX, sizeof *tiny);
    assert_non_null(tiny);
    for (size_t i = 0; i < FDY_TELEMETRY_SAMPLES_MAX; i++)
        tiny[i] = (fdy_sample_t){"m", 1.0, NULL, 0, NULL, 0};
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_foundry_ok(fdy_telemetry_encode(tiny, FDY_TELEMETRY_SAMPLES_MAX, &buf, &len, &reason));
    assert_foundry_ok(s_decode(fx, buf, len, &samples, &count));
    assert_int_equal(count, FDY_TELEMETRY_SAMPLES_MAX);
    free(buf);

    /* Samples carrying 32 labels with one-byte keys and values. */
    fdy_label_t labels[FDY_TELEMETRY_LABELS_MAX];
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGH";
    char keys[FDY_TELEMETRY_LABELS_MAX][2];
    for (size_t i = 0; i < FDY_TELEMETRY_LABELS_MAX; i++) {
        keys[i][0] = letters[i];
        keys[i][1] = '\0';
        labels[i] = (fdy_label_t){keys[i], "v"};
    }
    for (size_t i = 0; i < 900; i++)
        tiny[i] = (fdy_sample_t){"m", 0.0, NULL, 0, labels, FDY_TELEMETRY_LABELS_MAX};
    assert_foundry_ok(fdy_telemetry_encode(tiny, 900, &buf, &len, &reason));
    assert_foundry_ok(s_decode(fx, buf, len, &samples, &count));
    assert_int_equal(count, 900);
    assert_int_equal(samples[899].label_count, FDY_TELEMETRY_LABELS_MAX);
    free(buf);

    /* The smallest sample there is: a one-letter metric and a zero value
     * (which proto3 leaves out): 5 bytes each. */
    for (size_t i = 0; i < FDY_TELEMETRY_SAMPLES_MAX; i++)
        tiny[i] = (fdy_sample_t){"m", 0.0, NULL, 0, NULL, 0};
    assert_foundry_ok(fdy_telemetry_encode(tiny, FDY_TELEMETRY_SAMPLES_MAX, &buf, &len, &reason));
    assert_int_equal(len, 5u * FDY_TELEMETRY_SAMPLES_MAX);
    assert_foundry_ok(s_decode(fx, buf, len, &samples, &count));
    assert_int_equal(count, FDY_TELEMETRY_SAMPLES_MAX);
    free(buf);
    free(tiny);

    /* Hostile: empty samples (2 wire bytes each) cost protobuf-c ~75x. */
    pbw_t batch;
    pbw_init(&batch);
    for (unsigned i = 0; i < FDY_TELEMETRY_SAMPLES_MAX; i++)
        pbw_len_field(&batch, 1, "", 0);
    assert_foundry_err(s_decode(fx, batch.data, batch.len, &samples, &count), FOUNDRY_ENOMEM);
    assert_true(fdy_arena_used(fx->arena) <= FDY_TELEMETRY_DECODE_BUDGET(batch.len));
    pbw_free(&batch);

    /* Hostile: a sample with 100,000 empty labels is refused by the wire
     * scan, before protobuf-c allocates anything. */
    pbw_t sample;
    pbw_init(&sample);
    pbw_init(&batch);
    pbw_string(&sample, 1, "m");
    for (unsigned i = 0; i < 100000; i++)
        pbw_len_field(&sample, 5, "", 0);
    pbw_wrap_sample(&batch, &sample);
    assert_foundry_err(s_decode(fx, batch.data, batch.len, &samples, &count), FOUNDRY_EINVAL);
    assert_int_equal(fdy_arena_used(fx->arena), 0);
    pbw_free(&sample);
    pbw_free(&batch);
}

/* Every truncation and a sweep of single-byte corruptions of a valid batch
 * decode or fail cleanly (the sanitizers watch for the rest). */
static void
test_telemetry_decode_survives_mutations(void **state)
{
    fixture_t *fx = *state;
    fdy_label_t labels[] = {{"line", "3"}, {"serial", "A17"}};
    fdy_sample_t in[2] = {
        {"robot42.joint3.temp", 41.5, "C", 1700000000123456789ull, labels, 2},
        {"line7.rate", 3, "rpm", 7, labels, 1},
    };
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_foundry_ok(fdy_telemetry_encode(in, 2, &buf, &len, &reason));
    fdy_sample_t *samples = NULL;
    size_t count = 0;
    for (size_t cut = 0; cut < len; cut++) {
        foundry_err err = s_decode(fx, buf, cut, &samples, &count);
        assert_true(err != FOUNDRY_OK || count >= 1);
    }
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    uint32_t rng = 12345;
    for (int round = 0; round < 20000; round++) {
        memcpy(copy, buf, len);
        rng = rng * 1103515245u + 12345u;
        size_t at = (rng >> 8) % len;
        rng = rng * 1103515245u + 12345u;
        copy[at] = (uint8_t) (rng >> 16);
        foundry_err err = s_decode(fx, copy, len, &samples, &count);
        if (err == FOUNDRY_OK) {
            assert_true(count >= 1);
            for (size_t i = 0; i < count; i++)
                assert_foundry_ok(fdy_telemetry_check_sample(&samples[i], &reason));
        }
    }
    free(copy);
    free(buf);
}

/* ---- text lines --------------------------------------------------------- */

static void
test_telemetry_parse_valid_lines(void **state)
{
    fixture_t *fx = *state;
    fdy_sample_t s;

    assert_foundry_ok(s_parse(fx, "robot42.joint3.temp 41.5 C", &s));
    assert_string_equal(s.metric, "robot42.joint3.temp");
    assert_true(s.value == 41.5);
    assert_string_equal(s.unit, "C");
    assert_int_equal(s.timestamp_ns, 0);
    assert_int_equal(s.label_count, 0);

    assert_foundry_ok(s_parse(fx, "m 7", &s));
    assert_string_equal(s.metric, "m");
    assert_true(s.value == 7.0);
    assert_string_equal(s.unit, "");

    /* Third field all digits: a timestamp, no unit. */
    assert_foundry_ok(s_parse(fx, "m -1.5e3 1700000000000000001", &s));
    assert_true(s.value == -1500.0);
    assert_string_equal(s.unit, "");
    assert_int_equal(s.timestamp_ns, 1700000000000000001ull);

    assert_foundry_ok(s_parse(fx, "m 1 rpm 18446744073709551615 line=3 serial=A-17", &s));
    assert_string_equal(s.unit, "rpm");
    assert_int_equal(s.timestamp_ns, UINT64_MAX);
    assert_int_equal(s.label_count, 2);
    assert_string_equal(s.labels[0].key, "line");
    assert_string_equal(s.labels[0].value, "3");
    assert_string_equal(s.labels[1].key, "serial");
    assert_string_equal(s.labels[1].value, "A-17");

    /* "-" is no unit, so a timestamp can follow. */
    assert_foundry_ok(s_parse(fx, "m 1 - 5", &s));
    assert_string_equal(s.unit, "");
    assert_int_equal(s.timestamp_ns, 5);

    /* Labels right after the value, after the unit, after the timestamp. */
    assert_foundry_ok(s_parse(fx, "m 1 k=v", &s));
    assert_string_equal(s.unit, "");
    assert_int_equal(s.label_count, 1);
    assert_foundry_ok(s_parse(fx, "m 1 C k=v", &s));
    assert_string_equal(s.unit, "C");
    assert_int_equal(s.label_count, 1);
    assert_foundry_ok(s_parse(fx, "m 1 9 k=v", &s));
    assert_int_equal(s.timestamp_ns, 9);
    assert_int_equal(s.label_count, 1);
    /* A value may hold '='. */
    assert_foundry_ok(s_parse(fx, "m 1 expr=a=b", &s));
    assert_string_equal(s.labels[0].key, "expr");
    assert_string_equal(s.labels[0].value, "a=b");

    /* Tabs, repeated blanks, CRLF, a UTF-8 unit. */
    assert_foundry_ok(s_parse(fx,
                              "\t m \t 2.5  \xc2\xb0"
                              "C\t\tk.x_y-z=\xea\xb0\x80\r\n",
                              &s));
    assert_string_equal(s.metric, "m");
    assert_true(s.value == 2.5);
    assert_string_equal(s.unit, "\xc2\xb0"
                                "C");
    assert_string_equal(s.labels[0].key, "k.x_y-z");
    assert_string_equal(s.labels[0].value, "\xea\xb0\x80");

    /* Other number forms. */
    assert_foundry_ok(s_parse(fx, "m +.5", &s));
    assert_true(s.value == 0.5);
    assert_foundry_ok(s_parse(fx, "m 1E-400", &s)); /* underflows to 0: finite */
    assert_true(s.value >= 0.0 && s.value < 1e-300);

    /* Blank lines and comments are no samples, and no errors. */
    const char *nothing[] = {"", "\n", "\r\n", "   \t ", "# a comment", "  #x 1 2", "#"};
    for (size_t i = 0; i < sizeof nothing / sizeof nothing[0]; i++) {
        s.metric = "junk";
        assert_foundry_ok(s_parse(fx, nothing[i], &s));
        assert_null(s.metric);
    }
}

static void
test_telemetry_parse_refuses_malformed_lines(void **state)
{
    fixture_t *fx = *state;
    char many_labels[1024] = "m 1";
    for (unsigned i = 0; i < FDY_TELEMETRY_LABELS_MAX + 1; i++) {
        char label[16];
        snprintf(label, sizeof label, " k%u=v", i);
        strcat(many_labels, label);
    }
    char many_fields[1024] = "m 1 C 5";
    for (unsigned i = 0; i < FDY_TELEMETRY_LABELS_MAX + 1; i++)
        strcat(many_fields, " x");
    char long_unit[128];
    snprintf(long_unit, sizeof long_unit, "m 1 %0*d", (int) FDY_TELEMETRY_UNIT_MAX + 1, 0);
    memset(long_unit + 4, 'u', FDY_TELEMETRY_UNIT_MAX + 1);
    char long_value[128] = "m ";
    memset(long_value + 2, '1', 70);
    long_value[72] = '\0';
    char long_label[512] = "m 1 k=";
    memset(long_label + 6, 'v', FDY_TELEMETRY_LABEL_VALUE_MAX + 1);
    long_label[6 + FDY_TELEMETRY_LABEL_VALUE_MAX + 1] = '\0';

    const char *const cases[] = {
        "robot*.temp 1",            /* metric: wildcard */
        "a..b 1",                   /* metric: empty token */
        ".a 1",                     /* metric: leading dot */
        "a/b 1",                    /* metric: bad character */
        "m",                        /* no value */
        "m abc",                    /* value not a number */
        "m 1,5",                    /* decimal comma */
        "m 0x10",                   /* hex */
        "m nan",                    /* not finite */
        "m inf",                    /* not finite */
        "m 1e999",                  /* out of range */
        "m 1.2.3",                  /* not a number */
        "m -",                      /* no digits */
        "m 1 C 12a",                /* ts not a number */
        "m 1 C -5",                 /* ts negative */
        "m 1 99999999999999999999", /* ts overflows */
        "m 1 C 1 2",                /* an extra positional field */
        "m 1 k=v x",                /* a label, then not a label */
        "m 1 =v",                   /* empty label key */
        "m 1 k=",                   /* empty label value */
        "m 1 k!=v",                 /* bad label key */
        "m 1 k=v k=w",              /* repeated label key */
        "m 1 a\x01",                /* control character */
        "m 1 \xc3\x28",             /* invalid UTF-8 */
        "m 1 \xed\xa0\x80",         /* a UTF-16 surrogate */
        "m 1 \xc2\x85",             /* a C1 control */
        "m\r 1",                    /* a stray CR */
        many_labels,
        many_fields,
        long_unit,
        long_value,
        long_label,
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fdy_sample_t s;
        s.metric = "junk";
        foundry_err err = s_parse(fx, cases[i], &s);
        if (err != FOUNDRY_EINVAL)
            fail_msg("line %zu \"%.40s\": got %s, want EINVAL (%s)", i, cases[i],
                     foundry_strerror(err), reason.text);
        assert_null(s.metric);
        assert_true(reason.text[0] != '\0');
    }

    /* Over the line limit. */
    size_t len = FDY_TELEMETRY_LINE_MAX + 1;
    char *line = malloc(len + 1);
    assert_non_null(line);
    memset(line, ' ', len);
    memcpy(line + len - 3, "m 1", 3);
    line[len] = '\0';
    fdy_sample_t s;
    assert_foundry_err(s_parse(fx, line, &s), FOUNDRY_ETOOBIG);
    /* ... which counts without its line end. */
    memcpy(line + len - 4, "m 1\n", 4);
    assert_foundry_ok(s_parse(fx, line, &s));
    assert_string_equal(s.metric, "m");
    free(line);

    /* A NUL inside the given length is a control character. */
    fdy_arena_reset(fx->arena, 4096);
    assert_foundry_err(fdy_telemetry_parse_line("m 1\0x", 5, fx->arena, &s, &reason),
                       FOUNDRY_EINVAL);
}

/* Random lines drawn from the characters that matter to the parser (and
 * some that are always wrong) parse or fail cleanly; whatever parses is a
 * valid sample. The sanitizers watch for the rest. */
static void
test_telemetry_parse_survives_random_lines(void **state)
{
    fixture_t *fx = *state;
    static const char alphabet[] = "ab.9 =\t#-+eE*>\r\n\x01\xc3\xa9\xff"
                                   "0123456789";
    uint32_t rng = 777;
    char line[96];
    size_t parsed = 0;
    for (int round = 0; round < 50000; round++) {
        rng = rng * 1103515245u + 12345u;
        size_t len = (rng >> 16) % sizeof line;
        for (size_t i = 0; i < len; i++) {
            rng = rng * 1103515245u + 12345u;
            line[i] = alphabet[(rng >> 16) % (sizeof alphabet - 1)];
        }
        fdy_arena_reset(fx->arena, FDY_TELEMETRY_PARSE_BUDGET(len));
        fdy_sample_t s;
        foundry_err err = fdy_telemetry_parse_line(line, len, fx->arena, &s, &reason);
        assert_true(err == FOUNDRY_OK || err == FOUNDRY_EINVAL);
        if (err == FOUNDRY_OK && s.metric) {
            assert_foundry_ok(fdy_telemetry_check_sample(&s, &reason));
            parsed++;
        }
    }
    assert_true(parsed > 0); /* the alphabet does make valid lines */
}

/* Lines of a text frame parsed into one arena stay within the budget the
 * agent gives them, including label-heavy lines. */
static void
test_telemetry_parse_budget(void **state)
{
    fixture_t *fx = *state;
    const char *kinds[] = {"m 1\n", "a 1 a=b c=d e=f g=h i=j k=l m=n\n"};
    for (size_t k = 0; k < 2; k++) {
        size_t line_len = strlen(kinds[k]);
        size_t lines = 20000;
        size_t total = line_len * lines;
        fdy_arena_reset(fx->arena, FDY_TELEMETRY_PARSE_BUDGET(total));
        for (size_t i = 0; i < lines; i++) {
            fdy_sample_t s;
            assert_foundry_ok(fdy_telemetry_parse_line(kinds[k], line_len, fx->arena, &s, &reason));
            assert_non_null(s.metric);
        }
    }
}

static void
test_telemetry_subject(void **state)
{
    (void) state;
    char out[FOUNDRY_SUBJECT_MAX + 1];
    assert_foundry_ok(
        fdy_telemetry_subject("pangyo", "robot42.joint3.temp", out, sizeof out, &reason));
    assert_string_equal(out, "telemetry.pangyo.robot42.joint3.temp");

    assert_foundry_err(fdy_telemetry_subject("", "m", out, sizeof out, &reason), FOUNDRY_EINVAL);
    assert_foundry_err(fdy_telemetry_subject("a.b", "m", out, sizeof out, &reason), FOUNDRY_EINVAL);
    assert_foundry_err(fdy_telemetry_subject("s*", "m", out, sizeof out, &reason), FOUNDRY_EINVAL);
    assert_foundry_err(fdy_telemetry_subject("s", "a..b", out, sizeof out, &reason),
                       FOUNDRY_EINVAL);
    assert_string_equal(out, "");

    /* A metric that is a valid subject on its own can still make the full
     * subject too long or too deep. */
    char metric[FOUNDRY_SUBJECT_MAX + 1];
    memset(metric, 'x', 250);
    metric[250] = '\0';
    assert_foundry_err(fdy_telemetry_subject("siheung", metric, out, sizeof out, &reason),
                       FOUNDRY_EINVAL);
    char deep[128] = "t";
    for (int i = 0; i < 30; i++)
        strcat(deep, ".t");
    assert_foundry_err(fdy_telemetry_subject("siheung", deep, out, sizeof out, &reason),
                       FOUNDRY_EINVAL);
    /* A small buffer is refused, not overrun. */
    char small[8];
    assert_foundry_err(fdy_telemetry_subject("siheung", "m", small, sizeof small, &reason),
                       FOUNDRY_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_telemetry_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_telemetry_encode_refuses_bad_samples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_telemetry_encode_refuses_oversized_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_telemetry_decode_refuses_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_telemetry_decode_refuses_too_many_samples, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_telemetry_decode_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_telemetry_decode_survives_mutations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_telemetry_parse_valid_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_telemetry_parse_refuses_malformed_lines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_telemetry_parse_survives_random_lines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_telemetry_parse_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_telemetry_subject, setup, teardown),
    };
    return cmocka_run_group_tests_name("telemetry", tests, NULL, NULL);
}
