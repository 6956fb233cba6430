/*  broker_config.h: the foundry-broker configuration: the parsed struct and
 *  the schema (one option table, the only place the broker's keys are
 *  spelled, its flag aliases and cross-checks). Not for parsing the command
 *  line (lib/daemon) nor for acting on the values (broker.c).
 */
#ifndef FDY_BROKER_CONFIG_H_INCLUDED
#define FDY_BROKER_CONFIG_H_INCLUDED

#include "config.h"

#include <stdint.h>

/* Parsed broker configuration. Immutable once built; strings are owned by
 * the struct (fdy_config_fini(&fdy_broker_config_schema, cfg)). */
typedef struct {
    char *listen;               /* client endpoint (CURVE always on) */
    char *data_dir;             /* LMDB store and the ready file */
    char *keys_dir;             /* broker.key and broker.key_secret */
    int log_level;              /* FDY_LOG_ERR .. FDY_LOG_DEBUG */
    uint64_t map_size;          /* initial LMDB map size, bytes */
    uint64_t map_size_max;      /* the map grows up to this */
    uint64_t dedupe_window_ms;  /* producer ids are remembered this long */
    uint64_t dedupe_index_max;  /* most ids in the in-memory dedupe index */
    uint64_t commit_max_msgs;   /* messages per group commit (soft: whole requests) */
    uint64_t commit_max_bytes;  /* request bytes per group commit (soft) */
    uint64_t max_payload;       /* largest payload, inline or in its own frame */
    uint64_t max_batch_bytes;   /* largest batch frame */
    uint64_t zmq_max_msg_size;  /* ZMQ_MAXMSGSIZE: bigger frames drop the connection */
    uint64_t rate_msgs_node;          /* publish limits per role; 0 = none */
    uint64_t rate_bytes_node;
    uint64_t rate_msgs_partner;
    uint64_t rate_bytes_partner;
    uint64_t rate_flood_factor;       /* refused x limit in a second: a flood; 0 = off */
    uint64_t rate_flood_backoff_ms;   /* handshakes refused this long after a flood */
    uint64_t handshake_timeout_ms;    /* ZMQ_HANDSHAKE_IVL: unauthenticated connections */
    uint64_t max_queued_requests;     /* ZMQ_RCVHWM: requests queued per connection */
    uint64_t max_subs_per_connection; /* subscriptions one connection may hold */
    uint64_t max_connections_per_principal; /* open connections one key may have */
    uint64_t io_threads;              /* libzmq I/O threads (CURVE, TCP) */
    uint64_t max_send_queue_bytes;    /* deliveries queued in libzmq per connection */
    uint64_t max_subs_per_principal;  /* subscriptions one key may hold in all */
    char *sites;                /* space-separated site ids: one telemetry stream each */
    uint64_t audit_max_age_ms;  /* audit log entries are kept this long */
    uint64_t audit_max_bytes;   /* and the audit log is kept below this size */
    char *check_store_at_start; /* "auto", "always" or "never" (start_check.h) */
    uint64_t max_job_payload;   /* largest job payload (ETOOBIG above) */
    uint64_t job_node_timeout_ms; /* a node silent this long is lost, its leases expire */
    char *release_key_file;     /* signs the model release log; "" = <data_dir>/release.sign */
    uint64_t max_model_size;    /* largest model artifact (ETOOBIG above) */
    uint64_t rollout_keep_ended_ms; /* an ended rollout is removed after this */
    uint64_t upload_gc_after_ms; /* an idle upload is dropped, its unused chunks deleted */
    char *metrics_listen;       /* HTTP HOST:PORT of the metrics service, or "off" */
    char *metrics_token;        /* "" or the token its pages require */
    int log_format;             /* FDY_LOG_FORMAT_TEXT or _JSON */
} fdy_broker_cfg_t;

/* The broker's config schema: options, flag aliases, and the checks that
 * span options (map_size <= map_size_max, payload and batch limits within
 * zmq_max_msg_size, listen/data_dir/keys_dir set, every id in sites valid
 * by fdy_site_validate()). Build a fdy_broker_cfg_t with fdy_config_init(),
 * fdy_config_finish() and fdy_config_fini() (config.h); main.c gets all of
 * it from fdy_daemon_main(). */
extern const fdy_config_schema_t fdy_broker_config_schema;

#endif
