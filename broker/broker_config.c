/*  broker_config.c: the broker's option table and the checks that span
 *  options. The table drives the file parser, --set, --help-config and
 *  deploy/broker.conf; keys are spelled nowhere else. Flags live in main.c.
 */
#include "broker_config.h"

#include "codec.h"

#include <stddef.h>
#include <string.h>

#define KIB (1024ull)
#define MIB (1024ull * 1024ull)
#define GIB (1024ull * 1024ull * 1024ull)
/* "telemetry-" + site must fit a stream name. */
#define SITE_PREFIX "telemetry-"
#define SITE_MAX (FOUNDRY_STREAM_NAME_MAX - (sizeof SITE_PREFIX - 1))

static const fdy_option_t s_options[] = {
    { "listen", FDY_OPT_ENDPOINT, "tcp://127.0.0.1:7700", 0, 0, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, listen),
      "Client endpoint (ROUTER, CURVE always on); tcp://127.0.0.1:* picks a free port" },
    { "data_dir", FDY_OPT_PATH, "/var/lib/foundry", 0, 0, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, data_dir),
      "Data directory: the LMDB store and the ready file" },
    { "keys_dir", FDY_OPT_PATH, "/etc/foundry/keys", 0, 0, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, keys_dir),
      "Holds broker.key and broker.key_secret (generated, 0600, on first start)" },
    { "log_level", FDY_OPT_LOGLEVEL, "notice", 0, 0, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, log_level),
      "err, warn, notice, info or debug" },
    { "map_size", FDY_OPT_SIZE, "64MiB", 1 * MIB, 1024 * GIB, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, map_size),
      "Initial LMDB map size; doubled on demand up to map_size_max" },
    { "map_size_max", FDY_OPT_SIZE, "16GiB", 1 * MIB, 1024 * GIB, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, map_size_max),
      "Largest map size; beyond it publishes get EFULL while reads keep working" },
    { "dedupe_window", FDY_OPT_DURATION, "2m", 1000, 7ull * 24 * 3600 * 1000, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, dedupe_window_ms),
      "How long producer message ids are remembered to drop resends" },
    { "commit_max_msgs", FDY_OPT_UINT, "8192", 1, 65536, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, commit_max_msgs),
      "Messages per group commit (one transaction, one fsync); whole requests" },
    { "commit_max_bytes", FDY_OPT_SIZE, "8MiB", 64 * KIB, 1 * GIB, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, commit_max_bytes),
      "Request bytes per group commit; whole requests" },
    { "max_payload", FDY_OPT_SIZE, "1MiB", 1, FDY_PAYLOAD_MAX, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, max_payload),
      "Largest message payload, inline or in its own frame (ETOOBIG above)" },
    { "max_batch_bytes", FDY_OPT_SIZE, "8MiB", 1 * KIB, FDY_BATCH_FRAME_MAX, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, max_batch_bytes),
      "Largest batch frame of a publish request (ETOOBIG above)" },
    { "zmq_max_msg_size", FDY_OPT_SIZE, "16MiB", 64 * KIB, 1 * GIB, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, zmq_max_msg_size),
      "ZMQ_MAXMSGSIZE: a bigger frame drops the connection without a reply" },
    { "sites", FDY_OPT_STRING, "siheung bucheon uijeongbu hanam pangyo seongnam-lab", 0, 0,
      FDY_OPT_RESTART, offsetof(fdy_broker_cfg_t, sites),
      "Site ids; stream telemetry-<site> captures telemetry.<site>.> (created if missing)" },
};

#define OPTION_COUNT (sizeof s_options / sizeof s_options[0])

static const fdy_flag_t s_flags[] = {
    {"--data-dir", "DIR", "data_dir"},
    {"--bind", "ENDPOINT", "listen"},
    {"--keys", "DIR", "keys_dir"},
    {"--log-level", "LEVEL", "log_level"},
};

const fdy_flag_t *
fdy_broker_config_flags(size_t *count_out)
{
    *count_out = sizeof s_flags / sizeof s_flags[0];
    return s_flags;
}

const fdy_option_t *
fdy_broker_config_options(size_t *count_out)
{
    *count_out = OPTION_COUNT;
    return s_options;
}

foundry_err
fdy_broker_config_init(fdy_broker_cfg_t *cfg, fdy_reason_t *reason)
{
    memset(cfg, 0, sizeof *cfg);
    return fdy_config_defaults(s_options, OPTION_COUNT, cfg, reason);
}

static bool
s_site_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
           || c == '-';
}

/* A site id becomes a subject token and part of a stream name, so it needs
 * the intersection of both grammars. */
static foundry_err
s_check_sites(const char *sites, fdy_reason_t *reason)
{
    const char *cursor = sites;
    while (*cursor) {
        while (*cursor == ' ' || *cursor == '\t')
            cursor++;
        const char *start = cursor;
        bool ok = true;
        while (*cursor && *cursor != ' ' && *cursor != '\t')
            ok = s_site_char_ok(*cursor++) && ok;
        if (!ok)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "option 'sites': site '%.*s' may only use A-Z a-z 0-9 _ -",
                                  (int) (cursor - start), start);
        if ((size_t) (cursor - start) > SITE_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "option 'sites': site '%.*s' is longer than %zu bytes",
                                  (int) (cursor - start), start, (size_t) SITE_MAX);
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_broker_config_validate(const fdy_broker_cfg_t *cfg, fdy_reason_t *reason)
{
    if (cfg->map_size > cfg->map_size_max)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "option 'map_size' (%llu) is larger than 'map_size_max' (%llu)",
                              (unsigned long long) cfg->map_size,
                              (unsigned long long) cfg->map_size_max);
    if (cfg->max_payload > cfg->zmq_max_msg_size)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "option 'max_payload' is larger than 'zmq_max_msg_size'");
    if (cfg->max_batch_bytes > cfg->zmq_max_msg_size)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "option 'max_batch_bytes' is larger than 'zmq_max_msg_size'");
    if (!cfg->listen || !*cfg->listen)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "option 'listen' is empty");
    if (!cfg->data_dir || !*cfg->data_dir)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "option 'data_dir' is empty");
    if (!cfg->keys_dir || !*cfg->keys_dir)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "option 'keys_dir' is empty");
    return s_check_sites(cfg->sites ? cfg->sites : "", reason);
}

void
fdy_broker_config_print(FILE *out)
{
    fdy_config_print(s_options, OPTION_COUNT, out);
}

void
fdy_broker_config_free(fdy_broker_cfg_t *cfg)
{
    fdy_config_free(s_options, OPTION_COUNT, cfg);
    memset(cfg, 0, sizeof *cfg);
}
