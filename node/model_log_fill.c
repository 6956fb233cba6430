/*  model_log_fill.c: collecting the release-log entries a notice lacks
 *  (see model_log_fill.h). */
#include "model_log_fill.h"

#include "codec.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fdy_model_log_fill {
    char name[FDY_MODEL_NAME_MAX + 1];
    uint64_t rollout_id;
    uint8_t *notice; /* encoded */
    size_t notice_len;
    uint64_t first;                    /* index of the notice's first entry */
    uint64_t next;                     /* the next index wanted; == first once filled */
    fdy_model_signed_entry_t *entries; /* entry bytes malloc'd each */
    size_t count, capacity;
    fdy_model_signed_entry_t *combined;
};

/* The index and name of a signed entry, or false when it does not decode. */
static bool
s_entry_head(const fdy_model_signed_entry_t *e, fdy_arena_t *arena, fdy_model_entry_t *out,
             fdy_reason_t *reason)
{
    return fdy_codec_model_entry_decode(e->entry, e->entry_len, arena, out, reason) == FOUNDRY_OK;
}

bool
fdy_model_log_first(const fdy_model_notice_t *notice, fdy_arena_t *arena, const char **name_out,
                    uint64_t *first_out)
{
    if (notice->cancel || notice->entry_count == 0)
        return false;
    fdy_model_entry_t first;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (!s_entry_head(&notice->entries[0], arena, &first, &why) || !first.name)
        return false;
    *name_out = first.name;
    *first_out = first.index;
    return true;
}

fdy_model_log_fill_t *
fdy_model_log_fill_new(const fdy_model_notice_t *notice, const char *name, uint64_t held_index,
                       fdy_reason_t *reason)
{
    fdy_model_log_fill_t *self = fdy_xalloc(sizeof *self);
    snprintf(self->name, sizeof self->name, "%s", name);
    self->rollout_id = notice->rollout_id;
    self->next = held_index + 1;
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(notice->entries[0].entry_len));
    fdy_model_entry_t first;
    if (!arena || !s_entry_head(&notice->entries[0], arena, &first, reason) ||
        fdy_codec_model_notice_encode(notice, &self->notice, &self->notice_len, reason) !=
            FOUNDRY_OK) {
        fdy_arena_destroy(&arena);
        fdy_model_log_fill_destroy(&self);
        return NULL;
    }
    self->first = first.index;
    fdy_arena_destroy(&arena);
    return self;
}

void
fdy_model_log_fill_destroy(fdy_model_log_fill_t **self_p)
{
    fdy_model_log_fill_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        free((void *) self->entries[i].entry);
    free(self->entries);
    free(self->combined);
    free(self->notice);
    free(self);
    *self_p = NULL;
}

const char *
fdy_model_log_fill_name(const fdy_model_log_fill_t *self)
{
    return self->name;
}

uint64_t
fdy_model_log_fill_rollout(const fdy_model_log_fill_t *self)
{
    return self->rollout_id;
}

uint64_t
fdy_model_log_fill_next(const fdy_model_log_fill_t *self)
{
    return self->next >= self->first ? 0 : self->next;
}

foundry_err
fdy_model_log_fill_add(fdy_model_log_fill_t *self, const fdy_model_signed_entry_t *entries,
                       size_t count, fdy_arena_t *arena, fdy_reason_t *reason)
{
    if (count == 0 && self->next < self->first)
        return fdy_reason_set(reason, FOUNDRY_EDENIED,
                              "release log of %s: the broker has no entry %" PRIu64
                              " though its notice starts at %" PRIu64,
                              self->name, self->next, self->first);
    for (size_t i = 0; i < count && self->next < self->first; i++) {
        fdy_model_entry_t e;
        fdy_reason_t why;
        fdy_reason_clear(&why);
        if (!s_entry_head(&entries[i], arena, &e, &why))
            return fdy_reason_set(reason, FOUNDRY_EPROTO,
                                  "release log of %s: entry does not decode: %s", self->name,
                                  why.text);
        if (e.index != self->next || !e.name || strcmp(e.name, self->name) != 0)
            return fdy_reason_set(reason, FOUNDRY_EDENIED,
                                  "release log of %s: got entry %" PRIu64 " of %s, wanted %" PRIu64,
                                  self->name, e.index, e.name ? e.name : "", self->next);
        if (self->count == FDY_MODEL_LOG_FILL_MAX)
            return fdy_reason_set(reason, FOUNDRY_EDENIED,
                                  "release log of %s: this node is more than %u entries behind",
                                  self->name, FDY_MODEL_LOG_FILL_MAX);
        self->entries =
            fdy_xgrow(self->entries, &self->capacity, self->count + 1, sizeof *self->entries);
        fdy_model_signed_entry_t *copy = &self->entries[self->count++];
        uint8_t *bytes = fdy_xalloc(entries[i].entry_len ? entries[i].entry_len : 1);
        memcpy(bytes, entries[i].entry, entries[i].entry_len);
        copy->entry = bytes;
        copy->entry_len = entries[i].entry_len;
        memcpy(copy->sig, entries[i].sig, sizeof copy->sig);
        self->next++;
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_model_log_fill_notice(fdy_model_log_fill_t *self, fdy_arena_t *arena, fdy_model_notice_t *out,
                          fdy_reason_t *reason)
{
    if (self->next < self->first)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "release log of %s: not filled yet",
                              self->name);
    foundry_err err =
        fdy_codec_model_notice_decode(self->notice, self->notice_len, arena, out, reason);
    if (err != FOUNDRY_OK)
        return err;
    free(self->combined);
    size_t total = self->count + out->entry_count;
    self->combined = fdy_xalloc(total * sizeof *self->combined);
    memcpy(self->combined, self->entries, self->count * sizeof *self->combined);
    memcpy(self->combined + self->count, out->entries, out->entry_count * sizeof *out->entries);
    out->entries = self->combined;
    out->entry_count = total;
    return FOUNDRY_OK;
}
