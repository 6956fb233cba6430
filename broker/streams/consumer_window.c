/*  consumer_window.c: a durable consumer's delivery window. A ring of
 *  slots, one per seq in (floor, delivered], says which seqs are pending;
 *  a FIFO of (seq, count) holds their deadlines in send order (ack_wait is
 *  one per window, so that is also deadline order); seqs to send again wait
 *  on a due list. Not for reading records, choosing a subscription or
 *  dead-lettering (consumers.c): it only says which seq is in what state.
 */
#include "consumer_window.h"

#include "xalloc.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define RING_MIN 1024u
#define FIFO_MIN 256u

typedef struct {
    uint32_t count;      /* deliveries so far; 0 = not pending */
    uint32_t sub;        /* subscription it is in flight to; 0 = none (due) */
    int64_t deadline_ms; /* send again after this; 0 = due now */
    uint32_t last_sub;   /* subscription it last went to, due or not: a late
                            cumulative ack from it still applies */
} slot_t;

typedef struct {
    uint64_t seq;
    uint32_t count; /* the slot's count when pushed: stale once it differs */
} expiry_t;

struct fdy_window {
    fdy_window_limits_t limits;
    uint64_t floor;
    uint64_t delivered;
    slot_t *ring;
    uint64_t mask; /* ring size - 1 (a power of two) */
    uint64_t pending;
    expiry_t *fifo;
    size_t fifo_head;
    size_t fifo_len;
    size_t fifo_cap;
    uint64_t *due;
    size_t due_len;
    size_t due_cap;
    bool due_sorted;
    bool dirty;
    uint64_t *acked; /* save scratch */
    size_t acked_cap;
    fdy_consumer_redelivery_t *redelivered;
    size_t redelivered_cap;
};

/* Grows array to hold need elements of size bytes, doubling from 8. */
static slot_t *
s_slot(const fdy_window_t *self, uint64_t seq)
{
    return &self->ring[seq & self->mask];
}

/* Makes room for seq in the ring (seq - floor slots), doubling it. */
static void
s_ring_fit(fdy_window_t *self, uint64_t seq)
{
    uint64_t need = seq - self->floor;
    if (need <= self->mask + 1)
        return;
    uint64_t cap = self->mask + 1;
    while (cap < need)
        cap *= 2;
    slot_t *ring = fdy_xalloc(cap * sizeof *ring);
    for (uint64_t s = self->floor + 1; s <= self->delivered; s++)
        ring[s & (cap - 1)] = self->ring[s & self->mask];
    free(self->ring);
    self->ring = ring;
    self->mask = cap - 1;
}

static void
s_ack_slot(fdy_window_t *self, slot_t *slot)
{
    *slot = (slot_t){0};
    self->pending--;
    self->dirty = true;
}

/* Moves the floor over the acked seqs above it. Slots leave the window
 * zeroed: seqs past delivered always find theirs empty. Every function
 * that acks ends here, so the slot above the floor is pending (or the
 * floor is delivered) between calls. */
static void
s_advance_floor(fdy_window_t *self)
{
    while (self->floor < self->delivered) {
        slot_t *slot = s_slot(self, self->floor + 1);
        if (slot->count != 0)
            break;
        *slot = (slot_t){0};
        self->floor++;
    }
}

static void
s_fifo_push(fdy_window_t *self, uint64_t seq, uint32_t count)
{
    if (self->fifo_len == self->fifo_cap) {
        size_t cap = self->fifo_cap ? self->fifo_cap * 2 : FIFO_MIN;
        expiry_t *fifo = fdy_xalloc(cap * sizeof *fifo);
        for (size_t i = 0; i < self->fifo_len; i++)
            fifo[i] = self->fifo[(self->fifo_head + i) % self->fifo_cap];
        free(self->fifo);
        self->fifo = fifo;
        self->fifo_cap = cap;
        self->fifo_head = 0;
    }
    self->fifo[(self->fifo_head + self->fifo_len) % self->fifo_cap] = (expiry_t){seq, count};
    self->fifo_len++;
}

static void
s_fifo_pop(fdy_window_t *self)
{
    self->fifo_head = (self->fifo_head + 1) % self->fifo_cap;
    self->fifo_len--;
}

static void
s_due_push(fdy_window_t *self, uint64_t seq)
{
    self->due = fdy_xgrow(self->due, &self->due_cap, self->due_len + 1, sizeof *self->due);
    if (self->due_len > 0 && self->due[self->due_len - 1] >= seq)
        self->due_sorted = false;
    self->due[self->due_len++] = seq;
}

static bool
s_exhausted(const fdy_window_t *self, const slot_t *slot)
{
    return self->limits.max_deliver > 0 && slot->count >= self->limits.max_deliver;
}

/* ---- lifecycle ------------------------------------------------------------ */

fdy_window_t *
fdy_window_new(const fdy_window_limits_t *limits, const fdy_consumer_state_t *state)
{
    assert(limits && state && state->delivered_seq >= state->ack_floor);
    fdy_window_t *self = fdy_xalloc(sizeof *self);
    self->limits = *limits;
    self->floor = state->ack_floor;
    self->delivered = state->delivered_seq;
    uint64_t width = self->delivered - self->floor + 1;
    uint64_t cap = RING_MIN;
    while (cap < width)
        cap *= 2;
    self->ring = fdy_xalloc(cap * sizeof *self->ring);
    self->mask = cap - 1;
    self->due_sorted = true;
    size_t a = 0, r = 0;
    for (uint64_t s = self->floor + 1; s <= self->delivered; s++) {
        while (a < state->acked_count && state->acked[a] < s)
            a++;
        if (a < state->acked_count && state->acked[a] == s)
            continue;
        while (r < state->redelivered_count && state->redelivered[r].seq < s)
            r++;
        uint32_t count = 1;
        if (r < state->redelivered_count && state->redelivered[r].seq == s)
            count = state->redelivered[r].count;
        *s_slot(self, s) = (slot_t){.count = count};
        self->pending++;
        s_due_push(self, s);
    }
    s_advance_floor(self);
    return self;
}

void
fdy_window_destroy(fdy_window_t **self_p)
{
    assert(self_p);
    fdy_window_t *self = *self_p;
    if (!self)
        return;
    free(self->ring);
    free(self->fifo);
    free(self->due);
    free(self->acked);
    free(self->redelivered);
    free(self);
    *self_p = NULL;
}

/* ---- accessors ------------------------------------------------------------- */

uint64_t
fdy_window_floor(const fdy_window_t *self)
{
    return self->floor;
}

uint64_t
fdy_window_delivered(const fdy_window_t *self)
{
    return self->delivered;
}

uint64_t
fdy_window_pending(const fdy_window_t *self)
{
    return self->pending;
}

size_t
fdy_window_due_count(const fdy_window_t *self)
{
    return self->due_len;
}

bool
fdy_window_is_due(const fdy_window_t *self, uint64_t seq)
{
    if (seq <= self->floor || seq > self->delivered)
        return false;
    const slot_t *slot = s_slot(self, seq);
    return slot->count > 0 && slot->deadline_ms == 0;
}

bool
fdy_window_full(const fdy_window_t *self)
{
    if (self->limits.max_ack_pending && self->pending >= self->limits.max_ack_pending)
        return true;
    return self->delivered + 1 - self->floor > self->limits.width_max;
}

/* ---- sending ---------------------------------------------------------------- */

uint32_t
fdy_window_send(fdy_window_t *self, uint64_t seq, uint32_t sub, int64_t now_ms)
{
    assert(sub != 0);
    uint32_t count;
    if (seq == self->delivered + 1) {
        s_ring_fit(self, seq);
        self->delivered = seq;
        self->pending++;
        count = 1;
    } else {
        assert(fdy_window_is_due(self, seq));
        count = s_slot(self, seq)->count + 1;
    }
    uint64_t ack_wait = self->limits.ack_wait_ms ? self->limits.ack_wait_ms : 1;
    slot_t *slot = s_slot(self, seq);
    slot->count = count;
    slot->sub = sub;
    slot->last_sub = sub;
    slot->deadline_ms = now_ms + (int64_t) ack_wait;
    s_fifo_push(self, seq, count);
    self->dirty = true;
    return count;
}

void
fdy_window_skip(fdy_window_t *self, uint64_t seq)
{
    assert(seq == self->delivered + 1);
    s_ring_fit(self, seq);
    self->delivered = seq;
    self->dirty = true;
    s_advance_floor(self);
}

bool
fdy_window_give_up(fdy_window_t *self, uint64_t seq, uint32_t *count_out)
{
    if (seq <= self->floor || seq > self->delivered)
        return false;
    slot_t *slot = s_slot(self, seq);
    if (slot->count == 0 || !s_exhausted(self, slot))
        return false;
    *count_out = slot->count;
    s_ack_slot(self, slot);
    s_advance_floor(self);
    return true;
}

bool
fdy_window_expire(fdy_window_t *self, int64_t now_ms, uint64_t *seq_out, uint32_t *count_out)
{
    bool dead = false;
    while (self->fifo_len > 0) {
        expiry_t e = self->fifo[self->fifo_head];
        if (e.seq <= self->floor || e.seq > self->delivered) {
            s_fifo_pop(self);
            continue;
        }
        slot_t *slot = s_slot(self, e.seq);
        if (slot->count != e.count || slot->deadline_ms == 0) {
            s_fifo_pop(self);
            continue;
        }
        if (slot->deadline_ms > now_ms)
            break;
        s_fifo_pop(self);
        if (s_exhausted(self, slot)) {
            *seq_out = e.seq;
            *count_out = slot->count;
            s_ack_slot(self, slot);
            dead = true;
            break;
        }
        slot->deadline_ms = 0;
        slot->sub = 0;
        s_due_push(self, e.seq);
    }
    s_advance_floor(self);
    return dead;
}

void
fdy_window_release(fdy_window_t *self, uint32_t sub)
{
    for (uint64_t s = self->floor + 1; s <= self->delivered; s++) {
        slot_t *slot = s_slot(self, s);
        if (slot->count && slot->sub == sub) {
            slot->sub = 0;
            slot->deadline_ms = 0;
            s_due_push(self, s);
        }
    }
}

void
fdy_window_trim(fdy_window_t *self, uint64_t first)
{
    uint64_t upto = first - 1;
    if (upto <= self->floor)
        return;
    uint64_t last = upto < self->delivered ? upto : self->delivered;
    for (uint64_t s = self->floor + 1; s <= last; s++) {
        slot_t *slot = s_slot(self, s);
        if (slot->count)
            self->pending--;
        *slot = (slot_t){0};
    }
    self->floor = upto;
    if (self->delivered < upto)
        self->delivered = upto;
    self->dirty = true;
    s_advance_floor(self);
}

/* ---- the due list ----------------------------------------------------------- */

static int
s_seq_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

void
fdy_window_due_begin(fdy_window_t *self)
{
    if (!self->due_sorted) {
        qsort(self->due, self->due_len, sizeof *self->due, s_seq_cmp);
        self->due_sorted = true;
    }
}

bool
fdy_window_due_next(const fdy_window_t *self, size_t *cursor, uint64_t gap, uint64_t span,
                    uint64_t *first_out, uint64_t *last_out)
{
    size_t i = *cursor;
    while (i < self->due_len && !fdy_window_is_due(self, self->due[i]))
        i++;
    if (i >= self->due_len) {
        *cursor = i;
        return false;
    }
    uint64_t first = self->due[i], last = first;
    size_t j = i + 1;
    while (j < self->due_len && self->due[j] - last <= gap && self->due[j] - first < span)
        last = self->due[j++];
    *cursor = j;
    *first_out = first;
    *last_out = last;
    return true;
}

void
fdy_window_due_end(fdy_window_t *self)
{
    size_t kept = 0;
    for (size_t k = 0; k < self->due_len; k++)
        if (fdy_window_is_due(self, self->due[k]) &&
            (kept == 0 || self->due[kept - 1] != self->due[k]))
            self->due[kept++] = self->due[k];
    self->due_len = kept;
    s_advance_floor(self);
}

/* ---- acks ------------------------------------------------------------------- */

bool
fdy_window_ack(fdy_window_t *self, uint64_t seq)
{
    if (seq <= self->floor || seq > self->delivered)
        return false;
    slot_t *slot = s_slot(self, seq);
    if (!slot->count)
        return false;
    s_ack_slot(self, slot);
    s_advance_floor(self);
    return true;
}

size_t
fdy_window_ack_floor(fdy_window_t *self, uint64_t floor, uint32_t sub)
{
    size_t acked = 0;
    uint64_t last = floor < self->delivered ? floor : self->delivered;
    for (uint64_t s = self->floor + 1; s <= last; s++) {
        slot_t *slot = s_slot(self, s);
        /* In flight to sub, or expired after going to sub and not sent to
         * anyone since: the client saw it, so its late ack counts. */
        if (slot->count && (slot->sub == sub || (slot->sub == 0 && slot->last_sub == sub))) {
            s_ack_slot(self, slot);
            acked++;
        }
    }
    s_advance_floor(self);
    return acked;
}

/* ---- saving ------------------------------------------------------------------ */

bool
fdy_window_dirty(const fdy_window_t *self)
{
    return self->dirty;
}

void
fdy_window_clean(fdy_window_t *self)
{
    self->dirty = false;
}

void
fdy_window_save(fdy_window_t *self, fdy_consumer_state_t *state)
{
    size_t acked = 0, redelivered = 0;
    for (uint64_t s = self->floor + 1; s <= self->delivered; s++) {
        const slot_t *slot = s_slot(self, s);
        if (slot->count == 0)
            acked++;
        else if (slot->count > 1)
            redelivered++;
    }
    self->acked = fdy_xgrow(self->acked, &self->acked_cap, acked ? acked : 1, sizeof *self->acked);
    self->redelivered = fdy_xgrow(self->redelivered, &self->redelivered_cap,
                                  redelivered ? redelivered : 1, sizeof *self->redelivered);
    acked = redelivered = 0;
    for (uint64_t s = self->floor + 1; s <= self->delivered; s++) {
        const slot_t *slot = s_slot(self, s);
        if (slot->count == 0)
            self->acked[acked++] = s;
        else if (slot->count > 1)
            self->redelivered[redelivered++] = (fdy_consumer_redelivery_t){s, slot->count};
    }
    state->ack_floor = self->floor;
    state->delivered_seq = self->delivered;
    state->acked = self->acked;
    state->acked_count = acked;
    state->redelivered = self->redelivered;
    state->redelivered_count = redelivered;
}
