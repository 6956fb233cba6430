/*  codec.c: the wire format (proto/foundry.proto) to and from the fdy_*
 *  types, with validation of everything that arrives from a peer or a disk.
 *  The only file that includes the generated foundry.pb-c.h. Not for policy:
 *  who may publish what is the broker's ACL, not the codec's.
 */
#include "codec.h"

#include "codec_internal.h"
#include "foundry.pb-c.h"
#include "subject.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- kinds ------------------------------------------------------------ */

/* Indexed by kind value; a hole (name NULL) is not a kind. */
static const fdy_kind_info_t s_kinds[] = {
    [FDY_KIND_PUBLISH] = {FDY_KIND_PUBLISH, "PUBLISH", false, true},
    [FDY_KIND_PUBLISH_ACK] = {FDY_KIND_PUBLISH_ACK, "PUBLISH_ACK", true, false},
    [FDY_KIND_ERROR] = {FDY_KIND_ERROR, "ERROR", true, false},
    [FDY_KIND_ADMIN] = {FDY_KIND_ADMIN, "ADMIN", false, false},
    [FDY_KIND_ADMIN_REPLY] = {FDY_KIND_ADMIN_REPLY, "ADMIN_REPLY", true, false},
    [FDY_KIND_PING] = {FDY_KIND_PING, "PING", false, false},
    [FDY_KIND_PONG] = {FDY_KIND_PONG, "PONG", true, false},
    [FDY_KIND_SUBSCRIBE] = {FDY_KIND_SUBSCRIBE, "SUBSCRIBE", false, false},
    [FDY_KIND_SUBSCRIBED] = {FDY_KIND_SUBSCRIBED, "SUBSCRIBED", false, false},
    [FDY_KIND_CREDIT] = {FDY_KIND_CREDIT, "CREDIT", false, false},
    [FDY_KIND_DELIVER] = {FDY_KIND_DELIVER, "DELIVER", false, false},
    [FDY_KIND_ACK] = {FDY_KIND_ACK, "ACK", false, false},
    [FDY_KIND_UNSUBSCRIBE] = {FDY_KIND_UNSUBSCRIBE, "UNSUBSCRIBE", false, false},
    [FDY_KIND_JOB] = {FDY_KIND_JOB, "JOB", false, true},
    [FDY_KIND_JOB_REPLY] = {FDY_KIND_JOB_REPLY, "JOB_REPLY", true, false},
    [FDY_KIND_JOB_OFFER] = {FDY_KIND_JOB_OFFER, "JOB_OFFER", true, false},
    [FDY_KIND_MODEL] = {FDY_KIND_MODEL, "MODEL", false, true},
    [FDY_KIND_MODEL_REPLY] = {FDY_KIND_MODEL_REPLY, "MODEL_REPLY", true, false},
    [FDY_KIND_MODEL_NOTICE] = {FDY_KIND_MODEL_NOTICE, "MODEL_NOTICE", true, false},
    [FDY_KIND_JOB_OFFERS] = {FDY_KIND_JOB_OFFERS, "JOB_OFFERS", true, false},
};

const fdy_kind_info_t *
fdy_codec_kind_info(fdy_kind_t kind)
{
    /* kind may hold any value a peer sent, negative included. */
    long long index = (long long) kind;
    if (index < 0 || index >= (long long) (sizeof s_kinds / sizeof s_kinds[0]) ||
        !s_kinds[index].name)
        return NULL;
    return &s_kinds[index];
}

/* For a raw kind value from the wire, which may not even fit the enum:
 * whether its envelope may exceed FDY_ENVELOPE_MAX. */
static bool
s_is_reply_kind(uint64_t kind)
{
    const fdy_kind_info_t *info = kind <= INT_MAX ? fdy_codec_kind_info((fdy_kind_t) kind) : NULL;
    return info && info->reply;
}

/* ---- unpacking into the arena ----------------------------------------- */

static void *
s_pb_alloc(void *data, size_t size)
{
    fdy_pb_ctx_t *ctx = data;
    void *ptr = fdy_arena_alloc(ctx->arena, size);
    if (!ptr)
        ctx->exhausted = true;
    return ptr;
}

static void
s_pb_free(void *data, void *ptr)
{
    /* The arena frees everything at reset; a failed unpack that frees what
     * it built only leaves it to that. */
    (void) data;
    (void) ptr;
}

ProtobufCAllocator
fdy_codec_pb_allocator(fdy_pb_ctx_t *ctx)
{
    ProtobufCAllocator allocator = {s_pb_alloc, s_pb_free, ctx};
    return allocator;
}

foundry_err
fdy_codec_unpack_failed(const fdy_pb_ctx_t *ctx, const char *what, size_t len,
                        fdy_reason_t *reason)
{
    if (ctx->exhausted)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM,
                              "%s of %zu bytes exceeds its decoding memory budget", what, len);
    return fdy_reason_set(reason, FOUNDRY_EPROTO, "%s of %zu bytes does not unpack", what, len);
}

/* ---- messages --------------------------------------------------------- */

foundry_err
fdy_codec_check_msg(const fdy_msg_t *msg, fdy_reason_t *reason)
{
    assert(msg);
    if (!msg->id || msg->id_len == 0 || msg->id_len > FOUNDRY_MSG_ID_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "message id must be 1..%d bytes, not %zu",
                              FOUNDRY_MSG_ID_MAX, msg->id ? msg->id_len : 0);
    if (!msg->subject)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "message has no subject");
    foundry_err err = fdy_subject_validate(msg->subject, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (msg->payload_len > FDY_PAYLOAD_MAX)
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "payload of %zu bytes exceeds %u",
                              msg->payload_len, FDY_PAYLOAD_MAX);
    if (msg->payload_len > 0 && !msg->payload)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "payload length without payload");
    if (msg->payload_len > 0 && msg->payload_frame > 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "message has both an inline payload and a payload frame");
    if (msg->target && !fdy_codec_text_ok((const uint8_t *) msg->target, strlen(msg->target)))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "message target is not UTF-8 text");
    if (msg->correlation_id_len > 0 && !msg->correlation_id)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "correlation id length without correlation id");
    if (msg->header_count > FDY_HEADERS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%zu headers, at most %u allowed",
                              msg->header_count, FDY_HEADERS_MAX);
    if (msg->header_count > 0 && !msg->headers)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "header count without headers");
    for (size_t i = 0; i < msg->header_count; i++) {
        const fdy_header_t *header = &msg->headers[i];
        size_t key_len = header->key ? strnlen(header->key, FDY_HEADER_KEY_MAX + 1) : 0;
        if (key_len == 0 || key_len > FDY_HEADER_KEY_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "header %zu: key must be 1..%u bytes", i,
                                  FDY_HEADER_KEY_MAX);
        if (!fdy_codec_text_ok((const uint8_t *) header->key, key_len))
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "header %zu: key is not UTF-8 text", i);
        if (header->value_len > 0 && !header->value)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "header %zu: value length without value",
                                  i);
    }
    return FOUNDRY_OK;
}

/* Headers of one message on the stack: fdy_codec_msg_size/write run per
 * message on the client's hot path and must not touch the heap. */
typedef struct {
    Foundry__Message pb;
    Foundry__Header headers[FDY_HEADERS_MAX];
    Foundry__Header *header_ptrs[FDY_HEADERS_MAX];
} s_msg_pb_t;

/* protobuf-c's structs are not const-qualified; packing only reads them. */
static void
s_msg_to_pb(const fdy_msg_t *msg, s_msg_pb_t *out)
{
    Foundry__Message init = FOUNDRY__MESSAGE__INIT;
    out->pb = init;
    out->pb.id.data = (uint8_t *) msg->id;
    out->pb.id.len = msg->id_len;
    out->pb.subject = (char *) msg->subject;
    out->pb.payload.data = (uint8_t *) msg->payload;
    out->pb.payload.len = msg->payload_len;
    out->pb.payload_frame = msg->payload_frame;
    out->pb.timestamp_ns = msg->timestamp_ns;
    out->pb.ttl_ms = msg->ttl_ms;
    out->pb.priority = msg->priority;
    out->pb.target = (char *) msg->target;
    out->pb.correlation_id.data = (uint8_t *) msg->correlation_id;
    out->pb.correlation_id.len = msg->correlation_id_len;

    size_t count = msg->header_count;
    assert(count <= FDY_HEADERS_MAX); /* fdy_codec_check_msg() ran */
    if (count > FDY_HEADERS_MAX)
        count = FDY_HEADERS_MAX;
    for (size_t i = 0; i < count; i++) {
        Foundry__Header header = FOUNDRY__HEADER__INIT;
        header.key = (char *) msg->headers[i].key;
        header.value.data = (uint8_t *) msg->headers[i].value;
        header.value.len = msg->headers[i].value_len;
        out->headers[i] = header;
        out->header_ptrs[i] = &out->headers[i];
    }
    out->pb.n_headers = count;
    out->pb.headers = count ? out->header_ptrs : NULL;
}

foundry_err
fdy_codec_encode_msg(const fdy_msg_t *msg, uint8_t **buf_out, size_t *len_out, fdy_reason_t *reason)
{
    assert(buf_out && len_out);
    *buf_out = NULL;
    *len_out = 0;
    foundry_err err = fdy_codec_check_msg(msg, reason);
    if (err != FOUNDRY_OK)
        return err;
    /* protobuf-c's packing, where fdy_codec_msg_write() packs by hand: the
     * two must agree byte for byte (test_codec_pack). */
    s_msg_pb_t pb;
    s_msg_to_pb(msg, &pb);
    size_t size = foundry__message__get_packed_size(&pb.pb);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory encoding a message");
    *len_out = foundry__message__pack(&pb.pb, buf);
    *buf_out = buf;
    return FOUNDRY_OK;
}

/* ---- envelopes: encoding ---------------------------------------------- */

/* Temporary protobuf-c structs for one envelope, freed together. */
typedef struct {
    Foundry__PublishAck ack;
    Foundry__MsgError *errors;
    Foundry__MsgError **error_ptrs;
    Foundry__Error error;
    Foundry__AdminRequest admin;
    Foundry__AdminReply reply;
    Foundry__Subscribe subscribe;
    Foundry__Credit credit;
    Foundry__Acks acks;
    Foundry__ColumnType *types;
    Foundry__Row *rows;
    Foundry__Row **row_ptrs;
    ProtobufCBinaryData *cells;
} s_env_pb_t;

static void
s_env_pb_free(s_env_pb_t *parts)
{
    free(parts->errors);
    free(parts->error_ptrs);
    free(parts->types);
    free(parts->rows);
    free(parts->row_ptrs);
    free(parts->cells);
}

static bool
s_strings_ok(const char *const *strings, size_t count)
{
    if (count > 0 && !strings)
        return false;
    for (size_t i = 0; i < count; i++)
        if (!strings[i])
            return false;
    return true;
}

static foundry_err
s_encode_ack(const fdy_publish_ack_t *ack, s_env_pb_t *parts)
{
    if ((ack->count > 0 && (!ack->seqs || !ack->stream_refs)) ||
        !s_strings_ok(ack->streams, ack->stream_count) ||
        (ack->duplicate_count > 0 && !ack->duplicates) || (ack->error_count > 0 && !ack->errors))
        return FOUNDRY_EINVAL;
    Foundry__PublishAck init = FOUNDRY__PUBLISH_ACK__INIT;
    parts->ack = init;
    parts->ack.n_seqs = ack->count;
    parts->ack.seqs = (uint64_t *) ack->seqs;
    parts->ack.n_stream_refs = ack->count;
    parts->ack.stream_refs = (uint32_t *) ack->stream_refs;
    parts->ack.n_streams = ack->stream_count;
    parts->ack.streams = (char **) ack->streams;
    parts->ack.n_duplicates = ack->duplicate_count;
    parts->ack.duplicates = (uint32_t *) ack->duplicates;
    if (ack->error_count > 0) {
        parts->errors = calloc(ack->error_count, sizeof *parts->errors);
        parts->error_ptrs = calloc(ack->error_count, sizeof *parts->error_ptrs);
        if (!parts->errors || !parts->error_ptrs)
            return FOUNDRY_ENOMEM;
        for (size_t i = 0; i < ack->error_count; i++) {
            Foundry__MsgError error = FOUNDRY__MSG_ERROR__INIT;
            error.index = ack->errors[i].index;
            error.code = (uint32_t) ack->errors[i].code;
            error.reason = (char *) ack->errors[i].reason;
            parts->errors[i] = error;
            parts->error_ptrs[i] = &parts->errors[i];
        }
        parts->ack.n_errors = ack->error_count;
        parts->ack.errors = parts->error_ptrs;
    }
    return FOUNDRY_OK;
}

static foundry_err
s_encode_table(const fdy_table_t *table, s_env_pb_t *parts)
{
    if (!s_strings_ok(table->columns, table->column_count) ||
        (table->column_count > 0 && !table->types))
        return FOUNDRY_EINVAL;
    size_t cell_count = table->row_count * table->column_count;
    if (table->column_count > 0 && cell_count / table->column_count != table->row_count)
        return FOUNDRY_EINVAL;
    if (cell_count > 0 && !table->cells)
        return FOUNDRY_EINVAL;

    Foundry__AdminReply init = FOUNDRY__ADMIN_REPLY__INIT;
    parts->reply = init;
    parts->reply.n_columns = table->column_count;
    parts->reply.columns = (char **) table->columns;
    if (table->column_count > 0) {
        parts->types = calloc(table->column_count, sizeof *parts->types);
        if (!parts->types)
            return FOUNDRY_ENOMEM;
        for (size_t i = 0; i < table->column_count; i++) {
            if ((int) table->types[i] < FDY_COL_TEXT || (int) table->types[i] > FDY_COL_BYTES)
                return FOUNDRY_EINVAL;
            parts->types[i] = (Foundry__ColumnType) table->types[i];
        }
        parts->reply.n_types = table->column_count;
        parts->reply.types = parts->types;
    }
    if (table->row_count > 0) {
        parts->rows = calloc(table->row_count, sizeof *parts->rows);
        parts->row_ptrs = calloc(table->row_count, sizeof *parts->row_ptrs);
        parts->cells = calloc(cell_count ? cell_count : 1, sizeof *parts->cells);
        if (!parts->rows || !parts->row_ptrs || !parts->cells)
            return FOUNDRY_ENOMEM;
        for (size_t i = 0; i < cell_count; i++) {
            if (table->cells[i].len > 0 && !table->cells[i].data)
                return FOUNDRY_EINVAL;
            parts->cells[i].data = (uint8_t *) table->cells[i].data;
            parts->cells[i].len = table->cells[i].len;
        }
        for (size_t r = 0; r < table->row_count; r++) {
            Foundry__Row row = FOUNDRY__ROW__INIT;
            row.n_cells = table->column_count;
            row.cells = table->column_count ? parts->cells + r * table->column_count : NULL;
            parts->rows[r] = row;
            parts->row_ptrs[r] = &parts->rows[r];
        }
        parts->reply.n_rows = table->row_count;
        parts->reply.rows = parts->row_ptrs;
    }
    return FOUNDRY_OK;
}

static bool
s_nonempty(const char *text)
{
    return text && text[0] != '\0';
}

/* Durable (stream + consumer) or ephemeral (filter only), nothing mixed:
 * the same shapes the decoder accepts. */
static foundry_err
s_encode_subscribe(const fdy_envelope_t *env, s_env_pb_t *parts)
{
    bool durable = s_nonempty(env->sub_stream) && s_nonempty(env->sub_consumer) &&
                   !s_nonempty(env->sub_filter);
    bool ephemeral = s_nonempty(env->sub_filter) && !s_nonempty(env->sub_stream) &&
                     !s_nonempty(env->sub_consumer);
    if (!durable && !ephemeral)
        return FOUNDRY_EINVAL;
    if (ephemeral && fdy_filter_validate(env->sub_filter, NULL) != FOUNDRY_OK)
        return FOUNDRY_EINVAL;
    Foundry__Subscribe init = FOUNDRY__SUBSCRIBE__INIT;
    parts->subscribe = init;
    if (durable) {
        parts->subscribe.stream = (char *) env->sub_stream;
        parts->subscribe.consumer = (char *) env->sub_consumer;
    } else {
        parts->subscribe.filter = (char *) env->sub_filter;
    }
    parts->subscribe.credit_msgs = env->credit_msgs;
    parts->subscribe.credit_bytes = env->credit_bytes;
    return FOUNDRY_OK;
}

foundry_err
fdy_codec_encode_envelope(const fdy_envelope_t *env, uint8_t **buf_out, size_t *len_out)
{
    assert(env && buf_out && len_out);
    *buf_out = NULL;
    *len_out = 0;
    if (!fdy_codec_kind_info(env->kind))
        return FOUNDRY_EINVAL;

    s_env_pb_t parts;
    memset(&parts, 0, sizeof parts);
    Foundry__Envelope pb = FOUNDRY__ENVELOPE__INIT;
    pb.version = FDY_PROTOCOL_VERSION;
    pb.kind = (Foundry__Kind) env->kind;
    pb.request_id = env->request_id;

    foundry_err err = FOUNDRY_OK;
    switch (env->kind) {
    case FDY_KIND_PUBLISH: pb.count = env->count; break;
    case FDY_KIND_PUBLISH_ACK:
        err = s_encode_ack(&env->ack, &parts);
        pb.ack = &parts.ack;
        break;
    case FDY_KIND_ERROR: {
        Foundry__Error init = FOUNDRY__ERROR__INIT;
        parts.error = init;
        parts.error.code = (uint32_t) env->error_code;
        parts.error.reason = (char *) env->error_reason;
        pb.error = &parts.error;
        pb.subscription = env->subscription;
        break;
    }
    case FDY_KIND_ADMIN: {
        if (!env->command || !s_strings_ok(env->args, env->arg_count) ||
            (env->admin_token_len != 0 && env->admin_token_len != FDY_ADMIN_TOKEN_LEN) ||
            (env->admin_token_len && !env->admin_token)) {
            err = FOUNDRY_EINVAL;
            break;
        }
        Foundry__AdminRequest init = FOUNDRY__ADMIN_REQUEST__INIT;
        parts.admin = init;
        parts.admin.command = (char *) env->command;
        parts.admin.n_args = env->arg_count;
        parts.admin.args = (char **) env->args;
        parts.admin.token.data = (uint8_t *) env->admin_token;
        parts.admin.token.len = env->admin_token_len;
        pb.admin = &parts.admin;
        break;
    }
    case FDY_KIND_ADMIN_REPLY:
        err = s_encode_table(&env->table, &parts);
        pb.admin_reply = &parts.reply;
        break;
    case FDY_KIND_PING:
    case FDY_KIND_PONG:
    case FDY_KIND_JOB:
    case FDY_KIND_MODEL: break;
    case FDY_KIND_MODEL_REPLY:
    case FDY_KIND_MODEL_NOTICE:
        if (!env->model || env->model_len == 0) {
            err = FOUNDRY_EINVAL;
            break;
        }
        pb.model.data = (uint8_t *) env->model;
        pb.model.len = env->model_len;
        break;
    case FDY_KIND_JOB_REPLY:
    case FDY_KIND_JOB_OFFER:
    case FDY_KIND_JOB_OFFERS:
        if (!env->job || env->job_len == 0) {
            err = FOUNDRY_EINVAL;
            break;
        }
        pb.job.data = (uint8_t *) env->job;
        pb.job.len = env->job_len;
        break;
    case FDY_KIND_SUBSCRIBE:
        err = s_encode_subscribe(env, &parts);
        pb.subscribe = &parts.subscribe;
        break;
    case FDY_KIND_SUBSCRIBED:
    case FDY_KIND_UNSUBSCRIBE:
        if (env->subscription == 0)
            err = FOUNDRY_EINVAL;
        pb.subscription = env->subscription;
        break;
    case FDY_KIND_CREDIT: {
        if (env->subscription == 0) {
            err = FOUNDRY_EINVAL;
            break;
        }
        Foundry__Credit init = FOUNDRY__CREDIT__INIT;
        parts.credit = init;
        parts.credit.msgs = env->credit_msgs;
        parts.credit.bytes = env->credit_bytes;
        pb.subscription = env->subscription;
        pb.credit = &parts.credit;
        break;
    }
    case FDY_KIND_DELIVER:
        if (env->subscription == 0 || env->count == 0 || env->count > FDY_BATCH_MSGS_MAX)
            err = FOUNDRY_EINVAL;
        pb.subscription = env->subscription;
        pb.count = env->count;
        pb.dropped = env->dropped;
        break;
    case FDY_KIND_ACK: {
        if (env->subscription == 0 || (env->ack_seq_count == 0 && env->ack_floor == 0) ||
            env->ack_seq_count > FDY_BATCH_MSGS_MAX || (env->ack_seq_count > 0 && !env->ack_seqs)) {
            err = FOUNDRY_EINVAL;
            break;
        }
        for (size_t i = 0; i < env->ack_seq_count; i++)
            if (env->ack_seqs[i] == 0)
                err = FOUNDRY_EINVAL;
        Foundry__Acks init = FOUNDRY__ACKS__INIT;
        parts.acks = init;
        parts.acks.n_seqs = env->ack_seq_count;
        parts.acks.seqs = (uint64_t *) env->ack_seqs;
        parts.acks.floor = env->ack_floor;
        pb.subscription = env->subscription;
        pb.acks = &parts.acks;
        break;
    }
    }
    if (err != FOUNDRY_OK)
        goto out;

    size_t size = foundry__envelope__get_packed_size(&pb);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        err = FOUNDRY_ENOMEM;
        goto out;
    }
    *len_out = foundry__envelope__pack(&pb, buf);
    *buf_out = buf;
out:
    s_env_pb_free(&parts);
    return err;
}

/* ---- envelopes: decoding ---------------------------------------------- */

/* The kind field of a raw envelope (the last one wins, as in protobuf), or
 * 0 when the top level does not parse. Lets replies be larger than
 * requests without unpacking an oversized request first. */
static uint64_t
s_peek_kind(const uint8_t *buf, size_t len)
{
    uint64_t kind = 0;
    size_t pos = 0;
    while (pos < len) {
        uint64_t tag, value;
        if (!fdy_codec_varint(buf, len, &pos, &tag))
            return 0;
        switch (tag & 7) {
        case 0:
            if (!fdy_codec_varint(buf, len, &pos, &value))
                return 0;
            if (tag >> 3 == 2)
                kind = value;
            break;
        case 1:
        case 5:
            if (len - pos < ((tag & 7) == 1 ? 8u : 4u))
                return 0;
            pos += (tag & 7) == 1 ? 8u : 4u;
            break;
        case 2:
            if (!fdy_codec_varint(buf, len, &pos, &value) || value > len - pos)
                return 0;
            pos += (size_t) value;
            break;
        default: return 0;
        }
    }
    return kind;
}

static foundry_err
s_decode_ack(const Foundry__PublishAck *pb, fdy_arena_t *arena, fdy_publish_ack_t *ack,
             fdy_reason_t *reason)
{
    if (pb->n_seqs != pb->n_stream_refs)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "ack has %zu seqs but %zu stream refs",
                              pb->n_seqs, pb->n_stream_refs);
    if (pb->n_seqs > FDY_BATCH_MSGS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "ack for %zu messages exceeds %u", pb->n_seqs,
                              FDY_BATCH_MSGS_MAX);
    for (size_t i = 0; i < pb->n_seqs; i++)
        if (pb->seqs[i] != 0 && pb->stream_refs[i] >= pb->n_streams)
            return fdy_reason_set(reason, FOUNDRY_EPROTO,
                                  "ack message %zu: stream ref %u of %zu streams", i,
                                  pb->stream_refs[i], pb->n_streams);
    for (size_t i = 0; i < pb->n_duplicates; i++)
        if (pb->duplicates[i] >= pb->n_seqs)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "ack duplicate index %u of %zu messages",
                                  pb->duplicates[i], pb->n_seqs);

    fdy_msg_error_t *errors = fdy_codec_arena_array(arena, pb->n_errors, sizeof *errors);
    if (pb->n_errors > 0 && !errors)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM,
                              "ack errors exceed the decoding memory budget");
    for (size_t i = 0; i < pb->n_errors; i++) {
        const Foundry__MsgError *error = pb->errors[i];
        if (error->index >= pb->n_seqs)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "ack error index %u of %zu messages",
                                  error->index, pb->n_seqs);
        if (error->code == 0 || error->code > INT_MAX)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "ack error %zu: bad code %u", i,
                                  error->code);
        errors[i].index = error->index;
        errors[i].code = (foundry_err) error->code;
        errors[i].reason = error->reason;
    }
    ack->count = pb->n_seqs;
    ack->seqs = pb->seqs;
    ack->stream_refs = pb->stream_refs;
    ack->streams = (const char *const *) pb->streams;
    ack->stream_count = pb->n_streams;
    ack->duplicates = pb->duplicates;
    ack->duplicate_count = pb->n_duplicates;
    ack->errors = errors;
    ack->error_count = pb->n_errors;
    return FOUNDRY_OK;
}

static foundry_err
s_decode_table(const Foundry__AdminReply *pb, fdy_arena_t *arena, fdy_table_t *table,
               fdy_reason_t *reason)
{
    if (pb->n_types != pb->n_columns)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "table has %zu columns but %zu types",
                              pb->n_columns, pb->n_types);
    size_t columns = pb->n_columns;
    fdy_col_type_t *types = fdy_codec_arena_array(arena, columns, sizeof *types);
    if (columns > 0 && !types)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM,
                              "table columns exceed the decoding memory budget");
    for (size_t i = 0; i < columns; i++) {
        if ((int) pb->types[i] < FDY_COL_TEXT || (int) pb->types[i] > FDY_COL_BYTES)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "table column %zu: unknown type %d", i,
                                  (int) pb->types[i]);
        types[i] = (fdy_col_type_t) pb->types[i];
    }
    for (size_t r = 0; r < pb->n_rows; r++)
        if (pb->rows[r]->n_cells != columns)
            return fdy_reason_set(reason, FOUNDRY_EPROTO,
                                  "table row %zu has %zu cells for %zu columns", r,
                                  pb->rows[r]->n_cells, columns);
    /* Every row holds `columns` cells that each took input bytes, so this
     * product is bounded by the frame size unless columns == 0. */
    size_t cell_count = pb->n_rows * columns;
    fdy_slice_t *cells = fdy_codec_arena_array(arena, cell_count, sizeof *cells);
    if (cell_count > 0 && !cells)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM,
                              "table cells exceed the decoding memory budget");
    for (size_t r = 0; r < pb->n_rows; r++)
        for (size_t c = 0; c < columns; c++) {
            const ProtobufCBinaryData *cell = &pb->rows[r]->cells[c];
            cells[r * columns + c].data = cell->len ? cell->data : NULL;
            cells[r * columns + c].len = cell->len;
        }
    table->column_count = columns;
    table->columns = (const char *const *) pb->columns;
    table->types = types;
    table->row_count = pb->n_rows;
    table->cells = cells;
    return FOUNDRY_OK;
}

static foundry_err
s_decode_subscribe(const Foundry__Subscribe *pb, fdy_envelope_t *env, fdy_reason_t *reason)
{
    if (!pb)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "SUBSCRIBE without its subscribe");
    bool stream = s_nonempty(pb->stream), consumer = s_nonempty(pb->consumer);
    bool filter = s_nonempty(pb->filter);
    if (filter && (stream || consumer))
        return fdy_reason_set(reason, FOUNDRY_EPROTO,
                              "SUBSCRIBE names a filter and a stream or consumer: "
                              "durable is stream + consumer, ephemeral is a filter only");
    if (!filter && !(stream && consumer))
        return fdy_reason_set(reason, FOUNDRY_EPROTO,
                              "SUBSCRIBE needs a stream and a consumer, or a filter");
    if (filter) {
        fdy_reason_t why;
        why.text[0] = '\0';
        if (fdy_filter_validate(pb->filter, &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "filter '%.80s': %s", pb->filter,
                                  why.text[0] ? why.text : "invalid");
        env->sub_filter = pb->filter;
    } else {
        env->sub_stream = pb->stream;
        env->sub_consumer = pb->consumer;
    }
    env->credit_msgs = pb->credit_msgs;
    env->credit_bytes = pb->credit_bytes;
    return FOUNDRY_OK;
}

foundry_err
fdy_codec_decode_envelope(const uint8_t *buf, size_t len, fdy_arena_t *arena,
                          fdy_envelope_t *env_out, fdy_reason_t *reason)
{
    assert(arena && env_out);
    memset(env_out, 0, sizeof *env_out);
    if (len > 0 && !buf)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "envelope missing");
    if (len > FDY_ENVELOPE_MAX && (len > FDY_REPLY_MAX || !s_is_reply_kind(s_peek_kind(buf, len))))
        return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "envelope of %zu bytes exceeds %u", len,
                              FDY_ENVELOPE_MAX);

    fdy_pb_ctx_t ctx = {arena, false};
    ProtobufCAllocator allocator = fdy_codec_pb_allocator(&ctx);
    Foundry__Envelope *pb = foundry__envelope__unpack(&allocator, len, buf);
    if (!pb)
        return fdy_codec_unpack_failed(&ctx, "envelope", len, reason);

    /* Set before any check so an EVERSION or EKIND reply can be addressed. */
    env_out->request_id = pb->request_id;
    env_out->version = pb->version;
    if (pb->version != FDY_PROTOCOL_VERSION)
        return fdy_reason_set(reason, FOUNDRY_EVERSION,
                              "protocol version %u is not supported (this side speaks %d)",
                              pb->version, FDY_PROTOCOL_VERSION);
    if (!fdy_codec_kind_info((fdy_kind_t) pb->kind))
        return fdy_reason_set(reason, FOUNDRY_EKIND, "unknown envelope kind %d", (int) pb->kind);
    env_out->kind = (fdy_kind_t) pb->kind;

    switch (env_out->kind) {
    case FDY_KIND_PUBLISH:
        if (pb->count == 0)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "PUBLISH with a count of 0");
        if (pb->count > FDY_BATCH_MSGS_MAX)
            return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "PUBLISH of %u messages exceeds %u",
                                  pb->count, FDY_BATCH_MSGS_MAX);
        env_out->count = pb->count;
        return FOUNDRY_OK;
    case FDY_KIND_PUBLISH_ACK:
        if (!pb->ack)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "PUBLISH_ACK without its ack");
        return s_decode_ack(pb->ack, arena, &env_out->ack, reason);
    case FDY_KIND_ERROR:
        if (!pb->error)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "ERROR without its error");
        if (pb->error->code == 0 || pb->error->code > INT_MAX)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "ERROR with bad code %u",
                                  pb->error->code);
        env_out->error_code = (foundry_err) pb->error->code;
        env_out->error_reason = pb->error->reason;
        env_out->subscription = pb->subscription;
        return FOUNDRY_OK;
    case FDY_KIND_ADMIN:
        if (!pb->admin || pb->admin->command[0] == '\0')
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "ADMIN without a command");
        env_out->command = pb->admin->command;
        env_out->args = (const char *const *) pb->admin->args;
        env_out->arg_count = pb->admin->n_args;
        if (pb->admin->token.len != 0 && pb->admin->token.len != FDY_ADMIN_TOKEN_LEN)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "ADMIN token of %zu bytes (want 0 or %d)",
                                  pb->admin->token.len, FDY_ADMIN_TOKEN_LEN);
        env_out->admin_token = pb->admin->token.data;
        env_out->admin_token_len = pb->admin->token.len;
        return FOUNDRY_OK;
    case FDY_KIND_ADMIN_REPLY:
        if (!pb->admin_reply)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "ADMIN_REPLY without its table");
        return s_decode_table(pb->admin_reply, arena, &env_out->table, reason);
    case FDY_KIND_PING:
    case FDY_KIND_PONG:
    case FDY_KIND_JOB:
    case FDY_KIND_MODEL: return FOUNDRY_OK;
    case FDY_KIND_MODEL_REPLY:
    case FDY_KIND_MODEL_NOTICE:
        if (pb->model.len == 0)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "%s without its body",
                                  fdy_codec_kind_info(env_out->kind)->name);
        env_out->model = pb->model.data;
        env_out->model_len = pb->model.len;
        return FOUNDRY_OK;
    case FDY_KIND_JOB_REPLY:
    case FDY_KIND_JOB_OFFER:
    case FDY_KIND_JOB_OFFERS:
        if (pb->job.len == 0)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "%s without its body",
                                  fdy_codec_kind_info(env_out->kind)->name);
        env_out->job = pb->job.data;
        env_out->job_len = pb->job.len;
        return FOUNDRY_OK;
    case FDY_KIND_SUBSCRIBE: return s_decode_subscribe(pb->subscribe, env_out, reason);
    default: break;
    }
    /* The kinds below are all about one subscription. */
    if (pb->subscription == 0)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "kind %d without a subscription",
                              (int) pb->kind);
    env_out->subscription = pb->subscription;
    switch (env_out->kind) {
    case FDY_KIND_CREDIT:
        if (pb->credit) {
            env_out->credit_msgs = pb->credit->msgs;
            env_out->credit_bytes = pb->credit->bytes;
        }
        return FOUNDRY_OK;
    case FDY_KIND_DELIVER:
        if (pb->count == 0)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "DELIVER with a count of 0");
        if (pb->count > FDY_BATCH_MSGS_MAX)
            return fdy_reason_set(reason, FOUNDRY_ETOOBIG, "DELIVER of %u messages exceeds %u",
                                  pb->count, FDY_BATCH_MSGS_MAX);
        env_out->count = pb->count;
        env_out->dropped = pb->dropped;
        return FOUNDRY_OK;
    case FDY_KIND_ACK:
        if (!pb->acks || (pb->acks->n_seqs == 0 && pb->acks->floor == 0))
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "ACK without seqs or a floor");
        if (pb->acks->n_seqs > FDY_BATCH_MSGS_MAX)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "ACK of %zu seqs exceeds %u",
                                  pb->acks->n_seqs, FDY_BATCH_MSGS_MAX);
        for (size_t i = 0; i < pb->acks->n_seqs; i++)
            if (pb->acks->seqs[i] == 0)
                return fdy_reason_set(reason, FOUNDRY_EPROTO, "ACK seq %zu is 0", i);
        env_out->ack_seqs = pb->acks->n_seqs ? pb->acks->seqs : NULL;
        env_out->ack_seq_count = pb->acks->n_seqs;
        env_out->ack_floor = pb->acks->floor;
        return FOUNDRY_OK;
    default: return FOUNDRY_OK; /* SUBSCRIBED, UNSUBSCRIBE: the id is all */
    }
}

/* ---- key records ------------------------------------------------------ */

static const char *const s_role_names[] = {"?", "node", "partner", "admin", "link"};

const char *
fdy_role_name(fdy_role_t role)
{
    if (role < FDY_ROLE_NODE || role > FDY_ROLE_LINK)
        return "?";
    return s_role_names[role];
}

foundry_err
fdy_role_parse(const char *name, fdy_role_t *role_out)
{
    assert(role_out);
    for (int role = FDY_ROLE_NODE; role <= FDY_ROLE_LINK; role++)
        if (name && strcmp(name, s_role_names[role]) == 0) {
            *role_out = (fdy_role_t) role;
            return FOUNDRY_OK;
        }
    return FOUNDRY_EINVAL;
}

void
fdy_principal_clear(fdy_principal_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < FDY_ALLOW_MAX; i++) {
        free(p->allow_publish[i]);
        free(p->allow_subscribe[i]);
        free(p->allow_jobs[i]);
        free(p->allow_models[i]);
    }
    memset(p, 0, sizeof *p);
}

/* True when a fixed-size name field is NUL-ended, and 1..size-1 long
 * unless empty is allowed. */
static bool
s_name_ok(const char *text, size_t size, bool empty_ok)
{
    size_t len = strnlen(text, size);
    return len < size && (empty_ok || len > 0);
}

foundry_err
fdy_codec_encode_principal(const fdy_principal_t *p, uint8_t **buf_out, size_t *len_out)
{
    assert(p && buf_out && len_out);
    *buf_out = NULL;
    *len_out = 0;
    if (!s_name_ok(p->name, sizeof p->name, false) ||
        strnlen(p->public_key, sizeof p->public_key) != FDY_Z85_KEY_LEN ||
        !s_name_ok(p->site, sizeof p->site, true) ||
        !s_name_ok(p->tenant, sizeof p->tenant, true) || p->role < FDY_ROLE_NODE ||
        p->role > FDY_ROLE_LINK || p->allow_count > FDY_ALLOW_MAX ||
        !s_strings_ok((const char *const *) p->allow_publish, p->allow_count) ||
        p->allow_subscribe_count > FDY_ALLOW_MAX ||
        !s_strings_ok((const char *const *) p->allow_subscribe, p->allow_subscribe_count) ||
        p->allow_jobs_count > FDY_ALLOW_MAX ||
        !s_strings_ok((const char *const *) p->allow_jobs, p->allow_jobs_count) ||
        p->allow_models_count > FDY_ALLOW_MAX ||
        !s_strings_ok((const char *const *) p->allow_models, p->allow_models_count))
        return FOUNDRY_EINVAL;

    Foundry__KeyRecord pb = FOUNDRY__KEY_RECORD__INIT;
    pb.name = (char *) p->name;
    pb.public_key = (char *) p->public_key;
    pb.role = (char *) fdy_role_name(p->role);
    pb.site = (char *) p->site;
    pb.tenant = (char *) p->tenant;
    pb.n_allow_publish = p->allow_count;
    pb.allow_publish = p->allow_count ? (char **) p->allow_publish : NULL;
    pb.n_allow_subscribe = p->allow_subscribe_count;
    pb.allow_subscribe = p->allow_subscribe_count ? (char **) p->allow_subscribe : NULL;
    pb.revoked = p->revoked;
    pb.created_ns = p->created_ns;
    pb.revoked_ns = p->revoked_ns;
    pb.rate_msgs = p->rate_msgs;
    pb.rate_bytes = p->rate_bytes;
    pb.n_allow_jobs = p->allow_jobs_count;
    pb.allow_jobs = p->allow_jobs_count ? (char **) p->allow_jobs : NULL;
    pb.n_allow_models = p->allow_models_count;
    pb.allow_models = p->allow_models_count ? (char **) p->allow_models : NULL;

    size_t size = foundry__key_record__get_packed_size(&pb);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return FOUNDRY_ENOMEM;
    *len_out = foundry__key_record__pack(&pb, buf);
    *buf_out = buf;
    return FOUNDRY_OK;
}

/* Copies a decoded string into a fixed field; false when it does not fit. */
static bool
s_copy_name(char *dst, size_t size, const char *src, bool empty_ok)
{
    size_t len = strlen(src);
    if (len >= size || (!empty_ok && len == 0))
        return false;
    memcpy(dst, src, len + 1);
    return true;
}

foundry_err
fdy_codec_decode_principal(const uint8_t *buf, size_t len, fdy_principal_t *p)
{
    assert(p);
    memset(p, 0, sizeof *p);
    if (len > FDY_ENVELOPE_MAX || (len > 0 && !buf))
        return FOUNDRY_EPROTO;
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(len));
    if (!arena)
        return FOUNDRY_ENOMEM;
    fdy_pb_ctx_t ctx = {arena, false};
    ProtobufCAllocator allocator = fdy_codec_pb_allocator(&ctx);
    foundry_err err = FOUNDRY_OK;
    Foundry__KeyRecord *pb = foundry__key_record__unpack(&allocator, len, buf);
    if (!pb) {
        err = ctx.exhausted ? FOUNDRY_ENOMEM : FOUNDRY_EPROTO;
        goto out;
    }
    if (!s_copy_name(p->name, sizeof p->name, pb->name, false) ||
        strlen(pb->public_key) != FDY_Z85_KEY_LEN ||
        !s_copy_name(p->public_key, sizeof p->public_key, pb->public_key, false) ||
        fdy_role_parse(pb->role, &p->role) != FOUNDRY_OK ||
        !s_copy_name(p->site, sizeof p->site, pb->site, true) ||
        !s_copy_name(p->tenant, sizeof p->tenant, pb->tenant, true) ||
        pb->n_allow_publish > FDY_ALLOW_MAX || pb->n_allow_subscribe > FDY_ALLOW_MAX ||
        pb->n_allow_jobs > FDY_ALLOW_MAX || pb->n_allow_models > FDY_ALLOW_MAX) {
        err = FOUNDRY_EPROTO;
        goto out;
    }
    for (size_t i = 0; i < pb->n_allow_publish; i++) {
        /* The ACL matches with these, and matching assumes valid filters. */
        if (fdy_filter_validate(pb->allow_publish[i], NULL) != FOUNDRY_OK) {
            err = FOUNDRY_EPROTO;
            goto out;
        }
        p->allow_publish[i] = strdup(pb->allow_publish[i]);
        if (!p->allow_publish[i]) {
            err = FOUNDRY_ENOMEM;
            goto out;
        }
        p->allow_count = i + 1;
    }
    for (size_t i = 0; i < pb->n_allow_subscribe; i++) {
        if (fdy_filter_validate(pb->allow_subscribe[i], NULL) != FOUNDRY_OK) {
            err = FOUNDRY_EPROTO;
            goto out;
        }
        p->allow_subscribe[i] = strdup(pb->allow_subscribe[i]);
        if (!p->allow_subscribe[i]) {
            err = FOUNDRY_ENOMEM;
            goto out;
        }
        p->allow_subscribe_count = i + 1;
    }
    for (size_t i = 0; i < pb->n_allow_jobs; i++) {
        /* A site id, or "*" for any site. */
        if (strcmp(pb->allow_jobs[i], "*") != 0 &&
            fdy_site_validate(pb->allow_jobs[i], NULL) != FOUNDRY_OK) {
            err = FOUNDRY_EPROTO;
            goto out;
        }
        p->allow_jobs[i] = strdup(pb->allow_jobs[i]);
        if (!p->allow_jobs[i]) {
            err = FOUNDRY_ENOMEM;
            goto out;
        }
        p->allow_jobs_count = i + 1;
    }
    for (size_t i = 0; i < pb->n_allow_models; i++) {
        /* A model name or "*", matched by strcmp; the registry checks the
         * name grammar when the key is added. */
        size_t name_len = strlen(pb->allow_models[i]);
        if (name_len == 0 || name_len >= FDY_NAME_MAX) {
            err = FOUNDRY_EPROTO;
            goto out;
        }
        p->allow_models[i] = strdup(pb->allow_models[i]);
        if (!p->allow_models[i]) {
            err = FOUNDRY_ENOMEM;
            goto out;
        }
        p->allow_models_count = i + 1;
    }
    p->revoked = pb->revoked;
    p->created_ns = pb->created_ns;
    p->revoked_ns = pb->revoked_ns;
    p->rate_msgs = pb->rate_msgs;
    p->rate_bytes = pb->rate_bytes;
out:
    if (err != FOUNDRY_OK)
        fdy_principal_clear(p);
    fdy_arena_destroy(&arena);
    return err;
}
