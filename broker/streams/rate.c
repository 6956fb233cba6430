/*  rate.c: token buckets per principal for publish rate limits (rate.h).
 *  A bucket refills continuously from the monotonic clock; buckets of keys
 *  that have been idle long are reused, so the table stays bounded.
 */
#include "rate.h"

#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024u
/* A bucket idle this long is full again anyway: it may be reused. */
#define IDLE_MS 2000
/* Refusals below these per second are never a flood, whatever the factor:
 * a small budget refused a few hundred times costs the broker nothing. */
#define FLOOD_FLOOR_MSGS 10000u
#define FLOOD_FLOOR_BYTES (16u * 1024 * 1024)

typedef struct bucket {
    char name[FDY_NAME_MAX];
    double msgs;   /* tokens left */
    double bytes;
    int64_t last_ms;
    int64_t window_ms;       /* start of the second refusals are counted in */
    uint64_t refused_msgs;   /* in that second */
    uint64_t refused_bytes;
    struct bucket *next;
} bucket_t;

struct fdy_rate {
    const fdy_broker_cfg_t *cfg;
    bucket_t *buckets[BUCKETS];
    uint64_t refused;
    uint64_t floods;
};

fdy_rate_t *
fdy_rate_new(const fdy_broker_cfg_t *cfg)
{
    fdy_rate_t *self = fdy_xalloc(sizeof *self);
    self->cfg = cfg;
    return self;
}

void
fdy_rate_destroy(fdy_rate_t **self_p)
{
    fdy_rate_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        while (self->buckets[i]) {
            bucket_t *next = self->buckets[i]->next;
            free(self->buckets[i]);
            self->buckets[i] = next;
        }
    free(self);
    *self_p = NULL;
}

uint64_t
fdy_rate_refused(const fdy_rate_t *self)
{
    return self->refused;
}

uint64_t
fdy_rate_floods(const fdy_rate_t *self)
{
    return self->floods;
}

static void
s_limits(const fdy_rate_t *self, const fdy_principal_t *p, uint64_t *msgs, uint64_t *bytes)
{
    const fdy_broker_cfg_t *cfg = self->cfg;
    uint64_t role_msgs = 0, role_bytes = 0;
    switch (p->role) {
    case FDY_ROLE_NODE: role_msgs = cfg->rate_msgs_node; role_bytes = cfg->rate_bytes_node; break;
    case FDY_ROLE_PARTNER:
        role_msgs = cfg->rate_msgs_partner;
        role_bytes = cfg->rate_bytes_partner;
        break;
    case FDY_ROLE_ADMIN:
    case FDY_ROLE_LINK: break;
    }
    *msgs = p->rate_msgs ? p->rate_msgs : role_msgs;
    *bytes = p->rate_bytes ? p->rate_bytes : role_bytes;
}

/* Starts counting b's refusals afresh at now_ms. */
static void
s_window_restart(bucket_t *b, int64_t now_ms)
{
    b->window_ms = now_ms;
    b->refused_msgs = 0;
    b->refused_bytes = 0;
}

static bucket_t *
s_bucket(fdy_rate_t *self, const char *name, int64_t now_ms)
{
    uint32_t hash = 2166136261u;   /* FNV-1a */
    for (const char *c = name; *c; c++)
        hash = (hash ^ (uint8_t) *c) * 16777619u;
    bucket_t **head = &self->buckets[hash % BUCKETS];
    bucket_t *stale = NULL;
    for (bucket_t *b = *head; b; b = b->next) {
        if (strcmp(b->name, name) == 0)
            return b;
        if (!stale && now_ms - b->last_ms > IDLE_MS)
            stale = b;
    }
    bucket_t *b = stale;
    if (!b) {
        b = fdy_xalloc(sizeof *b);
        b->next = *head;
        *head = b;
    }
    snprintf(b->name, sizeof b->name, "%s", name);
    b->msgs = -1;   /* filled on first use */
    b->last_ms = now_ms;
    s_window_restart(b, now_ms);
    return b;
}

/* The flood threshold for a limit: factor times it, never below floor;
 * UINT64_MAX (never) when the limit or the factor is 0. */
static uint64_t
s_flood_threshold(uint64_t limit, uint64_t factor, uint64_t floor)
{
    if (limit == 0 || factor == 0)
        return UINT64_MAX;
    uint64_t threshold = limit > UINT64_MAX / factor ? UINT64_MAX : limit * factor;
    return threshold > floor ? threshold : floor;
}

/* Counts one refusal in b's current second; sets *flooding once the
 * second's refusals pass the flood threshold (then starts a new count, so
 * one flood is reported once per second). */
static void
s_count_refusal(fdy_rate_t *self, bucket_t *b, uint64_t max_msgs, uint64_t max_bytes,
                uint64_t bytes, int64_t now_ms, bool *flooding)
{
    self->refused++;
    if (now_ms - b->window_ms >= 1000)
        s_window_restart(b, now_ms);
    b->refused_msgs++;
    b->refused_bytes += bytes;
    uint64_t factor = self->cfg->rate_flood_factor;
    if (b->refused_msgs > s_flood_threshold(max_msgs, factor, FLOOD_FLOOR_MSGS) ||
        b->refused_bytes > s_flood_threshold(max_bytes, factor, FLOOD_FLOOR_BYTES)) {
        self->floods++;
        s_window_restart(b, now_ms);
        if (flooding)
            *flooding = true;
    }
}

foundry_err
fdy_rate_take(fdy_rate_t *self, const fdy_principal_t *p, uint64_t bytes, int64_t now_ms,
              bool *flooding, fdy_reason_t *reason)
{
    uint64_t max_msgs, max_bytes;
    s_limits(self, p, &max_msgs, &max_bytes);
    if (max_msgs == 0 && max_bytes == 0)
        return FOUNDRY_OK;
    bucket_t *b = s_bucket(self, p->name, now_ms);
    if (b->msgs < 0) {   /* a new bucket starts full: one second's burst */
        b->msgs = (double) max_msgs;
        b->bytes = (double) max_bytes;
    } else if (now_ms > b->last_ms) {
        double seconds = (double) (now_ms - b->last_ms) / 1000.0;
        b->msgs += seconds * (double) max_msgs;
        b->bytes += seconds * (double) max_bytes;
        if (b->msgs > (double) max_msgs)
            b->msgs = (double) max_msgs;
        if (b->bytes > (double) max_bytes)
            b->bytes = (double) max_bytes;
    }
    b->last_ms = now_ms;
    if (max_msgs && b->msgs < 1.0) {
        s_count_refusal(self, b, max_msgs, max_bytes, bytes, now_ms, flooding);
        return fdy_reason_set(reason, FOUNDRY_ERATE,
                              "rate limit: '%s' may publish %" PRIu64 " messages/s", p->name,
                              max_msgs);
    }
    if (max_bytes && b->bytes < (double) bytes && bytes <= max_bytes) {
        s_count_refusal(self, b, max_msgs, max_bytes, bytes, now_ms, flooding);
        return fdy_reason_set(reason, FOUNDRY_ERATE,
                              "rate limit: '%s' may publish %" PRIu64 " bytes/s", p->name,
                              max_bytes);
    }
    if (max_msgs)
        b->msgs -= 1.0;
    if (max_bytes)
        b->bytes -= (double) bytes;   /* a message bigger than the limit passes when full */
    return FOUNDRY_OK;
}
