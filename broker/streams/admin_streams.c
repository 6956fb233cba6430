/*  admin_streams.c: stream and consumer administration. Changes go to the
 *  store first, then to the run-time side (subscriptions of a removed stream
 *  or consumer end; an edited stream's readers are re-checked against the
 *  ACL). Consumer rows show the live window when loaded. Every change is an
 *  audit line. Not here: authorisation, routing (admin.c), arg checks (the dispatcher).
 */
#include "admin_streams.h"

#include "config.h"
#include "consumers.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACK_WAIT_DEFAULT_MS     30000
#define MAX_DELIVER_DEFAULT     5
#define MAX_ACK_PENDING_DEFAULT 1000

/* stream.read stops adding rows past READ_BYTES_MAX so a reply stays well
 * below any client's frame limit. */
#define READ_BYTES_MAX     (8u * 1024u * 1024u)
#define READ_DEFAULT_COUNT 100

static foundry_err
s_too_large(fdy_reason_t *reason)
{
    return fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
}

/* ---- stream.ls ------------------------------------------------------------- */

static const char *const s_stream_ls_columns[] = {
    "name", "filters", "first_seq", "last_seq", "messages", "bytes",
};
static const fdy_col_type_t s_stream_ls_types[] = {
    FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_INT, FDY_COL_INT, FDY_COL_INT, FDY_COL_INT,
};

static bool
s_stream_ls_row(fdy_admin_table_t *table, const fdy_stream_info_t *info)
{
    fdy_slice_t *row = fdy_admin_row_add(table);
    if (!row)
        return false;
    bool ok = fdy_admin_cell_text(table, &row[0], info->name);
    ok = ok && fdy_admin_cell_join(table, &row[1], (const char *const *) info->filters,
                                   info->filter_count);
    ok = ok && fdy_admin_cell_int(table, &row[2], info->first_seq);
    ok = ok && fdy_admin_cell_int(table, &row[3], info->last_seq);
    ok = ok && fdy_admin_cell_int(table, &row[4], info->messages);
    ok = ok && fdy_admin_cell_int(table, &row[5], info->bytes);
    return ok;
}

static foundry_err
s_stream_ls(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table, fdy_reason_t *reason)
{
    fdy_admin_streams_t *self = ctx;
    fdy_stream_info_t *infos = NULL;
    size_t count = 0;
    foundry_err err = fdy_store_stream_list(self->store, &infos, &count);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, err, "cannot list streams: %s", foundry_strerror(err));
    err = fdy_admin_table_begin(table, call->arena, s_stream_ls_columns, s_stream_ls_types,
                                sizeof s_stream_ls_columns / sizeof s_stream_ls_columns[0], count,
                                reason);
    for (size_t i = 0; err == FOUNDRY_OK && i < count; i++) {
        if (!s_stream_ls_row(table, &infos[i]))
            err = s_too_large(reason);
    }
    fdy_store_stream_infos_free(&infos, count);
    return err;
}

/* ---- stream.add, .info, .edit, .rm ------------------------------------------ */

static const char *const s_stream_columns[] = {
    "name",       "filters",   "first_seq", "last_seq",  "messages",   "bytes",
    "max_age_ms", "max_bytes", "max_msgs",  "consumers", "created_ns",
};
static const fdy_col_type_t s_stream_types[] = {
    FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_INT, FDY_COL_INT,  FDY_COL_INT, FDY_COL_INT,
    FDY_COL_INT,  FDY_COL_INT,  FDY_COL_INT, FDY_COL_TEXT, FDY_COL_INT,
};

static foundry_err
s_stream_table(const fdy_admin_call_t *call, const fdy_stream_info_t *info, fdy_admin_table_t *t,
               fdy_reason_t *reason)
{
    foundry_err err =
        fdy_admin_table_begin(t, call->arena, s_stream_columns, s_stream_types,
                              sizeof s_stream_columns / sizeof s_stream_columns[0], 1, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_slice_t *row = fdy_admin_row_add(t);
    bool ok = fdy_admin_cell_text(t, &row[0], info->name);
    ok = ok &&
         fdy_admin_cell_join(t, &row[1], (const char *const *) info->filters, info->filter_count);
    ok = ok && fdy_admin_cell_int(t, &row[2], info->first_seq);
    ok = ok && fdy_admin_cell_int(t, &row[3], info->last_seq);
    ok = ok && fdy_admin_cell_int(t, &row[4], info->messages);
    ok = ok && fdy_admin_cell_int(t, &row[5], info->bytes);
    ok = ok && fdy_admin_cell_int(t, &row[6], info->limits.max_age_ms);
    ok = ok && fdy_admin_cell_int(t, &row[7], info->limits.max_bytes);
    ok = ok && fdy_admin_cell_int(t, &row[8], info->limits.max_msgs);
    ok = ok && fdy_admin_cell_join(t, &row[9], (const char *const *) info->consumers,
                                   info->consumer_count);
    ok = ok && fdy_admin_cell_int(t, &row[10], info->created_ns);
    return ok ? FOUNDRY_OK : s_too_large(reason);
}

/* Reads stream `name` and answers with its row. */
static foundry_err
s_stream_reply(fdy_admin_streams_t *self, const fdy_admin_call_t *call, const char *name,
               fdy_admin_table_t *table, fdy_reason_t *reason)
{
    fdy_stream_info_t info;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err = fdy_store_stream_info(self->store, name, &info, &why);
    if (err == FOUNDRY_ENOTFOUND)
        err = fdy_reason_set(reason, err, "no stream named '%.64s'", name);
    else if (err != FOUNDRY_OK)
        err = fdy_reason_set(reason, err, "%s", why.text);
    else
        err = s_stream_table(call, &info, table, reason);
    fdy_store_stream_info_clear(&info);
    return err;
}

/* max_age, max_bytes, max_msgs over *limits: only those given change. */
static foundry_err
s_limits(const fdy_admin_call_t *call, fdy_stream_limits_t *limits, bool *changed,
         fdy_reason_t *reason)
{
    fdy_reason_t why;
    const char *value;
    *changed = false;
    if ((value = fdy_admin_arg(call, "max_age"))) {
        fdy_reason_clear(&why);
        if (fdy_config_parse_duration(value, &limits->max_age_ms, &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'max_age': %s", why.text);
        *changed = true;
    }
    if ((value = fdy_admin_arg(call, "max_bytes"))) {
        fdy_reason_clear(&why);
        if (fdy_config_parse_size(value, &limits->max_bytes, &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'max_bytes': %s", why.text);
        *changed = true;
    }
    if ((value = fdy_admin_arg(call, "max_msgs"))) {
        fdy_reason_clear(&why);
        if (fdy_config_parse_uint(value, &limits->max_msgs, &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'max_msgs': %s", why.text);
        *changed = true;
    }
    return FOUNDRY_OK;
}

/* The values of every filter= arg, borrowed from args; one more than the
 * limit at most, so the caller can tell "too many". */
static size_t
s_filters(const fdy_admin_call_t *call, const char **filters)
{
    size_t count = 0;
    for (size_t i = 0; i < call->arg_count && count < FDY_STREAM_FILTERS_MAX + 1; i++)
        if (strncmp(call->args[i], "filter=", 7) == 0)
            filters[count++] = call->args[i] + 7;
    return count;
}

static foundry_err
s_stream_add(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table,
             fdy_reason_t *reason)
{
    fdy_admin_streams_t *self = ctx;
    const char *filters[FDY_STREAM_FILTERS_MAX + 1];
    size_t count = s_filters(call, filters);
    if (count > FDY_STREAM_FILTERS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'filter': more than %d filters",
                              FDY_STREAM_FILTERS_MAX);
    fdy_stream_limits_t limits = {0};
    bool changed;
    foundry_err err = s_limits(call, &limits, &changed, reason);
    if (err != FOUNDRY_OK)
        return err;
    const char *name = fdy_admin_arg(call, "name");
    err = fdy_store_stream_create_ex(self->store, name, filters, count, &limits, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_log_notice("ADMIN-STREAM-ADD",
                   "%s added stream '%s' (%zu filters, max_age %" PRIu64 " ms, max_bytes %" PRIu64
                   ", max_msgs %" PRIu64 ")",
                   call->caller->name, name, count, limits.max_age_ms, limits.max_bytes,
                   limits.max_msgs);
    return s_stream_reply(self, call, name, table, reason);
}

static foundry_err
s_stream_info(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table,
              fdy_reason_t *reason)
{
    return s_stream_reply(ctx, call, fdy_admin_arg(call, "name"), table, reason);
}

static foundry_err
s_stream_edit(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table,
              fdy_reason_t *reason)
{
    fdy_admin_streams_t *self = ctx;
    const char *name = fdy_admin_arg(call, "name");
    fdy_stream_info_t info;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err = fdy_store_stream_info(self->store, name, &info, &why);
    if (err != FOUNDRY_OK) {
        fdy_store_stream_info_clear(&info);
        if (err == FOUNDRY_ENOTFOUND)
            return fdy_reason_set(reason, err, "no stream named '%.64s'", name);
        return fdy_reason_set(reason, err, "%s", why.text);
    }
    fdy_stream_limits_t limits = info.limits;
    uint32_t stream_id = info.id;
    fdy_store_stream_info_clear(&info);
    bool limits_changed;
    err = s_limits(call, &limits, &limits_changed, reason);
    if (err != FOUNDRY_OK)
        return err;
    const char *filters[FDY_STREAM_FILTERS_MAX + 1];
    size_t count = s_filters(call, filters);
    if (count > FDY_STREAM_FILTERS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'filter': more than %d filters",
                              FDY_STREAM_FILTERS_MAX);
    if (count == 0 && !limits_changed)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "stream.edit needs a filter, max_age, max_bytes or max_msgs arg");
    err = fdy_store_stream_update(self->store, name, count ? filters : NULL, count,
                                  limits_changed ? &limits : NULL, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_log_notice("ADMIN-STREAM-EDIT", "%s edited stream '%s'%s%s", call->caller->name, name,
                   count ? " (filters)" : "", limits_changed ? " (limits)" : "");
    /* Wider filters could bring subjects a bound reader may not see. */
    if (count)
        fdy_subs_recheck_stream(self->subs, stream_id);
    return s_stream_reply(self, call, name, table, reason);
}

static foundry_err
s_stream_rm(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table, fdy_reason_t *reason)
{
    fdy_admin_streams_t *self = ctx;
    const char *name = fdy_admin_arg(call, "name");
    /* The reply is the stream as it was. */
    foundry_err err = s_stream_reply(self, call, name, table, reason);
    if (err != FOUNDRY_OK)
        return err;
    uint32_t stream_id = 0;
    fdy_store_stream_lookup(self->store, name, &stream_id);
    err = fdy_store_stream_delete(self->store, name, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_consumers_forget(self->consumers, stream_id, NULL, "the stream was removed");
    fdy_log_notice("ADMIN-STREAM-RM", "%s removed stream '%s'", call->caller->name, name);
    return FOUNDRY_OK;
}

/* ---- stream.read ------------------------------------------------------------ */

/* The dead_* columns are empty (0, "") except for a dead letter: where it
 * came from, which consumer gave up after how many deliveries, and why. */
static const char *const s_read_columns[] = {
    "seq", "stored_ns", "timestamp_ns", "publisher", "id", "subject", "payload",
    "dead_stream", "dead_seq", "dead_stored_ns", "dead_consumer", "dead_deliveries", "dead_reason",
};
static const fdy_col_type_t s_read_types[] = {
    FDY_COL_INT,  FDY_COL_INT, FDY_COL_INT, FDY_COL_TEXT, FDY_COL_BYTES, FDY_COL_TEXT, FDY_COL_BYTES,
    FDY_COL_TEXT, FDY_COL_INT, FDY_COL_INT, FDY_COL_TEXT, FDY_COL_INT,   FDY_COL_TEXT,
};

typedef struct {
    fdy_admin_table_t *table;
    size_t bytes;
    bool stopped; /* the byte cap ended the page early: not an error */
    fdy_reason_t *reason;
} read_ctx_t;

/* Everything a row points to is copied or decoded into the reply arena:
 * LMDB memory is gone once the read transaction ends. */
static foundry_err
s_read_row(const fdy_stored_t *rec, void *user)
{
    read_ctx_t *ctx = user;
    size_t row_bytes = rec->data_len + rec->ext_len + 64;
    if (ctx->table->row_count > 0 && ctx->bytes + row_bytes > READ_BYTES_MAX) {
        ctx->stopped = true;
        return FOUNDRY_ETOOBIG;
    }
    fdy_msg_t msg;
    fdy_reason_t why;
    foundry_err err = fdy_codec_decode_msg(rec->data, rec->data_len, ctx->table->arena, &msg, &why);
    if (err == FOUNDRY_ENOMEM)
        return s_too_large(ctx->reason);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(ctx->reason, FOUNDRY_ECORRUPT, "stream '%s' seq %" PRIu64 ": %s",
                              rec->stream, rec->seq, why.text);
    fdy_slice_t *row = fdy_admin_row_add(ctx->table);
    if (!row)
        return s_too_large(ctx->reason);
    row[4] = (fdy_slice_t){.data = msg.id, .len = msg.id_len};
    row[5] = (fdy_slice_t){.data = (const uint8_t *) msg.subject, .len = strlen(msg.subject)};
    bool ok = true;
    if (rec->ext)
        ok = fdy_admin_cell_copy(ctx->table, &row[6], rec->ext, rec->ext_len);
    else
        row[6] = (fdy_slice_t){.data = msg.payload, .len = msg.payload_len};
    ok = ok && fdy_admin_cell_int(ctx->table, &row[0], rec->seq);
    ok = ok && fdy_admin_cell_int(ctx->table, &row[1], rec->stored_ns);
    ok = ok && fdy_admin_cell_int(ctx->table, &row[2], msg.timestamp_ns);
    ok = ok && fdy_admin_cell_text(ctx->table, &row[3], rec->publisher);
    const fdy_dead_letter_info_t *dead = rec->dead_letter;
    ok = ok && fdy_admin_cell_text(ctx->table, &row[7], dead ? dead->stream : "");
    ok = ok && fdy_admin_cell_int(ctx->table, &row[8], dead ? dead->seq : 0);
    ok = ok && fdy_admin_cell_int(ctx->table, &row[9], dead ? dead->stored_ns : 0);
    ok = ok && fdy_admin_cell_text(ctx->table, &row[10], dead ? dead->consumer : "");
    ok = ok && fdy_admin_cell_int(ctx->table, &row[11], dead ? dead->deliveries : 0);
    ok = ok && fdy_admin_cell_text(ctx->table, &row[12], dead ? dead->reason : "");
    if (!ok)
        return s_too_large(ctx->reason);
    ctx->bytes += row_bytes;
    return FOUNDRY_OK;
}

static foundry_err
s_stream_read(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table,
              fdy_reason_t *reason)
{
    fdy_admin_streams_t *self = ctx;
    uint64_t from = 1, count = READ_DEFAULT_COUNT;
    foundry_err err = fdy_admin_arg_uint(call, "from", 1, &from, reason);
    if (err == FOUNDRY_OK)
        err = fdy_admin_arg_uint(call, "count", READ_DEFAULT_COUNT, &count, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (count == 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'count' must be at least 1");
    if (count > FDY_ADMIN_READ_MAX)
        count = FDY_ADMIN_READ_MAX; /* a page; foundryctl asks again from the next seq */
    if (from == 0)
        from = 1;
    const char *stream = fdy_admin_arg(call, "stream");
    err = fdy_admin_table_begin(table, call->arena, s_read_columns, s_read_types,
                                sizeof s_read_columns / sizeof s_read_columns[0], (size_t) count,
                                reason);
    if (err != FOUNDRY_OK)
        return err;
    read_ctx_t read = {.table = table, .reason = reason};
    fdy_reason_t why;
    fdy_reason_clear(&why);
    err = fdy_store_read(self->store, stream, from, (size_t) count, s_read_row, &read, &why);
    if (err == FOUNDRY_ETOOBIG && read.stopped)
        return FOUNDRY_OK;
    switch (err) {
    case FOUNDRY_OK: return FOUNDRY_OK;
    case FOUNDRY_ENOTFOUND:
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no stream named '%.64s'", stream);
    case FOUNDRY_ECORRUPT:
        fdy_log_err("STORE-CORRUPT", "%s", why.text);
        return fdy_reason_set(reason, FOUNDRY_ECORRUPT, "%s", why.text);
    case FOUNDRY_ENOMEM: return err; /* reason set by s_read_row */
    default:
        /* reason is empty unless s_read_row named the failure (the
         * dispatcher cleared it); a store error is always the store's. */
        if (reason->text[0] == '\0' || err == FOUNDRY_ESTORE)
            fdy_reason_set(reason, err, "reading stream '%.64s': %s", stream, why.text);
        return err;
    }
}

/* ---- consumers ------------------------------------------------------------------ */

static const char *const s_consumer_columns[] = {
    "stream",          "name",      "filter",        "start",   "ack_wait_ms", "max_deliver",
    "max_ack_pending", "ack_floor", "delivered_seq", "pending", "bound",
};
static const fdy_col_type_t s_consumer_types[] = {
    FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_INT, FDY_COL_INT,
    FDY_COL_INT,  FDY_COL_INT,  FDY_COL_INT,  FDY_COL_INT,  FDY_COL_INT,
};
#define CONSUMER_COLUMNS (sizeof s_consumer_columns / sizeof s_consumer_columns[0])

static void
s_start_text(const fdy_consumer_config_t *cfg, char *out, size_t size)
{
    switch (cfg->start) {
    case FDY_CONSUMER_START_FIRST: snprintf(out, size, "first"); break;
    case FDY_CONSUMER_START_LAST: snprintf(out, size, "last"); break;
    case FDY_CONSUMER_START_NEW: snprintf(out, size, "new"); break;
    case FDY_CONSUMER_START_SEQ: snprintf(out, size, "seq:%" PRIu64, cfg->start_value); break;
    case FDY_CONSUMER_START_TIME: snprintf(out, size, "time:%" PRIu64, cfg->start_value); break;
    }
}

static bool
s_consumer_row(fdy_admin_streams_t *self, const char *stream, uint32_t stream_id,
               const fdy_consumer_t *consumer, fdy_admin_table_t *t)
{
    fdy_slice_t *row = fdy_admin_row_add(t);
    if (!row)
        return false;
    const fdy_consumer_config_t *cfg = &consumer->config;
    const fdy_consumer_state_t *state = &consumer->state;
    uint64_t floor = state->ack_floor, delivered = state->delivered_seq;
    uint64_t pending = delivered - floor - state->acked_count, bound = 0;
    fdy_consumers_info(self->consumers, stream_id, cfg->name, &floor, &delivered,
                       &pending, &bound);
    char start[48];
    s_start_text(cfg, start, sizeof start);
    bool ok = fdy_admin_cell_text(t, &row[0], stream);
    ok = ok && fdy_admin_cell_text(t, &row[1], cfg->name);
    ok = ok && fdy_admin_cell_text(t, &row[2], cfg->filter);
    ok = ok && fdy_admin_cell_text(t, &row[3], start);
    ok = ok && fdy_admin_cell_int(t, &row[4], cfg->ack_wait_ms);
    ok = ok && fdy_admin_cell_int(t, &row[5], cfg->max_deliver);
    ok = ok && fdy_admin_cell_int(t, &row[6], cfg->max_ack_pending);
    ok = ok && fdy_admin_cell_int(t, &row[7], floor);
    ok = ok && fdy_admin_cell_int(t, &row[8], delivered);
    ok = ok && fdy_admin_cell_int(t, &row[9], pending);
    ok = ok && fdy_admin_cell_int(t, &row[10], bound);
    return ok;
}

/* Maps a store lookup failure to a reply naming what is missing. */
static foundry_err
s_consumer_err(fdy_admin_streams_t *self, foundry_err err, const char *stream, const char *name,
               const fdy_reason_t *why, fdy_reason_t *reason)
{
    if (err != FOUNDRY_ENOTFOUND)
        return fdy_reason_set(reason, err, "%s", why->text);
    uint32_t id;
    if (fdy_store_stream_lookup(self->store, stream, &id) != FOUNDRY_OK)
        return fdy_reason_set(reason, err, "no stream named '%.64s'", stream);
    return fdy_reason_set(reason, err, "stream '%.64s' has no consumer '%.64s'", stream, name);
}

static foundry_err
s_consumer_reply(fdy_admin_streams_t *self, const fdy_admin_call_t *call, const char *stream,
                 const char *name, fdy_admin_table_t *table, fdy_reason_t *reason)
{
    fdy_consumer_t consumer;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    uint32_t stream_id = 0;
    foundry_err err = fdy_store_consumer_get(self->store, stream, name, &consumer, &why);
    if (err != FOUNDRY_OK)
        return s_consumer_err(self, err, stream, name, &why, reason);
    fdy_store_stream_lookup(self->store, stream, &stream_id);
    err = fdy_admin_table_begin(table, call->arena, s_consumer_columns, s_consumer_types,
                                CONSUMER_COLUMNS, 1, reason);
    if (err == FOUNDRY_OK && !s_consumer_row(self, stream, stream_id, &consumer, table))
        err = s_too_large(reason);
    fdy_store_consumer_clear(&consumer);
    return err;
}

/* first | last | new | seq:N | time:NS */
static foundry_err
s_parse_start(const char *text, fdy_consumer_config_t *cfg, fdy_reason_t *reason)
{
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (!text || strcmp(text, "first") == 0)
        cfg->start = FDY_CONSUMER_START_FIRST;
    else if (strcmp(text, "last") == 0)
        cfg->start = FDY_CONSUMER_START_LAST;
    else if (strcmp(text, "new") == 0)
        cfg->start = FDY_CONSUMER_START_NEW;
    else if (strncmp(text, "seq:", 4) == 0 &&
             fdy_config_parse_uint(text + 4, &cfg->start_value, &why) == FOUNDRY_OK &&
             cfg->start_value > 0)
        cfg->start = FDY_CONSUMER_START_SEQ;
    else if (strncmp(text, "time:", 5) == 0 &&
             fdy_config_parse_uint(text + 5, &cfg->start_value, &why) == FOUNDRY_OK)
        cfg->start = FDY_CONSUMER_START_TIME;
    else
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "arg 'start': '%.32s' is not first, last, new, seq:N (N >= 1) or "
                              "time:NS (ns since the epoch)",
                              text);
    return FOUNDRY_OK;
}

static foundry_err
s_consumer_add(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table,
               fdy_reason_t *reason)
{
    fdy_admin_streams_t *self = ctx;
    const char *stream = fdy_admin_arg(call, "stream");
    const char *name = fdy_admin_arg(call, "name");
    fdy_consumer_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    if (strlen(name) > FDY_CONSUMER_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'name': longer than %d bytes",
                              FDY_CONSUMER_NAME_MAX);
    snprintf(cfg.name, sizeof cfg.name, "%s", name);
    const char *filter = fdy_admin_arg(call, "filter");
    if (filter && strlen(filter) > FOUNDRY_SUBJECT_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'filter': longer than %d bytes",
                              FOUNDRY_SUBJECT_MAX);
    snprintf(cfg.filter, sizeof cfg.filter, "%s", filter ? filter : "");
    foundry_err err = s_parse_start(fdy_admin_arg(call, "start"), &cfg, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    cfg.ack_wait_ms = ACK_WAIT_DEFAULT_MS;
    const char *ack_wait = fdy_admin_arg(call, "ack_wait");
    if (ack_wait && (fdy_config_parse_duration(ack_wait, &cfg.ack_wait_ms, &why) != FOUNDRY_OK ||
                     cfg.ack_wait_ms == 0))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'ack_wait': %s",
                              why.text[0] ? why.text : "must be more than 0");
    uint64_t max_deliver, max_ack_pending;
    err = fdy_admin_arg_uint(call, "max_deliver", MAX_DELIVER_DEFAULT, &max_deliver, reason);
    if (err == FOUNDRY_OK)
        err = fdy_admin_arg_uint(call, "max_ack_pending", MAX_ACK_PENDING_DEFAULT, &max_ack_pending,
                                 reason);
    if (err != FOUNDRY_OK)
        return err;
    if (max_deliver > UINT32_MAX || max_ack_pending > UINT32_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "max_deliver and max_ack_pending must fit 32 bits");
    cfg.max_deliver = (uint32_t) max_deliver;
    cfg.max_ack_pending = (uint32_t) max_ack_pending;
    err = fdy_store_consumer_create(self->store, stream, &cfg, reason);
    if (err != FOUNDRY_OK)
        return err;
    char start[48];
    s_start_text(&cfg, start, sizeof start);
    fdy_log_notice("ADMIN-CONSUMER-ADD",
                   "%s added consumer '%s' on stream '%s' (filter '%s', "
                   "start %s, ack_wait %" PRIu64 " ms, max_deliver %" PRIu32 ")",
                   call->caller->name, cfg.name, stream, cfg.filter, start, cfg.ack_wait_ms,
                   cfg.max_deliver);
    return s_consumer_reply(self, call, stream, cfg.name, table, reason);
}

static foundry_err
s_consumer_info(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table,
                fdy_reason_t *reason)
{
    return s_consumer_reply(ctx, call, fdy_admin_arg(call, "stream"), fdy_admin_arg(call, "name"),
                            table, reason);
}

static foundry_err
s_consumer_ls(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table,
              fdy_reason_t *reason)
{
    fdy_admin_streams_t *self = ctx;
    const char *stream = fdy_admin_arg(call, "stream");
    fdy_consumer_t *consumers = NULL;
    size_t count = 0;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err = fdy_store_consumer_list(self->store, stream, &consumers, &count, &why);
    if (err == FOUNDRY_ENOTFOUND)
        return fdy_reason_set(reason, err, "no stream named '%.64s'", stream);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, err, "%s", why.text);
    uint32_t stream_id = 0;
    fdy_store_stream_lookup(self->store, stream, &stream_id);
    err = fdy_admin_table_begin(table, call->arena, s_consumer_columns, s_consumer_types,
                                CONSUMER_COLUMNS, count, reason);
    for (size_t i = 0; err == FOUNDRY_OK && i < count; i++)
        if (!s_consumer_row(self, stream, stream_id, &consumers[i], table))
            err = s_too_large(reason);
    fdy_store_consumers_free(&consumers, count);
    return err;
}

static foundry_err
s_consumer_rm(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table,
              fdy_reason_t *reason)
{
    fdy_admin_streams_t *self = ctx;
    const char *stream = fdy_admin_arg(call, "stream");
    const char *name = fdy_admin_arg(call, "name");
    /* The reply is the consumer as it was. */
    foundry_err err = s_consumer_reply(self, call, stream, name, table, reason);
    if (err != FOUNDRY_OK)
        return err;
    uint32_t stream_id = 0;
    fdy_store_stream_lookup(self->store, stream, &stream_id);
    err = fdy_store_consumer_delete(self->store, stream, name, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_consumers_forget(self->consumers, stream_id, name,
                         "the consumer was removed");
    fdy_log_notice("ADMIN-CONSUMER-RM", "%s removed consumer '%s' of stream '%s'",
                   call->caller->name, name, stream);
    return FOUNDRY_OK;
}

/* ---- the command table ------------------------------------------------------ */

/* fdy_admin_dispatch() checks these before a row's fn runs, so the fns read
 * required args without testing for NULL. */
static const fdy_admin_arg_spec_t s_name_arg[] = {{"name", true, false}};
static const fdy_admin_arg_spec_t s_stream_arg[] = {{"stream", true, false}};
static const fdy_admin_arg_spec_t s_stream_name_args[] = {
    {"stream", true, false},
    {"name", true, false},
};
/* stream.add and stream.edit take the same args; only name is required. */
static const fdy_admin_arg_spec_t s_stream_change_args[] = {
    {"name", true, false},       {"filter", false, true},    {"max_age", false, false},
    {"max_bytes", false, false}, {"max_msgs", false, false},
};
static const fdy_admin_arg_spec_t s_stream_read_args[] = {
    {"stream", true, false},
    {"from", false, false},
    {"count", false, false},
};
static const fdy_admin_arg_spec_t s_consumer_add_args[] = {
    {"stream", true, false},           {"name", true, false},      {"filter", false, false},
    {"start", false, false},           {"ack_wait", false, false}, {"max_deliver", false, false},
    {"max_ack_pending", false, false},
};
#define ARG_COUNT(specs) (sizeof specs / sizeof specs[0])

const fdy_admin_command_t fdy_admin_streams_commands[] = {
    {"stream.ls", NULL, 0, s_stream_ls},
    {"stream.add", s_stream_change_args, ARG_COUNT(s_stream_change_args), s_stream_add},
    {"stream.info", s_name_arg, ARG_COUNT(s_name_arg), s_stream_info},
    {"stream.edit", s_stream_change_args, ARG_COUNT(s_stream_change_args), s_stream_edit},
    {"stream.rm", s_name_arg, ARG_COUNT(s_name_arg), s_stream_rm},
    {"stream.read", s_stream_read_args, ARG_COUNT(s_stream_read_args), s_stream_read},
    {"consumer.add", s_consumer_add_args, ARG_COUNT(s_consumer_add_args), s_consumer_add},
    {"consumer.ls", s_stream_arg, ARG_COUNT(s_stream_arg), s_consumer_ls},
    {"consumer.info", s_stream_name_args, ARG_COUNT(s_stream_name_args), s_consumer_info},
    {"consumer.rm", s_stream_name_args, ARG_COUNT(s_stream_name_args), s_consumer_rm},
};
const size_t fdy_admin_streams_command_count =
    sizeof fdy_admin_streams_commands / sizeof fdy_admin_streams_commands[0];
