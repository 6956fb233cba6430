/*  telemetry_in.c: the node's telemetry intake (telemetry_in.h): classifies
 *  and parses what arrives, groups samples by metric within each input unit
 *  (one frame, or one read of stdin) and appends them to the outbox. Not for
 *  sockets or file descriptors (agent.c) nor for forwarding.
 */
#include "telemetry_in.h"

#include "log.h"
#include "telemetry.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* First byte of a non-empty Batch: field 1, wire type 2. */
#define TYPED_FIRST_BYTE 0x0a

typedef struct {
    const char *metric;
    size_t index;
} s_order_t;

struct fdy_telemetry_in {
    const char *site;
    uint32_t batch_max_samples;
    fdy_outbox_t *outbox;

    fdy_arena_t *arena;    /* the current unit's strings, reset per unit */
    fdy_sample_t *samples; /* the current unit's samples, in arrival order */
    size_t sample_count;
    size_t sample_cap;
    s_order_t *order; /* sorting by metric */
    size_t order_cap;
    fdy_sample_t *chunk; /* one entry's samples, batch_max_samples at most */

    char *partial; /* a stdin line still missing its end */
    size_t partial_len;
    bool skipping;        /* inside an over-long stdin line */
    uint64_t stream_line; /* stdin lines seen, for messages */

    fdy_telemetry_in_stats_t stats;
};

fdy_telemetry_in_t *
fdy_telemetry_in_new(const fdy_telemetry_in_opts_t *opts)
{
    assert(opts && opts->site && opts->outbox);
    assert(opts->batch_max_samples >= 1 && opts->batch_max_samples <= FDY_TELEMETRY_SAMPLES_MAX);
    fdy_telemetry_in_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->site = opts->site;
    self->batch_max_samples = opts->batch_max_samples;
    self->outbox = opts->outbox;
    self->arena = fdy_arena_new(0);
    self->chunk = calloc(opts->batch_max_samples, sizeof *self->chunk);
    self->partial = malloc(FDY_TELEMETRY_LINE_MAX + 2);
    if (!self->arena || !self->chunk || !self->partial) {
        fdy_telemetry_in_destroy(&self);
        return NULL;
    }
    return self;
}

void
fdy_telemetry_in_destroy(fdy_telemetry_in_t **self_p)
{
    assert(self_p);
    fdy_telemetry_in_t *self = *self_p;
    if (!self)
        return;
    fdy_arena_destroy(&self->arena);
    free(self->samples);
    free(self->order);
    free(self->chunk);
    free(self->partial);
    free(self);
    *self_p = NULL;
}

void
fdy_telemetry_in_stats(const fdy_telemetry_in_t *self, fdy_telemetry_in_stats_t *out)
{
    assert(self && out);
    *out = self->stats;
}

/* ---- collecting one unit ------------------------------------------------ */

static bool
s_reserve(fdy_telemetry_in_t *self, size_t more)
{
    if (self->sample_count + more <= self->sample_cap)
        return true;
    size_t cap = self->sample_cap ? self->sample_cap : 256;
    while (cap < self->sample_count + more)
        cap *= 2;
    fdy_sample_t *grown = realloc(self->samples, cap * sizeof *grown);
    if (!grown)
        return false;
    self->samples = grown;
    self->sample_cap = cap;
    return true;
}

/* Parses one line into the unit. `where` names it in messages. */
static void
s_take_line(fdy_telemetry_in_t *self, const char *line, size_t len, const char *where,
            uint64_t frame, uint64_t number)
{
    fdy_sample_t sample;
    fdy_reason_t why;
    foundry_err err = fdy_telemetry_parse_line(line, len, self->arena, &sample, &why);
    if (err == FOUNDRY_OK && !sample.metric)
        return; /* blank or comment */
    self->stats.lines++;
    if (err == FOUNDRY_OK && !s_reserve(self, 1)) {
        err = FOUNDRY_ENOMEM;
        fdy_reason_set(&why, err, "out of memory");
    }
    if (err != FOUNDRY_OK) {
        self->stats.bad_lines++;
        if (frame)
            fdy_log_warn_limited("NODE-BAD-LINE", "%s %llu line %llu refused: %s", where,
                                 (unsigned long long) frame, (unsigned long long) number, why.text);
        else
            fdy_log_warn_limited("NODE-BAD-LINE", "%s line %llu refused: %s", where,
                                 (unsigned long long) number, why.text);
        return;
    }
    self->samples[self->sample_count++] = sample;
    self->stats.samples++;
}

/* ---- storing one unit --------------------------------------------------- */

static int
s_order_compare(const void *a, const void *b)
{
    const s_order_t *x = a, *y = b;
    int order = strcmp(x->metric, y->metric);
    if (order != 0)
        return order;
    /* Equal metrics keep their arrival order (qsort is not stable). */
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Encodes the chunk as one Batch and appends it to the outbox. */
static foundry_err
s_store_chunk(fdy_telemetry_in_t *self, const char *subject, size_t count, fdy_reason_t *reason)
{
    uint8_t *payload = NULL;
    size_t payload_len = 0;
    fdy_reason_t why;
    foundry_err err = fdy_telemetry_encode(self->chunk, count, &payload, &payload_len, &why);
    if (err != FOUNDRY_OK) {
        /* Only memory can fail here: every sample was checked on the way in. */
        self->stats.not_stored += count;
        fdy_log_warn_limited("NODE-BAD-SAMPLE", "%zu samples not stored: %s", count, why.text);
        return FOUNDRY_OK;
    }
    err = fdy_outbox_append(self->outbox, subject, payload, payload_len, (uint32_t) count, NULL,
                            &why);
    free(payload);
    if (err == FOUNDRY_OK) {
        self->stats.stored += count;
        return FOUNDRY_OK;
    }
    self->stats.not_stored += count;
    if (err == FOUNDRY_ESTORE)
        return fdy_reason_set(reason, err, "%s", why.text);
    return FOUNDRY_OK; /* refused by its policy or a full disk: the outbox counts them */
}

/* Groups the unit's samples by metric and stores them, then empties the
 * unit. Returns FOUNDRY_OK or the first storage failure. */
static foundry_err
s_store_unit(fdy_telemetry_in_t *self, uint64_t now_ns, fdy_reason_t *reason)
{
    size_t count = self->sample_count;
    self->sample_count = 0;
    if (count == 0)
        return FOUNDRY_OK;
    if (count > self->order_cap) {
        s_order_t *grown = realloc(self->order, count * sizeof *grown);
        if (!grown) {
            self->stats.not_stored += count;
            fdy_log_warn_limited("NODE-BAD-SAMPLE", "%zu samples not stored: out of memory", count);
            return FOUNDRY_OK;
        }
        self->order = grown;
        self->order_cap = count;
    }
    for (size_t i = 0; i < count; i++) {
        if (self->samples[i].timestamp_ns == 0)
            self->samples[i].timestamp_ns = now_ns;
        self->order[i].metric = self->samples[i].metric;
        self->order[i].index = i;
    }
    qsort(self->order, count, sizeof *self->order, s_order_compare);

    foundry_err first_err = FOUNDRY_OK;
    size_t at = 0;
    while (at < count) {
        size_t end = at + 1;
        while (end < count && strcmp(self->order[end].metric, self->order[at].metric) == 0)
            end++;
        char subject[FOUNDRY_SUBJECT_MAX + 1];
        fdy_reason_t why;
        if (fdy_telemetry_subject(self->site, self->order[at].metric, subject, sizeof subject,
                                  &why) != FOUNDRY_OK) {
            self->stats.bad_samples += end - at;
            fdy_log_warn_limited("NODE-BAD-SAMPLE", "%zu samples refused: %s", end - at, why.text);
            at = end;
            continue;
        }
        size_t chunk_count = 0, chunk_bytes = 0;
        for (size_t k = at; k < end; k++) {
            const fdy_sample_t *sample = &self->samples[self->order[k].index];
            size_t size = fdy_telemetry_sample_size(sample);
            if (chunk_count > 0 && (chunk_count == self->batch_max_samples ||
                                    chunk_bytes + size > FDY_TELEMETRY_IN_PAYLOAD_MAX)) {
                foundry_err err = s_store_chunk(self, subject, chunk_count, reason);
                if (err != FOUNDRY_OK && first_err == FOUNDRY_OK)
                    first_err = err;
                chunk_count = chunk_bytes = 0;
            }
            self->chunk[chunk_count++] = *sample;
            chunk_bytes += size;
        }
        foundry_err err = s_store_chunk(self, subject, chunk_count, reason);
        if (err != FOUNDRY_OK && first_err == FOUNDRY_OK)
            first_err = err;
        at = end;
    }
    return first_err;
}

/* ---- frames ------------------------------------------------------------- */

void
fdy_telemetry_in_refuse_frame(fdy_telemetry_in_t *self, const char *why)
{
    self->stats.frames++;
    self->stats.bad_frames++;
    fdy_log_warn_limited("NODE-BAD-FRAME", "frame %llu refused: %s",
                         (unsigned long long) self->stats.frames, why);
}

static void
s_take_typed(fdy_telemetry_in_t *self, const uint8_t *data, size_t len)
{
    fdy_arena_reset(self->arena, FDY_TELEMETRY_DECODE_BUDGET(len));
    fdy_sample_t *samples = NULL;
    size_t count = 0;
    fdy_reason_t why;
    foundry_err err = fdy_telemetry_decode(data, len, self->arena, &samples, &count, &why);
    if (err == FOUNDRY_OK && !s_reserve(self, count)) {
        err = FOUNDRY_ENOMEM;
        fdy_reason_set(&why, err, "out of memory");
    }
    if (err != FOUNDRY_OK) {
        self->stats.bad_frames++;
        fdy_log_warn_limited("NODE-BAD-FRAME", "frame %llu (typed batch, %zu bytes) refused: %s",
                             (unsigned long long) self->stats.frames, len, why.text);
        return;
    }
    memcpy(self->samples, samples, count * sizeof *samples);
    self->sample_count = count;
    self->stats.samples += count;
}

static void
s_take_text(fdy_telemetry_in_t *self, const char *text, size_t len)
{
    fdy_arena_reset(self->arena, FDY_TELEMETRY_PARSE_BUDGET(len));
    uint64_t number = 0;
    size_t at = 0;
    while (at < len) {
        const char *end = memchr(text + at, '\n', len - at);
        size_t line_len = end ? (size_t) (end - (text + at)) + 1 : len - at;
        s_take_line(self, text + at, line_len, "frame", self->stats.frames, ++number);
        at += line_len;
    }
}

foundry_err
fdy_telemetry_in_frame(fdy_telemetry_in_t *self, const uint8_t *data, size_t len, uint64_t now_ns,
                       fdy_reason_t *reason)
{
    assert(self && (data || len == 0));
    if (len == 0) {
        fdy_telemetry_in_refuse_frame(self, "empty frame");
        return FOUNDRY_OK;
    }
    if (len > FDY_TELEMETRY_FRAME_MAX) {
        fdy_telemetry_in_refuse_frame(self, "frame over 256KiB");
        return FOUNDRY_OK;
    }
    self->stats.frames++;
    if (data[0] == TYPED_FIRST_BYTE)
        s_take_typed(self, data, len);
    else
        s_take_text(self, (const char *) data, len);
    return s_store_unit(self, now_ns, reason);
}

/* ---- the text stream ---------------------------------------------------- */

foundry_err
fdy_telemetry_in_stream(fdy_telemetry_in_t *self, const char *data, size_t len, bool eof,
                        uint64_t now_ns, fdy_reason_t *reason)
{
    assert(self && (data || len == 0));
    /* Partial line plus this read's lines, bounded by one read and one
     * line, so this budget covers every line of the unit. */
    fdy_arena_reset(self->arena, FDY_TELEMETRY_PARSE_BUDGET(len + self->partial_len));
    size_t at = 0;
    while (at < len) {
        const char *end = memchr(data + at, '\n', len - at);
        size_t piece = end ? (size_t) (end - (data + at)) + 1 : len - at;
        if (self->skipping) {
            /* The rest of an over-long line, counted when it began. */
            if (end)
                self->skipping = false;
        } else if (self->partial_len + piece > FDY_TELEMETRY_LINE_MAX + 2) {
            self->stream_line++;
            self->stats.lines++;
            self->stats.bad_lines++;
            fdy_log_warn_limited("NODE-BAD-LINE", "stdin line %llu refused: longer than %u bytes",
                                 (unsigned long long) self->stream_line, FDY_TELEMETRY_LINE_MAX);
            self->partial_len = 0;
            self->skipping = end == NULL;
        } else if (!end) {
            memcpy(self->partial + self->partial_len, data + at, piece);
            self->partial_len += piece;
        } else if (self->partial_len > 0) {
            memcpy(self->partial + self->partial_len, data + at, piece);
            s_take_line(self, self->partial, self->partial_len + piece, "stdin", 0,
                        ++self->stream_line);
            self->partial_len = 0;
        } else {
            s_take_line(self, data + at, piece, "stdin", 0, ++self->stream_line);
        }
        at += piece;
    }
    if (eof) {
        if (self->partial_len > 0)
            s_take_line(self, self->partial, self->partial_len, "stdin", 0, ++self->stream_line);
        self->partial_len = 0;
        self->skipping = false;
    }
    return s_store_unit(self, now_ns, reason);
}
