/*  refusals.c: the bounded, rate-limited buffer of refused authentications
 *  (refusals.h) between the code that refuses (zap.c, router.c) and the
 *  audit service that writes them. Not for writing them (the audit part of
 *  the commit) nor for logging them (AUTH-DENIED, REQUEST-AUTH).
 */
#include "refusals.h"

#include "clock.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECOND_MS 1000

struct fdy_refusals {
    fdy_audit_entry_t *entries; /* FDY_REFUSALS_MAX */
    int64_t *added_ms;          /* when each was added */
    size_t count;
    int64_t second_start_ms;    /* the current second of the rate limit */
    size_t second_count;        /* entries recorded in it */
    uint64_t second_suppressed; /* refusals counted only, not yet in an entry */
    uint64_t recorded;
    uint64_t suppressed;
};

fdy_refusals_t *
fdy_refusals_new(void)
{
    fdy_refusals_t *self = fdy_xalloc(sizeof *self);
    self->entries = fdy_xalloc(FDY_REFUSALS_MAX * sizeof *self->entries);
    self->added_ms = fdy_xalloc(FDY_REFUSALS_MAX * sizeof *self->added_ms);
    self->second_start_ms = INT64_MIN;
    return self;
}

void
fdy_refusals_destroy(fdy_refusals_t **self_p)
{
    fdy_refusals_t *self = *self_p;
    if (!self)
        return;
    free(self->entries);
    free(self->added_ms);
    free(self);
    *self_p = NULL;
}

static fdy_audit_entry_t *
s_push(fdy_refusals_t *self, fdy_audit_kind_t kind, int64_t now_ms)
{
    fdy_audit_entry_t *e = &self->entries[self->count];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->time_ns = fdy_clock_wall_ns();
    e->result = FOUNDRY_EAUTH;
    self->added_ms[self->count++] = now_ms;
    return e;
}

/* Closes the current second once now_ms is past it. Its suppressed count
 * becomes one entry, unless even that slot is taken (the store has been
 * failing): then the count carries on into the next second. */
static void
s_roll(fdy_refusals_t *self, int64_t now_ms)
{
    if (self->second_start_ms != INT64_MIN && now_ms - self->second_start_ms < SECOND_MS)
        return;
    if (self->second_suppressed > 0 && self->count < FDY_REFUSALS_MAX) {
        fdy_audit_entry_t *e = s_push(self, FDY_AUDIT_SUPPRESSED, now_ms);
        snprintf(e->args, sizeof e->args, "count=%" PRIu64, self->second_suppressed);
        snprintf(e->reason, sizeof e->reason,
                 "%" PRIu64 " refused authentications were not recorded (at most %d a second "
                 "are)",
                 self->second_suppressed, FDY_REFUSALS_PER_SECOND);
        self->second_suppressed = 0;
    }
    self->second_start_ms = now_ms;
    self->second_count = 0;
}

void
fdy_refusals_add(fdy_refusals_t *self, const fdy_refusal_t *refusal, int64_t now_ms)
{
    s_roll(self, now_ms);
    if (self->second_count >= FDY_REFUSALS_PER_SECOND || self->count >= FDY_REFUSALS_MAX - 1) {
        self->second_suppressed++;
        self->suppressed++;
        return;
    }
    fdy_audit_entry_t *e = s_push(self, FDY_AUDIT_AUTH_REFUSED, now_ms);
    fdy_audit_entry_text(e->command, sizeof e->command, refusal->command);
    fdy_audit_entry_text(e->principal, sizeof e->principal, refusal->principal);
    fdy_audit_entry_text(e->key, sizeof e->key, refusal->key);
    fdy_audit_entry_text(e->peer, sizeof e->peer, refusal->peer);
    fdy_audit_entry_text(e->reason, sizeof e->reason, refusal->reason);
    self->second_count++;
    self->recorded++;
}

fdy_audit_entry_t *
fdy_refusals_pending(fdy_refusals_t *self, int64_t now_ms, size_t *count_out)
{
    s_roll(self, now_ms);
    *count_out = self->count;
    return self->entries;
}

int64_t
fdy_refusals_oldest_ms(const fdy_refusals_t *self)
{
    return self->count ? self->added_ms[0] : INT64_MAX;
}

int64_t
fdy_refusals_due_ms(const fdy_refusals_t *self)
{
    return self->second_suppressed ? self->second_start_ms + SECOND_MS : INT64_MAX;
}

void
fdy_refusals_consume(fdy_refusals_t *self, size_t count)
{
    if (count > self->count)
        count = self->count;
    memmove(self->entries, self->entries + count, (self->count - count) * sizeof *self->entries);
    memmove(self->added_ms, self->added_ms + count, (self->count - count) * sizeof *self->added_ms);
    self->count -= count;
}

uint64_t
fdy_refusals_recorded(const fdy_refusals_t *self)
{
    return self->recorded;
}

uint64_t
fdy_refusals_suppressed(const fdy_refusals_t *self)
{
    return self->suppressed;
}
