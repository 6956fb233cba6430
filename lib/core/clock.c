/*  clock.c: wall and monotonic clocks in one place, so tests and the bench
 *  measure with the same functions the daemons use.
 */
#include "clock.h"

#include <time.h>

static uint64_t
s_read(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

uint64_t
fdy_clock_wall_ns(void)
{
    return s_read(CLOCK_REALTIME);
}

uint64_t
fdy_clock_mono_ns(void)
{
    return s_read(CLOCK_MONOTONIC);
}

int64_t
fdy_clock_mono_ms(void)
{
    return (int64_t) (s_read(CLOCK_MONOTONIC) / 1000000u);
}
