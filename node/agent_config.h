/*  agent_config.h: the foundry-node configuration: the parsed struct and
 *  the schema (one option table, the only place the node's keys are
 *  spelled, its flag aliases and cross-checks). Not for parsing the command
 *  line (lib/daemon) nor for acting on the values (agent.c).
 */
#ifndef FDY_AGENT_CONFIG_H_INCLUDED
#define FDY_AGENT_CONFIG_H_INCLUDED

#include "config.h"
#include "outbox.h"

#include <stdbool.h>
#include <stdint.h>

/* Parsed node configuration. Immutable once fdy_config_finish() returned;
 * strings are owned by the struct (fdy_config_fini(&fdy_agent_config_schema,
 * cfg)). */
typedef struct {
    char *site;                  /* this node's site: subjects telemetry.<site>.<metric> */
    char *endpoint;              /* the broker's client endpoint */
    char *key;                   /* our key pair, NAME.key_secret (mode 0600) */
    char *broker_key;            /* the broker's public key file */
    char *data_dir;              /* the outbox, the ready file, the default ipc socket */
    char *listen;                /* local PULL endpoint; unset: ipc://<data_dir>/telemetry.sock */
    bool stdin_input;            /* also read text samples from stdin */
    int log_level;               /* FDY_LOG_ERR .. FDY_LOG_DEBUG */
    int log_format;              /* FDY_LOG_FORMAT_TEXT or _JSON */
    uint64_t outbox_max_entries; /* outbox bound, entries */
    uint64_t outbox_max_bytes;   /* outbox bound, entry bytes */
    char *outbox_policy;         /* "drop-oldest" or "drop-newest" */
    uint64_t batch_max_samples;  /* samples of one metric per message */
    uint64_t max_in_flight;      /* messages handed to the client and not yet acked */
    uint64_t connect_timeout_ms; /* CURVE handshake deadline per connection attempt */
    uint64_t retry_max_ms;       /* back-off cap between connection attempts and resends */
    uint64_t shutdown_flush_ms;  /* how long a stop waits for acks */
    uint64_t stats_interval_ms;  /* NODE-STATS line period; 0 = never */
    char *metrics_listen;        /* HTTP HOST:PORT of /metrics, or "off" */
    char *metrics_token;         /* "" or the token /metrics requires */
    char *jobs;                  /* job handlers file (job_config.h); unset: takes no jobs */
    char *job_labels;            /* space-separated key=value labels it advertises */
    uint64_t job_heartbeat_ms;   /* lease heartbeat period */
    char *models_dir;            /* installed models, downloads; unset: <data_dir>/models */
    char *model_trust_file;      /* trust policies (model_sign.h format); unset: refuse all */
    char *model_release_key;     /* the broker's release key, hex or file; unset: refuse all */
    char *model_interlock;       /* argv: exit 0 = safe to switch; unset: always safe */
    uint64_t model_interlock_interval_ms; /* re-check period while the interlock says no */
    char *model_health;          /* argv: exit 0 = healthy; unset: healthy once installed */
    uint64_t model_fetch_window; /* FETCH requests in flight per download */
    /* derived by fdy_config_finish() */
    fdy_outbox_policy_t policy;
} fdy_agent_cfg_t;

/* The node's config schema: options, flag aliases, and the checks that
 * span options, which also fill the derived values: site set and valid by
 * fdy_site_validate(), a known outbox policy (-> policy), listen defaulted
 * from data_dir (and an ipc path short enough for a socket address),
 * models_dir defaulted to <data_dir>/models. Build
 * a fdy_agent_cfg_t with fdy_config_init(), fdy_config_finish() and
 * fdy_config_fini() (config.h); main.c gets all of it from
 * fdy_daemon_main(). */
extern const fdy_config_schema_t fdy_agent_config_schema;

#endif
