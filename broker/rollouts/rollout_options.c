/*  rollout_options.c: rollout.start's arguments (rollout_options.h). Each
 *  refusal names the argument and the rule, so an operator can fix the
 *  command without reading the docs again.
 */
#include "rollout_options.h"

#include "store_rollouts.h"
#include "subject.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static foundry_err
s_uint(const char *key, const char *value, uint64_t max, uint64_t *out, fdy_reason_t *reason)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (!*value || *value == '-' || *value == '+' || !end || *end || errno == ERANGE || v > max)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s=%.40s: not a whole number 0..%" PRIu64,
                              key, value, max);
    *out = v;
    return FOUNDRY_OK;
}

static foundry_err
s_model(const char *value, fdy_rollout_options_t *out, fdy_reason_t *reason)
{
    const char *at = strrchr(value, '@');
    size_t name_len = at ? (size_t) (at - value) : 0;
    if (!at || name_len == 0 || name_len > FDY_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "model=%.80s: must be NAME@VERSION (vision@7)", value);
    memcpy(out->model, value, name_len);
    out->model[name_len] = '\0';
    foundry_err err = s_uint("model version", at + 1, UINT64_MAX, &out->version, reason);
    if (err == FOUNDRY_OK && out->version == 0)
        err = fdy_reason_set(reason, FOUNDRY_EINVAL, "model=%.80s: versions start at 1", value);
    out->kind = FDY_ROLLOUT_MODEL;
    return err;
}

static foundry_err
s_job(const char *value, fdy_rollout_options_t *out, fdy_reason_t *reason)
{
    fdy_job_spec_t probe = {.type = value};
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_codec_job_spec_check(&probe, 0, &why) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "job=%.80s: %s", value, why.text);
    snprintf(out->job_type, sizeof out->job_type, "%s", value);
    out->kind = FDY_ROLLOUT_JOB;
    return FOUNDRY_OK;
}

static foundry_err
s_filter(const char *key, const char *value, fdy_rollout_options_t *out, fdy_reason_t *reason)
{
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (strcmp(key, "site") == 0) {
        if (out->site_count == FDY_ROLLOUT_FILTERS_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "more than %u site= args",
                                  FDY_ROLLOUT_FILTERS_MAX);
        if (fdy_site_validate(value, &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "site=: %s", why.text);
        snprintf(out->sites[out->site_count++], FDY_NAME_MAX, "%s", value);
        return FOUNDRY_OK;
    }
    if (out->label_count == FDY_ROLLOUT_FILTERS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "more than %u label= args",
                              FDY_ROLLOUT_FILTERS_MAX);
    if (!fdy_codec_job_label_ok(value))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "label=%.80s: must be key=value (key of [A-Za-z0-9_.-])", value);
    snprintf(out->labels[out->label_count++], FDY_JOB_LABEL_MAX + 1, "%s", value);
    return FOUNDRY_OK;
}

/* One "key=value". seen counts each key, so single ones are refused twice. */
static foundry_err
s_one(const char *arg, fdy_rollout_options_t *out, unsigned *seen, fdy_reason_t *reason)
{
    static const char *const singles[] = {
        "model",          "job",        "waves", "rate",    "soak", "success",
        "abort_failures", "abort_rate", "data",  "timeout",
    };
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "argument '%.80s' is not key=value", arg);
    char key[32];
    size_t key_len = (size_t) (eq - arg);
    if (key_len >= sizeof key)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "unknown rollout option '%.40s'", arg);
    memcpy(key, arg, key_len);
    key[key_len] = '\0';
    const char *value = eq + 1;
    if (strcmp(key, "site") == 0 || strcmp(key, "label") == 0)
        return s_filter(key, value, out, reason);
    if (strcmp(key, "gate") == 0) {
        if (out->gate_count == FDY_ROLLOUT_GATES_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "more than %u gates",
                                  FDY_ROLLOUT_GATES_MAX);
        return fdy_rollout_plan_parse_gate(value, &out->gates[out->gate_count++], reason);
    }
    size_t which = sizeof singles / sizeof singles[0];
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++)
        if (strcmp(key, singles[i]) == 0)
            which = i;
    if (which == sizeof singles / sizeof singles[0])
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "unknown rollout option '%s' (model job waves rate soak success "
                              "abort_failures abort_rate gate site label data timeout)",
                              key);
    if (seen[which]++)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s= given twice", key);
    uint64_t v = 0;
    foundry_err err = FOUNDRY_OK;
    switch (which) {
    case 0: return s_model(value, out, reason);
    case 1: return s_job(value, out, reason);
    case 2:
        snprintf(out->waves_spec, sizeof out->waves_spec, "%s", value);
        return fdy_rollout_plan_parse_waves(value, &out->waves, reason);
    case 3:
        err = s_uint(key, value, 1000000, &v, reason);
        out->policy.rate = (uint32_t) v;
        return err;
    case 4: return s_uint(key, value, UINT32_MAX, &out->policy.soak_ms, reason);
    case 5:
        err = s_uint(key, value, 100, &v, reason);
        out->policy.success = (uint32_t) v;
        return err;
    case 6:
        err = s_uint(key, value, FDY_ROLLOUT_NODES_MAX, &v, reason);
        out->policy.abort_failures = (uint32_t) v;
        return err;
    case 7:
        err = s_uint(key, value, 100, &v, reason);
        out->policy.abort_rate = (uint32_t) v;
        return err;
    case 8: out->job_data = value; return FOUNDRY_OK;
    default:
        err = s_uint(key, value, UINT32_MAX, &v, reason);
        out->job_timeout_ms = (uint32_t) v;
        return err;
    }
}

foundry_err
fdy_rollout_options_parse(const char *const *args, size_t count, fdy_rollout_options_t *out,
                          fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    out->policy.success = 100;
    out->job_data = "";
    unsigned seen[16] = {0};
    foundry_err err = fdy_rollout_plan_parse_waves("*", &out->waves, reason);
    snprintf(out->waves_spec, sizeof out->waves_spec, "*");
    for (size_t i = 0; i < count && err == FOUNDRY_OK; i++)
        err = s_one(args[i], out, seen, reason);
    if (err != FOUNDRY_OK)
        return err;
    if (seen[0] + seen[1] != 1)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "a rollout needs exactly one of model=NAME@VERSION and job=TYPE");
    if (out->kind == FDY_ROLLOUT_MODEL && (seen[8] || seen[9]))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "data= and timeout= are for fleet jobs (job=TYPE), not models");
    return FOUNDRY_OK;
}

void
fdy_rollout_options_target(const fdy_rollout_options_t *self, char *buf, size_t size)
{
    if (self->kind == FDY_ROLLOUT_MODEL)
        snprintf(buf, size, "%s@%" PRIu64, self->model, self->version);
    else
        snprintf(buf, size, "job:%s", self->job_type);
}

bool
fdy_rollout_options_site_ok(const fdy_rollout_options_t *self, const char *site)
{
    if (self->site_count == 0)
        return true;
    for (size_t i = 0; i < self->site_count; i++)
        if (strcmp(self->sites[i], site) == 0)
            return true;
    return false;
}

bool
fdy_rollout_options_labels_ok(const fdy_rollout_options_t *self, const char *const *labels,
                              size_t count)
{
    for (size_t i = 0; i < self->label_count; i++) {
        bool found = false;
        for (size_t l = 0; l < count && !found; l++)
            found = strcmp(self->labels[i], labels[l]) == 0;
        if (!found)
            return false;
    }
    return true;
}
