/*  router.c: frames, identity and dispatch. Frames are received into a pool
 *  that never moves, so a service may point into them until its commit;
 *  identity is taken from the ZAP User-Id on every request, so a revoked
 *  key is refused at its next message. Which service gets a request is a
 *  table by kind; what it means is the service's business.
 */
#include "router.h"

#include "arena.h"
#include "keys.h"
#include "heap.h"
#include "log.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* routing id + envelope + batch + one payload frame per message */
#define REQUEST_FRAMES_MAX (3u + FDY_BATCH_MSGS_MAX)
/* Kind values fit in a small table (codec.h numbers them densely). */
#define KINDS_MAX 64
#define WATCHERS_MAX 8

struct fdy_router {
    void *socket;
    const fdy_broker_cfg_t *cfg;
    fdy_registry_t *registry;
    fdy_peers_t *peers;
    fdy_reply_t *reply;
    fdy_refusals_t *refusals; /* EAUTH refusals for the audit log; may be NULL */
    const fdy_service_t *routes[KINDS_MAX];
    const fdy_service_t *watchers[WATCHERS_MAX];
    size_t watcher_count;
    const fdy_service_t *services[KINDS_MAX]; /* distinct routed services, for turn_full */
    size_t service_count;

    zmq_msg_t *frames;           /* the pool; held frames stay open until end_turn */
    size_t frame_capacity;
    size_t frame_count;
    fdy_slice_t *slices;         /* REQUEST_FRAMES_MAX: the request being handled */
    fdy_arena_t *envelope_arena; /* reset per request */
};

/* A routing id's state must end (peers.c): every service hears of it. */
static void
s_peer_gone(const fdy_peer_t *peer, void *user)
{
    fdy_router_t *self = user;
    for (size_t i = 0; i < self->service_count; i++) {
        const fdy_service_t *s = self->services[i];
        if (s->ops->peer_gone)
            s->ops->peer_gone(s->self, peer);
    }
    fdy_heap_trim_soon(); /* what its queues held goes back to the system */
}

fdy_router_t *
fdy_router_new(void *socket, const fdy_broker_cfg_t *cfg, fdy_registry_t *registry,
               fdy_peers_t *peers, fdy_reply_t *reply)
{
    fdy_router_t *self = fdy_xalloc(sizeof *self);
    self->socket = socket;
    self->cfg = cfg;
    self->registry = registry;
    self->peers = peers;
    self->reply = reply;
    fdy_peers_on_gone(peers, s_peer_gone, self);
    /* Held frames per publish request are at most its messages + 3, and a
     * turn holds commit_max_msgs plus one largest request; room for one more
     * request in flight on top. Zeroed pages cost nothing until touched. */
    size_t turn_msgs = (size_t) cfg->commit_max_msgs + FDY_BATCH_MSGS_MAX;
    self->frame_capacity = 4 * turn_msgs + 2 * REQUEST_FRAMES_MAX;
    self->frames = fdy_xalloc(self->frame_capacity * sizeof *self->frames);
    self->slices = fdy_xalloc(REQUEST_FRAMES_MAX * sizeof *self->slices);
    self->envelope_arena = fdy_arena_new(FDY_DECODE_BUDGET(FDY_ENVELOPE_MAX));
    if (!self->envelope_arena) {
        fdy_log_err("OUT-OF-MEMORY", "router arena: out of memory; aborting");
        abort();
    }
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
    fdy_arena_destroy(&self->envelope_arena);
    free(self->slices);
    free(self->frames);
    free(self);
    *self_p = NULL;
}

foundry_err
fdy_router_route(fdy_router_t *self, fdy_kind_t kind, const fdy_service_t *service)
{
    const fdy_kind_info_t *info = fdy_codec_kind_info(kind);
    if (!info || info->reply || kind == FDY_KIND_PING || (int) kind >= KINDS_MAX)
        return FOUNDRY_EINVAL;
    if (self->routes[kind])
        return FOUNDRY_EEXIST;
    self->routes[kind] = service;
    for (size_t i = 0; i < self->service_count; i++)
        if (self->services[i] == service)
            return FOUNDRY_OK;
    self->services[self->service_count++] = service;
    return FOUNDRY_OK;
}

void
fdy_router_audit(fdy_router_t *self, fdy_refusals_t *refusals)
{
    self->refusals = refusals;
}

void
fdy_router_watch(fdy_router_t *self, const fdy_service_t *service)
{
    if (self->watcher_count < WATCHERS_MAX)
        self->watchers[self->watcher_count++] = service;
}

static const fdy_service_t *
s_route_of(const fdy_router_t *self, fdy_kind_t kind)
{
    return (int) kind >= 0 && (int) kind < KINDS_MAX ? self->routes[kind] : NULL;
}

/* Closes frames [first, frame_count) and gives their pool slots back. */
static void
s_pop_frames(fdy_router_t *self, size_t first)
{
    while (self->frame_count > first)
        zmq_msg_close(&self->frames[--self->frame_count]);
}

static void
s_refuse(fdy_router_t *self, const fdy_peer_t *peer, const char *who, uint64_t request_id,
         foundry_err err, const char *text)
{
    fdy_log_warn_limited("REQUEST-REFUSED", "from '%s': %s: %s", who, foundry_strerror(err), text);
    fdy_reply_error(self->reply, peer, request_id, 0, err, text);
}

/* An EAUTH refusal for the audit log: user_id and p may be NULL. */
static void
s_audit_refusal(fdy_router_t *self, zmq_msg_t *envelope, const char *user_id,
                const fdy_principal_t *p, const char *why, int64_t now_ms)
{
    if (!self->refusals)
        return;
    char fingerprint[9] = "";
    if (p)
        fdy_keys_fingerprint(p->public_key, fingerprint);
    fdy_refusal_t refusal = {.command = "request", .principal = user_id, .key = fingerprint,
                             .peer = zmq_msg_gets(envelope, "Peer-Address"), .reason = why};
    fdy_refusals_add(self->refusals, &refusal, now_ms);
}

/* Dispatches the request whose frames are [first, frame_count). extra
 * counts frames past REQUEST_FRAMES_MAX that were dropped on receipt. */
static void
s_handle_request(fdy_router_t *self, size_t first, size_t extra, int64_t now_ms)
{
    size_t frame_count = self->frame_count - first - 1;   /* without the routing id */
    zmq_msg_t *routing = &self->frames[first];
    fdy_peer_t peer = {.id = zmq_msg_data(routing), .len = zmq_msg_size(routing)};
    if (frame_count < 1) {
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
    /* A connection made with a key since rotated away (key rotate) is the
     * old key's, not this principal's. Absent metadata (no ZAP): nothing
     * to compare. */
    const char *proved_key = zmq_msg_gets(envelope, "X-Public-Key");
    bool rotated = p && proved_key && strcmp(proved_key, p->public_key) != 0;
    if (!p || p->revoked || rotated) {
        const char *text = !p ? "unknown principal" : rotated ? "key replaced" : "key revoked";
        fdy_log_warn_limited("REQUEST-AUTH", "principal '%.64s': %s", user_id ? user_id : "",
                             text);
        s_audit_refusal(self, envelope, user_id, p, text, now_ms);
        fdy_reply_error(self->reply, &peer, env.request_id, 0, FOUNDRY_EAUTH, text);
        s_pop_frames(self, first);
        return;
    }
    fdy_peers_note_active(self->peers, p->name, now_ms);
    fdy_log_set_principal(p->name);   /* every line about this request names it */
    /* State made under this routing id by another connection or principal
     * ends here, before this request is served or anything is sent to it. */
    uint32_t site = fdy_peers_bind(self->peers, &peer, zmq_msg_get(envelope, ZMQ_SRCFD),
                                   p->name, p->site);
    for (size_t i = 0; i < self->watcher_count; i++)
        self->watchers[i]->ops->peer_seen(self->watchers[i]->self, &peer, p, now_ms);
    /* A kind no service takes (replies among them) is EKIND however its body
     * or frames look: the codec sets env.kind before checking the body. */
    const fdy_kind_info_t *info = fdy_codec_kind_info(env.kind);
    if (info && env.kind != FDY_KIND_PING && !s_route_of(self, env.kind)
        && (err == FOUNDRY_OK || err == FOUNDRY_EPROTO || err == FOUNDRY_EINVAL)) {
        err = fdy_reason_set(&why, FOUNDRY_EKIND, "kind %s (%d) is not a request this broker serves",
                             info->name, (int) env.kind);
    }
    if (err == FOUNDRY_OK && extra > 0)
        err = fdy_reason_set(&why, FOUNDRY_EPROTO, "request has more than %u frames",
                             REQUEST_FRAMES_MAX - 1);
    if (err == FOUNDRY_OK && frame_count > 1 && !(info && info->extra_frames))
        err = fdy_reason_set(&why, FOUNDRY_EPROTO, "only publish requests carry extra frames");
    if (err != FOUNDRY_OK) {
        s_refuse(self, &peer, p->name, env.request_id, err, why.text);
        s_pop_frames(self, first);
        return;
    }
    if (env.kind == FDY_KIND_PING) {
        fdy_envelope_t pong = {.version = FDY_PROTOCOL_VERSION, .kind = FDY_KIND_PONG,
                               .request_id = env.request_id};
        fdy_reply_send(self->reply, &peer, &pong);
        s_pop_frames(self, first);
        return;
    }
    const fdy_service_t *service = s_route_of(self, env.kind);
    if (!service) {   /* unreachable: unrouted kinds were refused above */
        s_pop_frames(self, first);
        return;
    }
    for (size_t i = 0; i < frame_count; i++) {
        zmq_msg_t *frame = &self->frames[first + 1 + i];
        self->slices[i] = (fdy_slice_t){.data = zmq_msg_data(frame), .len = zmq_msg_size(frame)};
    }
    fdy_request_t req = {
        .who = p,
        .peer = peer,
        .env = &env,
        .envelope = self->slices[0],
        .frames = self->slices,
        .frame_count = frame_count,
        .now_ms = now_ms,
        .site = site,
    };
    err = service->ops->handle(service->self, &req, &why);
    if (err != FOUNDRY_OK) {
        s_refuse(self, &peer, p->name, env.request_id, err, why.text);
        s_pop_frames(self, first);
        return;
    }
    if (!service->ops->holds_frames)
        s_pop_frames(self, first);
}

/* Receives one whole request into the frame pool and handles it. *got_out
 * is false when none is ready. */
static foundry_err
s_recv_request(fdy_router_t *self, int64_t now_ms, bool *got_out)
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
    s_handle_request(self, first, extra, now_ms);
    fdy_log_set_principal(NULL);
    return FOUNDRY_OK;
}

static bool
s_turn_full(const fdy_router_t *self)
{
    for (size_t i = 0; i < self->service_count; i++) {
        const fdy_service_t *s = self->services[i];
        if (s->ops->turn_full && s->ops->turn_full(s->self))
            return true;
    }
    return false;
}

foundry_err
fdy_router_drain(fdy_router_t *self, int64_t now_ms, size_t *drained_out)
{
    foundry_err err = FOUNDRY_OK;
    size_t drained = 0;
    while (drained < self->cfg->commit_max_msgs
           && self->frame_count + REQUEST_FRAMES_MAX <= self->frame_capacity && !s_turn_full(self)) {
        bool got = false;
        err = s_recv_request(self, now_ms, &got);
        if (err != FOUNDRY_OK || !got)
            break;
        drained++;
    }
    *drained_out = drained;
    return err;
}

void
fdy_router_end_turn(fdy_router_t *self)
{
    s_pop_frames(self, 0);
}
