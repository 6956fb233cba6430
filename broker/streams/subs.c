/*  subs.c: the subscription table. Ids are handed out per broker process
 *  and only mean something to the connection (routing id) and principal
 *  that made them: a CREDIT, ACK or UNSUBSCRIBE naming another's id is
 *  answered as if the id did not exist. Deliveries are packed into one
 *  DELIVER batch frame per subscription, sent when full (~96 KiB) or at
 *  the end of the turn; the frame buffer is handed to libzmq without a
 *  copy. What to deliver is consumers.c's and tail.c's business.
 */
#include "subs.h"

#include "acl.h"
#include "frames.h"
#include "clock.h"
#include "log.h"
#include "traffic.h"
#include "xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define CONN_BUCKETS 4096u
#define ID_BUCKETS 65536u
#define PRINCIPAL_BUCKETS 1024u
/* How often a full send queue is looked at again. */
#define SEND_QUEUE_POLL_MS 2
#define SUBS_MAX          65536u
#define MAINTAIN_EVERY_MS 1000
/* varint prefix of a record in the batch frame */
#define PREFIX_MAX 10u
typedef struct {
    const fdy_sub_owner_ops_t *ops;
    void *owner;
} owner_t;

/* One connection's subscriptions: liveness is per connection, so a
 * request refreshes all of them in O(1), and its count is its cap. */
struct fdy_subs_conn {
    uint8_t routing[FDY_SUBS_ROUTING_MAX];
    size_t routing_len;
    int64_t last_seen_ms;
    fdy_sub_t *subs;           /* list through sub->conn_next */
    size_t count;
    uint64_t credit;           /* message credit of all its subscriptions */
    fdy_send_queue_t *queue;   /* its frames queued in libzmq */
    bool paused;               /* queue full: in the table's paused list */
    struct fdy_subs_conn *next; /* hash chain */
};
typedef struct fdy_subs_conn conn_t;

/* Subscriptions per principal, for its cap. */
typedef struct principal_count {
    char name[FDY_NAME_MAX];
    size_t count;
    struct principal_count *next;
} principal_count_t;

struct fdy_subs {
    fdy_reply_t *reply;
    fdy_store_t *store;
    fdy_registry_t *registry;
    fdy_labeled_t *traffic; /* deliveries by site; NULL: not counted */
    owner_t owners[2]; /* [0] ephemeral (tail), [1] durable (consumers) */
    fdy_subs_limits_t limits;
    /* Every operation on the table is O(1): a dense array for iteration
     * (swap-remove, sub->index), a hash by id, one by connection. */
    fdy_sub_t **table;
    size_t count;
    size_t cap;
    uint32_t next_id;
    fdy_sub_t *by_id[ID_BUCKETS];
    conn_t *conns[CONN_BUCKETS];
    principal_count_t *principals[PRINCIPAL_BUCKETS];
    fdy_sub_t **filling;         /* subs with a partly filled frame */
    size_t filling_count;
    size_t filling_cap;
    fdy_sub_t **ended; /* freed at the next maintenance */
    size_t ended_count;
    size_t ended_cap;
    uint64_t key_generation;
    int64_t next_maintain_ms;
    fdy_subs_stats_t stats;
    fdy_frames_t *frames;
    conn_t **paused; /* connections whose send queue is full */
    size_t paused_count;
    size_t paused_cap;
};

static uint32_t
s_hash(const uint8_t *bytes, size_t len)
{
    uint32_t hash = 2166136261u;   /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        hash = (hash ^ bytes[i]) * 16777619u;
    return hash;
}

static void s_conn_free(fdy_subs_t *self, conn_t *conn);
static void s_unpause_at(fdy_subs_t *self, size_t i);

fdy_subs_t *
fdy_subs_new(fdy_reply_t *reply, fdy_store_t *store, fdy_registry_t *registry,
             const fdy_subs_limits_t *limits)
{
    fdy_subs_t *self = fdy_xalloc(sizeof *self);
    self->reply = reply;
    self->limits = *limits;
    self->store = store;
    self->registry = registry;
    self->next_id = 1;
    self->key_generation = fdy_registry_generation(registry);
    self->frames = fdy_frames_new();
    return self;
}

void
fdy_subs_count_traffic(fdy_subs_t *self, fdy_labeled_t *traffic)
{
    self->traffic = traffic;
}

/* Gives back sub's unsent frame buffer. */
static void
s_out_discard(fdy_subs_t *self, fdy_sub_t *sub)
{
    fdy_frames_discard(self->frames, sub->out);
    sub->out = NULL;
    sub->out_used = sub->out_cap = 0;
    sub->out_count = 0;
}

static void
s_sub_free(fdy_subs_t *self, fdy_sub_t *sub)
{
    s_out_discard(self, sub);
    fdy_acl_grant_destroy(&sub->read_grant);
    free(sub);
}

void
fdy_subs_destroy(fdy_subs_t **self_p)
{
    fdy_subs_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        s_sub_free(self, self->table[i]);
    for (size_t i = 0; i < self->ended_count; i++)
        s_sub_free(self, self->ended[i]);
    for (size_t i = 0; i < CONN_BUCKETS; i++)
        while (self->conns[i]) {
            conn_t *next = self->conns[i]->next;
            s_conn_free(self, self->conns[i]);
            self->conns[i] = next;
        }
    for (size_t i = 0; i < PRINCIPAL_BUCKETS; i++)
        while (self->principals[i]) {
            principal_count_t *next = self->principals[i]->next;
            free(self->principals[i]);
            self->principals[i] = next;
        }
    fdy_frames_close(&self->frames);
    free(self->paused);
    free(self->table);
    free(self->filling);
    free(self->ended);
    free(self);
    *self_p = NULL;
}

void
fdy_subs_add_owner(fdy_subs_t *self, bool durable, const fdy_sub_owner_ops_t *ops, void *owner)
{
    self->owners[durable] = (owner_t){.ops = ops, .owner = owner};
}

static const owner_t *
s_owner(const fdy_subs_t *self, const fdy_sub_t *sub)
{
    return &self->owners[sub->durable];
}

void
fdy_subs_stats(const fdy_subs_t *self, fdy_subs_stats_t *out)
{
    *out = self->stats;
    out->subscriptions = self->count;
}

/* ---- the table ------------------------------------------------------------ */

static conn_t **
s_conn_link(fdy_subs_t *self, const uint8_t *routing, size_t len)
{
    conn_t **at = &self->conns[s_hash(routing, len) % CONN_BUCKETS];
    while (*at && !((*at)->routing_len == len && memcmp((*at)->routing, routing, len) == 0))
        at = &(*at)->next;
    return at;
}

static principal_count_t **
s_principal_link(fdy_subs_t *self, const char *name)
{
    principal_count_t **at =
        &self->principals[s_hash((const uint8_t *) name, strlen(name)) % PRINCIPAL_BUCKETS];
    while (*at && strcmp((*at)->name, name) != 0)
        at = &(*at)->next;
    return at;
}

static size_t
s_principal_count(fdy_subs_t *self, const char *name)
{
    principal_count_t *pc = *s_principal_link(self, name);
    return pc ? pc->count : 0;
}

static fdy_sub_t *
s_by_id(const fdy_subs_t *self, uint32_t id)
{
    fdy_sub_t *sub = self->by_id[id % ID_BUCKETS];
    while (sub && sub->id != id)
        sub = sub->next_by_id;
    return sub;
}

/* The subscription `id` if it belongs to this connection and principal. */
static fdy_sub_t *
s_find(fdy_subs_t *self, uint64_t id, const uint8_t *routing, size_t routing_len,
       const char *principal)
{
    if (id == 0 || id > UINT32_MAX)
        return NULL;
    fdy_sub_t *sub = s_by_id(self, (uint32_t) id);
    if (!sub || sub->routing_len != routing_len ||
        memcmp(sub->routing, routing, routing_len) != 0 || strcmp(sub->principal, principal) != 0)
        return NULL;
    return sub;
}

static void
s_conn_free(fdy_subs_t *self, conn_t *conn)
{
    for (size_t i = 0; conn->paused && i < self->paused_count; i++)
        if (self->paused[i] == conn)
            s_unpause_at(self, i);
    fdy_send_queue_release(&conn->queue);
    free(conn);
}

static void
s_insert(fdy_subs_t *self, fdy_sub_t *sub, int64_t now_ms)
{
    self->table = fdy_xgrow(self->table, &self->cap, self->count + 1, sizeof *self->table);
    sub->index = self->count;
    self->table[self->count++] = sub;
    fdy_sub_t **id_head = &self->by_id[sub->id % ID_BUCKETS];
    sub->next_by_id = *id_head;
    *id_head = sub;
    conn_t **at = s_conn_link(self, sub->routing, sub->routing_len);
    if (!*at) {
        conn_t *conn = fdy_xalloc(sizeof *conn);
        memcpy(conn->routing, sub->routing, sub->routing_len);
        conn->routing_len = sub->routing_len;
        conn->last_seen_ms = now_ms;
        conn->queue = fdy_send_queue_new(self->limits.send_queue_bytes);
        *at = conn;
    }
    conn_t *conn = *at;
    conn->credit += sub->credit_msgs;
    sub->conn = conn;
    sub->conn_next = conn->subs;
    conn->subs = sub;
    conn->count++;
    principal_count_t **pat = s_principal_link(self, sub->principal);
    if (!*pat) {
        *pat = fdy_xalloc(sizeof **pat);
        snprintf((*pat)->name, sizeof (*pat)->name, "%s", sub->principal);
    }
    (*pat)->count++;
}

static void
s_remove(fdy_subs_t *self, fdy_sub_t *sub)
{
    if (sub->index < self->count && self->table[sub->index] == sub) {
        fdy_sub_t *last = self->table[--self->count];
        self->table[sub->index] = last;
        last->index = sub->index;
    }
    fdy_sub_t **link = &self->by_id[sub->id % ID_BUCKETS];
    while (*link && *link != sub)
        link = &(*link)->next_by_id;
    if (*link)
        *link = sub->next_by_id;
    conn_t *conn = sub->conn;
    if (conn) {
        conn->credit -= sub->credit_msgs <= conn->credit ? sub->credit_msgs : conn->credit;
        fdy_sub_t **in = &conn->subs;
        while (*in && *in != sub)
            in = &(*in)->conn_next;
        if (*in)
            *in = sub->conn_next;
        if (--conn->count == 0) {   /* its last subscription: the record goes */
            conn_t **at = s_conn_link(self, conn->routing, conn->routing_len);
            if (*at == conn)
                *at = conn->next;
            s_conn_free(self, conn);
        }
        sub->conn = NULL;
    }
    principal_count_t **pat = s_principal_link(self, sub->principal);
    if (*pat && --(*pat)->count == 0) {
        principal_count_t *gone = *pat;
        *pat = gone->next;
        free(gone);
    }
}

static uint32_t
s_next_id(fdy_subs_t *self)
{
    for (;;) {
        uint32_t id = self->next_id++;
        if (self->next_id == 0)
            self->next_id = 1;
        if (id != 0 && !s_by_id(self, id))
            return id;
    }
}

void
fdy_subs_touch(fdy_subs_t *self, const uint8_t *routing, size_t routing_len, int64_t now_ms)
{
    conn_t *conn = *s_conn_link(self, routing, routing_len);
    if (conn)
        conn->last_seen_ms = now_ms;
}

/* ---- replies -------------------------------------------------------------- */

static void
s_reply_error(fdy_subs_t *self, const uint8_t *routing, size_t routing_len, uint64_t request_id,
              uint64_t subscription, foundry_err code, const char *reason)
{
    fdy_peer_t to = {.id = routing, .len = routing_len};
    fdy_reply_error(self->reply, &to, request_id, subscription, code, reason);
}

static void
s_reply_subscribed(fdy_subs_t *self, const uint8_t *routing, size_t routing_len,
                   uint64_t request_id, uint64_t subscription)
{
    fdy_envelope_t env = {.version = FDY_PROTOCOL_VERSION,
                          .kind = FDY_KIND_SUBSCRIBED,
                          .request_id = request_id,
                          .subscription = subscription};
    fdy_peer_t to = {.id = routing, .len = routing_len};
    fdy_reply_send(self->reply, &to, &env);
}

/* ---- delivery frames -------------------------------------------------------- */

bool
fdy_subs_has_credit(const fdy_sub_t *sub)
{
    return sub->credit_msgs > 0 && (!sub->byte_limited || sub->credit_bytes > 0) &&
           !(sub->conn && sub->conn->paused && fdy_send_queue_full(sub->conn->queue));
}

/* ---- send queues -------------------------------------------------------------- */

/* conn's send queue is full: its deliveries wait until libzmq has passed
 * enough of it to the socket (fdy_subs_paused_wait looks). */
static void
s_pause(fdy_subs_t *self, conn_t *conn)
{
    self->paused = fdy_xgrow(self->paused, &self->paused_cap, self->paused_count + 1,
                             sizeof *self->paused);
    self->paused[self->paused_count++] = conn;
    conn->paused = true;
    self->stats.send_queue_pauses++;
}

static void
s_unpause_at(fdy_subs_t *self, size_t i)
{
    self->paused[i]->paused = false;
    self->paused[i] = self->paused[--self->paused_count];
}

int64_t
fdy_subs_paused_wait(fdy_subs_t *self)
{
    for (size_t i = 0; i < self->paused_count;) {
        if (fdy_send_queue_full(self->paused[i]->queue))
            i++;
        else
            s_unpause_at(self, i);
    }
    return self->paused_count ? SEND_QUEUE_POLL_MS : -1;
}

static void
s_flush_one(fdy_subs_t *self, fdy_sub_t *sub)
{
    if (sub->out_count == 0)
        return;
    fdy_envelope_t env = {.version = FDY_PROTOCOL_VERSION,
                          .kind = FDY_KIND_DELIVER,
                          .subscription = sub->id,
                          .count = sub->out_count,
                          .dropped = sub->durable ? 0 : sub->dropped};
    uint8_t *frame = sub->out;
    size_t len = sub->out_used;
    sub->out = NULL;
    sub->out_used = sub->out_cap = 0;
    sub->out_count = 0;
    self->stats.frames++;
    fdy_peer_t to = {.id = sub->routing, .len = sub->routing_len};
    fdy_send_queue_t *queue = sub->conn ? sub->conn->queue : NULL;
    zmq_free_fn *free_fn = NULL;
    void *hint = NULL;
    fdy_frames_hand_over(self->frames, frame, len, queue, &free_fn, &hint);
    fdy_reply_send_frame(self->reply, &to, &env, frame, len, free_fn, hint);
    if (queue && !sub->conn->paused && fdy_send_queue_full(queue))
        s_pause(self, sub->conn);
}

/* Appends d, of encoded size `size`: copied from record when given (d
 * encoded by the caller), else encoded into the frame. */
static void
s_put(fdy_subs_t *self, fdy_sub_t *sub, const fdy_delivery_t *d, const uint8_t *record, size_t size)
{
    size_t need = size + PREFIX_MAX;
    if (sub->out && sub->out_used + need > sub->out_cap)
        s_flush_one(self, sub);
    if (!sub->out) {
        /* One buffer per frame, handed to libzmq when sent: no copy and no
         * allocation per delivery. */
        sub->out = fdy_frames_take(self->frames, need, &sub->out_cap);
        if (!sub->filling) {
            self->filling = fdy_xgrow(self->filling, &self->filling_cap, self->filling_count + 1,
                                   sizeof *self->filling);
            self->filling[self->filling_count++] = sub;
            sub->filling = true;
        }
    }
    uint8_t *w = sub->out + sub->out_used;
    w += fdy_codec_batch_put_prefix(size, w);
    if (record) {
        memcpy(w, record, size);
        w += size;
    } else {
        w += fdy_codec_delivery_write(d, w);
    }
    sub->out_used = (size_t) (w - sub->out);
    sub->out_count++;
    sub->credit_msgs--;
    if (sub->conn && sub->conn->credit > 0)
        sub->conn->credit--;
    if (sub->byte_limited) {
        uint64_t bytes = d->message_len + d->ext_len;
        sub->credit_bytes = bytes < sub->credit_bytes ? sub->credit_bytes - bytes : 0;
    }
    self->stats.deliveries++;
    if (self->traffic)
        fdy_traffic_out(self->traffic, sub->site, 1, size);
    if (sub->out_used >= FDY_FRAME_TARGET || sub->out_count >= FDY_BATCH_MSGS_MAX)
        s_flush_one(self, sub);
}

void
fdy_subs_put(fdy_subs_t *self, fdy_sub_t *sub, const fdy_delivery_t *d)
{
    s_put(self, sub, d, NULL, fdy_codec_delivery_size(d));
}

/* Records up to this size are encoded once and copied: above it the copy
 * costs about what the encoding does (mostly copying the message). */
#define SHARED_MAX (16u * 1024u)

void
fdy_subs_put_shared(fdy_subs_t *self, fdy_sub_t *sub, const fdy_delivery_t *d,
                    fdy_subs_shared_t *shared)
{
    if (!shared->ready || shared->delivery_count != d->delivery_count) {
        size_t size = fdy_codec_delivery_size(d);
        if (size > SHARED_MAX) {
            s_put(self, sub, d, NULL, size);
            return;
        }
        shared->buf = fdy_xgrow(shared->buf, &shared->cap, size, 1);
        shared->len = fdy_codec_delivery_write(d, shared->buf);
        shared->delivery_count = d->delivery_count;
        shared->ready = true;
    }
    s_put(self, sub, d, shared->buf, shared->len);
}

void
fdy_subs_shared_free(fdy_subs_shared_t *shared)
{
    free(shared->buf);
    *shared = (fdy_subs_shared_t){0};
}

void
fdy_subs_flush(fdy_subs_t *self)
{
    for (size_t i = 0; i < self->filling_count; i++) {
        fdy_sub_t *sub = self->filling[i];
        sub->filling = false;
        s_flush_one(self, sub);
    }
    self->filling_count = 0;
}

void
fdy_subs_count_drop(fdy_subs_t *self, fdy_sub_t *sub)
{
    sub->dropped++;
    self->stats.dropped++;
}

/* ---- ending ------------------------------------------------------------------- */

/* Ends sub; tells its client with an ERROR when notify and code is not OK. */
static void
s_end(fdy_subs_t *self, fdy_sub_t *sub, foundry_err code, const char *reason, bool notify)
{
    if (sub->ended)
        return;
    if (notify && code != FOUNDRY_OK)
        s_reply_error(self, sub->routing, sub->routing_len, 0, sub->id, code, reason);
    const owner_t *owner = s_owner(self, sub);
    owner->ops->unbind(owner->owner, sub);
    s_remove(self, sub);
    if (sub->filling) {
        for (size_t i = 0; i < self->filling_count; i++) {
            if (self->filling[i] == sub) {
                self->filling[i] = self->filling[--self->filling_count];
                break;
            }
        }
        sub->filling = false;
    }
    /* Its unsent frame goes: durable deliveries in it are pending and come
     * again; a tail's are simply lost with the subscription. */
    s_out_discard(self, sub);
    sub->ended = true;
    self->ended = fdy_xgrow(self->ended, &self->ended_cap, self->ended_count + 1, sizeof *self->ended);
    self->ended[self->ended_count++] = sub;
    fdy_log_info("SUB-END", "subscription %" PRIu32 " of '%s' ended: %s", sub->id, sub->principal,
                 reason ? reason : "unsubscribed");
}

void
fdy_subs_end(fdy_subs_t *self, fdy_sub_t *sub, foundry_err code, const char *reason)
{
    s_end(self, sub, code, reason, true);
}

void
fdy_subs_peer_gone(fdy_subs_t *self, const uint8_t *routing, size_t routing_len)
{
    /* Ending unlinks the head of the list (and frees the record with the
     * last one), so look it up again each time. */
    for (;;) {
        conn_t *conn = *s_conn_link(self, routing, routing_len);
        if (!conn || !conn->subs)
            return;
        /* Nothing is sent: the routing id may belong to someone else now. */
        s_end(self, conn->subs, FOUNDRY_ECLOSED, "the connection closed", false);
    }
}

/* ---- requests ------------------------------------------------------------------ */

static void
s_subscribe(fdy_subs_t *self, const uint8_t *routing, size_t routing_len, const fdy_principal_t *p,
            const fdy_envelope_t *env, int64_t now_ms)
{
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (self->count >= SUBS_MAX) {
        s_reply_error(self, routing, routing_len, env->request_id, 0, FOUNDRY_EFULL,
                      "too many subscriptions on this broker");
        return;
    }
    const conn_t *conn = *s_conn_link(self, routing, routing_len);
    if (conn && conn->count >= self->limits.per_connection) {
        char text[128];
        snprintf(text, sizeof text, "subscription limit of %zu per connection reached "
                 "(max_subs_per_connection)", self->limits.per_connection);
        s_reply_error(self, routing, routing_len, env->request_id, 0, FOUNDRY_EFULL, text);
        return;
    }
    if (s_principal_count(self, p->name) >= self->limits.per_principal) {
        char text[160];
        snprintf(text, sizeof text, "subscription limit of %zu for '%.64s' reached "
                 "(max_subs_per_principal)", self->limits.per_principal, p->name);
        s_reply_error(self, routing, routing_len, env->request_id, 0, FOUNDRY_EFULL, text);
        return;
    }
    fdy_sub_t *sub = fdy_xalloc(sizeof *sub);
    sub->id = s_next_id(self);
    sub->durable = env->sub_stream != NULL;
    memcpy(sub->routing, routing, routing_len);
    sub->routing_len = routing_len;
    snprintf(sub->principal, sizeof sub->principal, "%s", p->name);
    /* The router added p's site to the set when it bound this connection. */
    sub->site = self->traffic ? fdy_labeled_values_find(self->traffic->values, p->site)
                              : FDY_LABELED_OTHER;
    /* What one connection may be owed at once is bounded too, whatever
     * it asks for: that bounds what the broker queues for a client that
     * stops reading. */
    uint64_t room = FDY_SUBS_CONN_CREDIT_MAX - (conn ? conn->credit : 0);
    uint64_t asked = env->credit_msgs < FDY_SUBS_CREDIT_MAX ? env->credit_msgs : FDY_SUBS_CREDIT_MAX;
    sub->credit_msgs = (uint32_t) (asked < room ? asked : room);
    sub->credit_bytes = env->credit_bytes;
    sub->byte_limited = env->credit_bytes > 0;
    if (!sub->durable)
        snprintf(sub->filter, sizeof sub->filter, "%s", env->sub_filter);
    const owner_t *owner = s_owner(self, sub);
    foundry_err err = owner->ops->bind(owner->owner, sub, p, env, &why);
    if (err != FOUNDRY_OK) {
        if (err == FOUNDRY_EDENIED || err == FOUNDRY_EAUTH)
            fdy_log_warn_limited("SUB-DENIED", "%s", why.text);
        else if (FDY_LOG_INFO <= fdy_log_threshold) /* peers can trigger it */
            fdy_log_limited(FDY_LOG_INFO, "SUB-REFUSED", "subscribe by '%s': %s", p->name,
                            why.text);
        s_reply_error(self, routing, routing_len, env->request_id, 0, err, why.text);
        s_sub_free(self, sub);
        return;
    }
    s_insert(self, sub, now_ms);
    if (sub->durable)
        fdy_log_info("SUB-START", "subscription %" PRIu32 ": '%s' bound to %s/%s, credit %" PRIu32,
                     sub->id, p->name, env->sub_stream, env->sub_consumer, sub->credit_msgs);
    else
        fdy_log_info("SUB-START", "subscription %" PRIu32 ": '%s' tails %s, credit %" PRIu32,
                     sub->id, p->name, sub->filter, sub->credit_msgs);
    s_reply_subscribed(self, routing, routing_len, env->request_id, sub->id);
}

void
fdy_subs_handle(fdy_subs_t *self, const uint8_t *routing, size_t routing_len,
                const fdy_principal_t *p, const fdy_envelope_t *env, int64_t now_ms)
{
    if (routing_len > FDY_SUBS_ROUTING_MAX)
        return; /* libzmq never makes one */
    if (env->kind == FDY_KIND_SUBSCRIBE) {
        s_subscribe(self, routing, routing_len, p, env, now_ms);
        return;
    }
    fdy_sub_t *sub = s_find(self, env->subscription, routing, routing_len, p->name);
    if (!sub) {
        char text[96];
        snprintf(text, sizeof text, "unknown subscription %" PRIu64, env->subscription);
        if (FDY_LOG_INFO <= fdy_log_threshold) /* peers can trigger it */
            fdy_log_limited(FDY_LOG_INFO, "SUB-REFUSED", "from '%s': %s", p->name, text);
        s_reply_error(self, routing, routing_len, env->request_id, env->subscription,
                      FOUNDRY_ENOTFOUND, text);
        return;
    }
    switch (env->kind) {
    case FDY_KIND_CREDIT: {
        uint64_t grant = env->credit_msgs;
        uint64_t room = sub->conn && sub->conn->credit < FDY_SUBS_CONN_CREDIT_MAX
                            ? FDY_SUBS_CONN_CREDIT_MAX - sub->conn->credit
                            : (sub->conn ? 0 : grant);
        if (grant > room)
            grant = room;
        if (grant > FDY_SUBS_CREDIT_MAX - sub->credit_msgs)
            grant = FDY_SUBS_CREDIT_MAX - sub->credit_msgs;
        sub->credit_msgs += (uint32_t) grant;
        if (sub->conn)
            sub->conn->credit += grant;
        if (sub->byte_limited)
            sub->credit_bytes = env->credit_bytes > UINT64_MAX - sub->credit_bytes
                                    ? UINT64_MAX
                                    : sub->credit_bytes + env->credit_bytes;
        return;
    }
    case FDY_KIND_ACK: {
        fdy_reason_t why;
        fdy_reason_clear(&why);
        const owner_t *owner = s_owner(self, sub);
        foundry_err err =
            owner->ops->ack ? owner->ops->ack(owner->owner, sub, env->ack_seqs, env->ack_seq_count,
                                              env->ack_floor, &why)
                            : fdy_reason_set(&why, FOUNDRY_EINVAL,
                                             "subscription %" PRIu32 " is ephemeral: it takes no acks",
                                             sub->id);
        if (err != FOUNDRY_OK) {
            if (FDY_LOG_INFO <= fdy_log_threshold) /* peers can trigger it */
                fdy_log_limited(FDY_LOG_INFO, "SUB-REFUSED", "ack from '%s': %s", p->name,
                                why.text);
            s_reply_error(self, routing, routing_len, env->request_id, sub->id, err, why.text);
        }
        return;
    }
    case FDY_KIND_UNSUBSCRIBE: {
        uint32_t id = sub->id;
        fdy_subs_end(self, sub, FOUNDRY_OK, NULL);
        s_reply_subscribed(self, routing, routing_len, env->request_id, id);
        return;
    }
    default: return;
    }
}

/* ---- maintenance ------------------------------------------------------------------ */

/* Ends sub if its principal may no longer have it. */
static void
s_recheck(fdy_subs_t *self, fdy_sub_t *sub)
{
    const fdy_principal_t *p = fdy_registry_by_name(self->registry, sub->principal);
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err;
    if (!p || p->revoked)
        err = fdy_reason_set(&why, FOUNDRY_EAUTH, "key '%s' %s", sub->principal,
                             p ? "was revoked" : "is gone");
    else {
        const owner_t *owner = s_owner(self, sub);
        err = owner->ops->recheck(owner->owner, sub, p, &why);
    }
    if (err == FOUNDRY_ENOTFOUND)
        err = FOUNDRY_ECLOSED;
    if (err != FOUNDRY_OK)
        fdy_subs_end(self, sub, err, why.text);
}

void
fdy_subs_recheck_stream(fdy_subs_t *self, uint32_t stream_id)
{
    for (size_t i = 0; i < self->count;) {
        fdy_sub_t *sub = self->table[i];
        if (sub->durable && sub->stream_id == stream_id)
            s_recheck(self, sub);
        if (i < self->count && self->table[i] == sub)
            i++;
    }
}

void
fdy_subs_maintain(fdy_subs_t *self, int64_t now_ms)
{
    if (now_ms >= self->next_maintain_ms) {
        self->next_maintain_ms = now_ms + MAINTAIN_EVERY_MS;
        uint64_t generation = fdy_registry_generation(self->registry);
        bool keys_changed = generation != self->key_generation;
        self->key_generation = generation;
        for (size_t i = 0; i < self->count;) {
            fdy_sub_t *sub = self->table[i];
            if (sub->conn && now_ms - sub->conn->last_seen_ms > FDY_SUBS_IDLE_MS)
                fdy_subs_end(self, sub, FOUNDRY_ECLOSED,
                             "no request from the client for 30 s: subscription dropped");
            else if (keys_changed)
                s_recheck(self, sub);
            if (i < self->count && self->table[i] == sub)
                i++;
        }
    }
    for (size_t i = 0; i < self->ended_count; i++)
        s_sub_free(self, self->ended[i]);
    self->ended_count = 0;
}
