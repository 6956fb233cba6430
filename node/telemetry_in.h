/*  telemetry_in.h: foundry-node's telemetry intake. Turns what local
 *  equipment software sends (a typed batch or text lines on the PULL
 *  socket, text lines on stdin) into outbox entries: samples of one metric,
 *  in arrival order, at most batch_max_samples (and 64 KiB) per entry, as a
 *  typed batch published to telemetry.<site>.<metric>. Bad input is counted,
 *  logged (rate limited) and skipped; it never stops the intake.
 *
 *  A PULL frame whose first byte is 0x0A (a Batch's first field tag) is a
 *  typed batch; any other frame is text. Formats: docs/node.md.
 */
#ifndef FDY_TELEMETRY_IN_H_INCLUDED
#define FDY_TELEMETRY_IN_H_INCLUDED

#include "outbox.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest payload of one outbox entry (one message): under the client
 * library's 64 KiB inline limit, so entries travel inside batch frames. */
#define FDY_TELEMETRY_IN_PAYLOAD_MAX (63u * 1024u)

typedef struct fdy_telemetry_in fdy_telemetry_in_t;

typedef struct {
    const char *site;           /* borrowed, valid for the intake's life */
    uint32_t batch_max_samples; /* 1..FDY_TELEMETRY_SAMPLES_MAX */
    fdy_outbox_t *outbox;       /* borrowed, valid for the intake's life */
} fdy_telemetry_in_opts_t;

typedef struct {
    uint64_t frames;      /* PULL frames taken */
    uint64_t lines;       /* text lines that held a sample or were bad */
    uint64_t samples;     /* samples accepted (parsed and valid) */
    uint64_t stored;      /* samples appended to the outbox (its commit pending) */
    uint64_t bad_frames;  /* frames refused as a whole (typed batch invalid, empty, multipart) */
    uint64_t bad_lines;   /* text lines refused */
    uint64_t bad_samples; /* valid samples whose subject telemetry.<site>.<metric> is invalid */
    uint64_t not_stored;  /* samples the outbox refused (policy, size, storage failure) */
} fdy_telemetry_in_stats_t;

/* Returns a new intake or NULL (out of memory). Caller owns; destroy with
 * fdy_telemetry_in_destroy(). */
fdy_telemetry_in_t *fdy_telemetry_in_new(const fdy_telemetry_in_opts_t *opts);
void fdy_telemetry_in_destroy(fdy_telemetry_in_t **self_p);

/* Takes one single-frame message from the PULL socket (data borrowed for the
 * call). Samples without a timestamp get now_ns. Returns FOUNDRY_OK (bad
 * input included: it is counted and logged), or FOUNDRY_ESTORE when the
 * outbox failed (reason says why; the samples are counted as not stored). */
foundry_err fdy_telemetry_in_frame(fdy_telemetry_in_t *self, const uint8_t *data, size_t len,
                                   uint64_t now_ns, fdy_reason_t *reason);

/* Counts a message refused before parsing (multipart, over the size
 * limit), and logs why (rate limited). */
void fdy_telemetry_in_refuse_frame(fdy_telemetry_in_t *self, const char *why);

/* Takes bytes of a text stream (stdin). Complete lines are parsed; a
 * partial line is kept for the next call, or taken as a line when eof is
 * true. A line longer than FDY_TELEMETRY_LINE_MAX is skipped up to its end
 * and counted once. Returns as fdy_telemetry_in_frame(). */
foundry_err fdy_telemetry_in_stream(fdy_telemetry_in_t *self, const char *data, size_t len,
                                    bool eof, uint64_t now_ns, fdy_reason_t *reason);

void fdy_telemetry_in_stats(const fdy_telemetry_in_t *self, fdy_telemetry_in_stats_t *out);

#endif
