/*  ctl_model_args.c: checks of the values `foundryctl model` and
 *  `foundryctl rollout` take, and the rollout.start arguments built from
 *  them. Everything is checked here, before a connection is opened, so a
 *  typo costs no round trip and gets a reason naming the option; the
 *  broker checks again (it trusts no client). Prints nothing.
 */
#include "ctl_model_args.h"

#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
s_u64(const char *text, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return false;
    uint64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char) text[i]))
            return false;
        unsigned digit = (unsigned) (text[i] - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    *out = value;
    return true;
}

foundry_err
fdy_ctl_model_ref_parse(const char *text, bool version_required,
                        char name_out[FDY_MODEL_NAME_MAX + 1], uint64_t *version_out,
                        fdy_reason_t *reason)
{
    const char *at = strchr(text, '@');
    size_t name_len = at ? (size_t) (at - text) : strlen(text);
    if (name_len == 0 || name_len > FDY_MODEL_NAME_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "bad model name in '%s'", text);
    char name[FDY_MODEL_NAME_MAX + 1];
    memcpy(name, text, name_len);
    name[name_len] = '\0';
    if (!fdy_model_name_ok(name))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "bad model name '%s': [a-z0-9][a-z0-9._-]*, at most %u", name,
                              FDY_MODEL_NAME_MAX);
    uint64_t version = 0;
    if (at && (!s_u64(at + 1, strlen(at + 1), &version) || version == 0))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "bad version '%s' in '%s': a number > 0",
                              at + 1, text);
    if (!at && version_required)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "'%s' needs a version: NAME@VERSION", text);
    memcpy(name_out, name, name_len + 1);
    *version_out = version;
    return FOUNDRY_OK;
}

static bool
s_site_ok(const char *text, size_t len)
{
    if (len == 0 || len >= FDY_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.')
            return false;
    }
    return true;
}

/* One wave, text[0..len). */
static foundry_err
s_wave_check(const char *text, size_t len, size_t number, bool last, fdy_reason_t *reason)
{
    if (len == 0)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "--waves: wave %zu is empty", number);
    if (len == 1 && text[0] == '*') {
        if (!last)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "--waves: '*' (every remaining node) must be the last wave");
        return FOUNDRY_OK;
    }
    if (text[len - 1] == '%') {
        uint64_t pct;
        if (!s_u64(text, len - 1, &pct) || pct < 1 || pct > 100)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "--waves: wave %zu '%.*s' is not 1%%..100%%", number, (int) len,
                                  text);
        return FOUNDRY_OK;
    }
    const char *end = text + len;
    for (const char *site = text; site <= end;) {
        const char *comma = memchr(site, ',', (size_t) (end - site));
        const char *stop = comma ? comma : end;
        if (!s_site_ok(site, (size_t) (stop - site)))
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "--waves: wave %zu: '%.*s' is not a site name (nor N%% or *)",
                                  number, (int) (stop - site), site);
        site = stop + 1;
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_ctl_waves_check(const char *spec, fdy_reason_t *reason)
{
    size_t number = 1;
    for (const char *wave = spec;; number++) {
        const char *semi = strchr(wave, ';');
        size_t len = semi ? (size_t) (semi - wave) : strlen(wave);
        foundry_err err = s_wave_check(wave, len, number, semi == NULL, reason);
        if (err != FOUNDRY_OK || !semi)
            return err;
        wave = semi + 1;
    }
}

foundry_err
fdy_ctl_rate_parse(const char *text, uint64_t *per_minute_out, fdy_reason_t *reason)
{
    const char *slash = strchr(text, '/');
    size_t len = slash ? (size_t) (slash - text) : strlen(text);
    uint64_t n;
    if (!s_u64(text, len, &n) || n > 1000000)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "--rate '%s': nodes a minute, as N or N/m (N/s also works)", text);
    uint64_t factor = 1;
    if (slash) {
        const char *unit = slash + 1;
        if (strcmp(unit, "s") == 0)
            factor = 60;
        else if (strcmp(unit, "m") != 0 && strcmp(unit, "min") != 0)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "--rate '%s': unit '%s' is not s, m or min", text, unit);
    }
    *per_minute_out = n * factor;
    return FOUNDRY_OK;
}

foundry_err
fdy_ctl_percent_parse(const char *text, uint64_t *out, fdy_reason_t *reason)
{
    size_t len = strlen(text);
    if (len && text[len - 1] == '%')
        len--;
    uint64_t pct;
    if (!s_u64(text, len, &pct) || pct > 100)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "'%s' is not a percentage 0..100", text);
    *out = pct;
    return FOUNDRY_OK;
}

foundry_err
fdy_ctl_gate_check(const char *text, fdy_reason_t *reason)
{
    size_t metric_len = strcspn(text, "<>=");
    if (metric_len == 0 || !s_site_ok(text, metric_len))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "--gate '%s': needs METRIC<VALUE (or >, <=, >=, ==); the metric "
                              "is [A-Za-z0-9._-]+",
                              text);
    const char *op = text + metric_len;
    if (!op[0])
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "--gate '%s': no comparison", text);
    size_t op_len = (op[1] == '=') ? 2 : 1;
    if (op[0] == '=' && op_len != 2)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "--gate '%s': use == for equality", text);
    const char *value = op + op_len;
    char *end = NULL;
    errno = 0;
    (void) strtod(value, &end);
    if (!*value || errno || *end || isspace((unsigned char) *value))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "--gate '%s': '%s' is not a number", text,
                              value);
    return FOUNDRY_OK;
}

foundry_err
fdy_ctl_pair_check(const char *what, const char *text, fdy_reason_t *reason)
{
    const char *eq = strchr(text, '=');
    if (!eq || eq == text)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s '%s' is not key=value", what, text);
    if (strlen(text) > FDY_MODEL_TEXT_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s '%.32s...' is over %u bytes", what, text,
                              FDY_MODEL_TEXT_MAX);
    return FOUNDRY_OK;
}

/* ---- rollout.start arguments -------------------------------------------- */

static foundry_err
s_add_u64(fdy_ctl_argv_t *argv, const char *key, uint64_t value)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, value);
    return fdy_ctl_argv_add(argv, key, text);
}

static foundry_err
s_add_duration(fdy_ctl_argv_t *argv, const char *flag, const char *key, const char *value,
               fdy_reason_t *reason)
{
    if (!value)
        return FOUNDRY_OK;
    uint64_t ms;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_config_parse_duration(value, &ms, &why) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s: %s", flag,
                              why.text[0] ? why.text : "bad duration");
    return s_add_u64(argv, key, ms);
}

static foundry_err
s_add_percent(fdy_ctl_argv_t *argv, const char *flag, const char *key, const char *value,
              fdy_reason_t *reason)
{
    if (!value)
        return FOUNDRY_OK;
    uint64_t pct;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_ctl_percent_parse(value, &pct, &why) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s: %s", flag, why.text);
    return s_add_u64(argv, key, pct);
}

static foundry_err
s_add_target(const fdy_ctl_rollout_opts_t *o, fdy_ctl_argv_t *argv, fdy_reason_t *reason)
{
    if (!o->model == !o->job)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              o->model ? "give NAME@VERSION or --job TYPE, not both"
                                       : "nothing to roll out: give NAME@VERSION or --job TYPE");
    if (o->job) {
        size_t len = strlen(o->job);
        if (len == 0 || len > 64 || !s_site_ok(o->job, len))
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "--job '%s': a job type is [A-Za-z0-9_.-]{1,64}", o->job);
        return fdy_ctl_argv_add(argv, "job", o->job);
    }
    if (o->data || o->run_timeout)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "--data and --run-timeout are for fleet jobs (--job TYPE)");
    char name[FDY_MODEL_NAME_MAX + 1];
    uint64_t version;
    foundry_err err = fdy_ctl_model_ref_parse(o->model, true, name, &version, reason);
    return err == FOUNDRY_OK ? fdy_ctl_argv_add(argv, "model", o->model) : err;
}

foundry_err
fdy_ctl_rollout_argv(const fdy_ctl_rollout_opts_t *o, fdy_ctl_argv_t *argv, fdy_reason_t *reason)
{
    foundry_err err = s_add_target(o, argv, reason);
    if (err == FOUNDRY_OK && o->waves) {
        err = fdy_ctl_waves_check(o->waves, reason);
        if (err == FOUNDRY_OK)
            err = fdy_ctl_argv_add(argv, "waves", o->waves);
    }
    if (err == FOUNDRY_OK && o->rate) {
        uint64_t per_minute;
        err = fdy_ctl_rate_parse(o->rate, &per_minute, reason);
        if (err == FOUNDRY_OK)
            err = s_add_u64(argv, "rate", per_minute);
    }
    if (err == FOUNDRY_OK)
        err = s_add_duration(argv, "--soak", "soak", o->soak, reason);
    if (err == FOUNDRY_OK)
        err = s_add_percent(argv, "--success", "success", o->success, reason);
    if (err == FOUNDRY_OK && o->abort_failures) {
        uint64_t n;
        if (!s_u64(o->abort_failures, strlen(o->abort_failures), &n))
            err = fdy_reason_set(reason, FOUNDRY_EINVAL,
                                 "--abort-failures needs a number >= 0, not %s", o->abort_failures);
        else
            err = s_add_u64(argv, "abort_failures", n);
    }
    if (err == FOUNDRY_OK)
        err = s_add_percent(argv, "--abort-rate", "abort_rate", o->abort_rate, reason);
    for (size_t i = 0; err == FOUNDRY_OK && i < o->gate_count; i++) {
        err = fdy_ctl_gate_check(o->gates[i], reason);
        if (err == FOUNDRY_OK)
            err = fdy_ctl_argv_add(argv, "gate", o->gates[i]);
    }
    for (size_t i = 0; err == FOUNDRY_OK && i < o->site_count; i++) {
        if (!s_site_ok(o->sites[i], strlen(o->sites[i])))
            err = fdy_reason_set(reason, FOUNDRY_EINVAL, "--site '%s' is not a site name",
                                 o->sites[i]);
        else
            err = fdy_ctl_argv_add(argv, "site", o->sites[i]);
    }
    for (size_t i = 0; err == FOUNDRY_OK && i < o->label_count; i++) {
        err = fdy_ctl_pair_check("--label", o->labels[i], reason);
        if (err == FOUNDRY_OK)
            err = fdy_ctl_argv_add(argv, "label", o->labels[i]);
    }
    if (err == FOUNDRY_OK && o->data)
        err = fdy_ctl_argv_add(argv, "data", o->data);
    if (err == FOUNDRY_OK)
        err = s_add_duration(argv, "--run-timeout", "timeout", o->run_timeout, reason);
    if (err == FOUNDRY_ENOMEM)
        fdy_reason_set(reason, err, "out of memory");
    return err;
}

/* ---- rollback ------------------------------------------------------------ */

foundry_err
fdy_ctl_rollback_plan(const uint64_t *log_versions, size_t count, uint64_t current,
                      uint64_t current_release_version, uint64_t to, uint64_t *rollback_of_out,
                      uint64_t *release_version_out, fdy_reason_t *reason)
{
    if (to == current)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "version %" PRIu64 " is the current version already", to);
    if (to > current)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "version %" PRIu64 " is newer than the current %" PRIu64
                              ": push it as a new version instead",
                              to, current);
    bool seen = false;
    uint64_t highest = current > current_release_version ? current : current_release_version;
    for (size_t i = 0; i < count; i++) {
        seen = seen || log_versions[i] == to;
        if (log_versions[i] > highest)
            highest = log_versions[i];
    }
    if (!seen)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "version %" PRIu64 " was never released (see foundryctl model log)",
                              to);
    if (highest == UINT64_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "no release version is left above %" PRIu64,
                              highest);
    *rollback_of_out = current;
    *release_version_out = highest + 1;
    return FOUNDRY_OK;
}
