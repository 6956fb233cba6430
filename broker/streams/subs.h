/*  subs.h: the subscriptions of one broker process (durable bindings and
 *  ephemeral tails): their ids, the connection (routing id) and principal
 *  each belongs to, credit, liveness, and the DELIVER frame each is filling.
 *  The SUBSCRIBE / CREDIT / ACK / UNSUBSCRIBE requests arrive here and are
 *  passed to consumers.c (durable) or tail.c (ephemeral); what to deliver
 *  is decided there, how it is framed and sent is decided here.
 */
#ifndef FDY_SUBS_H_INCLUDED
#define FDY_SUBS_H_INCLUDED

#include "codec.h"
#include "labeled.h"
#include "registry.h"
#include "reply.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>

/* A routing id is at most 255 bytes (libzmq). */
#define FDY_SUBS_ROUTING_MAX 255
/* A subscription whose connection sent nothing for this long is ended. */
#define FDY_SUBS_IDLE_MS 30000
/* Most credit a subscription may hold at once, in messages: bounds what a
 * client that grants without reading can make us queue. */
#define FDY_SUBS_CREDIT_MAX 65536u
/* Most message credit all subscriptions of one connection hold together:
 * bounds the deliveries queued for a connection that stops reading. */
#define FDY_SUBS_CONN_CREDIT_MAX 131072u

typedef struct fdy_consumer_rt fdy_consumer_rt_t;
typedef struct fdy_acl_grant fdy_acl_grant_t;

/* One subscription. Fields are shared with consumers.c and tail.c, which
 * read and update credit and the consumer link; only subs.c creates,
 * frames and frees them. */
typedef struct fdy_sub {
    uint32_t id;
    bool durable;
    bool ended; /* removed from the table; freed at the turn's end */
    uint8_t routing[FDY_SUBS_ROUTING_MAX];
    size_t routing_len;
    char principal[FDY_NAME_MAX];
    uint32_t site;                  /* its principal's, in the traffic table's site set */
    struct fdy_subs_conn *conn;     /* its connection's record (liveness, cap) */
    struct fdy_sub *conn_next;      /* the connection's list */
    struct fdy_sub *next_by_id;     /* id hash chain */
    size_t index;                   /* in the table's dense array */
    size_t owner_index;             /* for its owner's own list (tail.c) */
    /* credit */
    uint32_t credit_msgs;
    uint64_t credit_bytes;
    bool byte_limited;
    /* ephemeral */
    char filter[FOUNDRY_SUBJECT_MAX + 1];
    uint64_t dropped;
    /* durable: the consumer it is bound to (consumers.c), and its stream */
    fdy_consumer_rt_t *consumer;
    uint32_t stream_id;
    /* what its principal may read (NULL: everything), checked against each
     * stored message's subject; freed with the subscription */
    fdy_acl_grant_t *read_grant;
    /* the DELIVER frame being filled */
    uint8_t *out;
    size_t out_used;
    size_t out_cap;
    uint32_t out_count;
    bool filling;                   /* on the list of frames to flush */
} fdy_sub_t;

typedef struct fdy_subs fdy_subs_t;

typedef struct {
    uint64_t subscriptions; /* live now */
    uint64_t deliveries;    /* records sent since start */
    uint64_t frames;        /* DELIVER frames sent since start */
    uint64_t dropped;       /* ephemeral messages dropped for lack of credit */
    uint64_t send_queue_pauses; /* times a connection's send queue filled */
} fdy_subs_stats_t;

/* What a subscription is bound to: the owner decides what to deliver
 * (durable consumers, the ephemeral tail; later job offers, model chunks),
 * the table frames it, counts credit and watches liveness. */
typedef struct {
    /* A SUBSCRIBE from p (borrowed for the call): bind sub or refuse with
     * reason (the table answers ERROR and frees sub). */
    foundry_err (*bind)(void *owner, fdy_sub_t *sub, const fdy_principal_t *p,
                        const fdy_envelope_t *env, fdy_reason_t *reason);
    /* sub ends (unsubscribe, broker side, connection gone). */
    void (*unbind)(void *owner, fdy_sub_t *sub);
    /* An ACK; NULL: the subscription takes no acks (EINVAL). */
    foundry_err (*ack)(void *owner, fdy_sub_t *sub, const uint64_t *seqs, size_t count,
                       uint64_t floor, fdy_reason_t *reason);
    /* After the key store changed: may p (borrowed) still have sub? */
    foundry_err (*recheck)(void *owner, fdy_sub_t *sub, const fdy_principal_t *p,
                           fdy_reason_t *reason);
} fdy_sub_owner_ops_t;

/* Caps that bound what one client can make the table hold. */
typedef struct {
    size_t per_connection; /* max_subs_per_connection */
    size_t per_principal;  /* max_subs_per_principal, over all its connections */
    uint64_t send_queue_bytes; /* max_send_queue_bytes: deliveries queued per connection */
} fdy_subs_limits_t;

/* Returns a new table sending through reply, using store and registry (all
 * borrowed; they outlive it), with limits (copied). Owners are added with
 * fdy_subs_add_owner() before the first request. Adding, finding and
 * ending a subscription, and refreshing a connection's liveness, are O(1).
 * Aborts on out-of-memory. Caller owns; fdy_subs_destroy(). */
fdy_subs_t *fdy_subs_new(fdy_reply_t *reply, fdy_store_t *store, fdy_registry_t *registry,
                         const fdy_subs_limits_t *limits);
void fdy_subs_destroy(fdy_subs_t **self_p);

/* Counts every delivery in traffic (borrowed, outlives the table; see
 * broker/metrics/traffic.h) from now on. */
void fdy_subs_count_traffic(fdy_subs_t *self, fdy_labeled_t *traffic);

/* The owner of durable (SUBSCRIBE with a stream) or ephemeral
 * subscriptions. ops and owner are borrowed and outlive the table. */
void fdy_subs_add_owner(fdy_subs_t *self, bool durable, const fdy_sub_owner_ops_t *ops,
                        void *owner);

/* Notes that the connection behind routing sent something (any request):
 * keeps its subscriptions alive. Cheap: called for every request. */
void fdy_subs_touch(fdy_subs_t *self, const uint8_t *routing, size_t routing_len, int64_t now_ms);

/* Handles a SUBSCRIBE, CREDIT, ACK or UNSUBSCRIBE from principal p (borrowed
 * for the call) over routing, replying on the socket (SUBSCRIBED or ERROR;
 * nothing for a successful CREDIT or ACK). Never fails: refusals are
 * replies. */
void fdy_subs_handle(fdy_subs_t *self, const uint8_t *routing, size_t routing_len,
                     const fdy_principal_t *p, const fdy_envelope_t *env, int64_t now_ms);

/* True when sub may be sent one more message: credit left, and its
 * connection's send queue not full. */
bool fdy_subs_has_credit(const fdy_sub_t *sub);

/* Looks at the connections whose send queue was full: those libzmq has
 * drained may be delivered to again. Returns in how many ms to look again
 * (-1: none is full). */
int64_t fdy_subs_paused_wait(fdy_subs_t *self);

/* Appends one delivery to sub's DELIVER frame, using its credit; sends the
 * frame when it is full. No allocation per delivery. */
void fdy_subs_put(fdy_subs_t *self, fdy_sub_t *sub, const fdy_delivery_t *d);

/* One record sent to several subscriptions (the consumers of a stream, its
 * tails), encoded once and copied into each frame. The caller owns it:
 * zero it, clear `ready` before each record, free it with
 * fdy_subs_shared_free(). */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    uint32_t delivery_count; /* what buf was encoded with */
    bool ready;              /* buf holds the current record */
} fdy_subs_shared_t;

/* fdy_subs_put() of d, encoded into shared on its first use for this
 * record (again if its delivery_count differs); a large record is encoded
 * into the frame directly. Results identical to fdy_subs_put(). */
void fdy_subs_put_shared(fdy_subs_t *self, fdy_sub_t *sub, const fdy_delivery_t *d,
                         fdy_subs_shared_t *shared);
void fdy_subs_shared_free(fdy_subs_shared_t *shared);

/* Sends every partly filled DELIVER frame. */
void fdy_subs_flush(fdy_subs_t *self);

/* Ends a subscription from the broker's side: tells the client with an
 * ERROR {request_id 0, subscription, code, reason}, unbinds it and frees it
 * at the end of the turn. */
void fdy_subs_end(fdy_subs_t *self, fdy_sub_t *sub, foundry_err code, const char *reason);

/* The connection behind routing closed, or the routing id now belongs to
 * another connection or principal: ends its subscriptions without sending
 * anything (durable deliveries in flight go back to the consumer at once,
 * for the other members of its queue group). */
void fdy_subs_peer_gone(fdy_subs_t *self, const uint8_t *routing, size_t routing_len);

/* Periodic work: ends subscriptions idle for FDY_SUBS_IDLE_MS, and after
 * the key store changed, those whose principal was revoked or may no
 * longer read them. Frees ended subscriptions. */
void fdy_subs_maintain(fdy_subs_t *self, int64_t now_ms);

/* Re-checks the read ACL of every durable binding of stream_id (after its
 * filters changed); ends those no longer allowed. */
void fdy_subs_recheck_stream(fdy_subs_t *self, uint32_t stream_id);

void fdy_subs_stats(const fdy_subs_t *self, fdy_subs_stats_t *out);
/* Counts a message dropped for an ephemeral sub without credit. */
void fdy_subs_count_drop(fdy_subs_t *self, fdy_sub_t *sub);

#endif
