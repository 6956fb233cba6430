/*  clock.h: the two clocks. Wall time for stored timestamps, monotonic time
 *  for deadlines and latency (never goes backwards).
 */
#ifndef FDY_CLOCK_H_INCLUDED
#define FDY_CLOCK_H_INCLUDED

#include <stdint.h>

/* Nanoseconds since the Unix epoch (CLOCK_REALTIME). */
uint64_t fdy_clock_wall_ns(void);
/* Nanoseconds of CLOCK_MONOTONIC. */
uint64_t fdy_clock_mono_ns(void);
/* Milliseconds of CLOCK_MONOTONIC. */
int64_t fdy_clock_mono_ms(void);

#endif
