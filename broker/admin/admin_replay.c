/*  admin_replay.c: remembered admin answers (admin_replay.h). A ring in
 *  arrival order, so the oldest goes first when a bound is reached, and a
 *  linear search: admin calls are a few per second at most.
 */
#include "admin_replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *principal; /* NULL: a free slot */
    uint8_t token[FDY_ADMIN_TOKEN_LEN];
    int64_t at_ms;
    foundry_err err;
    char reason[FDY_REASON_MAX];
    uint8_t *reply;
    size_t reply_len;
} s_entry_t;

struct fdy_admin_replay {
    s_entry_t *ring;
    size_t capacity;
    size_t head; /* the oldest entry */
    size_t count;
    size_t bytes;
    size_t bytes_max;
    size_t entry_max;
    int64_t age_ms;
};

fdy_admin_replay_t *
fdy_admin_replay_new(size_t entries, size_t bytes, size_t entry_max, int64_t age_ms)
{
    fdy_admin_replay_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->capacity = entries ? entries : 1;
    self->ring = calloc(self->capacity, sizeof *self->ring);
    if (!self->ring) {
        free(self);
        return NULL;
    }
    self->bytes_max = bytes;
    self->entry_max = entry_max;
    self->age_ms = age_ms;
    return self;
}

static void
s_drop_oldest(fdy_admin_replay_t *self)
{
    s_entry_t *e = &self->ring[self->head];
    self->bytes -= e->reply_len;
    free(e->principal);
    free(e->reply);
    memset(e, 0, sizeof *e);
    self->head = (self->head + 1) % self->capacity;
    self->count--;
}

void
fdy_admin_replay_destroy(fdy_admin_replay_t **self_p)
{
    fdy_admin_replay_t *self = *self_p;
    if (!self)
        return;
    while (self->count)
        s_drop_oldest(self);
    free(self->ring);
    free(self);
    *self_p = NULL;
}

/* Entries too old to answer with go first: they are the oldest. */
static void
s_expire(fdy_admin_replay_t *self, int64_t now_ms)
{
    while (self->count && now_ms - self->ring[self->head].at_ms > self->age_ms)
        s_drop_oldest(self);
}

bool
fdy_admin_replay_find(fdy_admin_replay_t *self, const char *principal,
                      const uint8_t token[FDY_ADMIN_TOKEN_LEN], int64_t now_ms,
                      fdy_admin_answer_t *answer_out)
{
    s_expire(self, now_ms);
    for (size_t i = 0; i < self->count; i++) {
        const s_entry_t *e = &self->ring[(self->head + i) % self->capacity];
        if (memcmp(e->token, token, FDY_ADMIN_TOKEN_LEN) != 0 || strcmp(e->principal, principal))
            continue;
        *answer_out = (fdy_admin_answer_t){e->err, e->reason, e->reply, e->reply_len};
        return true;
    }
    return false;
}

bool
fdy_admin_replay_put(fdy_admin_replay_t *self, const char *principal,
                     const uint8_t token[FDY_ADMIN_TOKEN_LEN], int64_t now_ms,
                     const fdy_admin_answer_t *answer)
{
    if (answer->reply_len > self->entry_max || answer->reply_len > self->bytes_max)
        return false;
    s_expire(self, now_ms);
    while (self->count == self->capacity || self->bytes + answer->reply_len > self->bytes_max)
        s_drop_oldest(self);
    char *who = strdup(principal);
    uint8_t *reply = answer->reply_len ? malloc(answer->reply_len) : NULL;
    if (!who || (answer->reply_len && !reply)) {
        free(who);
        free(reply);
        return false;
    }
    s_entry_t *e = &self->ring[(self->head + self->count) % self->capacity];
    e->principal = who;
    memcpy(e->token, token, FDY_ADMIN_TOKEN_LEN);
    e->at_ms = now_ms;
    e->err = answer->err;
    snprintf(e->reason, sizeof e->reason, "%s", answer->reason ? answer->reason : "");
    if (reply)
        memcpy(reply, answer->reply, answer->reply_len);
    e->reply = reply;
    e->reply_len = answer->reply_len;
    self->bytes += answer->reply_len;
    self->count++;
    return true;
}

size_t
fdy_admin_replay_count(const fdy_admin_replay_t *self)
{
    return self->count;
}

size_t
fdy_admin_replay_bytes(const fdy_admin_replay_t *self)
{
    return self->bytes;
}
