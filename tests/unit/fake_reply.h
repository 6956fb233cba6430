/*  fake_reply.h: a stand-in for broker/net/reply.c, linked in its place by
 *  unit tests of a service (the link-time seam of STYLE.md §7): it records
 *  what would have been sent instead of writing to a socket.
 */
#ifndef FDY_FAKE_REPLY_H_INCLUDED
#define FDY_FAKE_REPLY_H_INCLUDED

#include "reply.h"

#include <stdint.h>

#define FAKE_SENT_MAX 64
#define FAKE_SEQS_MAX 16

typedef struct {
    uint8_t peer[16];
    size_t peer_len;
    fdy_kind_t kind;
    uint64_t request_id;
    foundry_err error_code;
    char error_reason[256];
    uint32_t ack_count;
    uint64_t seqs[FAKE_SEQS_MAX];
    size_t duplicate_count;
    size_t error_count;           /* per-message errors in an ack */
    char stream[64];              /* the ack's first stream */
    uint8_t model[8192];          /* MODEL_REPLY, MODEL_NOTICE: the body (cut at 8 KiB) */
    size_t model_len;
    size_t frame_len;             /* the body frame sent with it, if any */
    uint64_t frame_hash;          /* FNV-1a of that frame's bytes, to compare frames */
    uint32_t count;               /* the envelope's count (records of a DELIVER) */
} fake_sent_t;

/* Everything sent since the last fake_reply_clear(), in order. */
extern fake_sent_t fake_sent[FAKE_SENT_MAX];
extern size_t fake_sent_count;
void fake_reply_clear(void);

#endif
