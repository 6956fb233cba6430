/*  tail.h: ephemeral subscriptions, a live tail of new messages whose
 *  subject matches a filter. Fed right after each group commit with what it
 *  stored; no cursor and no acks. A message that finds a subscription
 *  without credit is dropped and counted (DELIVER's `dropped`).
 */
#ifndef FDY_TAIL_H_INCLUDED
#define FDY_TAIL_H_INCLUDED

#include "subs.h"

typedef struct fdy_tail fdy_tail_t;

/* Returns a tail over store (borrowed, for stream names) sending through
 * subs (borrowed). Aborts on out-of-memory. Caller owns; fdy_tail_destroy(). */
fdy_tail_t *fdy_tail_new(fdy_store_t *store, fdy_subs_t *subs);
void fdy_tail_destroy(fdy_tail_t **self_p);

/* Adds / removes an ephemeral subscription (sub->filter is set). */
void fdy_tail_bind(fdy_tail_t *self, fdy_sub_t *sub);
void fdy_tail_unbind(fdy_tail_t *self, fdy_sub_t *sub);

/* Hands the items a group commit just stored (duplicates are skipped) to
 * every matching subscription. stored_ns is the commit's wall time. */
void fdy_tail_feed(fdy_tail_t *self, const fdy_store_item_t *items, size_t count,
                   uint64_t stored_ns);

#endif
