/*  job.c: a job in memory (job.h): the packed spec copy, the state
 *  machine's small steps (lease, end of an attempt, back-off), and the
 *  conversion to and from the stored record. Scheduling decisions are the
 *  service's (jobs.c); this file only keeps the fields consistent.
 */
#include "job.h"

#include "names.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_state_names[] = {
    "queued", "leased", "running", "succeeded", "failed", "dead", "cancelled", "expired",
};

const char *
fdy_job_state_name(fdy_job_state_t state)
{
    if ((size_t) state >= sizeof s_state_names / sizeof s_state_names[0])
        return "?";
    return s_state_names[state];
}

bool
fdy_job_state_parse(const char *name, fdy_job_state_t *out)
{
    for (size_t i = 0; name && i < sizeof s_state_names / sizeof s_state_names[0]; i++)
        if (strcmp(name, s_state_names[i]) == 0) {
            *out = (fdy_job_state_t) i;
            return true;
        }
    return false;
}

bool
fdy_job_state_final(fdy_job_state_t state)
{
    return state == FDY_JOB_SUCCEEDED || state == FDY_JOB_DEAD || state == FDY_JOB_CANCELLED ||
           state == FDY_JOB_EXPIRED;
}

/* ---- the packed spec ----------------------------------------------------- */

static size_t
s_strings_size(const char *const *list, size_t count)
{
    size_t size = count * sizeof(char *);
    for (size_t i = 0; i < count; i++)
        size += strlen(list[i]) + 1;
    return size;
}

static char *
s_put(char **at, const char *text)
{
    size_t len = strlen(text ? text : "") + 1;
    memcpy(*at, text ? text : "", len);
    char *start = *at;
    *at += len;
    return start;
}

/* One allocation: the struct, the pointer arrays, then the bytes. */
static fdy_job_spec_t *
s_spec_dup(const fdy_job_spec_t *spec)
{
    size_t size = sizeof *spec + s_strings_size(spec->sites, spec->site_count) +
                  s_strings_size(spec->labels, spec->label_count) + strlen(spec->type) + 1 +
                  strlen(spec->key ? spec->key : "") + 1 +
                  strlen(spec->node ? spec->node : "") + 1 + spec->payload_len;
    fdy_job_spec_t *copy = fdy_xalloc(size);
    *copy = *spec;
    char **sites = (char **) (copy + 1);
    char **labels = sites + spec->site_count;
    char *at = (char *) (labels + spec->label_count);
    for (size_t i = 0; i < spec->site_count; i++)
        sites[i] = s_put(&at, spec->sites[i]);
    for (size_t i = 0; i < spec->label_count; i++)
        labels[i] = s_put(&at, spec->labels[i]);
    copy->sites = spec->site_count ? (const char *const *) sites : NULL;
    copy->labels = spec->label_count ? (const char *const *) labels : NULL;
    copy->type = s_put(&at, spec->type);
    copy->key = s_put(&at, spec->key);
    copy->node = s_put(&at, spec->node);
    if (spec->payload_len)
        memcpy(at, spec->payload, spec->payload_len);
    copy->payload = spec->payload_len ? (const uint8_t *) at : NULL;
    return copy;
}

/* ---- lifecycle ----------------------------------------------------------- */

fdy_job_t *
fdy_job_new(uint64_t id, const char *tenant, const char *submitter, const fdy_job_spec_t *spec,
            uint64_t now_ms)
{
    fdy_job_t *self = fdy_xalloc(sizeof *self);
    self->id = id;
    fdy_name_copy(self->tenant, sizeof self->tenant, tenant);
    fdy_name_copy(self->submitter, sizeof self->submitter, submitter);
    self->spec = s_spec_dup(spec);
    self->state = FDY_JOB_QUEUED;
    self->created_ms = now_ms;
    self->updated_ms = now_ms;
    return self;
}

static void
s_tries_free(fdy_job_try_t *tries, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(tries[i].node);
        free(tries[i].state);
        free(tries[i].error);
    }
    free(tries);
}

void
fdy_job_destroy(fdy_job_t **self_p)
{
    fdy_job_t *self = *self_p;
    if (!self)
        return;
    free(self->spec);
    free(self->node);
    free(self->result);
    free(self->error);
    free(self->log_tail);
    free(self->progress);
    s_tries_free(self->tries, self->try_count);
    free(self);
    *self_p = NULL;
}

void
fdy_job_set_text(char **field, const char *value)
{
    free(*field);
    *field = NULL;
    if (!value || !*value)
        return;
    size_t len = strnlen(value, FDY_JOB_TEXT_MAX);
    *field = fdy_xalloc(len + 1);
    memcpy(*field, value, len);
}

static char *
s_dup_or_null(const char *text)
{
    return text && *text ? fdy_xstrdup(text) : NULL;
}

fdy_job_t *
fdy_job_from_record(const fdy_job_record_t *rec)
{
    fdy_job_t *self = fdy_job_new(rec->id, rec->tenant, rec->submitter, &rec->spec,
                                  rec->created_ms);
    fdy_job_state_t state = FDY_JOB_QUEUED;
    fdy_job_state_parse(rec->state, &state);
    self->state = state;
    self->attempt = rec->attempt;
    self->fence = rec->fence;
    self->updated_ms = rec->updated_ms;
    self->not_before_ms = rec->not_before_ms;
    self->lease_until_ms = rec->lease_until_ms;
    self->node = s_dup_or_null(rec->node);
    if (rec->result_len) {
        self->result = fdy_xalloc(rec->result_len);
        memcpy(self->result, rec->result, rec->result_len);
        self->result_len = rec->result_len;
    }
    self->error = s_dup_or_null(rec->error);
    self->log_tail = s_dup_or_null(rec->log_tail);
    self->progress = s_dup_or_null(rec->progress);
    if (rec->attempt_count) {
        self->tries = fdy_xalloc(rec->attempt_count * sizeof *self->tries);
        for (size_t i = 0; i < rec->attempt_count; i++) {
            const fdy_job_attempt_t *a = &rec->attempts[i];
            self->tries[i] = (fdy_job_try_t){a->attempt,
                                             a->fence,
                                             s_dup_or_null(a->node),
                                             a->started_ms,
                                             a->ended_ms,
                                             s_dup_or_null(a->state),
                                             s_dup_or_null(a->error)};
        }
        self->try_count = rec->attempt_count;
        /* The attempt deadline is not stored: the last start plus its timeout. */
        const fdy_job_try_t *last = &self->tries[self->try_count - 1];
        if (self->spec->timeout_ms)
            self->attempt_deadline_ms = last->started_ms + self->spec->timeout_ms;
    }
    return self;
}

static void s_record_fields(const fdy_job_t *self, bool payload, fdy_job_record_t *rec);

static void
s_tries_into(const fdy_job_t *self, fdy_job_attempt_t *tries)
{
    for (size_t i = 0; i < self->try_count; i++) {
        const fdy_job_try_t *t = &self->tries[i];
        tries[i] = (fdy_job_attempt_t){t->attempt,  t->fence, t->node, t->started_ms,
                                       t->ended_ms, t->state, t->error};
    }
}

void
fdy_job_to_record_in(const fdy_job_t *self, bool payload, fdy_job_record_t *rec,
                     fdy_job_attempt_t *tries)
{
    s_record_fields(self, payload, rec);
    s_tries_into(self, tries);
    rec->attempts = self->try_count ? tries : NULL;
    rec->attempt_count = self->try_count;
}

void
fdy_job_to_record(const fdy_job_t *self, bool payload, fdy_job_record_t *rec,
                  fdy_job_attempt_t **tries_out)
{
    s_record_fields(self, payload, rec);
    *tries_out = NULL;
    if (!self->try_count)
        return;
    fdy_job_attempt_t *tries = fdy_xalloc(self->try_count * sizeof *tries);
    s_tries_into(self, tries);
    rec->attempts = tries;
    rec->attempt_count = self->try_count;
    *tries_out = tries;
}

static void
s_record_fields(const fdy_job_t *self, bool payload, fdy_job_record_t *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->id = self->id;
    rec->tenant = self->tenant;
    rec->submitter = self->submitter;
    rec->spec = *self->spec;
    if (!payload) {
        rec->spec.payload = NULL;
        rec->spec.payload_len = 0;
    }
    rec->state = fdy_job_state_name(self->state);
    rec->attempt = self->attempt;
    rec->fence = self->fence;
    rec->created_ms = self->created_ms;
    rec->updated_ms = self->updated_ms;
    rec->not_before_ms = self->not_before_ms;
    rec->lease_until_ms = self->lease_until_ms;
    rec->node = self->node;
    if (payload) {
        rec->result = self->result;
        rec->result_len = self->result_len;
    }
    rec->error = self->error;
    rec->log_tail = self->log_tail;
    rec->progress = self->progress;
}

/* ---- state steps ------------------------------------------------------------ */

void
fdy_job_lease(fdy_job_t *self, const char *node, uint64_t now_ms, uint64_t lease_ms)
{
    self->attempt++;
    self->fence++;
    self->state = FDY_JOB_LEASED;
    self->updated_ms = now_ms;
    self->lease_until_ms = now_ms + lease_ms;
    self->attempt_deadline_ms = self->spec->timeout_ms ? now_ms + self->spec->timeout_ms : 0;
    free(self->node);
    self->node = fdy_xstrdup(node);
    fdy_job_set_text(&self->progress, NULL);
    if (self->try_count == FDY_JOB_ATTEMPTS_MAX) {
        /* Keep the newest: the oldest attempt makes room. */
        s_tries_free(self->tries, 1);
        memmove(self->tries, self->tries + 1, (self->try_count - 1) * sizeof *self->tries);
        self->try_count--;
    } else {
        self->tries = fdy_xrealloc(self->tries, (self->try_count + 1) * sizeof *self->tries);
    }
    self->tries[self->try_count++] = (fdy_job_try_t){
        self->attempt, self->fence, fdy_xstrdup(node), now_ms, 0, fdy_xstrdup("running"), NULL};
}

void
fdy_job_end_attempt(fdy_job_t *self, const char *how, const char *error, uint64_t now_ms)
{
    self->updated_ms = now_ms;
    self->lease_until_ms = 0;
    self->attempt_deadline_ms = 0;
    if (!self->try_count)
        return;
    fdy_job_try_t *t = &self->tries[self->try_count - 1];
    if (t->ended_ms)
        return;
    t->ended_ms = now_ms;
    free(t->state);
    t->state = fdy_xstrdup(how);
    fdy_job_set_text(&t->error, error);
}

uint64_t
fdy_job_backoff_ms(const fdy_job_t *self)
{
    uint64_t delay = self->spec->backoff_initial_ms;
    uint32_t factor = self->spec->backoff_factor ? self->spec->backoff_factor : 1;
    for (uint32_t i = 1; i < self->attempt && delay < UINT32_MAX; i++)
        delay *= factor;
    if (self->spec->backoff_max_ms && delay > self->spec->backoff_max_ms)
        delay = self->spec->backoff_max_ms;
    return delay;
}
