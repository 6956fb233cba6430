/*  ctl_conn.c: foundryctl's connection to the broker: where it is and which
 *  keys to use (flags, then environment), the CURVE handshake bounded by
 *  --timeout, one admin request at a time over fdy_conn_request(), and the
 *  one-line message for each way that fails. Not for rendering replies.
 */
#include "ctl.h"

#include "arena.h"
#include "clock.h"
#include "conn.h"
#include "keys.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* A reply is one frame; a stream.read page of 1000 messages can be large,
 * so the decode budget is the codec's for replies. A cap, not an allocation. */
#define CTL_REPLY_BUDGET FDY_DECODE_BUDGET(FDY_REPLY_MAX)

struct fdy_ctl_conn {
    fdy_ctl_conn_settings_t settings;
    fdy_keypair_t *keypair;
    fdy_conn_t *conn;
    fdy_arena_t *arena;
    uint64_t next_request_id;
};

static const char *
s_setting(const char *flag_value, const char *env_name)
{
    if (flag_value)
        return flag_value;
    const char *value = getenv(env_name);
    return value && *value ? value : NULL;
}

static void
s_repoint(const char **field, const fdy_ctl_conn_settings_t *src, fdy_ctl_conn_settings_t *dst)
{
    if (*field == src->context_endpoint)
        *field = dst->context_endpoint;
    else if (*field == src->context_key)
        *field = dst->context_key;
    else if (*field == src->context_broker_key)
        *field = dst->context_broker_key;
}

void
fdy_ctl_conn_settings_copy(fdy_ctl_conn_settings_t *dst, const fdy_ctl_conn_settings_t *src)
{
    *dst = *src;
    s_repoint(&dst->endpoint, src, dst);
    s_repoint(&dst->key_file, src, dst);
    s_repoint(&dst->broker_key_file, src, dst);
}

int
fdy_ctl_endpoint_expand(const char *endpoint, char out[FDY_CTL_SETTING_MAX])
{
    int n = strstr(endpoint, "://") ? snprintf(out, FDY_CTL_SETTING_MAX, "%s", endpoint)
                                    : snprintf(out, FDY_CTL_SETTING_MAX, "tcp://%s", endpoint);
    if (n < 0 || n >= FDY_CTL_SETTING_MAX)
        return fdy_output_usage("endpoint is longer than %d bytes", FDY_CTL_SETTING_MAX - 1);
    return FDY_CTL_EXIT_OK;
}

int
fdy_ctl_conn_settings(const fdy_ctl_args_t *args, fdy_ctl_conn_settings_t *out)
{
    memset(out, 0, sizeof *out);
    out->endpoint = s_setting(args->endpoint, "FOUNDRY_ENDPOINT");
    out->key_file = s_setting(args->key_file, "FOUNDRY_KEY");
    out->broker_key_file = s_setting(args->broker_key_file, "FOUNDRY_BROKER_KEY");
    out->timeout_ms = args->timeout_ms;
    /* A context fills only what flags and variables left open. */
    int status = fdy_ctl_context_fill(s_setting(args->context, "FOUNDRY_CONTEXT"), out);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    if (!out->endpoint)
        return fdy_output_usage("no broker endpoint: give --endpoint, set FOUNDRY_ENDPOINT or "
                                "add a context (foundryctl context add)");
    if (!out->key_file)
        return fdy_output_usage("no key: give --key SECRETFILE or set FOUNDRY_KEY");
    if (!out->broker_key_file)
        return fdy_output_usage(
            "no broker key: give --broker-key PUBFILE or set FOUNDRY_BROKER_KEY");
    /* host:port is tcp://host:port; the expansion lives in our own buffer */
    if (!strstr(out->endpoint, "://")) {
        char expanded[FDY_CTL_SETTING_MAX];
        status = fdy_ctl_endpoint_expand(out->endpoint, expanded);
        if (status != FDY_CTL_EXIT_OK)
            return status;
        memcpy(out->context_endpoint, expanded, sizeof expanded);
        out->endpoint = out->context_endpoint;
    }
    return FDY_CTL_EXIT_OK;
}

/* Loads both keys. On success the caller owns *keypair_out. */
static int
s_load_keys(const fdy_ctl_conn_settings_t *settings, fdy_keypair_t **keypair_out,
            char broker_public[FDY_Z85_KEY_LEN + 1])
{
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_keys_load_secret(settings->key_file, keypair_out, &reason);
    /* keys.c's reasons name the file already */
    if (err != FOUNDRY_OK)
        return reason.text[0] ? fdy_output_fail("%s", reason.text)
                              : fdy_output_fail("cannot use key %s: %s", settings->key_file,
                                                foundry_strerror(err));
    err = fdy_keys_load_public(settings->broker_key_file, broker_public, &reason);
    if (err != FOUNDRY_OK) {
        fdy_keypair_destroy(keypair_out);
        return reason.text[0] ? fdy_output_fail("%s", reason.text)
                              : fdy_output_fail("cannot use broker key %s: %s",
                                                settings->broker_key_file, foundry_strerror(err));
    }
    return FDY_CTL_EXIT_OK;
}

int
fdy_ctl_conn_check_keys(const fdy_ctl_conn_settings_t *settings)
{
    fdy_keypair_t *keypair = NULL;
    char broker_public[FDY_Z85_KEY_LEN + 1];
    int status = s_load_keys(settings, &keypair, broker_public);
    fdy_keypair_destroy(&keypair);
    return status;
}

int
fdy_ctl_conn_report_timeout(const char *endpoint, int timeout_ms)
{
    return fdy_output_fail("broker at %s did not answer within %d ms", endpoint, timeout_ms);
}

int
fdy_ctl_conn_report_io(const char *endpoint, const char *detail)
{
    static const char refused[] = "connection refused";
    if (detail && strncmp(detail, refused, sizeof refused - 1) == 0)
        return fdy_output_fail("%s (is the broker running?)", detail);
    return fdy_output_fail("cannot connect to %s: %s", endpoint,
                           detail && *detail ? detail : foundry_strerror(FOUNDRY_EIO));
}

int
fdy_ctl_conn_report_refused(const char *detail)
{
    static const char zap_refusal[] = "the broker refused our key";
    if (!detail || !*detail || strncmp(detail, zap_refusal, sizeof zap_refusal - 1) == 0 ||
        strstr(detail, "wrong broker key") == NULL)
        return fdy_output_fail("the broker refused our key (unknown or revoked)");
    return fdy_output_fail("the broker refused our connection: %s", detail);
}

int
fdy_ctl_conn_open(const fdy_ctl_args_t *args, fdy_ctl_conn_t **out)
{
    *out = NULL;
    fdy_ctl_conn_settings_t settings;
    int status = fdy_ctl_conn_settings(args, &settings);
    if (status != FDY_CTL_EXIT_OK)
        return status;

    fdy_ctl_conn_t *self = calloc(1, sizeof *self);
    if (!self)
        return fdy_output_fail("out of memory");
    fdy_ctl_conn_settings_copy(&self->settings, &settings);
    char broker_public[FDY_Z85_KEY_LEN + 1];
    status = s_load_keys(&settings, &self->keypair, broker_public);
    if (status != FDY_CTL_EXIT_OK)
        goto out;

    self->arena = fdy_arena_new(CTL_REPLY_BUDGET);
    if (!self->arena) {
        status = fdy_output_fail("out of memory");
        goto out;
    }
    /* Any start works: replies are matched by id within this process only,
     * but a varying start keeps ids from different runs apart in logs. */
    self->next_request_id = (fdy_clock_mono_ns() & 0xffffffffu) + 1;

    fdy_conn_opts_t opts = {
        .endpoint = settings.endpoint,
        .broker_public = broker_public,
        .public_key = fdy_keypair_public(self->keypair),
        .secret_key = fdy_keypair_secret(self->keypair),
    };
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_conn_new(&opts, &self->conn, &reason);
    if (err == FOUNDRY_EINVAL) {
        status = reason.text[0] ? fdy_output_usage("%s", reason.text)
                                : fdy_output_usage("bad endpoint %s", settings.endpoint);
        goto out;
    }
    if (err != FOUNDRY_OK) {
        status = fdy_output_fail("cannot connect to %s: %s", settings.endpoint,
                                 reason.text[0] ? reason.text : foundry_strerror(err));
        goto out;
    }
    err = fdy_conn_wait_up(self->conn, settings.timeout_ms, &reason);
    if (err == FOUNDRY_EIO)
        status = fdy_ctl_conn_report_io(settings.endpoint, reason.text);
    else if (err == FOUNDRY_ETIMEDOUT)
        status = fdy_ctl_conn_report_timeout(settings.endpoint, settings.timeout_ms);
    else if (err == FOUNDRY_EAUTH)
        status = fdy_ctl_conn_report_refused(reason.text);
    else if (err != FOUNDRY_OK)
        status = fdy_output_fail("cannot connect to %s: %s", settings.endpoint,
                                 reason.text[0] ? reason.text : foundry_strerror(err));
out:
    if (status == FDY_CTL_EXIT_OK)
        *out = self;
    else
        fdy_ctl_conn_destroy(&self);
    return status;
}

void
fdy_ctl_conn_destroy(fdy_ctl_conn_t **self_p)
{
    fdy_ctl_conn_t *self = *self_p;
    if (!self)
        return;
    fdy_conn_destroy(&self->conn);
    fdy_arena_destroy(&self->arena);
    fdy_keypair_destroy(&self->keypair);
    free(self);
    *self_p = NULL;
}

foundry_err
fdy_ctl_conn_admin(fdy_ctl_conn_t *self, const char *command, const char *const *argv, size_t argc,
                   fdy_table_t *table_out, fdy_reason_t *reason)
{
    memset(table_out, 0, sizeof *table_out);
    fdy_reason_clear(reason);
    fdy_arena_reset(self->arena, CTL_REPLY_BUDGET);
    /* A token makes a resend after a reconnect safe: the broker answers it
     * with the first answer instead of running the command again. */
    uint8_t token[FDY_ADMIN_TOKEN_LEN];
    randombytes_buf(token, sizeof token);
    fdy_envelope_t request = {
        .version = FDY_PROTOCOL_VERSION,
        .kind = FDY_KIND_ADMIN,
        .request_id = self->next_request_id++,
        .command = command,
        .args = argv,
        .arg_count = argc,
        .admin_token = token,
        .admin_token_len = sizeof token,
    };
    fdy_envelope_t reply;
    memset(&reply, 0, sizeof reply);
    foundry_err err = fdy_conn_request(self->conn, &request, self->settings.timeout_ms, self->arena,
                                       &reply, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (reply.kind == FDY_KIND_ERROR) {
        /* A broker that answers ERROR with code 0 still refused. */
        foundry_err code = reply.error_code != FOUNDRY_OK ? reply.error_code : FOUNDRY_EPROTO;
        return fdy_reason_set(reason, code, "%s", reply.error_reason ? reply.error_reason : "");
    }
    if (reply.kind != FDY_KIND_ADMIN_REPLY)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "the broker answered %s with kind %d",
                              command, (int) reply.kind);
    err = fdy_output_check_table(&reply.table, reason);
    if (err == FOUNDRY_OK)
        *table_out = reply.table;
    return err;
}

int
fdy_ctl_conn_report(const fdy_ctl_conn_t *self, foundry_err err, const fdy_reason_t *reason)
{
    const char *why = reason && reason->text[0] ? reason->text : NULL;
    switch (err) {
    case FOUNDRY_ETIMEDOUT:
        return fdy_ctl_conn_report_timeout(self->settings.endpoint, self->settings.timeout_ms);
    case FOUNDRY_EAUTH: return fdy_ctl_conn_report_refused(NULL); /* ERROR EAUTH: revoked */
    case FOUNDRY_EDENIED:
        return fdy_output_fail("the broker refused the command: %s",
                               why ? why : "our key is not an admin key");
    default:
        if (why)
            return fdy_output_fail("%s: %s", foundry_strerror(err), why);
        return fdy_output_fail("%s", foundry_strerror(err));
    }
}

foundry_err
fdy_ctl_argv_add(fdy_ctl_argv_t *self, const char *key, const char *value)
{
    if (!value)
        return FOUNDRY_OK;
    if (self->argc == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 8;
        char **grown = realloc(self->argv, cap * sizeof *grown);
        if (!grown)
            return FOUNDRY_ENOMEM;
        self->argv = grown;
        self->cap = cap;
    }
    size_t len = strlen(key) + strlen(value) + 2;
    char *arg = malloc(len);
    if (!arg)
        return FOUNDRY_ENOMEM;
    snprintf(arg, len, "%s=%s", key, value);
    self->argv[self->argc++] = arg;
    return FOUNDRY_OK;
}

void
fdy_ctl_argv_free(fdy_ctl_argv_t *self)
{
    for (size_t i = 0; i < self->argc; i++)
        free(self->argv[i]);
    free(self->argv);
    memset(self, 0, sizeof *self);
}

static foundry_err
s_show(const fdy_table_t *table, fdy_ctl_show_t show, bool json)
{
    if (show == FDY_CTL_SHOW_TABLE)
        return fdy_output_table(stdout, table, json);
    return fdy_output_record(stdout, table, 0, show == FDY_CTL_SHOW_RECORD, json);
}

int
fdy_ctl_conn_run(const fdy_ctl_args_t *args, const char *command, const fdy_ctl_argv_t *argv,
                 fdy_ctl_show_t show, const char *not_found)
{
    fdy_ctl_conn_t *conn = NULL;
    int status = fdy_ctl_conn_open(args, &conn);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    fdy_table_t table;
    fdy_reason_t reason = {{0}};
    foundry_err err =
        fdy_ctl_conn_admin(conn, command, argv ? (const char *const *) argv->argv : NULL,
                           argv ? argv->argc : 0, &table, &reason);
    bool one_row = show != FDY_CTL_SHOW_TABLE;
    if (err == FOUNDRY_ENOTFOUND && (not_found || reason.text[0]))
        status = fdy_output_fail("%s", not_found ? not_found : reason.text);
    else if (err == FOUNDRY_EEXIST && reason.text[0])
        status = fdy_output_fail("%s", reason.text);
    else if (err != FOUNDRY_OK)
        status = fdy_ctl_conn_report(conn, err, &reason);
    else if (one_row && table.row_count != 1)
        status =
            fdy_output_fail("the broker's %s reply has %zu rows, not 1", command, table.row_count);
    else if (s_show(&table, show, args->json) != FOUNDRY_OK)
        status = fdy_output_fail("out of memory");
    fdy_ctl_conn_destroy(&conn);
    return status;
}

int
fdy_ctl_conn_client(const fdy_ctl_args_t *args, fdy_ctl_conn_settings_t *settings_out,
                    foundry_client_t **client_out)
{
    *client_out = NULL;
    int status = fdy_ctl_conn_settings(args, settings_out);
    if (status == FDY_CTL_EXIT_OK)
        status = fdy_ctl_conn_check_keys(settings_out);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    foundry_client_opts_t opts;
    foundry_client_opts_init(&opts);
    opts.endpoint = settings_out->endpoint;
    opts.broker_key_file = settings_out->broker_key_file;
    opts.secret_key_file = settings_out->key_file;
    opts.connect_timeout_ms = (uint32_t) settings_out->timeout_ms;
    opts.ack_timeout_ms = (uint32_t) settings_out->timeout_ms;
    foundry_err err = foundry_client_new(&opts, client_out);
    if (err == FOUNDRY_ETIMEDOUT)
        return fdy_ctl_conn_report_timeout(settings_out->endpoint, settings_out->timeout_ms);
    if (err == FOUNDRY_EAUTH)
        return fdy_ctl_conn_report_refused(foundry_client_last_error(NULL));
    if (err == FOUNDRY_EINVAL) /* all we pass that can be bad is the endpoint */
        return fdy_output_usage("%s", foundry_client_last_error(NULL));
    if (err == FOUNDRY_EIO)
        return fdy_ctl_conn_report_io(settings_out->endpoint, foundry_client_last_error(NULL));
    if (err != FOUNDRY_OK)
        return fdy_output_fail("cannot connect to %s: %s", settings_out->endpoint,
                               foundry_client_last_error(NULL));
    return FDY_CTL_EXIT_OK;
}
