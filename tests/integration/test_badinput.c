/*  test_badinput.c: hostile and broken requests from an authenticated raw
 *  CURVE DEALER (libzmq plus the codec, bypassing libfoundry's checks). Each
 *  gets an ERROR reply, or a per-message error in the ack, with the right
 *  code and a reason; the broker keeps serving this and other clients.
 */
#include "proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_TIMEOUT_MS 10000

typedef struct {
    fdy_proc_t *p;
    fdy_proc_dealer_t *dealer;
    fdy_arena_t *arena;
    fdy_envelope_t reply;
} s_ctx_t;

static void
s_open(s_ctx_t *ctx, const char *name)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->p = fdy_proc_new(name);
    const char *extra[] = {"--set", "max_batch_bytes=64KiB", NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(ctx->p, extra));
    fdy_proc_key_add(ctx->p, "bucheon-1", "--role", "node", "--site", "bucheon", NULL);
    FDY_CHECK_OK(fdy_proc_dealer_new(ctx->p, "bucheon-1", &ctx->dealer));
    ctx->arena = fdy_arena_new(1 << 20);
    FDY_CHECK(ctx->arena);
}

static void
s_send(s_ctx_t *ctx, const fdy_slice_t *frames, size_t count)
{
    FDY_CHECK_OK(fdy_proc_dealer_send(ctx->dealer, frames, count));
}

static void
s_send_raw(s_ctx_t *ctx, const void *data, size_t len)
{
    fdy_slice_t frame = {data, len};
    s_send(ctx, &frame, 1);
}

static void
s_recv(s_ctx_t *ctx, const char *what)
{
    foundry_err err = fdy_proc_dealer_recv(ctx->dealer, REPLY_TIMEOUT_MS, ctx->arena, &ctx->reply);
    FDY_CHECK_MSG(err == FOUNDRY_OK, "%s: no decodable reply: %s", what, foundry_strerror(err));
}

/* The next reply is ERROR `code` with a reason (and request_id, if >= 0). */
static void
s_expect_error(s_ctx_t *ctx, const char *what, int64_t request_id, foundry_err code)
{
    s_recv(ctx, what);
    FDY_CHECK_MSG(ctx->reply.kind == FDY_KIND_ERROR, "%s: reply kind %d, want ERROR", what,
                  (int) ctx->reply.kind);
    FDY_CHECK_MSG(ctx->reply.error_code == code, "%s: error %d (%s), want %d (%s)", what,
                  (int) ctx->reply.error_code, foundry_strerror(ctx->reply.error_code), (int) code,
                  foundry_strerror(code));
    FDY_CHECK_MSG(ctx->reply.error_reason && ctx->reply.error_reason[0], "%s: no reason", what);
    if (request_id >= 0)
        FDY_CHECK_MSG(ctx->reply.request_id == (uint64_t) request_id,
                      "%s: reply request_id %llu, want %lld", what,
                      (unsigned long long) ctx->reply.request_id, (long long) request_id);
}

/* Finds index in the ack's error list. Returns NULL when absent. */
static const fdy_msg_error_t *
s_ack_error(const fdy_publish_ack_t *ack, uint32_t index)
{
    for (size_t i = 0; i < ack->error_count; i++)
        if (ack->errors[i].index == index)
            return &ack->errors[i];
    return NULL;
}

/* The next reply refuses message `index` of a batch with `code`: either as
 * a per-message error in the ack (seq 0) or as an ERROR for the request. */
static void
s_expect_refused(s_ctx_t *ctx, const char *what, uint64_t request_id, uint32_t index,
                 foundry_err code)
{
    s_recv(ctx, what);
    FDY_CHECK_EQ(ctx->reply.request_id, request_id);
    if (ctx->reply.kind == FDY_KIND_ERROR) {
        FDY_CHECK_MSG(ctx->reply.error_code == code, "%s: ERROR %d (%s), want %d (%s)", what,
                      (int) ctx->reply.error_code, foundry_strerror(ctx->reply.error_code),
                      (int) code, foundry_strerror(code));
        FDY_CHECK_MSG(ctx->reply.error_reason && ctx->reply.error_reason[0], "%s: no reason", what);
        return;
    }
    FDY_CHECK_MSG(ctx->reply.kind == FDY_KIND_PUBLISH_ACK, "%s: reply kind %d", what,
                  (int) ctx->reply.kind);
    const fdy_publish_ack_t *ack = &ctx->reply.ack;
    FDY_CHECK_MSG(index < ack->count, "%s: ack has %zu results", what, ack->count);
    FDY_CHECK_MSG(ack->seqs[index] == 0, "%s: message stored as seq %llu", what,
                  (unsigned long long) ack->seqs[index]);
    const fdy_msg_error_t *error = s_ack_error(ack, index);
    FDY_CHECK_MSG(error, "%s: no error for message %u in the ack", what, index);
    FDY_CHECK_MSG(error->code == code, "%s: message error %d (%s), want %d (%s)", what,
                  (int) error->code, foundry_strerror(error->code), (int) code,
                  foundry_strerror(code));
    FDY_CHECK_MSG(error->reason && error->reason[0], "%s: no reason", what);
}

/* PING on the same connection still gets its PONG. */
static void
s_expect_pong(s_ctx_t *ctx, uint64_t request_id)
{
    fdy_envelope_t ping = {0};
    ping.kind = FDY_KIND_PING;
    ping.request_id = request_id;
    uint8_t *buf = NULL;
    size_t len = 0;
    FDY_CHECK_OK(fdy_codec_encode_envelope(&ping, &buf, &len));
    s_send_raw(ctx, buf, len);
    free(buf);
    s_recv(ctx, "ping");
    FDY_CHECK_EQ(ctx->reply.kind, FDY_KIND_PONG);
    FDY_CHECK_EQ(ctx->reply.request_id, request_id);
}

/* Sends a PUBLISH envelope claiming `count` records with the given batch
 * frame and optional extra frames. */
static void
s_send_publish(s_ctx_t *ctx, uint64_t request_id, uint32_t count, const fdy_slice_t *records,
               size_t record_count)
{
    uint8_t *env = NULL, *batch = NULL;
    size_t env_len = 0, batch_len = 0;
    fdy_proc_encode_publish(request_id, count, records, record_count, &env, &env_len, &batch,
                            &batch_len);
    fdy_slice_t frames[] = {{env, env_len}, {batch, batch_len}};
    s_send(ctx, frames, 2);
    free(env);
    free(batch);
}

/* Another client, through libfoundry and foundryctl, is still served; and
 * the broker counted the refusals. Then a clean stop. */
static void
s_close_and_check_serving(s_ctx_t *ctx, const char *stream, int64_t stored_before)
{
    fdy_proc_dealer_destroy(&ctx->dealer);
    fdy_arena_destroy(&ctx->arena);
    FDY_CHECK(fdy_proc_broker_alive(ctx->p));

    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(ctx->p, "admin", NULL, &client));
    foundry_ack_t ack;
    FDY_CHECK_OK(foundry_client_publish(client, "telemetry.bucheon.after", "still here", 10,
                                        "after-1", 7, &ack));
    FDY_CHECK_EQ(ack.seq, stored_before + 1);
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));
    fdy_proc_check_stream_count(ctx->p, stream, stored_before + 1);

    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(ctx->p, &run, "--json", "status", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_json_t *status = fdy_proc_json_parse(run.out, run.out_len);
    FDY_CHECK_MSG(status, "status --json: %.300s", run.out);
    fdy_proc_run_clear(&run);
    int64_t errors = 0;
    FDY_CHECK(fdy_proc_json_int(fdy_proc_json_get(status, "errors"), &errors));
    FDY_CHECK_MSG(errors > 0, "status counts %lld errors after refused input", (long long) errors);
    fdy_proc_json_destroy(&status);

    FDY_CHECK(fdy_proc_broker_alive(ctx->p));
    FDY_CHECK_EQ(fdy_proc_broker_stop(ctx->p), 0);
    fdy_proc_destroy(&ctx->p);
}

static void
test_badinput_malformed_requests_get_error_replies(void)
{
    s_ctx_t ctx;
    s_open(&ctx, "badreq");
    s_expect_pong(&ctx, 1);

    /* Not protobuf at all. */
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02};
    s_send_raw(&ctx, garbage, sizeof garbage);
    s_expect_error(&ctx, "garbage envelope", -1, FOUNDRY_EPROTO);

    /* Hand-encoded envelopes the codec would never write:
     * version 2, kind PING, request_id 77; version 1, kind 99, id 78. */
    static const uint8_t version2[] = {0x08, 0x02, 0x10, 0x06, 0x18, 77};
    s_send_raw(&ctx, version2, sizeof version2);
    s_expect_error(&ctx, "version 2", 77, FOUNDRY_EVERSION);
    static const uint8_t kind99[] = {0x08, 0x01, 0x10, 99, 0x18, 78};
    s_send_raw(&ctx, kind99, sizeof kind99);
    s_expect_error(&ctx, "kind 99", 78, FOUNDRY_EKIND);

    /* An envelope frame over FDY_ENVELOPE_MAX. */
    size_t big_len = FDY_ENVELOPE_MAX + 4096;
    uint8_t *big = calloc(1, big_len);
    FDY_CHECK(big);
    s_send_raw(&ctx, big, big_len);
    free(big);
    s_expect_error(&ctx, "oversized envelope", -1, FOUNDRY_ETOOBIG);

    size_t len_a = 0, len_b = 0;
    uint8_t *msg_a = fdy_proc_encode_msg("telemetry.bucheon.a", "bad-a", "A", 1, &len_a);
    uint8_t *msg_b = fdy_proc_encode_msg("telemetry.bucheon.b", "bad-b", "B", 1, &len_b);
    fdy_slice_t two[] = {{msg_a, len_a}, {msg_b, len_b}};

    /* PUBLISH without its batch frame. */
    fdy_envelope_t env = {0};
    env.kind = FDY_KIND_PUBLISH;
    env.request_id = 80;
    env.count = 1;
    uint8_t *env_buf = NULL;
    size_t env_len = 0;
    FDY_CHECK_OK(fdy_codec_encode_envelope(&env, &env_buf, &env_len));
    s_send_raw(&ctx, env_buf, env_len);
    free(env_buf);
    s_expect_error(&ctx, "no batch frame", 80, FOUNDRY_EPROTO);

    /* A batch frame whose record length runs past its end, and one that
     * is a bare unterminated varint. */
    env.request_id = 81;
    env.count = 2;
    FDY_CHECK_OK(fdy_codec_encode_envelope(&env, &env_buf, &env_len));
    static const uint8_t truncated[] = {0x40, 'a', 'b', 'c'};
    static const uint8_t bad_varint[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff};
    fdy_slice_t frames[] = {{env_buf, env_len}, {truncated, sizeof truncated}};
    s_send(&ctx, frames, 2);
    s_expect_error(&ctx, "truncated batch frame", 81, FOUNDRY_EPROTO);
    frames[1] = (fdy_slice_t){bad_varint, sizeof bad_varint};
    s_send(&ctx, frames, 2);
    s_expect_error(&ctx, "bad varint batch frame", 81, FOUNDRY_EPROTO);
    free(env_buf);

    /* The envelope claims more (or fewer) records than the frame holds. */
    s_send_publish(&ctx, 82, 3, two, 2);
    s_expect_error(&ctx, "count 3, 2 records", 82, FOUNDRY_EPROTO);
    s_send_publish(&ctx, 83, 1, two, 2);
    s_expect_error(&ctx, "count 1, 2 records", 83, FOUNDRY_EPROTO);

    /* A batch frame over max_batch_bytes (64 KiB here) of valid messages. */
    enum { RECORDS = 100 };
    fdy_slice_t many[RECORDS];
    char payload[1000];
    memset(payload, 'p', sizeof payload);
    for (size_t i = 0; i < RECORDS; i++) {
        char id[32];
        snprintf(id, sizeof id, "big-%zu", i);
        size_t len = 0;
        many[i].data =
            fdy_proc_encode_msg("telemetry.bucheon.big", id, payload, sizeof payload, &len);
        many[i].len = len;
    }
    s_send_publish(&ctx, 84, RECORDS, many, RECORDS);
    s_expect_error(&ctx, "batch over max_batch_bytes", 84, FOUNDRY_ETOOBIG);
    for (size_t i = 0; i < RECORDS; i++)
        free((void *) many[i].data);

    /* None of it was stored; the connection is still served; the broker
     * logged the refusals (a WARN line; the ids are its own business). */
    s_expect_pong(&ctx, 85);
    fdy_proc_check_stream_count(ctx.p, "telemetry-bucheon", 0);
    FILE *log = fopen(fdy_proc_log_path(ctx.p), "r");
    FDY_CHECK(log);
    char line[1024];
    int warnings = 0;
    while (fgets(line, sizeof line, log))
        warnings += strstr(line, " WARN ") != NULL;   /* after the timestamp */
    fclose(log);
    FDY_CHECK_MSG(warnings > 0, "no WARN line in %s for refused requests",
                  fdy_proc_log_path(ctx.p));
    free(msg_a);
    free(msg_b);
    s_close_and_check_serving(&ctx, "telemetry-bucheon", 0);
}

/* Minimal protobuf writers for records the codec refuses to encode. */
static size_t
s_pb_varint(uint8_t *out, uint64_t value)
{
    size_t n = 0;
    do {
        out[n] = (uint8_t) (value & 0x7F);
        value >>= 7;
        if (value)
            out[n] |= 0x80;
        n++;
    } while (value);
    return n;
}

static size_t
s_pb_bytes(uint8_t *out, uint32_t field, const void *data, size_t len)
{
    size_t n = s_pb_varint(out, (uint64_t) field << 3 | 2);
    n += s_pb_varint(out + n, len);
    memcpy(out + n, data, len);
    return n + len;
}

/* A Message record: id, subject, payload, and payload_frame when > 0. */
static size_t
s_pb_msg(uint8_t *out, const char *id, size_t id_len, const char *subject, uint32_t frame)
{
    size_t n = s_pb_bytes(out, 1, id, id_len);
    n += s_pb_bytes(out + n, 2, subject, strlen(subject));
    if (frame) {
        n += s_pb_varint(out + n, 4 << 3 | 0);
        n += s_pb_varint(out + n, frame);
    } else
        n += s_pb_bytes(out + n, 3, "x", 1);
    return n;
}

static void
test_badinput_malformed_messages_refused(void)
{
    s_ctx_t ctx;
    s_open(&ctx, "badmsg");

    char long_id[FOUNDRY_MSG_ID_MAX + 1];
    memset(long_id, 'i', sizeof long_id);
    uint8_t rec[4][512];
    size_t rec_len[4];
    rec_len[0] = s_pb_msg(rec[0], long_id, sizeof long_id, "telemetry.bucheon.x", 0);
    rec_len[1] = s_pb_msg(rec[1], "badsubj-1", 9, "telemetry.bucheon..x", 0);
    rec_len[2] = s_pb_msg(rec[2], "badsubj-2", 9, "telemetry.bucheon.a b", 0);
    rec_len[3] = s_pb_msg(rec[3], "noframe-1", 9, "telemetry.bucheon.x", 1);
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0x07};

    /* Each alone. */
    fdy_slice_t one = {rec[0], rec_len[0]};
    s_send_publish(&ctx, 10, 1, &one, 1);
    s_expect_refused(&ctx, "65-byte message id", 10, 0, FOUNDRY_EPROTO);
    one = (fdy_slice_t){rec[1], rec_len[1]};
    s_send_publish(&ctx, 11, 1, &one, 1);
    s_expect_refused(&ctx, "empty subject token", 11, 0, FOUNDRY_EINVAL);
    one = (fdy_slice_t){rec[2], rec_len[2]};
    s_send_publish(&ctx, 12, 1, &one, 1);
    s_expect_refused(&ctx, "space in subject", 12, 0, FOUNDRY_EINVAL);
    one = (fdy_slice_t){rec[3], rec_len[3]};
    s_send_publish(&ctx, 13, 1, &one, 1);
    s_expect_refused(&ctx, "payload_frame without the frame", 13, 0, FOUNDRY_EPROTO);
    one = (fdy_slice_t){junk, sizeof junk};
    s_send_publish(&ctx, 14, 1, &one, 1);
    s_expect_refused(&ctx, "junk record", 14, 0, FOUNDRY_EPROTO);

    /* Mixed with valid messages in one batch: refused one by one, the
     * valid ones stored. */
    size_t len_a = 0, len_b = 0;
    uint8_t *msg_a = fdy_proc_encode_msg("telemetry.bucheon.ok", "ok-a", "A", 1, &len_a);
    uint8_t *msg_b = fdy_proc_encode_msg("telemetry.bucheon.ok", "ok-b", "B", 1, &len_b);
    fdy_slice_t mixed[] = {
        {msg_a, len_a},      {rec[0], rec_len[0]}, {rec[1], rec_len[1]},
        {junk, sizeof junk}, {msg_b, len_b},
    };
    s_send_publish(&ctx, 20, 5, mixed, 5);
    s_recv(&ctx, "mixed batch");
    FDY_CHECK_EQ(ctx.reply.kind, FDY_KIND_PUBLISH_ACK);
    FDY_CHECK_EQ(ctx.reply.request_id, 20);
    const fdy_publish_ack_t *ack = &ctx.reply.ack;
    FDY_CHECK_EQ(ack->count, 5);
    FDY_CHECK_EQ(ack->seqs[0], 1);
    FDY_CHECK_EQ(ack->seqs[1], 0);
    FDY_CHECK_EQ(ack->seqs[2], 0);
    FDY_CHECK_EQ(ack->seqs[3], 0);
    FDY_CHECK_EQ(ack->seqs[4], 2);
    FDY_CHECK_EQ(ack->error_count, 3);
    const foundry_err want[] = {FOUNDRY_OK, FOUNDRY_EPROTO, FOUNDRY_EINVAL, FOUNDRY_EPROTO};
    for (uint32_t i = 1; i <= 3; i++) {
        const fdy_msg_error_t *error = s_ack_error(ack, i);
        FDY_CHECK_MSG(error, "no error for message %u", i);
        FDY_CHECK_ERR(error->code, want[i]);
        FDY_CHECK(error->reason && error->reason[0]);
    }
    FDY_CHECK(ack->stream_refs && ack->streams && ack->stream_refs[0] < ack->stream_count);
    FDY_CHECK_STR(ack->streams[ack->stream_refs[0]], "telemetry-bucheon");
    free(msg_a);
    free(msg_b);

    s_expect_pong(&ctx, 30);
    fdy_proc_check_stream_count(ctx.p, "telemetry-bucheon", 2);
    s_close_and_check_serving(&ctx, "telemetry-bucheon", 2);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"malformed_requests_get_error_replies",
         test_badinput_malformed_requests_get_error_replies},
        {"malformed_messages_refused", test_badinput_malformed_messages_refused},
    };
    return fdy_proc_run_tests("badinput", tests, sizeof tests / sizeof tests[0], argc, argv);
}
