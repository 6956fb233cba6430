/*  streams.c: the streams service (fdy_streams_service): publish, durable
 *  consumers, ephemeral tails and retention behind broker/service.h. It
 *  wires publish.c, subs.c, consumers.c and tail.c together and adds their
 *  parts to the turn's one commit; the logic lives in those modules.
 */
#include "service.h"

#include "acl.h"
#include "admin_streams.h"
#include "clock.h"
#include "commit.h"
#include "consumers.h"
#include "log.h"
#include "peers.h"
#include "publish.h"
#include "subs.h"
#include "tail.h"
#include "traffic.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#define PRUNE_EVERY_MS 100
#define PRUNE_WORK 16384
/* Retention: records removed per trim (one transaction), and how often a
 * trim runs when the last one left nothing behind. */
#define TRIM_WORK 4096
#define TRIM_EVERY_MS 100
/* How often the store's mapped pages are released: bounds the resident set
 * that reads of long streams would otherwise grow (fdy_store_release_pages). */
#define RELEASE_PAGES_MS 200
#define READER_CHECK_MS 10000
/* The poll timeout when nothing is due sooner. */
#define IDLE_TICK_MS 100

typedef struct {
    fdy_service_deps_t deps;
    fdy_publish_t *publish;
    fdy_subs_t *subs;
    fdy_consumers_t *consumers;
    fdy_tail_t *tail;
    int64_t next_prune_ms;
    bool prune_backlog;
    int64_t next_trim_ms;
    bool trim_backlog;
    int64_t next_release_pages_ms;
    int64_t next_reader_check_ms;
    fdy_labeled_t traffic; /* publishes in, deliveries out, by site */
} streams_t;

/* ---- subscription owners ---------------------------------------------------- */

static foundry_err
s_durable_bind(void *owner, fdy_sub_t *sub, const fdy_principal_t *p, const fdy_envelope_t *env,
               fdy_reason_t *reason)
{
    return fdy_consumers_bind(owner, sub, p, env->sub_stream, env->sub_consumer, reason);
}

static void
s_durable_unbind(void *owner, fdy_sub_t *sub)
{
    fdy_consumers_unbind(owner, sub);
}

static foundry_err
s_durable_ack(void *owner, fdy_sub_t *sub, const uint64_t *seqs, size_t count, uint64_t floor,
              fdy_reason_t *reason)
{
    return fdy_consumers_ack(owner, sub, seqs, count, floor, reason);
}

static foundry_err
s_durable_recheck(void *owner, fdy_sub_t *sub, const fdy_principal_t *p, fdy_reason_t *reason)
{
    return fdy_consumers_recheck(owner, sub, p, reason);
}

static const fdy_sub_owner_ops_t s_durable_owner = {
    .bind = s_durable_bind,
    .unbind = s_durable_unbind,
    .ack = s_durable_ack,
    .recheck = s_durable_recheck,
};

static foundry_err
s_tail_bind(void *owner, fdy_sub_t *sub, const fdy_principal_t *p, const fdy_envelope_t *env,
            fdy_reason_t *reason)
{
    (void) env;   /* subs.c copied the filter */
    foundry_err err = fdy_acl_check_subscribe(p, sub->filter, reason);
    if (err == FOUNDRY_OK)
        fdy_tail_bind(owner, sub);
    return err;
}

static void
s_tail_unbind(void *owner, fdy_sub_t *sub)
{
    fdy_tail_unbind(owner, sub);
}

static foundry_err
s_tail_recheck(void *owner, fdy_sub_t *sub, const fdy_principal_t *p, fdy_reason_t *reason)
{
    (void) owner;
    return fdy_acl_check_subscribe(p, sub->filter, reason);
}

static const fdy_sub_owner_ops_t s_tail_owner = {
    .bind = s_tail_bind,
    .unbind = s_tail_unbind,
    .ack = NULL,
    .recheck = s_tail_recheck,
};

/* ---- the service -------------------------------------------------------------- */

static foundry_err
s_create(const fdy_service_deps_t *deps, void **self_out, fdy_reason_t *reason)
{
    (void) reason;
    streams_t *self = fdy_xalloc(sizeof *self);
    self->deps = *deps;
    self->publish = fdy_publish_new(deps->cfg, deps->store, deps->reply, deps->peers);
    fdy_subs_limits_t limits = {
        .per_connection = (size_t) deps->cfg->max_subs_per_connection,
        .per_principal = (size_t) deps->cfg->max_subs_per_principal,
        .send_queue_bytes = deps->cfg->max_send_queue_bytes,
    };
    self->subs = fdy_subs_new(deps->reply, deps->store, deps->registry, &limits);
    self->consumers = fdy_consumers_new(deps->store, self->subs);
    self->tail = fdy_tail_new(deps->store, self->subs);
    fdy_traffic_init(&self->traffic, fdy_traffic_telemetry,
                     deps->peers ? fdy_peers_sites(deps->peers) : NULL);
    fdy_subs_count_traffic(self->subs, &self->traffic);
    fdy_subs_add_owner(self->subs, true, &s_durable_owner, self->consumers);
    fdy_subs_add_owner(self->subs, false, &s_tail_owner, self->tail);
    *self_out = self;
    return FOUNDRY_OK;
}

static void
s_destroy(void **self_p)
{
    streams_t *self = *self_p;
    if (!self)
        return;
    /* Consumer states are saved before the subscriptions go (no message is
     * sent). */
    fdy_consumers_save(self->consumers);
    fdy_subs_destroy(&self->subs);
    fdy_consumers_destroy(&self->consumers);
    fdy_tail_destroy(&self->tail);
    fdy_publish_destroy(&self->publish);
    free(self);
    *self_p = NULL;
}

static foundry_err
s_handle(void *self_, const fdy_request_t *req, fdy_reason_t *reason)
{
    streams_t *self = self_;
    const fdy_envelope_t *env = req->env;
    if (env->kind == FDY_KIND_PUBLISH) {
        foundry_err err = fdy_publish_add(self->publish, &req->peer, req->who, env->request_id,
                                          env->count, req->frames, req->frame_count, reason);
        if (err == FOUNDRY_OK) {
            uint64_t bytes = 0;
            for (size_t i = 1; i < req->frame_count; i++)
                bytes += req->frames[i].len;
            fdy_traffic_in(&self->traffic, req->site, env->count, bytes);
        }
        return err;
    }
    fdy_subs_handle(self->subs, req->peer.id, req->peer.len, req->who, env, req->now_ms);
    return FOUNDRY_OK;
}

static bool
s_turn_full(const void *self_)
{
    const streams_t *self = self_;
    return fdy_publish_turn_full(self->publish);
}

static void
s_touch(void *self_, const fdy_peer_t *peer, const fdy_principal_t *who, int64_t now_ms)
{
    streams_t *self = self_;
    (void) who;
    /* Any request keeps the connection's subscriptions alive. */
    fdy_subs_touch(self->subs, peer->id, peer->len, now_ms);
}

static void
s_peer_gone(void *self_, const fdy_peer_t *peer)
{
    streams_t *self = self_;
    fdy_publish_peer_gone(self->publish, peer);
    fdy_subs_peer_gone(self->subs, peer->id, peer->len);
}

/* Consumer states and dead letters ride along when there are publishes to
 * share the fsync with, or when the last save is old enough. */
static void
s_collect(void *self_, fdy_commit_t *commit, int64_t now_ms)
{
    streams_t *self = self_;
    fdy_publish_collect(self->publish, commit);
    fdy_consumers_collect(self->consumers, commit, fdy_publish_turn_msgs(self->publish) > 0,
                          now_ms);
}

/* The turn's publishes are stored: the durable runtime learns the new last
 * seqs, and the tails get them at once. */
static void
s_stored(const fdy_store_item_t *items, size_t count, void *user)
{
    streams_t *self = user;
    fdy_consumers_note_items(self->consumers, items, count);
    fdy_tail_feed(self->tail, items, count, fdy_store_now_ns(self->deps.store));
}

static void
s_committed(void *self_, const fdy_commit_t *commit, int64_t now_ms)
{
    streams_t *self = self_;
    fdy_publish_committed(self->publish, commit, s_stored, self);
    fdy_consumers_committed(self->consumers, commit, now_ms);
}

static bool
s_run(void *self_, int64_t now_ms)
{
    streams_t *self = self_;
    return fdy_consumers_deliver(self->consumers, now_ms);
}

static int64_t
s_until(int64_t due_ms, int64_t now_ms, int64_t best)
{
    int64_t wait = due_ms > now_ms ? due_ms - now_ms : 0;
    return wait < best ? wait : best;
}

/* Bounded work between turns: none of it may stall acks for long. */
static int64_t
s_tick(void *self_, int64_t now_ms)
{
    streams_t *self = self_;
    fdy_store_t *store = self->deps.store;
    if (self->prune_backlog || now_ms >= self->next_prune_ms) {
        size_t pruned = 0;
        foundry_err err = fdy_store_prune_dedupe(store, fdy_store_now_ns(store), PRUNE_WORK, &pruned);
        if (err != FOUNDRY_OK && err != FOUNDRY_EFULL)
            fdy_log_warn_limited("DEDUPE-PRUNE", "pruning dedupe ids failed: %s",
                                 foundry_strerror(err));
        /* A full page means more are due: keep going next turn. */
        self->prune_backlog = err == FOUNDRY_OK && pruned == PRUNE_WORK;
        self->next_prune_ms = now_ms + PRUNE_EVERY_MS;
    }
    fdy_subs_maintain(self->subs, now_ms);
    if (self->trim_backlog || now_ms >= self->next_trim_ms) {
        size_t trimmed = 0;
        foundry_err err = fdy_store_trim(store, fdy_store_now_ns(store), TRIM_WORK, &trimmed);
        /* A full batch means more is due: keep trimming next turn, with the
         * turn's publishes in between. Failures are logged by the store. */
        self->trim_backlog = err == FOUNDRY_OK && trimmed == TRIM_WORK;
        self->next_trim_ms = now_ms + TRIM_EVERY_MS;
    }
    if (now_ms >= self->next_release_pages_ms) {
        fdy_store_release_pages(store);
        self->next_release_pages_ms = now_ms + RELEASE_PAGES_MS;
    }
    if (now_ms >= self->next_reader_check_ms) {
        fdy_store_check_readers(store);
        self->next_reader_check_ms = now_ms + READER_CHECK_MS;
    }
    if (self->prune_backlog || self->trim_backlog)
        return 0;
    int64_t wait = s_until(self->next_prune_ms, now_ms, IDLE_TICK_MS);
    wait = s_until(self->next_trim_ms, now_ms, wait);
    wait = s_until(self->next_release_pages_ms, now_ms, wait);
    /* A connection whose send queue is full resumes as soon as it drains. */
    int64_t paused = fdy_subs_paused_wait(self->subs);
    return paused >= 0 && paused < wait ? paused : wait;
}

static foundry_err
s_admin(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    streams_t *self = self_;
    fdy_admin_streams_t ctx = {
        .store = self->deps.store,
        .subs = self->subs,
        .consumers = self->consumers,
    };
    return fdy_admin_dispatch(&ctx, fdy_admin_streams_commands, fdy_admin_streams_command_count,
                              call, out, reason);
}

static void
s_stats(const void *self_, fdy_stats_t *out)
{
    const streams_t *self = self_;
    fdy_store_stats_t store;
    if (fdy_store_stats(self->deps.store, &store) == FOUNDRY_OK) {
        fdy_stats_add(out, "messages", store.messages);
        fdy_stats_add(out, "streams", store.streams);
        fdy_stats_add(out, "store_used_bytes", store.used_bytes);
        fdy_stats_add(out, "map_size", store.map_size);
        fdy_stats_add(out, "map_size_max", store.map_size_max);
    }
    fdy_publish_stats_t publish;
    fdy_publish_stats(self->publish, &publish);
    fdy_stats_add(out, "commits", publish.commits);
    fdy_stats_add(out, "published", publish.published);
    fdy_stats_add(out, "duplicates", publish.duplicates);
    fdy_stats_add(out, "rate_refused", publish.rate_refused);
    fdy_stats_add(out, "rate_floods", publish.rate_floods);
    /* Whole-request refusals are counted where they are sent (reply.c). */
    fdy_stats_add(out, "errors", publish.refused);
    fdy_subs_stats_t subs;
    fdy_subs_stats(self->subs, &subs);
    fdy_stats_add(out, "subscriptions", subs.subscriptions);
    fdy_stats_add(out, "deliveries", subs.deliveries);
    fdy_stats_add(out, "dropped", subs.dropped);
    fdy_stats_add(out, "send_queue_pauses", subs.send_queue_pauses);
    fdy_stats_add_table(out, &self->traffic);
}

static const fdy_kind_t s_kinds[] = {
    FDY_KIND_PUBLISH, FDY_KIND_SUBSCRIBE, FDY_KIND_CREDIT, FDY_KIND_ACK, FDY_KIND_UNSUBSCRIBE,
};
static const char *const s_admin_prefixes[] = {"stream.", "consumer.", NULL};

const fdy_service_ops_t fdy_streams_service = {
    .name = "streams",
    .kinds = s_kinds,
    .kind_count = sizeof s_kinds / sizeof s_kinds[0],
    .admin_prefixes = s_admin_prefixes,
    .holds_frames = true,
    .create = s_create,
    .destroy = s_destroy,
    .handle = s_handle,
    .turn_full = s_turn_full,
    .collect = s_collect,
    .committed = s_committed,
    .run = s_run,
    .tick = s_tick,
    .peer_seen = s_touch,
    .peer_gone = s_peer_gone,
    .admin = s_admin,
    .stats = s_stats,
};
