/*  log.h: leveled logging with stable message ids (docs/log-ids.md).
 *  The core library is silent until a sink is set: daemons call
 *  fdy_log_to_stderr(), libfoundry forwards to foundry_set_log_handler().
 */
#ifndef FDY_LOG_H_INCLUDED
#define FDY_LOG_H_INCLUDED

#include "reason.h"

typedef void(fdy_log_sink_fn)(int level, const char *id, const char *line, void *user);

/* The log sink is one of the two allowed globals (STYLE §10). Messages with
 * level <= fdy_log_threshold are formatted; others cost one comparison.
 *
 * Threads: the sink, its user pointer and the threshold are plain globals,
 * set once before use and then only read: fdy_log_set_sink() must not run
 * while another thread may log (daemons call it at start; libfoundry's
 * foundry_set_log_handler() says the same to applications). Everything else
 * here may be called from any number of threads at once, and then the sink
 * is too, so a sink must be thread-safe. */
extern int fdy_log_threshold;

/* Sets the sink and threshold; fn NULL silences everything. Not
 * thread-safe: see above. */
void fdy_log_set_sink(fdy_log_sink_fn *fn, int max_level, void *user);

/* Daemons: one line per message on stderr, for journald, in the text
 * format (fdy_log_to_stderr_as with FDY_LOG_FORMAT_TEXT). */
void fdy_log_to_stderr(int max_level);

/* Line formats (log_format = text | json):
 *   text: 2026-12-02T18:15:00.123Z NOTICE BROKER-READY serving on ... principal=name
 *   json: {"ts":"2026-12-02T18:15:00.123Z","level":"notice","id":"BROKER-READY",
 *          "msg":"serving on ...","principal":"name"}
 * The timestamp is UTC wall time in ms; principal= / "principal" is there
 * only on lines logged while a request is being handled (see
 * fdy_log_set_principal). Ids are stable (docs/log-ids.md). */
#define FDY_LOG_FORMAT_TEXT 0
#define FDY_LOG_FORMAT_JSON 1
void fdy_log_to_stderr_as(int max_level, int format);

/* Parses "text" or "json". Returns FOUNDRY_OK or FOUNDRY_EINVAL. */
foundry_err fdy_log_format_parse(const char *text, int *format_out);

/* The principal every line logged on this thread is about, until the next
 * call (NULL: none). name is borrowed and must stay valid until then; the
 * router sets it around each request's dispatch. Per thread. */
void fdy_log_set_principal(const char *name);

/* Parses "err", "warn", "notice", "info", "debug" (or 3..7).
 * Returns FOUNDRY_OK or FOUNDRY_EINVAL. */
foundry_err fdy_log_level_parse(const char *text, int *level_out);

void fdy_log_write(int level, const char *id, const char *fmt, ...) FDY_PRINTF(3, 4);

/* Like fdy_log_write, but at most FDY_LOG_LIMIT_PER_SECOND lines per
 * message id per second; the count of dropped lines is reported on the next
 * line that passes. For warnings a peer can trigger. Ids are compared by
 * pointer (pass a string literal). Thread-safe: the limit holds across all
 * threads together, and each call takes one short lock. */
#define FDY_LOG_LIMIT_PER_SECOND 10
void fdy_log_limited(int level, const char *id, const char *fmt, ...) FDY_PRINTF(3, 4);

#define FDY_LOG_ERR    3
#define FDY_LOG_WARN   4
#define FDY_LOG_NOTICE 5
#define FDY_LOG_INFO   6
#define FDY_LOG_DEBUG  7

#define fdy_log_err(id, ...)                                                                      \
    do {                                                                                          \
        if (FDY_LOG_ERR <= fdy_log_threshold)                                                     \
            fdy_log_write(FDY_LOG_ERR, id, __VA_ARGS__);                                          \
    } while (0)
#define fdy_log_warn(id, ...)                                                                     \
    do {                                                                                          \
        if (FDY_LOG_WARN <= fdy_log_threshold)                                                    \
            fdy_log_write(FDY_LOG_WARN, id, __VA_ARGS__);                                         \
    } while (0)
#define fdy_log_notice(id, ...)                                                                   \
    do {                                                                                          \
        if (FDY_LOG_NOTICE <= fdy_log_threshold)                                                  \
            fdy_log_write(FDY_LOG_NOTICE, id, __VA_ARGS__);                                       \
    } while (0)
#define fdy_log_info(id, ...)                                                                     \
    do {                                                                                          \
        if (FDY_LOG_INFO <= fdy_log_threshold)                                                    \
            fdy_log_write(FDY_LOG_INFO, id, __VA_ARGS__);                                         \
    } while (0)
#define fdy_log_debug(id, ...)                                                                    \
    do {                                                                                          \
        if (FDY_LOG_DEBUG <= fdy_log_threshold)                                                   \
            fdy_log_write(FDY_LOG_DEBUG, id, __VA_ARGS__);                                        \
    } while (0)
/* Peer-triggerable warning, rate limited per id. */
#define fdy_log_warn_limited(id, ...)                                                             \
    do {                                                                                          \
        if (FDY_LOG_WARN <= fdy_log_threshold)                                                    \
            fdy_log_limited(FDY_LOG_WARN, id, __VA_ARGS__);                                       \
    } while (0)

#endif
