/*  crash_common.c: the seeded random numbers of the kill schedules and the
 *  pipelined publisher with its ack counts, shared by crash_publish.c and
 *  crash_fanout.c. Not for what a test checks afterwards: each reads back
 *  or consumes what it needs itself.
 */
#include "crash_common.h"

#include "clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the kill schedule ---------------------------------------------------- */

void
fdy_crash_rng_init(fdy_crash_rng_t *rng)
{
    const char *seed_text = getenv("FOUNDRY_CRASH_SEED");
    uint64_t seed = seed_text ? strtoull(seed_text, NULL, 10)
                              : (fdy_clock_wall_ns() ^ ((uint64_t) getpid() << 32));
    rng->state = seed ? seed : 1;
    fprintf(stderr, "  FOUNDRY_CRASH_SEED=%" PRIu64 "\n", seed);
}

uint32_t
fdy_crash_random(fdy_crash_rng_t *rng, uint32_t bound)
{
    /* xorshift64: reproducible from the printed seed. */
    rng->state ^= rng->state << 13;
    rng->state ^= rng->state >> 7;
    rng->state ^= rng->state << 17;
    return (uint32_t) (rng->state % bound);
}

/* ---- the publisher ---------------------------------------------------------- */

static void
s_on_ack(const foundry_ack_t *ack, void *user)
{
    fdy_crash_pub_t *pub = user;
    size_t i = (size_t) (uintptr_t) ack->user - 1;
    if (i >= pub->sent || ack->err != FOUNDRY_OK) {
        if (pub->errors++ < 10)
            fprintf(stderr, "  message %zu: %s: %s\n", i, foundry_strerror(ack->err), ack->reason);
        return;
    }
    if (pub->ack_count[i]++ > 0) {
        pub->double_acks++;
        return;
    }
    pub->acked++;
    pub->duplicate_acks += ack->duplicate ? 1 : 0;
    pub->ack_seq[i] = ack->seq;
    if (ack->seq > pub->max_seq)
        pub->max_seq = ack->seq;
    if (pub->cfg.acked)
        pub->cfg.acked(pub->cfg.user, i, ack);
}

void
fdy_crash_pub_init(fdy_crash_pub_t *pub, fdy_proc_t *p, const char *name,
                   const fdy_crash_pub_cfg_t *cfg)
{
    memset(pub, 0, sizeof *pub);
    pub->cfg = *cfg;
    pub->ack_count = calloc(cfg->max_messages, 1);
    pub->ack_seq = calloc(cfg->max_messages, sizeof *pub->ack_seq);
    FDY_CHECK(pub->ack_count && pub->ack_seq);
    foundry_client_opts_t opts;
    foundry_client_opts_init(&opts);
    opts.resend_after_ms = 1000;
    opts.ack_timeout_ms = 2000;
    FDY_CHECK_OK(fdy_proc_client_new(p, name, &opts, &pub->client));
    FDY_CHECK_OK(foundry_client_set_ack_handler(pub->client, s_on_ack, pub));
}

void
fdy_crash_pub_some(fdy_crash_pub_t *pub, size_t upto, int poll_ms)
{
    fdy_crash_msg_t msg;
    if (upto > pub->cfg.max_messages)
        upto = pub->cfg.max_messages;
    for (int k = 0; k < pub->cfg.burst && pub->sent < upto; k++) {
        size_t i = pub->sent;
        memset(&msg, 0, sizeof msg);
        pub->cfg.make(i, &msg);
        /* sent first: an ack may arrive inside the call. */
        pub->sent++;
        foundry_err err =
            foundry_client_publish_async(pub->client, msg.subject, msg.payload, msg.payload_len,
                                         msg.id, strlen(msg.id), (void *) (uintptr_t) (i + 1));
        if (err == FOUNDRY_ETIMEDOUT) {
            pub->sent--;
            break;
        }
        FDY_CHECK_OK(err);
    }
    FDY_CHECK_OK(foundry_client_poll(pub->client, poll_ms));
}

void
fdy_crash_pub_clear(fdy_crash_pub_t *pub)
{
    FDY_CHECK(pub->client == NULL);
    free(pub->ack_count);
    free(pub->ack_seq);
    pub->ack_count = NULL;
    pub->ack_seq = NULL;
}
