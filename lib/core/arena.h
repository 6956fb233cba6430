/*  arena.h: a bump allocator with a hard byte budget. The codec unpacks
 *  untrusted protobuf into it: protobuf-c 1.4 can amplify some inputs many
 *  times over, so the budget caps what one frame can make us allocate, and
 *  freeing is one call for the whole decoded message.
 */
#ifndef FDY_ARENA_H_INCLUDED
#define FDY_ARENA_H_INCLUDED

#include <stddef.h>

typedef struct fdy_arena fdy_arena_t;

/* Returns a new arena that hands out at most `budget` bytes in total, or
 * NULL on out-of-memory. Caller owns; destroy with fdy_arena_destroy(). */
fdy_arena_t *fdy_arena_new(size_t budget);
void fdy_arena_destroy(fdy_arena_t **self_p);

/* Returns 16-byte aligned memory, or NULL when the budget or memory is
 * exhausted. Borrowed, valid until fdy_arena_reset() or destroy. */
void *fdy_arena_alloc(fdy_arena_t *self, size_t size);

/* Releases everything handed out, keeping one block for reuse, and sets a
 * new budget. */
void fdy_arena_reset(fdy_arena_t *self, size_t budget);

/* Bytes handed out since the last reset. */
size_t fdy_arena_used(const fdy_arena_t *self);

#endif
