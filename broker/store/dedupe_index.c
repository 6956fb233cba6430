/*  dedupe_index.c: the open-addressing hash table behind the dedupe index
 *  (dedupe_index.h). Linear probing keeps a lookup on one or two cache
 *  lines; removal shifts later entries back instead of leaving tombstones,
 *  so a table that prunes as fast as it inserts never fills with them. Not
 *  for what the entries mean (store_dedupe.c).
 */
#include "dedupe_index.h"

#include "xalloc.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define S_INITIAL_BITS 6

/* From this size the slots go on transparent huge pages: a lookup in a
 * table of millions of entries is one cache miss, and without them also a
 * TLB miss, which under virtualisation costs as much again. */
#define S_HUGE_PAGE_BYTES ((size_t) 2 << 20)

/* seq 0 marks an empty slot: sequences start at 1. */
typedef struct {
    uint64_t hash;
    uint64_t seq;
} s_slot_t;

static_assert(sizeof(s_slot_t) == FDY_DEDUPE_INDEX_SLOT_BYTES, "slot size");

struct fdy_dedupe_index {
    s_slot_t *slots;
    unsigned bits; /* 2^bits slots */
    size_t count;
};

/* The top bits: the hash is a keyed SipHash, uniform in every bit. */
static size_t
s_home(const fdy_dedupe_index_t *self, uint64_t hash)
{
    return (size_t) (hash >> (64 - self->bits));
}

static size_t
s_mask(const fdy_dedupe_index_t *self)
{
    return ((size_t) 1 << self->bits) - 1;
}

/* Zeroed slots for 2^bits entries; freed with free(). */
static s_slot_t *
s_slots_new(unsigned bits)
{
    size_t size = sizeof(s_slot_t) << bits;
    void *slots = NULL;
    if (size >= S_HUGE_PAGE_BYTES && posix_memalign(&slots, S_HUGE_PAGE_BYTES, size) == 0)
        (void) madvise(slots, size, MADV_HUGEPAGE); /* a hint: fine if refused */
    else
        slots = fdy_xalloc(size);
    memset(slots, 0, size);
    return slots;
}

fdy_dedupe_index_t *
fdy_dedupe_index_new(void)
{
    fdy_dedupe_index_t *self = fdy_xalloc(sizeof *self);
    memset(self, 0, sizeof *self);
    self->bits = S_INITIAL_BITS;
    self->slots = s_slots_new(self->bits);
    return self;
}

void
fdy_dedupe_index_destroy(fdy_dedupe_index_t **self_p)
{
    assert(self_p);
    fdy_dedupe_index_t *self = *self_p;
    if (!self)
        return;
    free(self->slots);
    free(self);
    *self_p = NULL;
}

size_t
fdy_dedupe_index_count(const fdy_dedupe_index_t *self)
{
    return self->count;
}

size_t
fdy_dedupe_index_bytes(const fdy_dedupe_index_t *self)
{
    return sizeof(s_slot_t) << self->bits;
}

size_t
fdy_dedupe_index_start(const fdy_dedupe_index_t *self, uint64_t hash)
{
    return s_home(self, hash);
}

void
fdy_dedupe_index_prefetch(const fdy_dedupe_index_t *self, uint64_t hash)
{
    __builtin_prefetch(&self->slots[s_home(self, hash)]);
}

uint64_t
fdy_dedupe_index_next(const fdy_dedupe_index_t *self, uint64_t hash, size_t *pos)
{
    size_t mask = s_mask(self);
    for (size_t i = *pos;; i = (i + 1) & mask) {
        const s_slot_t *s = &self->slots[i];
        if (s->seq == 0) {
            *pos = i;
            return 0;
        }
        if (s->hash == hash) {
            *pos = (i + 1) & mask;
            return s->seq;
        }
    }
}

/* The slot holding (hash, seq), or SIZE_MAX. */
static size_t
s_find(const fdy_dedupe_index_t *self, uint64_t hash, uint64_t seq)
{
    size_t mask = s_mask(self);
    for (size_t i = s_home(self, hash);; i = (i + 1) & mask) {
        const s_slot_t *s = &self->slots[i];
        if (s->seq == 0)
            return SIZE_MAX;
        if (s->hash == hash && s->seq == seq)
            return i;
    }
}

static void
s_place(fdy_dedupe_index_t *self, uint64_t hash, uint64_t seq)
{
    size_t mask = s_mask(self);
    size_t i = s_home(self, hash);
    while (self->slots[i].seq != 0)
        i = (i + 1) & mask;
    self->slots[i].hash = hash;
    self->slots[i].seq = seq;
}

static void
s_grow(fdy_dedupe_index_t *self)
{
    s_slot_t *old = self->slots;
    size_t old_slots = (size_t) 1 << self->bits;
    self->bits++;
    self->slots = s_slots_new(self->bits);
    for (size_t i = 0; i < old_slots; i++)
        if (old[i].seq != 0)
            s_place(self, old[i].hash, old[i].seq);
    free(old);
}

void
fdy_dedupe_index_insert(fdy_dedupe_index_t *self, uint64_t hash, uint64_t seq)
{
    assert(seq != 0);
    size_t slots = (size_t) 1 << self->bits;
    if ((self->count + 1) * FDY_DEDUPE_INDEX_LOAD_DEN > slots * FDY_DEDUPE_INDEX_LOAD_NUM)
        s_grow(self);
    s_place(self, hash, seq);
    self->count++;
}

bool
fdy_dedupe_index_replace(fdy_dedupe_index_t *self, uint64_t hash, uint64_t old_seq,
                         uint64_t new_seq)
{
    assert(new_seq != 0);
    size_t i = s_find(self, hash, old_seq);
    if (i == SIZE_MAX)
        return false;
    self->slots[i].seq = new_seq;
    return true;
}

bool
fdy_dedupe_index_remove(fdy_dedupe_index_t *self, uint64_t hash, uint64_t seq)
{
    size_t hole = s_find(self, hash, seq);
    if (hole == SIZE_MAX)
        return false;
    size_t mask = s_mask(self);
    /* Backward shift: an entry after the hole moves into it unless its home
     * lies cyclically in (hole, j], where a lookup would no longer find it. */
    for (size_t j = (hole + 1) & mask; self->slots[j].seq != 0; j = (j + 1) & mask) {
        size_t home = s_home(self, self->slots[j].hash);
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays)
            continue;
        self->slots[hole] = self->slots[j];
        hole = j;
    }
    self->slots[hole].seq = 0;
    self->slots[hole].hash = 0;
    self->count--;
    return true;
}
