/*  admin_replay.h: the answers to recent admin calls that carried a token,
 *  so a client that lost an answer in a reconnect and sends the same call
 *  again gets that answer instead of a second run (a second rollout, a
 *  second key rotation). Bounded in entries, bytes and age; in memory only,
 *  so a broker restart forgets it. Internal to the broker: admin.c owns one.
 *  Not for deciding who may run what: only calls that ran are remembered.
 */
#ifndef FDY_ADMIN_REPLAY_H_INCLUDED
#define FDY_ADMIN_REPLAY_H_INCLUDED

#include "codec.h"
#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults admin.c uses: a retry comes within seconds, so ten minutes is
 * generous; answers bigger than a table of a few hundred rows are reads,
 * which are safe to run again. */
#define FDY_ADMIN_REPLAY_ENTRIES   1024u
#define FDY_ADMIN_REPLAY_BYTES     (16u * 1024u * 1024u)
#define FDY_ADMIN_REPLAY_ENTRY_MAX (256u * 1024u)
#define FDY_ADMIN_REPLAY_AGE_MS    (10 * 60 * 1000)

typedef struct fdy_admin_replay fdy_admin_replay_t;

/* What a call answered: an error (err != FOUNDRY_OK, with reason) or the
 * encoded ADMIN_REPLY envelope. */
typedef struct {
    foundry_err err;
    const char *reason;   /* "" when err is FOUNDRY_OK */
    const uint8_t *reply; /* the encoded envelope; NULL on error */
    size_t reply_len;
} fdy_admin_answer_t;

fdy_admin_replay_t *fdy_admin_replay_new(size_t entries, size_t bytes, size_t entry_max,
                                         int64_t age_ms);
void fdy_admin_replay_destroy(fdy_admin_replay_t **self_p);

/* The answer remembered for principal's token, if any younger than the
 * age limit at now_ms. Borrowed until the next put. */
bool fdy_admin_replay_find(fdy_admin_replay_t *self, const char *principal,
                           const uint8_t token[FDY_ADMIN_TOKEN_LEN], int64_t now_ms,
                           fdy_admin_answer_t *answer_out);

/* Remembers answer for principal's token, dropping the oldest entries to
 * stay within the bounds. An answer over entry_max is not kept (false);
 * so is one that finds no memory. */
bool fdy_admin_replay_put(fdy_admin_replay_t *self, const char *principal,
                          const uint8_t token[FDY_ADMIN_TOKEN_LEN], int64_t now_ms,
                          const fdy_admin_answer_t *answer);

/* Entries and answer bytes kept now. */
size_t fdy_admin_replay_count(const fdy_admin_replay_t *self);
size_t fdy_admin_replay_bytes(const fdy_admin_replay_t *self);

#endif
