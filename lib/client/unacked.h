/*  unacked.h: the durable deliveries a subscription handed to the
 *  application and that are not acked yet, keyed by seq: how many times
 *  each was received (each took one credit), its size (byte credit), and
 *  which subscription generation received it. An open-addressing table, so
 *  the per-message path allocates nothing once it has grown to the credit.
 *  Private to libfoundry (sub.c). Not thread-safe.
 */
#ifndef FDY_UNACKED_H_INCLUDED
#define FDY_UNACKED_H_INCLUDED

#include "foundry.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t seq;        /* 0: an empty slot (seqs start at 1) */
    uint32_t bytes;      /* message + external payload bytes */
    uint16_t deliveries; /* times received since handed out */
    uint16_t gen;        /* subscription generation that received it last */
} fdy_unacked_entry_t;

/* Embedded by value; zero it to initialise, fdy_unacked_clear() to free. */
typedef struct {
    fdy_unacked_entry_t *slots; /* cap entries, cap a power of two, or NULL */
    size_t cap;
    size_t count;
    uint64_t low; /* no entry has a smaller seq (a bound, not the minimum) */
} fdy_unacked_t;

/* Frees the table and zeroes it. */
void fdy_unacked_clear(fdy_unacked_t *self);

/* The entry of seq, or NULL. Borrowed, valid until the next add or remove. */
fdy_unacked_entry_t *fdy_unacked_find(const fdy_unacked_t *self, uint64_t seq);

/* Records that seq (>= 1) was received by generation gen. A seq already
 * there is a redelivery: its count grows (restarting at 1 when received by
 * a newer generation). Returns FOUNDRY_OK or FOUNDRY_ENOMEM (unchanged). */
foundry_err fdy_unacked_add(fdy_unacked_t *self, uint64_t seq, uint32_t bytes, uint16_t gen);

/* Removes an entry returned by find or at. Another entry may move into
 * its slot: a caller walking slots with fdy_unacked_at() looks at the same
 * index again. */
void fdy_unacked_remove(fdy_unacked_t *self, fdy_unacked_entry_t *entry);

/* Slot i (0 <= i < cap): an entry, or one with seq 0 (empty). Borrowed. */
fdy_unacked_entry_t *fdy_unacked_at(const fdy_unacked_t *self, size_t i);

/* A seq no entry is below (at least 1): a cumulative ack up to S need only
 * look up the seqs from here to S when they are fewer than the slots. */
uint64_t fdy_unacked_low(const fdy_unacked_t *self);

/* Tells the table that no entry is below seq any more (every one was
 * removed); a later add below it lowers the bound again. */
void fdy_unacked_raise_low(fdy_unacked_t *self, uint64_t seq);

#endif
