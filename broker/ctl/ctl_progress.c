/*  ctl_progress.c: renders a model push's progress (foundry.h's
 *  foundry_model_progress_t) for a person at a terminal or for a log. The
 *  rate counts only the bytes this run moved (chunks the broker already
 *  held are done but cost nothing), so a resumed push shows its real
 *  speed and an honest ETA.
 */
#include "ctl_progress.h"

#include <inttypes.h>
#include <string.h>

static const char *const s_phase_names[] = {"hashing", "uploading", "publishing"};

void
fdy_ctl_progress_init(fdy_ctl_progress_t *self, FILE *out, bool tty)
{
    memset(self, 0, sizeof *self);
    self->out = out;
    self->tty = tty;
    self->phase = -1;
}

char *
fdy_ctl_progress_format(char *buf, size_t cap, const char *what, uint64_t done, uint64_t total,
                        uint64_t moved, int64_t elapsed_ms, int bar_width)
{
    unsigned pct = total ? (unsigned) (done * 100u / total) : 100u;
    if (pct > 100)
        pct = 100;
    int at = snprintf(buf, cap, "%s %3u%% %.1f/%.1f MB", what, pct, (double) done / 1e6,
                      (double) total / 1e6);
    if (bar_width > 0 && at >= 0 && (size_t) at < cap) {
        int filled = (int) ((uint64_t) bar_width * pct / 100u);
        at +=
            snprintf(buf + at, cap - (size_t) at, " [%.*s%*s]", filled,
                     "##################################################", bar_width - filled, "");
    }
    if (elapsed_ms > 0 && moved > 0 && at >= 0 && (size_t) at < cap) {
        double rate = (double) moved * 1000.0 / (double) elapsed_ms; /* bytes/s */
        uint64_t left = total > done ? total - done : 0;
        uint64_t eta_s = (uint64_t) ((double) left / rate + 0.5);
        snprintf(buf + at, cap - (size_t) at, " %.1f MB/s ETA %" PRIu64 ":%02" PRIu64, rate / 1e6,
                 eta_s / 60, eta_s % 60);
    }
    return buf;
}

void
fdy_ctl_progress_update(fdy_ctl_progress_t *self, const foundry_model_progress_t *p, int64_t now_ms)
{
    int phase = (int) p->phase;
    bool new_phase = phase != self->phase;
    if (new_phase) {
        fdy_ctl_progress_end(self);
        self->phase = phase;
        self->phase_start_ms = now_ms;
        self->phase_start_bytes =
            p->phase == FOUNDRY_MODEL_UPLOADING ? p->sent_bytes : p->done_bytes;
        self->last_tenth = 0;
        self->last_ms = 0;
    }
    const char *what = phase >= 0 && phase <= 2 ? s_phase_names[phase] : "working";
    if (p->phase == FOUNDRY_MODEL_PUBLISHING) {
        if (new_phase)
            fprintf(self->out, "publishing the signed manifest\n");
        return;
    }
    uint64_t moved_now = p->phase == FOUNDRY_MODEL_UPLOADING ? p->sent_bytes : p->done_bytes;
    uint64_t moved = moved_now - self->phase_start_bytes;
    int64_t elapsed = now_ms - self->phase_start_ms;
    char line[160];
    if (self->tty) {
        /* Ten redraws a second are plenty, whatever the chunk rate. */
        bool finished = p->done_bytes >= p->total_bytes;
        if (!new_phase && !finished && now_ms - self->last_ms < 100)
            return;
        self->last_ms = now_ms;
        fdy_ctl_progress_format(line, sizeof line, what, p->done_bytes, p->total_bytes, moved,
                                elapsed, 30);
        fprintf(self->out, "\r%s\033[K", line);
        self->line_open = true;
        fflush(self->out);
        return;
    }
    unsigned tenth = p->total_bytes ? (unsigned) (p->done_bytes * 10u / p->total_bytes) : 10u;
    bool finished = p->done_bytes >= p->total_bytes;
    if (!new_phase && !finished && tenth == self->last_tenth && now_ms - self->last_ms < 1000)
        return;
    if (!new_phase && finished && self->last_tenth == 10)
        return; /* the end is said once */
    self->last_tenth = finished ? 10 : tenth;
    self->last_ms = now_ms;
    fdy_ctl_progress_format(line, sizeof line, what, p->done_bytes, p->total_bytes, moved, elapsed,
                            0);
    if (p->phase == FOUNDRY_MODEL_UPLOADING)
        fprintf(self->out, "%s chunks %zu/%zu sent %zu held %zu\n", line,
                p->chunks_sent + p->chunks_held, p->chunk_count, p->chunks_sent, p->chunks_held);
    else
        fprintf(self->out, "%s\n", line);
    fflush(self->out);
}

void
fdy_ctl_progress_end(fdy_ctl_progress_t *self)
{
    if (self->line_open)
        fputc('\n', self->out);
    self->line_open = false;
}
