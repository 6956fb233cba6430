/*  agent_config.c: foundry-node's config schema: its option table, the
 *  flags that alias options, and the checks that span options. The table
 *  drives the file parser, --set, --help-config and deploy/node.conf; keys
 *  are spelled nowhere else. Acting on the values is agent.c's job.
 */
#include "agent_config.h"

#include "subject.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define KIB           (1024ull)
#define MIB           (1024ull * 1024ull)
#define GIB           (1024ull * 1024ull * 1024ull)
#define LISTEN_SOCKET "telemetry.sock"

static const fdy_option_t s_options[] = {
    {"site", FDY_OPT_STRING, NULL, 0, 0, FDY_OPT_RESTART, offsetof(fdy_agent_cfg_t, site),
     "Required. This node's site id; telemetry goes to telemetry.<site>.<metric>"},
    {"endpoint", FDY_OPT_ENDPOINT, "tcp://127.0.0.1:7700", 0, 0, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, endpoint), "The broker's client endpoint (CURVE always on)"},
    {"key", FDY_OPT_PATH, "/etc/foundry/keys/node.key_secret", 0, 0, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, key),
     "This node's key pair, NAME.key_secret (mode 0600), registered with role node"},
    {"broker_key", FDY_OPT_PATH, "/etc/foundry/keys/broker.key", 0, 0, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, broker_key), "The broker's public key file"},
    {"data_dir", FDY_OPT_PATH, "/var/lib/foundry-node", 0, 0, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, data_dir),
     "Data directory: the outbox (LMDB), the ready file, the default ipc socket"},
    {"listen", FDY_OPT_ENDPOINT, NULL, 0, 0, FDY_OPT_RESTART, offsetof(fdy_agent_cfg_t, listen),
     "Local PULL endpoint for telemetry; unset: ipc://<data_dir>/telemetry.sock"},
    {"stdin", FDY_OPT_BOOL, "false", 0, 0, FDY_OPT_RESTART, offsetof(fdy_agent_cfg_t, stdin_input),
     "Also read text sample lines from stdin; end of input stops the node"},
    {"log_level", FDY_OPT_LOGLEVEL, "notice", 0, 0, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, log_level), "err, warn, notice, info or debug"},
    {"log_format", FDY_OPT_LOGFORMAT, "text", 0, 0, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, log_format),
     "text (time level id message key=value) or json (one object per line)"},
    {"outbox_max_entries", FDY_OPT_UINT, "1000000", 1, 100000000, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, outbox_max_entries),
     "Outbox bound in entries (one entry = one message of 1..batch_max_samples samples)"},
    {"outbox_max_bytes", FDY_OPT_SIZE, "256MiB", 64 * KIB, 64 * GIB, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, outbox_max_bytes),
     "Outbox bound in bytes (subject, payload and 28 bytes per entry)"},
    {"outbox_policy", FDY_OPT_STRING, "drop-oldest", 0, 0, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, outbox_policy),
     "When the outbox is full: drop-oldest or drop-newest (drops are counted and logged)"},
    {"batch_max_samples", FDY_OPT_UINT, "256", 1, 4096, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, batch_max_samples),
     "Samples of one metric per message at most (and at most 64KiB per message)"},
    {"max_in_flight", FDY_OPT_UINT, "8192", 1, 65536, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, max_in_flight),
     "Messages sent to the broker and not yet acknowledged, at most"},
    {"connect_timeout", FDY_OPT_DURATION, "1s", 10, 60000, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, connect_timeout_ms),
     "CURVE handshake deadline of one connection attempt (inputs wait meanwhile)"},
    {"retry_max", FDY_OPT_DURATION, "10s", 100, 3600000, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, retry_max_ms),
     "Longest back-off between connection attempts and between resends of refused entries"},
    {"shutdown_flush", FDY_OPT_DURATION, "5s", 0, 3600000, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, shutdown_flush_ms),
     "On SIGTERM, wait this long for acks; what is unacked stays in the outbox"},
    {"metrics_listen", FDY_OPT_STRING, "off", 0, 0, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, metrics_listen),
     "HTTP HOST:PORT (IPv4) for this agent's /metrics (e.g. 127.0.0.1:9771); off: none"},
    {"metrics_token", FDY_OPT_STRING, "", 0, 0, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, metrics_token),
     "Token /metrics requires (Bearer header or ?token=); needed off loopback"},
    {"stats_interval", FDY_OPT_DURATION, "1m", 0, 86400000, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, stats_interval_ms),
     "Period of the NODE-STATS log line (info level); 0 = never"},
    {"jobs", FDY_OPT_PATH, NULL, 0, 0, FDY_OPT_RESTART, offsetof(fdy_agent_cfg_t, jobs),
     "Job handlers file (docs/jobs.md); unset: this node takes no jobs"},
    {"job_labels", FDY_OPT_STRING, NULL, 0, 0, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, job_labels),
     "Space-separated key=value capability labels jobs may select (gpu=a100 robot=ur10)"},
    {"job_heartbeat", FDY_OPT_DURATION, "1s", 50, 60000, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, job_heartbeat_ms),
     "Period of the lease heartbeat; keep it under a third of the broker's job_node_timeout_ms"},
    {"models_dir", FDY_OPT_PATH, NULL, 0, 0, FDY_OPT_RESTART, offsetof(fdy_agent_cfg_t, models_dir),
     "Installed models (NAME/VERSION, NAME/current) and downloads in progress (NAME/.VERSION.tmp); "
     "unset: <data_dir>/models"},
    {"model_trust_file", FDY_OPT_PATH, NULL, 0, 0, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, model_trust_file),
     "Model trust policies, one line a name: NAME THRESHOLD KEYHEX...; unset: every model "
     "update is refused"},
    {"model_release_key", FDY_OPT_STRING, NULL, 0, 0, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, model_release_key),
     "The broker's release key (foundryctl model release-key), 64 hex or a key file; unset: "
     "every model update is refused"},
    {"model_interlock", FDY_OPT_STRING, NULL, 0, 0, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, model_interlock),
     "Program (argv, no shell) asked before a model is switched: exit 0 = safe now; unset: "
     "always safe"},
    {"model_interlock_interval", FDY_OPT_DURATION, "5s", 100, 86400000, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, model_interlock_interval_ms),
     "How often the interlock is asked again while it says no"},
    {"model_health", FDY_OPT_STRING, NULL, 0, 0, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, model_health),
     "Program (argv, no shell) run after a switch, with FOUNDRY_MODEL_NAME/VERSION/PATH: exit 0 "
     "= healthy, else back to the previous version; unset: healthy once installed"},
    {"model_fetch_window", FDY_OPT_UINT, "8", 1, 64, FDY_OPT_RESTART,
     offsetof(fdy_agent_cfg_t, model_fetch_window),
     "Model chunks requested from the broker and not yet received, at most"},
};

static const fdy_flag_t s_flags[] = {
    {"--site", "SITE", "site"},        {"--endpoint", "ENDPOINT", "endpoint"},
    {"--key", "FILE", "key"},          {"--broker-key", "FILE", "broker_key"},
    {"--data-dir", "DIR", "data_dir"}, {"--listen", "ENDPOINT", "listen"},
    {"--stdin", NULL, "stdin"},        {"--log-level", "LEVEL", "log_level"},
    {"--jobs", "FILE", "jobs"},        {"--labels", "LABELS", "job_labels"},
};

/* The broker holds the same grammar for its sites (fdy_site_validate()),
 * so a node never runs with a site the broker could not make a stream for. */
static foundry_err
s_check_site(const char *site, fdy_reason_t *reason)
{
    if (!site || !*site)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "option 'site' is not set (e.g. --site pangyo)");
    fdy_reason_t why;
    if (fdy_site_validate(site, &why) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "option 'site': %s", why.text);
    return FOUNDRY_OK;
}

/* Also fills what is derived: the policy enum and the default listen. */
static foundry_err
s_finish(void *cfg_in, fdy_reason_t *reason)
{
    fdy_agent_cfg_t *cfg = cfg_in;
    foundry_err err = s_check_site(cfg->site, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (fdy_outbox_policy_parse(cfg->outbox_policy, &cfg->policy) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "option 'outbox_policy': '%s' is not drop-oldest or drop-newest",
                              cfg->outbox_policy ? cfg->outbox_policy : "");
    if (!cfg->listen) {
        size_t size = strlen("ipc://") + strlen(cfg->data_dir) + 1 + strlen(LISTEN_SOCKET) + 1;
        cfg->listen = malloc(size);
        if (!cfg->listen)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
        snprintf(cfg->listen, size, "ipc://%s/%s", cfg->data_dir, LISTEN_SOCKET);
    }
    if (!cfg->models_dir) {
        size_t size = strlen(cfg->data_dir) + sizeof "/models";
        cfg->models_dir = malloc(size);
        if (!cfg->models_dir)
            return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
        snprintf(cfg->models_dir, size, "%s/models", cfg->data_dir);
    }
    /* A socket address holds ~107 bytes of path; libzmq's error for a
     * longer one names neither the option nor the limit. */
    struct sockaddr_un address;
    if (strncmp(cfg->listen, "ipc://", 6) == 0 &&
        strlen(cfg->listen + 6) >= sizeof address.sun_path)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "option 'listen': ipc path is longer than %zu bytes; set listen "
                              "to a shorter path",
                              sizeof address.sun_path - 1);
    return FOUNDRY_OK;
}

const fdy_config_schema_t fdy_agent_config_schema = {
    .options = s_options,
    .option_count = sizeof s_options / sizeof s_options[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .cfg_size = sizeof(fdy_agent_cfg_t),
    .finish = s_finish,
};
