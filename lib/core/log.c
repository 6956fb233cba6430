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
#include <time.h>

int fdy_log_threshold = -1;
static fdy_log_sink_fn *s_sink;
static void *s_sink_user;
/* The stderr sink's format: its user pointer points at one of these. */
static const int s_formats[] = {FDY_LOG_FORMAT_TEXT, FDY_LOG_FORMAT_JSON};
/* Per thread, so a client library thread never tags another's lines. */
static _Thread_local const char *s_principal;

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

void
fdy_log_set_principal(const char *name)
{
    s_principal = name;
}

foundry_err
fdy_log_format_parse(const char *text, int *format_out)
{
    if (strcmp(text, "text") == 0)
        *format_out = FDY_LOG_FORMAT_TEXT;
    else if (strcmp(text, "json") == 0)
        *format_out = FDY_LOG_FORMAT_JSON;
    else
        return FOUNDRY_EINVAL;
    return FOUNDRY_OK;
}

/* 2026-12-02T18:15:00.123Z */
static void
s_timestamp(char out[32])
{
    uint64_t ns = fdy_clock_wall_ns();
    time_t secs = (time_t) (ns / 1000000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03uZ", (unsigned) (ns / 1000000u % 1000u));
}

/* JSON string body (no quotes) into out, truncated to fit. */
static void
s_json_escape(const char *text, char *out, size_t size)
{
    size_t used = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p && used + 7 < size; p++) {
        if (*p == '"' || *p == '\\') {
            out[used++] = '\\';
            out[used++] = (char) *p;
        }
        else if (*p < 0x20)
            used += (size_t) snprintf(out + used, size - used, "\\u%04x", *p);
        else
            out[used++] = (char) *p;
    }
    out[used] = '\0';
}

static void
s_level_lower(int level, char out[8])
{
    const char *name = s_level_name(level);
    size_t i = 0;
    for (; name[i] && i < 7; i++)
        out[i] = (char) (name[i] | 0x20);
    out[i] = '\0';
}

/* One write per line, so lines from several threads never interleave. */
static void
s_stderr_sink(int level, const char *id, const char *line, void *user)
{
    int format = user ? *(const int *) user : FDY_LOG_FORMAT_TEXT;
    char ts[32];
    s_timestamp(ts);
    char out[4096];
    if (format == FDY_LOG_FORMAT_JSON) {
        char msg[2600], who[400], lower[8];
        s_json_escape(line, msg, sizeof msg);
        s_level_lower(level, lower);
        if (s_principal)
            s_json_escape(s_principal, who, sizeof who);
        snprintf(out, sizeof out, "{\"ts\":\"%s\",\"level\":\"%s\",\"id\":\"%s\",\"msg\":\"%s\"%s%s%s}\n",
                 ts, lower, id, msg, s_principal ? ",\"principal\":\"" : "",
                 s_principal ? who : "", s_principal ? "\"" : "");
    }
    else {
        snprintf(out, sizeof out, "%s %s %s %s%s%s\n", ts, s_level_name(level), id, line,
                 s_principal ? " principal=" : "", s_principal ? s_principal : "");
    }
    fputs(out, stderr);
}

void
fdy_log_to_stderr(int max_level)
{
    fdy_log_to_stderr_as(max_level, FDY_LOG_FORMAT_TEXT);
}

void
fdy_log_to_stderr_as(int max_level, int format)
{
    fdy_log_set_sink(s_stderr_sink, max_level,
                     (void *) &s_formats[format == FDY_LOG_FORMAT_JSON ? 1 : 0]);
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
