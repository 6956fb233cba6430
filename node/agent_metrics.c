/*  agent_metrics.c: renders the agent's figures as Prometheus text on
 *  request. The figures are read through the fill callback at render time
 *  on the agent's own thread, so nothing is shared or copied ahead.
 */
#include "agent_metrics.h"

#include "http_server.h"
#include "log.h"
#include "metrics_text.h"
#include "ready_file.h"
#include "xalloc.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DUE_MAX_MS 1000

struct fdy_agent_metrics {
    fdy_http_server_t *http;
    fdy_agent_metrics_fill_fn *fill;
    void *user;
    char url_path[PATH_MAX];
};

static void
s_page(void *user, const char *path, fdy_http_response_t *out)
{
    fdy_agent_metrics_t *self = user;
    if (strcmp(path, "/metrics") != 0)
        return;
    fdy_agent_metric_t figures[FDY_AGENT_METRICS_MAX];
    size_t count = self->fill(self->user, figures, FDY_AGENT_METRICS_MAX);
    fdy_metrics_text_t t = {0};
    const char *last = NULL;   /* figures of one name come together: one family line */
    for (size_t i = 0; i < count; i++) {
        const fdy_agent_metric_t *m = &figures[i];
        char name[128];
        snprintf(name, sizeof name, "foundry_node_%s%s", m->name, m->counter ? "_total" : "");
        if (!last || strcmp(last, m->name) != 0)
            fdy_metrics_text_family(&t, name, m->counter ? "counter" : "gauge", m->help);
        last = m->name;
        const char *labels[] = {m->label_key, m->label_value, NULL};
        fdy_metrics_text_sample(&t, name, m->label_key ? labels : NULL, m->value);
    }
    out->status = 200;
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
    out->body = fdy_metrics_text_take(&t, &out->len);
}

foundry_err
fdy_agent_metrics_new(const char *listen, const char *token, const char *data_dir,
                      fdy_agent_metrics_fill_fn *fill, void *user, fdy_agent_metrics_t **out,
                      fdy_reason_t *reason)
{
    *out = NULL;
    if (!listen || strcmp(listen, "off") == 0)
        return FOUNDRY_OK;
    fdy_agent_metrics_t *self = fdy_xalloc(sizeof *self);
    self->fill = fill;
    self->user = user;
    fdy_http_server_opts_t opts = {.listen = listen, .token = token, .handler = s_page,
                                   .user = self};
    fdy_reason_t why;
    foundry_err err = fdy_http_server_new(&opts, &self->http, &why);
    char text[128];
    if (err == FOUNDRY_OK) {
        const char *colon = strrchr(listen, ':');
        snprintf(text, sizeof text, "http://%.*s:%u/\n", (int) (colon - listen), listen,
                 (unsigned) fdy_http_server_port(self->http));
        if (snprintf(self->url_path, sizeof self->url_path, "%s/metrics_url", data_dir)
            >= (int) sizeof self->url_path - 4)
            err = fdy_reason_set(&why, FOUNDRY_EINVAL, "data_dir is too long");
    }
    if (err == FOUNDRY_OK)
        err = fdy_ready_file_write(self->url_path, text, &why);
    if (err != FOUNDRY_OK) {
        fdy_http_server_destroy(&self->http);
        free(self);
        return fdy_reason_set(reason, err, "option 'metrics_listen': %s", why.text);
    }
    fdy_log_notice("NODE-METRICS-LISTEN", "metrics on %.*s", (int) strcspn(text, "\n"), text);
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_agent_metrics_destroy(fdy_agent_metrics_t **self_p)
{
    fdy_agent_metrics_t *self = *self_p;
    if (!self)
        return;
    unlink(self->url_path);
    fdy_http_server_destroy(&self->http);
    free(self);
    *self_p = NULL;
}

int
fdy_agent_metrics_fd(const fdy_agent_metrics_t *self)
{
    return fdy_http_server_fd(self->http);
}

void
fdy_agent_metrics_run(fdy_agent_metrics_t *self)
{
    fdy_http_server_run(self->http);
}

int
fdy_agent_metrics_due_ms(fdy_agent_metrics_t *self)
{
    int64_t due = fdy_http_server_due_ms(self->http);
    return due < 0 || due > DUE_MAX_MS ? DUE_MAX_MS : (int) due;
}
