/*  traffic.h: the traffic families each service fills for the metrics
 *  endpoint: foundry_messages_in_total, foundry_messages_out_total,
 *  foundry_bytes_in_total and foundry_bytes_out_total, labeled by kind
 *  (the service's kind of traffic) and site (the authenticated principal's
 *  site, "" for principals without one). One table per service; the site
 *  index comes from the request (fdy_request_t.site) or was kept from it.
 */
#ifndef FDY_TRAFFIC_H_INCLUDED
#define FDY_TRAFFIC_H_INCLUDED

#include "labeled.h"

#include <stdbool.h>
#include <stdint.h>

/* Kinds, the values of the label kind. */
extern const char *const fdy_traffic_telemetry[]; /* publishes in, deliveries out */
extern const char *const fdy_traffic_jobs[];      /* submits and results in, offers out */
extern const char *const fdy_traffic_models[];    /* upload chunks in, download chunks out */

/* Describes t for one kind (one of the arrays above) over sites
 * (fdy_peers_sites(), borrowed, outlives t; NULL: none known). */
void fdy_traffic_init(fdy_labeled_t *t, const char *const *kind, const fdy_labeled_values_t *sites);
/* `messages` messages of `bytes` bytes in all (their frames after the
 * envelope) received from, or sent to, a principal of site index `site`. */
void fdy_traffic_in(fdy_labeled_t *t, uint32_t site, uint64_t messages, uint64_t bytes);
void fdy_traffic_out(fdy_labeled_t *t, uint32_t site, uint64_t messages, uint64_t bytes);

/* What t counted for one site (by name) of its kind: zeros when t is not
 * a traffic table, or the site never sent or got any. */
typedef struct {
    uint64_t messages_in, messages_out, bytes_in, bytes_out;
} fdy_traffic_site_t;
/* Adds t's counts for site into *sum; false (nothing added) when t is not
 * a table of kind (fdy_traffic_jobs, ...). */
bool fdy_traffic_read(const fdy_labeled_t *t, const char *const *kind, const char *site,
                      fdy_traffic_site_t *sum);

#endif
