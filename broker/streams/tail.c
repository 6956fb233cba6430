/*  tail.c: ephemeral subscriptions. Each group commit's stored items are
 *  matched against every tail's filter right after the commit; the subject
 *  is found in the encoded record without unpacking it. Credit decides
 *  between sending and dropping; nothing is buffered here beyond the
 *  DELIVER frame subs.c is filling. Not for durable consumers.
 */
#include "tail.h"

#include "log.h"
#include "subject.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

struct fdy_tail {
    fdy_store_t *store;
    fdy_subs_t *subs;
    fdy_sub_t **subs_list;
    fdy_subs_shared_t shared; /* the item being fed, encoded once for every tail */
    size_t count;
    size_t cap;
};

fdy_tail_t *
fdy_tail_new(fdy_store_t *store, fdy_subs_t *subs)
{
    fdy_tail_t *self = fdy_xalloc(sizeof *self);
    self->store = store;
    self->subs = subs;
    return self;
}

void
fdy_tail_destroy(fdy_tail_t **self_p)
{
    fdy_tail_t *self = *self_p;
    if (!self)
        return;
    free(self->subs_list);
    fdy_subs_shared_free(&self->shared);
    free(self);
    *self_p = NULL;
}

void
fdy_tail_bind(fdy_tail_t *self, fdy_sub_t *sub)
{
    self->subs_list = fdy_xgrow(self->subs_list, &self->cap, self->count + 1,
                                sizeof *self->subs_list);
    sub->owner_index = self->count;
    self->subs_list[self->count++] = sub;
}

void
fdy_tail_unbind(fdy_tail_t *self, fdy_sub_t *sub)
{
    /* Swap-remove: O(1), so ending many tails stays linear. Each tail gets
     * its own copy of every match, so their order does not matter. */
    size_t i = sub->owner_index;
    if (i >= self->count || self->subs_list[i] != sub)
        return;
    fdy_sub_t *last = self->subs_list[--self->count];
    self->subs_list[i] = last;
    last->owner_index = i;
}

void
fdy_tail_feed(fdy_tail_t *self, const fdy_store_item_t *items, size_t count, uint64_t stored_ns)
{
    if (self->count == 0)
        return;
    uint32_t name_id = 0;
    const char *name = NULL;
    char subject[FOUNDRY_SUBJECT_MAX + 1];
    for (size_t i = 0; i < count; i++) {
        const fdy_store_item_t *item = &items[i];
        if (item->duplicate || item->seq == 0)
            continue;
        fdy_slice_t slice;
        if (!fdy_codec_msg_subject(item->data, item->data_len, &slice) ||
            slice.len > FOUNDRY_SUBJECT_MAX)
            continue; /* validated when published: cannot happen */
        memcpy(subject, slice.data, slice.len);
        subject[slice.len] = '\0';
        if (!name || name_id != item->stream_id) {
            name = fdy_store_stream_name(self->store, item->stream_id);
            name_id = item->stream_id;
        }
        fdy_delivery_t d = {
            .stream = name ? name : "",
            .seq = item->seq,
            .delivery_count = 1,
            .stored_ns = stored_ns,
            .publisher = item->publisher,
            .message = item->data,
            .message_len = item->data_len,
            .ext = item->ext,
            .ext_len = item->ext_len,
        };
        self->shared.ready = false; /* a new item: encoded on its first put */
        for (size_t k = 0; k < self->count; k++) {
            fdy_sub_t *sub = self->subs_list[k];
            if (!fdy_subject_matches(sub->filter, subject))
                continue;
            if (fdy_subs_has_credit(sub))
                fdy_subs_put_shared(self->subs, sub, &d, &self->shared);
            else
                fdy_subs_count_drop(self->subs, sub);
        }
    }
    fdy_subs_flush(self->subs);
}
