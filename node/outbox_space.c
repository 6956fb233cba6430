/*  outbox_space.c: the outbox's disk reserve (outbox_space.h): estimates of
 *  the pages LMDB takes for an append or a delete, allocating the data file
 *  ahead in chunks, and admitting appends only above the reserve. Not for
 *  the entries themselves (outbox.c).
 *
 *  The estimates are upper bounds of LMDB 0.9's page use: a small value is
 *  a node in a leaf page (MDB_APPEND fills them), a value over node_max
 *  gets overflow pages of its own. An estimate that is too low costs one
 *  turn's appends (their commit fails and they are counted lost); the
 *  deletes are then tried alone.
 */
#include "outbox_space.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

/* Pages any write transaction may take besides its entries' own: copied
 * branch paths of three trees, and the free list's record. */
#define S_TXN_PAGES 16u
/* A leaf node's header and its index slot. */
#define S_NODE_OVERHEAD (8u + 2u)
#define S_KEY_LEN       8u
#define S_PAGE_HEADER   16u
#define S_RESERVE_MIN   (1ull << 20)
#define S_RESERVE_MAX   (16ull << 20)

static uint64_t
s_round_up(uint64_t value, uint64_t to)
{
    return (value + to - 1) / to * to;
}

static uint64_t
s_min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static uint64_t
s_put_bytes(const fdy_outbox_space_t *self, size_t value_len)
{
    uint64_t node = S_NODE_OVERHEAD + S_KEY_LEN + value_len;
    if (node <= self->node_max)
        return node;
    return s_round_up(value_len + S_PAGE_HEADER, self->page_size) + S_NODE_OVERHEAD + S_KEY_LEN +
           8u; /* the node in the leaf holds the overflow page number */
}

/* Bytes the open transaction must leave allocated after growth. */
static uint64_t
s_need(const fdy_outbox_space_t *self, uint64_t growth)
{
    return self->used + S_TXN_PAGES * self->page_size + growth + self->reserve;
}

static bool
s_room(const fdy_outbox_space_t *self, uint64_t growth)
{
    uint64_t allocated = fdy_kv_allocated_bytes(self->kv);
    /* Up to the map everything has its blocks: LMDB cannot write beyond
     * it (MAP_FULL comes first, and the bound keeps well below it). */
    if (self->no_reserve || allocated >= self->map_size)
        return true;
    /* Half of the free list only: an overflow value needs a run of
     * adjacent free pages, which LMDB may not find. */
    uint64_t have = allocated + (self->full ? self->reusable / 2 : 0);
    return s_need(self, growth) <= have;
}

/* Allocates for growth plus the reserve, with slack, so this happens once
 * a chunk rather than once an append. Where the slack no longer fits, what
 * the disk has free is taken in one go instead: allocating only what this
 * append needs would make every later append allocate again, two
 * posix_fallocate calls each (on tmpfs each one walks every page of the
 * file, and a failing one holds the disk's last free blocks until it is
 * undone), which slows the intake to a crawl just as the disk fills.
 * Returns true when it did. */
static bool
s_allocate(fdy_outbox_space_t *self, uint64_t growth)
{
    uint64_t need = s_min(s_need(self, growth), self->map_size);
    uint64_t slack = self->used / 8 > self->reserve ? self->used / 8 : self->reserve;
    uint64_t ahead = s_min(need + slack, self->map_size);
    fdy_reason_t why;
    foundry_err err = fdy_kv_preallocate(self->kv, ahead, &why);
    if (err == FOUNDRY_EFULL && ahead > need) {
        /* Whole pages: the file's last one is allocated whatever its size. */
        uint64_t have = s_round_up(fdy_kv_allocated_bytes(self->kv), self->page_size);
        uint64_t room =
            s_min(have + fdy_kv_free_bytes(self->kv) / self->page_size * self->page_size, ahead);
        if (room > need && room < ahead)
            err = fdy_kv_preallocate(self->kv, room, &why);
        if (err == FOUNDRY_EFULL)
            err = fdy_kv_preallocate(self->kv, need, &why);
    }
    if (err == FOUNDRY_OK)
        return true;
    if (err == FOUNDRY_EFULL) {
        snprintf(self->reason, sizeof self->reason, "%s", why.text);
        return false;
    }
    /* Without allocation ahead the outbox works as LMDB alone would: a
     * full disk then fails whole commits (appends counted lost) and the
     * deletes are retried alone and kept in the acked file. */
    self->no_reserve = true;
    fdy_log_warn("OUTBOX-NO-RESERVE",
                 "%s: no disk reserve, acknowledged entries may not be "
                 "deleted on a full disk",
                 why.text);
    return true;
}

void
fdy_outbox_space_init(fdy_outbox_space_t *self, fdy_kv_t *kv, uint64_t max_bytes, uint64_t map_size)
{
    memset(self, 0, sizeof *self);
    self->kv = kv;
    self->page_size = fdy_kv_page_size(kv);
    /* LMDB: ((page - header) / MDB_MINKEYS) rounded to even, less an index. */
    self->node_max = (((self->page_size - S_PAGE_HEADER) / 2) & ~1ull) - 2;
    self->map_size = map_size;
    uint64_t reserve = max_bytes / 64;
    reserve = reserve < S_RESERVE_MIN ? S_RESERVE_MIN : reserve;
    reserve = reserve > S_RESERVE_MAX ? S_RESERVE_MAX : reserve;
    self->reserve = s_round_up(reserve, self->page_size);
    self->used = fdy_kv_used_bytes(kv);
    self->full = !s_allocate(self, 0);
}

void
fdy_outbox_space_begin(fdy_outbox_space_t *self)
{
    self->growth = 0;
    self->refused = false;
    if (!self->full || self->no_reserve)
        return;
    /* Full until what was refused fits again: the reserve alone fitting
     * says nothing, it is what the refusal left. */
    if (s_allocate(self, self->wanted)) {
        self->full = false;
        return;
    }
    fdy_reason_t why;
    if (fdy_kv_reusable_bytes(self->kv, &self->reusable, &why) != FOUNDRY_OK)
        self->reusable = 0;
}

foundry_err
fdy_outbox_space_admit(fdy_outbox_space_t *self, size_t value_len, fdy_reason_t *reason)
{
    uint64_t growth = self->growth + s_put_bytes(self, value_len);
    bool room = s_room(self, growth);
    if (!room && !self->refused)
        room = s_allocate(self, growth) && s_room(self, growth);
    if (!room) {
        if (!self->refused)
            self->wanted = growth;
        self->refused = true;
        self->full = true;
        return fdy_reason_set(reason, FOUNDRY_EFULL, "%s", self->reason);
    }
    self->growth = growth;
    return FOUNDRY_OK;
}

void
fdy_outbox_space_committed(fdy_outbox_space_t *self)
{
    self->used = fdy_kv_used_bytes(self->kv);
}

uint64_t
fdy_outbox_space_delete_cost(const fdy_outbox_space_t *self, size_t value_len)
{
    uint64_t node = S_NODE_OVERHEAD + S_KEY_LEN + value_len;
    if (node <= self->node_max)
        return node; /* its share of the copied leaf */
    /* The node's share, and the freed pages' ids on the free list (8 bytes
     * each; LMDB may write its record twice). */
    uint64_t pages = s_round_up(value_len + S_PAGE_HEADER, self->page_size) / self->page_size;
    return S_NODE_OVERHEAD + S_KEY_LEN + 8u + 16u * pages;
}

uint64_t
fdy_outbox_space_delete_budget(const fdy_outbox_space_t *self)
{
    return self->reserve / 4;
}

bool
fdy_outbox_space_full(const fdy_outbox_space_t *self)
{
    return self->full;
}
