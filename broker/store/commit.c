/*  commit.c: the group commit (commit.h): ONE write transaction and ONE
 *  fsync from the parts of a turn, with map growth, dropping a failed
 *  droppable part, and no commit at all when nothing new was written. Also
 *  the old entry points over it (fdy_store_append, _save_states, _commit).
 *  Not for what a part writes: each table module exports its part.
 */
#include "commit.h"

#include "store_clock.h"
#include "store_dedupe.h"

#include "store_streams.h"

#include "clock.h"

#include <assert.h>
#include <string.h>

static void
s_touched_reset(fdy_store_t *self)
{
    for (size_t i = 0; i < self->touched_count; i++) {
        self->touched[i]->txn_touched = false;
        self->touched[i]->txn_cursor = NULL; /* freed with its transaction */
    }
    self->touched_count = 0;
}

/* After a commit: tells the trimmer which streams may now be over a limit,
 * so its calls stay free of transactions while nothing is. */
static void
s_trim_hints(fdy_store_t *self, uint64_t now_ns)
{
    for (size_t i = 0; i < self->touched_count; i++) {
        fdy_store_stream_t *st = self->touched[i];
        const fdy_stream_limits_t *lim = &st->txn.limits;
        st->limits = *lim;
        if ((lim->max_msgs && st->txn.messages > lim->max_msgs) ||
            (lim->max_bytes && st->txn.bytes > lim->max_bytes)) {
            st->trim_due_ns = 0;
        }
        else if (lim->max_age_ms) {
            /* Validated at create/update: no overflow in the product. */
            uint64_t age_ns = lim->max_age_ms * 1000000u;
            uint64_t due = now_ns > UINT64_MAX - age_ns ? UINT64_MAX : now_ns + age_ns;
            if (due < st->trim_due_ns)
                st->trim_due_ns = due;
        }
    }
}

/* ---- the commit -------------------------------------------------------- */

void
fdy_commit_init(fdy_commit_t *self)
{
    self->count = 0;
    self->overflow = false;
}

void
fdy_commit_add(fdy_commit_t *self, const fdy_commit_part_t *part, void *data)
{
    assert(part && part->write);
    if (self->count == FDY_COMMIT_PARTS_MAX) {
        assert(!"more than FDY_COMMIT_PARTS_MAX commit parts");
        self->overflow = true;
        return;
    }
    fdy_commit_slot_t *slot = &self->slots[self->count++];
    memset(slot, 0, sizeof *slot);
    slot->part = part;
    slot->data = data;
}

bool
fdy_commit_empty(const fdy_commit_t *self)
{
    return self->count == 0 && !self->overflow;
}

static const fdy_commit_slot_t *
s_slot_of(const fdy_commit_t *self, const void *data)
{
    for (size_t i = 0; i < self->count; i++)
        if (self->slots[i].data == data)
            return &self->slots[i];
    return NULL;
}

foundry_err
fdy_commit_result(const fdy_commit_t *self, const void *data)
{
    const fdy_commit_slot_t *slot = s_slot_of(self, data);
    return slot ? slot->result : FOUNDRY_ENOTFOUND;
}

const char *
fdy_commit_reason(const fdy_commit_t *self, const void *data)
{
    const fdy_commit_slot_t *slot = s_slot_of(self, data);
    return slot ? slot->reason.text : "";
}

static void
s_reset(fdy_commit_slot_t *slot)
{
    if (slot->part->reset)
        slot->part->reset(slot->data);
}

/* Nothing of the parts still in is stored: they all get err. */
static foundry_err
s_fail(fdy_commit_t *self, foundry_err err, const fdy_reason_t *why, fdy_reason_t *reason)
{
    for (size_t i = 0; i < self->count; i++) {
        fdy_commit_slot_t *slot = &self->slots[i];
        if (slot->dropped)
            continue;
        s_reset(slot);
        slot->result = err;
        slot->reason = *why;
    }
    if (reason)
        *reason = *why;
    return err;
}

static void
s_drop(fdy_commit_slot_t *slot, foundry_err err, const fdy_reason_t *why)
{
    s_reset(slot);
    slot->dropped = true;
    slot->result = err;
    slot->reason = *why;
}

typedef struct {
    fdy_commit_t *commit;
    fdy_store_t *store;
    uint64_t now_ns;
    fdy_commit_slot_t *failed; /* the part whose write failed, if one did */
    size_t writes;             /* records the last attempt wrote */
} s_run_t;

static foundry_err
s_txn(MDB_txn *txn, void *ctx, bool *skip_commit, fdy_reason_t *reason)
{
    s_run_t *r = ctx;
    fdy_store_t *store = r->store;
    size_t writes = 0;
    /* Each attempt starts from the database, never from a failed attempt. */
    s_touched_reset(store);
    fdy_store_dedupe_undo(store);
    r->failed = NULL;
    for (size_t i = 0; i < r->commit->count; i++) {
        fdy_commit_slot_t *slot = &r->commit->slots[i];
        if (slot->dropped)
            continue;
        foundry_err err = slot->part->write(slot->data, store, txn, r->now_ns, &writes, reason);
        if (err != FOUNDRY_OK) {
            r->failed = slot;
            return err;
        }
    }
    r->writes = writes;
    if (writes == 0) {
        /* Only duplicates, whose originals are durable already: no fsync. */
        *skip_commit = true;
        return FOUNDRY_OK;
    }
    foundry_err clock_err = fdy_store_clock_put(store, txn, r->now_ns, reason);
    if (clock_err != FOUNDRY_OK)
        return clock_err;
    /* Counters: one record write per touched stream per transaction. */
    for (size_t i = 0; i < store->touched_count; i++) {
        fdy_store_stream_t *st = store->touched[i];
        foundry_err err = fdy_store_stream_counters_put(store, txn, st->name, &st->txn, reason);
        if (err != FOUNDRY_OK)
            return err;
    }
    return FOUNDRY_OK;
}

static foundry_err
s_prepare(fdy_commit_t *self, fdy_store_t *store, fdy_reason_t *reason)
{
    for (size_t i = 0; i < self->count; i++) {
        fdy_commit_slot_t *slot = &self->slots[i];
        s_reset(slot);
        slot->result = FOUNDRY_OK;
        slot->dropped = false;
        fdy_reason_clear(&slot->reason);
    }
    for (size_t i = 0; i < self->count; i++) {
        fdy_commit_slot_t *slot = &self->slots[i];
        if (!slot->part->prepare)
            continue;
        fdy_reason_t why;
        fdy_reason_clear(&why);
        foundry_err err = slot->part->prepare(slot->data, store, &why);
        if (err == FOUNDRY_OK)
            continue;
        /* A full store is nobody's fault: everything waits for space. */
        if (slot->part->droppable && err != FOUNDRY_EFULL)
            s_drop(slot, err, &why);
        else
            return s_fail(self, err, &why, reason);
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_commit_run(fdy_commit_t *self, fdy_store_t *store, fdy_reason_t *reason)
{
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (self->overflow) {
        fdy_reason_set(&why, FOUNDRY_EINVAL, "commit: more than %d parts", FDY_COMMIT_PARTS_MAX);
        return s_fail(self, FOUNDRY_EINVAL, &why, reason);
    }
    if (self->count == 0)
        return FOUNDRY_OK;
    foundry_err err = fdy_store_writable(store, &why);
    if (err != FOUNDRY_OK)
        return s_fail(self, err, &why, reason);
    err = s_prepare(self, store, reason);
    if (err != FOUNDRY_OK)
        return err;
    /* The store's time, not the wall clock: a clock step must not make a
     * resend new again, trim a stream at once or store time backwards. */
    s_run_t r = { self, store, fdy_store_now_ns(store), NULL, 0 };
    for (;;) {
        bool any = false;
        for (size_t i = 0; i < self->count; i++)
            any |= !self->slots[i].dropped;
        if (!any)
            return FOUNDRY_OK; /* only droppable parts, all dropped */
        fdy_reason_clear(&why);
        err = fdy_kv_write(store->kv, s_txn, &r, &why);
        if (err == FOUNDRY_OK) {
            if (r.writes > 0)
                fdy_histogram_observe(&store->commit_batch, r.writes);
            fdy_store_dedupe_keep(store);
            s_trim_hints(store, r.now_ns);
        }
        else {
            fdy_store_dedupe_undo(store); /* nothing of it is stored */
        }
        s_touched_reset(store);
        if (err == FOUNDRY_OK)
            return FOUNDRY_OK; /* every part still in: result OK, durable */
        if (!r.failed || !r.failed->part->droppable || err == FOUNDRY_EFULL)
            return s_fail(self, err, &why, reason);
        /* The rest is written again from scratch without it. */
        s_drop(r.failed, err, &why);
    }
}

/* ---- the old entry points ----------------------------------------------- */

foundry_err
fdy_store_append(fdy_store_t *self, fdy_store_item_t *items, size_t count, fdy_reason_t *reason)
{
    fdy_store_batch_t batch = { .items = items, .item_count = count };
    return fdy_store_commit(self, &batch, reason);
}

foundry_err
fdy_store_consumer_save_states(fdy_store_t *self, const fdy_consumer_state_t *states,
                               size_t count, fdy_reason_t *reason)
{
    fdy_store_batch_t batch = { .states = states, .state_count = count };
    return fdy_store_commit(self, &batch, reason);
}

foundry_err
fdy_store_commit(fdy_store_t *self, fdy_store_batch_t *batch, fdy_reason_t *reason)
{
    /* A batch fails as a whole: every part is strict here (the callers that
     * want a bad state not to refuse publishes use the parts directly). */
    fdy_commit_part_t dead_letters = fdy_store_dead_letters_part;
    fdy_commit_part_t states = fdy_store_states_part;
    dead_letters.droppable = false;
    states.droppable = false;
    fdy_store_items_t item_data = { batch->items, batch->item_count };
    fdy_store_dead_letters_t dead_data = { batch->dead_letters, batch->dead_letter_count };
    fdy_store_states_t state_data = { batch->states, batch->state_count };
    fdy_commit_t commit;
    fdy_commit_init(&commit);
    if (item_data.count)
        fdy_commit_add(&commit, &fdy_store_messages_part, &item_data);
    if (dead_data.count)
        fdy_commit_add(&commit, &dead_letters, &dead_data);
    if (state_data.count)
        fdy_commit_add(&commit, &states, &state_data);
    return fdy_commit_run(&commit, self, reason);
}
