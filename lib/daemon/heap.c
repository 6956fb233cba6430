/*  heap.c: glibc heap bounds for the daemons (see heap.h). */
#include "heap.h"

#include <malloc.h>
#include <stdbool.h>

/* Above a 1 MiB model chunk (the default) with its CURVE box: those
 * buffers come and go thousands of times a second during a rollout, and
 * mapping each one afresh (page faults, zeroing, munmap) cost the broker
 * about a third of its CPU per MiB served (docs/operations.md, "Model
 * rollout"). What a flood of 1 MiB publishes leaves in the heap goes back
 * at the trim after the peer leaves (test_bounds). */
#define MMAP_THRESHOLD (2 * 1024 * 1024)
/* Freeing a 1 MiB buffer at the top of a heap would otherwise hand its
 * pages back at once (the default trim threshold is 128 KiB), and the next
 * one faults them in zeroed again: in the ZeroMQ I/O threads, which
 * allocate every CURVE box, that was a fifth of their time during model
 * transfers. Pages held above the threshold still go back at the trims
 * fdy_heap_maintain() runs. */
#define TRIM_THRESHOLD (64 * 1024 * 1024)
#define TRIM_EVERY_MS 1000

static bool s_trim_pending;
static int64_t s_last_trim_ms = INT64_MIN / 2;

void
fdy_heap_bound(void)
{
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD);
}

void
fdy_heap_trim_soon(void)
{
    s_trim_pending = true;
}

int64_t
fdy_heap_maintain(int64_t now_ms)
{
    if (!s_trim_pending)
        return -1;
    int64_t due = s_last_trim_ms + TRIM_EVERY_MS;
    if (now_ms < due)
        return due - now_ms;
    malloc_trim(0);
    s_trim_pending = false;
    s_last_trim_ms = now_ms;
    return -1;
}
