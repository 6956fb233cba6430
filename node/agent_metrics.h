/*  agent_metrics.h: the agent's own metrics endpoint (metrics_listen in
 *  node.conf; off by default): GET /metrics in the Prometheus text format,
 *  served by lib/daemon/http_server.c on the agent's loop thread. The
 *  agent hands it a fill callback; this module knows no agent internals.
 */
#ifndef FDY_AGENT_METRICS_H_INCLUDED
#define FDY_AGENT_METRICS_H_INCLUDED

#include "reason.h"

#include <stdbool.h>

#include <stddef.h>
#include <stdint.h>

typedef struct fdy_agent_metrics fdy_agent_metrics_t;

/* One figure: name without the foundry_node_ prefix, a static string;
 * counter (rendered name_total) or gauge; labels NULL or one "key=value"
 * pair as two static strings. */
typedef struct {
    const char *name;
    bool counter;
    const char *help;
    const char *label_key;
    const char *label_value;   /* borrowed for the fill's render only */
    uint64_t value;
} fdy_agent_metric_t;

#define FDY_AGENT_METRICS_MAX 64

/* Fills at most max figures and returns how many. */
typedef size_t(fdy_agent_metrics_fill_fn)(void *user, fdy_agent_metric_t *out, size_t max);

/* listen is "HOST:PORT" (as the broker's metrics_listen) or "off" (then
 * *out is NULL and FOUNDRY_OK). The bound URL is written to
 * data_dir/metrics_url. Returns FOUNDRY_OK, FOUNDRY_EINVAL or FOUNDRY_EIO
 * with reason. Caller owns *out. */
foundry_err fdy_agent_metrics_new(const char *listen, const char *token, const char *data_dir,
                                  fdy_agent_metrics_fill_fn *fill, void *user,
                                  fdy_agent_metrics_t **out, fdy_reason_t *reason);
void fdy_agent_metrics_destroy(fdy_agent_metrics_t **self_p);

/* The descriptor to poll for input, and the work to do then or when due. */
int fdy_agent_metrics_fd(const fdy_agent_metrics_t *self);
void fdy_agent_metrics_run(fdy_agent_metrics_t *self);
/* Ms until run() is due without input (capped at 1000). */
int fdy_agent_metrics_due_ms(fdy_agent_metrics_t *self);

#endif
