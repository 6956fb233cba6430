/*  admin_client.c: foundry_admin(), one admin command and its table, for
 *  bindings and programs that manage rollouts and the like without
 *  foundryctl. One call at a time, blocking: the ADMIN envelope goes out
 *  with a request id carrying ADMIN_BIT, and the reply's table is copied
 *  into one allocation the caller borrows until the next call. Each call
 *  carries a random token and goes out again, unchanged, when the
 *  connection comes back before its answer: the broker answers a token it
 *  has seen with the first answer, so a lost reply never runs a command
 *  twice.
 */
#include "admin_client.h"

#include "client.h"
#include "clock.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bit 59 of a request id: an admin request (60..63: the other modules). */
#define ADMIN_BIT   (1ull << 59)
#define OTHER_BITS  (0xfull << 60)
#define ARGS_MAX    256u

struct fdy_admin_client {
    foundry_client_t *client; /* borrowed: it owns us */
    uint64_t next_id;
    uint64_t waiting_id; /* 0: no call waiting */
    uint8_t *frame;      /* the waiting call's envelope, for a resend */
    size_t frame_len;
    uint64_t sent_epoch; /* the connection it last went out on */
    bool done;
    foundry_err err;
    char reason[FDY_REASON_MAX];
    /* The last answer: the struct, its arrays and the text in one block. */
    foundry_admin_table_t *table;
};

fdy_admin_client_t *
fdy_admin_client_new(foundry_client_t *client)
{
    fdy_admin_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->client = client;
    self->next_id = 1;
    return self;
}

void
fdy_admin_client_destroy(fdy_admin_client_t **self_p)
{
    fdy_admin_client_t *self = *self_p;
    if (!self)
        return;
    free(self->table);
    free(self->frame);
    free(self);
    *self_p = NULL;
}

bool
fdy_admin_client_owns(const fdy_envelope_t *env)
{
    if (!(env->request_id & ADMIN_BIT) || (env->request_id & OTHER_BITS))
        return false;
    return env->kind == FDY_KIND_ADMIN_REPLY || env->kind == FDY_KIND_ERROR;
}

/* One block: the struct, column and cell pointer arrays, cell lengths,
 * then every name and cell, each NUL-terminated. NULL on out-of-memory. */
static foundry_admin_table_t *
s_copy_table(const fdy_table_t *from)
{
    size_t cells = from->row_count * from->column_count;
    if (from->column_count && cells / from->column_count != from->row_count)
        return NULL;
    size_t text = 0;
    for (size_t i = 0; i < from->column_count; i++)
        text += strlen(from->columns[i]) + 1;
    for (size_t i = 0; i < cells; i++)
        text += from->cells[i].len + 1;
    size_t head = sizeof(foundry_admin_table_t) + (from->column_count + cells) * sizeof(char *) +
                  cells * sizeof(size_t);
    uint8_t *block = malloc(head + text);
    if (!block)
        return NULL;
    foundry_admin_table_t *table = (foundry_admin_table_t *) block;
    const char **columns = (const char **) (table + 1);
    const char **cell_text = columns + from->column_count;
    size_t *lens = (size_t *) (cell_text + cells);
    char *out = (char *) block + head;
    for (size_t i = 0; i < from->column_count; i++) {
        size_t len = strlen(from->columns[i]);
        memcpy(out, from->columns[i], len + 1);
        columns[i] = out;
        out += len + 1;
    }
    for (size_t i = 0; i < cells; i++) {
        size_t len = from->cells[i].len;
        if (len) /* an empty cell may have no data pointer at all */
            memcpy(out, from->cells[i].data, len);
        out[len] = '\0';
        cell_text[i] = out;
        lens[i] = len;
        out += len + 1;
    }
    *table = (foundry_admin_table_t){ from->column_count, columns, from->row_count, cell_text,
                                      lens };
    return table;
}

void
fdy_admin_client_on_reply(fdy_admin_client_t *self, const fdy_envelope_t *env)
{
    if (env->request_id != self->waiting_id || self->done)
        return; /* an answer to a call given up */
    self->done = true;
    if (env->kind == FDY_KIND_ERROR) {
        /* A broker that answers ERROR with code 0 still refused. */
        self->err = env->error_code != FOUNDRY_OK ? env->error_code : FOUNDRY_EPROTO;
        snprintf(self->reason, sizeof self->reason, "%s",
                 env->error_reason && *env->error_reason ? env->error_reason
                                                         : foundry_strerror(self->err));
        return;
    }
    free(self->table);
    self->table = s_copy_table(&env->table);
    self->err = self->table ? FOUNDRY_OK : FOUNDRY_ENOMEM;
    if (!self->table)
        snprintf(self->reason, sizeof self->reason, "out of memory for an admin reply");
}

/* Encodes the call, with a fresh token, into self->frame. */
static foundry_err
s_encode(fdy_admin_client_t *self, const char *command, const char *const *args,
         size_t arg_count)
{
    uint8_t token[FDY_ADMIN_TOKEN_LEN];
    randombytes_buf(token, sizeof token);
    fdy_envelope_t env;
    memset(&env, 0, sizeof env);
    env.version = FDY_PROTOCOL_VERSION;
    env.kind = FDY_KIND_ADMIN;
    env.request_id = ADMIN_BIT | (self->next_id++ & (ADMIN_BIT - 1));
    env.command = command;
    env.args = args;
    env.arg_count = arg_count;
    env.admin_token = token;
    env.admin_token_len = sizeof token;
    free(self->frame);
    self->frame = NULL;
    foundry_err err = fdy_codec_encode_envelope(&env, &self->frame, &self->frame_len);
    if (err != FOUNDRY_OK)
        return fdy_client_fail(self->client, err, "admin %s: %s", command,
                               foundry_strerror(err));
    self->waiting_id = env.request_id;
    self->done = false;
    self->reason[0] = '\0';
    return FOUNDRY_OK;
}

/* Sends self->frame; FOUNDRY_ETIMEDOUT while the connection is down. */
static foundry_err
s_send(fdy_admin_client_t *self)
{
    fdy_conn_t *conn = fdy_client_conn(self->client);
    fdy_slice_t frame = { self->frame, self->frame_len };
    if (fdy_conn_send(conn, &frame, 1) != FOUNDRY_OK)
        return FOUNDRY_ETIMEDOUT;
    self->sent_epoch = fdy_conn_epoch(conn);
    return FOUNDRY_OK;
}

static foundry_err
s_give_up(fdy_admin_client_t *self, foundry_err err)
{
    self->waiting_id = 0;
    free(self->frame);
    self->frame = NULL;
    return err;
}

foundry_err
foundry_admin(foundry_client_t *client, const char *command, const char *const *args,
              size_t arg_count, const foundry_admin_table_t **table_out)
{
    if (table_out)
        *table_out = NULL;
    if (!client)
        return FOUNDRY_EINVAL;
    fdy_admin_client_t *self = fdy_client_admin(client);
    if (!command || !*command || (arg_count && !args) || arg_count > ARGS_MAX)
        return fdy_client_fail(client, FOUNDRY_EINVAL, "admin: a command and at most %u args",
                               ARGS_MAX);
    for (size_t i = 0; i < arg_count; i++)
        if (!args[i])
            return fdy_client_fail(client, FOUNDRY_EINVAL, "admin %s: arg %zu is NULL",
                                   command, i);
    if (fdy_client_dispatching(client))
        return fdy_client_fail(client, FOUNDRY_EINVAL, "foundry_admin inside a handler");
    int64_t deadline = fdy_clock_mono_ms() + fdy_client_ack_timeout_ms(client);
    foundry_err err = s_encode(self, command, args, arg_count);
    if (err != FOUNDRY_OK)
        return err;
    bool sent = false;
    while (!self->done) {
        if (fdy_client_refused(client))
            return s_give_up(self, fdy_client_fail(client, FOUNDRY_EAUTH,
                                                   "the broker refused our key"));
        fdy_conn_t *conn = fdy_client_conn(client);
        /* Not connected yet, or connected again since it went out (the
         * broker side of that connection, with our answer, may be gone). */
        if (fdy_conn_state(conn) == FDY_CONN_UP && (!sent || fdy_conn_epoch(conn) != self->sent_epoch))
            sent = s_send(self) == FOUNDRY_OK || sent;
        int64_t left = deadline - fdy_clock_mono_ms();
        if (left <= 0)
            return s_give_up(self, fdy_client_fail(client, FOUNDRY_ETIMEDOUT,
                                                   sent ? "no answer to admin %s"
                                                        : "admin %s: not connected to the broker",
                                                   command));
        fdy_client_pump(client, left < 50 ? (int) left : 50);
    }
    s_give_up(self, FOUNDRY_OK);
    if (self->err != FOUNDRY_OK)
        return fdy_client_fail(client, self->err, "%s", self->reason);
    if (table_out)
        *table_out = self->table;
    return FOUNDRY_OK;
}
