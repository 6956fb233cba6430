/*  foundry.h: the public API of libfoundry, the Foundry client library.
 *
 *  This header is the partner manual. A client connects to a foundry-broker
 *  over CurveZMQ (always encrypted and authenticated), publishes messages to
 *  subjects and receives a durable acknowledgement for each: the broker
 *  acknowledges only after the message is committed to disk with fsync.
 *
 *  Quick start:
 *
 *      foundry_client_opts_t opts;
 *      foundry_client_opts_init(&opts);
 *      opts.endpoint = "tcp://127.0.0.1:7700";
 *      opts.broker_key_file = "broker.key";        // broker's public key
 *      opts.secret_key_file = "acme.key_secret";   // our own key pair
 *      foundry_client_t *client;
 *      foundry_err err = foundry_client_new(&opts, &client);
 *      if (err != FOUNDRY_OK)
 *          fprintf(stderr, "connect: %s\n", foundry_client_last_error(NULL));
 *      foundry_ack_t ack;
 *      err = foundry_client_publish(client, "telemetry.pangyo.robot1.temp",
 *                                   "21.5", 4, NULL, 0, &ack);
 *      foundry_client_close(&client, 5000, NULL);
 *
 *  Threads: a foundry_client_t must be used by one thread at a time.
 *  Different clients may be used from different threads concurrently.
 *  Callbacks run on the thread that called into the client.
 *
 *  Logging: the library prints nothing, never exits and installs no signal
 *  handler. Route its diagnostics with foundry_set_log_handler().
 *
 *  Errors: every function that can fail returns a foundry_err; results go
 *  in out-parameters, which are only written on success unless said
 *  otherwise.
 */
#ifndef FOUNDRY_H_INCLUDED
#define FOUNDRY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FOUNDRY_EXPORT    __attribute__((visibility("default")))
#define FOUNDRY_NODISCARD __attribute__((warn_unused_result))
#else
#define FOUNDRY_EXPORT
#define FOUNDRY_NODISCARD
#endif

#define FOUNDRY_VERSION_MAJOR 0
#define FOUNDRY_VERSION_MINOR 1
#define FOUNDRY_VERSION_PATCH 0

/* Largest producer message id, in bytes. */
#define FOUNDRY_MSG_ID_MAX 64
/* Longest subject, in bytes, without the terminating NUL. */
#define FOUNDRY_SUBJECT_MAX 255
/* Longest stream name, in bytes, without the terminating NUL. */
#define FOUNDRY_STREAM_NAME_MAX 63

/* Error codes. Append only, never renumber: they travel on the wire. */
typedef enum {
    FOUNDRY_OK = 0,
    FOUNDRY_ENOMEM = 1,     /* out of memory */
    FOUNDRY_EINVAL = 2,     /* invalid argument or value */
    FOUNDRY_EPROTO = 3,     /* malformed message or protocol violation */
    FOUNDRY_ETOOBIG = 4,    /* message or frame over the size limit */
    FOUNDRY_EAUTH = 5,      /* key unknown, refused or revoked */
    FOUNDRY_EDENIED = 6,    /* authenticated, but not allowed by the ACL */
    FOUNDRY_EFULL = 7,      /* store full: writes refused, reads still served */
    FOUNDRY_ESTORE = 8,     /* storage error */
    FOUNDRY_EVERSION = 9,   /* unsupported protocol version */
    FOUNDRY_ENOSTREAM = 10, /* no stream captures the subject */
    FOUNDRY_ETIMEDOUT = 11, /* no answer within the deadline */
    FOUNDRY_ECLOSED = 12,   /* the client or broker is shutting down */
    FOUNDRY_ENOTFOUND = 13, /* no such key, stream or item */
    FOUNDRY_ECORRUPT = 14,  /* stored data failed its checksum or has a gap */
    FOUNDRY_EIO = 15,       /* file or system call failed */
    FOUNDRY_EEXIST = 16,    /* already exists */
    FOUNDRY_EKIND = 17,     /* unknown message kind or command */
    FOUNDRY_ERATE = 18,     /* over the publisher's rate limit: nothing stored */
    FOUNDRY_ESTALE = 19,    /* a job result, progress or heartbeat with an old fencing token */
    FOUNDRY_ENOSPC = 20,    /* no space left on a disk (model blobs): nothing stored */
} foundry_err;

/* Returns a static, human-readable description of err (never NULL; unknown
 * codes give "unknown error"). Thread-safe. */
FOUNDRY_EXPORT const char *foundry_strerror(foundry_err err);

/* Returns the library version as "MAJOR.MINOR.PATCH". Static string. */
FOUNDRY_EXPORT const char *foundry_version(void);

/* Log levels, as syslog's. */
typedef enum {
    FOUNDRY_LOG_ERR = 3,
    FOUNDRY_LOG_WARN = 4,
    FOUNDRY_LOG_NOTICE = 5,
    FOUNDRY_LOG_INFO = 6,
    FOUNDRY_LOG_DEBUG = 7,
} foundry_log_level;

/* Receives one diagnostic line. `id` is a stable upper-case message id
 * (docs/log-ids.md); `line` is the text without a newline. Both borrowed for
 * the duration of the call. Called on the thread that used the library: when
 * clients are used from several threads, from several threads at once, so
 * the handler must be thread-safe. Rate-limited ids (at most 10 lines a
 * second) are counted across all threads together. */
typedef void(foundry_log_fn)(foundry_log_level level, const char *id, const char *line,
                             void *user);

/* Routes the library's diagnostics at `max_level` or more severe to fn.
 * fn NULL restores the default: silence. Not thread-safe: call it before
 * creating clients, or when no thread is using the library (every client
 * closed), never while another thread is inside a foundry_* call. */
FOUNDRY_EXPORT void foundry_set_log_handler(foundry_log_fn *fn, foundry_log_level max_level,
                                            void *user);

typedef struct foundry_client foundry_client_t;

/* Client options. Initialise with foundry_client_opts_init(), then set at
 * least endpoint, broker_key_file and secret_key_file. Strings are borrowed
 * by foundry_client_new() only for the duration of the call. */
typedef struct {
    const char *endpoint;        /* broker client endpoint, "tcp://host:7700" */
    const char *broker_key_file; /* broker's public key file (zcert format) */
    const char *secret_key_file; /* our key pair, NAME.key_secret, mode 0600 */
    uint32_t connect_timeout_ms; /* handshake deadline in foundry_client_new; 5000 */
    uint32_t ack_timeout_ms;     /* blocking calls give up after this; 10000 */
    uint32_t resend_after_ms;    /* resend a batch unacked for this long; 5000; 0 never */
    uint32_t max_in_flight;      /* unacknowledged messages at most; 2048 (see below) */
    uint32_t batch_max_msgs;     /* messages per batch frame at most; 1024 (<= 16384) */
    uint32_t batch_max_bytes;    /* bytes per batch frame at most; 262144 (<= 8 MiB) */
    uint32_t linger_us;          /* a partial batch waits at most this; 1000 */
} foundry_client_opts_t;

/* Fills opts with the defaults above and NULL strings. Never fails.
 * max_in_flight bounds the ack latency of a pipelined producer (it waits
 * about max_in_flight / rate for each ack): the default 2048 keeps the p99
 * ack latency in single-digit milliseconds at full rate on a small machine
 * with most of the throughput; a bulk loader that cares only for
 * throughput may raise it (65536 buys little more throughput for a p99 of
 * 100 ms or more). */
FOUNDRY_EXPORT void foundry_client_opts_init(foundry_client_opts_t *opts);

/* Creates a client and waits up to connect_timeout_ms for the CURVE
 * handshake to complete.
 * Returns FOUNDRY_OK and sets *client_out (caller owns; close with
 * foundry_client_close()), or:
 *   FOUNDRY_EINVAL    missing or bad option;
 *   FOUNDRY_EIO       a key file cannot be read, or nothing listens at the
 *                     endpoint: reported as soon as the connect is refused,
 *                     "connection refused at ENDPOINT" (an unreachable host
 *                     still takes connect_timeout_ms, then ETIMEDOUT);
 *   FOUNDRY_EAUTH     a secret key file is readable by others, or the broker
 *                     refused our key (socket-monitor handshake failure), or
 *                     every handshake is dropped (broker_key_file is not the
 *                     broker's key);
 *   FOUNDRY_ETIMEDOUT no handshake within connect_timeout_ms (also while the
 *                     broker refuses our key for now after a flood over its
 *                     rate limit, ZAP status 500: the client keeps trying);
 *   FOUNDRY_ENOMEM.
 * On error *client_out is NULL; foundry_client_last_error(NULL) describes it. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err
foundry_client_new(const foundry_client_opts_t *opts, foundry_client_t **client_out);

/* Returns the text of the last error of client, or of the last failed
 * foundry_client_new() on this thread when client is NULL. Borrowed, valid
 * until the next call into that client (or thread). Never NULL. */
FOUNDRY_EXPORT const char *foundry_client_last_error(const foundry_client_t *client);

/* The outcome of one published message. Every pointer is borrowed and valid
 * only during the callback (or until the next call into the client). */
typedef struct {
    const uint8_t *msg_id; /* producer message id */
    size_t msg_id_len;
    const char *stream;    /* stream that stored it; "" on error */
    uint64_t seq;          /* its stream sequence; 0 on error */
    int duplicate;         /* 1 when acked from the dedupe window, not stored again */
    foundry_err err;       /* FOUNDRY_OK, or why the message was not stored */
    const char *reason;    /* broker's reason text; "" on success */
    void *user;            /* the user tag given to foundry_client_publish_async */
} foundry_ack_t;

typedef void(foundry_ack_fn)(const foundry_ack_t *ack, void *user);

/* Sets the callback that receives the outcome of every asynchronous
 * publish, once per message, in the order acks arrive. fn NULL discards
 * them. Messages still unacknowledged when the client is closed are
 * reported with FOUNDRY_ECLOSED. The callback may call
 * foundry_client_publish_async() (which then never waits: a full window
 * gives FOUNDRY_ETIMEDOUT); the other calls into the client return
 * FOUNDRY_EINVAL from inside it.
 * Returns FOUNDRY_OK or FOUNDRY_EINVAL (client NULL). */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err
foundry_client_set_ack_handler(foundry_client_t *client, foundry_ack_fn *fn, void *user);

/* Publishes one message and waits for its durable acknowledgement.
 * subject: dot-separated tokens ([A-Za-z0-9_-]+), at most
 * FOUNDRY_SUBJECT_MAX bytes. msg_id: 1..FOUNDRY_MSG_ID_MAX bytes, or NULL to
 * let the library make a unique one. A resend with the same id within the
 * broker's dedupe window is acknowledged without being stored twice.
 * Earlier asynchronous messages are flushed first; their acks go to the
 * ack handler (this message's does not). ack_out (may be NULL) receives the
 * outcome; its pointers stay valid until the next call into client.
 * Returns FOUNDRY_OK once stored, or: FOUNDRY_EINVAL (bad subject or id, or
 * called from the ack handler), FOUNDRY_ETOOBIG (payload over 4 MiB),
 * FOUNDRY_ETIMEDOUT (no ack within ack_timeout_ms; the message stays
 * queued and will be resent on reconnect), the broker's refusal
 * (FOUNDRY_EDENIED, FOUNDRY_ENOSTREAM, FOUNDRY_EFULL, FOUNDRY_EAUTH,
 * FOUNDRY_ETOOBIG, FOUNDRY_ERATE: over this key's publish rate limit, not
 * stored, send it again later, ...), or FOUNDRY_ENOMEM. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err
foundry_client_publish(foundry_client_t *client, const char *subject, const void *data,
                       size_t len, const void *msg_id, size_t msg_id_len, foundry_ack_t *ack_out);

/* Queues one message for pipelined publishing and returns without waiting
 * for its ack. Messages are batched (batch_max_msgs, batch_max_bytes,
 * linger_us) and sent; the ack handler later reports each outcome with
 * `user_tag`. When max_in_flight messages are unacknowledged, the call
 * first processes acks, waiting up to ack_timeout_ms.
 * The data is copied; the caller keeps its buffers. A payload over 64 KiB
 * travels alone, in its own frame.
 * Returns FOUNDRY_OK (queued), FOUNDRY_EINVAL (bad subject or id),
 * FOUNDRY_ETOOBIG (payload over 4 MiB), FOUNDRY_ETIMEDOUT (window still
 * full: nothing queued, try again), FOUNDRY_EAUTH (our key was refused or
 * revoked), or FOUNDRY_ENOMEM. Nothing is queued unless it returns
 * FOUNDRY_OK. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err
foundry_client_publish_async(foundry_client_t *client, const char *subject, const void *data,
                             size_t len, const void *msg_id, size_t msg_id_len, void *user_tag);

/* Sends batches that are due, receives acks and runs the ack handler, for
 * up to timeout_ms (0: only what is ready now). Call it regularly when
 * publishing asynchronously at a low rate so lingering batches go out.
 * Returns FOUNDRY_OK, FOUNDRY_EAUTH when the broker refused our key, or
 * FOUNDRY_EINVAL (called from the ack handler). */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err
foundry_client_poll(foundry_client_t *client, int timeout_ms);

/* Sends everything queued and waits until every message is acknowledged
 * (or refused: outcomes go to the ack handler), for up to timeout_ms.
 * Returns FOUNDRY_OK when nothing is unacknowledged, FOUNDRY_ETIMEDOUT
 * otherwise (see foundry_client_unacked()), FOUNDRY_EAUTH at once when the
 * broker refuses our key on reconnect (the messages stay queued), or
 * FOUNDRY_EINVAL (called from the ack handler). */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err
foundry_client_flush(foundry_client_t *client, int timeout_ms);

/* Returns the number of messages queued or sent but not yet acknowledged. */
FOUNDRY_EXPORT size_t foundry_client_unacked(const foundry_client_t *client);

/* Returns how many times the client reconnected to the broker and resent
 * its unacknowledged messages. */
FOUNDRY_EXPORT uint64_t foundry_client_reconnects(const foundry_client_t *client);

/* Flushes for up to flush_timeout_ms, then ends any subscription still
 * open (as foundry_sub_close() does, except freeing it: the application
 * still calls foundry_sub_close() on each), then destroys the client and
 * nulls *client_p. unacked_out (may be NULL) receives the number of messages that
 * were never acknowledged; each asynchronous one is also reported to the
 * ack handler with FOUNDRY_ECLOSED, so the caller can keep it for later.
 * Accepts NULL and *client_p NULL.
 * Returns FOUNDRY_OK when everything was acknowledged, FOUNDRY_ETIMEDOUT
 * otherwise; the client is destroyed in both cases. Called from the ack
 * handler it returns FOUNDRY_EINVAL and destroys nothing. */
FOUNDRY_EXPORT foundry_err foundry_client_close(foundry_client_t **client_p,
                                                int flush_timeout_ms, size_t *unacked_out);

/* ---- subscriptions (telemetry streams, docs/streams.md) ------------------
 *
 * A subscription receives messages over the client's connection. Two kinds:
 * - durable: bound to a consumer that an administrator created on a stream
 *   (`foundryctl consumer add`). Its cursor and unacked set live in the
 *   broker's store and survive restarts; every delivery must be acked, or it
 *   is redelivered after the consumer's ack-wait. Several clients bound to
 *   the same consumer share its messages (a queue group).
 * - ephemeral: a live tail of every new message whose subject matches a
 *   filter (`*` one token, `>` the rest). No cursor, no acks; messages that
 *   arrive while the credit is used up are dropped and counted.
 * Flow control is by credit: the broker never sends more than the client
 * granted. The library grants `credit_msgs` up front and grants one more each
 * time a durable message is acked (an ephemeral one: received), so a durable
 * subscription never holds more than credit_msgs unacked messages.
 * Subscriptions are re-established automatically after a reconnect.
 *
 * Acks and credit travel in batches: every quarter of credit_msgs, and
 * whenever the application has taken every message received (before
 * foundry_sub_receive() waits, or when an ack leaves nothing queued).
 * After a reconnect, messages received but not yet handed out are dropped
 * (a durable consumer redelivers them); those handed out can still be
 * acked. The broker ends a subscription whose client sends nothing for
 * 30 s; the library sends a PING every 5 s while it has subscriptions, so
 * call into the client at least every few seconds (after a longer silence
 * it subscribes again). Concepts and examples: docs/streams.md.
 */

typedef struct foundry_sub foundry_sub_t;

typedef struct {
    const char *stream;    /* durable: the stream name; ephemeral: NULL */
    const char *consumer;  /* durable: the consumer name; ephemeral: NULL */
    const char *filter;    /* ephemeral: subject filter; durable: NULL */
    uint32_t credit_msgs;  /* most unacked (durable) / buffered messages; 1000 */
    uint64_t credit_bytes; /* most payload bytes in flight; 0 = no limit */
    /* Receive at most this many messages, then end (foundry_sub_receive
     * returns FOUNDRY_ECLOSED): no credit is granted beyond them, so a
     * durable consumer is not left holding deliveries nobody will read.
     * 0 = no limit (the default). */
    uint64_t max_msgs;
} foundry_sub_opts_t;

/* Fills opts with the defaults above. Never fails. */
FOUNDRY_EXPORT void foundry_sub_opts_init(foundry_sub_opts_t *opts);

/* One received message. Every pointer is borrowed, valid until the next
 * foundry_sub_receive() on the same subscription or its close. */
typedef struct {
    const char *stream;
    uint64_t seq;             /* stream sequence: ack with this */
    uint32_t delivery_count;  /* 1 on first delivery, more on redelivery */
    const char *subject;
    const uint8_t *data;
    size_t len;
    const uint8_t *msg_id;
    size_t msg_id_len;
    uint64_t timestamp_ns;    /* producer clock */
    uint64_t stored_ns;       /* broker clock when stored */
    const char *publisher;    /* name of the principal that published it */
} foundry_msg_t;

/* Subscribes and waits up to ack_timeout_ms for the broker to confirm.
 * Returns FOUNDRY_OK and *sub_out (caller owns; close with
 * foundry_sub_close() before closing the client), or FOUNDRY_EINVAL (bad
 * options, malformed filter), FOUNDRY_ENOTFOUND (no such stream or
 * consumer), FOUNDRY_EDENIED (the ACL does not let us read it),
 * FOUNDRY_ETIMEDOUT, FOUNDRY_EAUTH or FOUNDRY_ENOMEM. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err
foundry_client_subscribe(foundry_client_t *client, const foundry_sub_opts_t *opts,
                         foundry_sub_t **sub_out);

/* Returns the next message, waiting up to timeout_ms (0: only what has
 * arrived; -1: forever). While waiting, the client also processes publish
 * acks. *msg_out is borrowed (see foundry_msg_t).
 * Returns FOUNDRY_OK, FOUNDRY_ETIMEDOUT (nothing arrived), FOUNDRY_EAUTH or
 * FOUNDRY_ECLOSED (the subscription ended). The broker ends a
 * subscription when its consumer or stream is removed, its key revoked or
 * the ACL no longer allows it; the client ends them when it is closed.
 * Messages received before the end are returned first;
 * foundry_client_last_error() then says why it ended. Called from the ack
 * handler it returns FOUNDRY_EINVAL. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err
foundry_sub_receive(foundry_sub_t *sub, int timeout_ms, const foundry_msg_t **msg_out);

/* Acknowledges one delivered seq (durable only; ephemeral: no-op).
 * Returns FOUNDRY_OK, FOUNDRY_EINVAL (never delivered to this subscription:
 * 0, or above every seq it received) or FOUNDRY_EAUTH. Acking a seq twice
 * is harmless (FOUNDRY_OK). After the subscription ended the ack is
 * accepted and dropped: the broker redelivers the message. Does not
 * wait: acks go out in batches (above); may return FOUNDRY_ENOMEM. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_sub_ack(foundry_sub_t *sub, uint64_t seq);

/* Acknowledges every seq delivered to this subscription up to and including
 * seq (cumulative). Returns as foundry_sub_ack(). Only messages already
 * returned by foundry_sub_receive() are acked, not those still queued in
 * the library. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_sub_ack_upto(foundry_sub_t *sub,
                                                                  uint64_t seq);

/* Messages an ephemeral subscription lost to a used-up credit, as counted
 * by the broker so far. 0 for durable subscriptions. */
FOUNDRY_EXPORT uint64_t foundry_sub_dropped(const foundry_sub_t *sub);

/* Unsubscribes (unacked durable deliveries will be redelivered to another
 * member or later), frees the subscription and nulls *sub_p. Accepts NULL.
 * Sends the acks not yet sent first and waits up to the client's
 * ack_timeout_ms for the broker to confirm the unsubscribe (so they are
 * not lost with the connection); no wait when the broker is unreachable.
 * If the client was closed first, the subscription has already ended:
 * this only frees it. */
FOUNDRY_EXPORT void foundry_sub_close(foundry_sub_t **sub_p);

/* A file descriptor that becomes readable when the client may have work
 * (ZeroMQ's ZMQ_FD: edge-triggered). For event loops: when it is readable,
 * call foundry_client_poll(client, 0) and foundry_sub_receive(sub, 0, ...)
 * until they have nothing more. Returns -1 on error.
 * Reconnects, re-subscriptions and keepalives run on timers, which this
 * descriptor does not signal: also call foundry_client_poll(client, 0) at
 * least once a second. Borrowed: valid until the client is closed; do not
 * read from or close it. */
FOUNDRY_EXPORT int foundry_client_fd(foundry_client_t *client);

/* ---- jobs: durable work run by node agents (docs/jobs.md) --------------
 *
 * A job names a handler type, carries an opaque payload and targets sites
 * and node labels. The broker stores it (fsync) before it returns the job
 * id, offers it to one eligible node agent at a time under a lease with a
 * fencing token, retries failed attempts with back-off and keeps the
 * result until its TTL. A partner sees, waits for and cancels only its own
 * tenant's jobs, and may submit only to the sites its key's job grant
 * lists (foundryctl key add --allow-jobs SITE...).
 *
 *      foundry_job_spec_t spec;
 *      foundry_job_spec_init(&spec);
 *      spec.type = "inspect";
 *      const char *sites[] = {"siheung"};
 *      spec.sites = sites;
 *      spec.site_count = 1;
 *      spec.payload = "line-3";
 *      spec.payload_len = 6;
 *      uint64_t id;
 *      err = foundry_job_submit(client, &spec, &id, NULL);
 *      const foundry_job_info_t *info;
 *      err = foundry_job_wait(client, id, 60000, &info);  // info->result
 *
 * Every call below runs on the client's thread like the rest of the
 * client; what it returns through a const pointer is borrowed until the
 * next job call on that client. */

/* Most in-flight (unanswered) job requests of one client. */
#define FOUNDRY_JOBS_IN_FLIGHT_MAX 8192
/* Jobs per pipelined submit batch, and results per foundry_worker_results(). */
#define FOUNDRY_JOBS_BATCH_MAX 256

typedef enum {
    FOUNDRY_JOB_QUEUED = 0,    /* waiting for an eligible node (or its back-off) */
    FOUNDRY_JOB_LEASED = 1,    /* offered to a node under a lease */
    FOUNDRY_JOB_RUNNING = 2,   /* the node's handler is running it */
    FOUNDRY_JOB_SUCCEEDED = 3, /* final: result stored */
    FOUNDRY_JOB_FAILED = 4,    /* an attempt failed; the next waits for its back-off */
    FOUNDRY_JOB_DEAD = 5,      /* final: max_attempts used; last error and log kept */
    FOUNDRY_JOB_CANCELLED = 6, /* final */
    FOUNDRY_JOB_EXPIRED = 7,   /* final: its deadline passed before it ran */
} foundry_job_state;

/* What to run. Initialise with foundry_job_spec_init(); zero fields take
 * the broker's defaults (docs/jobs.md). Everything is borrowed for the
 * duration of the submit call. */
typedef struct {
    const char *type;              /* handler name, [A-Za-z0-9_.-]{1,64} */
    const void *payload;           /* opaque bytes, up to the broker's max_job_payload */
    size_t payload_len;
    const char *const *sites;      /* target sites; none: any site */
    size_t site_count;
    const char *const *labels;     /* "key=value" the node must advertise, all of them */
    size_t label_count;
    uint32_t priority;             /* higher first; 0 */
    uint32_t timeout_ms;           /* per attempt; 60000 */
    uint32_t max_attempts;         /* 3 */
    uint32_t backoff_initial_ms;   /* 1000 */
    uint32_t backoff_factor;       /* 2 */
    uint32_t backoff_max_ms;       /* 60000 */
    const char *idempotency_key;   /* same key, same tenant: same job id; NULL: one is made */
    uint64_t deadline_ms;          /* wall-clock ms: a job still queued then expires; 0 none */
    uint32_t result_ttl_ms;        /* result kept this long after the job ended; 1 day */
} foundry_job_spec_t;

/* One attempt of a job, as in `foundryctl job show`. */
typedef struct {
    uint32_t attempt;
    uint64_t fence;     /* its fencing token */
    const char *node;
    uint64_t started_ms;
    uint64_t ended_ms;  /* 0 while it runs */
    const char *state;  /* running, succeeded, failed, lost, timeout, cancelled */
    const char *error;
} foundry_job_attempt_t;

/* A job's status. Borrowed until the next job call on the client. */
typedef struct {
    uint64_t id;
    foundry_job_state state;
    const char *state_name;
    const char *type;
    const char *tenant;
    const char *submitter;
    const char *const *sites;
    size_t site_count;
    const char *const *labels;
    size_t label_count;
    uint32_t priority;
    uint32_t attempt;      /* attempts so far */
    uint32_t max_attempts;
    uint64_t fence;        /* the current (or last) lease's token */
    const char *node;      /* the current (or last) lease holder */
    uint64_t created_ms, updated_ms;
    const void *result;    /* succeeded: the handler's output */
    size_t result_len;
    const char *error;     /* last error */
    const char *log_tail;  /* the handler's last stderr lines */
    const char *progress;  /* the last progress line */
    const char *waiting;   /* queued: why it is not running yet */
    const foundry_job_attempt_t *attempts;
    size_t attempt_count;
} foundry_job_info_t;

/* Sets every field to 0 / NULL. */
FOUNDRY_EXPORT void foundry_job_spec_init(foundry_job_spec_t *spec);

/* The name of a state ("queued", ...; "?" when unknown). Static. */
FOUNDRY_EXPORT const char *foundry_job_state_name(foundry_job_state state);

/* Submits a job and waits (up to ack_timeout_ms) until the broker has
 * stored it. *id_out gets its id; *duplicate_out (may be NULL) is 1 when
 * the idempotency key was known and the id is the earlier job's. Returns
 * FOUNDRY_OK, FOUNDRY_EINVAL (bad type, site or label syntax), FOUNDRY_ETOOBIG
 * (payload over max_job_payload), FOUNDRY_EDENIED (no grant for a target
 * site; nodes without a grant), FOUNDRY_EFULL, FOUNDRY_ETIMEDOUT,
 * FOUNDRY_EAUTH, FOUNDRY_ENOMEM; foundry_client_last_error() says why. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_job_submit(foundry_client_t *client,
                                                                const foundry_job_spec_t *spec,
                                                                uint64_t *id_out,
                                                                int *duplicate_out);

/* Called once per pipelined submit when the broker answered it (stored:
 * err FOUNDRY_OK and job_id), or refused it (err, reason), from inside the
 * client's calls. token is what foundry_job_submit_async() returned. */
typedef void(foundry_job_submitted_fn)(uint64_t token, foundry_err err, uint64_t job_id,
                                       const char *reason, void *user);
FOUNDRY_EXPORT void foundry_client_set_job_handler(foundry_client_t *client,
                                                   foundry_job_submitted_fn *fn, void *user);

/* Pipelined submit: returns at once, with up to FOUNDRY_JOBS_IN_FLIGHT_MAX
 * unanswered (beyond that it pumps the client until one is answered, up to
 * ack_timeout_ms: FOUNDRY_ETIMEDOUT). With nothing unanswered it is sent at
 * once; while earlier submits are unanswered it joins the open batch (one
 * request of up to FOUNDRY_JOBS_BATCH_MAX jobs), which is sent when full or
 * at the client's next call that waits or polls (foundry_job_flush,
 * foundry_client_poll, ...) or closes. Each job of a batch is stored or
 * refused alone. The outcome goes to the job handler; unanswered submits
 * are resent after a reconnect with the same idempotency key, so each is
 * stored once. *token_out (may be NULL) identifies it. Errors as
 * foundry_job_submit for what is checked before sending. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_job_submit_async(
    foundry_client_t *client, const foundry_job_spec_t *spec, uint64_t *token_out);

/* Pumps until every pipelined job request was answered, up to timeout_ms.
 * Returns FOUNDRY_OK or FOUNDRY_ETIMEDOUT. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_job_flush(foundry_client_t *client,
                                                               int timeout_ms);

/* A job's current status (with its result once succeeded). Returns
 * FOUNDRY_OK, FOUNDRY_ENOTFOUND (no such job, or not the caller's tenant's:
 * the two look the same), FOUNDRY_ETIMEDOUT, FOUNDRY_EAUTH. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_job_status(foundry_client_t *client,
                                                                uint64_t id,
                                                                const foundry_job_info_t **info_out);

/* Waits up to timeout_ms until the job is succeeded, dead, cancelled or
 * expired (asking the broker at most every 20..200 ms), and returns its
 * status then. FOUNDRY_ETIMEDOUT (with *info_out the last status seen, or
 * NULL) when it has not ended; otherwise as foundry_job_status. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_job_wait(foundry_client_t *client,
                                                              uint64_t id, int timeout_ms,
                                                              const foundry_job_info_t **info_out);

/* Cancels a job: a queued one at once, a running one by telling its node
 * to kill the handler (a result it still sends is refused). Returns
 * FOUNDRY_OK, FOUNDRY_ENOTFOUND, FOUNDRY_EINVAL (already ended),
 * FOUNDRY_ETIMEDOUT. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_job_cancel(foundry_client_t *client,
                                                                uint64_t id);

/* Queues a dead, cancelled or expired job again with a fresh set of
 * attempts (the fence keeps counting up). Errors as foundry_job_cancel. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_job_retry(foundry_client_t *client,
                                                               uint64_t id);

/* Lists the caller's tenant's jobs (an admin: all), newest first, at most
 * 1000, without payloads or results; state NULL or "" for all states.
 * Calls fn for each, with info borrowed for the call. Returns FOUNDRY_OK,
 * FOUNDRY_EINVAL (unknown state), FOUNDRY_EDENIED, FOUNDRY_ETIMEDOUT. */
typedef void(foundry_job_list_fn)(const foundry_job_info_t *info, void *user);
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_job_list(foundry_client_t *client,
                                                              const char *state,
                                                              foundry_job_list_fn *fn, void *user);

/* ---- jobs: the worker side (node keys; foundry-node uses these) -------- */

/* A job offered to this node under a lease, or (cancel) an order to stop
 * one. Borrowed until the next worker call on the client. */
typedef struct {
    uint64_t job_id;
    uint64_t fence;       /* hand it to the handler; report it with the result */
    uint32_t attempt;
    int cancel;           /* 1: kill the handler of job_id; send no result */
    const char *type;
    const void *payload;
    size_t payload_len;
    uint32_t timeout_ms;
} foundry_job_offer_t;

/* Registers this node (site and name come from its key) with its labels
 * ("key=value") and the job types it runs, each with `slots` concurrent
 * jobs: the broker offers at most that many at once per type. Call again
 * after a reconnect (foundry_client_reconnects() changed). Blocking, up
 * to ack_timeout_ms. Returns FOUNDRY_OK, FOUNDRY_EDENIED (not a node key),
 * FOUNDRY_EINVAL (bad label or type), FOUNDRY_ETIMEDOUT. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_worker_register(
    foundry_client_t *client, const char *const *labels, size_t label_count,
    const char *const *types, size_t type_count, uint32_t slots);

/* The next offer, waiting up to timeout_ms. Returns FOUNDRY_OK with
 * *offer_out, or FOUNDRY_ETIMEDOUT. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_worker_next(foundry_client_t *client,
                                                                 int timeout_ms,
                                                                 foundry_job_offer_t *offer_out);

/* Offers received and not yet taken by foundry_worker_next(), after
 * taking what is ready on the socket without waiting. An event loop asks
 * this right before it sleeps on foundry_client_fd(): that descriptor
 * only signals what arrives after the socket was read to its end. */
FOUNDRY_EXPORT size_t foundry_worker_pending(foundry_client_t *client);

/* Reports an attempt's outcome (pipelined; resent after a reconnect). The
 * broker stores it only if fence is still the job's current token. done(token,
 * err, ...) through the job handler: FOUNDRY_OK stored, FOUNDRY_ESTALE the
 * lease moved on (the result is refused: another attempt owns the job),
 * FOUNDRY_ENOTFOUND no such job. `slots` (0 or 1) hands the slot back. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_worker_result(
    foundry_client_t *client, uint64_t job_id, uint64_t fence, int ok, const void *result,
    size_t result_len, const char *error, const char *log_tail, uint32_t slots,
    uint64_t *token_out);

/* One attempt's outcome for foundry_worker_results(): the arguments of
 * foundry_worker_result(). */
typedef struct {
    uint64_t job_id;
    uint64_t fence;
    int ok;
    const void *result;
    size_t result_len;
    const char *error;
    const char *log_tail;
    uint32_t slots;
} foundry_worker_result_t;

/* Reports up to FOUNDRY_JOBS_BATCH_MAX outcomes in one request: each is
 * stored or refused alone, exactly as foundry_worker_result() would, and
 * answered through the job handler with its own token (tokens_out[i], may
 * be NULL). Returns FOUNDRY_OK, FOUNDRY_EINVAL (count 0 or over the
 * maximum), FOUNDRY_ETOOBIG (a result over its limit: nothing sent),
 * FOUNDRY_ETIMEDOUT (window full). */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_worker_results(
    foundry_client_t *client, const foundry_worker_result_t *results, size_t count,
    uint64_t *tokens_out);

/* Hands back `slots` free slots of type (no reply). */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_worker_credit(foundry_client_t *client,
                                                                   const char *type,
                                                                   uint32_t slots);

/* Renews the leases of the jobs it runs (ids with their fences) and marks
 * them running. Blocking, up to ack_timeout_ms; the broker answers with the
 * ones it no longer holds for this node: *stale_out (borrowed) gets their
 * ids, *stale_count_out how many; kill those. Call at least every third
 * of the broker's job_node_timeout_ms (foundry-node: every second). */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_worker_heartbeat(
    foundry_client_t *client, const uint64_t *job_ids, const uint64_t *fences, size_t count,
    const uint64_t **stale_out, size_t *stale_count_out);

/* The same without waiting, for a node's loop that must keep serving its
 * handlers while the broker is away: sends the heartbeat unless four are
 * still unanswered (those are resent until they are). The answer arrives
 * during later client calls: each job it names comes out of
 * foundry_worker_next() as an offer with cancel set. Returns FOUNDRY_OK,
 * FOUNDRY_EINVAL, or FOUNDRY_ENOTFOUND once after the broker answered that
 * it no longer knows this node (register again). */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_worker_heartbeat_async(
    foundry_client_t *client, const uint64_t *job_ids, const uint64_t *fences, size_t count);

/* Reports a progress line for a running job (no reply unless refused). */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_worker_progress(foundry_client_t *client,
                                                                     uint64_t job_id,
                                                                     uint64_t fence,
                                                                     const char *text);

/* ---- models: signed model artifacts for the sites (docs/models.md) ------
 *
 * A model is a file of any size, published under a name and a version
 * that only goes up. foundry_model_push() cuts the file into chunks,
 * reads and hashes each once (BLAKE2b-256; the artifact id covers the
 * chunk hashes) and sends it as soon as it is hashed, only the chunks the
 * broker does not hold yet (a push that was interrupted continues where it
 * stopped when it is run again), keeping a window of chunks in flight, each acknowledged only once it is on the
 * broker's disk; then it builds the manifest (name, version, artifact,
 * target sites and labels, metadata, expiry), signs it with one or more
 * Ed25519 model-signing keys (NAME.sign files made by
 * foundry_model_keygen() or `foundryctl model keygen`), and publishes it.
 * The broker accepts it only when the name has a trust policy and enough
 * of its trusted keys signed (k of n), and appends it to the model's
 * hash-chained release log. A partner key may push only the model names
 * its grant lists (foundryctl key add --allow-models NAME...).
 *
 *      const char *keys[] = {"acme-release.sign"};
 *      foundry_model_push_opts_t opts;
 *      foundry_model_push_opts_init(&opts);
 *      opts.file = "detector.onnx";
 *      opts.name = "detector";
 *      opts.version = 7;
 *      opts.sign_key_files = keys;
 *      opts.sign_key_count = 1;
 *      foundry_model_pushed_t pushed;
 *      err = foundry_model_push(client, &opts, NULL, NULL, &pushed);
 *
 * A rollback re-releases the artifact of an earlier version: give that
 * version's SignedManifest (as the broker accepted it, `foundryctl model
 * rollback` fetches it) as base_manifest, set rollback, rollback_of (the
 * newest version now) and a release_version above every version and
 * release_version the model has seen. Nothing is uploaded then.
 *
 * These calls run on the client's thread like the rest of the client and
 * must not be called from inside its handlers. */

/* Chunk size bounds and defaults, in bytes; chunks in flight. The default
 * window keeps about FOUNDRY_MODEL_INFLIGHT_DEFAULT bytes in flight: 32
 * chunks of the default size, 2 of the largest, at most the maximum. */
#define FOUNDRY_MODEL_CHUNK_MIN     (64u * 1024u)
#define FOUNDRY_MODEL_CHUNK_DEFAULT (1024u * 1024u)
#define FOUNDRY_MODEL_CHUNK_MAX     (16u * 1024u * 1024u)
#define FOUNDRY_MODEL_WINDOW_DEFAULT 32u
#define FOUNDRY_MODEL_INFLIGHT_DEFAULT (32u * 1024u * 1024u)
#define FOUNDRY_MODEL_WINDOW_MAX     64u
/* Longest model name, [a-z0-9][a-z0-9._-]*; most signing keys. */
#define FOUNDRY_MODEL_NAME_MAX 64u
#define FOUNDRY_MODEL_SIGNERS_MAX 16u

/* What to push. Initialise with foundry_model_push_opts_init(). Every
 * pointer is borrowed for the duration of the push. */
typedef struct {
    const char *file;                    /* the artifact; NULL with base_manifest */
    const char *name;                    /* model name */
    uint64_t version;                    /* > 0, above the newest accepted (unless rollback) */
    uint32_t chunk_size;                 /* FOUNDRY_MODEL_CHUNK_MIN..MAX; 0: 1 MiB */
    uint32_t window;                     /* chunks in flight, 1..64; 0: 32 MiB of chunks */
    const char *const *sign_key_files;   /* NAME.sign files, 1..FOUNDRY_MODEL_SIGNERS_MAX */
    size_t sign_key_count;
    const char *const *sites;            /* target sites; none: every site */
    size_t site_count;
    const char *const *labels;           /* "key=value" a node must carry, all of them */
    size_t label_count;
    const char *const *metadata;         /* free-form "key=value" items */
    size_t metadata_count;
    uint64_t expires_ms;                 /* wall-clock ms after which it is refused; 0 never */
    int rollback;                        /* 1: a signed rollback (needs base_manifest) */
    uint64_t rollback_of;                /* rollback: the newest version, which it replaces */
    uint64_t release_version;            /* rollback: above every version seen */
    const void *base_manifest;           /* rollback: an encoded SignedManifest whose artifact */
    size_t base_manifest_len;            /*   (and sites, labels, metadata unless given) it reuses */
} foundry_model_push_opts_t;

typedef enum {
    FOUNDRY_MODEL_HASHING = 0,   /* hashing the whole file first: only when the broker holds
                                  * chunk 0 for another artifact (docs/models.md) */
    FOUNDRY_MODEL_UPLOADING = 1, /* sending the chunks the broker lacks */
    FOUNDRY_MODEL_PUBLISHING = 2 /* the signed manifest is on its way */
} foundry_model_phase;

/* A push's progress, for a progress bar. Borrowed for the callback. */
typedef struct {
    foundry_model_phase phase;
    uint64_t done_bytes;   /* hashing: bytes hashed; uploading: bytes the broker holds */
    uint64_t total_bytes;  /* the artifact's size */
    uint64_t sent_bytes;   /* uploading: bytes sent and acknowledged by this push */
    size_t chunk_count;    /* the artifact's chunks */
    size_t chunks_held;    /* chunks the broker already held when the upload began */
    size_t chunks_sent;    /* chunks this push sent and the broker acknowledged */
} foundry_model_progress_t;

/* Called on the client's thread from inside foundry_model_push(), after
 * each hashed or acknowledged chunk and at each phase change. It must not
 * call into the client. */
typedef void(foundry_model_progress_fn)(const foundry_model_progress_t *progress, void *user);

/* What a push did. */
typedef struct {
    uint64_t version;        /* the version the broker accepted */
    uint64_t log_index;      /* its entry in the model's release log */
    uint8_t artifact[32];    /* the artifact id */
    uint64_t size;           /* artifact bytes */
    size_t chunk_count;
    size_t chunks_held;      /* already on the broker: not sent (resume, shared chunks) */
    size_t chunks_sent;      /* sent by this push */
    uint64_t bytes_sent;
} foundry_model_pushed_t;

/* Sets every field to 0 / NULL (the defaults). */
FOUNDRY_EXPORT void foundry_model_push_opts_init(foundry_model_push_opts_t *opts);

/* Pushes a model and waits until the broker accepted its manifest; every
 * blocking step waits up to the client's ack_timeout_ms for an answer
 * (the upload as a whole may take longer: the deadline restarts with
 * every acknowledged chunk). progress (may be NULL) follows it. On
 * success *pushed_out (may be NULL) says what was done. Returns:
 *   FOUNDRY_OK;
 *   FOUNDRY_EINVAL   a bad option (name, version, chunk size, window,
 *                    no signing key, too many sites, labels or metadata,
 *                    a label or item without "=", rollback fields);
 *   FOUNDRY_EIO      the file or a key file cannot be read;
 *   FOUNDRY_EAUTH    a key file is readable by group or others, or the
 *                    broker refused our key;
 *   FOUNDRY_EDENIED  no grant for the name, no trust policy for it, too
 *                    few trusted signatures, expired, version not above
 *                    the newest (or a rollback that does not follow the
 *                    rules);
 *   FOUNDRY_ETOOBIG  over the broker's max_model_size;
 *   FOUNDRY_ENOSPC   the broker's blob disk is full (the reason says how
 *                    much is free and needed); FOUNDRY_EFULL its store;
 *   FOUNDRY_ENOTFOUND a rollback's artifact is no longer stored;
 *   FOUNDRY_ETIMEDOUT, FOUNDRY_ENOMEM, or another broker refusal.
 * foundry_client_last_error(client) gives the broker's reason (it names
 * the chunk, key or version at fault). What was uploaded before an error
 * stays on the broker: pushing again sends only the rest. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_model_push(
    foundry_client_t *client, const foundry_model_push_opts_t *opts,
    foundry_model_progress_fn *progress, void *user, foundry_model_pushed_t *pushed_out);

/* Makes a model-signing key pair: dir/NAME.sign (secret, mode 0600, never
 * overwritten) and dir/NAME.sign.pub; pub_hex_out (may be NULL, 65
 * bytes) gets the public key as 64 hex digits. No client needed.
 * Returns FOUNDRY_OK, FOUNDRY_EINVAL (bad name), FOUNDRY_EEXIST (a file
 * exists: nothing written) or FOUNDRY_EIO. Thread-safe. */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_model_keygen(const char *dir,
                                                                  const char *name,
                                                                  char pub_hex_out[65]);

/* ---- admin commands (docs/cli.md, docs/rollouts.md) ----------------------
 *
 * foundry_admin() sends one admin command, as foundryctl does, and returns
 * the broker's reply table: rollouts (rollout.start, rollout.status,
 * rollout.ls, rollout.pause/resume/abort), models (model.ls, ...), keys,
 * streams. Arguments are the command's "key=value" items. Our key must be
 * allowed to run the command (an admin key, for most of them).
 *
 *      const char *args[] = {"model=detector", "version=7", "waves=*"};
 *      const foundry_admin_table_t *table;
 *      err = foundry_admin(client, "rollout.start", args, 3, &table);
 *      // table->columns[0] "id", table->cells[0] the rollout id as text
 */

/* A reply table, row-major: cells[row * column_count + column]. Every
 * column name and cell is NUL-terminated; cell_lens gives each cell's
 * length (a bytes column may hold a NUL). Numbers are decimal text. */
typedef struct {
    size_t column_count;
    const char *const *columns;
    size_t row_count;
    const char *const *cells;
    const size_t *cell_lens;
} foundry_admin_table_t;

/* Runs command with args (arg_count "key=value" strings, may be 0) and
 * waits up to the client's ack_timeout_ms for the answer. On success
 * *table_out (may be NULL) is the reply, borrowed until the next
 * foundry_admin() call or the client's destruction. Returns FOUNDRY_OK,
 * FOUNDRY_EINVAL (no command, a NULL arg, called from a handler),
 * FOUNDRY_ETIMEDOUT, FOUNDRY_EAUTH, or the broker's refusal (FOUNDRY_EDENIED
 * not allowed, FOUNDRY_ENOTFOUND, FOUNDRY_EKIND an unknown command, ...);
 * foundry_client_last_error(client) gives its reason. One call at a time,
 * on the client's thread, never from inside its handlers. When the
 * connection comes back before the answer, the call goes again with the
 * same token, and the broker answers it without running it twice
 * (docs/protocol.md, "Sending an ADMIN request again"). */
FOUNDRY_EXPORT FOUNDRY_NODISCARD foundry_err foundry_admin(foundry_client_t *client,
                                                           const char *command,
                                                           const char *const *args,
                                                           size_t arg_count,
                                                           const foundry_admin_table_t **table_out);

#ifdef __cplusplus
}
#endif

#endif
