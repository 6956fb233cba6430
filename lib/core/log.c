/*  log.c: the log sink (one of the two allowed globals) and the per-id rate
 *  limiter for warnings a peer can trigger. Formatting happens only for
 *  messages that pass the level check in the log.h macros.
 */
#include "log.h"

#include "clock.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int fdy_log_threshold = -1;
static fdy_log_sink_fn *s_sink;
static void *s_sink_user;

/* Rate limiter slots, keyed by message id pointer hash. A collision only
 * makes two ids share one budget. Every thread that logs shares them
 * (libfoundry's clients may each run on their own thread), so they are only
 * read and written under s_limits_lock. */
#define LIMIT_SLOTS 64
typedef struct {
    const char *id;
    int64_t second;
    unsigned passed;
    unsigned dropped;
} s_limit_t;
static s_limit_t s_limits[LIMIT_SLOTS];
static pthread_mutex_t s_limits_lock = PTHREAD_MUTEX_INITIALIZER;

void
fdy_log_set_sink(fdy_log_sink_fn *fn, int max_level, void *user)
{
    s_sink = fn;
    s_sink_user = user;
    fdy_log_threshold = fn ? max_level : -1;
}

static const char *
s_level_name(int level)
{
    switch (level) {
    case FDY_LOG_ERR: return "ERR";
    case FDY_LOG_WARN: return "WARN";
    case FDY_LOG_NOTICE: return "NOTICE";
    case FDY_LOG_INFO: return "INFO";
    default: return "DEBUG";
    }
}

static void
s_stderr_sink(int level, const char *id, const char *line, void *user)
{
    (void) user;
    fprintf(stderr, "%s %s %s\n", s_level_name(level), id, line);
}

void
fdy_log_to_stderr(int max_level)
{
    fdy_log_set_sink(s_stderr_sink, max_level, NULL);
}

foundry_err
fdy_log_level_parse(const char *text, int *level_out)
{
    static const char *names[] = {"err", "warn", "notice", "info", "debug"};
    for (int i = 0; i < 5; i++) {
        if (strcasecmp(text, names[i]) == 0) {
            *level_out = FDY_LOG_ERR + i;
            return FOUNDRY_OK;
        }
    }
    if (strcasecmp(text, "error") == 0 || strcasecmp(text, "warning") == 0) {
        *level_out = text[0] == 'e' || text[0] == 'E' ? FDY_LOG_ERR : FDY_LOG_WARN;
        return FOUNDRY_OK;
    }
    if (text[0] >= '3' && text[0] <= '7' && text[1] == '\0') {
        *level_out = text[0] - '0';
        return FOUNDRY_OK;
    }
    return FOUNDRY_EINVAL;
}

static void
s_vwrite(int level, const char *id, const char *fmt, va_list args)
{
    if (!s_sink || level > fdy_log_threshold)
        return;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, args);
    s_sink(level, id, line, s_sink_user);
}

void
fdy_log_write(int level, const char *id, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    s_vwrite(level, id, fmt, args);
    va_end(args);
}

void
fdy_log_limited(int level, const char *id, const char *fmt, ...)
{
    size_t slot = ((uintptr_t) id >> 3) % LIMIT_SLOTS;
    int64_t second = fdy_clock_mono_ms() / 1000;
    unsigned suppressed = 0;
    /* Only the decision is taken under the lock: the lines are formatted and
     * handed to the sink after it, so a slow sink never holds up another
     * thread's limiter, and a sink that logs cannot deadlock. */
    pthread_mutex_lock(&s_limits_lock);
    s_limit_t *limit = &s_limits[slot];
    /* A reading older than the slot's second (a thread that read the clock
     * just before it turned, then waited for the lock) counts in the current
     * second: going back would restart that second's budget. */
    if (limit->id != id || second > limit->second) {
        suppressed = limit->id == id ? limit->dropped : 0;
        *limit = (s_limit_t){.id = id, .second = second};
    }
    bool pass = limit->passed < FDY_LOG_LIMIT_PER_SECOND;
    if (pass)
        limit->passed++;
    else
        limit->dropped++;
    pthread_mutex_unlock(&s_limits_lock);

    if (suppressed)
        fdy_log_write(level, id, "(%u similar lines suppressed)", suppressed);
    if (!pass)
        return;
    va_list args;
    va_start(args, fmt);
    s_vwrite(level, id, fmt, args);
    va_end(args);
}
