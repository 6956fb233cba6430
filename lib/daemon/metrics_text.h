/*  metrics_text.h: a growing text buffer that writes the Prometheus text
 *  exposition format (version 0.0.4) and JSON strings, with the escaping
 *  each needs. Knows nothing about what is measured.
 */
#ifndef FDY_METRICS_TEXT_H_INCLUDED
#define FDY_METRICS_TEXT_H_INCLUDED

#include "histogram.h"
#include "reason.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *buf;  /* malloc'd, NUL-ended; take it with fdy_metrics_text_take() */
    size_t len;
    size_t cap;
} fdy_metrics_text_t;

/* Appends formatted text (aborts on out-of-memory: daemon allocator). */
void fdy_metrics_text_printf(fdy_metrics_text_t *self, const char *fmt, ...) FDY_PRINTF(2, 3);
/* Appends text as a JSON string, quotes included. */
void fdy_metrics_text_json_string(fdy_metrics_text_t *self, const char *text);

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge,
 * untyped). name must already be a valid metric name. */
void fdy_metrics_text_family(fdy_metrics_text_t *self, const char *name, const char *type,
                             const char *help);
/* "name{l1="v1",...} value": labels is NULL or NULL-ended name/value pairs;
 * values are escaped (backslash, quote, newline). */
void fdy_metrics_text_sample(fdy_metrics_text_t *self, const char *name,
                             const char *const *labels, uint64_t value);

/* A whole histogram family: name_bucket{le=...} (cumulative), name_sum,
 * name_count. scale divides bounds and sum (1000000: microseconds shown
 * as seconds; 1: as they are). */
void fdy_metrics_text_histogram(fdy_metrics_text_t *self, const char *name, const char *help,
                                const fdy_histogram_t *h, double scale);

/* Writes "foundry_" + name with every character outside [a-zA-Z0-9_]
 * turned into '_' into out (size bytes, truncated). */
void fdy_metrics_text_name(const char *name, char *out, size_t size);

/* The buffer (caller owns; "" when nothing was written) and its length;
 * the writer is empty afterwards. */
char *fdy_metrics_text_take(fdy_metrics_text_t *self, size_t *len_out);

#endif
