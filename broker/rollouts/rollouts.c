/*  rollouts.c: the rollouts service (fdy_rollouts_service): one engine for
 *  model rollouts and fleet jobs. It loads the stored rollouts, registers
 *  its hooks with the models service (node REPORTs, WATCHes and the
 *  notices a WATCH reply carries), steps every live rollout in tick(), and
 *  writes every changed rollout as the rollouts part of the turn's one
 *  commit, so a node's start is durable together with the job it queued.
 *  Decisions are rollout_engine.c's; this file only moves facts in and out.
 */
#include "rollouts_core.h"

#include "clock.h"
#include "commit.h"
#include "log.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 100
/* A commit carries at most this many rollout records; the rest wait a turn. */
#define WRITES_PER_TURN 256
#define LABELS_TEXT_MAX (FDY_JOB_LABELS_MAX * (FDY_JOB_LABEL_MAX + 1))

uint64_t
fdy_rollouts_wall_ms(void)
{
    return fdy_clock_wall_ns() / 1000000u;
}

fdy_rollouts_item_t *
fdy_rollouts_get(fdy_rollouts_t *self, uint64_t id)
{
    for (size_t i = 0; i < self->item_count; i++)
        if (self->items[i]->rollout.rec.id == id)
            return self->items[i];
    return NULL;
}

void
fdy_rollouts_add(fdy_rollouts_t *self, fdy_rollouts_item_t *item)
{
    self->items =
        fdy_xgrow(self->items, &self->item_capacity, self->item_count + 1, sizeof *self->items);
    self->items[self->item_count++] = item;
    if (item->rollout.rec.id >= self->next_id)
        self->next_id = item->rollout.rec.id + 1;
}

void
fdy_rollouts_item_destroy(fdy_rollouts_item_t **item_p)
{
    fdy_rollouts_item_t *item = *item_p;
    if (!item)
        return;
    fdy_store_rollouts_record_clear(&item->rollout.rec);
    fdy_rollout_gates_reset(&item->scan);
    free(item);
    *item_p = NULL;
}

foundry_err
fdy_rollouts_item_parse(fdy_rollouts_item_t *item, fdy_reason_t *reason)
{
    return fdy_rollout_options_parse((const char *const *) item->rollout.rec.args,
                                     item->rollout.rec.arg_count, &item->rollout.options, reason);
}

int
fdy_rollouts_node_labels(fdy_rollouts_t *self, const char *node, char *buf, size_t size,
                         const char **labels_out, size_t max)
{
    const char *known = zhashx_lookup(self->labels, node);
    if (!known) {
        int count = self->jobs ? fdy_jobs_node_labels(self->jobs, node, labels_out, max) : -1;
        return count;
    }
    snprintf(buf, size, "%s", known);
    size_t count = 0;
    for (char *tok = strtok(buf, " "); tok && count < max; tok = strtok(NULL, " "))
        labels_out[count++] = tok;
    return (int) count;
}

/* ---- the models hooks -------------------------------------------------------- */

static void
s_hook_report(void *self_, const char *node, const char *site, const fdy_model_request_t *req,
              int64_t now_ms)
{
    (void) site;
    (void) now_ms;
    fdy_rollouts_t *self = self_;
    fdy_rollouts_item_t *item = fdy_rollouts_get(self, req->rollout_id);
    fdy_rollout_node_state_t state;
    self->reports++;
    /* A report about another model or version under this rollout's id is
     * not about this rollout (an empty name: its manifest did not decode). */
    bool other =
        item && ((req->name && *req->name && strcmp(req->name, item->rollout.options.model) != 0) ||
                 (req->version && req->version != item->rollout.options.version));
    if (!item || other || item->rollout.options.kind != FDY_ROLLOUT_MODEL ||
        !fdy_rollout_node_state_parse(req->state, &state) ||
        !fdy_rollout_engine_report(&item->rollout, node, state, req->reason, req->done_bytes, 0,
                                   fdy_rollouts_wall_ms()))
        self->reports_ignored++;
}

static void
s_hook_node_seen(void *self_, const char *node, const char *site, const char *const *labels,
                 size_t label_count, bool connected, int64_t now_ms)
{
    (void) site;
    (void) now_ms;
    fdy_rollouts_t *self = self_;
    if (!connected || !labels)
        return;
    char text[LABELS_TEXT_MAX] = "";
    size_t used = 0;
    for (size_t i = 0; i < label_count && used < sizeof text; i++)
        used += (size_t) snprintf(text + used, sizeof text - used, "%s%s", i ? " " : "", labels[i]);
    zhashx_update(self->labels, node, fdy_xstrdup(text));
    uint64_t now = fdy_rollouts_wall_ms();
    for (size_t i = 0; i < self->item_count; i++)
        fdy_rollout_engine_labels(&self->items[i]->rollout, node, labels, label_count, now);
}

static size_t
s_hook_pending(void *self_, const char *node, fdy_models_pending_t *out, size_t max)
{
    fdy_rollouts_t *self = self_;
    size_t count = 0;
    for (size_t i = 0; i < self->item_count && count < max; i++) {
        fdy_rollout_t *r = &self->items[i]->rollout;
        if (r->options.kind != FDY_ROLLOUT_MODEL)
            continue;
        fdy_rollout_node_t *n = fdy_rollout_engine_node(r, node);
        if (!n)
            continue;
        bool in_flight = n->state >= FDY_RNODE_STARTED && n->state < FDY_RNODE_HEALTHY;
        bool cancel = (n->flags & FDY_RNODE_CANCEL_DUE) != 0;
        if (!in_flight && !cancel)
            continue;
        out[count++] =
            (fdy_models_pending_t){r->rec.id, r->options.model, r->options.version, cancel};
        if (n->flags & (FDY_RNODE_START_DUE | FDY_RNODE_CANCEL_DUE)) {
            n->flags &= (uint8_t) ~(FDY_RNODE_START_DUE | FDY_RNODE_CANCEL_DUE);
            r->dirty = true;
        }
    }
    return count;
}

/* ---- loading -------------------------------------------------------------------- */

/* States the engine can hold: a record from another build or a damaged
 * one must not index past its tables. */
static bool
s_record_bad(const fdy_rollouts_item_t *item, fdy_reason_t *why)
{
    const fdy_rollout_record_t *rec = &item->rollout.rec;
    if (rec->state > FDY_ROLLOUT_SUCCEEDED || rec->pause > FDY_PAUSE_GATE ||
        rec->wave > item->rollout.options.waves.count) {
        fdy_reason_set(why, FOUNDRY_ECORRUPT, "state %u, pause %u or wave %u out of range",
                       rec->state, rec->pause, rec->wave);
        return true;
    }
    for (size_t i = 0; i < rec->node_count; i++)
        if (rec->nodes[i].state >= FDY_RNODE_STATE_COUNT) {
            fdy_reason_set(why, FOUNDRY_ECORRUPT, "node %s: state %u out of range",
                           rec->nodes[i].name, rec->nodes[i].state);
            return true;
        }
    return false;
}

static foundry_err
s_load_one(uint64_t id, const fdy_rollout_record_t *rec, const char *bad, void *user,
           fdy_reason_t *reason)
{
    (void) reason;
    fdy_rollouts_t *self = user;
    if (id >= self->next_id)
        self->next_id = id + 1; /* never reuse an id, even a damaged one's */
    if (!rec) {
        /* One bad record must not stop the broker: reported and skipped. */
        fdy_log_err("ROLLOUT-RECORD-BAD", "rollout %" PRIu64 " not loaded: %s", id, bad);
        return FOUNDRY_OK;
    }
    fdy_rollouts_item_t *item = fdy_xalloc(sizeof *item);
    /* Take the record's allocations over: the scan clears its copy. */
    item->rollout.rec = *rec;
    item->rollout.rec.args = fdy_xalloc((rec->arg_count ? rec->arg_count : 1) * sizeof(char *));
    for (size_t i = 0; i < rec->arg_count; i++)
        item->rollout.rec.args[i] = fdy_xstrdup(rec->args[i]);
    item->rollout.rec.nodes =
        fdy_xalloc((rec->node_count ? rec->node_count : 1) * sizeof *rec->nodes);
    if (rec->node_count)
        memcpy(item->rollout.rec.nodes, rec->nodes, rec->node_count * sizeof *rec->nodes);
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_rollouts_item_parse(item, &why) != FOUNDRY_OK || s_record_bad(item, &why)) {
        fdy_log_err("ROLLOUT-RECORD-BAD", "rollout %" PRIu64 " not loaded: %s", id, why.text);
        fdy_rollouts_item_destroy(&item);
        return FOUNDRY_OK;
    }
    fdy_rollouts_add(self, item);
    return FOUNDRY_OK;
}

/* ---- lifecycle ------------------------------------------------------------------- */

static void s_destroy(void **self_p);

static foundry_err
s_create(const fdy_service_deps_t *deps, void **self_out, fdy_reason_t *reason)
{
    fdy_rollouts_t *self = fdy_xalloc(sizeof *self);
    self->deps = *deps;
    self->next_id = 1;
    self->models = fdy_models_find(deps);
    self->jobs = fdy_jobs_find(deps);
    self->labels = zhashx_new();
    self->arena = fdy_arena_new(0);
    if (!self->labels || !self->arena) {
        fdy_log_err("ROLLOUTS-START", "out of memory");
        abort();
    }
    zhashx_set_destructor(self->labels, (zhashx_destructor_fn *) zstr_free);
    foundry_err err = fdy_store_rollouts_scan(deps->store, s_load_one, self, reason);
    if (err != FOUNDRY_OK) {
        void *p = self;
        s_destroy(&p);
        return err;
    }
    if (self->models) {
        fdy_models_hooks_t hooks = {self, s_hook_report, s_hook_node_seen, s_hook_pending};
        fdy_models_set_hooks(self->models, &hooks);
    }
    size_t live = 0;
    for (size_t i = 0; i < self->item_count; i++)
        live += self->items[i]->rollout.rec.state <= FDY_ROLLOUT_PAUSED;
    if (self->item_count)
        fdy_log_info("ROLLOUTS-LOADED", "%zu rollouts loaded, %zu running or paused",
                     self->item_count, live);
    *self_out = self;
    return FOUNDRY_OK;
}

static void
s_destroy(void **self_p)
{
    fdy_rollouts_t *self = *self_p;
    if (!self)
        return;
    if (self->models) {
        fdy_models_hooks_t none = {NULL, NULL, NULL, NULL};
        fdy_models_set_hooks(self->models, &none);
    }
    for (size_t i = 0; i < self->item_count; i++)
        fdy_rollouts_item_destroy(&self->items[i]);
    free(self->items);
    zhashx_destroy(&self->labels);
    for (size_t i = 0; i < self->write_count; i++)
        free(self->write_bufs[i]);
    free(self->writes);
    free(self->write_bufs);
    free(self->written);
    fdy_arena_destroy(&self->arena);
    free(self);
    *self_p = NULL;
}

/* ---- the commit ------------------------------------------------------------------- */

static void
s_collect(void *self_, fdy_commit_t *commit, int64_t now_ms)
{
    (void) now_ms;
    fdy_rollouts_t *self = self_;
    self->added = false;
    self->write_count = 0;
    size_t n = 0;
    for (size_t i = 0; i < self->item_count && n < WRITES_PER_TURN; i++) {
        fdy_rollouts_item_t *item = self->items[i];
        if (!item->rollout.dirty)
            continue;
        uint8_t *buf = NULL;
        size_t len = 0;
        fdy_reason_t why;
        fdy_reason_clear(&why);
        if (!item->removing &&
            fdy_store_rollouts_encode(&item->rollout.rec, &buf, &len, &why) != FOUNDRY_OK) {
            fdy_log_err("ROLLOUT-ENCODE", "rollout %" PRIu64 ": %s", item->rollout.rec.id,
                        why.text);
            item->rollout.dirty = false;
            continue;
        }
        size_t capacity = self->write_capacity;
        self->writes = fdy_xgrow(self->writes, &capacity, n + 1, sizeof *self->writes);
        capacity = self->write_capacity;
        self->write_bufs = fdy_xgrow(self->write_bufs, &capacity, n + 1, sizeof *self->write_bufs);
        capacity = self->write_capacity;
        self->written = fdy_xgrow(self->written, &capacity, n + 1, sizeof *self->written);
        self->write_capacity = capacity;
        self->writes[n] = (fdy_store_rollout_write_t){item->rollout.rec.id, buf, len};
        self->write_bufs[n] = buf;
        self->written[n] = item;
        item->rollout.dirty = false;
        n++;
    }
    if (n == 0)
        return;
    self->write_count = n;
    self->part = (fdy_store_rollouts_t){self->writes, n};
    fdy_commit_add(commit, &fdy_store_rollouts_part, &self->part);
    self->added = true;
}

/* Drops the rollouts whose removal the commit just stored. */
static void
s_forget_removed(fdy_rollouts_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->item_count; i++) {
        fdy_rollouts_item_t *item = self->items[i];
        bool written = false;
        for (size_t w = 0; w < self->write_count && !written; w++)
            written = self->written[w] == item;
        if (item->removing && written) {
            fdy_log_info("ROLLOUT-REMOVED", "rollout %" PRIu64 " (%s) removed: ended over "
                         "rollout_keep_ended ago", item->rollout.rec.id,
                         fdy_rollout_state_name(item->rollout.rec.state));
            self->removed++;
            fdy_rollouts_item_destroy(&item);
            continue;
        }
        self->items[kept++] = item;
    }
    self->item_count = kept;
}

static void
s_committed(void *self_, const fdy_commit_t *commit, int64_t now_ms)
{
    (void) now_ms;
    fdy_rollouts_t *self = self_;
    foundry_err err = self->added ? fdy_commit_result(commit, &self->part) : FOUNDRY_OK;
    for (size_t i = 0; i < self->write_count; i++) {
        free(self->write_bufs[i]);
        if (err != FOUNDRY_OK)
            self->written[i]->rollout.dirty = true; /* written again next turn */
    }
    if (err != FOUNDRY_OK && self->added)
        fdy_log_limited(FDY_LOG_WARN, "ROLLOUT-COMMIT", "rollout changes not stored: %s",
                        fdy_commit_reason(commit, &self->part));
    if (err == FOUNDRY_OK)
        s_forget_removed(self);
    self->write_count = 0;
    self->added = false;
}

/* ---- upkeep ------------------------------------------------------------------------ */

static int64_t
s_step_one(fdy_rollouts_t *self, fdy_rollouts_item_t *item, uint64_t now)
{
    fdy_rollout_t *r = &item->rollout;
    fdy_rollout_state_t before = (fdy_rollout_state_t) r->rec.state;
    if (before > FDY_ROLLOUT_PAUSED) {
        /* Cancels still owed after an abort (a node that was away). */
        if (!item->settled) {
            fdy_rollout_act(self, item, now);
            item->settled = true;
            for (size_t i = 0; i < r->rec.node_count && item->settled; i++)
                item->settled = !(r->rec.nodes[i].flags & FDY_RNODE_CANCEL_DUE);
        }
        return INT64_MAX;
    }
    fdy_rollout_act(self, item, now); /* job states in, before the engine decides */
    fdy_rollout_gates_t gates = {false, NULL};
    bool soaking = fdy_rollout_gates_check(self, item, now, &gates);
    int64_t next = INT64_MAX;
    fdy_rollout_engine_step(r, now, soaking ? &gates : NULL, &next);
    fdy_rollout_act(self, item, now); /* starts and cancels it just decided */
    if (r->rec.state != before) {
        if (r->rec.state == FDY_ROLLOUT_PAUSED && r->rec.pause == FDY_PAUSE_GATE)
            self->gate_pauses++;
        if (r->rec.state == FDY_ROLLOUT_ABORTED)
            self->aborted++;
        if (r->rec.state == FDY_ROLLOUT_SUCCEEDED)
            self->succeeded++;
        fdy_log_notice("ROLLOUT-STATE", "rollout %" PRIu64 " %s%s%s", r->rec.id,
                       fdy_rollout_state_name(r->rec.state), r->rec.reason[0] ? ": " : "",
                       r->rec.reason);
    }
    /* Fleet jobs and gates are polled; reports of models arrive as news. */
    bool polls = r->options.kind == FDY_ROLLOUT_JOB || soaking;
    if (polls && next > TICK_MS)
        next = TICK_MS;
    return next;
}

/* Ended rollouts are kept rollout_keep_ended after their last change, then
 * removed. The newest is always kept: its id is where ids go on after a
 * restart, so an id is never given twice (agents report under it). */
static void
s_mark_expired(fdy_rollouts_t *self, uint64_t now)
{
    uint64_t keep = self->deps.cfg->rollout_keep_ended_ms;
    for (size_t i = 0; i + 1 < self->item_count; i++) {
        fdy_rollouts_item_t *item = self->items[i];
        const fdy_rollout_record_t *rec = &item->rollout.rec;
        if (item->removing || !item->settled || rec->state <= FDY_ROLLOUT_PAUSED ||
            rec->updated_ms + keep > now)
            continue;
        item->removing = true;
        item->rollout.dirty = true;
    }
}

static int64_t
s_tick(void *self_, int64_t now_ms)
{
    (void) now_ms;
    fdy_rollouts_t *self = self_;
    uint64_t now = fdy_rollouts_wall_ms();
    int64_t next = 1000;
    for (size_t i = 0; i < self->item_count; i++) {
        int64_t due = s_step_one(self, self->items[i], now);
        if (due < next)
            next = due;
    }
    s_mark_expired(self, now);
    for (size_t i = 0; i < self->item_count; i++)
        if (self->items[i]->rollout.dirty)
            return 0; /* a commit is owed: come back at once */
    return next < 0 ? 0 : next;
}

static void
s_stats(const void *self_, fdy_stats_t *out)
{
    const fdy_rollouts_t *self = self_;
    uint64_t running = 0, paused = 0;
    for (size_t i = 0; i < self->item_count; i++) {
        running += self->items[i]->rollout.rec.state == FDY_ROLLOUT_RUNNING;
        paused += self->items[i]->rollout.rec.state == FDY_ROLLOUT_PAUSED;
    }
    fdy_stats_add(out, "rollouts_running", running);
    fdy_stats_add(out, "rollouts_paused", paused);
    fdy_stats_add(out, "rollouts_started", self->started);
    fdy_stats_add(out, "rollouts_aborted", self->aborted);
    fdy_stats_add(out, "rollouts_succeeded", self->succeeded);
    fdy_stats_add(out, "rollout_nodes_started", self->nodes_started);
    fdy_stats_add(out, "rollouts_removed", self->removed);
}

const fdy_service_ops_t fdy_rollouts_service = {
    .name = "rollouts",
    .kinds = NULL,
    .kind_count = 0,
    .admin_prefixes = fdy_rollouts_admin_prefixes,
    .holds_frames = false,
    .create = s_create,
    .destroy = s_destroy,
    .collect = s_collect,
    .committed = s_committed,
    .tick = s_tick,
    .admin = fdy_rollouts_admin,
    .stats = s_stats,
};
