/*  metrics_pages.c: renders /metrics and /api/status from one gathering of
 *  figures: every service's stats (merged by name, as `status` does), the
 *  connection and error counters, the streams with their consumers (depth
 *  and lag, as last saved), and the connected principals by role and site
 *  (registry x peers), and the services' labeled tables (traffic by kind
 *  and site, jobs by state and type). Bounded: at most STREAMS_MAX streams
 *  are listed, and each table caps its label values.
 */
#include "metrics_pages.h"
#include "traffic.h"

#include "metrics_text.h"

#include "clock.h"
#include "codec.h"
#include "peers.h"
#include "registry.h"
#include "reply.h"
#include "xalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAMS_MAX 1024
#define SITE_ROWS_MAX 64
#define TABLES_MAX 32

/* How to present a stats name: Prometheus type and help. Names not listed
 * (a new service's, the rollouts service's) are rendered as untyped. */
typedef struct {
    const char *name;
    bool counter;
    const char *help;
} stat_kind_t;

static const stat_kind_t s_kinds[] = {
    {"uptime_s", false, "Seconds since the broker started"},
    {"connections", false, "Client connections open now"},
    {"errors", true, "Error replies sent, and messages refused inside an ack"},
    {"messages", false, "Messages stored across all streams"},
    {"streams", false, "Streams defined"},
    {"store_used_bytes", false, "LMDB pages in use, in bytes"},
    {"map_size", false, "Current LMDB map size in bytes"},
    {"map_size_max", false, "Largest LMDB map size in bytes (beyond it writes get EFULL)"},
    {"commits", true, "Group commits of publishes (one transaction, one fsync each)"},
    {"published", true, "Messages stored by publishes"},
    {"duplicates", true, "Resent messages acked from the dedupe index"},
    {"rate_refused", true, "Messages refused by a rate limit"},
    {"rate_floods", true, "Keys that went on publishing far over their rate limit: connections closed"},
    {"subscriptions", false, "Subscriptions open now"},
    {"deliveries", true, "Messages delivered to subscribers"},
    {"dropped", true, "Deliveries dropped (ephemeral subscribers too slow)"},
    {"send_queue_pauses", true, "Times a connection's send queue was full"},
    {"audit_refusals", true, "Refused authentications recorded in the audit log"},
    {"audit_suppressed", true, "Refused authentications not recorded (rate limit)"},
    {"audit_dropped", true, "Audit entries lost"},
    {"audit_trimmed", true, "Audit entries trimmed by age or size"},
    {"jobs", false, "Jobs known (not yet expired); on /metrics as foundry_jobs{state,type}"},
    {"jobs_queued", false, "Jobs waiting for a node (queued or backing off)"},
    {"jobs_submitted", true, "Jobs submitted"},
    {"jobs_succeeded", true, "Jobs that succeeded"},
    {"jobs_dead", true, "Jobs that exhausted their retries (dead-letter list)"},
    {"jobs_stale_refused", true, "Stale job results or heartbeats refused (fencing)"},
    {"job_nodes", false, "Node agents taking jobs now"},
    {"model_uploads", false, "Model uploads in progress"},
    {"model_chunks_stored", false, "Model chunks in the blob store"},
    {"model_bytes_stored", false, "Bytes of model chunks in the blob store (blob disk usage)"},
    {"model_manifests", false, "Signed model manifests stored"},
    {"model_publishes", true, "Model releases published"},
    {"model_publishes_refused", true, "Model publishes refused (signature, policy, version)"},
    {"rollouts_running", false, "Rollouts running now"},
    {"rollouts_paused", false, "Rollouts paused (by an operator or a failed gate)"},
    {"rollouts_started", true, "Rollouts started"},
    {"rollouts_aborted", true, "Rollouts aborted"},
    {"rollouts_succeeded", true, "Rollouts that reached every wave"},
    {"rollout_nodes_started", true, "Node installs a rollout started"},
    {"rollouts_removed", true, "Ended rollouts removed after rollout_keep_ended"},
    {"http_requests", true, "HTTP requests answered by the metrics endpoint"},
    {"http_refused", true, "HTTP requests refused (method, token, path)"},
};

static const stat_kind_t *
s_kind_of(const char *name)
{
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds[0]; i++)
        if (strcmp(s_kinds[i].name, name) == 0)
            return &s_kinds[i];
    return NULL;
}

int64_t
fdy_metrics_pages_now_ms(void)
{
    return fdy_clock_mono_ms();
}

/* ---- gathering ----------------------------------------------------------------- */

typedef struct {
    char site[FDY_NAME_MAX];
    const char *role;
    uint64_t principals; /* connected now */
    uint64_t connections;
} principal_row_t;

typedef struct {
    fdy_stats_t stats;    /* merged by name; the service of each first seen */
    const char *owner[FDY_STATS_MAX];
    fdy_stream_info_t *streams;
    size_t stream_count;  /* those rendered */
    size_t stream_total;  /* those listed (and freed) */
    principal_row_t rows[SITE_ROWS_MAX];
    size_t row_count;
    const fdy_labeled_t *tables[TABLES_MAX]; /* the services' labeled families */
    size_t table_count;
} figures_t;

static void
s_merge(figures_t *f, const fdy_stats_t *part, const char *owner)
{
    for (size_t i = 0; i < part->count; i++) {
        size_t j = 0;
        while (j < f->stats.count && strcmp(f->stats.items[j].name, part->items[i].name) != 0)
            j++;
        if (j < f->stats.count) {
            f->stats.items[j].value += part->items[i].value;
        }
        else if (f->stats.count < FDY_STATS_MAX) {
            f->owner[f->stats.count] = owner;
            fdy_stats_add(&f->stats, part->items[i].name, part->items[i].value);
        }
    }
    for (size_t i = 0; i < part->table_count && f->table_count < TABLES_MAX; i++)
        f->tables[f->table_count++] = part->tables[i];
}

static void
s_count_principal(figures_t *f, const fdy_principal_t *p, size_t connections)
{
    const char *role = fdy_role_name(p->role);
    size_t i = 0;
    while (i < f->row_count && (strcmp(f->rows[i].site, p->site) != 0 || f->rows[i].role != role))
        i++;
    if (i == f->row_count) {
        if (f->row_count == SITE_ROWS_MAX)
            return;
        snprintf(f->rows[i].site, sizeof f->rows[i].site, "%s", p->site);
        f->rows[i].role = role;
        f->row_count++;
    }
    f->rows[i].principals++;
    f->rows[i].connections += connections;
}

static void
s_gather(const fdy_metrics_source_t *src, figures_t *f)
{
    memset(f, 0, sizeof *f);
    const fdy_service_deps_t *deps = &src->deps;
    fdy_stats_t part = {.count = 0};
    fdy_stats_add(&part, "uptime_s", (uint64_t) (fdy_clock_mono_ms() - src->start_ms) / 1000);
    fdy_peers_stats(deps->peers, &part);
    fdy_stats_add(&part, "errors", fdy_reply_errors(deps->reply));
    s_merge(f, &part, "broker");
    for (size_t i = 0; i < deps->service_count; i++) {
        const fdy_service_t *s = &deps->services[i];
        part.count = 0;
        part.table_count = 0;
        if (s->ops->stats)
            s->ops->stats(s->self, &part);
        s_merge(f, &part, s->ops->name);
    }
    /* the metrics service's own: it is not in deps->services */
    if (src->http) {
        part.count = 0;
        part.table_count = 0;
        fdy_stats_add(&part, "http_requests", fdy_http_server_requests(src->http));
        fdy_stats_add(&part, "http_refused", fdy_http_server_refused(src->http));
        s_merge(f, &part, "metrics");
    }
    if (fdy_store_stream_list(deps->store, &f->streams, &f->stream_count) != FOUNDRY_OK) {
        f->streams = NULL;
        f->stream_count = 0;
    }
    f->stream_total = f->stream_count;
    if (f->stream_count > STREAMS_MAX)
        f->stream_count = STREAMS_MAX;
    for (size_t i = 0; i < fdy_registry_count(deps->registry); i++) {
        const fdy_principal_t *p = fdy_registry_at(deps->registry, i);
        if (!p || p->revoked)
            continue;
        size_t connections = fdy_peers_principal_connections(deps->peers, p->name);
        if (connections > 0)
            s_count_principal(f, p, connections);
    }
}

static void
s_release(figures_t *f)
{
    fdy_store_stream_infos_free(&f->streams, f->stream_total);
}

/* ---- /metrics ------------------------------------------------------------------ */

/* True when a labeled table renders a family called name. */
static bool
s_table_has(const figures_t *f, const char *name)
{
    for (size_t i = 0; i < f->table_count; i++)
        for (size_t k = 0; k < f->tables[i]->family_count; k++)
            if (strcmp(f->tables[i]->families[k].name, name) == 0)
                return true;
    return false;
}

static void
s_render_stats(fdy_metrics_text_t *t, const figures_t *f)
{
    for (size_t i = 0; i < f->stats.count; i++) {
        const fdy_stat_t *stat = &f->stats.items[i];
        const stat_kind_t *kind = s_kind_of(stat->name);
        char name[160];
        fdy_metrics_text_name(stat->name, name, sizeof name - 8);
        char help[160];
        if (kind && kind->counter)
            strcat(name, "_total");
        /* A labeled family of the same name is its breakdown (the stat
         * "jobs" is sum(foundry_jobs)): one family per name. */
        if (s_table_has(f, name))
            continue;
        if (!kind)
            snprintf(help, sizeof help, "Counter '%s' of the %s service (its stats)", stat->name,
                     f->owner[i]);
        fdy_metrics_text_family(t, name, kind ? (kind->counter ? "counter" : "gauge") : "untyped",
                                kind ? kind->help : help);
        fdy_metrics_text_sample(t, name, NULL, stat->value);
    }
}

/* One table's rows of family index `family`: every fixed value times
 * every value of its set (and "other" once used), zeros included, so a
 * series exists before its first increment. As Prometheus samples, or
 * (json) as {"<fixed label>":...,"<label>":...,"value":N} objects after
 * *first rows already written. */
static void
s_render_table_rows(fdy_metrics_text_t *t, const fdy_labeled_t *table, size_t family, bool json,
                    size_t *written)
{
    const char *name = table->families[family].name;
    size_t rows = fdy_labeled_rows(table);
    for (size_t x = 0; x < table->fixed_count; x++) {
        for (size_t r = 0; r < rows; r++) {
            uint32_t index = fdy_labeled_row_index(table, r);
            const char *value = fdy_labeled_values_at(table->values, index);
            uint64_t count = fdy_labeled_get(table, family, x, index);
            if (!json) {
                const char *labels[] = {table->fixed_label, table->fixed_values[x], table->label,
                                        value, NULL};
                fdy_metrics_text_sample(t, name, labels, count);
                continue;
            }
            fdy_metrics_text_printf(t, "%s{", (*written)++ ? "," : "");
            fdy_metrics_text_json_string(t, table->fixed_label);
            fdy_metrics_text_printf(t, ":");
            fdy_metrics_text_json_string(t, table->fixed_values[x]);
            fdy_metrics_text_printf(t, ",");
            fdy_metrics_text_json_string(t, table->label);
            fdy_metrics_text_printf(t, ":");
            fdy_metrics_text_json_string(t, value);
            fdy_metrics_text_printf(t, ",\"value\":%llu}", (unsigned long long) count);
        }
    }
}

/* The labeled families, each name once (with HELP and TYPE, or as a JSON
 * member), then the rows of every table that fills it: each service's
 * kind keeps its rows apart. */
static void
s_render_tables(fdy_metrics_text_t *t, const figures_t *f, bool json)
{
    size_t families = 0;
    for (size_t i = 0; i < f->table_count; i++) {
        for (size_t fam = 0; fam < f->tables[i]->family_count; fam++) {
            const fdy_labeled_family_t *family = &f->tables[i]->families[fam];
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                for (size_t k = 0; k < f->tables[j]->family_count && !seen; k++)
                    seen = strcmp(f->tables[j]->families[k].name, family->name) == 0;
            if (seen)
                continue;
            if (json) {
                fdy_metrics_text_printf(t, "%s", families++ ? "," : "");
                fdy_metrics_text_json_string(t, family->name);
                fdy_metrics_text_printf(t, ":[");
            } else {
                fdy_metrics_text_family(t, family->name, family->type, family->help);
            }
            size_t written = 0;
            for (size_t j = i; j < f->table_count; j++)
                for (size_t k = 0; k < f->tables[j]->family_count; k++)
                    if (strcmp(f->tables[j]->families[k].name, family->name) == 0)
                        s_render_table_rows(t, f->tables[j], k, json, &written);
            if (json)
                fdy_metrics_text_printf(t, "]");
        }
    }
}

static void
s_render_streams(fdy_metrics_text_t *t, const fdy_metrics_source_t *src, const figures_t *f)
{
    fdy_metrics_text_family(t, "foundry_stream_messages", "gauge", "Messages stored in a stream");
    for (size_t i = 0; i < f->stream_count; i++) {
        const char *labels[] = {"stream", f->streams[i].name, NULL};
        fdy_metrics_text_sample(t, "foundry_stream_messages", labels, f->streams[i].messages);
    }
    fdy_metrics_text_family(t, "foundry_stream_bytes", "gauge", "Message bytes stored in a stream");
    for (size_t i = 0; i < f->stream_count; i++) {
        const char *labels[] = {"stream", f->streams[i].name, NULL};
        fdy_metrics_text_sample(t, "foundry_stream_bytes", labels, f->streams[i].bytes);
    }
    fdy_metrics_text_family(t, "foundry_stream_last_seq", "counter",
                            "Sequence number of the last message stored in a stream");
    for (size_t i = 0; i < f->stream_count; i++) {
        const char *labels[] = {"stream", f->streams[i].name, NULL};
        fdy_metrics_text_sample(t, "foundry_stream_last_seq", labels, f->streams[i].last_seq);
    }
    fdy_metrics_text_family(t, "foundry_consumer_lag", "gauge",
                            "Messages of a stream a durable consumer has not acked (as last saved)");
    for (size_t i = 0; i < f->stream_count; i++) {
        const fdy_stream_info_t *st = &f->streams[i];
        if (st->consumer_count == 0)
            continue;
        fdy_consumer_t *consumers = NULL;
        size_t count = 0;
        fdy_reason_t why;
        if (fdy_store_consumer_list(src->deps.store, st->name, &consumers, &count, &why)
            != FOUNDRY_OK)
            continue;
        for (size_t c = 0; c < count; c++) {
            uint64_t floor = consumers[c].state.ack_floor;
            const char *labels[] = {"stream", st->name, "consumer", consumers[c].state.name, NULL};
            fdy_metrics_text_sample(t, "foundry_consumer_lag", labels,
                                    st->last_seq > floor ? st->last_seq - floor : 0);
        }
        fdy_store_consumers_free(&consumers, count);
    }
}

static void
s_render_principals(fdy_metrics_text_t *t, const figures_t *f)
{
    fdy_metrics_text_family(t, "foundry_principals_connected", "gauge",
                            "Principals with at least one connection open, by role and site");
    for (size_t i = 0; i < f->row_count; i++) {
        const char *labels[] = {"role", f->rows[i].role, "site", f->rows[i].site, NULL};
        fdy_metrics_text_sample(t, "foundry_principals_connected", labels, f->rows[i].principals);
    }
    fdy_metrics_text_family(t, "foundry_principal_connections", "gauge",
                            "Connections open, by the principal's role and site");
    for (size_t i = 0; i < f->row_count; i++) {
        const char *labels[] = {"role", f->rows[i].role, "site", f->rows[i].site, NULL};
        fdy_metrics_text_sample(t, "foundry_principal_connections", labels,
                                f->rows[i].connections);
    }
}

/* Error replies by code: the reason label is foundry_strerror's text. */
static void
s_render_refusals(fdy_metrics_text_t *t, const fdy_metrics_source_t *src)
{
    fdy_metrics_text_family(t, "foundry_refused_total", "counter",
                            "Requests refused with an error reply, by error code and reason");
    for (int code = 1; code < FDY_REPLY_CODES_MAX; code++) {
        uint64_t count = fdy_reply_errors_by_code(src->deps.reply, code);
        if (count == 0)
            continue;
        char number[16];
        snprintf(number, sizeof number, "%d", code);
        const char *labels[] = {"code", number, "reason", foundry_strerror((foundry_err) code),
                                NULL};
        fdy_metrics_text_sample(t, "foundry_refused_total", labels, count);
    }
}

/* ---- /api/status ------------------------------------------------------------------ */

static uint64_t
s_stat(const figures_t *f, const char *name)
{
    for (size_t i = 0; i < f->stats.count; i++)
        if (strcmp(f->stats.items[i].name, name) == 0)
            return f->stats.items[i].value;
    return 0;
}

/* The names of the site's connected node principals. */
static void
s_node_names(const fdy_metrics_source_t *src, fdy_metrics_site_t *row)
{
    size_t used = 0;
    const fdy_service_deps_t *deps = &src->deps;
    for (size_t i = 0; i < fdy_registry_count(deps->registry); i++) {
        const fdy_principal_t *p = fdy_registry_at(deps->registry, i);
        if (!p || p->revoked || p->role != FDY_ROLE_NODE || strcmp(p->site, row->site) != 0
            || fdy_peers_principal_connections(deps->peers, p->name) == 0)
            continue;
        size_t len = strlen(p->name);
        if (used + len + 5 >= sizeof row->node_names) {
            snprintf(row->node_names + used, sizeof row->node_names - used, "%s...",
                     used ? " " : "");
            return;
        }
        used += (size_t) snprintf(row->node_names + used, sizeof row->node_names - used, "%s%s",
                                  used ? " " : "", p->name);
    }
}

/* One entry per configured site: its telemetry stream and its nodes. */
static size_t
s_sites(const fdy_metrics_source_t *src, const figures_t *f, fdy_metrics_site_t *rows)
{
    size_t count = 0;
    const char *cursor = src->deps.cfg->sites ? src->deps.cfg->sites : "";
    while (*cursor && count < FDY_METRICS_SITES_MAX) {
        cursor += strspn(cursor, " \t");
        size_t len = strcspn(cursor, " \t");
        if (len == 0)
            break;
        fdy_metrics_site_t *row = &rows[count++];
        memset(row, 0, sizeof *row);
        snprintf(row->site, sizeof row->site, "%.*s", (int) len, cursor);
        cursor += len;
        char stream[FDY_NAME_MAX + 16];   /* fits whatever the site; a long one matches none */
        snprintf(stream, sizeof stream, "telemetry-%s", row->site);
        for (size_t i = 0; i < f->stream_count; i++)
            if (strcmp(f->streams[i].name, stream) == 0) {
                row->telemetry_messages = f->streams[i].messages;
                row->telemetry_bytes = f->streams[i].bytes;
                row->telemetry_last_seq = f->streams[i].last_seq;
            }
        fdy_traffic_site_t jobs = {0}, models = {0};
        for (size_t i = 0; i < f->table_count; i++)
            if (!fdy_traffic_read(f->tables[i], fdy_traffic_jobs, row->site, &jobs))
                fdy_traffic_read(f->tables[i], fdy_traffic_models, row->site, &models);
        row->jobs_offered = jobs.messages_out;
        row->jobs_results = jobs.messages_in;
        row->model_bytes = models.bytes_out;
        for (size_t i = 0; i < f->row_count; i++)
            if (strcmp(f->rows[i].site, row->site) == 0 && strcmp(f->rows[i].role, "node") == 0) {
                row->nodes += f->rows[i].principals;
                row->connections += f->rows[i].connections;
            }
        s_node_names(src, row);
    }
    return count;
}

static void
s_render_sites(fdy_metrics_text_t *t, const fdy_metrics_source_t *src, const figures_t *f)
{
    fdy_metrics_site_t *rows = fdy_xalloc(FDY_METRICS_SITES_MAX * sizeof *rows);
    size_t count = s_sites(src, f, rows);
    fdy_metrics_text_printf(t, "\"sites\":[");
    for (size_t i = 0; i < count; i++) {
        fdy_metrics_text_printf(t, "%s{\"site\":", i ? "," : "");
        fdy_metrics_text_json_string(t, rows[i].site);
        fdy_metrics_text_printf(t, ",\"nodes\":%llu,\"connections\":%llu,"
                                   "\"telemetry_messages\":%llu,\"telemetry_bytes\":%llu,"
                                   "\"telemetry_last_seq\":%llu,\"jobs_offered\":%llu,"
                                   "\"jobs_results\":%llu,\"model_bytes\":%llu,\"node_names\":",
                                (unsigned long long) rows[i].nodes,
                                (unsigned long long) rows[i].connections,
                                (unsigned long long) rows[i].telemetry_messages,
                                (unsigned long long) rows[i].telemetry_bytes,
                                (unsigned long long) rows[i].telemetry_last_seq,
                                (unsigned long long) rows[i].jobs_offered,
                                (unsigned long long) rows[i].jobs_results,
                                (unsigned long long) rows[i].model_bytes);
        fdy_metrics_text_json_string(t, rows[i].node_names);
        fdy_metrics_text_printf(t, "}");
    }
    fdy_metrics_text_printf(t, "]");
    free(rows);
}

static void
s_render_status(fdy_metrics_text_t *t, const fdy_metrics_source_t *src, const figures_t *f)
{
    fdy_metrics_text_printf(t, "{\"version\":");
    fdy_metrics_text_json_string(t, foundry_version());
    fdy_metrics_text_printf(t, ",\"time_ms\":%llu,",
                            (unsigned long long) (fdy_clock_wall_ns() / 1000000u));
    s_render_sites(t, src, f);
    fdy_metrics_text_printf(t, ",\"jobs\":{\"known\":%llu,\"queued\":%llu,\"submitted\":%llu,"
                               "\"succeeded\":%llu,\"dead\":%llu,\"nodes\":%llu}",
                            (unsigned long long) s_stat(f, "jobs"),
                            (unsigned long long) s_stat(f, "jobs_queued"),
                            (unsigned long long) s_stat(f, "jobs_submitted"),
                            (unsigned long long) s_stat(f, "jobs_succeeded"),
                            (unsigned long long) s_stat(f, "jobs_dead"),
                            (unsigned long long) s_stat(f, "job_nodes"));
    /* Rollouts: whatever the rollouts service's stats() says, by name. */
    fdy_metrics_text_printf(t, ",\"rollouts\":{");
    bool first = true;
    for (size_t i = 0; i < f->stats.count; i++) {
        if (strcmp(f->owner[i], "rollouts") != 0 && strncmp(f->stats.items[i].name, "rollout", 7) != 0)
            continue;
        fdy_metrics_text_printf(t, "%s", first ? "" : ",");
        fdy_metrics_text_json_string(t, f->stats.items[i].name);
        fdy_metrics_text_printf(t, ":%llu", (unsigned long long) f->stats.items[i].value);
        first = false;
    }
    fdy_metrics_text_printf(t, "},\"stats\":{");
    for (size_t i = 0; i < f->stats.count; i++) {
        fdy_metrics_text_printf(t, "%s", i ? "," : "");
        fdy_metrics_text_json_string(t, f->stats.items[i].name);
        fdy_metrics_text_printf(t, ":%llu", (unsigned long long) f->stats.items[i].value);
    }
    fdy_metrics_text_printf(t, "},\"streams\":[");
    for (size_t i = 0; i < f->stream_count; i++) {
        fdy_metrics_text_printf(t, "%s{\"name\":", i ? "," : "");
        fdy_metrics_text_json_string(t, f->streams[i].name);
        fdy_metrics_text_printf(t, ",\"messages\":%llu,\"bytes\":%llu,\"consumers\":%zu}",
                                (unsigned long long) f->streams[i].messages,
                                (unsigned long long) f->streams[i].bytes,
                                f->streams[i].consumer_count);
    }
    fdy_metrics_text_printf(t, "],\"families\":{");
    s_render_tables(t, f, true);
    fdy_metrics_text_printf(t, "},\"principals\":[");
    for (size_t i = 0; i < f->row_count; i++) {
        fdy_metrics_text_printf(t, "%s{\"role\":", i ? "," : "");
        fdy_metrics_text_json_string(t, f->rows[i].role);
        fdy_metrics_text_printf(t, ",\"site\":");
        fdy_metrics_text_json_string(t, f->rows[i].site);
        fdy_metrics_text_printf(t, ",\"connected\":%llu,\"connections\":%llu}",
                                (unsigned long long) f->rows[i].principals,
                                (unsigned long long) f->rows[i].connections);
    }
    fdy_metrics_text_printf(t, "]}\n");
}

size_t
fdy_metrics_pages_sites(const fdy_metrics_source_t *src, fdy_metrics_site_t *rows)
{
    figures_t *f = fdy_xalloc(sizeof *f);
    s_gather(src, f);
    size_t count = s_sites(src, f, rows);
    s_release(f);
    free(f);
    return count;
}

void
fdy_metrics_pages_render(const fdy_metrics_source_t *src, const char *path,
                         fdy_http_response_t *out)
{
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        out->status = 200;
        out->content_type = "text/html; charset=utf-8";
        out->body = fdy_xstrdup(fdy_metrics_dashboard_html());
        out->len = strlen(out->body);
        return;
    }
    bool metrics = strcmp(path, "/metrics") == 0;
    bool status = strcmp(path, "/api/status") == 0;
    if (!metrics && !status)
        return;
    figures_t *f = fdy_xalloc(sizeof *f);   /* large: keep it off the stack */
    s_gather(src, f);
    fdy_metrics_text_t t = {0};
    if (metrics) {
        s_render_stats(&t, f);
        s_render_tables(&t, f, false);
        s_render_streams(&t, src, f);
        s_render_principals(&t, f);
        s_render_refusals(&t, src);
        fdy_metrics_text_histogram(&t, "foundry_commit_fsync_seconds",
                                   "Time each LMDB write transaction took to commit (its fsyncs)",
                                   fdy_store_commit_latency(src->deps.store), 1000000.0);
        fdy_metrics_text_histogram(&t, "foundry_commit_batch_records",
                                   "Records written by each group commit (one fsync each)",
                                   fdy_store_commit_batch(src->deps.store), 1.0);
        out->content_type = "text/plain; version=0.0.4; charset=utf-8";
    }
    else {
        s_render_status(&t, src, f);
        out->content_type = "application/json";
    }
    out->status = 200;
    out->body = fdy_metrics_text_take(&t, &out->len);
    s_release(f);
    free(f);
}
