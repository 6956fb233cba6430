/*  arena.c: a bump allocator with a hard byte budget, for decoding untrusted
 *  frames (codec.c) and freeing the result in one call. Not a general
 *  allocator: nothing is freed individually, and it is not thread-safe.
 */
#include "arena.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

#define ARENA_ALIGN 16u
/* First block size; later blocks double up to ARENA_BLOCK_MAX, so a large
 * decode costs a few mallocs, not one per allocation. */
#define ARENA_BLOCK_MIN (4u * 1024u)
#define ARENA_BLOCK_MAX (1024u * 1024u)
/* A reset keeps at most one block of this size, so one huge frame does not
 * pin its memory for the life of the arena. */
#define ARENA_KEEP_MAX (4u * 1024u * 1024u)

typedef struct s_block {
    struct s_block *next;
    size_t size; /* usable bytes at data */
    size_t used;
    unsigned char *data; /* ARENA_ALIGN-aligned, inside this allocation */
} s_block_t;

struct fdy_arena {
    s_block_t *head; /* block being filled; older blocks follow */
    size_t budget;
    size_t used;      /* bytes handed out since the last reset */
    size_t next_size; /* size of the next block to malloc */
};

static s_block_t *
s_block_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(s_block_t) - ARENA_ALIGN)
        return NULL;
    s_block_t *block = malloc(sizeof(s_block_t) + ARENA_ALIGN + size);
    if (!block)
        return NULL;
    uintptr_t start = (uintptr_t) (block + 1);
    start = (start + ARENA_ALIGN - 1) & ~(uintptr_t) (ARENA_ALIGN - 1);
    block->next = NULL;
    block->size = size;
    block->used = 0;
    block->data = (unsigned char *) start;
    return block;
}

fdy_arena_t *
fdy_arena_new(size_t budget)
{
    fdy_arena_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->budget = budget;
    self->next_size = ARENA_BLOCK_MIN;
    return self;
}

void
fdy_arena_destroy(fdy_arena_t **self_p)
{
    assert(self_p);
    fdy_arena_t *self = *self_p;
    if (!self)
        return;
    s_block_t *block = self->head;
    while (block) {
        s_block_t *next = block->next;
        free(block);
        block = next;
    }
    free(self);
    *self_p = NULL;
}

void *
fdy_arena_alloc(fdy_arena_t *self, size_t size)
{
    assert(self);
    /* protobuf-c may ask for 0 bytes; a NULL would read as a failure. */
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - ARENA_ALIGN)
        return NULL;
    size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t) (ARENA_ALIGN - 1);
    if (rounded > self->budget || self->used > self->budget - rounded)
        return NULL;

    s_block_t *block = self->head;
    if (!block || block->size - block->used < rounded) {
        /* Never malloc much more than the budget still allows: a small
         * budget should mean a small arena. */
        size_t size_new = self->next_size;
        size_t left = self->budget - self->used;
        if (size_new > left)
            size_new = left;
        if (size_new < rounded)
            size_new = rounded;
        block = s_block_new(size_new);
        if (!block)
            return NULL;
        block->next = self->head;
        self->head = block;
        if (self->next_size < ARENA_BLOCK_MAX)
            self->next_size *= 2;
    }
    void *ptr = block->data + block->used;
    block->used += rounded;
    self->used += rounded;
    return ptr;
}

void
fdy_arena_reset(fdy_arena_t *self, size_t budget)
{
    assert(self);
    /* Keep the largest block that is not too large: the next frame is
     * probably about the size of this one. */
    s_block_t *keep = NULL;
    for (s_block_t *block = self->head; block; block = block->next)
        if (block->size <= ARENA_KEEP_MAX && (!keep || block->size > keep->size))
            keep = block;
    s_block_t *block = self->head;
    while (block) {
        s_block_t *next = block->next;
        if (block != keep)
            free(block);
        block = next;
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    self->head = keep;
    self->budget = budget;
    self->used = 0;
    self->next_size = keep && keep->size > ARENA_BLOCK_MIN ? keep->size : ARENA_BLOCK_MIN;
}

size_t
fdy_arena_used(const fdy_arena_t *self)
{
    assert(self);
    return self->used;
}
