/*  record_cache.c: a FIFO of record copies over one byte ring. Each entry
 *  holds publisher NUL data ext at some offset; entries are found by seq
 *  (the range is contiguous, so seq & mask indexes them). Room for a new
 *  record is made by dropping the oldest entries in its way. Not a general
 *  cache: no lookup by anything but seq, no eviction but age.
 */
#include "record_cache.h"

#include "log.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#define CACHE_BYTES      (8u * 1024u * 1024u)
#define CACHE_ENTRIES    32768u /* a power of two */
#define CACHE_RECORD_MAX (CACHE_BYTES / 16u)

typedef struct {
    uint64_t stored_ns;
    size_t off;
    uint32_t publisher_len; /* with its NUL */
    uint32_t data_len;
    uint32_t ext_len;
} entry_t;

struct fdy_record_cache {
    uint8_t *bytes;
    size_t write_pos;
    entry_t *entries;
    uint64_t first; /* seqs [first, first + count) are cached */
    uint64_t count;
};

fdy_record_cache_t *
fdy_record_cache_new(void)
{
    fdy_record_cache_t *self = fdy_xalloc(sizeof *self);
    /* Written before read: no zeroing, and no pages until used. */
    self->bytes = malloc(CACHE_BYTES);
    self->entries = malloc(CACHE_ENTRIES * sizeof *self->entries);
    if (!self->bytes || !self->entries) {
        fdy_log_err("OUT-OF-MEMORY", "record cache: out of memory; aborting");
        abort();
    }
    return self;
}

void
fdy_record_cache_destroy(fdy_record_cache_t **self_p)
{
    fdy_record_cache_t *self = *self_p;
    if (!self)
        return;
    free(self->bytes);
    free(self->entries);
    free(self);
    *self_p = NULL;
}

static entry_t *
s_entry(const fdy_record_cache_t *self, uint64_t seq)
{
    return &self->entries[seq & (CACHE_ENTRIES - 1)];
}

/* Where the next `need` bytes go, dropping the oldest entries in the way.
 * The entries occupy the ring from the oldest one's offset to write_pos,
 * possibly wrapping past the end. */
static size_t
s_room(fdy_record_cache_t *self, size_t need)
{
    for (;;) {
        if (self->count == 0) {
            self->write_pos = 0;
            return 0;
        }
        size_t oldest = s_entry(self, self->first)->off;
        if (oldest >= self->write_pos) {
            /* Wrapped: the free space lies between write_pos and the oldest. */
            if (self->write_pos + need <= oldest)
                return self->write_pos;
        } else {
            if (self->write_pos + need <= CACHE_BYTES)
                return self->write_pos;
            if (need <= oldest)
                return 0; /* wrap: the space before the oldest */
        }
        self->first++;
        self->count--;
    }
}

void
fdy_record_cache_put(fdy_record_cache_t *self, const fdy_stored_t *rec)
{
    /* Records before the end of the range (a reader far behind, or one
     * catching up into it) leave it alone: it serves the readers near the
     * head. One past the end extends it; a jump ahead starts it again. */
    if (self->count && rec->seq < self->first + self->count)
        return;
    size_t publisher_len = strlen(rec->publisher) + 1;
    size_t need = publisher_len + rec->data_len + rec->ext_len;
    if (need > CACHE_RECORD_MAX || (self->count && rec->seq != self->first + self->count))
        self->count = 0; /* the range stays contiguous */
    if (need > CACHE_RECORD_MAX)
        return;
    if (self->count == CACHE_ENTRIES) {
        self->first++;
        self->count--;
    }
    size_t pos = s_room(self, need);
    uint8_t *w = self->bytes + pos;
    memcpy(w, rec->publisher, publisher_len);
    if (rec->data_len)
        memcpy(w + publisher_len, rec->data, rec->data_len);
    if (rec->ext_len)
        memcpy(w + publisher_len + rec->data_len, rec->ext, rec->ext_len);
    if (self->count == 0)
        self->first = rec->seq;
    *s_entry(self, rec->seq) = (entry_t){
        .stored_ns = rec->stored_ns,
        .off = pos,
        .publisher_len = (uint32_t) publisher_len,
        .data_len = (uint32_t) rec->data_len,
        .ext_len = (uint32_t) rec->ext_len,
    };
    self->count++;
    self->write_pos = pos + need;
}

bool
fdy_record_cache_get(const fdy_record_cache_t *self, const char *stream, uint64_t seq,
                     fdy_stored_t *rec_out)
{
    if (self->count == 0 || seq < self->first || seq - self->first >= self->count)
        return false;
    const entry_t *e = s_entry(self, seq);
    const uint8_t *p = self->bytes + e->off;
    memset(rec_out, 0, sizeof *rec_out);
    rec_out->stream = stream;
    rec_out->seq = seq;
    rec_out->stored_ns = e->stored_ns;
    rec_out->publisher = (const char *) p;
    rec_out->data = p + e->publisher_len;
    rec_out->data_len = e->data_len;
    rec_out->ext = e->ext_len ? rec_out->data + e->data_len : NULL;
    rec_out->ext_len = e->ext_len;
    return true;
}
