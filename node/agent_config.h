/*  agent_config.h: the foundry-node configuration: one option table (the
 *  only place the node's keys are spelled), the flags that alias options,
 *  the parsed struct, and the checks that span options. Not for parsing
 *  the command line (main.c) nor for acting on the values (agent.c).
 */
#ifndef FDY_AGENT_CONFIG_H_INCLUDED
#define FDY_AGENT_CONFIG_H_INCLUDED

#include "config.h"
#include "daemon_args.h"
#include "outbox.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Parsed node configuration. Immutable once fdy_agent_config_finish()
 * returned; strings are owned by the struct (fdy_agent_config_free()). */
typedef struct {
    char *site;                  /* this node's site: subjects telemetry.<site>.<metric> */
    char *endpoint;              /* the broker's client endpoint */
    char *key;                   /* our key pair, NAME.key_secret (mode 0600) */
    char *broker_key;            /* the broker's public key file */
    char *data_dir;              /* the outbox, the ready file, the default ipc socket */
    char *listen;                /* local PULL endpoint; unset: ipc://<data_dir>/telemetry.sock */
    bool stdin_input;            /* also read text samples from stdin */
    int log_level;               /* FDY_LOG_ERR .. FDY_LOG_DEBUG */
    uint64_t outbox_max_entries; /* outbox bound, entries */
    uint64_t outbox_max_bytes;   /* outbox bound, entry bytes */
    char *outbox_policy;         /* "drop-oldest" or "drop-newest" */
    uint64_t batch_max_samples;  /* samples of one metric per message */
    uint64_t max_in_flight;      /* messages handed to the client and not yet acked */
    uint64_t connect_timeout_ms; /* CURVE handshake deadline per connection attempt */
    uint64_t retry_max_ms;       /* back-off cap between connection attempts and resends */
    uint64_t shutdown_flush_ms;  /* how long a stop waits for acks */
    uint64_t stats_interval_ms;  /* NODE-STATS line period; 0 = never */
    /* derived by fdy_agent_config_finish() */
    fdy_outbox_policy_t policy;
} fdy_agent_cfg_t;


/* The flags that alias options, and their count. Static. */
const fdy_flag_t *fdy_agent_config_flags(size_t *count_out);

/* The option table and its length. Static; never NULL. */
const fdy_option_t *fdy_agent_config_options(size_t *count_out);

/* Zeroes cfg and sets every option to its default. Returns FOUNDRY_OK, or
 * FOUNDRY_EINVAL / FOUNDRY_ENOMEM with reason (a bad default is a bug). */
foundry_err fdy_agent_config_init(fdy_agent_cfg_t *cfg, fdy_reason_t *reason);

/* Checks what spans options and fills the derived values: site set and one
 * subject token, a known outbox policy, listen defaulted from data_dir (and
 * an ipc path short enough for a socket address).
 * Returns FOUNDRY_OK, FOUNDRY_EINVAL with reason, or FOUNDRY_ENOMEM. */
foundry_err fdy_agent_config_finish(fdy_agent_cfg_t *cfg, fdy_reason_t *reason);

/* Prints every option with its default and help as a config file that
 * parses back to the defaults (--help-config, deploy/node.conf). */
void fdy_agent_config_print(FILE *out);

/* Frees the strings of cfg and zeroes it. */
void fdy_agent_config_free(fdy_agent_cfg_t *cfg);

#endif
