/*  outbox_acks.c: acknowledged outbox entries waiting for their delete
 *  (outbox_acks.h): a sorted array of disjoint seq ranges, and the two-slot
 *  file written in place that makes them survive a restart. Not for the
 *  deletes themselves (outbox.c applies the ranges in its transactions).
 *
 *  Slot (4096 bytes, u32/u64 LE): magic "FACK" | crc32c over bytes 8.. |
 *  generation | epoch | count | reserved | count x (first seq, last seq).
 */
#include "outbox_acks.h"

#include "bytes.h"
#include "crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_MAGIC    0x4b434146u /* "FACK" */
#define S_HEADER   32u
#define S_FILE_LEN (2u * FDY_OUTBOX_ACKS_SLOT_LEN)

typedef struct {
    uint64_t first, last;
} s_range_t;

struct fdy_outbox_acks {
    s_range_t *ranges; /* sorted, disjoint, never adjacent */
    size_t count, cap;
    uint64_t version; /* bumped by every change */
    int fd;           /* -1: no file */
    uint64_t epoch;
    uint64_t generation;    /* of the newest slot in the file */
    uint64_t saved_version; /* the version the file holds */
    size_t saved_count;
};

fdy_outbox_acks_t *
fdy_outbox_acks_new(void)
{
    fdy_outbox_acks_t *self = calloc(1, sizeof *self);
    if (self)
        self->fd = -1;
    return self;
}

void
fdy_outbox_acks_destroy(fdy_outbox_acks_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdy_outbox_acks_t *self = *self_p;
    if (self->fd >= 0)
        close(self->fd);
    free(self->ranges);
    free(self);
    *self_p = NULL;
}

/* ---- the set ------------------------------------------------------------ */

/* First range whose last + 1 >= seq: the one that holds seq, could take it
 * at its end, or comes after it. */
static size_t
s_find(const fdy_outbox_acks_t *self, uint64_t seq)
{
    size_t lo = 0, hi = self->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->ranges[mid].last + 1 < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

foundry_err
fdy_outbox_acks_add(fdy_outbox_acks_t *self, uint64_t seq)
{
    size_t i = s_find(self, seq);
    s_range_t *r = i < self->count ? &self->ranges[i] : NULL;
    if (r && r->first <= seq && seq <= r->last)
        return FOUNDRY_OK;
    self->version++;
    if (r && seq == r->last + 1) {
        r->last = seq;
        if (i + 1 < self->count && self->ranges[i + 1].first == seq + 1) {
            r->last = self->ranges[i + 1].last;
            memmove(r + 1, r + 2, (self->count - i - 2) * sizeof *r);
            self->count--;
        }
        return FOUNDRY_OK;
    }
    if (r && seq + 1 == r->first) {
        r->first = seq; /* the range before ends below seq - 1: s_find */
        return FOUNDRY_OK;
    }
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        s_range_t *grown = realloc(self->ranges, cap * sizeof *grown);
        if (!grown) {
            self->version--;
            return FOUNDRY_ENOMEM;
        }
        self->ranges = grown;
        self->cap = cap;
    }
    memmove(&self->ranges[i + 1], &self->ranges[i], (self->count - i) * sizeof *self->ranges);
    self->ranges[i] = (s_range_t){seq, seq};
    self->count++;
    return FOUNDRY_OK;
}

bool
fdy_outbox_acks_empty(const fdy_outbox_acks_t *self)
{
    return self->count == 0;
}

uint64_t
fdy_outbox_acks_skip(const fdy_outbox_acks_t *self, uint64_t seq)
{
    size_t i = s_find(self, seq);
    if (i < self->count && self->ranges[i].first <= seq && seq <= self->ranges[i].last)
        return self->ranges[i].last + 1;
    return seq;
}

size_t
fdy_outbox_acks_range_count(const fdy_outbox_acks_t *self)
{
    return self->count;
}

void
fdy_outbox_acks_range(const fdy_outbox_acks_t *self, size_t index, uint64_t *first_out,
                      uint64_t *last_out)
{
    *first_out = self->ranges[index].first;
    *last_out = self->ranges[index].last;
}

void
fdy_outbox_acks_forget_below(fdy_outbox_acks_t *self, uint64_t seq)
{
    size_t gone = 0;
    while (gone < self->count && self->ranges[gone].last < seq)
        gone++;
    if (gone == 0 && (self->count == 0 || self->ranges[0].first >= seq))
        return;
    self->version++;
    memmove(self->ranges, self->ranges + gone, (self->count - gone) * sizeof *self->ranges);
    self->count -= gone;
    if (self->count && self->ranges[0].first < seq)
        self->ranges[0].first = seq;
}

/* ---- the file ----------------------------------------------------------- */

size_t
fdy_outbox_acks_saved(const fdy_outbox_acks_t *self)
{
    return self->fd >= 0 ? self->saved_count : 0;
}

/* Creates the file whole, so a later save overwrites blocks it owns, and
 * syncs its directory so it is there after a crash. */
static foundry_err
s_create(int fd, const char *path, fdy_reason_t *reason)
{
    static const uint8_t zeros[S_FILE_LEN];
    if (pwrite(fd, zeros, sizeof zeros, 0) != (ssize_t) sizeof zeros || fsync(fd) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot write %s: %s", path, strerror(errno));
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd >= 0) {
            (void) fsync(dir_fd);
            close(dir_fd);
        }
    }
    return FOUNDRY_OK;
}

/* The slot's ranges when it is valid for self->epoch; returns its count or
 * -1. */
static long
s_slot_parse(const fdy_outbox_acks_t *self, const uint8_t *slot, uint64_t *generation_out)
{
    if (fdy_bytes_get_le32(slot) != S_MAGIC)
        return -1;
    if (fdy_crc32c(0, slot + 8, FDY_OUTBOX_ACKS_SLOT_LEN - 8) != fdy_bytes_get_le32(slot + 4))
        return -1;
    uint32_t count = fdy_bytes_get_le32(slot + 24);
    if (fdy_bytes_get_le64(slot + 16) != self->epoch || count > FDY_OUTBOX_ACKS_FILE_RANGES)
        return -1;
    *generation_out = fdy_bytes_get_le64(slot + 8);
    return (long) count;
}

foundry_err
fdy_outbox_acks_attach(fdy_outbox_acks_t *self, const char *path, uint64_t epoch,
                       fdy_reason_t *reason)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    foundry_err err = FOUNDRY_OK;
    if (fstat(fd, &st) != 0)
        err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot stat %s: %s", path, strerror(errno));
    else if (st.st_size < (off_t) S_FILE_LEN)
        err = s_create(fd, path, reason);
    static uint8_t file[S_FILE_LEN];
    if (err == FOUNDRY_OK && pread(fd, file, sizeof file, 0) != (ssize_t) sizeof file)
        err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot read %s: %s", path, strerror(errno));
    if (err != FOUNDRY_OK) {
        close(fd);
        return err;
    }
    self->fd = fd;
    self->epoch = epoch;
    long best = -1;
    const uint8_t *best_slot = NULL;
    for (unsigned i = 0; i < 2; i++) {
        uint64_t generation = 0;
        const uint8_t *slot = file + i * FDY_OUTBOX_ACKS_SLOT_LEN;
        long count = s_slot_parse(self, slot, &generation);
        if (count >= 0 && (!best_slot || generation > self->generation)) {
            best = count;
            best_slot = slot;
            self->generation = generation;
        }
    }
    /* A saved set was a valid one: sorted and disjoint, taken as it is
     * (attach comes before any add). */
    if (best > 0 && self->count == 0) {
        s_range_t *ranges = calloc((size_t) best, sizeof *ranges);
        if (!ranges)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
        size_t kept = 0;
        for (long k = 0; k < best; k++) {
            uint64_t first = fdy_bytes_get_le64(best_slot + S_HEADER + 16 * k);
            uint64_t last = fdy_bytes_get_le64(best_slot + S_HEADER + 16 * k + 8);
            if (first <= last && (kept == 0 || first > ranges[kept - 1].last + 1))
                ranges[kept++] = (s_range_t){first, last};
        }
        free(self->ranges);
        self->ranges = ranges;
        self->count = kept;
        self->cap = (size_t) best;
        self->version++;
    }
    self->saved_count = best > 0 ? (size_t) best : 0;
    self->saved_version = self->version;
    return FOUNDRY_OK;
}

foundry_err
fdy_outbox_acks_save(fdy_outbox_acks_t *self, fdy_reason_t *reason)
{
    if (self->fd < 0 || self->saved_version == self->version)
        return FOUNDRY_OK;
    static uint8_t slot[FDY_OUTBOX_ACKS_SLOT_LEN];
    memset(slot, 0, sizeof slot);
    size_t count =
        self->count < FDY_OUTBOX_ACKS_FILE_RANGES ? self->count : FDY_OUTBOX_ACKS_FILE_RANGES;
    uint64_t generation = self->generation + 1;
    fdy_bytes_put_le32(slot, S_MAGIC);
    fdy_bytes_put_le64(slot + 8, generation);
    fdy_bytes_put_le64(slot + 16, self->epoch);
    fdy_bytes_put_le32(slot + 24, (uint32_t) count);
    for (size_t k = 0; k < count; k++) {
        fdy_bytes_put_le64(slot + S_HEADER + 16 * k, self->ranges[k].first);
        fdy_bytes_put_le64(slot + S_HEADER + 16 * k + 8, self->ranges[k].last);
    }
    fdy_bytes_put_le32(slot + 4, fdy_crc32c(0, slot + 8, sizeof slot - 8));
    /* The other slot stays valid until this one is durable. */
    off_t at = (off_t) (generation % 2) * FDY_OUTBOX_ACKS_SLOT_LEN;
    if (pwrite(self->fd, slot, sizeof slot, at) != (ssize_t) sizeof slot ||
        fdatasync(self->fd) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot save the acknowledged entries: %s",
                              strerror(errno));
    self->generation = generation;
    self->saved_version = self->version;
    self->saved_count = count;
    return FOUNDRY_OK;
}
