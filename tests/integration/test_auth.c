/*  test_auth.c: identity and authorisation against the real broker. An
 *  unknown key is refused at the CURVE handshake (and a raw DEALER gets
 *  nothing through), a key revoked while connected is refused at its next
 *  message, and the ACL denies partners outside their allow list, nodes
 *  outside their site, and admin commands from non-admins.
 */
#include "proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define HANDSHAKE_EVENTS                                                                           \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |                             \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

/* Sends one PUBLISH of a single valid message through a raw dealer. */
static void
s_raw_publish(fdy_proc_dealer_t *dealer, uint64_t request_id, const char *subject, const char *id)
{
    size_t record_len = 0, env_len = 0, batch_len = 0;
    uint8_t *record = fdy_proc_encode_msg(subject, id, "raw", 3, &record_len);
    fdy_slice_t records[] = {{record, record_len}};
    uint8_t *env = NULL, *batch = NULL;
    fdy_proc_encode_publish(request_id, 1, records, 1, &env, &env_len, &batch, &batch_len);
    fdy_slice_t frames[] = {{env, env_len}, {batch, batch_len}};
    FDY_CHECK_OK(fdy_proc_dealer_send(dealer, frames, 2));
    free(record);
    free(env);
    free(batch);
}

static void
test_auth_unknown_key_refused_at_handshake(void)
{
    fdy_proc_t *p = fdy_proc_new("unknown");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    FDY_CHECK_OK(fdy_proc_key_generate(p, "stranger"));

    /* The library reports the refusal instead of hanging. */
    foundry_client_opts_t opts;
    foundry_client_opts_init(&opts);
    opts.connect_timeout_ms = 10000;
    foundry_client_t *client = NULL;
    FDY_CHECK_ERR(fdy_proc_client_new(p, "stranger", &opts, &client), FOUNDRY_EAUTH);
    FDY_CHECK(client == NULL);

    /* A raw DEALER queues a valid PUBLISH before the handshake: the ZAP
     * handler answers 400, and nothing reaches the broker's store. */
    fdy_proc_dealer_t *dealer = NULL;
    FDY_CHECK_OK(fdy_proc_dealer_new(p, "stranger", &dealer));
    s_raw_publish(dealer, 1, "telemetry.siheung.intruder", "intruder-1");
    int value = 0;
    int event = fdy_proc_dealer_wait_event(dealer, HANDSHAKE_EVENTS, 10000, &value);
    FDY_CHECK_MSG(event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH,
                  "handshake event 0x%x (value %d), want HANDSHAKE_FAILED_AUTH", event, value);
    FDY_CHECK_EQ(value, 400);
    fdy_arena_t *arena = fdy_arena_new(1 << 20);
    FDY_CHECK(arena);
    fdy_envelope_t reply;
    FDY_CHECK_ERR(fdy_proc_dealer_recv(dealer, 500, arena, &reply), FOUNDRY_ETIMEDOUT);
    fdy_proc_dealer_destroy(&dealer);
    fdy_arena_destroy(&arena);

    /* A known key after it: its message is the stream's first, so the
     * stranger's was never stored. */
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &client));
    foundry_ack_t ack;
    FDY_CHECK_OK(
        foundry_client_publish(client, "telemetry.siheung.legit", "ok", 2, "legit-1", 7, &ack));
    FDY_CHECK_EQ(ack.seq, 1);
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));
    fdy_proc_check_stream_count(p, "telemetry-siheung", 1);

    FDY_CHECK(fdy_proc_broker_alive(p));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* The row of key NAME in `foundryctl --json key ls`: its revoked flag. */
static int64_t
s_key_revoked(fdy_proc_t *p, const char *name)
{
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "--json", "key", "ls", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_json_t *rows = fdy_proc_json_parse(run.out, run.out_len);
    FDY_CHECK_MSG(rows, "key ls --json: %.300s", run.out);
    fdy_proc_run_clear(&run);
    int64_t revoked = -1;
    for (size_t i = 0; i < fdy_proc_json_count(rows); i++) {
        const fdy_json_t *row = fdy_proc_json_at(rows, i);
        const char *row_name = fdy_proc_json_str(fdy_proc_json_get(row, "name"), NULL);
        if (row_name && strcmp(row_name, name) == 0)
            FDY_CHECK(fdy_proc_json_int(fdy_proc_json_get(row, "revoked"), &revoked));
    }
    fdy_proc_json_destroy(&rows);
    return revoked;
}

static void
test_auth_revoked_key_refused_at_next_message(void)
{
    fdy_proc_t *p = fdy_proc_new("revoke");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "hanam-1", "--role", "node", "--site", "hanam", NULL);
    FDY_CHECK_EQ(s_key_revoked(p, "hanam-1"), 0);

    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "hanam-1", NULL, &client));
    foundry_ack_t ack;
    FDY_CHECK_OK(
        foundry_client_publish(client, "telemetry.hanam.robot1.temp", "1", 1, "rev-1", 5, &ack));
    FDY_CHECK_EQ(ack.seq, 1);

    /* Revoked while its CURVE session is up: the session outlives the ZAP
     * decision, so the broker must check this very next message. */
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "revoke", "hanam-1", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_EQ(s_key_revoked(p, "hanam-1"), 1);

    FDY_CHECK_ERR(
        foundry_client_publish(client, "telemetry.hanam.robot1.temp", "2", 1, "rev-2", 5, &ack),
        FOUNDRY_EAUTH);
    FDY_CHECK_ERR(
        foundry_client_publish(client, "telemetry.hanam.robot1.temp", "3", 1, "rev-3", 5, &ack),
        FOUNDRY_EAUTH);
    /* What it could not send is not acknowledged; the count is not ours to
     * assert, only that close returns. */
    (void) foundry_client_close(&client, 1000, NULL);
    fdy_proc_check_stream_count(p, "telemetry-hanam", 1);

    /* A new session with the revoked key fails at the handshake. */
    FDY_CHECK_ERR(fdy_proc_client_new(p, "hanam-1", NULL, &client), FOUNDRY_EAUTH);

    /* Other principals are unaffected. */
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &client));
    FDY_CHECK_OK(
        foundry_client_publish(client, "telemetry.hanam.robot1.temp", "4", 1, "adm-1", 5, &ack));
    FDY_CHECK_EQ(ack.seq, 2);
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));

    /* Revocation is durable. */
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    FDY_CHECK_EQ(s_key_revoked(p, "hanam-1"), 1);
    FDY_CHECK_ERR(fdy_proc_client_new(p, "hanam-1", NULL, &client), FOUNDRY_EAUTH);

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

typedef struct {
    size_t calls;
    foundry_err errs[8];
    bool reasons[8];
} s_acks_t;

static void
s_on_ack(const foundry_ack_t *ack, void *user)
{
    s_acks_t *acks = user;
    size_t index = (size_t) (uintptr_t) ack->user;
    acks->calls++;
    if (index < 8) {
        acks->errs[index] = ack->err;
        acks->reasons[index] = ack->reason && ack->reason[0];
    }
}

static void
test_auth_partner_outside_allow_list_denied(void)
{
    fdy_proc_t *p = fdy_proc_new("partner");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "acme", "--role", "partner", "--tenant", "acme", "--allow-publish",
                     "telemetry.pangyo.acme.>", NULL);
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "acme", NULL, &client));

    foundry_ack_t ack;
    FDY_CHECK_OK(
        foundry_client_publish(client, "telemetry.pangyo.acme.robot1", "a", 1, "acme-1", 6, &ack));
    FDY_CHECK_EQ(ack.seq, 1);
    FDY_CHECK_ERR(
        foundry_client_publish(client, "telemetry.pangyo.other.robot1", "b", 1, "acme-2", 6, &ack),
        FOUNDRY_EDENIED);
    FDY_CHECK_EQ(ack.err, FOUNDRY_EDENIED);
    FDY_CHECK(ack.reason && ack.reason[0]);
    FDY_CHECK_EQ(ack.seq, 0);
    /* A partner has no site of its own either. */
    FDY_CHECK_ERR(
        foundry_client_publish(client, "telemetry.hanam.acme.robot1", "c", 1, "acme-3", 6, &ack),
        FOUNDRY_EDENIED);

    /* In one pipelined batch the denial is per message: the others pass. */
    s_acks_t acks = {0};
    FDY_CHECK_OK(foundry_client_set_ack_handler(client, s_on_ack, &acks));
    FDY_CHECK_OK(foundry_client_publish_async(client, "telemetry.pangyo.acme.a", "d", 1, "acme-4",
                                              6, (void *) 0));
    FDY_CHECK_OK(foundry_client_publish_async(client, "telemetry.pangyo.beta.a", "e", 1, "acme-5",
                                              6, (void *) 1));
    FDY_CHECK_OK(foundry_client_publish_async(client, "telemetry.pangyo.acme.b", "f", 1, "acme-6",
                                              6, (void *) 2));
    FDY_CHECK_OK(foundry_client_flush(client, 20000));
    FDY_CHECK_EQ(acks.calls, 3);
    FDY_CHECK_ERR(acks.errs[0], FOUNDRY_OK);
    FDY_CHECK_ERR(acks.errs[1], FOUNDRY_EDENIED);
    FDY_CHECK(acks.reasons[1]);
    FDY_CHECK_ERR(acks.errs[2], FOUNDRY_OK);
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));

    fdy_proc_check_stream_count(p, "telemetry-pangyo", 3);
    fdy_proc_check_stream_count(p, "telemetry-hanam", 0);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_auth_node_other_site_denied(void)
{
    fdy_proc_t *p = fdy_proc_new("nodesite");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "siheung-n", "--role", "node", "--site", "siheung", NULL);
    fdy_proc_key_add(p, "siheung-x", "--role", "node", "--site", "siheung", "--allow-publish",
                     "telemetry.bucheon.shared.>", NULL);

    foundry_client_t *client = NULL;
    foundry_ack_t ack;
    FDY_CHECK_OK(fdy_proc_client_new(p, "siheung-n", NULL, &client));
    FDY_CHECK_OK(
        foundry_client_publish(client, "telemetry.siheung.robot1.temp", "1", 1, "n-1", 3, &ack));
    FDY_CHECK_ERR(
        foundry_client_publish(client, "telemetry.bucheon.robot1.temp", "2", 1, "n-2", 3, &ack),
        FOUNDRY_EDENIED);
    FDY_CHECK(ack.reason && ack.reason[0]);
    FDY_CHECK_ERR(
        foundry_client_publish(client, "telemetry.bucheon.shared.temp", "3", 1, "n-3", 3, &ack),
        FOUNDRY_EDENIED);
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));

    /* The allow list adds to the node's own site, token by token. */
    FDY_CHECK_OK(fdy_proc_client_new(p, "siheung-x", NULL, &client));
    FDY_CHECK_OK(
        foundry_client_publish(client, "telemetry.bucheon.shared.temp", "4", 1, "x-1", 3, &ack));
    FDY_CHECK_STR(ack.stream, "telemetry-bucheon");
    FDY_CHECK_OK(
        foundry_client_publish(client, "telemetry.siheung.robot2.temp", "5", 1, "x-2", 3, &ack));
    FDY_CHECK_ERR(
        foundry_client_publish(client, "telemetry.bucheon.private.temp", "6", 1, "x-3", 3, &ack),
        FOUNDRY_EDENIED);
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));

    fdy_proc_check_stream_count(p, "telemetry-siheung", 2);
    fdy_proc_check_stream_count(p, "telemetry-bucheon", 1);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_auth_admin_commands_need_admin_role(void)
{
    fdy_proc_t *p = fdy_proc_new("adminonly");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "uijeongbu-1", "--role", "node", "--site", "uijeongbu", NULL);

    fdy_proc_dealer_t *dealer = NULL;
    FDY_CHECK_OK(fdy_proc_dealer_new(p, "uijeongbu-1", &dealer));
    fdy_envelope_t request = {0};
    request.kind = FDY_KIND_ADMIN;
    request.request_id = 42;
    request.command = "key.ls";
    uint8_t *buf = NULL;
    size_t len = 0;
    FDY_CHECK_OK(fdy_codec_encode_envelope(&request, &buf, &len));
    fdy_slice_t frame = {buf, len};
    FDY_CHECK_OK(fdy_proc_dealer_send(dealer, &frame, 1));
    free(buf);
    fdy_arena_t *arena = fdy_arena_new(1 << 20);
    FDY_CHECK(arena);
    fdy_envelope_t reply;
    FDY_CHECK_OK(fdy_proc_dealer_recv(dealer, 10000, arena, &reply));
    FDY_CHECK_EQ(reply.kind, FDY_KIND_ERROR);
    FDY_CHECK_EQ(reply.request_id, 42);
    FDY_CHECK_ERR(reply.error_code, FOUNDRY_EDENIED);
    FDY_CHECK(reply.error_reason && reply.error_reason[0]);
    fdy_arena_destroy(&arena);
    fdy_proc_dealer_destroy(&dealer);

    /* foundryctl with a node's key: refused, one line, exit 1. */
    char public_path[512], secret_path[512];
    fdy_proc_key_paths(p, "uijeongbu-1", public_path, secret_path);
    fdy_proc_ctl_opts_t opts = {.no_auth = true};
    const char *argv[] = {"--endpoint",
                          fdy_proc_endpoint(p),
                          "--key",
                          secret_path,
                          "--broker-key",
                          fdy_proc_broker_key(p),
                          "key",
                          "ls",
                          NULL};
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, argv, &run));
    FDY_CHECK_RUN(&run, 1);
    FDY_CHECK_MSG(fdy_proc_one_line(run.err, run.err_len), "stderr: %s", run.err);
    FDY_CHECK_MSG(strncmp(run.err, "foundryctl: ", 12) == 0, "stderr: %s", run.err);
    fdy_proc_run_clear(&run);

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"unknown_key_refused_at_handshake", test_auth_unknown_key_refused_at_handshake},
        {"revoked_key_refused_at_next_message", test_auth_revoked_key_refused_at_next_message},
        {"partner_outside_allow_list_denied", test_auth_partner_outside_allow_list_denied},
        {"node_other_site_denied", test_auth_node_other_site_denied},
        {"admin_commands_need_admin_role", test_auth_admin_commands_need_admin_role},
    };
    return fdy_proc_run_tests("auth", tests, sizeof tests / sizeof tests[0], argc, argv);
}
