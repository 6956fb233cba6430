/*  test_ctl.c: foundryctl as operators and scripts use it, against the real
 *  broker: keygen, key add/ls/revoke (online and offline on the data dir),
 *  status, stream ls/read, the --json shapes, its error contract (exit 2
 *  with one line for bad usage, exit 1 for runtime failures), and a store
 *  made by `foundryctl bootstrap` keeping the broker's map_size_max.
 */
#include "proc.h"

#include "keys.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CTL_ARGS_MAX 32

static bool
s_contains_ci(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *at = haystack; at && *at; at++) {
        size_t i = 0;
        while (i < n && at[i] &&
               tolower((unsigned char) at[i]) == tolower((unsigned char) needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return false;
}

/* Runs foundryctl (admin credentials unless no_auth) and returns the run. */
static void
s_ctl(fdy_proc_t *p, bool no_auth, fdy_proc_run_t *run, const char *const *argv)
{
    fdy_proc_ctl_opts_t opts = {.no_auth = no_auth};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, argv, run));
}

/* Expects exit 1 or 2 with exactly one "foundryctl: ..." line on stderr. */
static void
s_check_error_run(const fdy_proc_run_t *run, int status, const char *what)
{
    if (run->status != status) {
        fdy_proc_run_print(what, run);
        fdy_proc_fail(__FILE__, __LINE__, "%s: exit %d, want %d", what, run->status, status);
    }
    FDY_CHECK_MSG(fdy_proc_one_line(run->err, run->err_len), "%s: stderr not one line: \"%s\"",
                  what, run->err);
    FDY_CHECK_MSG(strncmp(run->err, "foundryctl: ", 12) == 0,
                  "%s: stderr does not start with \"foundryctl: \": \"%s\"", what, run->err);
}

/* Runs with --json and returns the parsed output; exit status must be 0. */
static fdy_json_t *
s_ctl_json(fdy_proc_t *p, bool no_auth, const char *const *argv)
{
    const char *args[CTL_ARGS_MAX] = {"--json"};
    size_t n = 1;
    while (argv[n - 1] && n < CTL_ARGS_MAX - 1) {
        args[n] = argv[n - 1];
        n++;
    }
    args[n] = NULL;
    fdy_proc_run_t run;
    s_ctl(p, no_auth, &run, args);
    FDY_CHECK_RUN(&run, 0);
    fdy_json_t *json = fdy_proc_json_parse(run.out, run.out_len);
    FDY_CHECK_MSG(json, "%s %s: output is not JSON: %.500s", argv[0], argv[1] ? argv[1] : "",
                  run.out);
    fdy_proc_run_clear(&run);
    return json;
}

static const fdy_json_t *
s_row_named(const fdy_json_t *rows, const char *name)
{
    for (size_t i = 0; i < fdy_proc_json_count(rows); i++) {
        const fdy_json_t *row = fdy_proc_json_at(rows, i);
        const char *row_name = fdy_proc_json_str(fdy_proc_json_get(row, "name"), NULL);
        if (row_name && strcmp(row_name, name) == 0)
            return row;
    }
    return NULL;
}

static int64_t
s_int(const fdy_json_t *object, const char *key)
{
    int64_t value = 0;
    FDY_CHECK_MSG(fdy_proc_json_int(fdy_proc_json_get(object, key), &value),
                  "\"%s\" is not an integer", key);
    return value;
}

/* A text column, or a list column (a JSON array) joined with spaces. */
static const char *
s_str(const fdy_json_t *object, const char *key)
{
    static char joined[4][2048];
    static unsigned next;
    if (fdy_proc_json_type(fdy_proc_json_get(object, key)) == FDY_JSON_ARRAY) {
        char *out = joined[next++ % 4];
        fdy_proc_row_str(object, key, out, sizeof joined[0]);
        return out;
    }
    const char *value = fdy_proc_json_str(fdy_proc_json_get(object, key), NULL);
    FDY_CHECK_MSG(value, "\"%s\" is not a string", key);
    return value;
}

static void
test_ctl_keygen(void)
{
    fdy_proc_t *p = fdy_proc_new("keygen");
    char out_dir[600], public_path[700], secret_path[700];
    snprintf(out_dir, sizeof out_dir, "%s/generated", fdy_proc_dir(p));
    snprintf(public_path, sizeof public_path, "%s/robot7.key", out_dir);
    snprintf(secret_path, sizeof secret_path, "%s/robot7.key_secret", out_dir);

    const char *argv[] = {"keygen", "robot7", "--out", out_dir, NULL};
    fdy_proc_run_t run;
    s_ctl(p, true, &run, argv);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);

    struct stat st;
    FDY_CHECK(stat(secret_path, &st) == 0);
    FDY_CHECK_MSG((st.st_mode & 077) == 0, "secret key mode %o", (unsigned) st.st_mode & 0777);
    FDY_CHECK(stat(public_path, &st) == 0);
    char from_public[FDY_Z85_KEY_LEN + 1], from_secret[FDY_Z85_KEY_LEN + 1];
    fdy_reason_t reason = {{0}};
    FDY_CHECK_OK(fdy_keys_load_public(public_path, from_public, &reason));
    FDY_CHECK_OK(fdy_keys_load_public(secret_path, from_secret, &reason));
    FDY_CHECK_STR(from_public, from_secret);
    fdy_keypair_t *pair = NULL;
    FDY_CHECK_OK(fdy_keys_load_secret(secret_path, &pair, &reason));
    FDY_CHECK_STR(fdy_keypair_public(pair), from_public);
    fdy_keypair_destroy(&pair);

    /* Never overwrites an existing key. */
    s_ctl(p, true, &run, argv);
    s_check_error_run(&run, 1, "keygen over an existing key");
    fdy_proc_run_clear(&run);
    char again[FDY_Z85_KEY_LEN + 1];
    FDY_CHECK_OK(fdy_keys_load_public(public_path, again, &reason));
    FDY_CHECK_STR(again, from_public);

    /* Two key pairs differ. */
    const char *argv2[] = {"keygen", "robot8", "--out", out_dir, NULL};
    s_ctl(p, true, &run, argv2);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    snprintf(public_path, sizeof public_path, "%s/robot8.key", out_dir);
    FDY_CHECK_OK(fdy_keys_load_public(public_path, again, &reason));
    FDY_CHECK(strcmp(again, from_public) != 0);
    fdy_proc_destroy(&p);
}

static void
test_ctl_key_add_ls_revoke(void)
{
    fdy_proc_t *p = fdy_proc_new("keys");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    char lab_public[512], lab_secret[512], partner_public[512], partner_secret[512];
    FDY_CHECK_OK(fdy_proc_key_generate(p, "lab-1"));
    FDY_CHECK_OK(fdy_proc_key_generate(p, "p2"));
    fdy_proc_key_paths(p, "lab-1", lab_public, lab_secret);
    fdy_proc_key_paths(p, "p2", partner_public, partner_secret);

    fdy_proc_run_t run;
    const char *add_lab[] = {"key",          "add",
                             lab_public,     "--role",
                             "node",         "--site",
                             "seongnam-lab", "--allow-publish",
                             "lab.>",        "--allow-publish",
                             "x.*.y",        NULL};
    s_ctl(p, false, &run, add_lab);
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(strstr(run.out, "lab-1"), "key add printed: %s", run.out);
    fdy_proc_run_clear(&run);
    const char *add_partner[] = {"key",      "add", partner_public, "--role",      "partner",
                                 "--tenant", "t1",  "--name",       "partner-two", NULL};
    s_ctl(p, false, &run, add_partner);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);

    /* The same name twice is refused. */
    s_ctl(p, false, &run, add_lab);
    s_check_error_run(&run, 1, "key add of an existing name");
    fdy_proc_run_clear(&run);
    /* A missing public key file. */
    const char *add_missing[] = {
        "key", "add", "/nonexistent/ghost.key", "--role", "node", "--site", "hanam", NULL};
    s_ctl(p, false, &run, add_missing);
    s_check_error_run(&run, 1, "key add of a missing file");
    fdy_proc_run_clear(&run);

    const char *ls[] = {"key", "ls", NULL};
    fdy_json_t *rows = s_ctl_json(p, false, ls);
    FDY_CHECK_EQ(fdy_proc_json_type(rows), FDY_JSON_ARRAY);
    FDY_CHECK_EQ(fdy_proc_json_count(rows), 3);
    const fdy_json_t *lab = s_row_named(rows, "lab-1");
    FDY_CHECK_MSG(lab, "key ls --json has no lab-1");
    FDY_CHECK_STR(s_str(lab, "role"), "node");
    FDY_CHECK_STR(s_str(lab, "site"), "seongnam-lab");
    FDY_CHECK_STR(s_str(lab, "tenant"), "");
    FDY_CHECK_STR(s_str(lab, "allow_publish"), "lab.> x.*.y");
    /* a list column is a JSON array of its items */
    const fdy_json_t *allow = fdy_proc_json_get(lab, "allow_publish");
    FDY_CHECK_EQ(fdy_proc_json_type(allow), FDY_JSON_ARRAY);
    FDY_CHECK_EQ(fdy_proc_json_count(allow), 2);
    FDY_CHECK_STR(fdy_proc_json_str(fdy_proc_json_at(allow, 1), NULL), "x.*.y");
    FDY_CHECK_EQ(s_int(lab, "revoked"), 0);
    FDY_CHECK(s_int(lab, "created_ns") > 0);
    char z85[FDY_Z85_KEY_LEN + 1];
    fdy_reason_t reason = {{0}};
    FDY_CHECK_OK(fdy_keys_load_public(lab_public, z85, &reason));
    FDY_CHECK_STR(s_str(lab, "public_key"), z85);
    const fdy_json_t *partner = s_row_named(rows, "partner-two");
    FDY_CHECK_MSG(partner, "key ls --json has no partner-two (--name)");
    FDY_CHECK_STR(s_str(partner, "role"), "partner");
    FDY_CHECK_STR(s_str(partner, "tenant"), "t1");
    const fdy_json_t *admin = s_row_named(rows, "admin");
    FDY_CHECK_MSG(admin, "key ls --json has no bootstrap admin");
    FDY_CHECK_STR(s_str(admin, "role"), "admin");
    fdy_proc_json_destroy(&rows);

    /* Human: a header row, then one row per key. */
    s_ctl(p, false, &run, ls);
    FDY_CHECK_RUN(&run, 0);
    const char *newline = strchr(run.out, '\n');
    FDY_CHECK(newline);
    FDY_CHECK_MSG(s_contains_ci(run.out, "name") && s_contains_ci(run.out, "role") &&
                      strstr(newline, "admin"),
                  "key ls header: %s", run.out);
    FDY_CHECK(strstr(run.out, "lab-1") && strstr(run.out, "partner-two"));
    fdy_proc_run_clear(&run);

    /* The new key works, then revoke it. */
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "lab-1", NULL, &client));
    foundry_client_close(&client, 1000, NULL);
    const char *revoke[] = {"key", "revoke", "lab-1", NULL};
    s_ctl(p, false, &run, revoke);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    rows = s_ctl_json(p, false, ls);
    FDY_CHECK_EQ(s_int(s_row_named(rows, "lab-1"), "revoked"), 1);
    FDY_CHECK_EQ(s_int(s_row_named(rows, "partner-two"), "revoked"), 0);
    fdy_proc_json_destroy(&rows);
    FDY_CHECK_ERR(fdy_proc_client_new(p, "lab-1", NULL, &client), FOUNDRY_EAUTH);

    const char *revoke_ghost[] = {"key", "revoke", "ghost", NULL};
    s_ctl(p, false, &run, revoke_ghost);
    s_check_error_run(&run, 1, "key revoke of an unknown name");
    fdy_proc_run_clear(&run);

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_ctl_offline_keys_on_data_dir(void)
{
    fdy_proc_t *p = fdy_proc_new("offline");
    char pub[512], sec[512];
    FDY_CHECK_OK(fdy_proc_key_generate(p, "hanam-9"));
    fdy_proc_key_paths(p, "hanam-9", pub, sec);
    const char *data = fdy_proc_data_dir(p);

    fdy_proc_run_t run;
    const char *add[] = {"key",    "add",   pub,          "--role", "node",
                         "--site", "hanam", "--data-dir", data,     NULL};
    s_ctl(p, true, &run, add);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    const char *ls[] = {"key", "ls", "--data-dir", data, NULL};
    fdy_json_t *rows = s_ctl_json(p, true, ls);
    FDY_CHECK_EQ(fdy_proc_json_count(rows), 2);
    FDY_CHECK_STR(s_str(s_row_named(rows, "admin"), "role"), "admin");
    FDY_CHECK_STR(s_str(s_row_named(rows, "hanam-9"), "site"), "hanam");
    fdy_proc_json_destroy(&rows);

    /* The broker serves the key added offline. */
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "hanam-9", NULL, &client));
    foundry_ack_t ack;
    FDY_CHECK_OK(foundry_client_publish(client, "telemetry.hanam.x", "1", 1, "off-1", 5, &ack));
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);

    const char *revoke[] = {"key", "revoke", "hanam-9", "--data-dir", data, NULL};
    s_ctl(p, true, &run, revoke);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    FDY_CHECK_ERR(fdy_proc_client_new(p, "hanam-9", NULL, &client), FOUNDRY_EAUTH);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static const char *const s_sites[] = {"siheung", "bucheon", "uijeongbu",
                                      "hanam",   "pangyo",  "seongnam-lab"};

static void
test_ctl_status_and_streams(void)
{
    fdy_proc_t *p = fdy_proc_new("status");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "telemetry.hanam.x", "one", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    /* Payloads JSON must escape (valid UTF-8: strings), and one that is
     * not UTF-8 (base64). */
    static const char quoted[] = "he said \"hi\" C:\\dir \xc3\xa9t\xc3\xa9";
    static const char controls[] = "line one\nline two\ttab";
    static const uint8_t binary[] = {0x00, 0xff, 0x10, 0x61};
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &client));
    foundry_ack_t ack;
    FDY_CHECK_OK(foundry_client_publish(client, "telemetry.hanam.x", quoted, strlen(quoted), "q-1",
                                        3, &ack));
    FDY_CHECK_EQ(ack.seq, 2);
    FDY_CHECK_OK(foundry_client_publish(client, "telemetry.hanam.x", controls, strlen(controls),
                                        "c-1", 3, &ack));
    FDY_CHECK_EQ(ack.seq, 3);
    FDY_CHECK_OK(
        foundry_client_publish(client, "telemetry.hanam.x", binary, sizeof binary, "b-1", 3, &ack));
    FDY_CHECK_EQ(ack.seq, 4);

    /* status --json: one object with the documented columns and types. */
    const char *status_argv[] = {"status", NULL};
    fdy_json_t *status = s_ctl_json(p, false, status_argv);
    FDY_CHECK_EQ(fdy_proc_json_type(status), FDY_JSON_OBJECT);
    FDY_CHECK_STR(s_str(status, "version"), foundry_version());
    FDY_CHECK(s_int(status, "uptime_s") >= 0);
    FDY_CHECK_EQ(s_int(status, "messages"), 4);
    FDY_CHECK_EQ(s_int(status, "streams"), 6);
    /* Our own client is connected while foundryctl asks. */
    FDY_CHECK(s_int(status, "connections") >= 1);
    FDY_CHECK_MSG(strstr(s_str(status, "principals"), "admin"), "principals: %s",
                  s_str(status, "principals"));
    FDY_CHECK(s_int(status, "store_used_bytes") > 0);
    FDY_CHECK(s_int(status, "map_size") > 0);
    FDY_CHECK(s_int(status, "map_size_max") >= s_int(status, "map_size"));
    FDY_CHECK(s_int(status, "commits") >= 1);
    FDY_CHECK(s_int(status, "published") >= 4);
    FDY_CHECK(s_int(status, "duplicates") >= 0);
    FDY_CHECK(s_int(status, "errors") >= 0);
    fdy_proc_json_destroy(&status);
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));

    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "status", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(s_contains_ci(run.out, "uptime") && strstr(run.out, foundry_version()),
                  "human status: %s", run.out);
    fdy_proc_run_clear(&run);

    /* The environment variables replace the flags. */
    char admin_public[512], admin_secret[512];
    fdy_proc_key_paths(p, "admin", admin_public, admin_secret);
    char env_endpoint[600], env_key[600], env_broker_key[600];
    snprintf(env_endpoint, sizeof env_endpoint, "FOUNDRY_ENDPOINT=%s", fdy_proc_endpoint(p));
    snprintf(env_key, sizeof env_key, "FOUNDRY_KEY=%s", admin_secret);
    snprintf(env_broker_key, sizeof env_broker_key, "FOUNDRY_BROKER_KEY=%s",
             fdy_proc_broker_key(p));
    const char *env[] = {env_endpoint, env_key, env_broker_key, NULL};
    fdy_proc_ctl_opts_t env_opts = {.no_auth = true, .env = env};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &env_opts, status_argv, &run));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);

    /* stream ls --json: the six site streams. */
    const char *ls[] = {"stream", "ls", NULL};
    fdy_json_t *rows = s_ctl_json(p, false, ls);
    FDY_CHECK_EQ(fdy_proc_json_type(rows), FDY_JSON_ARRAY);
    FDY_CHECK_EQ(fdy_proc_json_count(rows), 6);
    for (size_t i = 0; i < 6; i++) {
        char name[64], filter[64];
        snprintf(name, sizeof name, "telemetry-%s", s_sites[i]);
        snprintf(filter, sizeof filter, "telemetry.%s.>", s_sites[i]);
        const fdy_json_t *row = s_row_named(rows, name);
        FDY_CHECK_MSG(row, "stream ls has no %s", name);
        FDY_CHECK_STR(s_str(row, "filters"), filter);
        bool hanam = strcmp(s_sites[i], "hanam") == 0;
        FDY_CHECK_EQ(s_int(row, "messages"), hanam ? 4 : 0);
        FDY_CHECK_EQ(s_int(row, "last_seq"), hanam ? 4 : 0);
        if (hanam) {
            FDY_CHECK_EQ(s_int(row, "first_seq"), 1);
            FDY_CHECK(s_int(row, "bytes") > 0);
        } else
            (void) s_int(row, "first_seq");
    }
    fdy_proc_json_destroy(&rows);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "ls", NULL));
    FDY_CHECK_RUN(&run, 0);
    for (size_t i = 0; i < 6; i++)
        FDY_CHECK_MSG(strstr(run.out, s_sites[i]), "human stream ls lacks %s", s_sites[i]);
    FDY_CHECK(s_contains_ci(run.out, "name") && s_contains_ci(run.out, "messages"));
    fdy_proc_run_clear(&run);

    /* stream read --json: text payloads escaped, binary as base64. */
    const char *read_argv[] = {"stream", "read", "telemetry-hanam", NULL};
    rows = s_ctl_json(p, false, read_argv);
    FDY_CHECK_EQ(fdy_proc_json_count(rows), 4);
    const fdy_json_t *row = fdy_proc_json_at(rows, 1);
    size_t len = 0;
    const char *text = fdy_proc_json_str(fdy_proc_json_get(row, "payload"), &len);
    FDY_CHECK_MSG(text && len == strlen(quoted) && memcmp(text, quoted, len) == 0,
                  "payload with quotes, backslash, UTF-8 came back as \"%s\"",
                  text ? text : "(not a JSON string)");
    row = fdy_proc_json_at(rows, 3);
    const fdy_json_t *payload = fdy_proc_json_get(row, "payload");
    FDY_CHECK_EQ(fdy_proc_json_type(payload), FDY_JSON_OBJECT);
    FDY_CHECK(fdy_proc_json_str(fdy_proc_json_get(payload, "base64"), NULL));
    uint8_t *bytes = fdy_proc_json_bytes(payload, &len);
    FDY_CHECK(bytes && len == sizeof binary && memcmp(bytes, binary, len) == 0);
    free(bytes);
    FDY_CHECK_EQ(s_int(row, "seq"), 4);
    FDY_CHECK_STR(s_str(row, "publisher"), "admin");
    FDY_CHECK_STR(s_str(row, "subject"), "telemetry.hanam.x");
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "read", "telemetry-hanam", "--from", "4", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(s_contains_ci(run.out, "00ff1061"), "human read of a binary payload: %s",
                  run.out);
    fdy_proc_run_clear(&run);

    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "read", "telemetry-nowhere", NULL));
    s_check_error_run(&run, 1, "stream read of an unknown stream");
    fdy_proc_run_clear(&run);

    /* PLAN.md: a BYTES cell is a JSON string whenever it is valid UTF-8,
     * control characters included (JSON escapes them). Checked last so the
     * checks above still run if this one fails. */
    row = fdy_proc_json_at(rows, 2);
    text = fdy_proc_json_str(fdy_proc_json_get(row, "payload"), &len);
    FDY_CHECK_MSG(text && len == strlen(controls) && memcmp(text, controls, len) == 0,
                  "valid UTF-8 payload with \\n and \\t came back as %s (PLAN.md: a string)",
                  text ? text : "(not a JSON string)");
    fdy_proc_json_destroy(&rows);

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_ctl_bad_arguments_exit_2(void)
{
    fdy_proc_t *p = fdy_proc_new("badargs");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    char pub[512], sec[512];
    FDY_CHECK_OK(fdy_proc_key_generate(p, "spare"));
    fdy_proc_key_paths(p, "spare", pub, sec);
    const char *cases[][8] = {
        {NULL},
        {"frobnicate", NULL},
        {"key", NULL},
        {"key", "frob", NULL},
        {"key", "add", NULL},
        {"key", "add", pub, NULL},
        {"key", "add", pub, "--role", "wizard", NULL},
        {"key", "revoke", NULL},
        {"stream", "read", NULL},
        {"stream", "read", "telemetry-hanam", "--count", "many", NULL},
        {"--timeout", "soon", "status", NULL},
        {"--no-such-flag", "status", NULL},
        {"pub", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[256] = "foundryctl";
        for (size_t k = 0; cases[i][k]; k++) {
            strncat(what, " ", sizeof what - strlen(what) - 1);
            strncat(what, cases[i][k], sizeof what - strlen(what) - 1);
        }
        fdy_proc_run_t run;
        s_ctl(p, false, &run, cases[i]);
        s_check_error_run(&run, 2, what);
        FDY_CHECK_MSG(run.out_len == 0, "%s: printed on stdout: %s", what, run.out);
        fdy_proc_run_clear(&run);
    }
    /* Nothing was added by the refused key add. */
    const char *ls[] = {"--json", "key", "ls", NULL};
    fdy_proc_run_t run;
    s_ctl(p, false, &run, ls);
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK(!strstr(run.out, "spare"));
    fdy_proc_run_clear(&run);

    const char *help[] = {"--help", NULL};
    s_ctl(p, true, &run, help);
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK(run.out_len > 0 && strstr(run.out, "stream"));
    fdy_proc_run_clear(&run);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_ctl_runtime_errors_exit_1(void)
{
    fdy_proc_t *p = fdy_proc_new("runtime");
    char admin_public[512], admin_secret[512];
    fdy_proc_key_paths(p, "admin", admin_public, admin_secret);

    /* Nothing listens there: exit 1 once --timeout has passed. The harness
     * kills it (status -1, failing the check) if it hangs past 20 s. */
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", fdy_proc_closed_port());
    const char *unreachable[] = {
        "--endpoint",           endpoint,    "--key", admin_secret, "--broker-key",
        fdy_proc_broker_key(p), "--timeout", "1000",  "status",     NULL};
    fdy_proc_ctl_opts_t opts = {.no_auth = true, .deadline_ms = 20000};
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, unreachable, &run));
    s_check_error_run(&run, 1, "unreachable endpoint");
    fprintf(stderr, "  unreachable endpoint: exit 1 after %lld ms (--timeout 1000)\n",
            (long long) run.elapsed_ms);
    fdy_proc_run_clear(&run);

    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    /* A key file that is not there. */
    const char *missing[] = {
        "--endpoint",   fdy_proc_endpoint(p),   "--key",  "/nonexistent/admin.key_secret",
        "--broker-key", fdy_proc_broker_key(p), "status", NULL};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, missing, &run));
    s_check_error_run(&run, 1, "missing key file");
    fdy_proc_run_clear(&run);
    const char *missing_broker[] = {
        "--endpoint",   fdy_proc_endpoint(p),      "--key",  admin_secret,
        "--broker-key", "/nonexistent/broker.key", "status", NULL};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, missing_broker, &run));
    s_check_error_run(&run, 1, "missing broker key file");
    fdy_proc_run_clear(&run);

    /* The admin's own secret key, readable by others: refused before use. */
    char loose[600];
    snprintf(loose, sizeof loose, "%s/loose.key_secret", fdy_proc_dir(p));
    size_t len = 0;
    FILE *in = fopen(admin_secret, "rb");
    FDY_CHECK(in);
    char buf[4096];
    len = fread(buf, 1, sizeof buf, in);
    fclose(in);
    FILE *out = fopen(loose, "wb");
    FDY_CHECK(out);
    FDY_CHECK_EQ(fwrite(buf, 1, len, out), len);
    fclose(out);
    FDY_CHECK(chmod(loose, 0644) == 0);
    const char *loose_argv[] = {"--endpoint",   fdy_proc_endpoint(p),   "--key",  loose,
                                "--broker-key", fdy_proc_broker_key(p), "status", NULL};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, loose_argv, &run));
    s_check_error_run(&run, 1, "secret key readable by others");
    fdy_proc_run_clear(&run);
    /* The same file at 0600 works: it was the mode that was refused. */
    FDY_CHECK(chmod(loose, 0600) == 0);
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, loose_argv, &run));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);

    /* A key the broker does not know: refused at the handshake, exit 1. */
    char stranger_public[512], stranger_secret[512];
    FDY_CHECK_OK(fdy_proc_key_generate(p, "stranger"));
    fdy_proc_key_paths(p, "stranger", stranger_public, stranger_secret);
    const char *stranger[] = {"--endpoint",   fdy_proc_endpoint(p),   "--key",  stranger_secret,
                              "--broker-key", fdy_proc_broker_key(p), "status", NULL};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, stranger, &run));
    s_check_error_run(&run, 1, "unknown key");
    fdy_proc_run_clear(&run);

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* The documented order: `foundryctl bootstrap` makes the store (with its
 * own 64 MiB map), then the broker starts with a smaller map_size_max. The
 * maximum holds: the map is capped at start, and publishes past it get
 * EFULL "store full" while reads keep working. */
static void
test_ctl_bootstrap_store_keeps_map_size_max(void)
{
    fdy_proc_t *p = fdy_proc_new("mapcap"); /* bootstrapped by foundryctl */
    const char *extra[] = {"--set", "map_size=1MiB", "--set", "map_size_max=2MiB", NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(p, extra));
    const char *status_argv[] = {"status", NULL};
    fdy_json_t *status = s_ctl_json(p, false, status_argv);
    FDY_CHECK_EQ(s_int(status, "map_size_max"), 2 << 20);
    FDY_CHECK_MSG(s_int(status, "map_size") <= s_int(status, "map_size_max"),
                  "map_size %lld over map_size_max %lld", (long long) s_int(status, "map_size"),
                  (long long) s_int(status, "map_size_max"));
    fdy_proc_json_destroy(&status);

    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &client));
    enum { PAYLOAD = 200 * 1024, TRIES = 100 }; /* 20 MB would fit in 64 MiB */
    char *payload = malloc(PAYLOAD);
    FDY_CHECK(payload);
    memset(payload, 'm', PAYLOAD);
    foundry_err err = FOUNDRY_OK;
    foundry_ack_t ack;
    char reason[256] = "";
    int stored = 0;
    for (int i = 0; i < TRIES && err == FOUNDRY_OK; i++) {
        char id[16];
        snprintf(id, sizeof id, "big-%d", i);
        err = foundry_client_publish(client, "telemetry.hanam.blob", payload, PAYLOAD, id,
                                     strlen(id), &ack);
        if (err == FOUNDRY_OK)
            stored++;
        else
            snprintf(reason, sizeof reason, "%s", ack.reason ? ack.reason : "");
    }
    free(payload);
    FDY_CHECK_ERR(err, FOUNDRY_EFULL);
    FDY_CHECK_MSG(strstr(reason, "store full"), "EFULL reason \"%s\"", reason);
    FDY_CHECK_MSG(stored > 0 && (long) stored * PAYLOAD <= 2L << 20,
                  "%d messages of %d KiB stored under a 2 MiB cap", stored, PAYLOAD / 1024);
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));

    /* Reads and status keep working; the map stayed under the cap. */
    fdy_proc_check_stream_count(p, "telemetry-hanam", stored);
    status = s_ctl_json(p, false, status_argv);
    FDY_CHECK(s_int(status, "map_size") <= 2 << 20);
    fdy_proc_json_destroy(&status);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"keygen", test_ctl_keygen},
        {"key_add_ls_revoke", test_ctl_key_add_ls_revoke},
        {"offline_keys_on_data_dir", test_ctl_offline_keys_on_data_dir},
        {"status_and_streams", test_ctl_status_and_streams},
        {"bad_arguments_exit_2", test_ctl_bad_arguments_exit_2},
        {"runtime_errors_exit_1", test_ctl_runtime_errors_exit_1},
        {"bootstrap_store_keeps_map_size_max", test_ctl_bootstrap_store_keeps_map_size_max},
    };
    return fdy_proc_run_tests("ctl", tests, sizeof tests / sizeof tests[0], argc, argv);
}
