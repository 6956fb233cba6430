/*  broker_config.c: the broker's config schema: its option table, the flags
 *  that alias options, and the checks that span options. The table drives
 *  the file parser, --set, --help-config and deploy/broker.conf; keys are
 *  spelled nowhere else. Acting on the values is broker.c's job.
 */
#include "broker_config.h"

#include "codec.h"
#include "subject.h"
#include "xalloc.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define KIB (1024ull)
#define MIB (1024ull * 1024ull)
#define GIB (1024ull * 1024ull * 1024ull)

static const fdy_option_t s_options[] = {
    { "listen", FDY_OPT_ENDPOINT, "tcp://127.0.0.1:7700", 0, 0, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, listen),
      "Client endpoint (ROUTER, CURVE always on); tcp://127.0.0.1:* picks a free port" },
    { "data_dir", FDY_OPT_PATH, "/var/lib/foundry", 0, 0, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, data_dir),
      "Data directory: the LMDB store and the ready file" },
    { "keys_dir", FDY_OPT_PATH, "/etc/foundry/keys", 0, 0, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, keys_dir),
      "Holds broker.key (0644) and broker.key_secret (0600), generated on first start" },
    { "log_level", FDY_OPT_LOGLEVEL, "notice", 0, 0, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, log_level),
      "err, warn, notice, info or debug" },
    { "log_format", FDY_OPT_LOGFORMAT, "text", 0, 0, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, log_format),
      "text (time level id message key=value) or json (one object per line)" },
    { "map_size", FDY_OPT_SIZE, "64MiB", 1 * MIB, 1024 * GIB, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, map_size),
      "Initial LMDB map size; doubled on demand up to map_size_max" },
    { "map_size_max", FDY_OPT_SIZE, "16GiB", 1 * MIB, 1024 * GIB, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, map_size_max),
      "Largest map size; beyond it publishes get EFULL while reads keep working" },
    { "dedupe_window", FDY_OPT_DURATION, "2m", 1000, 7ull * 24 * 3600 * 1000, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, dedupe_window_ms),
      "How long producer message ids are remembered to drop resends" },
    { "dedupe_index_max", FDY_OPT_UINT, "40000000", 1000, 1000000000, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, dedupe_index_max),
      "Most ids in the in-memory dedupe index (~32 bytes each); publishes get EFULL beyond" },
    { "commit_max_msgs", FDY_OPT_UINT, "8192", 1, 65536, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, commit_max_msgs),
      "Messages per group commit (one transaction, one fsync); whole requests" },
    { "commit_max_bytes", FDY_OPT_SIZE, "8MiB", 64 * KIB, 1 * GIB, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, commit_max_bytes),
      "Request bytes per group commit; whole requests" },
    { "max_payload", FDY_OPT_SIZE, "1MiB", 1, FDY_PAYLOAD_MAX, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, max_payload),
      "Largest message payload, inline or in its own frame (ETOOBIG above)" },
    { "max_job_payload", FDY_OPT_SIZE, "1MiB", 0, 8 * MIB, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, max_job_payload),
      "Largest job payload (ETOOBIG above)" },
    { "job_node_timeout_ms", FDY_OPT_UINT, "6000", 500, 3600000, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, job_node_timeout_ms),
      "A node agent silent this long is lost: its leases expire and its jobs are retried" },
    { "release_key_file", FDY_OPT_STRING, "", 0, 0, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, release_key_file),
      "Ed25519 key that signs the model release log; empty: <data_dir>/release.sign, "
      "created (0600) at the first start" },
    { "max_model_size", FDY_OPT_SIZE, "64GiB", 64 * KIB, 16384 * GIB, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, max_model_size),
      "Largest model artifact an UPLOAD_BEGIN may announce (ETOOBIG above)" },
    { "upload_gc_after", FDY_OPT_DURATION, "24h", 1000, 365ull * 24 * 3600 * 1000,
      FDY_OPT_RESTART, offsetof(fdy_broker_cfg_t, upload_gc_after_ms),
      "An upload idle this long is dropped and its chunks no manifest uses are deleted" },
    { "rollout_keep_ended", FDY_OPT_DURATION, "30d", 1000, 3650ull * 24 * 3600 * 1000,
      FDY_OPT_RESTART, offsetof(fdy_broker_cfg_t, rollout_keep_ended_ms),
      "An ended rollout (succeeded or aborted) is removed this long after its last change; "
      "the newest is always kept" },
    { "max_batch_bytes", FDY_OPT_SIZE, "8MiB", 1 * KIB, FDY_BATCH_FRAME_MAX, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, max_batch_bytes),
      "Largest batch frame of a publish request (ETOOBIG above)" },
    { "zmq_max_msg_size", FDY_OPT_SIZE, "16MiB", 64 * KIB, 1 * GIB, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, zmq_max_msg_size),
      "ZMQ_MAXMSGSIZE: a bigger frame drops the connection without a reply" },
    { "rate_msgs_node", FDY_OPT_UINT, "200000", 0, 100000000, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, rate_msgs_node),
      "Messages/s a node key may publish (ERATE above; 0 = no limit; a key's own limit wins)" },
    { "rate_bytes_node", FDY_OPT_SIZE, "64MiB", 0, 64 * GIB, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, rate_bytes_node),
      "Bytes/s a node key may publish (ERATE above; 0 = no limit)" },
    { "rate_msgs_partner", FDY_OPT_UINT, "50000", 0, 100000000, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, rate_msgs_partner),
      "Messages/s a partner key may publish (ERATE above; 0 = no limit)" },
    { "rate_bytes_partner", FDY_OPT_SIZE, "16MiB", 0, 64 * GIB, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, rate_bytes_partner),
      "Bytes/s a partner key may publish (ERATE above; 0 = no limit)" },
    { "rate_flood_factor", FDY_OPT_UINT, "4", 0, 1000, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, rate_flood_factor),
      "A key refused more than this many times its rate limit in one second (and at least "
      "10,000 messages or 16 MiB) floods: its connections are closed (0 = never)" },
    { "rate_flood_backoff", FDY_OPT_DURATION, "10s", 100, 3600000, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, rate_flood_backoff_ms),
      "After a flood the key's handshakes are refused (ZAP status 500) this long" },
    { "handshake_timeout", FDY_OPT_DURATION, "5s", 100, 600000, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, handshake_timeout_ms),
      "A connection that has not finished its CURVE handshake by then is closed" },
    { "io_threads", FDY_OPT_UINT, "2", 1, 16, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, io_threads),
      "libzmq I/O threads (CURVE and TCP); two keep one busy connection from delaying the rest" },
    { "max_connections_per_principal", FDY_OPT_UINT, "64", 0, 100000, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, max_connections_per_principal),
      "Connections one key may have open; the handshake of one more is refused (0: no limit)" },
    { "max_queued_requests", FDY_OPT_UINT, "64", 8, 100000, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, max_queued_requests),
      "Requests queued per connection before the broker stops reading it (ZMQ_RCVHWM)" },
    { "max_subs_per_connection", FDY_OPT_UINT, "1024", 1, 65536, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, max_subs_per_connection),
      "Most subscriptions one connection may hold (EFULL above)" },
    { "max_subs_per_principal", FDY_OPT_UINT, "4096", 1, 65536, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, max_subs_per_principal),
      "Most subscriptions one key may hold over all its connections (EFULL above)" },
    { "max_send_queue_bytes", FDY_OPT_SIZE, "8MiB", 256 * KIB, 1 * GIB, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, max_send_queue_bytes),
      "Deliveries queued for one connection; past it they wait until the client reads" },
    { "sites", FDY_OPT_STRING, "siheung bucheon uijeongbu hanam pangyo seongnam-lab", 0, 0,
      FDY_OPT_RESTART, offsetof(fdy_broker_cfg_t, sites),
      "Site ids; stream telemetry-<site> captures telemetry.<site>.> (created if missing)" },
    { "audit_max_age", FDY_OPT_DURATION, "90d", 3600ull * 1000, 3650ull * 24 * 3600 * 1000,
      FDY_OPT_RESTART, offsetof(fdy_broker_cfg_t, audit_max_age_ms),
      "Audit log entries older than this are trimmed (oldest first; the trim is recorded)" },
    { "audit_max_bytes", FDY_OPT_SIZE, "64MiB", 1 * MIB, 64 * GIB, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, audit_max_bytes),
      "Largest audit log; beyond it the oldest entries are trimmed (to 7/8 of it)" },
    { "check_store_at_start", FDY_OPT_STRING, "auto", 0, 0, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, check_store_at_start),
      "auto: check every page and record of the store at start unless the last stop was "
      "clean; always; never (a damaged store is refused)" },
    { "metrics_listen", FDY_OPT_STRING, "127.0.0.1:9770", 0, 0, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, metrics_listen),
      "HTTP HOST:PORT (IPv4) for /metrics, /api/status and the dashboard; off disables; "
      "port 0 picks one (data_dir/metrics_url names it)" },
    { "metrics_token", FDY_OPT_STRING, "", 0, 0, FDY_OPT_RESTART,
      offsetof(fdy_broker_cfg_t, metrics_token),
      "Token the HTTP pages require (Bearer header or ?token=); needed off loopback" },
};

static const fdy_flag_t s_flags[] = {
    {"--data-dir", "DIR", "data_dir"},
    {"--bind", "ENDPOINT", "listen"},
    {"--keys", "DIR", "keys_dir"},
    {"--log-level", "LEVEL", "log_level"},
};

/* Every id in the space-separated list passes fdy_site_validate(). An
 * empty list is fine: the broker then creates no telemetry stream. */
static foundry_err
s_check_sites(const char *sites, fdy_reason_t *reason)
{
    char *copy = fdy_xstrdup(sites); /* tokens need their own NUL */
    foundry_err err = FOUNDRY_OK;
    char *save = NULL;
    for (char *site = strtok_r(copy, " \t", &save); site && err == FOUNDRY_OK;
         site = strtok_r(NULL, " \t", &save)) {
        fdy_reason_t why;
        err = fdy_site_validate(site, &why);
        if (err != FOUNDRY_OK)
            fdy_reason_set(reason, err, "option 'sites': %s", why.text);
    }
    free(copy);
    return err;
}

/* Limits that must agree with each other, and with the frame limit that
 * would otherwise drop a client without a reply. */
static foundry_err
s_finish(void *cfg_in, fdy_reason_t *reason)
{
    const fdy_broker_cfg_t *cfg = cfg_in;
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
    const char *mode = cfg->check_store_at_start ? cfg->check_store_at_start : "";
    if (strcmp(mode, "auto") != 0 && strcmp(mode, "always") != 0 && strcmp(mode, "never") != 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "option 'check_store_at_start': '%s' is not auto, always or never",
                              mode);
    return s_check_sites(cfg->sites ? cfg->sites : "", reason);
}

const fdy_config_schema_t fdy_broker_config_schema = {
    .options = s_options,
    .option_count = sizeof s_options / sizeof s_options[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .cfg_size = sizeof(fdy_broker_cfg_t),
    .finish = s_finish,
};
