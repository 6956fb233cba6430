/*  telemetry.h: typed telemetry (proto/telemetry.proto, docs/node.md):
 *  encoding and validating decoding of a sample batch, and the text line
 *  format `<metric> <value> [unit] [ts_ns] [key=value ...]`. telemetry.c is
 *  the only file that includes the generated telemetry.pb-c.h.
 *
 *  Untrusted input is checked in the codec's order: size before unpacking,
 *  protobuf-c unpack into a budgeted arena, then every field.
 */
#ifndef FDY_TELEMETRY_H_INCLUDED
#define FDY_TELEMETRY_H_INCLUDED

#include "arena.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest encoded batch (or text frame) we decode. */
#define FDY_TELEMETRY_FRAME_MAX (256u * 1024u)
/* Most samples in one batch. */
#define FDY_TELEMETRY_SAMPLES_MAX 16384u
/* Most labels on one sample; longest label key and value, in bytes. */
#define FDY_TELEMETRY_LABELS_MAX      32u
#define FDY_TELEMETRY_LABEL_KEY_MAX   64u
#define FDY_TELEMETRY_LABEL_VALUE_MAX 256u
/* Longest unit, in bytes. */
#define FDY_TELEMETRY_UNIT_MAX 32u
/* Longest text line, in bytes, without its line end. */
#define FDY_TELEMETRY_LINE_MAX 4096u
/* Memory budget for decoding an n-byte batch. protobuf-c 1.4 spends up to
 * ~40x the wire size on the smallest legitimate samples (a one-letter
 * metric and a zero value are 5 bytes, its structs and scan slabs ~190);
 * hostile frames (empty samples or labels) reach 100x and run out of it. */
#define FDY_TELEMETRY_DECODE_BUDGET(n) (48u * (size_t) (n) + 65536u)
/* Memory for parsing text of n bytes with fdy_telemetry_parse_line(),
 * summed over its lines: each line's copy plus 16 bytes per label, with
 * 16-byte rounding (a 4-byte "a=b " label costs 5x its bytes). */
#define FDY_TELEMETRY_PARSE_BUDGET(n) (6u * (size_t) (n) + 16384u)

typedef struct {
    const char *key;
    const char *value;
} fdy_label_t;

/* One sample. Strings are NUL-ended; when decoded or parsed every pointer is
 * borrowed from the arena, valid until that arena is reset. */
typedef struct {
    const char *metric;    /* subject tokens: robot42.joint3.temp */
    double value;          /* finite */
    const char *unit;      /* "" when none; never NULL once decoded */
    uint64_t timestamp_ns; /* 0 = unknown */
    const fdy_label_t *labels;
    size_t label_count;
} fdy_sample_t;

/* Validates a sample: metric syntax (subject grammar), finite value, unit
 * (at most FDY_TELEMETRY_UNIT_MAX bytes of UTF-8 without whitespace,
 * control characters or '=', not only digits; NULL or "" = none), labels
 * (at most FDY_TELEMETRY_LABELS_MAX; key [A-Za-z0-9_.-]+ up to
 * FDY_TELEMETRY_LABEL_KEY_MAX bytes, unique; value 1..
 * FDY_TELEMETRY_LABEL_VALUE_MAX bytes of UTF-8 without control characters).
 * Returns FOUNDRY_OK or FOUNDRY_EINVAL with reason. */
foundry_err fdy_telemetry_check_sample(const fdy_sample_t *sample, fdy_reason_t *reason);

/* Bytes sample adds to an encoded batch. sample must pass
 * fdy_telemetry_check_sample(). */
size_t fdy_telemetry_sample_size(const fdy_sample_t *sample);

/* Encodes count samples (1..FDY_TELEMETRY_SAMPLES_MAX, each checked) as one
 * Batch. Caller owns *buf_out (free()). Returns FOUNDRY_OK, FOUNDRY_EINVAL
 * (a sample, or count) or FOUNDRY_ETOOBIG (over FDY_TELEMETRY_FRAME_MAX)
 * with reason, or FOUNDRY_ENOMEM. */
foundry_err fdy_telemetry_encode(const fdy_sample_t *samples, size_t count, uint8_t **buf_out,
                                 size_t *len_out, fdy_reason_t *reason);

/* Decodes and validates an untrusted Batch into arena (give it at least
 * FDY_TELEMETRY_DECODE_BUDGET(len)). *samples_out (borrowed from the arena)
 * gets *count_out >= 1 samples. The samples are counted on the wire before
 * anything is unpacked. Returns FOUNDRY_OK, FOUNDRY_ETOOBIG (frame over
 * FDY_TELEMETRY_FRAME_MAX, or over FDY_TELEMETRY_SAMPLES_MAX samples),
 * FOUNDRY_EPROTO (bad framing, does not unpack, no samples, a string that
 * holds NUL), FOUNDRY_EINVAL (a sample fails fdy_telemetry_check_sample:
 * reason names its index) or FOUNDRY_ENOMEM (arena budget), with reason. */
foundry_err fdy_telemetry_decode(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                 fdy_sample_t **samples_out, size_t *count_out,
                                 fdy_reason_t *reason);

/* Parses one text line (len bytes, without or with its "\n" or "\r\n")
 * into *sample_out, copying its strings into arena:
 *     <metric> <value> [unit] [ts_ns] [key=value ...]
 * Fields are separated by spaces or tabs. The third field is the unit,
 * unless it is all digits (then it is ts_ns) or holds '=' (a label); "-"
 * is an empty unit, so "m 1 - 1700000000000000000" gives a timestamp
 * without a unit. A blank line or one whose first non-blank character is
 * '#' is no sample: FOUNDRY_OK with sample_out->metric NULL.
 * Returns FOUNDRY_OK, FOUNDRY_EINVAL (reason names the field and why, never
 * quotes the line), FOUNDRY_ETOOBIG (over FDY_TELEMETRY_LINE_MAX) or
 * FOUNDRY_ENOMEM (arena budget). */
foundry_err fdy_telemetry_parse_line(const char *line, size_t len, fdy_arena_t *arena,
                                     fdy_sample_t *sample_out, fdy_reason_t *reason);

/* Writes "telemetry.<site>.<metric>" to out (size bytes, at least
 * FOUNDRY_SUBJECT_MAX + 1). Returns FOUNDRY_OK or FOUNDRY_EINVAL (site is
 * not one subject token, metric is not a subject, or the result is over
 * FOUNDRY_SUBJECT_MAX bytes or FDY_SUBJECT_TOKENS_MAX tokens) with reason. */
foundry_err fdy_telemetry_subject(const char *site, const char *metric, char *out, size_t size,
                                  fdy_reason_t *reason);

#endif
