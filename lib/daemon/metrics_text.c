/*  metrics_text.c: Prometheus text format and JSON string writing. The
 *  escaping rules are the format's: label values escape backslash, double
 *  quote and newline; HELP text escapes backslash and newline.
 */
#include "metrics_text.h"

#include "xalloc.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void
s_reserve(fdy_metrics_text_t *self, size_t more)
{
    self->buf = fdy_xgrow(self->buf, &self->cap, self->len + more + 1, 1);
}

void
fdy_metrics_text_printf(fdy_metrics_text_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need <= 0)
        return;
    s_reserve(self, (size_t) need);
    va_start(ap, fmt);
    vsnprintf(self->buf + self->len, (size_t) need + 1, fmt, ap);
    va_end(ap);
    self->len += (size_t) need;
}

static void
s_putc(fdy_metrics_text_t *self, char c)
{
    s_reserve(self, 1);
    self->buf[self->len++] = c;
    self->buf[self->len] = '\0';
}

/* quote: also escape '"' (label values); HELP text leaves it. */
static void
s_escaped(fdy_metrics_text_t *self, const char *text, int quote)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            fdy_metrics_text_printf(self, "\\\\");
        else if (*p == '\n')
            fdy_metrics_text_printf(self, "\\n");
        else if (quote && *p == '"')
            fdy_metrics_text_printf(self, "\\\"");
        else
            s_putc(self, *p);
    }
}

void
fdy_metrics_text_json_string(fdy_metrics_text_t *self, const char *text)
{
    s_putc(self, '"');
    for (const unsigned char *p = (const unsigned char *) text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fdy_metrics_text_printf(self, "\\%c", *p);
        else if (*p < 0x20)
            fdy_metrics_text_printf(self, "\\u%04x", *p);
        else
            s_putc(self, (char) *p);
    }
    s_putc(self, '"');
}

void
fdy_metrics_text_family(fdy_metrics_text_t *self, const char *name, const char *type,
                        const char *help)
{
    fdy_metrics_text_printf(self, "# HELP %s ", name);
    s_escaped(self, help, 0);
    fdy_metrics_text_printf(self, "\n# TYPE %s %s\n", name, type);
}

void
fdy_metrics_text_sample(fdy_metrics_text_t *self, const char *name, const char *const *labels,
                        uint64_t value)
{
    fdy_metrics_text_printf(self, "%s", name);
    if (labels && labels[0]) {
        s_putc(self, '{');
        for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
            fdy_metrics_text_printf(self, "%s%s=\"", i ? "," : "", labels[i]);
            s_escaped(self, labels[i + 1], 1);
            s_putc(self, '"');
        }
        s_putc(self, '}');
    }
    fdy_metrics_text_printf(self, " %llu\n", (unsigned long long) value);
}

void
fdy_metrics_text_histogram(fdy_metrics_text_t *self, const char *name, const char *help,
                           const fdy_histogram_t *h, double scale)
{
    fdy_metrics_text_family(self, name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h->bound_count; i++) {
        cumulative += h->counts[i];
        fdy_metrics_text_printf(self, "%s_bucket{le=\"%g\"} %llu\n", name,
                                (double) h->bounds[i] / scale, (unsigned long long) cumulative);
    }
    cumulative += h->counts[h->bound_count];
    fdy_metrics_text_printf(self, "%s_bucket{le=\"+Inf\"} %llu\n", name,
                            (unsigned long long) cumulative);
    fdy_metrics_text_printf(self, "%s_sum %.6f\n%s_count %llu\n", name, (double) h->sum / scale,
                            name, (unsigned long long) h->count);
}

void
fdy_metrics_text_name(const char *name, char *out, size_t size)
{
    int n = snprintf(out, size, "foundry_%s", name);
    size_t end = n < 0 ? 0 : ((size_t) n < size ? (size_t) n : size - 1);
    for (size_t i = strlen("foundry_"); i < end; i++) {
        char c = out[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                  || c == '_';
        if (!ok)
            out[i] = '_';
    }
}

char *
fdy_metrics_text_take(fdy_metrics_text_t *self, size_t *len_out)
{
    if (!self->buf)
        self->buf = fdy_xstrdup("");
    char *buf = self->buf;
    *len_out = self->len;
    memset(self, 0, sizeof *self);
    return buf;
}
