/*  codec.h: encoding and validating decoding of the wire format
 *  (proto/foundry.proto, docs/protocol.md). codec.c is the only file that
 *  includes the generated *.pb-c.h; everything else sees the fdy_* types.
 *
 *  Untrusted input is checked in this order: frame size before unpacking;
 *  protobuf-c unpack into a budgeted arena (a NULL unpack is FOUNDRY_EPROTO);
 *  then field validation (version, kind, sizes, subject syntax).
 */
#ifndef FDY_CODEC_H_INCLUDED
#define FDY_CODEC_H_INCLUDED

#include "arena.h"
#include "reason.h"

#include <stdbool.h>
#include <stdint.h>

#define FDY_PROTOCOL_VERSION 1
/* Largest envelope frame (frame 0) we unpack. */
#define FDY_ENVELOPE_MAX (64u * 1024u)
/* Largest reply envelope (PUBLISH_ACK, ERROR, ADMIN_REPLY, PONG) we unpack.
 * A reply carries a whole ack or admin table, so it may exceed
 * FDY_ENVELOPE_MAX; requests above FDY_ENVELOPE_MAX are still refused. */
#define FDY_REPLY_MAX (64u * 1024u * 1024u)
/* Largest batch frame (frame 1). */
#define FDY_BATCH_FRAME_MAX (8u * 1024u * 1024u)
/* Largest single payload, inline or in its own frame. */
#define FDY_PAYLOAD_MAX (4u * 1024u * 1024u)
/* Largest DELIVER batch frame and delivery record: a stored message can be
 * a whole publish batch frame of record plus its external payload frame,
 * and the delivery wraps both with its stream, seq and publisher. Bigger
 * than FDY_BATCH_FRAME_MAX so that every message the broker stores can be
 * delivered; publish batch frames stay limited to FDY_BATCH_FRAME_MAX. */
#define FDY_DELIVERY_OVERHEAD_MAX (64u * 1024u)
#define FDY_DELIVER_FRAME_MAX (FDY_BATCH_FRAME_MAX + FDY_PAYLOAD_MAX + FDY_DELIVERY_OVERHEAD_MAX)
/* Most records in one batch frame. */
#define FDY_BATCH_MSGS_MAX 16384u
/* Most headers on one message; longest header key. */
#define FDY_HEADERS_MAX 32u
#define FDY_HEADER_KEY_MAX 64u
/* Memory budget for unpacking n bytes: protobuf-c needs a few structs per
 * field on top of the copied bytes. Measured on legitimate frames: acks
 * ~4.2x, admin tables ~4.7x (key.ls), so 8x; hostile frames reach ~30x. */
#define FDY_DECODE_BUDGET(n) (8u * (size_t)(n) + 16384u)
/* Budget for decoding all `count` records of an n-byte batch frame into one
 * arena: each decoded Message also costs ~160 bytes of structs, which for
 * tiny records is ~10x their size. */
#define FDY_BATCH_DECODE_BUDGET(n, count) (FDY_DECODE_BUDGET(n) + 256u * (size_t)(count))

typedef enum {
    FDY_KIND_PUBLISH = 1,
    FDY_KIND_PUBLISH_ACK = 2,
    FDY_KIND_ERROR = 3,
    FDY_KIND_ADMIN = 4,
    FDY_KIND_ADMIN_REPLY = 5,
    FDY_KIND_PING = 6,
    FDY_KIND_PONG = 7,
    FDY_KIND_SUBSCRIBE = 8,
    FDY_KIND_SUBSCRIBED = 9,
    FDY_KIND_CREDIT = 10,
    FDY_KIND_DELIVER = 11,
    FDY_KIND_ACK = 12,
    FDY_KIND_UNSUBSCRIBE = 13,
    FDY_KIND_JOB = 14,
    FDY_KIND_JOB_REPLY = 15,
    FDY_KIND_JOB_OFFER = 16,
    FDY_KIND_MODEL = 17,
    FDY_KIND_MODEL_REPLY = 18,
    FDY_KIND_MODEL_NOTICE = 19,
    FDY_KIND_JOB_OFFERS = 20,
} fdy_kind_t;

/* What the codec and the broker need to know about a kind, in one row per
 * kind (codec.c's s_kinds): adding a kind is a row there plus its case in
 * the encoder and decoder. */
typedef struct {
    fdy_kind_t kind;
    const char *name;  /* as in proto/foundry.proto: "PUBLISH_ACK" */
    bool reply;        /* its envelope may exceed FDY_ENVELOPE_MAX, up to FDY_REPLY_MAX */
    bool extra_frames; /* a request of this kind may carry frames after the envelope
                        * (the broker refuses them otherwise); DELIVER's batch frame
                        * travels to the client, which checks it itself */
} fdy_kind_info_t;

/* Returns the row for kind, or NULL when kind is not a kind this side
 * speaks (the decoder's FOUNDRY_EKIND, the encoder's FOUNDRY_EINVAL).
 * Borrowed from a static table: valid for the life of the program, and
 * thread-safe. */
const fdy_kind_info_t *fdy_codec_kind_info(fdy_kind_t kind);

/* ---- messages (records of the batch frame) -------------------------- */

typedef struct {
    const char *key;
    const uint8_t *value;
    size_t value_len;
} fdy_header_t;

/* A decoded Message. Every pointer is borrowed from the arena it was
 * decoded into, valid until that arena is reset. Strings are NUL-ended. */
typedef struct {
    const uint8_t *id;
    size_t id_len;
    const char *subject;
    const uint8_t *payload;     /* inline payload, or NULL with payload_frame > 0 */
    size_t payload_len;
    uint32_t payload_frame;
    uint64_t timestamp_ns;
    uint32_t ttl_ms;
    uint32_t priority;
    const char *target;
    const uint8_t *correlation_id;
    size_t correlation_id_len;
    const fdy_header_t *headers;
    size_t header_count;
} fdy_msg_t;

/* Encodes msg (headers included) into a new buffer. Caller owns *buf_out
 * (free()). Returns FOUNDRY_OK, FOUNDRY_EINVAL (invalid subject, id length,
 * sizes) with reason, or FOUNDRY_ENOMEM. */
foundry_err fdy_codec_encode_msg(const fdy_msg_t *msg, uint8_t **buf_out, size_t *len_out,
                                 fdy_reason_t *reason);

/* Size of msg encoded, and encoding into a caller buffer of at least that
 * size (for batching without a copy). Returns bytes written. msg must have
 * been checked with fdy_codec_check_msg(). Packed by hand, the bytes
 * fdy_codec_encode_msg() packs with protobuf-c. */
size_t fdy_codec_msg_size(const fdy_msg_t *msg);
size_t fdy_codec_msg_write(const fdy_msg_t *msg, uint8_t *out);

/* Validates a message a client wants to send (id 1..FOUNDRY_MSG_ID_MAX,
 * subject syntax, payload size, headers). Returns FOUNDRY_OK,
 * FOUNDRY_EINVAL or FOUNDRY_ETOOBIG with reason. */
foundry_err fdy_codec_check_msg(const fdy_msg_t *msg, fdy_reason_t *reason);

/* Decodes and validates one Message from untrusted bytes into arena.
 * Returns FOUNDRY_OK, FOUNDRY_ETOOBIG, FOUNDRY_EPROTO (does not unpack, or
 * an id, subject, header or payload reference is invalid), FOUNDRY_EINVAL
 * (subject syntax) or FOUNDRY_ENOMEM (arena budget), with reason. */
foundry_err fdy_codec_decode_msg(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                 fdy_msg_t *msg_out, fdy_reason_t *reason);

/* The same checks, without copying the bytes fields: id, payload,
 * correlation id and header values point into buf (borrowed, valid as long
 * as buf); only the text fields (subject, target, header keys) are copied
 * into arena, NUL-ended. For hot paths that keep buf alive at least as
 * long as the result (the broker's publish path, a subscription's frame). */
foundry_err fdy_codec_decode_msg_view(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                      fdy_msg_t *msg_out, fdy_reason_t *reason);

/* ---- the batch frame ------------------------------------------------ */

/* One record of a batch frame: a borrowed slice of the frame. */
typedef struct {
    const uint8_t *data;
    size_t len;
} fdy_slice_t;

/* Splits an untrusted batch frame into exactly `count` records (varint
 * length + bytes each) without copying. slices_out must hold count entries.
 * Returns FOUNDRY_OK, FOUNDRY_EPROTO (truncated, trailing bytes, bad varint,
 * fewer or more records) or FOUNDRY_ETOOBIG, with reason. */
foundry_err fdy_codec_split_batch(const uint8_t *frame, size_t len, uint32_t count,
                                  fdy_slice_t *slices_out, fdy_reason_t *reason);

/* Appends one varint-prefixed record to a batch frame being built.
 * Returns bytes written to out (at most len + 10). */
size_t fdy_codec_batch_put_prefix(size_t record_len, uint8_t *out);

/* ---- envelopes ------------------------------------------------------ */

typedef struct {
    uint32_t index;
    foundry_err code;
    const char *reason;
} fdy_msg_error_t;

/* Result of a PUBLISH. Arrays have `count` entries (seqs, stream_refs). */
typedef struct {
    size_t count;
    const uint64_t *seqs;
    const uint32_t *stream_refs;
    const char *const *streams;
    size_t stream_count;
    const uint32_t *duplicates;
    size_t duplicate_count;
    const fdy_msg_error_t *errors;
    size_t error_count;
} fdy_publish_ack_t;

typedef enum { FDY_COL_TEXT = 0, FDY_COL_INT = 1, FDY_COL_BYTES = 2 } fdy_col_type_t;

/* A table: the body of every admin reply. cells is row-major,
 * row_count * column_count entries. Pointers borrowed from the arena (when
 * decoded) or from the caller (when encoding). */
typedef struct {
    size_t column_count;
    const char *const *columns;
    const fdy_col_type_t *types;
    size_t row_count;
    const fdy_slice_t *cells;
} fdy_table_t;

/* Bytes of an ADMIN request's token (empty tokens are allowed too). */
#define FDY_ADMIN_TOKEN_LEN 16

/* A decoded or to-be-encoded envelope. Only the part named by kind is
 * meaningful. Pointers are borrowed (arena when decoded). */
typedef struct {
    uint32_t version;
    fdy_kind_t kind;
    uint64_t request_id;
    uint32_t count;                 /* PUBLISH */
    fdy_publish_ack_t ack;          /* PUBLISH_ACK */
    foundry_err error_code;         /* ERROR */
    const char *error_reason;       /* ERROR */
    const char *command;            /* ADMIN */
    const char *const *args;        /* ADMIN */
    size_t arg_count;               /* ADMIN */
    /* ADMIN: empty, or FDY_ADMIN_TOKEN_LEN bytes naming this call, so a
     * resend after a reconnect gets the first answer instead of a rerun. */
    const uint8_t *admin_token;
    size_t admin_token_len;
    fdy_table_t table;              /* ADMIN_REPLY */
    /* SUBSCRIBE: durable (stream + consumer) or ephemeral (filter only). */
    const char *sub_stream;
    const char *sub_consumer;
    const char *sub_filter;
    uint32_t credit_msgs;           /* SUBSCRIBE (initial), CREDIT (added) */
    uint64_t credit_bytes;          /* SUBSCRIBE, CREDIT; 0 = no byte limit */
    /* SUBSCRIBED, CREDIT, DELIVER, ACK, UNSUBSCRIBE; on ERROR: the
     * subscription it is about (0: none). */
    uint64_t subscription;
    const uint64_t *ack_seqs;       /* ACK: individual seqs */
    size_t ack_seq_count;
    uint64_t ack_floor;             /* ACK: cumulative, 0 = none */
    /* DELIVER of an ephemeral subscription: messages dropped for it so far
     * (a running total, not a delta). */
    uint64_t dropped;
    /* JOB_REPLY, JOB_OFFER, JOB_OFFERS: the encoded jobs.proto body (codec_jobs.h). A
     * JOB request carries its body in frame 1 instead. */
    const uint8_t *job;
    size_t job_len;
    /* MODEL_REPLY, MODEL_NOTICE: the encoded models.proto body
     * (codec_models.h). A MODEL request carries its body in frame 1 and an
     * upload's chunk in frame 2; a FETCH reply its chunk in frame 1. */
    const uint8_t *model;
    size_t model_len;
} fdy_envelope_t;

/* Encodes env (version is forced to FDY_PROTOCOL_VERSION). Caller owns
 * *buf_out (free()). Returns FOUNDRY_OK, FOUNDRY_EINVAL or FOUNDRY_ENOMEM. */
foundry_err fdy_codec_encode_envelope(const fdy_envelope_t *env, uint8_t **buf_out,
                                      size_t *len_out);

/* Decodes an untrusted envelope frame into arena and validates it: size
 * (FOUNDRY_ETOOBIG: over FDY_ENVELOPE_MAX, or FDY_REPLY_MAX for the reply
 * kinds), unpack (FOUNDRY_EPROTO; FOUNDRY_ENOMEM when the arena budget runs
 * out: give replies from the broker FDY_DECODE_BUDGET(FDY_REPLY_MAX), a cap
 * rather than an allocation), version (FOUNDRY_EVERSION),
 * kind (FOUNDRY_EKIND), and the fields its kind needs (FOUNDRY_EPROTO).
 * On FOUNDRY_EVERSION and FOUNDRY_EKIND, env_out->request_id is still set so
 * the caller can address its error reply. Reason says what was wrong. */
foundry_err fdy_codec_decode_envelope(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                      fdy_envelope_t *env_out, fdy_reason_t *reason);

/* ---- deliveries (records of a DELIVER batch frame) ------------------ */

/* One delivered message. Pointers borrowed (from the caller when encoding,
 * from the arena when decoding). `message` is the encoded Message exactly
 * as stored: decode it with fdy_codec_decode_msg. */
/* Publishers are principal names (FDY_NAME_MAX with its NUL); the memo
 * keeps names up to this long. */
#define FDY_MEMO_TEXT_MAX 63

typedef struct {
    const char *stream;
    uint64_t seq;
    uint32_t delivery_count;
    uint64_t stored_ns;
    const char *publisher;
    const uint8_t *message;
    size_t message_len;
    const uint8_t *ext;
    size_t ext_len;
} fdy_delivery_t;

/* Size of d encoded, and encoding into a caller buffer of at least that
 * size; returns bytes written. No heap allocation (broker hot path). */
size_t fdy_codec_delivery_size(const fdy_delivery_t *d);
size_t fdy_codec_delivery_write(const fdy_delivery_t *d, uint8_t *out);

/* Decodes one untrusted Delivery record into arena. Returns FOUNDRY_OK,
 * FOUNDRY_EPROTO, FOUNDRY_ETOOBIG or FOUNDRY_ENOMEM, with reason. */
foundry_err fdy_codec_decode_delivery(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                      fdy_delivery_t *out, fdy_reason_t *reason);

/* The same checks, without copying message and ext: they point into buf
 * (borrowed, valid as long as buf); stream and publisher are NUL-ended
 * copies in arena. */
foundry_err fdy_codec_decode_delivery_view(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                           fdy_delivery_t *out, fdy_reason_t *reason);

/* The text fields of the deliveries a subscription decoded last, already
 * checked and NUL-ended. Deliveries mostly come in runs with one stream,
 * one publisher and one subject, so a record whose text equals the last
 * one's is compared instead of checked again and shares the copy. Zero it
 * to start empty; text too long for a slot is checked and copied into the
 * arena as without a memo. */
typedef struct {
    char stream[FOUNDRY_STREAM_NAME_MAX + 1];
    char publisher[FDY_MEMO_TEXT_MAX + 1];
    char subject[FOUNDRY_SUBJECT_MAX + 1];
    size_t stream_len, publisher_len, subject_len; /* 0: empty slot */
} fdy_delivery_memo_t;

/* fdy_codec_decode_delivery_view and fdy_codec_decode_msg_view with a
 * memo: the same checks, results and errors, but stream, publisher and
 * subject may point into memo (borrowed, valid until the next decode with
 * this memo) instead of the arena. memo is updated only by text that passed
 * its checks. Not thread-safe: one memo per subscription. */
foundry_err fdy_codec_decode_delivery_memo(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                           fdy_delivery_memo_t *memo, fdy_delivery_t *out,
                                           fdy_reason_t *reason);
foundry_err fdy_codec_decode_msg_memo(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                                      fdy_delivery_memo_t *memo, fdy_msg_t *msg_out,
                                      fdy_reason_t *reason);

/* Finds the subject of an encoded Message without unpacking it: a borrowed
 * slice of buf (not NUL-ended). For records that were validated when they
 * were stored (the broker's delivery path). Returns false when the record
 * does not parse or has no subject. No heap allocation. */
bool fdy_codec_msg_subject(const uint8_t *buf, size_t len, fdy_slice_t *subject_out);

/* ---- key records (the broker's key store) --------------------------- */

typedef enum {
    FDY_ROLE_NODE = 1,
    FDY_ROLE_PARTNER = 2,
    FDY_ROLE_ADMIN = 3,
    FDY_ROLE_LINK = 4,
} fdy_role_t;

/* Returns "node", "partner", "admin", "link" or "?". */
const char *fdy_role_name(fdy_role_t role);
/* Returns FOUNDRY_OK or FOUNDRY_EINVAL for an unknown name. */
foundry_err fdy_role_parse(const char *name, fdy_role_t *role_out);

#define FDY_NAME_MAX 64      /* principal, site and tenant names, with NUL */
#define FDY_Z85_KEY_LEN 40   /* a Z85-encoded CURVE key, without NUL */
#define FDY_ALLOW_MAX 32     /* allow-publish filters per principal */

/* A principal: who a key belongs to and what it may do. Owns its strings. */
typedef struct {
    char name[FDY_NAME_MAX];
    char public_key[FDY_Z85_KEY_LEN + 1];
    fdy_role_t role;
    char site[FDY_NAME_MAX];
    char tenant[FDY_NAME_MAX];
    char *allow_publish[FDY_ALLOW_MAX]; /* malloc'd filters */
    size_t allow_count;
    char *allow_subscribe[FDY_ALLOW_MAX]; /* malloc'd filters it may read */
    size_t allow_subscribe_count;
    bool revoked;
    uint64_t created_ns;
    uint64_t revoked_ns;
    uint32_t rate_msgs;  /* publish limit, messages/s; 0 = the role's default */
    uint64_t rate_bytes; /* publish limit, bytes/s; 0 = the role's default */
    char *allow_jobs[FDY_ALLOW_MAX]; /* malloc'd sites it may submit jobs to; "*" any */
    size_t allow_jobs_count;
    char *allow_models[FDY_ALLOW_MAX]; /* malloc'd model names it may publish; "*" any */
    size_t allow_models_count;
} fdy_principal_t;

/* Encodes p as a KeyRecord. Caller owns *buf_out (free()). */
foundry_err fdy_codec_encode_principal(const fdy_principal_t *p, uint8_t **buf_out,
                                       size_t *len_out);
/* Decodes a KeyRecord into *p (zeroed first). Free with
 * fdy_principal_clear(). Returns FOUNDRY_OK, FOUNDRY_EPROTO, FOUNDRY_ENOMEM. */
foundry_err fdy_codec_decode_principal(const uint8_t *buf, size_t len, fdy_principal_t *p);
/* Frees the filters of p and zeroes it. */
void fdy_principal_clear(fdy_principal_t *p);

#endif
