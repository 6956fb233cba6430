/*  dedupe_index.c: the open-addressing hash table behind the dedupe index
 *  (dedupe_index.h). Linear probing keeps a lookup on one or two cache
 *  lines; removal shifts later entries back instead of leaving tombstones,
 *  so a table that prunes as fast as it inserts never fills with them.
 *  Growing is spread over many changes: the doubled table is zeroed a
 *  little per change before it is needed, and the entries move to it a few
 *  slots per change after. Done at once, a table of millions of ids stalls
 *  the broker's loop for a tenth of a second per million (fresh pages cost
 *  their first touch, under virtualisation a host fault, then the
 *  rehash). Not for what the entries mean (store_dedupe.c).
 */
#include "dedupe_index.h"

#include "xalloc.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_INITIAL_BITS 6

/* Old slots moved to the new table per change while growing. The move
 * ends after old_slots / S_MOVE_STEP changes, well before the new table
 * could fill: it starts 3/8 full and must not pass 3/4. */
#define S_MOVE_STEP 16

/* From this fill (numerator/denominator) the doubled table is allocated
 * and S_ZERO_STEP bytes of it zeroed per change: it must be ready by 3/4,
 * 1/8 of the slots later, and needs 32 bytes per current slot, so 256
 * bytes per change would do; 1 KiB leaves room for removals in between.
 * Small pages, not huge ones: a huge page's first touch zeroes 2 MiB at
 * once (about 6 ms on a VM), where the prefetch of the append path hides
 * the TLB misses that small pages cost. */
#define S_PREPARE_NUM 5
#define S_PREPARE_DEN 8
#define S_ZERO_STEP   1024

/* seq 0 marks an empty slot: sequences start at 1. S_MOVED marks a slot
 * of the old table whose entry was moved or removed while growing: it ends
 * no probe, so the old table's runs stay intact until it is freed. */
#define S_MOVED UINT64_MAX

typedef struct {
    uint64_t hash;
    uint64_t seq;
} s_slot_t;

static_assert(sizeof(s_slot_t) == FDY_DEDUPE_INDEX_SLOT_BYTES, "slot size");

typedef struct {
    s_slot_t *slots; /* NULL: no table */
    unsigned bits;   /* 2^bits slots */
} s_table_t;

struct fdy_dedupe_index {
    s_table_t cur;      /* inserts go here */
    s_table_t old;      /* while growing: the entries not moved yet */
    size_t old_next;    /* the next old slot to move */
    s_slot_t *next;     /* the doubled table being zeroed, or NULL */
    size_t next_zeroed; /* bytes of it zeroed so far */
    size_t count;       /* entries in cur and old */
};

/* The top bits: the hash is a keyed SipHash, uniform in every bit. */
static size_t
s_home(const s_table_t *t, uint64_t hash)
{
    return (size_t) (hash >> (64 - t->bits));
}

static size_t
s_mask(const s_table_t *t)
{
    return ((size_t) 1 << t->bits) - 1;
}

static size_t
s_slot_count(const s_table_t *t)
{
    return t->slots ? (size_t) 1 << t->bits : 0;
}

static size_t
s_bytes(unsigned bits)
{
    return sizeof(s_slot_t) << bits;
}

fdy_dedupe_index_t *
fdy_dedupe_index_new(void)
{
    fdy_dedupe_index_t *self = fdy_xalloc(sizeof *self);
    memset(self, 0, sizeof *self);
    self->cur.bits = S_INITIAL_BITS;
    self->cur.slots = fdy_xalloc(s_bytes(self->cur.bits));
    memset(self->cur.slots, 0, s_bytes(self->cur.bits));
    return self;
}

void
fdy_dedupe_index_destroy(fdy_dedupe_index_t **self_p)
{
    assert(self_p);
    fdy_dedupe_index_t *self = *self_p;
    if (!self)
        return;
    free(self->cur.slots);
    free(self->old.slots);
    free(self->next);
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
    return sizeof(s_slot_t) * (s_slot_count(&self->cur) + s_slot_count(&self->old)) +
           self->next_zeroed;
}

bool
fdy_dedupe_index_growing(const fdy_dedupe_index_t *self)
{
    return self->old.slots != NULL;
}

/* ---- walking --------------------------------------------------------------- */

fdy_dedupe_walk_t
fdy_dedupe_index_start(const fdy_dedupe_index_t *self, uint64_t hash)
{
    return (fdy_dedupe_walk_t){.pos = s_home(&self->cur, hash), .in_old = false};
}

uint64_t
fdy_dedupe_index_next(const fdy_dedupe_index_t *self, uint64_t hash, fdy_dedupe_walk_t *walk)
{
    for (;;) {
        const s_table_t *t = walk->in_old ? &self->old : &self->cur;
        size_t mask = s_mask(t);
        for (size_t i = walk->pos;; i = (i + 1) & mask) {
            const s_slot_t *s = &t->slots[i];
            if (s->seq == 0) {
                walk->pos = i;
                break;
            }
            if (s->seq != S_MOVED && s->hash == hash) {
                walk->pos = (i + 1) & mask;
                return s->seq;
            }
        }
        /* The end of this table's run: the old one may hold more. */
        if (walk->in_old || !self->old.slots)
            return 0;
        walk->in_old = true;
        walk->pos = s_home(&self->old, hash);
    }
}

void
fdy_dedupe_index_prefetch(const fdy_dedupe_index_t *self, uint64_t hash)
{
    __builtin_prefetch(&self->cur.slots[s_home(&self->cur, hash)]);
}

/* ---- changes --------------------------------------------------------------- */

/* The slot of t holding (hash, seq), or SIZE_MAX. */
static size_t
s_find(const s_table_t *t, uint64_t hash, uint64_t seq)
{
    if (!t->slots)
        return SIZE_MAX;
    size_t mask = s_mask(t);
    for (size_t i = s_home(t, hash);; i = (i + 1) & mask) {
        const s_slot_t *s = &t->slots[i];
        if (s->seq == 0)
            return SIZE_MAX;
        if (s->hash == hash && s->seq == seq)
            return i;
    }
}

static void
s_place(s_table_t *t, uint64_t hash, uint64_t seq)
{
    size_t mask = s_mask(t);
    size_t i = s_home(t, hash);
    while (t->slots[i].seq != 0)
        i = (i + 1) & mask;
    t->slots[i].hash = hash;
    t->slots[i].seq = seq;
}

/* Moves up to max old slots' entries to the current table; frees the old
 * table once every slot is done. */
static void
s_move(fdy_dedupe_index_t *self, size_t max)
{
    if (!self->old.slots)
        return;
    size_t old_slots = s_slot_count(&self->old);
    for (size_t n = 0; n < max && self->old_next < old_slots; n++) {
        s_slot_t *s = &self->old.slots[self->old_next++];
        if (s->seq != 0 && s->seq != S_MOVED) {
            s_place(&self->cur, s->hash, s->seq);
            s->seq = S_MOVED;
        }
    }
    if (self->old_next == old_slots) {
        free(self->old.slots);
        self->old = (s_table_t){0};
        self->old_next = 0;
    }
}

/* Past S_PREPARE_NUM/DEN full (and not growing): allocates the doubled
 * table, then zeroes up to max more bytes of it. */
static void
s_prepare(fdy_dedupe_index_t *self, size_t max)
{
    size_t slots = s_slot_count(&self->cur);
    if (!self->next) {
        if (self->old.slots || self->count * S_PREPARE_DEN < slots * S_PREPARE_NUM)
            return;
        self->next = fdy_xalloc(s_bytes(self->cur.bits + 1));
        self->next_zeroed = 0;
    }
    size_t size = s_bytes(self->cur.bits + 1);
    size_t n = size - self->next_zeroed < max ? size - self->next_zeroed : max;
    memset((uint8_t *) self->next + self->next_zeroed, 0, n);
    self->next_zeroed += n;
}

/* Starts growing: the current table becomes the old one, emptied into the
 * doubled one S_MOVE_STEP slots per change from now on. */
static void
s_grow(fdy_dedupe_index_t *self)
{
    s_move(self, SIZE_MAX); /* cannot happen at S_MOVE_STEP, but never two old tables */
    s_prepare(self, SIZE_MAX); /* the rest, if removals held the fill back */
    self->old = self->cur;
    self->old_next = 0;
    self->cur.bits = self->old.bits + 1;
    self->cur.slots = self->next;
    self->next = NULL;
    self->next_zeroed = 0;
}

void
fdy_dedupe_index_insert(fdy_dedupe_index_t *self, uint64_t hash, uint64_t seq)
{
    assert(seq != 0 && seq != S_MOVED);
    s_move(self, S_MOVE_STEP);
    s_prepare(self, S_ZERO_STEP);
    size_t slots = s_slot_count(&self->cur);
    if ((self->count + 1) * FDY_DEDUPE_INDEX_LOAD_DEN > slots * FDY_DEDUPE_INDEX_LOAD_NUM)
        s_grow(self);
    s_place(&self->cur, hash, seq);
    self->count++;
}

bool
fdy_dedupe_index_replace(fdy_dedupe_index_t *self, uint64_t hash, uint64_t old_seq,
                         uint64_t new_seq)
{
    assert(new_seq != 0 && new_seq != S_MOVED);
    size_t i = s_find(&self->cur, hash, old_seq);
    if (i != SIZE_MAX) {
        self->cur.slots[i].seq = new_seq;
        return true;
    }
    i = s_find(&self->old, hash, old_seq);
    if (i == SIZE_MAX)
        return false;
    self->old.slots[i].seq = new_seq;
    return true;
}

/* Removes the entry in slot hole of t, shifting back the entries after it
 * whose probe would otherwise no longer reach them. */
static void
s_remove_at(s_table_t *t, size_t hole)
{
    size_t mask = s_mask(t);
    /* Backward shift: an entry after the hole moves into it unless its home
     * lies cyclically in (hole, j], where a lookup would no longer find it. */
    for (size_t j = (hole + 1) & mask; t->slots[j].seq != 0; j = (j + 1) & mask) {
        size_t home = s_home(t, t->slots[j].hash);
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays)
            continue;
        t->slots[hole] = t->slots[j];
        hole = j;
    }
    t->slots[hole].seq = 0;
    t->slots[hole].hash = 0;
}

bool
fdy_dedupe_index_remove(fdy_dedupe_index_t *self, uint64_t hash, uint64_t seq)
{
    size_t i = s_find(&self->cur, hash, seq);
    if (i != SIZE_MAX) {
        s_remove_at(&self->cur, i);
    }
    else {
        i = s_find(&self->old, hash, seq);
        if (i == SIZE_MAX)
            return false;
        /* No shift in the old table: the move walks it by position. */
        self->old.slots[i].seq = S_MOVED;
    }
    self->count--;
    s_move(self, S_MOVE_STEP);
    s_prepare(self, S_ZERO_STEP);
    return true;
}
