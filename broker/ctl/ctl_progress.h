/*  ctl_progress.h: the progress of `foundryctl model push` on stderr
 *  (ctl_progress.c): on a terminal one line redrawn in place, a bar with
 *  the share done, MB/s and ETA; otherwise plain lines, at most one a
 *  second and one per tenth done, that logs and scripts can read.
 */
#ifndef FDY_CTL_PROGRESS_H_INCLUDED
#define FDY_CTL_PROGRESS_H_INCLUDED

#include "foundry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *out; /* borrowed */
    bool tty;
    int phase; /* the last phase shown; -1 none */
    int64_t phase_start_ms;
    int64_t last_ms;     /* when the last plain line was printed */
    unsigned last_tenth; /* tenths done at the last plain line */
    uint64_t phase_start_bytes;
    bool line_open; /* a terminal line without its newline */
} fdy_ctl_progress_t;

void fdy_ctl_progress_init(fdy_ctl_progress_t *self, FILE *out, bool tty);

/* Shows p at monotonic time now_ms (drawn or throttled). */
void fdy_ctl_progress_update(fdy_ctl_progress_t *self, const foundry_model_progress_t *p,
                             int64_t now_ms);

/* Ends an open terminal line. */
void fdy_ctl_progress_end(fdy_ctl_progress_t *self);

/* The text of one progress line, without newline: "<what> <pct>% <done>/<total>
 * MB [bar] <rate> MB/s ETA <m:ss>"; bar_width 0 leaves the bar out; rate
 * and ETA only when elapsed_ms > 0 and something was done. Returns buf. */
char *fdy_ctl_progress_format(char *buf, size_t cap, const char *what, uint64_t done,
                              uint64_t total, uint64_t moved, int64_t elapsed_ms, int bar_width);

#endif
