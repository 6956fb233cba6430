/*  test_audit.c: the audit log against the real broker and foundryctl:
 *  admin requests (run, failed, denied, one with a secret) and refused
 *  authentications (unknown key, revoked key's next request) are listed by
 *  `audit ls --json` without the secret; `audit verify` passes across a
 *  restart and, after one byte is changed on disk, fails naming that seq.
 */
#include "proc.h"
#include "tamper.h"

#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ARGV(...)        ((const char *const[]){__VA_ARGS__, NULL})
#define REPLY_TIMEOUT_MS 10000
#define WAIT_MS          10000
#define HANDSHAKE_EVENTS                                                                           \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |                             \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

/* Sends one request through a raw dealer and returns the reply's kind and
 * error code. */
static foundry_err
s_raw(fdy_proc_dealer_t *dealer, fdy_kind_t kind, const char *command, const char *const *args,
      size_t arg_count)
{
    static uint64_t request_id = 500;
    fdy_envelope_t env = {0};
    env.kind = kind;
    env.request_id = ++request_id;
    env.command = command;
    env.args = args;
    env.arg_count = arg_count;
    uint8_t *buf = NULL;
    size_t len = 0;
    FDY_CHECK_OK(fdy_codec_encode_envelope(&env, &buf, &len));
    fdy_slice_t frame = {buf, len};
    FDY_CHECK_OK(fdy_proc_dealer_send(dealer, &frame, 1));
    free(buf);
    fdy_arena_t *arena = fdy_arena_new(1 << 20);
    FDY_CHECK(arena);
    fdy_envelope_t reply;
    FDY_CHECK_OK(fdy_proc_dealer_recv(dealer, REPLY_TIMEOUT_MS, arena, &reply));
    FDY_CHECK_EQ(reply.request_id, request_id);
    foundry_err code = reply.kind == FDY_KIND_ERROR ? reply.error_code : FOUNDRY_OK;
    fdy_arena_destroy(&arena);
    return code;
}

static const char *
s_str(const fdy_json_t *row, const char *key)
{
    const char *value = fdy_proc_json_str(fdy_proc_json_get(row, key), NULL);
    FDY_CHECK_MSG(value, "audit row without text \"%s\"", key);
    return value;
}

/* The first row with kind, command and principal (NULL: any). */
static const fdy_json_t *
s_find(const fdy_json_t *rows, const char *kind, const char *command, const char *principal)
{
    for (size_t i = 0; i < fdy_proc_json_count(rows); i++) {
        const fdy_json_t *row = fdy_proc_json_at(rows, i);
        if (strcmp(s_str(row, "kind"), kind) == 0 && strcmp(s_str(row, "command"), command) == 0 &&
            (!principal || strcmp(s_str(row, "principal"), principal) == 0))
            return row;
    }
    return NULL;
}

/* `audit ls --json` once both refusals are in (they wait up to 200 ms for
 * a commit), as text and parsed. */
static fdy_json_t *
s_ls_when_refusals_in(fdy_proc_t *p, char **text_out)
{
    for (int waited = 0;; waited += 50) {
        fdy_proc_run_t run;
        FDY_CHECK_OK(fdy_proc_ctl(p, &run, "--json", "audit", "ls", NULL));
        FDY_CHECK_RUN(&run, 0);
        fdy_json_t *rows = fdy_proc_json_parse(run.out, run.out_len);
        FDY_CHECK_MSG(rows, "audit ls --json is not JSON: %.300s", run.out);
        if (s_find(rows, "auth-refused", "handshake", NULL) &&
            s_find(rows, "auth-refused", "request", NULL)) {
            *text_out = run.out;
            run.out = NULL;
            fdy_proc_run_clear(&run);
            return rows;
        }
        fdy_proc_json_destroy(&rows);
        fdy_proc_run_clear(&run);
        FDY_CHECK_MSG(waited < WAIT_MS, "no auth-refused entries after %d ms", WAIT_MS);
        fdy_proc_nap_ms(50);
    }
}

static void
s_fingerprint_of(fdy_proc_t *p, const char *name, char fingerprint[9], char public_z85[41])
{
    char public_path[512], secret_path[512];
    fdy_proc_key_paths(p, name, public_path, secret_path);
    fdy_reason_t reason = {{0}};
    FDY_CHECK_OK(fdy_keys_load_public(public_path, public_z85, &reason));
    fdy_keys_fingerprint(public_z85, fingerprint);
}

static void
test_audit_admin_and_refusals_listed_and_verified(void)
{
    fdy_proc_t *p = fdy_proc_new("audit");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "robot-1", "--role", "node", "--site", "pangyo", NULL);
    char robot_fp[9], robot_public[41];
    s_fingerprint_of(p, "robot-1", robot_fp, robot_public);

    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "rm", "nosuch", NULL));
    FDY_CHECK_RUN(&run, 1);
    fdy_proc_run_clear(&run);
    /* The entry was durable before the reply left: the store, read by
     * another process at once, already has it. */
    fdy_proc_ctl_opts_t offline = {.no_auth = true};
    FDY_CHECK_OK(fdy_proc_ctlv(
        p, &offline, ARGV("--json", "audit", "ls", "--data-dir", fdy_proc_data_dir(p)), &run));
    FDY_CHECK_RUN(&run, 0);
    fdy_json_t *early = fdy_proc_json_parse(run.out, run.out_len);
    FDY_CHECK_MSG(early && s_find(early, "admin", "stream.rm", "admin"),
                  "stream.rm not in the store when its reply came: %.500s", run.out);
    fdy_proc_json_destroy(&early);
    fdy_proc_run_clear(&run);

    /* An operator pastes a secret key into a raw key.add: refused (the arg
     * is not key.add's), and audited without it. */
    FDY_CHECK_OK(fdy_proc_key_generate(p, "leaky"));
    char leaky_public[512], leaky_secret_path[512];
    fdy_proc_key_paths(p, "leaky", leaky_public, leaky_secret_path);
    fdy_reason_t reason = {{0}};
    fdy_keypair_t *leaky = NULL;
    FDY_CHECK_OK(fdy_keys_load_secret(leaky_secret_path, &leaky, &reason));
    char name_arg[64], key_arg[64], secret_arg[64];
    snprintf(name_arg, sizeof name_arg, "name=leaky");
    snprintf(key_arg, sizeof key_arg, "key=%s", fdy_keypair_public(leaky));
    snprintf(secret_arg, sizeof secret_arg, "secret_key=%s", fdy_keypair_secret(leaky));
    char secret[64];
    snprintf(secret, sizeof secret, "%s", fdy_keypair_secret(leaky));
    fdy_keypair_destroy(&leaky);
    fdy_proc_dealer_t *admin = NULL;
    FDY_CHECK_OK(fdy_proc_dealer_new(p, "admin", &admin));
    const char *leak_args[] = {name_arg, key_arg, "role=node", secret_arg};
    FDY_CHECK_ERR(s_raw(admin, FDY_KIND_ADMIN, "key.add", leak_args, 4), FOUNDRY_EINVAL);
    fdy_proc_dealer_destroy(&admin);

    /* A node may not run admin commands; then its key is revoked while its
     * session is open, and its next request is refused (router, EAUTH). */
    fdy_proc_dealer_t *robot = NULL;
    FDY_CHECK_OK(fdy_proc_dealer_new(p, "robot-1", &robot));
    FDY_CHECK_ERR(s_raw(robot, FDY_KIND_ADMIN, "key.ls", NULL, 0), FOUNDRY_EDENIED);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "revoke", "robot-1", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_ERR(s_raw(robot, FDY_KIND_PING, NULL, NULL, 0), FOUNDRY_EAUTH);
    fdy_proc_dealer_destroy(&robot);

    /* An unknown key is refused at the handshake (ZAP 400). */
    FDY_CHECK_OK(fdy_proc_key_generate(p, "stranger"));
    char stranger_fp[9], stranger_public[41];
    s_fingerprint_of(p, "stranger", stranger_fp, stranger_public);
    fdy_proc_dealer_t *stranger = NULL;
    FDY_CHECK_OK(fdy_proc_dealer_new(p, "stranger", &stranger));
    int value = 0;
    FDY_CHECK_EQ(fdy_proc_dealer_wait_event(stranger, HANDSHAKE_EVENTS, WAIT_MS, &value),
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
    fdy_proc_dealer_destroy(&stranger);

    char *text = NULL;
    fdy_json_t *rows = s_ls_when_refusals_in(p, &text);
    FDY_CHECK_MSG(!strstr(text, secret), "the secret key is in the audit log: %.2000s", text);
    free(text);

    const fdy_json_t *added = s_find(rows, "admin", "key.add", "admin");
    FDY_CHECK_MSG(added, "no key.add entry");
    FDY_CHECK_STR(s_str(added, "result"), "OK");
    char want_key[64];
    snprintf(want_key, sizeof want_key, "key=%s", robot_public);
    FDY_CHECK_MSG(strstr(s_str(added, "args"), "name=robot-1") &&
                      strstr(s_str(added, "args"), want_key),
                  "key.add args: %s", s_str(added, "args")); /* a public key may stay */

    const fdy_json_t *rm = s_find(rows, "admin", "stream.rm", "admin");
    FDY_CHECK_MSG(rm, "no stream.rm entry");
    FDY_CHECK_STR(s_str(rm, "result"), "ENOTFOUND");
    FDY_CHECK_EQ(fdy_proc_row_int(rm, "result_code"), FOUNDRY_ENOTFOUND);
    FDY_CHECK_MSG(strstr(s_str(rm, "reason"), "nosuch"), "reason: %s", s_str(rm, "reason"));
    FDY_CHECK_STR(s_str(rm, "args"), "name=nosuch");

    const fdy_json_t *leak = NULL;
    for (size_t i = 0; i < fdy_proc_json_count(rows); i++) {
        const fdy_json_t *row = fdy_proc_json_at(rows, i);
        if (strcmp(s_str(row, "command"), "key.add") == 0 &&
            strcmp(s_str(row, "result"), "EINVAL") == 0)
            leak = row;
    }
    FDY_CHECK_MSG(leak, "no refused key.add entry");
    FDY_CHECK_MSG(strstr(s_str(leak, "args"), "secret_key=<elided>"), "args: %s",
                  s_str(leak, "args"));

    const fdy_json_t *denied = s_find(rows, "admin", "key.ls", "robot-1");
    FDY_CHECK_MSG(denied, "no denied key.ls entry");
    FDY_CHECK_STR(s_str(denied, "result"), "EDENIED");
    FDY_CHECK_STR(s_str(denied, "key"), robot_fp);

    const fdy_json_t *handshake = s_find(rows, "auth-refused", "handshake", NULL);
    FDY_CHECK_STR(s_str(handshake, "key"), stranger_fp);
    FDY_CHECK_STR(s_str(handshake, "peer"), "127.0.0.1");
    FDY_CHECK_STR(s_str(handshake, "reason"), "unknown key");
    FDY_CHECK_STR(s_str(handshake, "result"), "EAUTH");

    const fdy_json_t *request = s_find(rows, "auth-refused", "request", "robot-1");
    FDY_CHECK_MSG(request, "no refused request of robot-1");
    FDY_CHECK_STR(s_str(request, "reason"), "key revoked");
    FDY_CHECK_STR(s_str(request, "key"), robot_fp);
    FDY_CHECK_STR(s_str(request, "peer"), "127.0.0.1");

    /* In seq order from 1, each with a time. */
    int64_t last = 0;
    for (size_t i = 0; i < fdy_proc_json_count(rows); i++) {
        const fdy_json_t *row = fdy_proc_json_at(rows, i);
        FDY_CHECK_EQ(fdy_proc_row_int(row, "seq"), last + 1);
        FDY_CHECK(fdy_proc_row_int(row, "time_ns") > 0);
        last = fdy_proc_row_int(row, "seq");
    }
    int64_t rm_seq = fdy_proc_row_int(rm, "seq");
    fdy_proc_json_destroy(&rows);

    /* Filters. */
    rows = fdy_proc_ctl_json(p, ARGV("audit", "ls", "--principal", "robot-1"));
    FDY_CHECK(fdy_proc_json_count(rows) >= 2);
    for (size_t i = 0; i < fdy_proc_json_count(rows); i++)
        FDY_CHECK_STR(s_str(fdy_proc_json_at(rows, i), "principal"), "robot-1");
    fdy_proc_json_destroy(&rows);
    rows = fdy_proc_ctl_json(p, ARGV("audit", "ls", "--since", "2999-01-01"));
    FDY_CHECK_EQ(fdy_proc_json_count(rows), 0);
    fdy_proc_json_destroy(&rows);

    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "audit", "verify", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(strncmp(run.out, "ok: ", 4) == 0 && strstr(run.out, "chain intact from seq 1"),
                  "audit verify: %s", run.out);
    fdy_proc_run_clear(&run);

    /* The chain goes on across a restart. */
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "status", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    const fdy_json_t *verdict;
    rows = fdy_proc_ctl_json(p, ARGV("audit", "verify"));
    verdict = fdy_proc_one_row(rows);
    FDY_CHECK_EQ(fdy_proc_row_int(verdict, "ok"), 1);
    FDY_CHECK(fdy_proc_row_int(verdict, "last_seq") > last);
    fdy_proc_json_destroy(&rows);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);

    /* One byte of the stream.rm entry, changed on disk. */
    FDY_CHECK_OK(fdy_tamper_audit_flip(fdy_proc_data_dir(p), (uint64_t) rm_seq, 100, &reason));
    FDY_CHECK_OK(fdy_proc_ctlv(p, &offline,
                               ARGV("audit", "verify", "--data-dir", fdy_proc_data_dir(p)), &run));
    FDY_CHECK_RUN(&run, 1);
    char want_seq[64];
    snprintf(want_seq, sizeof want_seq, "seq %lld", (long long) rm_seq);
    FDY_CHECK_MSG(strstr(run.err, want_seq) && fdy_proc_one_line(run.err, run.err_len),
                  "audit verify --data-dir: %s", run.err);
    fdy_proc_run_clear(&run);
    /* Listing still works offline, and shows the rest. */
    FDY_CHECK_OK(fdy_proc_ctlv(
        p, &offline, ARGV("--json", "audit", "ls", "--data-dir", fdy_proc_data_dir(p)), &run));
    FDY_CHECK_RUN(&run, 0);
    rows = fdy_proc_json_parse(run.out, run.out_len);
    FDY_CHECK(rows && fdy_proc_json_count(rows) >= (size_t) last);
    fdy_proc_json_destroy(&rows);
    fdy_proc_run_clear(&run);
    fdy_proc_destroy(&p);
}

/* An entry deleted while the broker was down: verify through the broker
 * names it (exit 1, one line; --json: bad_seq), and the broker, whose
 * chain goes on from its head record, keeps serving. */
static void
test_audit_verify_online_names_broken_entry(void)
{
    fdy_proc_t *p = fdy_proc_new("audit-online");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_run_t run;
    for (int i = 0; i < 3; i++) {
        FDY_CHECK_OK(fdy_proc_ctl(p, &run, "status", NULL));
        FDY_CHECK_RUN(&run, 0);
        fdy_proc_run_clear(&run);
    }
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_reason_t reason = {{0}};
    FDY_CHECK_OK(fdy_tamper_audit_delete(fdy_proc_data_dir(p), 2, &reason));
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "audit", "verify", NULL));
    FDY_CHECK_RUN(&run, 1);
    FDY_CHECK_MSG(strstr(run.err, "seq 2") && strstr(run.err, "missing"), "stderr: %s", run.err);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "--json", "audit", "verify", NULL));
    FDY_CHECK_RUN(&run, 1);
    fdy_json_t *json = fdy_proc_json_parse(run.out, run.out_len);
    FDY_CHECK_EQ(fdy_proc_row_int(fdy_proc_one_row(json), "bad_seq"), 2);
    fdy_proc_json_destroy(&json);
    fdy_proc_run_clear(&run);
    FDY_CHECK(fdy_proc_broker_alive(p));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"admin_and_refusals_listed_and_verified",
         test_audit_admin_and_refusals_listed_and_verified},
        {"verify_online_names_broken_entry", test_audit_verify_online_names_broken_entry},
    };
    return fdy_proc_run_tests("audit", tests, sizeof tests / sizeof tests[0], argc, argv);
}
