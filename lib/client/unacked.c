/*  unacked.c: the table of durable deliveries handed out and not acked
 *  (unacked.h): linear probing with backward-shift deletion, so lookups
 *  need no tombstones and the table never degrades however many acks pass
 *  through it. Knows nothing of credit or the wire (sub.c).
 */
#include "unacked.h"

#include <stdbool.h>
#include <stdlib.h>

/* Grown at half full: probe runs stay short. */
#define INITIAL_CAP 64

static size_t
s_home(uint64_t seq, size_t mask)
{
    /* Fibonacci hashing: consecutive seqs land far apart. */
    return (size_t) ((seq * 0x9E3779B97F4A7C15ull) >> 29) & mask;
}

static void
s_put(fdy_unacked_entry_t *slots, size_t cap, const fdy_unacked_entry_t *entry)
{
    size_t mask = cap - 1;
    size_t i = s_home(entry->seq, mask);
    while (slots[i].seq != 0)
        i = (i + 1) & mask;
    slots[i] = *entry;
}

void
fdy_unacked_clear(fdy_unacked_t *self)
{
    free(self->slots);
    self->slots = NULL;
    self->cap = 0;
    self->count = 0;
    self->low = 0;
}

fdy_unacked_entry_t *
fdy_unacked_find(const fdy_unacked_t *self, uint64_t seq)
{
    if (self->cap == 0 || seq == 0)
        return NULL;
    size_t mask = self->cap - 1;
    for (size_t i = s_home(seq, mask);; i = (i + 1) & mask) {
        if (self->slots[i].seq == seq)
            return &self->slots[i];
        if (self->slots[i].seq == 0)
            return NULL;
    }
}

foundry_err
fdy_unacked_add(fdy_unacked_t *self, uint64_t seq, uint32_t bytes, uint16_t gen)
{
    fdy_unacked_entry_t *found = fdy_unacked_find(self, seq);
    if (found) {
        if (found->gen != gen) {
            found->gen = gen;
            found->deliveries = 0;
        }
        if (found->deliveries < UINT16_MAX)
            found->deliveries++;
        found->bytes = bytes;
        return FOUNDRY_OK;
    }
    if ((self->count + 1) * 2 > self->cap) {
        size_t cap = self->cap ? self->cap * 2 : INITIAL_CAP;
        fdy_unacked_entry_t *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return FOUNDRY_ENOMEM;
        for (size_t i = 0; i < self->cap; i++)
            if (self->slots[i].seq != 0)
                s_put(slots, cap, &self->slots[i]);
        free(self->slots);
        self->slots = slots;
        self->cap = cap;
    }
    if (seq < self->low)
        self->low = seq;
    fdy_unacked_entry_t entry = {seq, bytes, 1, gen};
    s_put(self->slots, self->cap, &entry);
    self->count++;
    return FOUNDRY_OK;
}

void
fdy_unacked_remove(fdy_unacked_t *self, fdy_unacked_entry_t *entry)
{
    size_t mask = self->cap - 1;
    size_t hole = (size_t) (entry - self->slots);
    for (size_t i = (hole + 1) & mask; self->slots[i].seq != 0; i = (i + 1) & mask) {
        size_t home = s_home(self->slots[i].seq, mask);
        /* It may fill the hole unless its home lies cyclically in (hole, i]:
         * then a lookup starting there would never pass the hole. */
        bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!stays) {
            self->slots[hole] = self->slots[i];
            hole = i;
        }
    }
    self->slots[hole].seq = 0;
    self->count--;
}

fdy_unacked_entry_t *
fdy_unacked_at(const fdy_unacked_t *self, size_t i)
{
    return &self->slots[i];
}

uint64_t
fdy_unacked_low(const fdy_unacked_t *self)
{
    return self->low > 1 ? self->low : 1;
}

void
fdy_unacked_raise_low(fdy_unacked_t *self, uint64_t seq)
{
    if (seq > self->low)
        self->low = seq;
}
