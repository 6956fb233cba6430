/*  admin.c: the admin service (fdy_admin_service) for kind ADMIN.
 *  handle() parks a few requests per turn; run() executes them after the
 *  turn's acks, so an admin command never delays a publish. Commands are
 *  dispatched by prefix to the service that owns them; `status` is every
 *  service's stats plus the connection counters. Only the admin role runs
 *  commands. Every request, refused or run, gets an audit log entry that
 *  is durable before its reply is sent (its own synchronous transaction).
 *  A call that carries a token and ran is remembered (admin_replay.h): the
 *  same token from the same principal gets that answer again, not a rerun.
 */
#include "admin_keys.h"
#include "admin_replay.h"
#include "admin_table.h"
#include "peers.h"
#include "reply.h"
#include "service.h"

#include "arena.h"
#include "clock.h"
#include "keys.h"
#include "log.h"
#include "store_audit.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Admin commands run after the acks of a turn; a few per turn at most. */
#define ADMIN_PER_TURN 8
/* A reply arena this big bounds what one command can make us allocate. */
#define REPLY_BUDGET (64u * 1024u * 1024u)

/* A request waiting for the end of the turn. It is decoded again into its
 * own arena: the router's envelope arena is reset per request. */
typedef struct {
    uint8_t peer_id[255];
    size_t peer_len;
    fdy_arena_t *arena;
    fdy_envelope_t env;
    char principal[FDY_NAME_MAX];
} slot_t;

typedef struct {
    fdy_service_deps_t deps;
    fdy_service_t services[8];  /* those created before admin: prefix owners and stats */
    size_t service_count;
    slot_t slots[ADMIN_PER_TURN];
    size_t slot_count;
    fdy_arena_t *reply_arena;
    fdy_admin_replay_t *replay;
    uint64_t replayed;
    int64_t start_ms;
    /* status's columns: the reply points at them until it is sent */
    const char *status_columns[2 + FDY_STATS_MAX];
    fdy_col_type_t status_types[2 + FDY_STATS_MAX];
} admin_t;

static fdy_arena_t *
s_arena_new(size_t budget)
{
    fdy_arena_t *arena = fdy_arena_new(budget);
    if (!arena) {
        fdy_log_err("OUT-OF-MEMORY", "admin arena: out of memory; aborting");
        abort();
    }
    return arena;
}

static foundry_err
s_create(const fdy_service_deps_t *deps, void **self_out, fdy_reason_t *reason)
{
    admin_t *self = fdy_xalloc(sizeof *self);
    self->deps = *deps;
    if (deps->service_count > sizeof self->services / sizeof self->services[0]) {
        free(self);
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "too many services for admin");
    }
    memcpy(self->services, deps->services, deps->service_count * sizeof *deps->services);
    self->service_count = deps->service_count;
    for (size_t i = 0; i < ADMIN_PER_TURN; i++)
        self->slots[i].arena = s_arena_new(FDY_DECODE_BUDGET(FDY_ENVELOPE_MAX));
    self->reply_arena = s_arena_new(REPLY_BUDGET);
    self->replay = fdy_admin_replay_new(FDY_ADMIN_REPLAY_ENTRIES, FDY_ADMIN_REPLAY_BYTES,
                                        FDY_ADMIN_REPLAY_ENTRY_MAX, FDY_ADMIN_REPLAY_AGE_MS);
    if (!self->replay) {
        fdy_log_err("OUT-OF-MEMORY", "admin replay table: out of memory; aborting");
        abort();
    }
    self->start_ms = fdy_clock_mono_ms();
    *self_out = self;
    return FOUNDRY_OK;
}

static void
s_destroy(void **self_p)
{
    admin_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < ADMIN_PER_TURN; i++)
        fdy_arena_destroy(&self->slots[i].arena);
    fdy_arena_destroy(&self->reply_arena);
    fdy_admin_replay_destroy(&self->replay);
    free(self);
    *self_p = NULL;
}

static foundry_err
s_handle(void *self_, const fdy_request_t *req, fdy_reason_t *reason)
{
    admin_t *self = self_;
    if (self->slot_count == ADMIN_PER_TURN || req->peer.len > sizeof self->slots[0].peer_id)
        return fdy_reason_set(reason, FOUNDRY_EFULL, "too many admin requests at once");
    slot_t *slot = &self->slots[self->slot_count];
    fdy_arena_reset(slot->arena, FDY_DECODE_BUDGET(req->envelope.len));
    if (fdy_codec_decode_envelope(req->envelope.data, req->envelope.len, slot->arena, &slot->env,
                                  reason)
        != FOUNDRY_OK)   /* it decoded a moment ago into the router's arena: only memory fails */
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    memcpy(slot->peer_id, req->peer.id, req->peer.len);
    slot->peer_len = req->peer.len;
    snprintf(slot->principal, sizeof slot->principal, "%s", req->who->name);
    self->slot_count++;
    return FOUNDRY_OK;
}

/* Parked requests of a closed or re-used routing id are dropped: their
 * reply would reach someone else. */
static void
s_peer_gone(void *self_, const fdy_peer_t *peer)
{
    admin_t *self = self_;
    size_t kept = 0;
    for (size_t i = 0; i < self->slot_count; i++) {
        slot_t *slot = &self->slots[i];
        bool gone = slot->peer_len == peer->len && memcmp(slot->peer_id, peer->id, peer->len) == 0;
        if (gone)
            continue;
        if (kept != i) {   /* swap, so each slot keeps an arena of its own */
            slot_t tmp = self->slots[kept];
            self->slots[kept] = *slot;
            *slot = tmp;
        }
        kept++;
    }
    self->slot_count = kept;
}

static bool
s_turn_full(const void *self_)
{
    const admin_t *self = self_;
    return self->slot_count == ADMIN_PER_TURN;
}

/* ---- status ------------------------------------------------------------------ */

/* Every counter once, in first-seen order; counters of the same name from
 * several sources add up. */
static void
s_merge(fdy_stats_t *into, const fdy_stats_t *from)
{
    for (size_t i = 0; i < from->count; i++) {
        size_t j = 0;
        while (j < into->count && strcmp(into->items[j].name, from->items[i].name) != 0)
            j++;
        if (j < into->count)
            into->items[j].value += from->items[i].value;
        else
            fdy_stats_add(into, from->items[i].name, from->items[i].value);
    }
}

static foundry_err
s_status(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    admin_t *self = self_;
    int64_t now_ms = fdy_clock_mono_ms();
    fdy_stats_t all = {.count = 0};
    fdy_stats_add(&all, "uptime_s", (uint64_t) (now_ms - self->start_ms) / 1000);
    fdy_stats_t part = {.count = 0};
    fdy_peers_stats(self->deps.peers, &part);
    s_merge(&all, &part);
    part.count = 0;
    fdy_stats_add(&part, "errors", fdy_reply_errors(self->deps.reply));
    fdy_stats_add(&part, "admin_replayed", self->replayed);
    s_merge(&all, &part);
    for (size_t i = 0; i < self->service_count; i++) {
        part.count = 0;
        if (self->services[i].ops->stats)
            self->services[i].ops->stats(self->services[i].self, &part);
        s_merge(&all, &part);
    }
    /* Two text columns, then every counter. */
    const char **columns = self->status_columns;
    fdy_col_type_t *types = self->status_types;
    columns[0] = "version";
    columns[1] = "principals";
    types[0] = types[1] = FDY_COL_TEXT;
    for (size_t i = 0; i < all.count; i++) {
        columns[2 + i] = all.items[i].name;
        types[2 + i] = FDY_COL_INT;
    }
    foundry_err err = fdy_admin_table_begin(out, call->arena, columns, types, 2 + all.count, 1,
                                            reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_slice_t *row = fdy_admin_row_add(out);
    bool ok = fdy_admin_cell_text(out, &row[0], foundry_version());
    ok = ok && fdy_admin_cell_text(out, &row[1], fdy_peers_active_names(self->deps.peers, now_ms));
    for (size_t i = 0; ok && i < all.count; i++)
        ok = fdy_admin_cell_int(out, &row[2 + i], all.items[i].value);
    return ok ? FOUNDRY_OK : fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
}

/* ---- dispatch ---------------------------------------------------------------- */

static const fdy_admin_command_t s_own_commands[] = {
    {.name = "status", .args = NULL, .arg_count = 0, .fn = s_status},
};

static bool
s_has_prefix(const fdy_service_ops_t *ops, const char *command)
{
    for (const char *const *p = ops->admin_prefixes; p && *p; p++)
        if (strncmp(command, *p, strlen(*p)) == 0)
            return true;
    return false;
}

static foundry_err
s_dispatch(admin_t *self, const fdy_admin_call_t *call, fdy_admin_table_t *out,
           fdy_reason_t *reason)
{
    if (strncmp(call->command, "key.", 4) == 0) {
        fdy_admin_keys_t keys = {.registry = self->deps.registry};
        foundry_err err = fdy_admin_dispatch(&keys, fdy_admin_key_changes_commands,
                                             fdy_admin_key_changes_command_count, call, out,
                                             reason);
        if (err != FOUNDRY_EKIND)
            return err;
        return fdy_admin_dispatch(&keys, fdy_admin_keys_commands, fdy_admin_keys_command_count,
                                  call, out, reason);
    }
    for (size_t i = 0; i < self->service_count; i++) {
        const fdy_service_t *s = &self->services[i];
        if (s->ops->admin && s_has_prefix(s->ops, call->command))
            return s->ops->admin(s->self, call, out, reason);
    }
    return fdy_admin_dispatch(self, s_own_commands, sizeof s_own_commands / sizeof s_own_commands[0],
                              call, out, reason);
}

/* The request's audit entry, written (and fsynced) on its own. who is the
 * caller's key fingerprint ("" when the principal is gone). */
static foundry_err
s_audit(admin_t *self, const slot_t *slot, const char *who, foundry_err result,
        const char *why, fdy_reason_t *reason)
{
    fdy_audit_entry_t entry;
    memset(&entry, 0, sizeof entry);
    entry.kind = FDY_AUDIT_ADMIN;
    entry.time_ns = fdy_clock_wall_ns();
    entry.result = result;
    fdy_audit_entry_text(entry.principal, sizeof entry.principal, slot->principal);
    fdy_audit_entry_text(entry.command, sizeof entry.command, slot->env.command);
    fdy_audit_entry_text(entry.key, sizeof entry.key, who);
    fdy_audit_entry_join_args(entry.args, sizeof entry.args, slot->env.args, slot->env.arg_count);
    fdy_audit_entry_text(entry.reason, sizeof entry.reason, result == FOUNDRY_OK ? "" : why);
    return fdy_store_audit_append(self->deps.store, &entry, 1, reason);
}

/* ---- answers remembered for tokens ----------------------------------------- */

/* Answers slot from the replay table when its token was seen; true if so. */
static bool
s_replayed(admin_t *self, const slot_t *slot, const fdy_peer_t *to)
{
    fdy_admin_answer_t answer;
    if (slot->env.admin_token_len != FDY_ADMIN_TOKEN_LEN ||
        !fdy_admin_replay_find(self->replay, slot->principal, slot->env.admin_token,
                               fdy_clock_mono_ms(), &answer))
        return false;
    self->replayed++;
    fdy_log_info("ADMIN-REPLAYED", "'%s' sent %s again: answered as the first time, not run",
                 slot->principal, slot->env.command);
    if (answer.err != FOUNDRY_OK) {
        fdy_reply_error(self->deps.reply, to, slot->env.request_id, 0, answer.err, answer.reason);
        return true;
    }
    fdy_envelope_t reply;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    fdy_arena_reset(self->reply_arena, REPLY_BUDGET);
    if (fdy_codec_decode_envelope(answer.reply, answer.reply_len, self->reply_arena, &reply, &why)
        != FOUNDRY_OK) {   /* we encoded it: only memory fails */
        fdy_reply_error(self->deps.reply, to, slot->env.request_id, 0, FOUNDRY_ENOMEM,
                        "out of memory for a remembered answer");
        return true;
    }
    reply.request_id = slot->env.request_id;
    fdy_reply_send(self->deps.reply, to, &reply);
    return true;
}

/* Remembers what a call with a token answered. A big table is a read (a
 * page of messages): it is not kept, and a resend runs it again. */
static void
s_remember(admin_t *self, const slot_t *slot, foundry_err err, const char *why,
           const fdy_envelope_t *reply)
{
    if (slot->env.admin_token_len != FDY_ADMIN_TOKEN_LEN)
        return;
    fdy_admin_answer_t answer = {.err = err, .reason = why};
    uint8_t *buf = NULL;
    if (err == FOUNDRY_OK) {
        size_t cells = reply->table.row_count * reply->table.column_count;
        size_t bytes = 0;
        for (size_t i = 0; i < cells && bytes <= FDY_ADMIN_REPLAY_ENTRY_MAX; i++)
            bytes += reply->table.cells[i].len;
        if (bytes > FDY_ADMIN_REPLAY_ENTRY_MAX ||
            fdy_codec_encode_envelope(reply, &buf, &answer.reply_len) != FOUNDRY_OK)
            return;
        answer.reply = buf;
    }
    fdy_admin_replay_put(self->replay, slot->principal, slot->env.admin_token,
                         fdy_clock_mono_ms(), &answer);
    free(buf);
}

/* Runs one parked command (unless the caller may not), writes its audit
 * entry, then answers it. */
static void
s_run_one(admin_t *self, slot_t *slot)
{
    fdy_peer_t to = {.id = slot->peer_id, .len = slot->peer_len};
    fdy_reason_t why;
    fdy_reason_clear(&why);
    fdy_admin_table_t table;
    foundry_err err;
    bool ran = false;
    char fingerprint[9] = "";
    /* The registry may have reloaded since the request arrived. */
    const fdy_principal_t *p = fdy_registry_by_name(self->deps.registry, slot->principal);
    if (p)
        fdy_keys_fingerprint(p->public_key, fingerprint);
    if (!p || p->revoked) {
        err = fdy_reason_set(&why, FOUNDRY_EAUTH, "%s", p ? "key revoked" : "unknown principal");
    } else if (p->role != FDY_ROLE_ADMIN) {
        err = fdy_reason_set(&why, FOUNDRY_EDENIED, "%s '%s' may not run admin commands",
                             fdy_role_name(p->role), p->name);
    } else if (s_replayed(self, slot, &to)) {
        return;
    } else {
        ran = true;
        /* key.add and key.revoke reload the registry, which frees p: the
         * commands get a copy, without the filters that would still point
         * into the registry. */
        fdy_principal_t who = *p;
        memset(who.allow_publish, 0, sizeof who.allow_publish);
        memset(who.allow_subscribe, 0, sizeof who.allow_subscribe);
        who.allow_count = 0;
        who.allow_subscribe_count = 0;
        memset(who.allow_jobs, 0, sizeof who.allow_jobs);
        who.allow_jobs_count = 0;
        memset(who.allow_models, 0, sizeof who.allow_models);
        who.allow_models_count = 0;
        fdy_arena_reset(self->reply_arena, REPLY_BUDGET);
        fdy_admin_call_t call = {
            .caller = &who,
            .command = slot->env.command,
            .args = slot->env.args,
            .arg_count = slot->env.arg_count,
            .arena = self->reply_arena,
        };
        err = s_dispatch(self, &call, &table, &why);
    }
    if (err == FOUNDRY_EDENIED)
        fdy_log_warn_limited("ADMIN-DENIED", "%s", why.text);
    else if (err != FOUNDRY_OK && err != FOUNDRY_EAUTH)
        fdy_log_info("ADMIN-REFUSED", "%s by '%s': %s", slot->env.command, slot->principal,
                     why.text);
    /* No reply before the entry is durable: an operator who saw a command
     * succeed can find it in the log. */
    fdy_reason_t audit_why;
    fdy_reason_clear(&audit_why);
    foundry_err audit_err = s_audit(self, slot, fingerprint, err, why.text, &audit_why);
    if (audit_err != FOUNDRY_OK) {
        fdy_log_err("AUDIT-WRITE", "audit entry for %s by '%s' not written: %s",
                    slot->env.command, slot->principal, audit_why.text);
        if (err == FOUNDRY_OK)
            err = fdy_reason_set(&why, audit_err, "%s ran, but its audit entry was not written: "
                                 "%s", slot->env.command, audit_why.text);
    }
    if (err != FOUNDRY_OK) {
        if (ran)
            s_remember(self, slot, err, why.text, NULL);
        fdy_reply_error(self->deps.reply, &to, slot->env.request_id, 0, err, why.text);
        return;
    }
    fdy_log_info("ADMIN-COMMAND", "'%s' ran %s", slot->principal, slot->env.command);
    fdy_envelope_t reply = {.version = FDY_PROTOCOL_VERSION, .kind = FDY_KIND_ADMIN_REPLY,
                            .request_id = slot->env.request_id};
    fdy_admin_table_end(&table, &reply.table);
    s_remember(self, slot, FOUNDRY_OK, "", &reply);
    fdy_reply_send(self->deps.reply, &to, &reply);
}

static bool
s_run(void *self_, int64_t now_ms)
{
    admin_t *self = self_;
    (void) now_ms;
    for (size_t i = 0; i < self->slot_count; i++) {
        fdy_log_set_principal(self->slots[i].principal);   /* lines about it name the caller */
        s_run_one(self, &self->slots[i]);
        fdy_log_set_principal(NULL);
    }
    self->slot_count = 0;
    return false;
}

static const fdy_kind_t s_kinds[] = {FDY_KIND_ADMIN};
static const char *const s_prefixes[] = {"status", "key.", NULL};

const fdy_service_ops_t fdy_admin_service = {
    .name = "admin",
    .kinds = s_kinds,
    .kind_count = 1,
    .admin_prefixes = s_prefixes,
    .holds_frames = false,
    .create = s_create,
    .destroy = s_destroy,
    .handle = s_handle,
    .turn_full = s_turn_full,
    .run = s_run,
    .peer_gone = s_peer_gone,
};
