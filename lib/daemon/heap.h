/*  heap.h: keeps a daemon's heap from holding on to what a burst took.
 *  glibc raises its mmap threshold after the first large free (up to
 *  32 MiB), after which 1 MiB messages come from the heap and their pages
 *  stay with the process; and freed heap pages below the top are kept
 *  until a trim. Both would let one misbehaving client leave the broker
 *  hundreds of MB bigger after it left.
 */
#ifndef FDY_HEAP_H_INCLUDED
#define FDY_HEAP_H_INCLUDED

#include <stdint.h>

/* Fixes the mmap threshold at 2 MiB: bigger buffers (large messages,
 * model chunks above the default size) are mapped on their own and
 * unmapped when freed. And the trim threshold at 64 MiB, so a freed 1 MiB
 * buffer's pages serve the next one instead of being returned and faulted
 * in again; fdy_heap_maintain()'s trims return them after a burst. Call
 * once at start (broker and agent). */
void fdy_heap_bound(void);

/* Something big went away (a peer with its queues): trim the heap at the
 * next fdy_heap_maintain, at most once a second. Not thread-safe: the
 * daemon's main thread only. */
void fdy_heap_trim_soon(void);

/* Trims when one is due; returns in how many ms to call again (-1: none
 * pending). */
int64_t fdy_heap_maintain(int64_t now_ms);

#endif
