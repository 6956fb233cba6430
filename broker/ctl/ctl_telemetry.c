/*  ctl_telemetry.c: typed telemetry (proto/telemetry.proto batches, as
 *  foundry-node publishes them) shown as readable samples by stream read
 *  and sub, instead of hex. --decode telemetry tries every payload; the
 *  default (auto) only binary payloads under telemetry.>; --decode none
 *  never. A payload that does not decode is shown as before. Decoding is
 *  lib/core/telemetry.c's; this file only renders.
 */
#include "ctl.h"

#include "arena.h"
#include "telemetry.h"

#include <stdlib.h>
#include <string.h>

int
fdy_ctl_decode_parse(const char *value, fdy_ctl_decode_t *out)
{
    if (strcmp(value, "telemetry") == 0)
        *out = FDY_CTL_DECODE_TELEMETRY;
    else if (strcmp(value, "auto") == 0)
        *out = FDY_CTL_DECODE_AUTO;
    else if (strcmp(value, "none") == 0)
        *out = FDY_CTL_DECODE_NONE;
    else
        return fdy_output_usage("--decode takes telemetry, auto or none, not %s", value);
    return FDY_CTL_EXIT_OK;
}

static bool
s_printable_text(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (data[i] < 0x20 && data[i] != '\t')
            return false;
    return len > 0;
}

/* Decodes into a new arena (caller destroys *arena_out) when mode and the
 * message say it is telemetry. */
static bool
s_decode(fdy_ctl_decode_t mode, const char *subject, size_t subject_len, const uint8_t *data,
         size_t len, fdy_arena_t **arena_out, fdy_sample_t **samples, size_t *count)
{
    *arena_out = NULL;
    if (mode == FDY_CTL_DECODE_NONE || len == 0 || len > FDY_TELEMETRY_FRAME_MAX)
        return false;
    if (mode == FDY_CTL_DECODE_AUTO &&
        (subject_len < 10 || memcmp(subject, "telemetry.", 10) != 0 || s_printable_text(data, len)))
        return false;
    fdy_arena_t *arena = fdy_arena_new(FDY_TELEMETRY_DECODE_BUDGET(len));
    if (!arena)
        return false;
    fdy_reason_t reason = {{0}};
    if (fdy_telemetry_decode(data, len, arena, samples, count, &reason) != FOUNDRY_OK) {
        fdy_arena_destroy(&arena);
        return false;
    }
    *arena_out = arena;
    return true;
}

/* Shortest form that reads back as the same double. */
static void
s_number(FILE *out, double value)
{
    char text[40];
    snprintf(text, sizeof text, "%.15g", value);
    if (strtod(text, NULL) != value)
        snprintf(text, sizeof text, "%.17g", value);
    fputs(text, out);
}

void
fdy_ctl_payload_human(FILE *out, fdy_ctl_decode_t mode, const char *subject, size_t subject_len,
                      const uint8_t *data, size_t len)
{
    fdy_arena_t *arena = NULL;
    fdy_sample_t *samples = NULL;
    size_t count = 0;
    if (!s_decode(mode, subject, subject_len, data, len, &arena, &samples, &count)) {
        fdy_output_payload(out, data, len);
        return;
    }
    /* The node's own text line format, samples separated by "; ". */
    for (size_t i = 0; i < count; i++) {
        const fdy_sample_t *s = &samples[i];
        fprintf(out, "%s%s ", i ? "; " : "", s->metric);
        s_number(out, s->value);
        if (s->unit[0] || s->timestamp_ns)
            fprintf(out, " %s", s->unit[0] ? s->unit : "-");
        if (s->timestamp_ns)
            fprintf(out, " %llu", (unsigned long long) s->timestamp_ns);
        for (size_t l = 0; l < s->label_count; l++)
            fprintf(out, " %s=%s", s->labels[l].key, s->labels[l].value);
    }
    fdy_arena_destroy(&arena);
}

void
fdy_ctl_payload_json_samples(FILE *out, fdy_ctl_decode_t mode, const char *subject,
                             size_t subject_len, const uint8_t *data, size_t len)
{
    fdy_arena_t *arena = NULL;
    fdy_sample_t *samples = NULL;
    size_t count = 0;
    if (!s_decode(mode, subject, subject_len, data, len, &arena, &samples, &count))
        return;
    fputs(",\"samples\":[", out);
    for (size_t i = 0; i < count; i++) {
        const fdy_sample_t *s = &samples[i];
        fputs(i ? ",{\"metric\":" : "{\"metric\":", out);
        fdy_output_json_string(out, s->metric, strlen(s->metric));
        fputs(",\"value\":", out);
        s_number(out, s->value);
        fputs(",\"unit\":", out);
        fdy_output_json_string(out, s->unit, strlen(s->unit));
        fprintf(out, ",\"timestamp_ns\":%llu,\"labels\":{", (unsigned long long) s->timestamp_ns);
        for (size_t l = 0; l < s->label_count; l++) {
            if (l)
                fputc(',', out);
            fdy_output_json_string(out, s->labels[l].key, strlen(s->labels[l].key));
            fputc(':', out);
            fdy_output_json_string(out, s->labels[l].value, strlen(s->labels[l].value));
        }
        fputs("}}", out);
    }
    fputc(']', out);
    fdy_arena_destroy(&arena);
}
