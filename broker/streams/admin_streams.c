/*  admin_streams.c: stream and consumer administration. Changes go to the
 *  store first; the run-time side follows (bound subscriptions of a removed
 *  consumer or stream are ended, bindings of an edited stream re-checked
 *  against the read ACL). Consumer rows show the live window when the
 *  consumer is loaded, the saved one otherwise. Every change is an audit
 *  log line. Authorisation and dispatch are admin.c's.
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

typedef struct {
    fdy_store_t *store;
    fdy_subs_t *subs;
    fdy_arena_t *arena;
    const char *caller;
    const char *const *args;
    size_t arg_count;
    fdy_admin_table_t *table;
    fdy_reason_t *reason;
} cmd_t;

static const char *
s_arg(const cmd_t *cmd, const char *key)
{
    return fdy_admin_arg(cmd->args, cmd->arg_count, key);
}

static foundry_err
s_too_large(const cmd_t *cmd)
{
    return fdy_reason_set(cmd->reason, FOUNDRY_ENOMEM, "reply too large");
}

/* ---- streams --------------------------------------------------------------- */

static const char *const s_stream_columns[] = {
    "name",       "filters",   "first_seq", "last_seq",  "messages",   "bytes",
    "max_age_ms", "max_bytes", "max_msgs",  "consumers", "created_ns",
};
static const fdy_col_type_t s_stream_types[] = {
    FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_INT, FDY_COL_INT,  FDY_COL_INT, FDY_COL_INT,
    FDY_COL_INT,  FDY_COL_INT,  FDY_COL_INT, FDY_COL_TEXT, FDY_COL_INT,
};

static foundry_err
s_stream_table(const cmd_t *cmd, const fdy_stream_info_t *info)
{
    foundry_err err =
        fdy_admin_table_begin(cmd->table, cmd->arena, s_stream_columns, s_stream_types,
                              sizeof s_stream_columns / sizeof s_stream_columns[0], 1, cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_admin_table_t *t = cmd->table;
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
    return ok ? FOUNDRY_OK : s_too_large(cmd);
}

/* Reads stream `name` and answers with its row. */
static foundry_err
s_stream_reply(const cmd_t *cmd, const char *name)
{
    fdy_stream_info_t info;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err = fdy_store_stream_info(cmd->store, name, &info, &why);
    if (err == FOUNDRY_ENOTFOUND)
        err = fdy_reason_set(cmd->reason, err, "no stream named '%.64s'", name);
    else if (err != FOUNDRY_OK)
        err = fdy_reason_set(cmd->reason, err, "%s", why.text);
    else
        err = s_stream_table(cmd, &info);
    fdy_store_stream_info_clear(&info);
    return err;
}

/* max_age, max_bytes, max_msgs over *limits: only those given change. */
static foundry_err
s_limits(const cmd_t *cmd, fdy_stream_limits_t *limits, bool *changed)
{
    fdy_reason_t why;
    const char *value;
    *changed = false;
    if ((value = s_arg(cmd, "max_age"))) {
        fdy_reason_clear(&why);
        if (fdy_config_parse_duration(value, &limits->max_age_ms, &why) != FOUNDRY_OK)
            return fdy_reason_set(cmd->reason, FOUNDRY_EINVAL, "arg 'max_age': %s", why.text);
        *changed = true;
    }
    if ((value = s_arg(cmd, "max_bytes"))) {
        fdy_reason_clear(&why);
        if (fdy_config_parse_size(value, &limits->max_bytes, &why) != FOUNDRY_OK)
            return fdy_reason_set(cmd->reason, FOUNDRY_EINVAL, "arg 'max_bytes': %s", why.text);
        *changed = true;
    }
    if ((value = s_arg(cmd, "max_msgs"))) {
        fdy_reason_clear(&why);
        if (fdy_config_parse_uint(value, &limits->max_msgs, &why) != FOUNDRY_OK)
            return fdy_reason_set(cmd->reason, FOUNDRY_EINVAL, "arg 'max_msgs': %s", why.text);
        *changed = true;
    }
    return FOUNDRY_OK;
}

/* The values of every filter= arg, borrowed from args. */
static size_t
s_filters(const cmd_t *cmd, const char **filters)
{
    size_t count = 0;
    for (size_t i = 0; i < cmd->arg_count && count < FDY_STREAM_FILTERS_MAX + 1; i++)
        if (strncmp(cmd->args[i], "filter=", 7) == 0)
            filters[count++] = cmd->args[i] + 7;
    return count;
}

static foundry_err
s_stream_add(const cmd_t *cmd)
{
    static const fdy_admin_arg_spec_t specs[] = {
        {"name", true, false},       {"filter", false, true},    {"max_age", false, false},
        {"max_bytes", false, false}, {"max_msgs", false, false},
    };
    foundry_err err = fdy_admin_check_args(cmd->args, cmd->arg_count, specs,
                                           sizeof specs / sizeof specs[0], cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    const char *filters[FDY_STREAM_FILTERS_MAX + 1];
    size_t count = s_filters(cmd, filters);
    if (count > FDY_STREAM_FILTERS_MAX)
        return fdy_reason_set(cmd->reason, FOUNDRY_EINVAL, "arg 'filter': more than %d filters",
                              FDY_STREAM_FILTERS_MAX);
    fdy_stream_limits_t limits = {0};
    bool changed;
    err = s_limits(cmd, &limits, &changed);
    if (err != FOUNDRY_OK)
        return err;
    const char *name = s_arg(cmd, "name");
    err = fdy_store_stream_create_ex(cmd->store, name, filters, count, &limits, cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_log_notice("ADMIN-STREAM-ADD",
                   "%s added stream '%s' (%zu filters, max_age %" PRIu64 " ms, max_bytes %" PRIu64
                   ", max_msgs %" PRIu64 ")",
                   cmd->caller, name, count, limits.max_age_ms, limits.max_bytes, limits.max_msgs);
    return s_stream_reply(cmd, name);
}

static foundry_err
s_stream_info(const cmd_t *cmd)
{
    static const fdy_admin_arg_spec_t specs[] = {{"name", true, false}};
    foundry_err err = fdy_admin_check_args(cmd->args, cmd->arg_count, specs, 1, cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    return s_stream_reply(cmd, s_arg(cmd, "name"));
}

static foundry_err
s_stream_edit(const cmd_t *cmd)
{
    static const fdy_admin_arg_spec_t specs[] = {
        {"name", true, false},       {"filter", false, true},    {"max_age", false, false},
        {"max_bytes", false, false}, {"max_msgs", false, false},
    };
    foundry_err err = fdy_admin_check_args(cmd->args, cmd->arg_count, specs,
                                           sizeof specs / sizeof specs[0], cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    const char *name = s_arg(cmd, "name");
    fdy_stream_info_t info;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    err = fdy_store_stream_info(cmd->store, name, &info, &why);
    if (err != FOUNDRY_OK) {
        fdy_store_stream_info_clear(&info);
        if (err == FOUNDRY_ENOTFOUND)
            return fdy_reason_set(cmd->reason, err, "no stream named '%.64s'", name);
        return fdy_reason_set(cmd->reason, err, "%s", why.text);
    }
    fdy_stream_limits_t limits = info.limits;
    uint32_t stream_id = info.id;
    fdy_store_stream_info_clear(&info);
    bool limits_changed;
    err = s_limits(cmd, &limits, &limits_changed);
    if (err != FOUNDRY_OK)
        return err;
    const char *filters[FDY_STREAM_FILTERS_MAX + 1];
    size_t count = s_filters(cmd, filters);
    if (count > FDY_STREAM_FILTERS_MAX)
        return fdy_reason_set(cmd->reason, FOUNDRY_EINVAL, "arg 'filter': more than %d filters",
                              FDY_STREAM_FILTERS_MAX);
    if (count == 0 && !limits_changed)
        return fdy_reason_set(cmd->reason, FOUNDRY_EINVAL,
                              "stream.edit needs a filter, max_age, max_bytes or max_msgs arg");
    err = fdy_store_stream_update(cmd->store, name, count ? filters : NULL, count,
                                  limits_changed ? &limits : NULL, cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_log_notice("ADMIN-STREAM-EDIT", "%s edited stream '%s'%s%s", cmd->caller, name,
                   count ? " (filters)" : "", limits_changed ? " (limits)" : "");
    /* Wider filters could bring subjects a bound reader may not see. */
    if (count)
        fdy_subs_recheck_stream(cmd->subs, stream_id);
    return s_stream_reply(cmd, name);
}

static foundry_err
s_stream_rm(const cmd_t *cmd)
{
    static const fdy_admin_arg_spec_t specs[] = {{"name", true, false}};
    foundry_err err = fdy_admin_check_args(cmd->args, cmd->arg_count, specs, 1, cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    const char *name = s_arg(cmd, "name");
    /* The reply is the stream as it was. */
    err = s_stream_reply(cmd, name);
    if (err != FOUNDRY_OK)
        return err;
    uint32_t stream_id = 0;
    fdy_store_stream_lookup(cmd->store, name, &stream_id);
    err = fdy_store_stream_delete(cmd->store, name, cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_consumers_forget(fdy_subs_consumers(cmd->subs), stream_id, NULL, "the stream was removed");
    fdy_log_notice("ADMIN-STREAM-RM", "%s removed stream '%s'", cmd->caller, name);
    return FOUNDRY_OK;
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
s_consumer_row(const cmd_t *cmd, const char *stream, uint32_t stream_id,
               const fdy_consumer_t *consumer)
{
    fdy_admin_table_t *t = cmd->table;
    fdy_slice_t *row = fdy_admin_row_add(t);
    if (!row)
        return false;
    const fdy_consumer_config_t *cfg = &consumer->config;
    const fdy_consumer_state_t *state = &consumer->state;
    uint64_t floor = state->ack_floor, delivered = state->delivered_seq;
    uint64_t pending = delivered - floor - state->acked_count, bound = 0;
    fdy_consumers_info(fdy_subs_consumers(cmd->subs), stream_id, cfg->name, &floor, &delivered,
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
s_consumer_err(const cmd_t *cmd, foundry_err err, const char *stream, const char *name,
               const fdy_reason_t *why)
{
    if (err != FOUNDRY_ENOTFOUND)
        return fdy_reason_set(cmd->reason, err, "%s", why->text);
    uint32_t id;
    if (fdy_store_stream_lookup(cmd->store, stream, &id) != FOUNDRY_OK)
        return fdy_reason_set(cmd->reason, err, "no stream named '%.64s'", stream);
    return fdy_reason_set(cmd->reason, err, "stream '%.64s' has no consumer '%.64s'", stream, name);
}

static foundry_err
s_consumer_reply(const cmd_t *cmd, const char *stream, const char *name)
{
    fdy_consumer_t consumer;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    uint32_t stream_id = 0;
    foundry_err err = fdy_store_consumer_get(cmd->store, stream, name, &consumer, &why);
    if (err != FOUNDRY_OK)
        return s_consumer_err(cmd, err, stream, name, &why);
    fdy_store_stream_lookup(cmd->store, stream, &stream_id);
    err = fdy_admin_table_begin(cmd->table, cmd->arena, s_consumer_columns, s_consumer_types,
                                CONSUMER_COLUMNS, 1, cmd->reason);
    if (err == FOUNDRY_OK && !s_consumer_row(cmd, stream, stream_id, &consumer))
        err = s_too_large(cmd);
    fdy_store_consumer_clear(&consumer);
    return err;
}

/* first | last | new | seq:N | time:NS */
static foundry_err
s_parse_start(const cmd_t *cmd, const char *text, fdy_consumer_config_t *cfg)
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
        return fdy_reason_set(cmd->reason, FOUNDRY_EINVAL,
                              "arg 'start': '%.32s' is not first, last, new, seq:N (N >= 1) or "
                              "time:NS (ns since the epoch)",
                              text);
    return FOUNDRY_OK;
}

static foundry_err
s_consumer_add(const cmd_t *cmd)
{
    static const fdy_admin_arg_spec_t specs[] = {
        {"stream", true, false},           {"name", true, false},
        {"filter", false, false},          {"start", false, false},
        {"ack_wait", false, false},        {"max_deliver", false, false},
        {"max_ack_pending", false, false},
    };
    foundry_err err = fdy_admin_check_args(cmd->args, cmd->arg_count, specs,
                                           sizeof specs / sizeof specs[0], cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    const char *stream = s_arg(cmd, "stream");
    const char *name = s_arg(cmd, "name");
    fdy_consumer_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    if (strlen(name) > FDY_CONSUMER_NAME_MAX)
        return fdy_reason_set(cmd->reason, FOUNDRY_EINVAL, "arg 'name': longer than %d bytes",
                              FDY_CONSUMER_NAME_MAX);
    snprintf(cfg.name, sizeof cfg.name, "%s", name);
    const char *filter = s_arg(cmd, "filter");
    if (filter && strlen(filter) > FOUNDRY_SUBJECT_MAX)
        return fdy_reason_set(cmd->reason, FOUNDRY_EINVAL, "arg 'filter': longer than %d bytes",
                              FOUNDRY_SUBJECT_MAX);
    snprintf(cfg.filter, sizeof cfg.filter, "%s", filter ? filter : "");
    err = s_parse_start(cmd, s_arg(cmd, "start"), &cfg);
    if (err != FOUNDRY_OK)
        return err;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    cfg.ack_wait_ms = ACK_WAIT_DEFAULT_MS;
    const char *ack_wait = s_arg(cmd, "ack_wait");
    if (ack_wait && (fdy_config_parse_duration(ack_wait, &cfg.ack_wait_ms, &why) != FOUNDRY_OK ||
                     cfg.ack_wait_ms == 0))
        return fdy_reason_set(cmd->reason, FOUNDRY_EINVAL, "arg 'ack_wait': %s",
                              why.text[0] ? why.text : "must be more than 0");
    uint64_t max_deliver, max_ack_pending;
    err = fdy_admin_arg_uint(cmd->args, cmd->arg_count, "max_deliver", MAX_DELIVER_DEFAULT,
                             &max_deliver, cmd->reason);
    if (err == FOUNDRY_OK)
        err = fdy_admin_arg_uint(cmd->args, cmd->arg_count, "max_ack_pending",
                                 MAX_ACK_PENDING_DEFAULT, &max_ack_pending, cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    if (max_deliver > UINT32_MAX || max_ack_pending > UINT32_MAX)
        return fdy_reason_set(cmd->reason, FOUNDRY_EINVAL,
                              "max_deliver and max_ack_pending must fit 32 bits");
    cfg.max_deliver = (uint32_t) max_deliver;
    cfg.max_ack_pending = (uint32_t) max_ack_pending;
    err = fdy_store_consumer_create(cmd->store, stream, &cfg, cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    char start[48];
    s_start_text(&cfg, start, sizeof start);
    fdy_log_notice("ADMIN-CONSUMER-ADD",
                   "%s added consumer '%s' on stream '%s' (filter '%s', "
                   "start %s, ack_wait %" PRIu64 " ms, max_deliver %" PRIu32 ")",
                   cmd->caller, cfg.name, stream, cfg.filter, start, cfg.ack_wait_ms,
                   cfg.max_deliver);
    return s_consumer_reply(cmd, stream, cfg.name);
}

static foundry_err
s_consumer_info(const cmd_t *cmd)
{
    static const fdy_admin_arg_spec_t specs[] = {{"stream", true, false}, {"name", true, false}};
    foundry_err err = fdy_admin_check_args(cmd->args, cmd->arg_count, specs, 2, cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    return s_consumer_reply(cmd, s_arg(cmd, "stream"), s_arg(cmd, "name"));
}

static foundry_err
s_consumer_ls(const cmd_t *cmd)
{
    static const fdy_admin_arg_spec_t specs[] = {{"stream", true, false}};
    foundry_err err = fdy_admin_check_args(cmd->args, cmd->arg_count, specs, 1, cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    const char *stream = s_arg(cmd, "stream");
    fdy_consumer_t *consumers = NULL;
    size_t count = 0;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    err = fdy_store_consumer_list(cmd->store, stream, &consumers, &count, &why);
    if (err == FOUNDRY_ENOTFOUND)
        return fdy_reason_set(cmd->reason, err, "no stream named '%.64s'", stream);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(cmd->reason, err, "%s", why.text);
    uint32_t stream_id = 0;
    fdy_store_stream_lookup(cmd->store, stream, &stream_id);
    err = fdy_admin_table_begin(cmd->table, cmd->arena, s_consumer_columns, s_consumer_types,
                                CONSUMER_COLUMNS, count, cmd->reason);
    for (size_t i = 0; err == FOUNDRY_OK && i < count; i++)
        if (!s_consumer_row(cmd, stream, stream_id, &consumers[i]))
            err = s_too_large(cmd);
    fdy_store_consumers_free(&consumers, count);
    return err;
}

static foundry_err
s_consumer_rm(const cmd_t *cmd)
{
    static const fdy_admin_arg_spec_t specs[] = {{"stream", true, false}, {"name", true, false}};
    foundry_err err = fdy_admin_check_args(cmd->args, cmd->arg_count, specs, 2, cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    const char *stream = s_arg(cmd, "stream");
    const char *name = s_arg(cmd, "name");
    err = s_consumer_reply(cmd, stream, name);
    if (err != FOUNDRY_OK)
        return err;
    uint32_t stream_id = 0;
    fdy_store_stream_lookup(cmd->store, stream, &stream_id);
    err = fdy_store_consumer_delete(cmd->store, stream, name, cmd->reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_consumers_forget(fdy_subs_consumers(cmd->subs), stream_id, name,
                         "the consumer was removed");
    fdy_log_notice("ADMIN-CONSUMER-RM", "%s removed consumer '%s' of stream '%s'", cmd->caller,
                   name, stream);
    return FOUNDRY_OK;
}

/* ---- dispatch ---------------------------------------------------------------- */

foundry_err
fdy_admin_streams_handle(fdy_store_t *store, fdy_subs_t *subs, fdy_arena_t *arena,
                         const char *caller, const char *command, const char *const *args,
                         size_t arg_count, fdy_admin_table_t *table, fdy_reason_t *reason)
{
    cmd_t cmd = {.store = store,
                 .subs = subs,
                 .arena = arena,
                 .caller = caller,
                 .args = args,
                 .arg_count = arg_count,
                 .table = table,
                 .reason = reason};
    static const struct {
        const char *name;
        foundry_err (*fn)(const cmd_t *cmd);
    } commands[] = {
        {"stream.add", s_stream_add},       {"stream.info", s_stream_info},
        {"stream.edit", s_stream_edit},     {"stream.rm", s_stream_rm},
        {"consumer.add", s_consumer_add},   {"consumer.ls", s_consumer_ls},
        {"consumer.info", s_consumer_info}, {"consumer.rm", s_consumer_rm},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(command, commands[i].name) == 0)
            return commands[i].fn(&cmd);
    return fdy_reason_set(reason, FOUNDRY_EKIND, "unknown admin command '%.64s'", command);
}
