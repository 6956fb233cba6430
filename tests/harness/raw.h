/*  raw.h: a raw CURVE DEALER for protocol-level integration tests (see
 *  raw.c). Failures end the test through the harness's FDY_CHECK.
 */
#ifndef FDY_RAW_H_INCLUDED
#define FDY_RAW_H_INCLUDED

#include "proc.h"

#include <stddef.h>
#include <stdint.h>

#define FDY_RAW_DELIVERIES_MAX 1024
#define FDY_RAW_RECV_TIMEOUT_MS 10000
#define FDY_RAW_REPLY_TIMEOUT_MS 10000
#define FDY_RAW_QUIET_MS 1000 /* bounded wait for "nothing more arrives" */

typedef struct {
    fdy_proc_dealer_t *dealer;
    fdy_arena_t *arena;
    uint64_t request_id;
} fdy_raw_t;

typedef struct {
    fdy_kind_t kind;
    uint64_t request_id;
    uint64_t subscription;
    foundry_err error_code;
    char reason[256];
    size_t count; /* DELIVER: records */
    uint64_t seqs[FDY_RAW_DELIVERIES_MAX];
    uint32_t delivery_counts[FDY_RAW_DELIVERIES_MAX];
} fdy_raw_msg_t;

/* Delivered seqs collected from DELIVER messages. */
typedef struct {
    uint64_t seqs[4096];
    size_t count;
} fdy_raw_seqs_t;

/* Connects as principal name (clients/NAME.key_secret), with ZMQ_ROUTING_ID
 * routing_id (NULL: libzmq's own). */
void fdy_raw_open(fdy_proc_t *p, const char *name, const char *routing_id, fdy_raw_t *raw);
/* As fdy_raw_open, over fdy_proc_dealer_new_slow: a client that stops
 * reading. */
void fdy_raw_open_slow(fdy_proc_t *p, const char *name, fdy_raw_t *raw);
void fdy_raw_close(fdy_raw_t *raw);
/* Sends one frame as is; returns the last request id used. */
uint64_t fdy_raw_send_frame(fdy_raw_t *raw, const uint8_t *buf, size_t len);
/* Sends env with a fresh request id; returns the id. */
uint64_t fdy_raw_send(fdy_raw_t *raw, fdy_envelope_t *env);
/* The next message within timeout_ms: FOUNDRY_OK or FOUNDRY_ETIMEDOUT. */
foundry_err fdy_raw_next(fdy_raw_t *raw, int timeout_ms, fdy_raw_msg_t *out);
/* Appends a DELIVER's seqs to got (fails unless it is one for subscription). */
void fdy_raw_take(const fdy_raw_msg_t *msg, uint64_t subscription, fdy_raw_seqs_t *got);
/* Waits for the reply to request_id, collecting deliveries into got on the
 * way (got may be NULL only when none may arrive). */
void fdy_raw_reply(fdy_raw_t *raw, uint64_t request_id, uint64_t subscription, fdy_raw_msg_t *reply,
                   fdy_raw_seqs_t *got);
/* Collects deliveries until want arrived, then checks FDY_RAW_QUIET_MS that
 * nothing more comes. */
void fdy_raw_collect(fdy_raw_t *raw, uint64_t subscription, size_t want, fdy_raw_seqs_t *got);
/* SUBSCRIBE to a durable consumer with credit; returns the subscription. */
uint64_t fdy_raw_subscribe(fdy_raw_t *raw, const char *stream, const char *consumer,
                           uint32_t credit, fdy_raw_seqs_t *got);
/* Sends env and expects ERROR want (or want2) with a reason. */
void fdy_raw_expect_error(fdy_raw_t *raw, fdy_envelope_t *env, foundry_err want,
                          foundry_err want2, const char *what);
void fdy_raw_unsubscribe(fdy_raw_t *raw, uint64_t subscription);
void fdy_raw_ack(fdy_raw_t *raw, uint64_t subscription, const uint64_t *seqs, size_t count);
void fdy_raw_credit(fdy_raw_t *raw, uint64_t subscription, uint32_t msgs);

#endif
