/*  router.c: the request side of a loop turn. Frames are received into a
 *  pool that never moves, so store items can point into them until the group
 *  commit; identity is taken from the ZAP User-Id on every request, so a
 *  revoked key is refused at its next message. Encoding is the codec's,
 *  storage the store's, and the group commit itself is publish.c.
 */
#include "router.h"

#include "arena.h"
#include "clock.h"
#include "codec.h"
#include "consumers.h"
#include "log.h"
#include "tail.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* routing id + envelope + batch + one payload frame per message */
#define REQUEST_FRAMES_MAX (3u + FDY_BATCH_MSGS_MAX)
/* Admin commands run after the acks of a turn; a few per turn at most. */
#define ADMIN_PER_TURN 8
#define ACTIVE_SLOTS 256
#define ACTIVE_WINDOW_MS 60000

/* An admin request waiting for the end of the turn. It is decoded again into
 * its own arena: the shared envelope arena is reset per request. */
typedef struct {
    size_t routing_frame;
    fdy_arena_t *arena;
    fdy_envelope_t env;
    char principal[FDY_NAME_MAX];
} admin_slot_t;

typedef struct {
    char name[FDY_NAME_MAX];
    int64_t last_ms;
} active_t;

struct fdy_router {
    void *socket;
    const fdy_broker_cfg_t *cfg;
    fdy_registry_t *registry;
    fdy_publish_t *publish;
    fdy_admin_t *admin;
    fdy_subs_t *subs;

    zmq_msg_t *frames;           /* the pool; frames stay open until the commit */
    size_t frame_capacity;
    size_t frame_count;
    size_t *routing_frames;      /* per publish request of the turn: its routing id frame */
    size_t routing_capacity;
    size_t routing_count;
    fdy_slice_t *slices;         /* REQUEST_FRAMES_MAX */
    fdy_arena_t *envelope_arena;
    admin_slot_t admin_slots[ADMIN_PER_TURN];
    size_t admin_count;
    int64_t turn_ms;
    uint64_t connections;

    active_t active[ACTIVE_SLOTS];
    char active_text[ACTIVE_SLOTS * FDY_NAME_MAX];

    int64_t start_ms;
    uint64_t error_replies;
};

static fdy_arena_t *
s_arena_new(size_t budget)
{
    fdy_arena_t *arena = fdy_arena_new(budget);
    if (!arena) {
        fdy_log_err("OUT-OF-MEMORY", "router arena: out of memory; aborting");
        abort();
    }
    return arena;
}

fdy_router_t *
fdy_router_new(void *socket, const fdy_broker_cfg_t *cfg, fdy_registry_t *registry,
               fdy_publish_t *publish, fdy_admin_t *admin, fdy_subs_t *subs)
{
    fdy_router_t *self = fdy_xalloc(sizeof *self);
    self->socket = socket;
    self->cfg = cfg;
    self->registry = registry;
    self->publish = publish;
    self->admin = admin;
    self->subs = subs;
    /* Kept frames per publish request are at most its messages + 3, and a
     * turn holds commit_max_msgs plus one largest request; room for one more
     * request in flight on top. Zeroed pages cost nothing until touched. */
    size_t turn_msgs = (size_t) cfg->commit_max_msgs + FDY_BATCH_MSGS_MAX;
    self->frame_capacity = 4 * turn_msgs + 2 * REQUEST_FRAMES_MAX;
    self->frames = fdy_xalloc(self->frame_capacity * sizeof *self->frames);
    self->routing_capacity = turn_msgs;
    self->routing_frames = fdy_xalloc(self->routing_capacity * sizeof *self->routing_frames);
    self->slices = fdy_xalloc(REQUEST_FRAMES_MAX * sizeof *self->slices);
    self->envelope_arena = s_arena_new(FDY_DECODE_BUDGET(FDY_ENVELOPE_MAX));
    for (size_t i = 0; i < ADMIN_PER_TURN; i++)
        self->admin_slots[i].arena = s_arena_new(FDY_DECODE_BUDGET(FDY_ENVELOPE_MAX));
    self->start_ms = fdy_clock_mono_ms();
    return self;
}

void
fdy_router_destroy(fdy_router_t **self_p)
{
    fdy_router_t *self = *self_p;
    if (!self)
        return;
    while (self->frame_count > 0)
        zmq_msg_close(&self->frames[--self->frame_count]);
    for (size_t i = 0; i < ADMIN_PER_TURN; i++)
        fdy_arena_destroy(&self->admin_slots[i].arena);
    fdy_arena_destroy(&self->envelope_arena);
    free(self->slices);
    free(self->routing_frames);
    free(self->frames);
    free(self);
    *self_p = NULL;
}

uint64_t
fdy_router_error_replies(const fdy_router_t *self)
{
    return self->error_replies;
}

/* ---- replies ----------------------------------------------------------- */

static void
s_free_buffer(void *data, void *hint)
{
    (void) hint;
    free(data);
}

/* Encodes env and sends it to the peer behind routing. The ROUTER never
 * blocks: a reply to a peer that left or is over its HWM is dropped, and
 * the client resends by request id. */
static void
s_send(fdy_router_t *self, zmq_msg_t *routing, const fdy_envelope_t *env)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (fdy_codec_encode_envelope(env, &buf, &len) != FOUNDRY_OK) {
        fdy_log_err("REPLY-ENCODE", "cannot encode a kind %d reply", (int) env->kind);
        return;
    }
    zmq_msg_t reply;
    if (zmq_msg_init_data(&reply, buf, len, s_free_buffer, NULL) != 0) {
        free(buf);
        return;
    }
    if (zmq_send(self->socket, zmq_msg_data(routing), zmq_msg_size(routing), ZMQ_SNDMORE) < 0
        || zmq_msg_send(&reply, self->socket, 0) < 0) {
        fdy_log_warn_limited("REPLY-SEND", "reply not sent: %s", zmq_strerror(errno));
        zmq_msg_close(&reply);
    }
}

static void
s_send_error(fdy_router_t *self, zmq_msg_t *routing, uint64_t request_id, foundry_err code,
             const char *reason)
{
    fdy_envelope_t env = {.version = FDY_PROTOCOL_VERSION, .kind = FDY_KIND_ERROR,
                          .request_id = request_id, .error_code = code,
                          .error_reason = reason && *reason ? reason : foundry_strerror(code)};
    self->error_replies++;
    s_send(self, routing, &env);
}

static void
s_publish_reply(size_t tag, const fdy_envelope_t *reply, void *user)
{
    fdy_router_t *self = user;
    s_send(self, &self->frames[self->routing_frames[tag]], reply);
}

/* ---- principals seen ----------------------------------------------------- */

static size_t
s_name_hash(const char *name)
{
    uint32_t hash = 2166136261u;
    for (; *name; name++)
        hash = (hash ^ (uint8_t) *name) * 16777619u;
    return hash % ACTIVE_SLOTS;
}

/* Open addressing without deletion: a stale slot is reused in place, so
 * probe chains never break. When every slot is fresh, the name is not
 * recorded (status shows at most ACTIVE_SLOTS names). */
static void
s_note_active(fdy_router_t *self, const char *name)
{
    size_t slot = s_name_hash(name);
    active_t *reuse = NULL;
    for (size_t i = 0; i < ACTIVE_SLOTS; i++) {
        active_t *entry = &self->active[(slot + i) % ACTIVE_SLOTS];
        if (entry->name[0] == '\0') {
            if (!reuse)
                reuse = entry;
            break;
        }
        if (strcmp(entry->name, name) == 0) {
            entry->last_ms = self->turn_ms;
            return;
        }
        if (!reuse && self->turn_ms - entry->last_ms > ACTIVE_WINDOW_MS)
            reuse = entry;
    }
    if (reuse) {
        snprintf(reuse->name, sizeof reuse->name, "%s", name);
        reuse->last_ms = self->turn_ms;
    }
}

static int
s_compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Space-separated, sorted names active in the last minute. Borrowed. */
static const char *
s_active_names(fdy_router_t *self)
{
    const char *names[ACTIVE_SLOTS];
    size_t count = 0;
    int64_t now = fdy_clock_mono_ms();
    for (size_t i = 0; i < ACTIVE_SLOTS; i++) {
        if (self->active[i].name[0] && now - self->active[i].last_ms <= ACTIVE_WINDOW_MS)
            names[count++] = self->active[i].name;
    }
    qsort(names, count, sizeof names[0], s_compare_names);
    size_t used = 0;
    self->active_text[0] = '\0';
    for (size_t i = 0; i < count; i++)
        used += (size_t) sprintf(self->active_text + used, "%s%s", i ? " " : "", names[i]);
    return self->active_text;
}

/* ---- one request --------------------------------------------------------- */

/* Closes frames [first, frame_count) and gives their pool slots back. */
static void
s_pop_frames(fdy_router_t *self, size_t first)
{
    while (self->frame_count > first)
        zmq_msg_close(&self->frames[--self->frame_count]);
}

static void
s_queue_admin(fdy_router_t *self, size_t first, const fdy_principal_t *p)
{
    admin_slot_t *slot = &self->admin_slots[self->admin_count];
    zmq_msg_t *envelope = &self->frames[first + 1];
    fdy_reason_t why;
    size_t len = zmq_msg_size(envelope);
    fdy_arena_reset(slot->arena, FDY_DECODE_BUDGET(len));
    if (fdy_codec_decode_envelope(zmq_msg_data(envelope), len, slot->arena, &slot->env, &why)
        != FOUNDRY_OK) {
        /* It decoded a moment ago into the other arena: only memory can fail. */
        s_send_error(self, &self->frames[first], 0, FOUNDRY_ENOMEM, "out of memory");
        s_pop_frames(self, first);
        return;
    }
    slot->routing_frame = first;
    snprintf(slot->principal, sizeof slot->principal, "%s", p->name);
    self->admin_count++;
    s_pop_frames(self, first + 1);   /* only the routing id is needed until the reply */
}

static void
s_handle_publish(fdy_router_t *self, size_t first, const fdy_principal_t *p,
                 const fdy_envelope_t *env)
{
    size_t count = self->frame_count - first - 1;   /* without the routing id */
    for (size_t i = 0; i < count; i++) {
        zmq_msg_t *frame = &self->frames[first + 1 + i];
        self->slices[i] = (fdy_slice_t){.data = zmq_msg_data(frame), .len = zmq_msg_size(frame)};
    }
    fdy_reason_t why;
    foundry_err err = fdy_publish_add(self->publish, self->routing_count, p, env->request_id,
                                      env->count, self->slices, count, &why);
    if (err != FOUNDRY_OK) {
        fdy_log_warn_limited("REQUEST-REFUSED", "publish from '%s': %s", p->name, why.text);
        s_send_error(self, &self->frames[first], env->request_id, err, why.text);
        s_pop_frames(self, first);
        return;
    }
    self->routing_frames[self->routing_count++] = first;
}

/* Dispatches the request whose frames are [first, frame_count). extra
 * counts frames past REQUEST_FRAMES_MAX that were dropped on receipt. */
static void
s_handle_request(fdy_router_t *self, size_t first, size_t extra)
{
    zmq_msg_t *routing = &self->frames[first];
    if (self->frame_count - first < 2) {
        s_pop_frames(self, first);   /* no envelope: nothing to answer */
        return;
    }
    zmq_msg_t *envelope = &self->frames[first + 1];
    /* Identity comes from the ZAP User-Id libzmq attached to the frame, never
     * from the routing id or anything the peer put in the message. The
     * registry is checked for every request so revocation bites at once. */
    const char *user_id = zmq_msg_gets(envelope, "User-Id");
    const fdy_principal_t *p = user_id ? fdy_registry_by_name(self->registry, user_id) : NULL;

    size_t len = zmq_msg_size(envelope);
    fdy_envelope_t env;
    memset(&env, 0, sizeof env);
    fdy_reason_t why;
    fdy_reason_clear(&why);
    /* Our own limit first: a frame under ZMQ_MAXMSGSIZE but over ours gets
     * an ETOOBIG reply instead of being unpacked. */
    foundry_err err = fdy_reason_set(&why, FOUNDRY_ETOOBIG,
                                     "envelope frame of %zu bytes is over the %u byte limit", len,
                                     FDY_ENVELOPE_MAX);
    if (len <= FDY_ENVELOPE_MAX) {
        fdy_arena_reset(self->envelope_arena, FDY_DECODE_BUDGET(len));
        err = fdy_codec_decode_envelope(zmq_msg_data(envelope), len, self->envelope_arena, &env,
                                        &why);
    }
    if (!p || p->revoked) {
        const char *text = p ? "key revoked" : "unknown principal";
        fdy_log_warn_limited("REQUEST-AUTH", "principal '%.64s': %s", user_id ? user_id : "",
                             text);
        s_send_error(self, routing, env.request_id, FOUNDRY_EAUTH, text);
        s_pop_frames(self, first);
        return;
    }
    s_note_active(self, p->name);
    /* Any request keeps the connection's subscriptions alive. */
    fdy_subs_touch(self->subs, zmq_msg_data(routing), zmq_msg_size(routing), self->turn_ms);
    if (err == FOUNDRY_OK && extra > 0)
        err = fdy_reason_set(&why, FOUNDRY_EPROTO, "request has more than %u frames",
                             REQUEST_FRAMES_MAX - 1);
    if (err == FOUNDRY_OK && env.kind != FDY_KIND_PUBLISH && self->frame_count - first > 2)
        err = fdy_reason_set(&why, FOUNDRY_EPROTO, "only publish requests carry extra frames");
    if (err != FOUNDRY_OK) {
        fdy_log_warn_limited("REQUEST-REFUSED", "from '%s': %s: %s", p->name,
                             foundry_strerror(err), why.text);
        s_send_error(self, routing, env.request_id, err, why.text);
        s_pop_frames(self, first);
        return;
    }
    switch (env.kind) {
    case FDY_KIND_PUBLISH:
        s_handle_publish(self, first, p, &env);
        return;
    case FDY_KIND_ADMIN:
        s_queue_admin(self, first, p);
        return;
    case FDY_KIND_SUBSCRIBE:
    case FDY_KIND_CREDIT:
    case FDY_KIND_ACK:
    case FDY_KIND_UNSUBSCRIBE:
        fdy_subs_handle(self->subs, zmq_msg_data(routing), zmq_msg_size(routing), p, &env,
                        self->turn_ms);
        s_pop_frames(self, first);
        return;
    case FDY_KIND_PING: {
        fdy_envelope_t pong = {.version = FDY_PROTOCOL_VERSION, .kind = FDY_KIND_PONG,
                               .request_id = env.request_id};
        s_send(self, routing, &pong);
        s_pop_frames(self, first);
        return;
    }
    default:
        fdy_reason_set(&why, FOUNDRY_EKIND, "kind %d is not a request", (int) env.kind);
        fdy_log_warn_limited("REQUEST-REFUSED", "from '%s': %s", p->name, why.text);
        s_send_error(self, routing, env.request_id, FOUNDRY_EKIND, why.text);
        s_pop_frames(self, first);
        return;
    }
}

/* Receives one whole request into the frame pool. *got_out is false when
 * none is ready. */
static foundry_err
s_recv_request(fdy_router_t *self, bool *got_out)
{
    *got_out = false;
    size_t first = self->frame_count;
    size_t extra = 0;
    int more = 1;
    while (more) {
        zmq_msg_t spare;   /* frames past REQUEST_FRAMES_MAX are read and dropped */
        bool pooled = self->frame_count - first < REQUEST_FRAMES_MAX;
        zmq_msg_t *frame = pooled ? &self->frames[self->frame_count] : &spare;
        zmq_msg_init(frame);
        /* A multipart message is delivered whole, so only the first part can
         * be missing; a later part is retried so we never lose our place. */
        bool first_part = self->frame_count == first;
        int rc;
        do
            rc = zmq_msg_recv(frame, self->socket, ZMQ_DONTWAIT);
        while (rc < 0 && errno == EINTR && !first_part);
        if (rc < 0) {
            int error = errno;
            zmq_msg_close(frame);
            s_pop_frames(self, first);
            if (first_part && (error == EAGAIN || error == EINTR))
                return FOUNDRY_OK;
            fdy_log_err("SOCKET-ERROR", "ROUTER receive failed: %s", zmq_strerror(error));
            return FOUNDRY_EIO;
        }
        more = zmq_msg_more(frame);
        if (pooled)
            self->frame_count++;
        else {
            zmq_msg_close(&spare);
            extra++;
        }
    }
    *got_out = true;
    s_handle_request(self, first, extra);
    return FOUNDRY_OK;
}

/* ---- the turn ------------------------------------------------------------ */

static void
s_run_admin(fdy_router_t *self, admin_slot_t *slot)
{
    zmq_msg_t *routing = &self->frames[slot->routing_frame];
    const fdy_principal_t *p = fdy_registry_by_name(self->registry, slot->principal);
    if (!p || p->revoked) {
        s_send_error(self, routing, slot->env.request_id, FOUNDRY_EAUTH,
                     p ? "key revoked" : "unknown principal");
        return;
    }
    fdy_admin_status_t status = {0};
    if (strcmp(slot->env.command, "status") == 0) {
        fdy_publish_stats_t stats;
        fdy_publish_stats(self->publish, &stats);
        fdy_subs_stats_t subs;
        fdy_subs_stats(self->subs, &subs);
        status = (fdy_admin_status_t){
            .uptime_s = (uint64_t) (fdy_clock_mono_ms() - self->start_ms) / 1000,
            .connections = self->connections,
            .principals = s_active_names(self),
            .commits = stats.commits,
            .published = stats.published,
            .duplicates = stats.duplicates,
            .errors = self->error_replies + stats.refused + stats.failed,
            .subscriptions = subs.subscriptions,
            .deliveries = subs.deliveries,
            .dropped = subs.dropped,
        };
    }
    fdy_table_t table;
    fdy_reason_t why;
    foundry_err err = fdy_admin_handle(self->admin, p, slot->env.command, slot->env.args,
                                       slot->env.arg_count, &status, &table, &why);
    if (err == FOUNDRY_EDENIED)
        fdy_log_warn_limited("ADMIN-DENIED", "%s", why.text);
    else if (err != FOUNDRY_OK)
        fdy_log_info("ADMIN-REFUSED", "%s by '%s': %s", slot->env.command, slot->principal,
                     why.text);
    if (err != FOUNDRY_OK) {
        s_send_error(self, routing, slot->env.request_id, err, why.text);
        return;
    }
    fdy_log_info("ADMIN-COMMAND", "'%s' ran %s", slot->principal, slot->env.command);
    fdy_envelope_t reply = {.version = FDY_PROTOCOL_VERSION, .kind = FDY_KIND_ADMIN_REPLY,
                            .request_id = slot->env.request_id, .table = table};
    s_send(self, routing, &reply);
}

/* The turn's publishes are stored: the durable runtime learns the new last
 * seqs, and the tails get them at once. */
static void
s_committed(const fdy_store_item_t *items, size_t count, void *user)
{
    fdy_router_t *self = user;
    fdy_consumers_note_items(fdy_subs_consumers(self->subs), items, count);
    fdy_tail_feed(fdy_subs_tail(self->subs), items, count, fdy_clock_wall_ns());
}

/* One group commit: the publishes of the turn, with the consumer states and
 * dead letters waiting, when there are publishes to ride along with or the
 * last save is old enough. */
static void
s_commit(fdy_router_t *self)
{
    fdy_consumers_t *consumers = fdy_subs_consumers(self->subs);
    fdy_store_batch_t extra;
    memset(&extra, 0, sizeof extra);
    bool with_extra = fdy_publish_turn_msgs(self->publish) > 0 ||
                      fdy_consumers_want_save(consumers, self->turn_ms);
    if (with_extra)
        fdy_consumers_collect(consumers, &extra);
    foundry_err extra_err = FOUNDRY_OK;
    fdy_publish_commit_ex(self->publish, with_extra ? &extra : NULL, &extra_err, s_publish_reply,
                          s_committed, self);
    if (with_extra)
        fdy_consumers_committed(consumers, &extra, extra_err, self->turn_ms);
}

/* Drains ready requests up to the commit bounds, commits them in one
 * transaction, acks, delivers, then runs queued admin commands. */
foundry_err
fdy_router_turn(fdy_router_t *self, uint64_t connections, bool input, bool *busy_out)
{
    foundry_err err = FOUNDRY_OK;
    self->connections = connections;
    self->turn_ms = fdy_clock_mono_ms();
    size_t drained = 0;
    while (input && drained < self->cfg->commit_max_msgs && !fdy_publish_turn_full(self->publish)
           && self->admin_count < ADMIN_PER_TURN
           && self->frame_count + REQUEST_FRAMES_MAX <= self->frame_capacity
           && self->routing_count < self->routing_capacity) {
        bool got = false;
        err = s_recv_request(self, &got);
        if (err != FOUNDRY_OK || !got)
            break;
        drained++;
    }
    s_commit(self);
    *busy_out = fdy_consumers_deliver(fdy_subs_consumers(self->subs), self->turn_ms);
    for (size_t i = 0; i < self->admin_count; i++)
        s_run_admin(self, &self->admin_slots[i]);
    self->admin_count = 0;
    self->routing_count = 0;
    s_pop_frames(self, 0);
    return err;
}

