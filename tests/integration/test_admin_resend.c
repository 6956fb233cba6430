/*  test_admin_resend.c: an admin call whose answer is lost in a reconnect
 *  is sent again and runs once. The broker answers a token it has seen
 *  from the same key with the first answer (not from another key's, not
 *  for calls without a token); libfoundry's foundry_admin() and
 *  foundryctl's connection (fdy_conn_request) send the call again when the
 *  connection comes back, here after the broker was killed with the call
 *  unread and started again.
 */
#include "proc.h"

#include "arena.h"
#include "clock.h"
#include "conn.h"
#include "keys.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_MS 10000

/* An ADMIN stream.add NAME frame with token (NULL: none). */
static uint8_t *
s_stream_add(const char *name, const uint8_t *token, uint64_t request_id, size_t *len_out)
{
    char arg[96];
    snprintf(arg, sizeof arg, "name=%s", name);
    const char *args[] = {arg, "filter=telemetry.hanam.>"};
    fdy_envelope_t env = {.kind = FDY_KIND_ADMIN,
                          .request_id = request_id,
                          .command = "stream.add",
                          .args = args,
                          .arg_count = 2,
                          .admin_token = token,
                          .admin_token_len = token ? FDY_ADMIN_TOKEN_LEN : 0};
    uint8_t *buf = NULL;
    FDY_CHECK_OK(fdy_codec_encode_envelope(&env, &buf, len_out));
    return buf;
}

/* Sends frame as principal name on a connection of its own; returns the
 * answer's kind and, for ERROR, its code. */
static fdy_kind_t
s_call(fdy_proc_t *p, const char *name, const uint8_t *frame, size_t len, uint64_t request_id,
       foundry_err *code_out)
{
    fdy_proc_dealer_t *dealer = NULL;
    FDY_CHECK_OK(fdy_proc_dealer_new(p, name, &dealer));
    fdy_slice_t slice = {frame, len};
    FDY_CHECK_OK(fdy_proc_dealer_send(dealer, &slice, 1));
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(FDY_REPLY_MAX));
    fdy_envelope_t reply;
    FDY_CHECK_OK(fdy_proc_dealer_recv(dealer, REPLY_MS, arena, &reply));
    FDY_CHECK_EQ(reply.request_id, request_id);
    fdy_kind_t kind = reply.kind;
    *code_out = kind == FDY_KIND_ERROR ? reply.error_code : FOUNDRY_OK;
    fdy_arena_destroy(&arena);
    fdy_proc_dealer_destroy(&dealer);
    return kind;
}

/* Sends stream.add NAME with token (NULL: none) as principal who on a
 * connection of its own and checks the answer: want FOUNDRY_OK is an
 * ADMIN_REPLY, anything else an ERROR with that code. */
static void
s_expect(fdy_proc_t *p, const char *who, const char *name, const uint8_t *token,
         uint64_t request_id, foundry_err want)
{
    size_t len = 0;
    foundry_err code;
    uint8_t *frame = s_stream_add(name, token, request_id, &len);
    fdy_kind_t kind = s_call(p, who, frame, len, request_id, &code);
    free(frame);
    FDY_CHECK_EQ(kind, want == FOUNDRY_OK ? FDY_KIND_ADMIN_REPLY : FDY_KIND_ERROR);
    FDY_CHECK_EQ(code, want);
}

static void
test_admin_resend_same_token_answered_once(void)
{
    fdy_proc_t *p = fdy_proc_new("admin-token");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "ops2", "--role", "admin", NULL);
    uint8_t token[FDY_ADMIN_TOKEN_LEN], other[FDY_ADMIN_TOKEN_LEN], third[FDY_ADMIN_TOKEN_LEN];
    memset(token, 0x5a, sizeof token);
    memset(other, 0x3c, sizeof other);
    memset(third, 0x77, sizeof third);

    s_expect(p, "admin", "once", token, 7, FOUNDRY_OK);
    /* The same call again, on a new connection: the first answer, not a rerun. */
    s_expect(p, "admin", "once", token, 7, FOUNDRY_OK);
    FDY_CHECK_EQ(fdy_proc_log_count(p, "ADMIN-REPLAYED"), 1);

    /* A new token, no token, or the token from another admin: it runs, and the stream exists. */
    s_expect(p, "admin", "once", other, 8, FOUNDRY_EEXIST);
    s_expect(p, "admin", "once", NULL, 9, FOUNDRY_EEXIST);
    s_expect(p, "ops2", "once", token, 10, FOUNDRY_EEXIST);
    FDY_CHECK_EQ(fdy_proc_log_count(p, "ADMIN-REPLAYED"), 1);

    /* A refusal is remembered too: with the stream gone, a resend of the
     * refused call still gets its refusal, while a new call creates it. */
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "rm", "once", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    s_expect(p, "admin", "once", other, 11, FOUNDRY_EEXIST);
    FDY_CHECK_EQ(fdy_proc_log_count(p, "ADMIN-REPLAYED"), 2);
    s_expect(p, "admin", "once", third, 12, FOUNDRY_OK);

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* ---- a call in flight while the broker dies and comes back --------------- */

typedef struct {
    foundry_client_t *client; /* libfoundry's path */
    fdy_conn_t *conn;         /* foundryctl's path */
    const char *stream;
    foundry_err err;
    char why[256];
} s_call_t;

static void *
s_admin_thread(void *arg)
{
    s_call_t *call = arg;
    char name[96];
    snprintf(name, sizeof name, "name=%s", call->stream);
    const char *args[] = {name, "filter=telemetry.siheung.>"};
    if (call->client) {
        call->err = foundry_admin(call->client, "stream.add", args, 2, NULL);
        snprintf(call->why, sizeof call->why, "%s", foundry_client_last_error(call->client));
        return NULL;
    }
    uint8_t token[FDY_ADMIN_TOKEN_LEN];
    memset(token, 0x11, sizeof token);
    fdy_envelope_t env = {.kind = FDY_KIND_ADMIN,
                          .request_id = 77,
                          .command = "stream.add",
                          .args = args,
                          .arg_count = 2,
                          .admin_token = token,
                          .admin_token_len = sizeof token};
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(FDY_REPLY_MAX));
    fdy_envelope_t reply;
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    call->err = fdy_conn_request(call->conn, &env, 20000, arena, &reply, &reason);
    if (call->err == FOUNDRY_OK && reply.kind == FDY_KIND_ERROR)
        call->err = reply.error_code;
    snprintf(call->why, sizeof call->why, "%s", reason.text);
    fdy_arena_destroy(&arena);
    return NULL;
}

/* Stops the broker, starts call on its thread, kills the broker with the
 * call unread, starts it again; the call must then succeed, once. */
static void
s_through_a_restart(fdy_proc_t *p, s_call_t *call)
{
    FDY_CHECK_EQ(kill(fdy_proc_broker_pid(p), SIGSTOP), 0);
    pthread_t thread;
    FDY_CHECK_EQ(pthread_create(&thread, NULL, s_admin_thread, call), 0);
    fdy_proc_nap_ms(300); /* the call is out, in the stopped broker's socket */
    FDY_CHECK_OK(fdy_proc_broker_kill(p));
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    pthread_join(thread, NULL);
    FDY_CHECK_MSG(call->err == FOUNDRY_OK, "stream.add through a restart: %s (%s)",
                  foundry_strerror(call->err), call->why);
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "info", call->stream, NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
}

static void
test_admin_resend_library_call_survives_a_restart(void)
{
    fdy_proc_t *p = fdy_proc_new("admin-resend-lib");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    foundry_client_opts_t opts;
    foundry_client_opts_init(&opts);
    opts.ack_timeout_ms = 20000;
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", &opts, &client));
    FDY_CHECK_OK(foundry_admin(client, "status", NULL, 0, NULL)); /* connected */
    s_call_t call = {.client = client, .stream = "through-restart-lib"};
    s_through_a_restart(p, &call);
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_admin_resend_ctl_connection_survives_a_restart(void)
{
    fdy_proc_t *p = fdy_proc_new("admin-resend-ctl");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    char pub_path[512], sec_path[512], broker_public[FDY_Z85_KEY_LEN + 1];
    fdy_proc_key_paths(p, "admin", pub_path, sec_path);
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    fdy_keypair_t *pair = NULL;
    FDY_CHECK_OK(fdy_keys_load_secret(sec_path, &pair, &reason));
    FDY_CHECK_OK(fdy_keys_load_public(fdy_proc_broker_key(p), broker_public, &reason));
    fdy_conn_opts_t opts = {.endpoint = fdy_proc_endpoint(p),
                            .broker_public = broker_public,
                            .public_key = fdy_keypair_public(pair),
                            .secret_key = fdy_keypair_secret(pair)};
    fdy_conn_t *conn = NULL;
    FDY_CHECK_OK(fdy_conn_new(&opts, &conn, &reason));
    FDY_CHECK_OK(fdy_conn_wait_up(conn, 10000, &reason));
    s_call_t call = {.conn = conn, .stream = "through-restart-ctl"};
    s_through_a_restart(p, &call);
    fdy_conn_destroy(&conn);
    fdy_keypair_destroy(&pair);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"same_token_answered_once", test_admin_resend_same_token_answered_once},
        {"library_call_survives_a_restart", test_admin_resend_library_call_survives_a_restart},
        {"ctl_connection_survives_a_restart", test_admin_resend_ctl_connection_survives_a_restart},
    };
    return fdy_proc_run_tests("admin_resend", tests, sizeof tests / sizeof tests[0], argc, argv);
}
