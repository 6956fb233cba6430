/*  admin.c: the administrative commands, each answering with a table whose
 *  cells live in one reply arena reset per command. Authorisation (admin
 *  role only) and the audit log lines for key changes are here; request
 *  decoding, reply encoding and sockets are broker.c's.
 */
#include "admin.h"
#include "admin_streams.h"
#include "admin_table.h"

#include "arena.h"
#include "clock.h"
#include "keys.h"
#include "log.h"
#include "xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A reply arena this big bounds what one command can make us allocate;
 * stream.read stops adding rows past READ_BYTES_MAX so a reply stays well
 * below any client's frame limit. */
#define REPLY_BUDGET       (64u * 1024u * 1024u)
#define READ_BYTES_MAX     (8u * 1024u * 1024u)
#define READ_DEFAULT_COUNT 100

struct fdy_admin {
    fdy_store_t *store;
    fdy_registry_t *registry;
    fdy_subs_t *subs;
    fdy_arena_t *arena;
};

/* ---- arguments -------------------------------------------------------- */

static size_t
s_arg_key_len(const char *arg)
{
    const char *equals = strchr(arg, '=');
    return equals ? (size_t) (equals - arg) : strlen(arg);
}

/* Every arg must be key=value with a key the command knows; required keys
 * must be there and single ones appear once. */
foundry_err
fdy_admin_check_args(const char *const *args, size_t arg_count, const fdy_admin_arg_spec_t *specs,
                     size_t spec_count, fdy_reason_t *reason)
{
    for (size_t i = 0; i < arg_count; i++) {
        size_t key_len = s_arg_key_len(args[i]);
        if (args[i][key_len] != '=')
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg '%.64s' is not key=value", args[i]);
        const fdy_admin_arg_spec_t *spec = NULL;
        for (size_t s = 0; s < spec_count; s++) {
            if (strlen(specs[s].key) == key_len && strncmp(specs[s].key, args[i], key_len) == 0)
                spec = &specs[s];
        }
        if (!spec)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "unknown arg '%.*s'",
                                  (int) (key_len > 64 ? 64 : key_len), args[i]);
        for (size_t j = 0; j < i && !spec->repeatable; j++) {
            if (s_arg_key_len(args[j]) == key_len && strncmp(args[j], args[i], key_len) == 0)
                return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg '%s' given twice", spec->key);
        }
    }
    for (size_t s = 0; s < spec_count; s++) {
        if (!specs[s].required)
            continue;
        bool found = false;
        size_t key_len = strlen(specs[s].key);
        for (size_t i = 0; i < arg_count && !found; i++)
            found =
                s_arg_key_len(args[i]) == key_len && strncmp(args[i], specs[s].key, key_len) == 0;
        if (!found)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "missing arg '%s'", specs[s].key);
    }
    return FOUNDRY_OK;
}

/* Value of the first arg named key, or NULL. */
const char *
fdy_admin_arg(const char *const *args, size_t arg_count, const char *key)
{
    size_t key_len = strlen(key);
    for (size_t i = 0; i < arg_count; i++) {
        if (strncmp(args[i], key, key_len) == 0 && args[i][key_len] == '=')
            return args[i] + key_len + 1;
    }
    return NULL;
}

foundry_err
fdy_admin_arg_uint(const char *const *args, size_t arg_count, const char *key, uint64_t fallback,
                   uint64_t *value_out, fdy_reason_t *reason)
{
    const char *text = fdy_admin_arg(args, arg_count, key);
    *value_out = fallback;
    if (!text)
        return FOUNDRY_OK;
    char *end = NULL;
    if (text[0] < '0' || text[0] > '9')
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg '%s': '%.32s' is not a number", key,
                              text);
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg '%s': '%.32s' is not a number", key,
                              text);
    *value_out = value;
    return FOUNDRY_OK;
}

/* ---- table building ---------------------------------------------------- */

foundry_err
fdy_admin_table_begin(fdy_admin_table_t *table, fdy_arena_t *arena, const char *const *columns,
                      const fdy_col_type_t *types, size_t column_count, size_t row_capacity,
                      fdy_reason_t *reason)
{
    *table = (fdy_admin_table_t){.arena = arena,
                                 .columns = columns,
                                 .types = types,
                                 .column_count = column_count,
                                 .row_capacity = row_capacity};
    size_t cells = row_capacity * column_count;
    table->cells = fdy_arena_alloc(arena, (cells ? cells : 1) * sizeof *table->cells);
    if (!table->cells)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    return FOUNDRY_OK;
}

fdy_slice_t *
fdy_admin_row_add(fdy_admin_table_t *table)
{
    if (table->row_count == table->row_capacity)
        return NULL;
    fdy_slice_t *row = &table->cells[table->row_count * table->column_count];
    memset(row, 0, table->column_count * sizeof *row);
    table->row_count++;
    return row;
}

void
fdy_admin_table_end(const fdy_admin_table_t *table, fdy_table_t *out)
{
    *out = (fdy_table_t){.column_count = table->column_count,
                         .columns = table->columns,
                         .types = table->types,
                         .row_count = table->row_count,
                         .cells = table->cells};
}

/* A copy in the arena: what the cell points to must outlive LMDB
 * transactions and registry reloads until the reply is encoded. */
bool
fdy_admin_cell_copy(fdy_admin_table_t *table, fdy_slice_t *cell, const void *data, size_t len)
{
    uint8_t *copy = fdy_arena_alloc(table->arena, len ? len : 1);
    if (!copy)
        return false;
    if (len)
        memcpy(copy, data, len);
    *cell = (fdy_slice_t){.data = copy, .len = len};
    return true;
}

bool
fdy_admin_cell_text(fdy_admin_table_t *table, fdy_slice_t *cell, const char *text)
{
    return fdy_admin_cell_copy(table, cell, text, strlen(text));
}

bool
fdy_admin_cell_int(fdy_admin_table_t *table, fdy_slice_t *cell, uint64_t value)
{
    char text[24];
    int len = snprintf(text, sizeof text, "%" PRIu64, value);
    return fdy_admin_cell_copy(table, cell, text, (size_t) len);
}

bool
fdy_admin_cell_join(fdy_admin_table_t *table, fdy_slice_t *cell, const char *const *items,
                    size_t count)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += strlen(items[i]) + 1;
    char *text = fdy_arena_alloc(table->arena, total + 1);
    if (!text)
        return false;
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(items[i]);
        if (i > 0)
            text[used++] = ' ';
        memcpy(text + used, items[i], len);
        used += len;
    }
    text[used] = '\0';
    *cell = (fdy_slice_t){.data = (const uint8_t *) text, .len = used};
    return true;
}

/* ---- status ------------------------------------------------------------ */

static const char *const s_status_columns[] = {
    "version",          "uptime_s",      "messages",     "streams", "connections", "principals",
    "store_used_bytes", "map_size",      "map_size_max", "commits", "published",   "duplicates",
    "errors",           "subscriptions", "deliveries",   "dropped",
};
static const fdy_col_type_t s_status_types[] = {
    FDY_COL_TEXT, FDY_COL_INT, FDY_COL_INT, FDY_COL_INT, FDY_COL_INT, FDY_COL_TEXT,
    FDY_COL_INT,  FDY_COL_INT, FDY_COL_INT, FDY_COL_INT, FDY_COL_INT, FDY_COL_INT,
    FDY_COL_INT,  FDY_COL_INT, FDY_COL_INT, FDY_COL_INT,
};

static foundry_err
s_status(fdy_admin_t *self, const fdy_admin_status_t *status, fdy_admin_table_t *table,
         fdy_reason_t *reason)
{
    fdy_store_stats_t stats;
    if (fdy_store_stats(self->store, &stats) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_ESTORE, "cannot read store statistics");
    foundry_err err =
        fdy_admin_table_begin(table, self->arena, s_status_columns, s_status_types,
                              sizeof s_status_columns / sizeof s_status_columns[0], 1, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_slice_t *row = fdy_admin_row_add(table);
    bool ok = fdy_admin_cell_text(table, &row[0], foundry_version());
    ok = ok && fdy_admin_cell_int(table, &row[1], status->uptime_s);
    ok = ok && fdy_admin_cell_int(table, &row[2], stats.messages);
    ok = ok && fdy_admin_cell_int(table, &row[3], stats.streams);
    ok = ok && fdy_admin_cell_int(table, &row[4], status->connections);
    ok = ok && fdy_admin_cell_text(table, &row[5], status->principals ? status->principals : "");
    ok = ok && fdy_admin_cell_int(table, &row[6], stats.used_bytes);
    ok = ok && fdy_admin_cell_int(table, &row[7], stats.map_size);
    ok = ok && fdy_admin_cell_int(table, &row[8], stats.map_size_max);
    ok = ok && fdy_admin_cell_int(table, &row[9], status->commits);
    ok = ok && fdy_admin_cell_int(table, &row[10], status->published);
    ok = ok && fdy_admin_cell_int(table, &row[11], status->duplicates);
    ok = ok && fdy_admin_cell_int(table, &row[12], status->errors);
    ok = ok && fdy_admin_cell_int(table, &row[13], status->subscriptions);
    ok = ok && fdy_admin_cell_int(table, &row[14], status->deliveries);
    ok = ok && fdy_admin_cell_int(table, &row[15], status->dropped);
    return ok ? FOUNDRY_OK : fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
}

/* ---- keys -------------------------------------------------------------- */

static const char *const s_key_columns[] = {
    "name",    "role",       "site",       "tenant", "allow_publish", "allow_subscribe",
    "revoked", "created_ns", "public_key",
};
static const fdy_col_type_t s_key_types[] = {
    FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT,
    FDY_COL_TEXT, FDY_COL_INT,  FDY_COL_INT,  FDY_COL_TEXT,
};
#define KEY_COLUMN_COUNT (sizeof s_key_columns / sizeof s_key_columns[0])

static bool
s_key_row(fdy_admin_table_t *table, const fdy_principal_t *p)
{
    fdy_slice_t *row = fdy_admin_row_add(table);
    if (!row)
        return false;
    bool ok = fdy_admin_cell_text(table, &row[0], p->name);
    ok = ok && fdy_admin_cell_text(table, &row[1], fdy_role_name(p->role));
    ok = ok && fdy_admin_cell_text(table, &row[2], p->site);
    ok = ok && fdy_admin_cell_text(table, &row[3], p->tenant);
    ok = ok && fdy_admin_cell_join(table, &row[4], (const char *const *) p->allow_publish,
                                   p->allow_count);
    ok = ok && fdy_admin_cell_join(table, &row[5], (const char *const *) p->allow_subscribe,
                                   p->allow_subscribe_count);
    ok = ok && fdy_admin_cell_int(table, &row[6], p->revoked ? 1 : 0);
    ok = ok && fdy_admin_cell_int(table, &row[7], p->created_ns);
    ok = ok && fdy_admin_cell_text(table, &row[8], p->public_key);
    return ok;
}

static foundry_err
s_one_key_table(fdy_admin_t *self, const char *name, fdy_admin_table_t *table, fdy_reason_t *reason)
{
    const fdy_principal_t *p = fdy_registry_by_name(self->registry, name);
    if (!p)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no key named '%s'", name);
    foundry_err err = fdy_admin_table_begin(table, self->arena, s_key_columns, s_key_types,
                                            KEY_COLUMN_COUNT, 1, reason);
    if (err == FOUNDRY_OK && !s_key_row(table, p))
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    return err;
}

static foundry_err
s_key_ls(fdy_admin_t *self, fdy_admin_table_t *table, fdy_reason_t *reason)
{
    size_t count = fdy_registry_count(self->registry);
    foundry_err err = fdy_admin_table_begin(table, self->arena, s_key_columns, s_key_types,
                                            KEY_COLUMN_COUNT, count, reason);
    for (size_t i = 0; err == FOUNDRY_OK && i < count; i++) {
        if (!s_key_row(table, fdy_registry_at(self->registry, i)))
            err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    }
    return err;
}

static foundry_err
s_copy_field(char *out, size_t out_size, const char *value, const char *arg, fdy_reason_t *reason)
{
    if (!value)
        value = "";
    if (strlen(value) >= out_size)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg '%s' is longer than %zu bytes", arg,
                              out_size - 1);
    memcpy(out, value, strlen(value) + 1);
    return FOUNDRY_OK;
}

static foundry_err
s_key_add(fdy_admin_t *self, const char *caller, const char *const *args, size_t arg_count,
          fdy_admin_table_t *table, fdy_reason_t *reason)
{
    static const fdy_admin_arg_spec_t specs[] = {
        {"name", true, false},      {"key", true, false},     {"role", true, false},
        {"site", false, false},     {"tenant", false, false}, {"allow", false, true},
        {"allow_sub", false, true},
    };
    foundry_err err =
        fdy_admin_check_args(args, arg_count, specs, sizeof specs / sizeof specs[0], reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_principal_t p;
    memset(&p, 0, sizeof p);
    err =
        s_copy_field(p.name, sizeof p.name, fdy_admin_arg(args, arg_count, "name"), "name", reason);
    if (err == FOUNDRY_OK)
        err = s_copy_field(p.public_key, sizeof p.public_key, fdy_admin_arg(args, arg_count, "key"),
                           "key", reason);
    if (err == FOUNDRY_OK)
        err = s_copy_field(p.site, sizeof p.site, fdy_admin_arg(args, arg_count, "site"), "site",
                           reason);
    if (err == FOUNDRY_OK)
        err = s_copy_field(p.tenant, sizeof p.tenant, fdy_admin_arg(args, arg_count, "tenant"),
                           "tenant", reason);
    if (err != FOUNDRY_OK)
        return err;
    if (fdy_role_parse(fdy_admin_arg(args, arg_count, "role"), &p.role) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "arg 'role': '%.32s' is not node, partner, admin or link",
                              fdy_admin_arg(args, arg_count, "role"));
    for (size_t i = 0; i < arg_count; i++) {
        bool publish = strncmp(args[i], "allow=", 6) == 0;
        bool subscribe = strncmp(args[i], "allow_sub=", 10) == 0;
        if (!publish && !subscribe)
            continue;
        size_t *count = publish ? &p.allow_count : &p.allow_subscribe_count;
        if (*count == FDY_ALLOW_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg '%s': more than %d filters",
                                  publish ? "allow" : "allow_sub", FDY_ALLOW_MAX);
        /* The registry copies them; the encoder only reads. */
        const char *value = args[i] + (publish ? 6 : 10);
        char *filter = fdy_arena_alloc(self->arena, strlen(value) + 1);
        if (!filter)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "request too large");
        memcpy(filter, value, strlen(value) + 1);
        if (publish)
            p.allow_publish[(*count)++] = filter;
        else
            p.allow_subscribe[(*count)++] = filter;
    }
    p.created_ns = fdy_clock_wall_ns();
    err = fdy_registry_add(self->registry, &p, reason);
    if (err != FOUNDRY_OK)
        return err;
    char fingerprint[9];
    fdy_keys_fingerprint(p.public_key, fingerprint);
    fdy_log_notice("ADMIN-KEY-ADD", "%s added key '%s' (%s, role %s, site '%s', tenant '%s')",
                   caller, p.name, fingerprint, fdy_role_name(p.role), p.site, p.tenant);
    return s_one_key_table(self, p.name, table, reason);
}

static foundry_err
s_key_revoke(fdy_admin_t *self, const char *caller, const char *const *args, size_t arg_count,
             fdy_admin_table_t *table, fdy_reason_t *reason)
{
    static const fdy_admin_arg_spec_t specs[] = {{"name", true, false}};
    foundry_err err = fdy_admin_check_args(args, arg_count, specs, 1, reason);
    if (err != FOUNDRY_OK)
        return err;
    const char *name = fdy_admin_arg(args, arg_count, "name");
    err = fdy_registry_revoke(self->registry, name, reason);
    if (err == FOUNDRY_ENOTFOUND)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no key named '%.64s'", name);
    if (err != FOUNDRY_OK)
        return err;
    fdy_log_notice("ADMIN-KEY-REVOKE", "%s revoked key '%.64s'", caller, name);
    return s_one_key_table(self, name, table, reason);
}

/* ---- streams ----------------------------------------------------------- */

static const char *const s_stream_columns[] = {
    "name", "filters", "first_seq", "last_seq", "messages", "bytes",
};
static const fdy_col_type_t s_stream_types[] = {
    FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_INT, FDY_COL_INT, FDY_COL_INT, FDY_COL_INT,
};

static bool
s_stream_row(fdy_admin_table_t *table, const fdy_stream_info_t *info)
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
s_stream_ls(fdy_admin_t *self, fdy_admin_table_t *table, fdy_reason_t *reason)
{
    fdy_stream_info_t *infos = NULL;
    size_t count = 0;
    foundry_err err = fdy_store_stream_list(self->store, &infos, &count);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, err, "cannot list streams: %s", foundry_strerror(err));
    err =
        fdy_admin_table_begin(table, self->arena, s_stream_columns, s_stream_types,
                              sizeof s_stream_columns / sizeof s_stream_columns[0], count, reason);
    for (size_t i = 0; err == FOUNDRY_OK && i < count; i++) {
        if (!s_stream_row(table, &infos[i]))
            err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    }
    fdy_store_stream_infos_free(&infos, count);
    return err;
}

static const char *const s_read_columns[] = {
    "seq", "stored_ns", "timestamp_ns", "publisher", "id", "subject", "payload",
};
static const fdy_col_type_t s_read_types[] = {
    FDY_COL_INT, FDY_COL_INT, FDY_COL_INT, FDY_COL_TEXT, FDY_COL_BYTES, FDY_COL_TEXT, FDY_COL_BYTES,
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
        return fdy_reason_set(ctx->reason, FOUNDRY_ENOMEM, "reply too large");
    if (err != FOUNDRY_OK)
        return fdy_reason_set(ctx->reason, FOUNDRY_ECORRUPT, "stream '%s' seq %" PRIu64 ": %s",
                              rec->stream, rec->seq, why.text);
    fdy_slice_t *row = fdy_admin_row_add(ctx->table);
    if (!row)
        return fdy_reason_set(ctx->reason, FOUNDRY_ENOMEM, "reply too large");
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
    if (!ok)
        return fdy_reason_set(ctx->reason, FOUNDRY_ENOMEM, "reply too large");
    ctx->bytes += row_bytes;
    return FOUNDRY_OK;
}

static foundry_err
s_stream_read(fdy_admin_t *self, const char *const *args, size_t arg_count,
              fdy_admin_table_t *table, fdy_reason_t *reason)
{
    static const fdy_admin_arg_spec_t specs[] = {
        {"stream", true, false}, {"from", false, false}, {"count", false, false}};
    foundry_err err = fdy_admin_check_args(args, arg_count, specs, 3, reason);
    uint64_t from = 1, count = READ_DEFAULT_COUNT;
    if (err == FOUNDRY_OK)
        err = fdy_admin_arg_uint(args, arg_count, "from", 1, &from, reason);
    if (err == FOUNDRY_OK)
        err = fdy_admin_arg_uint(args, arg_count, "count", READ_DEFAULT_COUNT, &count, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (count == 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'count' must be at least 1");
    if (count > FDY_ADMIN_READ_MAX)
        count = FDY_ADMIN_READ_MAX; /* a page; foundryctl asks again from the next seq */
    if (from == 0)
        from = 1;
    const char *stream = fdy_admin_arg(args, arg_count, "stream");
    err = fdy_admin_table_begin(table, self->arena, s_read_columns, s_read_types,
                                sizeof s_read_columns / sizeof s_read_columns[0], (size_t) count,
                                reason);
    if (err != FOUNDRY_OK)
        return err;
    read_ctx_t ctx = {.table = table, .reason = reason};
    fdy_reason_t why;
    fdy_reason_clear(&why);
    err = fdy_store_read(self->store, stream, from, (size_t) count, s_read_row, &ctx, &why);
    if (err == FOUNDRY_ETOOBIG && ctx.stopped)
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
        if (reason->text[0] == '\0' || err == FOUNDRY_ESTORE)
            fdy_reason_set(reason, err, "reading stream '%.64s': %s", stream, why.text);
        return err;
    }
}

/* ---- dispatch ---------------------------------------------------------- */

fdy_admin_t *
fdy_admin_new(fdy_store_t *store, fdy_registry_t *registry, fdy_subs_t *subs)
{
    fdy_admin_t *self = fdy_xalloc(sizeof *self);
    self->store = store;
    self->registry = registry;
    self->subs = subs;
    self->arena = fdy_arena_new(REPLY_BUDGET);
    if (!self->arena) {
        fdy_log_err("OUT-OF-MEMORY", "admin reply arena: out of memory; aborting");
        abort();
    }
    return self;
}

void
fdy_admin_destroy(fdy_admin_t **self_p)
{
    fdy_admin_t *self = *self_p;
    if (!self)
        return;
    fdy_arena_destroy(&self->arena);
    free(self);
    *self_p = NULL;
}

foundry_err
fdy_admin_handle(fdy_admin_t *self, const fdy_principal_t *caller, const char *command,
                 const char *const *args, size_t arg_count, const fdy_admin_status_t *status,
                 fdy_table_t *table_out, fdy_reason_t *reason)
{
    if (caller->revoked || caller->role != FDY_ROLE_ADMIN)
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "%s '%s' may not run admin commands",
                              fdy_role_name(caller->role), caller->name);
    /* key.add and key.revoke reload the registry, which frees caller. */
    char name[FDY_NAME_MAX];
    snprintf(name, sizeof name, "%s", caller->name);
    fdy_arena_reset(self->arena, REPLY_BUDGET);
    fdy_reason_clear(reason);
    fdy_admin_table_t table;
    foundry_err err;
    bool no_args = arg_count == 0;
    static const fdy_admin_status_t no_status;
    if (strcmp(command, "status") == 0)
        err = no_args ? s_status(self, status ? status : &no_status, &table, reason)
                      : fdy_reason_set(reason, FOUNDRY_EINVAL, "status takes no args");
    else if (strcmp(command, "key.add") == 0)
        err = s_key_add(self, name, args, arg_count, &table, reason);
    else if (strcmp(command, "key.ls") == 0)
        err = no_args ? s_key_ls(self, &table, reason)
                      : fdy_reason_set(reason, FOUNDRY_EINVAL, "key.ls takes no args");
    else if (strcmp(command, "key.revoke") == 0)
        err = s_key_revoke(self, name, args, arg_count, &table, reason);
    else if (strcmp(command, "stream.ls") == 0)
        err = no_args ? s_stream_ls(self, &table, reason)
                      : fdy_reason_set(reason, FOUNDRY_EINVAL, "stream.ls takes no args");
    else if (strcmp(command, "stream.read") == 0)
        err = s_stream_read(self, args, arg_count, &table, reason);
    else if (strncmp(command, "stream.", 7) == 0 || strncmp(command, "consumer.", 9) == 0)
        err = fdy_admin_streams_handle(self->store, self->subs, self->arena, name, command, args,
                                       arg_count, &table, reason);
    else
        err = fdy_reason_set(reason, FOUNDRY_EKIND, "unknown admin command '%.64s'", command);
    if (err == FOUNDRY_OK)
        fdy_admin_table_end(&table, table_out);
    return err;
}
