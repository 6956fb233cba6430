/*  audit.c: the audit service (fdy_audit_service): writes the refused
 *  authentications that zap.c and router.c buffered (net/refusals.h) into
 *  the turn's commit as a droppable part, runs the audit log's retention,
 *  and serves audit.ls and audit.verify. Admin entries are not written
 *  here: admin.c writes each one, synchronously, before its reply leaves.
 */
#include "service.h"

#include "admin_table.h"
#include "clock.h"
#include "commit.h"
#include "log.h"
#include "refusals.h"
#include "store_audit.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Refusals wait for a commit to ride along with, but no longer than this
 * or beyond this many: then they get a commit of their own. This bounds
 * the fsyncs an attacker's handshakes cost to five a second. */
#define FLUSH_AFTER_MS 200
#define FLUSH_AT       64
/* Failed commits (other than a full store) before held refusals are given
 * up, so that one bad batch cannot block the ones after it. */
#define GIVE_UP_AFTER 3
/* Retention: how often it looks, and entries removed per transaction. */
#define TRIM_EVERY_MS 60000
#define TRIM_WORK     4096
/* audit.ls rows per request (foundryctl pages). */
#define LS_PAGE_MAX 1000u

typedef struct {
    fdy_service_deps_t deps;
    fdy_refusals_t *refusals;       /* borrowed */
    fdy_store_audit_entries_t part; /* the turn's part: points into refusals */
    bool added;
    unsigned failures;
    int64_t next_trim_ms;
    uint64_t dropped;
    uint64_t trimmed;
} audit_t;

static foundry_err
s_create(const fdy_service_deps_t *deps, void **self_out, fdy_reason_t *reason)
{
    if (!deps->refusals)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "audit: no refusals buffer");
    audit_t *self = fdy_xalloc(sizeof *self);
    self->deps = *deps;
    self->refusals = deps->refusals;
    self->next_trim_ms = fdy_clock_mono_ms(); /* a log over its limits is trimmed at start */
    *self_out = self;
    return FOUNDRY_OK;
}

/* What is still held goes to the store in a transaction of its own: a
 * clean stop loses no refusal. */
static void
s_destroy(void **self_p)
{
    audit_t *self = *self_p;
    if (!self)
        return;
    size_t count = 0;
    fdy_audit_entry_t *entries = fdy_refusals_pending(self->refusals, INT64_MAX, &count);
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (count && fdy_store_audit_append(self->deps.store, entries, count, &why) != FOUNDRY_OK)
        fdy_log_err("AUDIT-DROPPED", "%zu refused authentications not written at stop: %s", count,
                    why.text);
    fdy_refusals_consume(self->refusals, count);
    free(self);
    *self_p = NULL;
}

/* ---- the turn's part ---------------------------------------------------------- */

static void
s_collect(void *self_, fdy_commit_t *commit, int64_t now_ms)
{
    audit_t *self = self_;
    size_t count = 0;
    fdy_audit_entry_t *entries = fdy_refusals_pending(self->refusals, now_ms, &count);
    if (count == 0)
        return;
    bool due = !fdy_commit_empty(commit) || count >= FLUSH_AT ||
               now_ms - fdy_refusals_oldest_ms(self->refusals) >= FLUSH_AFTER_MS;
    if (!due)
        return;
    self->part = (fdy_store_audit_entries_t){.items = entries, .count = count};
    fdy_commit_add(commit, &fdy_store_audit_part, &self->part);
    self->added = true;
}

static void
s_committed(void *self_, const fdy_commit_t *commit, int64_t now_ms)
{
    audit_t *self = self_;
    (void) now_ms;
    if (!self->added)
        return;
    self->added = false;
    size_t count = self->part.count;
    foundry_err err = fdy_commit_result(commit, &self->part);
    if (err == FOUNDRY_OK) {
        fdy_refusals_consume(self->refusals, count);
        self->failures = 0;
        return;
    }
    /* A full store waits for space like everything else; the buffer is
     * bounded and counts what it cannot hold. */
    if (err == FOUNDRY_EFULL || ++self->failures < GIVE_UP_AFTER) {
        fdy_log_warn_limited("AUDIT-RETRY", "%zu refused authentications not written yet: %s",
                             count, fdy_commit_reason(commit, &self->part));
        return;
    }
    fdy_log_err("AUDIT-DROPPED", "%zu refused authentications given up after %d commits: %s", count,
                GIVE_UP_AFTER, fdy_commit_reason(commit, &self->part));
    fdy_refusals_consume(self->refusals, count);
    self->dropped += count;
    self->failures = 0;
}

/* ---- retention ------------------------------------------------------------------ */

static int64_t
s_trim(audit_t *self, int64_t now_ms)
{
    const fdy_broker_cfg_t *cfg = self->deps.cfg;
    fdy_audit_trimmed_t trimmed;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err = fdy_store_audit_trim(self->deps.store, fdy_clock_wall_ns(),
                                           cfg->audit_max_age_ms * 1000000u, cfg->audit_max_bytes,
                                           TRIM_WORK, &trimmed, &why);
    if (err != FOUNDRY_OK) {
        fdy_log_warn_limited("AUDIT-TRIM-FAILED", "audit log retention failed: %s", why.text);
        return now_ms + TRIM_EVERY_MS;
    }
    if (trimmed.removed) {
        self->trimmed += trimmed.removed;
        fdy_log_notice("AUDIT-TRIM",
                       "audit log: %" PRIu64 " entries removed, trimmed through "
                       "seq %" PRIu64,
                       trimmed.removed, trimmed.through_seq);
    }
    return trimmed.more ? now_ms : now_ms + TRIM_EVERY_MS; /* a backlog goes on next turn */
}

static int64_t
s_tick(void *self_, int64_t now_ms)
{
    audit_t *self = self_;
    if (now_ms >= self->next_trim_ms)
        self->next_trim_ms = s_trim(self, now_ms);
    int64_t due = self->next_trim_ms;
    size_t count = 0;
    fdy_refusals_pending(self->refusals, now_ms, &count);
    if (count) {
        int64_t flush = fdy_refusals_oldest_ms(self->refusals) + FLUSH_AFTER_MS;
        due = flush < due ? flush : due;
    }
    int64_t roll = fdy_refusals_due_ms(self->refusals);
    due = roll < due ? roll : due;
    return due > now_ms ? due - now_ms : 0;
}

/* ---- audit.ls and audit.verify --------------------------------------------------- */

typedef struct {
    fdy_admin_table_t *out;
    uint64_t left;
    bool full; /* the reply arena ran out */
} s_ls_t;

static foundry_err
s_ls_row(const fdy_audit_entry_t *entry, void *user, bool *stop)
{
    s_ls_t *ls = user;
    fdy_audit_row_text_t text;
    fdy_slice_t cells[FDY_AUDIT_COLUMNS];
    fdy_audit_entry_row(entry, &text, cells);
    fdy_slice_t *row = fdy_admin_row_add(ls->out);
    bool ok = row != NULL;
    for (size_t i = 0; ok && i < FDY_AUDIT_COLUMNS; i++)
        ok = fdy_admin_cell_copy(ls->out, &row[i], cells[i].data, cells[i].len);
    if (!ok) {
        ls->full = true;
        *stop = true;
        return FOUNDRY_OK;
    }
    *stop = --ls->left == 0;
    return FOUNDRY_OK;
}

/* audit.ls [from=SEQ] [count=N] [since=NS] [principal=NAME]: entries in seq
 * order; a reply of count rows may have more after it (ask from the last
 * seq + 1), a shorter one is the end. */
static foundry_err
s_audit_ls(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    audit_t *self = self_;
    fdy_audit_query_t query = {.principal = fdy_admin_arg(call, "principal")};
    uint64_t count;
    foundry_err err = fdy_admin_arg_uint(call, "from", 1, &query.from_seq, reason);
    if (err == FOUNDRY_OK)
        err = fdy_admin_arg_uint(call, "count", LS_PAGE_MAX, &count, reason);
    if (err == FOUNDRY_OK)
        err = fdy_admin_arg_uint(call, "since", 0, &query.since_ns, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (count == 0 || count > LS_PAGE_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "arg 'count' must be 1..%u", LS_PAGE_MAX);
    err = fdy_admin_table_begin(out, call->arena, fdy_audit_entry_columns, fdy_audit_entry_types,
                                FDY_AUDIT_COLUMNS, count, reason);
    if (err != FOUNDRY_OK)
        return err;
    s_ls_t ls = {.out = out, .left = count};
    err = fdy_store_audit_read(self->deps.store, &query, s_ls_row, &ls, reason);
    if (err == FOUNDRY_OK && ls.full)
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
    return err;
}

/* audit.verify: one row whatever the outcome; a broken chain is a finding
 * (ok 0, bad_seq, reason), not an error of the command. */
static foundry_err
s_audit_verify(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out,
               fdy_reason_t *reason)
{
    audit_t *self = self_;
    fdy_audit_verify_t result;
    foundry_err err = fdy_store_audit_verify(self->deps.store, &result, reason);
    if (err == FOUNDRY_ECORRUPT) {
        fdy_log_err("AUDIT-CORRUPT", "audit.verify: %s", reason->text);
        fdy_reason_clear(reason);
    } else if (err != FOUNDRY_OK) {
        return err;
    }
    err = fdy_admin_table_begin(out, call->arena, fdy_store_audit_verify_columns,
                                fdy_store_audit_verify_types, FDY_AUDIT_VERIFY_COLUMNS, 1, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_audit_verify_text_t text;
    fdy_slice_t cells[FDY_AUDIT_VERIFY_COLUMNS];
    fdy_store_audit_verify_row(&result, &text, cells);
    fdy_slice_t *row = fdy_admin_row_add(out);
    bool ok = row != NULL;
    for (size_t i = 0; ok && i < FDY_AUDIT_VERIFY_COLUMNS; i++)
        ok = fdy_admin_cell_copy(out, &row[i], cells[i].data, cells[i].len);
    return ok ? FOUNDRY_OK : fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
}

static const fdy_admin_arg_spec_t s_ls_args[] = {
    {"from", false, false},
    {"count", false, false},
    {"since", false, false},
    {"principal", false, false},
};

static const fdy_admin_command_t s_commands[] = {
    {"audit.ls", s_ls_args, sizeof s_ls_args / sizeof s_ls_args[0], s_audit_ls},
    {"audit.verify", NULL, 0, s_audit_verify},
};

static foundry_err
s_admin(void *self, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    return fdy_admin_dispatch(self, s_commands, sizeof s_commands / sizeof s_commands[0], call, out,
                              reason);
}

static void
s_stats(const void *self_, fdy_stats_t *out)
{
    const audit_t *self = self_;
    fdy_stats_add(out, "audit_refusals", fdy_refusals_recorded(self->refusals));
    fdy_stats_add(out, "audit_suppressed", fdy_refusals_suppressed(self->refusals));
    fdy_stats_add(out, "audit_dropped", self->dropped);
    fdy_stats_add(out, "audit_trimmed", self->trimmed);
}

static const char *const s_prefixes[] = {"audit.", NULL};

const fdy_service_ops_t fdy_audit_service = {
    .name = "audit",
    .kinds = NULL,
    .kind_count = 0,
    .admin_prefixes = s_prefixes,
    .create = s_create,
    .destroy = s_destroy,
    .collect = s_collect,
    .committed = s_committed,
    .tick = s_tick,
    .admin = s_admin,
    .stats = s_stats,
};
