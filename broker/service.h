/*  service.h: everything the broker's loop and router know about a kind of
 *  work. Streams, admin and (next) jobs, models, metrics and links are each
 *  a folder that implements fdy_service_ops_t; broker.c holds the one table
 *  of them. A loop turn: poll -> router drains requests into handle() ->
 *  every service's collect() adds parts to ONE write transaction -> it
 *  commits (one fsync) -> committed() sends acks -> run() -> tick().
 *  How to add a service: docs/architecture.md, "Adding a service".
 */
#ifndef FDY_SERVICE_H_INCLUDED
#define FDY_SERVICE_H_INCLUDED

#include "admin_table.h"
#include "broker_config.h"
#include "codec.h"
#include "labeled.h"
#include "registry.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

typedef struct fdy_commit fdy_commit_t; /* broker/store/commit.h */
typedef struct fdy_reply fdy_reply_t;   /* broker/net/reply.h */
typedef struct fdy_peers fdy_peers_t;   /* broker/net/peers.h */
typedef struct fdy_refusals fdy_refusals_t; /* broker/net/refusals.h */

/* A connection, as the ROUTER names it. id is borrowed (see fdy_request_t
 * for how long); copy it to keep it. */
typedef struct {
    const uint8_t *id;
    size_t len;
} fdy_peer_t;

typedef struct fdy_service_ops fdy_service_ops_t;

/* A running service: its ops and its instance. */
typedef struct {
    const fdy_service_ops_t *ops;
    void *self;
} fdy_service_t;

/* What a service may use; all borrowed and outliving every service. */
typedef struct {
    const fdy_broker_cfg_t *cfg;
    fdy_store_t *store;
    fdy_registry_t *registry;
    fdy_reply_t *reply;            /* the only way to a peer */
    fdy_peers_t *peers;
    fdy_refusals_t *refusals;      /* refused authentications for the audit log */
    const fdy_service_t *services; /* those created before this one (admin is last) */
    size_t service_count;
} fdy_service_deps_t;

/* One decoded, authenticated request. Everything is borrowed: during
 * handle() only, except for a service with holds_frames, whose peer id and
 * frames stay valid until its committed() has returned. */
typedef struct {
    const fdy_principal_t *who; /* from the ZAP User-Id; valid during handle() only */
    fdy_peer_t peer;
    const fdy_envelope_t *env;  /* decoded and validated; during handle() only */
    fdy_slice_t envelope;       /* the raw envelope frame, to decode again and keep */
    const fdy_slice_t *frames;  /* frames[0] the envelope, then the frames after it */
    size_t frame_count;
    int64_t now_ms;
    uint32_t site;              /* who's site as an index into fdy_peers_sites(), resolved
                                   once per connection: the traffic metrics' site label */
} fdy_request_t;

/* A named counter for status (and, later, the metrics endpoint). name is a
 * static string; counters of the same name from several services add up. */
typedef struct {
    const char *name;
    uint64_t value;
} fdy_stat_t;

#define FDY_STATS_MAX 64
#define FDY_STATS_TABLES_MAX 16
typedef struct {
    fdy_stat_t items[FDY_STATS_MAX];
    size_t count;
    /* Labeled families (metrics endpoint only): borrowed, valid until the
     * service's next turn. Families of the same name from several services
     * are rendered as one. */
    const fdy_labeled_t *tables[FDY_STATS_TABLES_MAX];
    size_t table_count;
} fdy_stats_t;

/* Appends one counter; past FDY_STATS_MAX it is dropped (a programmer
 * error caught by the admin unit test). */
void fdy_stats_add(fdy_stats_t *self, const char *name, uint64_t value);
/* Appends a table of labeled counters (borrowed, see above); past
 * FDY_STATS_TABLES_MAX it is dropped. */
void fdy_stats_add_table(fdy_stats_t *self, const fdy_labeled_t *table);

struct fdy_service_ops {
    const char *name;                    /* "streams", "admin", later "jobs", "models" */
    const fdy_kind_t *kinds;             /* request kinds it serves */
    size_t kind_count;
    const char *const *admin_prefixes;   /* "stream.", "consumer."; NULL-terminated; may be NULL */
    bool holds_frames;                   /* keeps request frames until committed() */

    /* deps is borrowed and outlives the service. Returns FOUNDRY_OK and
     * *self_out, or an error with reason (start-up fails with it). */
    foundry_err (*create)(const fdy_service_deps_t *deps, void **self_out, fdy_reason_t *reason);
    /* Saves what must survive a restart, frees everything; NULLs *self_p. */
    void (*destroy)(void **self_p);

    /* One request. FOUNDRY_OK: answered, or parked until committed() or
     * run(). Otherwise the router answers ERROR with the code and reason.
     * Never blocks. */
    foundry_err (*handle)(void *self, const fdy_request_t *req, fdy_reason_t *reason);
    /* True: stop draining and commit now. May be NULL. */
    bool (*turn_full)(const void *self);

    /* The turn's one transaction: add parts (may add none). Then, after it
     * ran (or was skipped when empty), act on the result: acks leave here.
     * Both may be NULL. */
    void (*collect)(void *self, fdy_commit_t *commit, int64_t now_ms);
    void (*committed)(void *self, const fdy_commit_t *commit, int64_t now_ms);

    /* After the acks: deliveries, offers, parked admin commands. Returns
     * true when more could be done at once (the loop polls without waiting).
     * May be NULL. */
    bool (*run)(void *self, int64_t now_ms);
    /* Bounded upkeep. Returns the ms until it is next due (the poll timeout).
     * May be NULL. */
    int64_t (*tick)(void *self, int64_t now_ms);
    /* Every authenticated request's connection and principal (borrowed for
     * the call), before it is dispatched: keeps per-connection state alive.
     * May be NULL; a service with one is registered with fdy_router_watch(). */
    void (*peer_seen)(void *self, const fdy_peer_t *peer, const fdy_principal_t *who,
                      int64_t now_ms);
    /* The connection went away. May be NULL. */
    void (*peer_gone)(void *self, const fdy_peer_t *peer);

    /* An admin command whose name starts with one of admin_prefixes.
     * May be NULL. Errors as fdy_admin_dispatch(). */
    foundry_err (*admin)(void *self, const fdy_admin_call_t *call, fdy_admin_table_t *out,
                         fdy_reason_t *reason);
    /* Appends its counters. May be NULL. */
    void (*stats)(const void *self, fdy_stats_t *out);

    /* Sockets or fds of its own (link DEALERs, metrics wake-up). Fills at
     * most max items and returns how many; ready() is called for each that
     * polled ready. Both may be NULL. */
    size_t (*pollers)(void *self, zmq_pollitem_t *items, size_t max);
    void (*ready)(void *self, const zmq_pollitem_t *item, int64_t now_ms);
};

extern const fdy_service_ops_t fdy_streams_service; /* broker/streams/streams.c */
extern const fdy_service_ops_t fdy_audit_service;   /* broker/audit/audit.c */
extern const fdy_service_ops_t fdy_jobs_service;    /* broker/jobs/jobs.c */
extern const fdy_service_ops_t fdy_models_service;  /* broker/models/models.c */
extern const fdy_service_ops_t fdy_rollouts_service; /* broker/rollouts/rollouts.c */
extern const fdy_service_ops_t fdy_metrics_service; /* broker/metrics/metrics.c */
extern const fdy_service_ops_t fdy_admin_service;   /* broker/admin/admin.c */

#endif
