/*  commit_floor.h: the floor under a window-1 publish: a raw libzmq CURVE
 *  round trip, alone and with the disk work of one LMDB commit, measured in
 *  the same run as the broker so the window-1 figure can be read as a
 *  ratio to what this machine's transport and disk allow.
 */
#ifndef FDY_COMMIT_FLOOR_H_INCLUDED
#define FDY_COMMIT_FLOOR_H_INCLUDED

#include "foundry.h"

#include <stddef.h>

/* What the ROUTER does before each reply. */
typedef enum {
    FDY_FLOOR_NONE,   /* nothing: the transport alone */
    FDY_FLOOR_DATA,   /* FDY_FLOOR_PAGES page writes, then fdatasync: one flush */
    FDY_FLOOR_COMMIT, /* that, then the meta write through O_DSYNC: two flushes */
} fdy_floor_disk_t;

/* 4 KiB pages a window-1 publish's commit writes (strace of the broker:
 * the stream's B-tree path, the catalog, the free list). */
#define FDY_FLOOR_PAGES 7

typedef struct {
    double p50_ms, p99_ms;
} fdy_floor_figures_t;

/* count round trips of payload_size bytes from a DEALER thread to a ROUTER
 * echo with CURVE on loopback, one at a time, after one untimed warm-up;
 * with disk work, on a preallocated 8 MiB file in dir (removed after).
 * Returns FOUNDRY_OK, or FOUNDRY_EIO having printed why. */
foundry_err fdy_commit_floor_run(const char *dir, size_t count, size_t payload_size,
                                 fdy_floor_disk_t disk, fdy_floor_figures_t *out);

#endif
