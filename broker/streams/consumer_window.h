/*  consumer_window.h: the in-memory delivery window of one durable consumer,
 *  the seqs in (ack floor, delivered seq]. Each is pending (sent and not
 *  acked: its delivery count, the subscription it went to, its deadline) or
 *  not (acked, skipped by the filter, or trimmed). Deadlines are kept in
 *  send order; a pending seq whose deadline passed, or whose subscription
 *  went away, is due: it waits on the due list to be sent again.
 *
 *  Pure bookkeeping: no store, socket or clock. Times are the caller's
 *  monotonic milliseconds; subscriptions are their ids (never 0). The saved
 *  form is fdy_consumer_state_t (store.h). Not thread-safe: one owner, the
 *  broker's loop (consumers.c).
 */
#ifndef FDY_CONSUMER_WINDOW_H_INCLUDED
#define FDY_CONSUMER_WINDOW_H_INCLUDED

#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fdy_window fdy_window_t;

typedef struct {
    uint64_t ack_wait_ms;     /* a send's deadline is now + this; 0 counts as 1 */
    uint32_t max_deliver;     /* sends before a seq is given up; 0 = never */
    uint32_t max_ack_pending; /* pending seqs that make the window full; 0 = unlimited */
    uint64_t width_max;       /* full once delivered + 1 - floor exceeds this */
} fdy_window_limits_t;

/* ---- lifecycle ------------------------------------------------------------ */

/* Returns a window with limits (copied) built from a saved state
 * (borrowed; only ack_floor, delivered_seq, acked and redelivered are
 * read): every seq in (ack_floor, delivered_seq] that is not in acked was
 * sent and not acked before the broker stopped, so it is pending and due at
 * once, with its count from redelivered (1 when not listed). The lists
 * must be sorted, as the store returns them. Aborts on out-of-memory; never
 * NULL. Caller owns; fdy_window_destroy(). */
fdy_window_t *fdy_window_new(const fdy_window_limits_t *limits, const fdy_consumer_state_t *state);

/* Frees the window and nulls *self_p. Accepts NULL and *self_p NULL. */
void fdy_window_destroy(fdy_window_t **self_p);

/* ---- accessors ------------------------------------------------------------- */

/* Every seq up to here is acked (or gone). */
uint64_t fdy_window_floor(const fdy_window_t *self);
/* The last seq sent or skipped; the next new one is this + 1. */
uint64_t fdy_window_delivered(const fdy_window_t *self);
/* Seqs sent and not acked, due ones included. */
uint64_t fdy_window_pending(const fdy_window_t *self);
/* Entries on the due list. Some may have stopped being due (acked or sent
 * since); the count is exact after fdy_window_due_end(). */
size_t fdy_window_due_count(const fdy_window_t *self);
/* True when seq is pending and waits to be sent again. */
bool fdy_window_is_due(const fdy_window_t *self, uint64_t seq);
/* True when no new seq may be sent: max_ack_pending seqs are pending, or
 * delivered + 1 - floor is over width_max. */
bool fdy_window_full(const fdy_window_t *self);

/* ---- sending ---------------------------------------------------------------- */

/* Records that seq went to subscription sub at now_ms, with the deadline
 * now_ms + ack_wait. seq is either the next new one (delivered + 1), which
 * becomes pending with count 1, or a due one, whose count goes up by one.
 * Returns the delivery count to put on the wire. Any other seq is a bug
 * (asserted). */
uint32_t fdy_window_send(fdy_window_t *self, uint64_t seq, uint32_t sub, int64_t now_ms);

/* Passes over the next new seq (delivered + 1) without sending it, as the
 * consumer's filter does not want it: it counts as acked. */
void fdy_window_skip(fdy_window_t *self, uint64_t seq);

/* If seq is pending and was sent max_deliver times, acks it, sets
 * *count_out to its delivery count and returns true: the caller
 * dead-letters it. Otherwise returns false and changes nothing. */
bool fdy_window_give_up(fdy_window_t *self, uint64_t seq, uint32_t *count_out);

/* Walks the deadlines that passed by now_ms, in send order: each such
 * pending seq becomes due, unless it was sent max_deliver times, in which
 * case it is acked and returned in *seq_out and *count_out (its delivery
 * count) with true, for the caller to dead-letter; call again until it
 * returns false. */
bool fdy_window_expire(fdy_window_t *self, int64_t now_ms, uint64_t *seq_out, uint32_t *count_out);

/* Every pending seq last sent to subscription sub becomes due at once (the
 * subscription is gone). */
void fdy_window_release(fdy_window_t *self, uint32_t sub);

/* Retention removed every seq below first: pending ones below it are
 * dropped (there is nothing left to send), and the floor moves to
 * first - 1 (delivered too, when below). No-op when first - 1 <= floor. */
void fdy_window_trim(fdy_window_t *self, uint64_t first);

/* ---- the due list ----------------------------------------------------------- */

/* A pass over the due seqs in seq order:
 *
 *     size_t cursor = 0;
 *     fdy_window_due_begin(w);
 *     while (fdy_window_due_next(w, &cursor, gap, span, &first, &last))
 *         ... send the due seqs in [first, last] ...
 *     fdy_window_due_end(w);
 *
 * due_next skips entries that are no longer due and returns the next run:
 * first is a due seq and the run takes the following entries while each is
 * at most `gap` after the one before and less than `span` after first, so
 * [first, last] may hold seqs that are not due (check fdy_window_is_due).
 * Sending, acking and trimming during a pass are fine. due_end drops the
 * entries that are no longer due, and duplicates. */
void fdy_window_due_begin(fdy_window_t *self);
bool fdy_window_due_next(const fdy_window_t *self, size_t *cursor, uint64_t gap, uint64_t span,
                         uint64_t *first_out, uint64_t *last_out);
void fdy_window_due_end(fdy_window_t *self);

/* ---- acks ------------------------------------------------------------------- */

/* Acks seq. Returns true when it was pending; false (nothing changes) when
 * it is at or below the floor, past delivered, or already acked. */
bool fdy_window_ack(fdy_window_t *self, uint64_t seq);

/* Cumulative ack from subscription sub: acks the pending seqs up to floor
 * (clamped to delivered) that were last sent to sub, also those whose ack
 * wait ran out since (due again, not yet sent elsewhere): a late ack is
 * applied, never silently dropped. Seqs pending on other subscriptions of
 * a queue group stay pending. Returns how many it acked. */
size_t fdy_window_ack_floor(fdy_window_t *self, uint64_t floor, uint32_t sub);

/* ---- saving ------------------------------------------------------------------ */

/* True when the window changed since it was built or last marked clean:
 * its saved form would differ. */
bool fdy_window_dirty(const fdy_window_t *self);
/* Marks the window clean, after its state was saved. */
void fdy_window_clean(fdy_window_t *self);

/* Fills ack_floor, delivered_seq and the acked and redelivered lists of
 * state (the rest is left alone) with the window's saved form. The lists
 * are borrowed, valid until the next fdy_window_save() or destroy. */
void fdy_window_save(fdy_window_t *self, fdy_consumer_state_t *state);

#endif
