/*  metrics_pages.h: the pages the metrics service serves, rendered on the
 *  broker's loop thread from the services' stats and the store's lists:
 *  /metrics (Prometheus text format), /api/status (JSON) and / (the
 *  dashboard, metrics_dashboard.c).
 */
#ifndef FDY_METRICS_PAGES_H_INCLUDED
#define FDY_METRICS_PAGES_H_INCLUDED

#include "http_server.h"
#include "service.h"

#include <stdint.h>

/* What the pages read; all borrowed from the metrics service. */
typedef struct {
    fdy_service_deps_t deps;      /* services created before metrics, store, peers */
    fdy_http_server_t *http;
    int64_t start_ms;
} fdy_metrics_source_t;

/* One configured site, as the dashboard, /api/status and the admin
 * command metrics.sites show it. */
typedef struct {
    char site[FDY_NAME_MAX];
    uint64_t nodes;                /* node principals of the site connected now */
    uint64_t connections;          /* their connections */
    uint64_t telemetry_messages;   /* in stream telemetry-<site> */
    uint64_t telemetry_bytes;
    uint64_t telemetry_last_seq;   /* grows with every message: rates come from it */
    uint64_t jobs_offered;         /* job offers sent to the site's nodes */
    uint64_t jobs_results;         /* results the site's nodes sent */
    uint64_t model_bytes;          /* model chunk bytes sent to the site's nodes */
    char node_names[256];          /* the connected nodes' names, space-separated, sorted
                                      as the registry lists them; "..." ends a cut list */
} fdy_metrics_site_t;

#define FDY_METRICS_SITES_MAX 64

/* Fills rows (at most FDY_METRICS_SITES_MAX), one per configured site in
 * config order, and returns how many. */
size_t fdy_metrics_pages_sites(const fdy_metrics_source_t *source, fdy_metrics_site_t *rows);

/* Fills out for path ("/metrics", "/api/status", "/"); leaves out->body
 * NULL for any other path (404). */
void fdy_metrics_pages_render(const fdy_metrics_source_t *source, const char *path,
                              fdy_http_response_t *out);

/* The dashboard's HTML (with its script), a static string. */
const char *fdy_metrics_dashboard_html(void);

/* Monotonic ms (for uptime). */
int64_t fdy_metrics_pages_now_ms(void);

#endif
