/*  rollout_plan.c: wave SPECs, the assignment of nodes to waves and gate
 *  expressions (rollout_plan.h). Pure: no I/O, no clock, no allocation, so
 *  every rule is unit-tested (tests/unit/test_rollout_plan.c).
 */
#include "rollout_plan.h"

#include "subject.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies the len bytes at s, trimmed of blanks, into buf (size bytes). */
static size_t
s_trim_copy(const char *s, size_t len, char *buf, size_t size)
{
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len >= size)
        len = size - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return len;
}

static foundry_err
s_parse_percent(const char *text, size_t index, uint32_t *out, fdy_reason_t *reason)
{
    size_t len = strlen(text);
    uint32_t value = 0;
    bool ok = len >= 2 && len <= 4;
    for (size_t i = 0; ok && i + 1 < len; i++) {
        ok = text[i] >= '0' && text[i] <= '9';
        value = value * 10 + (uint32_t) (text[i] - '0');
    }
    if (!ok || value < 1 || value > 100)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "wave %zu: '%s' is not 1..100%%", index,
                              text);
    *out = value;
    return FOUNDRY_OK;
}

static foundry_err
s_parse_wave(const char *text, size_t index, fdy_rollout_wave_t *wave, fdy_reason_t *reason)
{
    memset(wave, 0, sizeof *wave);
    if (text[0] == '\0')
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "wave %zu is empty", index);
    if (strcmp(text, "*") == 0) {
        wave->kind = FDY_ROLLOUT_WAVE_REST;
        return FOUNDRY_OK;
    }
    if (text[strlen(text) - 1] == '%') {
        wave->kind = FDY_ROLLOUT_WAVE_PERCENT;
        return s_parse_percent(text, index, &wave->percent, reason);
    }
    wave->kind = FDY_ROLLOUT_WAVE_SITES;
    const char *at = text;
    for (;;) {
        size_t len = strcspn(at, ",");
        if (wave->site_count == FDY_ROLLOUT_WAVE_SITES_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "wave %zu: more than %u sites", index,
                                  FDY_ROLLOUT_WAVE_SITES_MAX);
        char *site = wave->sites[wave->site_count];
        if (len >= FDY_NAME_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "wave %zu: site '%.*s...' is too long",
                                  index, 20, at);
        s_trim_copy(at, len, site, FDY_NAME_MAX);
        fdy_reason_t why;
        fdy_reason_clear(&why);
        if (site[0] == '\0')
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "wave %zu: an empty site in '%s'", index,
                                  text);
        if (strcmp(site, "*") == 0 || strchr(site, '%'))
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "wave %zu: '%s' must stand alone, not in a site list", index,
                                  site);
        if (fdy_site_validate(site, &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "wave %zu: %s", index, why.text);
        for (size_t i = 0; i < wave->site_count; i++)
            if (strcmp(wave->sites[i], site) == 0)
                return fdy_reason_set(reason, FOUNDRY_EINVAL, "wave %zu names site %s twice", index,
                                      site);
        wave->site_count++;
        if (at[len] == '\0')
            break;
        at += len + 1;
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_rollout_plan_parse_waves(const char *spec, fdy_rollout_waves_t *out, fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    if (!spec || !*spec)
        spec = "*";
    if (strlen(spec) > FDY_ROLLOUT_SPEC_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "wave spec longer than %u bytes",
                              FDY_ROLLOUT_SPEC_MAX);
    const char *at = spec;
    for (;;) {
        size_t len = strcspn(at, ";");
        if (out->count == FDY_ROLLOUT_WAVES_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "more than %u waves",
                                  FDY_ROLLOUT_WAVES_MAX);
        char text[FDY_ROLLOUT_SPEC_MAX + 1];
        s_trim_copy(at, len, text, sizeof text);
        foundry_err err = s_parse_wave(text, out->count + 1, &out->waves[out->count], reason);
        if (err != FOUNDRY_OK)
            return err;
        if (out->waves[out->count].kind == FDY_ROLLOUT_WAVE_REST && at[len] != '\0')
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "wave %zu is '*' (every remaining node): no wave can follow it",
                                  out->count + 1);
        out->count++;
        if (at[len] == '\0')
            break;
        at += len + 1;
    }
    return FOUNDRY_OK;
}

static bool
s_wave_has_site(const fdy_rollout_wave_t *wave, const char *site)
{
    for (size_t i = 0; i < wave->site_count; i++)
        if (strcmp(wave->sites[i], site) == 0)
            return true;
    return false;
}

void
fdy_rollout_plan_assign(const fdy_rollout_waves_t *waves, const fdy_rollout_target_t *nodes,
                        size_t count, uint32_t *wave_out)
{
    for (size_t i = 0; i < count; i++)
        wave_out[i] = FDY_ROLLOUT_NO_WAVE;
    for (size_t w = 0; w < waves->count; w++) {
        const fdy_rollout_wave_t *wave = &waves->waves[w];
        /* ceil(percent of every target node), at least one. */
        size_t want = wave->kind == FDY_ROLLOUT_WAVE_PERCENT
                          ? ((size_t) wave->percent * count + 99) / 100
                          : count;
        if (want == 0)
            want = 1;
        size_t taken = 0;
        for (size_t i = 0; i < count && taken < want; i++) {
            if (wave_out[i] != FDY_ROLLOUT_NO_WAVE)
                continue;
            if (wave->kind == FDY_ROLLOUT_WAVE_SITES && !s_wave_has_site(wave, nodes[i].site))
                continue;
            wave_out[i] = (uint32_t) w;
            taken++;
        }
    }
}

void
fdy_rollout_plan_wave_text(const fdy_rollout_wave_t *wave, char *buf, size_t size)
{
    if (size == 0)
        return;
    buf[0] = '\0';
    if (wave->kind == FDY_ROLLOUT_WAVE_REST) {
        snprintf(buf, size, "*");
        return;
    }
    if (wave->kind == FDY_ROLLOUT_WAVE_PERCENT) {
        snprintf(buf, size, "%u%%", wave->percent);
        return;
    }
    size_t used = 0;
    for (size_t i = 0; i < wave->site_count && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? "," : "", wave->sites[i]);
        if (n < 0)
            break;
        used += (size_t) n;
    }
}

/* ---- gates ------------------------------------------------------------------ */

static const struct {
    const char *text;
    fdy_gate_op_t op;
} s_ops[] = {
    /* Two-character operators first, so "<=" is not read as "<" then "=". */
    {"<=", FDY_GATE_LE}, {">=", FDY_GATE_GE}, {"==", FDY_GATE_EQ},
    {"<", FDY_GATE_LT},  {">", FDY_GATE_GT},
};
#define OP_COUNT (sizeof s_ops / sizeof s_ops[0])

static const char *
s_op_text(fdy_gate_op_t op)
{
    for (size_t i = 0; i < OP_COUNT; i++)
        if (s_ops[i].op == op)
            return s_ops[i].text;
    return "?";
}

foundry_err
fdy_rollout_plan_parse_gate(const char *expr, fdy_rollout_gate_t *out, fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    if (!expr)
        expr = "";
    size_t split = strcspn(expr, "<>=");
    if (expr[split] == '\0')
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "gate '%.80s' has no operator: METRIC<VALUE, <=, >, >= or ==", expr);
    size_t op_index = OP_COUNT;
    for (size_t i = 0; i < OP_COUNT && op_index == OP_COUNT; i++)
        if (strncmp(expr + split, s_ops[i].text, strlen(s_ops[i].text)) == 0)
            op_index = i;
    if (op_index == OP_COUNT)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "gate '%.80s': unknown operator (use <, <=, >, >= or ==)", expr);
    if (split == 0 || split > FDY_ROLLOUT_METRIC_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "gate '%.80s': the metric must be 1..%u bytes", expr,
                              FDY_ROLLOUT_METRIC_MAX);
    memcpy(out->metric, expr, split);
    out->metric[split] = '\0';
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_subject_validate(out->metric, &why) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "gate '%.80s': metric: %s", expr, why.text);
    out->op = s_ops[op_index].op;
    const char *value = expr + split + strlen(s_ops[op_index].text);
    char *end = NULL;
    errno = 0;
    double bound = *value ? strtod(value, &end) : 0.0;
    if (!*value || !end || *end != '\0' || errno == ERANGE || !isfinite(bound))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "gate '%.80s': '%.40s' is not a finite number", expr, value);
    out->bound = bound;
    return FOUNDRY_OK;
}

bool
fdy_rollout_gate_holds(const fdy_rollout_gate_t *gate, double value)
{
    switch (gate->op) {
    case FDY_GATE_LT: return value < gate->bound;
    case FDY_GATE_LE: return value <= gate->bound;
    case FDY_GATE_GT: return value > gate->bound;
    case FDY_GATE_GE: return value >= gate->bound;
    case FDY_GATE_EQ: return value == gate->bound;
    }
    return false;
}

void
fdy_rollout_gate_text(const fdy_rollout_gate_t *gate, char *buf, size_t size)
{
    fdy_rollout_value_text(gate->bound, buf, size);
    char bound[40];
    snprintf(bound, sizeof bound, "%s", buf);
    snprintf(buf, size, "%s%s%s", gate->metric, s_op_text(gate->op), bound);
}

void
fdy_rollout_value_text(double value, char *buf, size_t size)
{
    /* The shortest form that reads back as the same double: 0.02, not
     * 0.02000000000000000042. */
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, value);
        if (strtod(buf, NULL) == value)
            return;
    }
}
