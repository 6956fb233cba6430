/*  metrics.c: the metrics service (fdy_metrics_service): a service with no
 *  request kinds that serves, over HTTP on metrics_listen, the Prometheus
 *  text format (/metrics), a JSON status (/api/status) and the read-only
 *  dashboard (/). Pages are rendered on the loop's thread when asked for,
 *  from every service's stats() and the store's read-only lists, so they
 *  share no state with another thread. It never writes the store.
 */
#include "metrics_pages.h"
#include "service.h"

#include "http_server.h"
#include "log.h"
#include "ready_file.h"
#include "xalloc.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Upkeep at least this often while connections are open (timeouts). */
#define TICK_MS 1000

typedef struct {
    fdy_metrics_source_t source;   /* what the pages read */
    fdy_http_server_t *http;       /* NULL when metrics_listen is off */
    char url_path[PATH_MAX];
} metrics_t;

static void
s_handle_page(void *user, const char *path, fdy_http_response_t *out)
{
    metrics_t *self = user;
    fdy_metrics_pages_render(&self->source, path, out);
}

/* data_dir/metrics_url: where the endpoint really is (port 0 picks one). */
static foundry_err
s_write_url(metrics_t *self, const fdy_broker_cfg_t *cfg, fdy_reason_t *reason)
{
    const char *colon = strrchr(cfg->metrics_listen, ':');
    char text[128];
    snprintf(text, sizeof text, "http://%.*s:%u/\n", (int) (colon - cfg->metrics_listen),
             cfg->metrics_listen, (unsigned) fdy_http_server_port(self->http));
    if (snprintf(self->url_path, sizeof self->url_path, "%s/metrics_url", cfg->data_dir)
        >= (int) sizeof self->url_path - 4)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "data_dir is too long");
    foundry_err err = fdy_ready_file_write(self->url_path, text, reason);
    if (err == FOUNDRY_OK)
        fdy_log_notice("METRICS-LISTEN", "metrics and dashboard on %.*s", (int) strcspn(text, "\n"),
                       text);
    return err;
}

static foundry_err
s_create(const fdy_service_deps_t *deps, void **self_out, fdy_reason_t *reason)
{
    metrics_t *self = fdy_xalloc(sizeof *self);
    self->source.deps = *deps;
    self->source.start_ms = fdy_metrics_pages_now_ms();
    const fdy_broker_cfg_t *cfg = deps->cfg;
    if (cfg->metrics_listen && strcmp(cfg->metrics_listen, "off") != 0) {
        fdy_http_server_opts_t opts = {
            .listen = cfg->metrics_listen,
            .token = cfg->metrics_token,
            .handler = s_handle_page,
            .user = self,
        };
        fdy_reason_t why;
        foundry_err err = fdy_http_server_new(&opts, &self->http, &why);
        if (err == FOUNDRY_OK)
            err = s_write_url(self, cfg, &why);
        if (err != FOUNDRY_OK) {
            fdy_http_server_destroy(&self->http);
            free(self);
            return fdy_reason_set(reason, err, "option 'metrics_listen': %s", why.text);
        }
        self->source.http = self->http;
    }
    *self_out = self;
    return FOUNDRY_OK;
}

static void
s_destroy(void **self_p)
{
    metrics_t *self = *self_p;
    if (!self)
        return;
    if (self->http)
        unlink(self->url_path);
    fdy_http_server_destroy(&self->http);
    free(self);
    *self_p = NULL;
}

static size_t
s_pollers(void *self_, zmq_pollitem_t *items, size_t max)
{
    metrics_t *self = self_;
    if (!self->http || max == 0)
        return 0;
    items[0] = (zmq_pollitem_t){.socket = NULL, .fd = fdy_http_server_fd(self->http),
                                .events = ZMQ_POLLIN};
    return 1;
}

static void
s_ready(void *self_, const zmq_pollitem_t *item, int64_t now_ms)
{
    (void) item;
    (void) now_ms;
    metrics_t *self = self_;
    fdy_http_server_run(self->http);
}

/* libmicrohttpd also has work without input (timeouts, connections it
 * has more to read from): run it when it says so. */
static int64_t
s_tick(void *self_, int64_t now_ms)
{
    (void) now_ms;
    metrics_t *self = self_;
    if (!self->http)
        return INT64_MAX;
    int64_t due = fdy_http_server_due_ms(self->http);
    if (due == 0) {
        fdy_http_server_run(self->http);
        due = fdy_http_server_due_ms(self->http);
    }
    return due < 0 || due > TICK_MS ? TICK_MS : due;
}

/* ---- admin: metrics.sites (foundryctl top) ------------------------------------ */

static const char *const s_site_columns[] = {
    "site",         "nodes",        "connections", "telemetry_messages", "telemetry_bytes",
    "telemetry_last_seq", "jobs_offered", "jobs_results", "model_bytes", "node_names"};
static const fdy_col_type_t s_site_types[] = {FDY_COL_TEXT, FDY_COL_INT, FDY_COL_INT, FDY_COL_INT,
                                              FDY_COL_INT,  FDY_COL_INT, FDY_COL_INT, FDY_COL_INT,
                                              FDY_COL_INT,  FDY_COL_TEXT};

static foundry_err
s_sites(void *self_, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    metrics_t *self = self_;
    fdy_metrics_site_t rows[FDY_METRICS_SITES_MAX];
    size_t count = fdy_metrics_pages_sites(&self->source, rows);
    foundry_err err = fdy_admin_table_begin(out, call->arena, s_site_columns, s_site_types,
                                            sizeof s_site_columns / sizeof s_site_columns[0],
                                            count, reason);
    if (err != FOUNDRY_OK)
        return err;
    bool ok = true;
    for (size_t i = 0; ok && i < count; i++) {
        fdy_slice_t *row = fdy_admin_row_add(out);
        ok = row && fdy_admin_cell_text(out, &row[0], rows[i].site)
             && fdy_admin_cell_int(out, &row[1], rows[i].nodes)
             && fdy_admin_cell_int(out, &row[2], rows[i].connections)
             && fdy_admin_cell_int(out, &row[3], rows[i].telemetry_messages)
             && fdy_admin_cell_int(out, &row[4], rows[i].telemetry_bytes)
             && fdy_admin_cell_int(out, &row[5], rows[i].telemetry_last_seq)
             && fdy_admin_cell_int(out, &row[6], rows[i].jobs_offered)
             && fdy_admin_cell_int(out, &row[7], rows[i].jobs_results)
             && fdy_admin_cell_int(out, &row[8], rows[i].model_bytes)
             && fdy_admin_cell_text(out, &row[9], rows[i].node_names);
    }
    return ok ? FOUNDRY_OK : fdy_reason_set(reason, FOUNDRY_ENOMEM, "reply too large");
}

static const fdy_admin_command_t s_admin_commands[] = {
    {.name = "metrics.sites", .args = NULL, .arg_count = 0, .fn = s_sites},
};

static foundry_err
s_admin(void *self, const fdy_admin_call_t *call, fdy_admin_table_t *out, fdy_reason_t *reason)
{
    return fdy_admin_dispatch(self, s_admin_commands,
                              sizeof s_admin_commands / sizeof s_admin_commands[0], call, out,
                              reason);
}

static void
s_stats(const void *self_, fdy_stats_t *out)
{
    const metrics_t *self = self_;
    if (!self->http)
        return;
    fdy_stats_add(out, "http_requests", fdy_http_server_requests(self->http));
    fdy_stats_add(out, "http_refused", fdy_http_server_refused(self->http));
}

static const char *const s_admin_prefixes[] = {"metrics.", NULL};

const fdy_service_ops_t fdy_metrics_service = {
    .name = "metrics",
    .kinds = NULL,
    .kind_count = 0,
    .admin_prefixes = s_admin_prefixes,
    .create = s_create,
    .destroy = s_destroy,
    .tick = s_tick,
    .admin = s_admin,
    .stats = s_stats,
    .pollers = s_pollers,
    .ready = s_ready,
};
