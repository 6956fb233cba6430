/*  node_proc.h: the integration harness for foundry-node, beside proc.h's
 *  broker: a node child started with the harness's keys and endpoint, a
 *  PUSH socket that sends numbered samples (sample i has value i), a
 *  reader that accounts every sample the broker's stream holds (duplicates
 *  included), and the node's outbox counted through LMDB.
 */
#ifndef FDY_NODE_PROC_H_INCLUDED
#define FDY_NODE_PROC_H_INCLUDED

#include "proc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FDY_NODE_PROC_SITE            "siheung"
#define FDY_NODE_PROC_KEY             "node-siheung"
#define FDY_NODE_PROC_LINES_PER_FRAME 100
#define FDY_NODE_PROC_PATH_LEN        1024
#define FDY_NODE_PROC_ARGS_MAX        40

/* ---- the node child ----------------------------------------------------------- */

typedef struct {
    fdy_proc_t *env;
    const char *site;     /* --site */
    const char *key_name; /* the principal: clients/<key_name>.key_secret */
    pid_t pid;
    char data_dir[FDY_NODE_PROC_PATH_LEN];
    char log_path[FDY_NODE_PROC_PATH_LEN];
    char listen[FDY_NODE_PROC_PATH_LEN];
    const char *extra[FDY_NODE_PROC_ARGS_MAX]; /* more arguments, NULL-ended */
} fdy_node_proc_t;

/* Prints the tail of the node's log, then fails the test, when cond is false. */
#define FDY_NODE_CHECK(node, cond, ...)                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fdy_node_proc_log_tail(node);                                                          \
            fdy_proc_fail(__FILE__, __LINE__, __VA_ARGS__);                                        \
        }                                                                                          \
    } while (0)

/* Prints the last 16 KiB of the node's log to stderr. */
void fdy_node_proc_log_tail(const fdy_node_proc_t *node);

/* Fills node for a node in <env dir>/<name> (data dir) logging to
 * <env dir>/<name>.log, as FDY_NODE_PROC_KEY on FDY_NODE_PROC_SITE (set
 * site, key_name and extra after). Kills a node a failed test left. */
void fdy_node_proc_init(fdy_node_proc_t *node, fdy_proc_t *env, const char *name);

/* Starts $FOUNDRY_NODE with the broker's endpoint and key, short timeouts
 * and node->extra; stdin from stdin_fd (-1: /dev/null). With wait_ready,
 * waits (deadline) for its ready file and fills node->listen. */
void fdy_node_proc_start(fdy_node_proc_t *node, int stdin_fd, bool wait_ready);

/* Waits for the node to exit (deadline); returns its exit status, 128+N for
 * signal N, or -1 if it had to be killed. */
int fdy_node_proc_wait(fdy_node_proc_t *node, int timeout_ms);
/* SIGTERM, then fdy_node_proc_wait() for up to 30 s. */
int fdy_node_proc_stop(fdy_node_proc_t *node);

/* Lines of the node's log that contain needle. */
size_t fdy_node_proc_log_count(const fdy_node_proc_t *node, const char *needle);
/* Waits (30 s) until the node's log has a line with needle; fails if not. */
void fdy_node_proc_wait_log(const fdy_node_proc_t *node, const char *needle);

/* Entries and samples the outbox holds, read through LMDB. Returns false
 * if it cannot be read yet. */
bool fdy_node_proc_outbox_count(const fdy_node_proc_t *node, uint64_t *entries_out,
                                uint64_t *samples_out);
/* Waits (60 s) until the outbox holds want samples; fails if not. */
void fdy_node_proc_wait_outbox_samples(const fdy_node_proc_t *node, uint64_t want);

/* ---- producing ------------------------------------------------------------------ */

typedef struct {
    void *ctx;
    void *push;
} fdy_node_proc_pusher_t;

void fdy_node_proc_pusher_open(fdy_node_proc_pusher_t *pusher, const char *endpoint);
/* Closes, waiting (bounded) until queued frames are delivered. */
void fdy_node_proc_pusher_close(fdy_node_proc_pusher_t *pusher);
void fdy_node_proc_push(fdy_node_proc_pusher_t *pusher, const void *data, size_t len, int flags);
/* The metric of sample i (15 metrics in turn). */
void fdy_node_proc_metric(size_t i, char *out, size_t size);
/* Frame f carries samples [f * FDY_NODE_PROC_LINES_PER_FRAME, +LINES),
 * value i for sample i; even frames as text lines, odd ones typed. */
void fdy_node_proc_push_frames(fdy_node_proc_pusher_t *pusher, size_t first_frame, size_t frames);

/* ---- reading the stream back ----------------------------------------------------- */

typedef struct {
    const char *site;      /* samples expected under telemetry.<site>. */
    const char *stream;    /* read from this stream */
    const char *publisher; /* the node's principal */
    size_t range;          /* sample values are 0..range-1 */
    uint8_t *seen;         /* per sample value: times seen, range entries */
    size_t count;          /* values seen at least once */
    size_t duplicates;
    size_t foreign;   /* values out of range, or wrong metadata */
    int64_t next_seq; /* next stream seq to read */
    size_t messages;
} fdy_node_proc_reader_t;

/* Reads what the stream has past next_seq and accounts its samples. */
void fdy_node_proc_read_new(fdy_proc_t *env, fdy_node_proc_reader_t *reader);
/* Reads the stream until `total` distinct samples arrived (deadline). */
void fdy_node_proc_wait_all(fdy_proc_t *env, const fdy_node_proc_t *node,
                            fdy_node_proc_reader_t *reader, size_t total, int timeout_ms);

#endif
