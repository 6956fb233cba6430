/*  admin.c: the ADMIN entry point. Authorises the caller (admin role only),
 *  owns the reply arena reset per command, answers status, and routes every
 *  other command by prefix to the table of the module that owns it
 *  (admin_keys.c, admin_streams.c). Sockets and encoding are the router's.
 */
#include "admin.h"
#include "admin_keys.h"
#include "admin_streams.h"
#include "admin_table.h"

#include "arena.h"
#include "log.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

/* A reply arena this big bounds what one command can make us allocate. */
#define REPLY_BUDGET (64u * 1024u * 1024u)

/* Commands whose name starts with prefix go to commands, run with ctx. */
typedef struct {
    const char *prefix; /* "" takes every command no earlier route took */
    const fdy_admin_command_t *commands;
    size_t count;
    void *ctx;
} route_t;

#define ROUTE_COUNT 4

struct fdy_admin {
    fdy_store_t *store;
    fdy_admin_keys_t keys;
    fdy_admin_streams_t streams;
    fdy_arena_t *arena;
    /* The broker's counters, set for the length of one fdy_admin_handle()
     * call: only the router knows them, and only status reads them. */
    const fdy_admin_status_t *status;
    route_t routes[ROUTE_COUNT];
};

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
s_status(void *ctx, const fdy_admin_call_t *call, fdy_admin_table_t *table, fdy_reason_t *reason)
{
    fdy_admin_t *self = ctx;
    const fdy_admin_status_t *status = self->status;
    fdy_store_stats_t stats;
    if (fdy_store_stats(self->store, &stats) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_ESTORE, "cannot read store statistics");
    foundry_err err =
        fdy_admin_table_begin(table, call->arena, s_status_columns, s_status_types,
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

/* admin's own commands; the catch-all route, so an unknown command is
 * refused by the dispatcher with the usual EKIND text. */
static const fdy_admin_command_t s_commands[] = {
    {"status", NULL, 0, s_status},
};

/* ---- routing ----------------------------------------------------------- */

fdy_admin_t *
fdy_admin_new(fdy_store_t *store, fdy_registry_t *registry, fdy_subs_t *subs)
{
    fdy_admin_t *self = fdy_xalloc(sizeof *self);
    self->store = store;
    self->keys = (fdy_admin_keys_t){.registry = registry};
    self->streams = (fdy_admin_streams_t){.store = store, .subs = subs};
    self->arena = fdy_arena_new(REPLY_BUDGET);
    if (!self->arena) {
        fdy_log_err("OUT-OF-MEMORY", "admin reply arena: out of memory; aborting");
        abort();
    }
    const route_t routes[ROUTE_COUNT] = {
        {"key.", fdy_admin_keys_commands, fdy_admin_keys_command_count, &self->keys},
        {"stream.", fdy_admin_streams_commands, fdy_admin_streams_command_count, &self->streams},
        {"consumer.", fdy_admin_streams_commands, fdy_admin_streams_command_count, &self->streams},
        {"", s_commands, sizeof s_commands / sizeof s_commands[0], self},
    };
    memcpy(self->routes, routes, sizeof routes);
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

static const route_t *
s_route(const fdy_admin_t *self, const char *command)
{
    for (size_t i = 0; i < ROUTE_COUNT - 1; i++) {
        const char *prefix = self->routes[i].prefix;
        if (strncmp(command, prefix, strlen(prefix)) == 0)
            return &self->routes[i];
    }
    return &self->routes[ROUTE_COUNT - 1];
}

foundry_err
fdy_admin_handle(fdy_admin_t *self, const fdy_principal_t *caller, const char *command,
                 const char *const *args, size_t arg_count, const fdy_admin_status_t *status,
                 fdy_table_t *table_out, fdy_reason_t *reason)
{
    if (caller->revoked || caller->role != FDY_ROLE_ADMIN)
        return fdy_reason_set(reason, FOUNDRY_EDENIED, "%s '%s' may not run admin commands",
                              fdy_role_name(caller->role), caller->name);
    /* key.add and key.revoke reload the registry, which frees caller: the
     * commands get a copy, without the filters that would still point into
     * the registry. */
    fdy_principal_t who = *caller;
    memset(who.allow_publish, 0, sizeof who.allow_publish);
    memset(who.allow_subscribe, 0, sizeof who.allow_subscribe);
    who.allow_count = 0;
    who.allow_subscribe_count = 0;
    fdy_arena_reset(self->arena, REPLY_BUDGET);
    static const fdy_admin_status_t no_status;
    self->status = status ? status : &no_status;
    const fdy_admin_call_t call = {.caller = &who,
                                   .command = command,
                                   .args = args,
                                   .arg_count = arg_count,
                                   .arena = self->arena};
    const route_t *route = s_route(self, command);
    fdy_admin_table_t table;
    foundry_err err =
        fdy_admin_dispatch(route->ctx, route->commands, route->count, &call, &table, reason);
    self->status = NULL;
    if (err == FOUNDRY_OK)
        fdy_admin_table_end(&table, table_out);
    return err;
}
