/*  broker_config.h: the foundry-broker configuration: one option table (the
 *  only place the broker's keys are spelled), the parsed struct, and the
 *  checks that span several options. Not for flags parsing (main.c) nor for
 *  acting on the values (broker.c).
 */
#ifndef FDY_BROKER_CONFIG_H_INCLUDED
#define FDY_BROKER_CONFIG_H_INCLUDED

#include "config.h"
#include "daemon_args.h"

#include <stdint.h>
#include <stdio.h>

/* Parsed broker configuration. Immutable once built; strings are owned by
 * the struct (fdy_broker_config_free()). */
typedef struct {
    char *listen;               /* client endpoint (CURVE always on) */
    char *data_dir;             /* LMDB store and the ready file */
    char *keys_dir;             /* broker.key and broker.key_secret */
    int log_level;              /* FDY_LOG_ERR .. FDY_LOG_DEBUG */
    uint64_t map_size;          /* initial LMDB map size, bytes */
    uint64_t map_size_max;      /* the map grows up to this */
    uint64_t dedupe_window_ms;  /* producer ids are remembered this long */
    uint64_t commit_max_msgs;   /* messages per group commit (soft: whole requests) */
    uint64_t commit_max_bytes;  /* request bytes per group commit (soft) */
    uint64_t max_payload;       /* largest payload, inline or in its own frame */
    uint64_t max_batch_bytes;   /* largest batch frame */
    uint64_t zmq_max_msg_size;  /* ZMQ_MAXMSGSIZE: bigger frames drop the connection */
    char *sites;                /* space-separated site ids: one telemetry stream each */
} fdy_broker_cfg_t;


/* The flags that alias options, and their count. Static. */
const fdy_flag_t *fdy_broker_config_flags(size_t *count_out);

/* The option table and its length. Static; never NULL. */
const fdy_option_t *fdy_broker_config_options(size_t *count_out);

/* Zeroes cfg and sets every option to its default. Returns FOUNDRY_OK, or
 * FOUNDRY_EINVAL / FOUNDRY_ENOMEM with reason (a bad default is a bug). */
foundry_err fdy_broker_config_init(fdy_broker_cfg_t *cfg, fdy_reason_t *reason);

/* Checks what spans options: map_size <= map_size_max, payload and batch
 * limits within the frame limit and the codec's, site ids usable as stream
 * names. Returns FOUNDRY_OK or FOUNDRY_EINVAL with reason. */
foundry_err fdy_broker_config_validate(const fdy_broker_cfg_t *cfg, fdy_reason_t *reason);

/* Prints every option with its default and help as a config file that
 * parses back to the defaults (--help-config, deploy/broker.conf). */
void fdy_broker_config_print(FILE *out);

/* Frees the strings of cfg and zeroes it. */
void fdy_broker_config_free(fdy_broker_cfg_t *cfg);

#endif
