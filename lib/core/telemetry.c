/*  telemetry.c: typed telemetry (proto/telemetry.proto) to and from
 *  fdy_sample_t, with validation of everything a peer sends, and the text
 *  sample line parser. The only file that includes telemetry.pb-c.h. Not for
 *  routing or policy: which subject a sample goes to is the node agent's.
 */
#include "telemetry.h"

#include "codec_internal.h"
#include "names.h"
#include "subject.h"
#include "telemetry.pb-c.h"
#include "utf8.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- text checks ------------------------------------------------------- */

#define TEXT_NO_SPACE  1u /* no space (units: a text line could not carry it) */
#define TEXT_NO_EQUALS 2u /* no '=' (units: it would read as a label) */

/* True when s[0..len) is UTF-8 without control characters (C0, DEL and C1;
 * NUL included) and, per flags, without spaces or '='. Every string of a
 * sample ends up in logs, tables and other languages' decoders, which all
 * want this. Space and '=' are ASCII, and ASCII bytes never occur inside a
 * multi-byte sequence, so a byte search after validation is exact. */
static bool
s_text_ok(const char *text, size_t len, unsigned flags)
{
    if (!fdy_utf8_valid((const uint8_t *) text, len, FDY_UTF8_NO_C0 | FDY_UTF8_NO_C1))
        return false;
    if ((flags & TEXT_NO_SPACE) && memchr(text, ' ', len))
        return false;
    if ((flags & TEXT_NO_EQUALS) && memchr(text, '=', len))
        return false;
    return true;
}

static bool
s_all_digits(const char *text)
{
    if (!*text)
        return false;
    for (; *text; text++)
        if (*text < '0' || *text > '9')
            return false;
    return true;
}

static bool
s_label_key_char(char c)
{
    return fdy_name_char(c, true);
}

static foundry_err
s_check_label(const fdy_label_t *label, size_t index, fdy_reason_t *reason)
{
    if (!label->key || !label->value)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "label %zu: key or value missing", index);
    size_t key_len = strnlen(label->key, FDY_TELEMETRY_LABEL_KEY_MAX + 1);
    if (key_len == 0 || key_len > FDY_TELEMETRY_LABEL_KEY_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "label %zu: key must be 1..%u bytes", index,
                              FDY_TELEMETRY_LABEL_KEY_MAX);
    for (size_t i = 0; i < key_len; i++)
        if (!s_label_key_char(label->key[i]))
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "label %zu: key byte %zu is not one of A-Z a-z 0-9 _ . -", index,
                                  i);
    size_t value_len = strnlen(label->value, FDY_TELEMETRY_LABEL_VALUE_MAX + 1);
    if (value_len == 0 || value_len > FDY_TELEMETRY_LABEL_VALUE_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "label %zu: value must be 1..%u bytes", index,
                              FDY_TELEMETRY_LABEL_VALUE_MAX);
    if (!s_text_ok(label->value, value_len, 0))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "label %zu: value is not UTF-8 text without control characters",
                              index);
    return FOUNDRY_OK;
}

foundry_err
fdy_telemetry_check_sample(const fdy_sample_t *sample, fdy_reason_t *reason)
{
    assert(sample);
    if (!sample->metric)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "metric is missing");
    fdy_reason_t why;
    if (fdy_subject_validate(sample->metric, &why) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "metric: %s", why.text);
    if (!isfinite(sample->value))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "value must be a finite number");
    if (sample->unit && sample->unit[0]) {
        size_t unit_len = strnlen(sample->unit, FDY_TELEMETRY_UNIT_MAX + 1);
        if (unit_len > FDY_TELEMETRY_UNIT_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "unit is longer than %u bytes",
                                  FDY_TELEMETRY_UNIT_MAX);
        if (!s_text_ok(sample->unit, unit_len, TEXT_NO_SPACE | TEXT_NO_EQUALS))
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "unit must be UTF-8 without spaces, control characters or '='");
        /* A text line reads an all-digit third field as a timestamp. */
        if (s_all_digits(sample->unit))
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "unit must not be only digits");
    }
    if (sample->label_count > FDY_TELEMETRY_LABELS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu labels, at most %u allowed",
                              sample->label_count, FDY_TELEMETRY_LABELS_MAX);
    if (sample->label_count > 0 && !sample->labels)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "label count without labels");
    for (size_t i = 0; i < sample->label_count; i++) {
        foundry_err err = s_check_label(&sample->labels[i], i, reason);
        if (err != FOUNDRY_OK)
            return err;
        for (size_t k = 0; k < i; k++)
            if (strcmp(sample->labels[k].key, sample->labels[i].key) == 0)
                return fdy_reason_set(reason, FOUNDRY_EINVAL, "label %zu: key repeats label %zu", i,
                                      k);
    }
    return FOUNDRY_OK;
}

/* ---- encoding ---------------------------------------------------------- */

/* protobuf-c's structs are not const-qualified; packing only reads them. */
static void
s_sample_to_pb(const fdy_sample_t *sample, Foundry__Telemetry__Sample *pb,
               Foundry__Telemetry__Label *labels, Foundry__Telemetry__Label **label_ptrs)
{
    Foundry__Telemetry__Sample init = FOUNDRY__TELEMETRY__SAMPLE__INIT;
    *pb = init;
    pb->metric = (char *) sample->metric;
    pb->value = sample->value;
    pb->unit = (char *) (sample->unit ? sample->unit : "");
    pb->timestamp_ns = sample->timestamp_ns;
    for (size_t i = 0; i < sample->label_count; i++) {
        Foundry__Telemetry__Label label = FOUNDRY__TELEMETRY__LABEL__INIT;
        label.key = (char *) sample->labels[i].key;
        label.value = (char *) sample->labels[i].value;
        labels[i] = label;
        label_ptrs[i] = &labels[i];
    }
    pb->n_labels = sample->label_count;
    pb->labels = sample->label_count ? label_ptrs : NULL;
}

static size_t
s_varint_size(size_t value)
{
    size_t size = 1;
    while (value >= 0x80) {
        value >>= 7;
        size++;
    }
    return size;
}

size_t
fdy_telemetry_sample_size(const fdy_sample_t *sample)
{
    assert(sample && sample->label_count <= FDY_TELEMETRY_LABELS_MAX);
    Foundry__Telemetry__Sample pb;
    Foundry__Telemetry__Label labels[FDY_TELEMETRY_LABELS_MAX];
    Foundry__Telemetry__Label *label_ptrs[FDY_TELEMETRY_LABELS_MAX];
    s_sample_to_pb(sample, &pb, labels, label_ptrs);
    size_t size = foundry__telemetry__sample__get_packed_size(&pb);
    return 1 + s_varint_size(size) + size; /* field 1 tag, length, body */
}

foundry_err
fdy_telemetry_encode(const fdy_sample_t *samples, size_t count, uint8_t **buf_out, size_t *len_out,
                     fdy_reason_t *reason)
{
    assert(buf_out && len_out);
    *buf_out = NULL;
    *len_out = 0;
    if (count == 0 || !samples)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "a batch needs at least one sample");
    if (count > FDY_TELEMETRY_SAMPLES_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu samples, at most %u per batch", count,
                              FDY_TELEMETRY_SAMPLES_MAX);
    size_t label_total = 0;
    for (size_t i = 0; i < count; i++) {
        fdy_reason_t why;
        if (fdy_telemetry_check_sample(&samples[i], &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "sample %zu: %s", i, why.text);
        label_total += samples[i].label_count;
    }

    foundry_err err = FOUNDRY_OK;
    Foundry__Telemetry__Sample *pbs = calloc(count, sizeof *pbs);
    Foundry__Telemetry__Sample **ptrs = calloc(count, sizeof *ptrs);
    Foundry__Telemetry__Label *labels = calloc(label_total ? label_total : 1, sizeof *labels);
    Foundry__Telemetry__Label **label_ptrs =
        calloc(label_total ? label_total : 1, sizeof *label_ptrs);
    uint8_t *buf = NULL;
    if (!pbs || !ptrs || !labels || !label_ptrs) {
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory encoding telemetry");
        goto out;
    }
    size_t label_at = 0;
    for (size_t i = 0; i < count; i++) {
        s_sample_to_pb(&samples[i], &pbs[i], labels + label_at, label_ptrs + label_at);
        label_at += samples[i].label_count;
        ptrs[i] = &pbs[i];
    }
    Foundry__Telemetry__Batch batch = FOUNDRY__TELEMETRY__BATCH__INIT;
    batch.n_samples = count;
    batch.samples = ptrs;
    size_t size = foundry__telemetry__batch__get_packed_size(&batch);
    if (size > FDY_TELEMETRY_FRAME_MAX) {
        err = fdy_reason_set(reason, FOUNDRY_ETOOBIG, "batch of %zu bytes exceeds %u", size,
                             FDY_TELEMETRY_FRAME_MAX);
        goto out;
    }
    buf = malloc(size);
    if (!buf) {
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory encoding telemetry");
        goto out;
    }
    *len_out = foundry__telemetry__batch__pack(&batch, buf);
    *buf_out = buf;
    buf = NULL;
out:
    free(buf);
    free(label_ptrs);
    free(labels);
    free(ptrs);
    free(pbs);
    return err;
}

/* ---- decoding ---------------------------------------------------------- */

/* Nesting levels of the schema: Batch > Sample > Label. */
enum { LEVEL_BATCH = 0, LEVEL_SAMPLE = 1, LEVEL_LABEL = 2 };

/* Walks the wire bytes before unpacking: checks the framing, counts the
 * samples (so an oversized batch costs no unpacking), and checks the string
 * fields for NUL, because protobuf-c hands strings back NUL-ended without a
 * length and a NUL inside one would silently cut it short. The depth is
 * bounded by the schema, not by the input. */
static foundry_err
s_scan_wire(const uint8_t *buf, size_t len, int level, size_t *samples, fdy_reason_t *reason)
{
    size_t pos = 0;
    size_t labels = 0;
    while (pos < len) {
        uint64_t tag, value;
        if (!fdy_codec_varint(buf, len, &pos, &tag))
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "telemetry batch: bad field tag");
        uint64_t field = tag >> 3;
        switch (tag & 7) {
        case 0:
            if (!fdy_codec_varint(buf, len, &pos, &value))
                return fdy_reason_set(reason, FOUNDRY_EPROTO, "telemetry batch: bad varint");
            break;
        case 1:
        case 5: {
            size_t width = (tag & 7) == 1 ? 8 : 4;
            if (len - pos < width)
                return fdy_reason_set(reason, FOUNDRY_EPROTO, "telemetry batch truncated");
            pos += width;
            break;
        }
        case 2: {
            if (!fdy_codec_varint(buf, len, &pos, &value) || value > len - pos)
                return fdy_reason_set(reason, FOUNDRY_EPROTO, "telemetry batch truncated");
            const uint8_t *inner = buf + pos;
            size_t inner_len = (size_t) value;
            bool text = (level == LEVEL_SAMPLE && (field == 1 || field == 3)) ||
                        (level == LEVEL_LABEL && (field == 1 || field == 2));
            foundry_err err = FOUNDRY_OK;
            if (text && memchr(inner, 0, inner_len))
                return fdy_reason_set(reason, FOUNDRY_EPROTO,
                                      "telemetry batch: a string field holds a NUL byte");
            if (level == LEVEL_BATCH && field == 1) {
                (*samples)++;
                err = s_scan_wire(inner, inner_len, LEVEL_SAMPLE, samples, reason);
            } else if (level == LEVEL_SAMPLE && field == 5) {
                /* Refused before unpacking: labels cost protobuf-c the most
                 * memory per wire byte. */
                if (++labels > FDY_TELEMETRY_LABELS_MAX)
                    return fdy_reason_set(reason, FOUNDRY_EINVAL, "sample %zu: more than %u labels",
                                          *samples - 1, FDY_TELEMETRY_LABELS_MAX);
                err = s_scan_wire(inner, inner_len, LEVEL_LABEL, samples, reason);
            }
            if (err != FOUNDRY_OK)
                return err;
            pos += inner_len;
            break;
        }
        default: return fdy_reason_set(reason, FOUNDRY_EPROTO, "telemetry batch: bad wire type");
        }
    }
    return FOUNDRY_OK;
}

static void *
s_arena_array(fdy_arena_t *arena, size_t count, size_t size)
{
    if (count == 0 || count > SIZE_MAX / size)
        return NULL;
    return fdy_arena_alloc(arena, count * size);
}

foundry_err
fdy_telemetry_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena, fdy_sample_t **samples_out,
                     size_t *count_out, fdy_reason_t *reason)
{
    assert(arena && samples_out && count_out);
    *samples_out = NULL;
    *count_out = 0;
    if (len > FDY_TELEMETRY_FRAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "telemetry batch of %zu bytes exceeds %u",
                              len, FDY_TELEMETRY_FRAME_MAX);
    if (len == 0 || !buf)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "telemetry batch is empty");
    size_t wire_samples = 0;
    foundry_err err = s_scan_wire(buf, len, LEVEL_BATCH, &wire_samples, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (wire_samples == 0)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "telemetry batch holds no samples");
    if (wire_samples > FDY_TELEMETRY_SAMPLES_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "telemetry batch of %zu samples exceeds %u",
                              wire_samples, FDY_TELEMETRY_SAMPLES_MAX);

    fdy_pb_ctx_t ctx = {arena, false};
    ProtobufCAllocator allocator = fdy_codec_pb_allocator(&ctx);
    Foundry__Telemetry__Batch *pb = foundry__telemetry__batch__unpack(&allocator, len, buf);
    if (!pb) {
        if (ctx.exhausted)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM,
                                  "telemetry batch of %zu bytes exceeds its decoding memory "
                                  "budget",
                                  len);
        return fdy_reason_set(reason, FOUNDRY_EPROTO,
                              "telemetry batch of %zu bytes does not "
                              "unpack",
                              len);
    }
    /* The scan counted LEN records of field 1; protobuf-c agrees or has
     * already refused the batch. */
    if (pb->n_samples != wire_samples)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "telemetry batch: sample count mismatch");

    fdy_sample_t *samples = s_arena_array(arena, pb->n_samples, sizeof *samples);
    if (!samples)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM,
                              "telemetry samples exceed the decoding memory budget");
    for (size_t i = 0; i < pb->n_samples; i++) {
        const Foundry__Telemetry__Sample *in = pb->samples[i];
        fdy_sample_t *sample = &samples[i];
        memset(sample, 0, sizeof *sample);
        sample->metric = in->metric;
        sample->value = in->value;
        sample->unit = in->unit ? in->unit : "";
        sample->timestamp_ns = in->timestamp_ns;
        if (in->n_labels > FDY_TELEMETRY_LABELS_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "sample %zu: %zu labels, at most %u", i,
                                  in->n_labels, FDY_TELEMETRY_LABELS_MAX);
        fdy_label_t *labels = s_arena_array(arena, in->n_labels, sizeof *labels);
        if (in->n_labels > 0 && !labels)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM,
                                  "telemetry labels exceed the decoding memory budget");
        for (size_t k = 0; k < in->n_labels; k++) {
            labels[k].key = in->labels[k]->key;
            labels[k].value = in->labels[k]->value;
        }
        sample->labels = labels;
        sample->label_count = in->n_labels;
        fdy_reason_t why;
        if (fdy_telemetry_check_sample(sample, &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "sample %zu: %s", i, why.text);
    }
    *samples_out = samples;
    *count_out = pb->n_samples;
    return FOUNDRY_OK;
}

/* ---- text lines -------------------------------------------------------- */

/* Fields a line may have: metric, value, unit, ts_ns and the labels. */
#define LINE_FIELDS_MAX (4u + FDY_TELEMETRY_LABELS_MAX)
/* Longest number we read; a longer value field is refused. */
#define NUMBER_MAX 64u

/* Decimal notation only: strtod would also take "nan", "inf" and hex. */
static foundry_err
s_parse_value(const char *text, double *value_out, fdy_reason_t *reason)
{
    size_t len = strlen(text);
    if (len > NUMBER_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "field 2 (value) is longer than %u bytes",
                              NUMBER_MAX);
    bool digit = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c >= '0' && c <= '9')
            digit = true;
        else if (c != '+' && c != '-' && c != '.' && c != 'e' && c != 'E')
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "field 2 (value) is not a decimal number (byte %zu)", i);
    }
    if (!digit)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "field 2 (value) is not a decimal number");
    char *end = NULL;
    double value = strtod(text, &end);
    if (!end || *end != '\0')
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "field 2 (value) is not a decimal number");
    if (!isfinite(value))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "field 2 (value) is out of range");
    *value_out = value;
    return FOUNDRY_OK;
}

static foundry_err
s_parse_timestamp(const char *text, size_t field, uint64_t *ts_out, fdy_reason_t *reason)
{
    if (!s_all_digits(text))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "field %zu (ts_ns) is not a whole number of nanoseconds", field);
    uint64_t ts = 0;
    for (const char *p = text; *p; p++) {
        unsigned digit = (unsigned) (*p - '0');
        if (ts > (UINT64_MAX - digit) / 10)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "field %zu (ts_ns) is too large", field);
        ts = ts * 10 + digit;
    }
    *ts_out = ts;
    return FOUNDRY_OK;
}

foundry_err
fdy_telemetry_parse_line(const char *line, size_t len, fdy_arena_t *arena, fdy_sample_t *sample_out,
                         fdy_reason_t *reason)
{
    assert(arena && sample_out && (line || len == 0));
    memset(sample_out, 0, sizeof *sample_out);
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len > FDY_TELEMETRY_LINE_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "line of %zu bytes exceeds %u", len,
                              FDY_TELEMETRY_LINE_MAX);
    /* Tabs separate fields; every other control character (NUL, a stray CR)
     * and invalid UTF-8 make the line bad as a whole. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "control character 0x%02x at byte %zu", c,
                                  i);
    }

    char *copy = fdy_arena_alloc(arena, len + 1);
    if (!copy)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "line exceeds the parsing memory budget");
    memcpy(copy, line, len);
    copy[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (copy[i] == '\t')
            copy[i] = ' ';
    if (!s_text_ok(copy, len, 0))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "line is not valid UTF-8");

    char *fields[LINE_FIELDS_MAX];
    size_t count = 0;
    char *save = NULL;
    for (char *field = strtok_r(copy, " ", &save); field; field = strtok_r(NULL, " ", &save)) {
        if (count == 0 && field[0] == '#')
            return FOUNDRY_OK; /* a comment */
        if (count == LINE_FIELDS_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "more than %u fields", LINE_FIELDS_MAX);
        fields[count++] = field;
    }
    if (count == 0)
        return FOUNDRY_OK; /* a blank line */

    fdy_sample_t sample;
    memset(&sample, 0, sizeof sample);
    sample.metric = fields[0];
    sample.unit = "";
    fdy_reason_t why;
    if (fdy_subject_validate(fields[0], &why) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "field 1 (metric): %s", why.text);
    if (count < 2)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "field 2 (value) is missing");
    foundry_err err = s_parse_value(fields[1], &sample.value, reason);
    if (err != FOUNDRY_OK)
        return err;

    size_t at = 2;
    if (at < count && !strchr(fields[at], '=')) {
        if (s_all_digits(fields[at])) {
            err = s_parse_timestamp(fields[at], at + 1, &sample.timestamp_ns, reason);
            if (err != FOUNDRY_OK)
                return err;
            at++;
        } else {
            sample.unit = strcmp(fields[at], "-") == 0 ? "" : fields[at];
            at++;
            if (at < count && !strchr(fields[at], '=')) {
                err = s_parse_timestamp(fields[at], at + 1, &sample.timestamp_ns, reason);
                if (err != FOUNDRY_OK)
                    return err;
                at++;
            }
        }
    }

    size_t label_count = count - at;
    if (label_count > FDY_TELEMETRY_LABELS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu labels, at most %u allowed", label_count,
                              FDY_TELEMETRY_LABELS_MAX);
    fdy_label_t *labels = NULL;
    if (label_count > 0) {
        labels = s_arena_array(arena, label_count, sizeof *labels);
        if (!labels)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "line exceeds the parsing memory budget");
    }
    for (size_t i = 0; i < label_count; i++) {
        char *field = fields[at + i];
        char *equals = strchr(field, '=');
        if (!equals)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "field %zu: expected key=value (labels come last)", at + i + 1);
        *equals = '\0';
        labels[i].key = field;
        labels[i].value = equals + 1;
    }
    sample.labels = labels;
    sample.label_count = label_count;
    if (fdy_telemetry_check_sample(&sample, &why) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s", why.text);
    *sample_out = sample;
    return FOUNDRY_OK;
}

/* ---- subjects ---------------------------------------------------------- */

foundry_err
fdy_telemetry_subject(const char *site, const char *metric, char *out, size_t size,
                      fdy_reason_t *reason)
{
    assert(out && size > 0);
    out[0] = '\0';
    if (!site || !*site || strchr(site, '.'))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "site must be one subject token");
    if (!metric)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "metric is missing");
    int n = snprintf(out, size, "telemetry.%s.%s", site, metric);
    if (n < 0 || (size_t) n >= size || (size_t) n > FOUNDRY_SUBJECT_MAX) {
        out[0] = '\0';
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "subject telemetry.<site>.<metric> is longer than %d bytes",
                              FOUNDRY_SUBJECT_MAX);
    }
    fdy_reason_t why;
    if (fdy_subject_validate(out, &why) != FOUNDRY_OK) {
        out[0] = '\0';
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "subject: %s", why.text);
    }
    return FOUNDRY_OK;
}
