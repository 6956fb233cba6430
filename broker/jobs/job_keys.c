/*  job_keys.c: the idempotency-key table (job_keys.h): linear probing over
 *  a power-of-two array kept at most half full, removal by shifting the
 *  entries after it back (no tombstones), FNV-1a over tenant, a 0x1f and
 *  the key. Not for ordering or listing: lookups by exact key only.
 */
#include "job_keys.h"

#include "xalloc.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t hash;
    uint64_t id; /* 0: a free slot */
    const char *tenant;
    const char *key;
} s_entry_t;

struct fdy_job_keys {
    s_entry_t *slots;
    size_t capacity; /* a power of two */
    size_t count;
};

#define FIRST_CAPACITY 1024u

static uint64_t
s_hash(const char *tenant, const char *key)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *) tenant; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h = (h ^ 0x1f) * 1099511628211ull; /* tenant "a" key "bc" is not tenant "ab" key "c" */
    for (const unsigned char *p = (const unsigned char *) key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

static bool
s_same(const s_entry_t *e, uint64_t hash, const char *tenant, const char *key)
{
    return e->hash == hash && strcmp(e->key, key) == 0 && strcmp(e->tenant, tenant) == 0;
}

/* The slot of (tenant, key), or of the free slot where it would go. */
static size_t
s_find(const fdy_job_keys_t *self, uint64_t hash, const char *tenant, const char *key)
{
    size_t mask = self->capacity - 1;
    size_t i = (size_t) hash & mask;
    while (self->slots[i].id && !s_same(&self->slots[i], hash, tenant, key))
        i = (i + 1) & mask;
    return i;
}

static void
s_grow(fdy_job_keys_t *self)
{
    s_entry_t *old = self->slots;
    size_t old_capacity = self->capacity;
    self->capacity *= 2;
    self->slots = fdy_xalloc(self->capacity * sizeof *self->slots);
    size_t mask = self->capacity - 1;
    for (size_t i = 0; i < old_capacity; i++) {
        if (!old[i].id)
            continue;
        size_t j = (size_t) old[i].hash & mask;
        while (self->slots[j].id)
            j = (j + 1) & mask;
        self->slots[j] = old[i];
    }
    free(old);
}

fdy_job_keys_t *
fdy_job_keys_new(void)
{
    fdy_job_keys_t *self = fdy_xalloc(sizeof *self);
    self->capacity = FIRST_CAPACITY;
    self->slots = fdy_xalloc(self->capacity * sizeof *self->slots);
    return self;
}

void
fdy_job_keys_destroy(fdy_job_keys_t **self_p)
{
    assert(self_p);
    fdy_job_keys_t *self = *self_p;
    if (!self)
        return;
    free(self->slots);
    free(self);
    *self_p = NULL;
}

void
fdy_job_keys_put(fdy_job_keys_t *self, const char *tenant, const char *key, uint64_t id)
{
    assert(id);
    if (2 * (self->count + 1) > self->capacity)
        s_grow(self);
    uint64_t hash = s_hash(tenant, key);
    size_t i = s_find(self, hash, tenant, key);
    if (self->slots[i].id)
        return; /* known already: the first job keeps the key */
    self->slots[i] = (s_entry_t){hash, id, tenant, key};
    self->count++;
}

uint64_t
fdy_job_keys_get(const fdy_job_keys_t *self, const char *tenant, const char *key)
{
    return self->slots[s_find(self, s_hash(tenant, key), tenant, key)].id;
}

void
fdy_job_keys_remove(fdy_job_keys_t *self, const char *tenant, const char *key, uint64_t id)
{
    size_t mask = self->capacity - 1;
    size_t i = s_find(self, s_hash(tenant, key), tenant, key);
    if (!self->slots[i].id || self->slots[i].id != id)
        return;
    /* Shift back the entries of the run after i that may sit at i: each
     * whose home slot is not cyclically in (i, j]. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!self->slots[j].id)
            break;
        size_t home = (size_t) self->slots[j].hash & mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        self->slots[i] = self->slots[j];
        i = j;
    }
    self->slots[i] = (s_entry_t){0, 0, NULL, NULL};
    self->count--;
}

size_t
fdy_job_keys_count(const fdy_job_keys_t *self)
{
    return self->count;
}
