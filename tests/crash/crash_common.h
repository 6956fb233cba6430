/*  crash_common.h: what the crash tests share: the kill schedule's
 *  reproducible random numbers (FOUNDRY_CRASH_SEED) and a pipelined
 *  libfoundry publisher that keeps count of every ack it sees while the
 *  broker is killed under it. Each test says what message i is and checks
 *  the counts itself. Test code, over the real broker (proc.h).
 */
#ifndef FDY_CRASH_COMMON_H_INCLUDED
#define FDY_CRASH_COMMON_H_INCLUDED

#include "proc.h"

#include <stddef.h>
#include <stdint.h>

/* ---- the kill schedule ---------------------------------------------------- */

typedef struct {
    uint64_t state;
} fdy_crash_rng_t;

/* Seeds rng from FOUNDRY_CRASH_SEED, or from the clock and pid, and prints
 * FOUNDRY_CRASH_SEED=N so that a failed run can be replayed. */
void fdy_crash_rng_init(fdy_crash_rng_t *rng);

/* A number in [0, bound) (xorshift64). */
uint32_t fdy_crash_random(fdy_crash_rng_t *rng, uint32_t bound);

/* ---- the publisher ---------------------------------------------------------- */

/* Message i of a test, as its make() writes it. */
typedef struct {
    char subject[96];
    char id[32];
    char payload[160];
    size_t payload_len;
} fdy_crash_msg_t;

typedef struct {
    size_t max_messages; /* indexes 0..max_messages-1 */
    int burst;           /* messages queued per fdy_crash_pub_some() at most */
    void (*make)(size_t i, fdy_crash_msg_t *out);
    /* Optional: called on the first OK ack of message i, after it was
     * counted, with user (per-test checks of the ack). */
    void (*acked)(void *user, size_t i, const foundry_ack_t *ack);
    void *user;
} fdy_crash_pub_cfg_t;

typedef struct {
    fdy_crash_pub_cfg_t cfg;
    foundry_client_t *client; /* caller owns once made: flush and close it */
    size_t sent;              /* messages 0..sent-1 were queued */
    size_t acked;             /* distinct messages acknowledged OK */
    size_t errors;            /* acks with an error, or for a message never sent */
    size_t double_acks;       /* a message acknowledged OK twice */
    size_t duplicate_acks;    /* OK acks flagged duplicate (resent after a crash) */
    uint8_t *ack_count;       /* per message: OK acks */
    uint64_t *ack_seq;        /* per message: the seq of its first OK ack */
    uint64_t max_seq;         /* highest acked seq */
} fdy_crash_pub_t;

/* Connects principal NAME of p as a publisher (resend after 1 s, ack
 * timeout 2 s, so resends happen across kills) whose acks update pub.
 * Fails the test on error. Free with fdy_crash_pub_clear(). */
void fdy_crash_pub_init(fdy_crash_pub_t *pub, fdy_proc_t *p, const char *name,
                        const fdy_crash_pub_cfg_t *cfg);

/* Queues up to cfg.burst more messages while fewer than `upto` were sent
 * (a full window is not an error: the library waits for acks), then lets
 * the client work for poll_ms. */
void fdy_crash_pub_some(fdy_crash_pub_t *pub, size_t upto, int poll_ms);

/* Frees the counts. The client must have been closed (pub->client NULL). */
void fdy_crash_pub_clear(fdy_crash_pub_t *pub);

#endif
