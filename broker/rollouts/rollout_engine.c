/*  rollout_engine.c: a rollout's decisions (rollout_engine.h). Pure: the
 *  caller passes the clock and what it observed; every rule is unit-tested
 *  in tests/unit/test_rollout_engine.c. The only side effects are on the
 *  rollout itself, and each one marks it dirty for the next commit.
 */
#include "rollout_engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Starts in one step without a rate: the rest follow at once (next 0). */
#define STEP_STARTS_MAX 1024u
/* How soon to look again while the gate reader catches up. */
#define CATCH_UP_MS 100

static const char *const s_states[] = {"running", "paused", "aborted", "succeeded"};
static const char *const s_node_states[] = {
    "pending",   "started", "running", "downloading", "verified", "waiting-interlock",
    "installed", "healthy", "failed",  "cancelled",   "excluded",
};
/* Order of progress; a report that goes back is stale. */
static const int s_rank[] = {0, 1, 2, 2, 3, 4, 5, 6, 6, 6, 6};
_Static_assert(sizeof s_node_states / sizeof s_node_states[0] == FDY_RNODE_STATE_COUNT &&
                   sizeof s_rank / sizeof s_rank[0] == FDY_RNODE_STATE_COUNT,
               "one name and one rank per node state");

const char *
fdy_rollout_state_name(fdy_rollout_state_t state)
{
    return (size_t) state < sizeof s_states / sizeof s_states[0] ? s_states[state] : "?";
}

const char *
fdy_rollout_node_state_name(fdy_rollout_node_state_t state)
{
    return state < FDY_RNODE_STATE_COUNT ? s_node_states[state] : "?";
}

bool
fdy_rollout_node_state_parse(const char *name, fdy_rollout_node_state_t *out)
{
    for (size_t i = 0; name && i < FDY_RNODE_STATE_COUNT; i++)
        if (strcmp(name, s_node_states[i]) == 0) {
            *out = (fdy_rollout_node_state_t) i;
            return true;
        }
    return false;
}

bool
fdy_rollout_node_ended(fdy_rollout_node_state_t state)
{
    return state == FDY_RNODE_HEALTHY || state == FDY_RNODE_FAILED ||
           state == FDY_RNODE_CANCELLED || state == FDY_RNODE_EXCLUDED;
}

static bool
s_finished(const fdy_rollout_t *self)
{
    return self->rec.state == FDY_ROLLOUT_ABORTED || self->rec.state == FDY_ROLLOUT_SUCCEEDED;
}

static void
s_touch(fdy_rollout_t *self, uint64_t now_ms)
{
    self->rec.updated_ms = now_ms;
    self->dirty = true;
}

static void
s_set_text(char *dst, const char *text)
{
    snprintf(dst, FDY_ROLLOUT_TEXT_MAX, "%s", text ? text : "");
}

fdy_rollout_node_t *
fdy_rollout_engine_node(fdy_rollout_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->rec.node_count; i++)
        if (strcmp(self->rec.nodes[i].name, name) == 0)
            return &self->rec.nodes[i];
    return NULL;
}

/* ---- reports ---------------------------------------------------------------- */

bool
fdy_rollout_engine_report(fdy_rollout_t *self, const char *name, fdy_rollout_node_state_t state,
                          const char *reason, uint64_t done_bytes, uint64_t total_bytes,
                          uint64_t now_ms)
{
    fdy_rollout_node_t *node = fdy_rollout_engine_node(self, name);
    if (!node || s_finished(self) || state >= FDY_RNODE_STATE_COUNT)
        return false;
    fdy_rollout_node_state_t was = (fdy_rollout_node_state_t) node->state;
    /* Only a started node reports, and never past its end. */
    if (was == FDY_RNODE_PENDING || fdy_rollout_node_ended(was))
        return false;
    if (state == FDY_RNODE_PENDING || state == FDY_RNODE_STARTED || state == FDY_RNODE_CANCELLED ||
        state == FDY_RNODE_EXCLUDED)
        return false;
    if (s_rank[state] < s_rank[was])
        return false; /* out of order: a later state was already reported */
    const char *why = reason ? reason : "";
    if (state == was && done_bytes == node->done_bytes &&
        (total_bytes == 0 || total_bytes == node->total_bytes) && strcmp(why, node->reason) == 0)
        return false;
    node->state = (uint8_t) state;
    node->done_bytes = done_bytes;
    if (total_bytes)
        node->total_bytes = total_bytes;
    s_set_text(node->reason, why);
    node->updated_ms = now_ms;
    s_touch(self, now_ms);
    return true;
}

bool
fdy_rollout_engine_labels(fdy_rollout_t *self, const char *name, const char *const *labels,
                          size_t count, uint64_t now_ms)
{
    fdy_rollout_node_t *node = fdy_rollout_engine_node(self, name);
    if (!node || s_finished(self) || self->options.label_count == 0 ||
        node->state != FDY_RNODE_PENDING || (node->flags & FDY_RNODE_LABELS))
        return false;
    node->flags |= FDY_RNODE_LABELS;
    if (!fdy_rollout_options_labels_ok(&self->options, labels, count)) {
        node->state = FDY_RNODE_EXCLUDED;
        char why[FDY_ROLLOUT_TEXT_MAX];
        snprintf(why, sizeof why, "its labels do not match the rollout's label= filters");
        s_set_text(node->reason, why);
    }
    node->updated_ms = now_ms;
    s_touch(self, now_ms);
    return true;
}

/* ---- counting ----------------------------------------------------------------- */

typedef struct {
    size_t nodes, ended, healthy, failed, startable;
} s_wave_count_t;

static s_wave_count_t
s_count_wave(const fdy_rollout_t *self, uint32_t wave)
{
    s_wave_count_t c = {0, 0, 0, 0, 0};
    for (size_t i = 0; i < self->rec.node_count; i++) {
        const fdy_rollout_node_t *n = &self->rec.nodes[i];
        if (n->wave != wave || n->state == FDY_RNODE_EXCLUDED)
            continue;
        c.nodes++;
        if (fdy_rollout_node_ended((fdy_rollout_node_state_t) n->state))
            c.ended++;
        if (n->state == FDY_RNODE_HEALTHY)
            c.healthy++;
        if (n->state == FDY_RNODE_FAILED)
            c.failed++;
    }
    return c;
}

void
fdy_rollout_engine_counts(const fdy_rollout_t *self, fdy_rollout_counts_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < self->rec.node_count; i++) {
        const fdy_rollout_node_t *n = &self->rec.nodes[i];
        if (n->state == FDY_RNODE_EXCLUDED)
            continue;
        out->nodes++;
        out->healthy += n->state == FDY_RNODE_HEALTHY;
        out->failed += n->state == FDY_RNODE_FAILED;
        out->started += n->state != FDY_RNODE_PENDING;
    }
}

/* ---- admin actions -------------------------------------------------------------- */

static void
s_pause(fdy_rollout_t *self, fdy_rollout_pause_t why, const char *reason, uint64_t now_ms)
{
    self->rec.state = FDY_ROLLOUT_PAUSED;
    self->rec.pause = (uint8_t) why;
    s_set_text(self->rec.reason, reason);
    s_touch(self, now_ms);
}

foundry_err
fdy_rollout_engine_pause(fdy_rollout_t *self, fdy_rollout_pause_t why, const char *reason,
                         uint64_t now_ms, fdy_reason_t *err_reason)
{
    if (self->rec.state != FDY_ROLLOUT_RUNNING)
        return fdy_reason_set(err_reason, FOUNDRY_EINVAL, "rollout %" PRIu64 " is %s, not running",
                              self->rec.id, fdy_rollout_state_name(self->rec.state));
    s_pause(self, why, reason, now_ms);
    return FOUNDRY_OK;
}

foundry_err
fdy_rollout_engine_resume(fdy_rollout_t *self, uint64_t now_ms, fdy_reason_t *reason)
{
    if (self->rec.state != FDY_ROLLOUT_PAUSED)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "rollout %" PRIu64 " is %s, not paused",
                              self->rec.id, fdy_rollout_state_name(self->rec.state));
    fdy_rollout_pause_t why = (fdy_rollout_pause_t) self->rec.pause;
    self->rec.state = FDY_ROLLOUT_RUNNING;
    /* A success pause resumed means: the operator accepts this wave as it
     * is. The mark stays until the wave advances. */
    self->rec.pause = why == FDY_PAUSE_SUCCESS ? FDY_PAUSE_SUCCESS : FDY_PAUSE_NONE;
    if (why == FDY_PAUSE_GATE)
        self->rec.soak_from_ms = now_ms; /* the gates must hold for a whole soak again */
    self->rec.reason[0] = '\0';
    s_touch(self, now_ms);
    return FOUNDRY_OK;
}

foundry_err
fdy_rollout_engine_abort(fdy_rollout_t *self, const char *why, uint64_t now_ms,
                         fdy_reason_t *reason)
{
    if (s_finished(self))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "rollout %" PRIu64 " has already %s",
                              self->rec.id, fdy_rollout_state_name(self->rec.state));
    for (size_t i = 0; i < self->rec.node_count; i++) {
        fdy_rollout_node_t *n = &self->rec.nodes[i];
        if (n->state == FDY_RNODE_PENDING || fdy_rollout_node_ended(n->state))
            continue;
        n->state = FDY_RNODE_CANCELLED;
        n->flags = (uint8_t) ((n->flags & ~FDY_RNODE_START_DUE) | FDY_RNODE_CANCEL_DUE);
        s_set_text(n->reason, "rollout aborted");
        n->updated_ms = now_ms;
    }
    self->rec.state = FDY_ROLLOUT_ABORTED;
    self->rec.pause = FDY_PAUSE_NONE;
    s_set_text(self->rec.reason, why);
    s_touch(self, now_ms);
    return FOUNDRY_OK;
}

/* ---- the step ----------------------------------------------------------------------- */

static bool
s_check_abort(fdy_rollout_t *self, uint64_t now_ms)
{
    const fdy_rollout_policy_t *p = &self->options.policy;
    if (!p->abort_failures && !p->abort_rate)
        return false;
    fdy_rollout_counts_t c;
    fdy_rollout_engine_counts(self, &c);
    size_t finished = c.healthy + c.failed;
    char why[FDY_ROLLOUT_TEXT_MAX];
    if (p->abort_failures && c.failed >= p->abort_failures)
        snprintf(why, sizeof why, "abort_failures=%u: %zu nodes failed", p->abort_failures,
                 c.failed);
    else if (p->abort_rate && finished && c.failed * 100 >= (size_t) p->abort_rate * finished)
        snprintf(why, sizeof why, "abort_rate=%u%%: %zu of %zu finished nodes failed",
                 p->abort_rate, c.failed, finished);
    else
        return false;
    (void) fdy_rollout_engine_abort(self, why, now_ms, NULL);
    return true;
}

static uint64_t
s_rate_interval_ms(const fdy_rollout_t *self)
{
    uint32_t rate = self->options.policy.rate;
    return rate ? (60000u + rate - 1) / rate : 0;
}

static bool
s_startable(const fdy_rollout_t *self, const fdy_rollout_node_t *n, uint32_t wave)
{
    return n->wave == wave && n->state == FDY_RNODE_PENDING &&
           (self->options.label_count == 0 || (n->flags & FDY_RNODE_LABELS));
}

/* Starts what the rate allows in the current wave. */
static bool
s_start_nodes(fdy_rollout_t *self, uint64_t now_ms, int64_t *next_ms)
{
    bool changed = false;
    uint64_t interval = s_rate_interval_ms(self);
    size_t started = 0;
    for (size_t i = 0; i < self->rec.node_count; i++) {
        fdy_rollout_node_t *n = &self->rec.nodes[i];
        if (!s_startable(self, n, self->rec.wave))
            continue;
        if (started == STEP_STARTS_MAX) {
            *next_ms = 0;
            break;
        }
        if (interval && self->rec.last_start_ms && now_ms < self->rec.last_start_ms + interval) {
            int64_t wait = (int64_t) (self->rec.last_start_ms + interval - now_ms);
            if (wait < *next_ms)
                *next_ms = wait;
            break;
        }
        n->state = FDY_RNODE_STARTED;
        n->flags |= FDY_RNODE_START_DUE;
        n->started_ms = now_ms;
        n->updated_ms = now_ms;
        n->reason[0] = '\0';
        self->rec.last_start_ms = now_ms;
        started++;
        changed = true;
    }
    if (changed)
        s_touch(self, now_ms);
    return changed;
}

bool
fdy_rollout_engine_soaking(const fdy_rollout_t *self, uint64_t *from_ms, uint64_t *until_ms)
{
    if (self->rec.state != FDY_ROLLOUT_RUNNING || self->rec.wave_done_ms == 0 ||
        self->options.gate_count == 0)
        return false;
    *from_ms = self->rec.soak_from_ms;
    *until_ms = self->rec.soak_from_ms + self->options.policy.soak_ms;
    return true;
}

/* The current wave is done: success share, then soak and gates. True when
 * it may advance now. */
static bool
s_wave_passes(fdy_rollout_t *self, const s_wave_count_t *c, uint64_t now_ms,
              const fdy_rollout_gates_t *gates, int64_t *next_ms)
{
    const fdy_rollout_policy_t *p = &self->options.policy;
    if (self->rec.wave_done_ms == 0) {
        self->rec.wave_done_ms = now_ms;
        self->rec.soak_from_ms = now_ms;
        s_touch(self, now_ms);
    }
    bool accepted = self->rec.pause == FDY_PAUSE_SUCCESS;
    if (c->nodes && !accepted && c->healthy * 100 < (size_t) p->success * c->nodes) {
        char why[FDY_ROLLOUT_TEXT_MAX];
        snprintf(why, sizeof why, "wave %u: %zu of %zu failed, success needs %u%%",
                 self->rec.wave + 1, c->nodes - c->healthy, c->nodes, p->success);
        s_pause(self, FDY_PAUSE_SUCCESS, why, now_ms);
        return false;
    }
    if (self->options.gate_count && gates && gates->violation) {
        s_pause(self, FDY_PAUSE_GATE, gates->violation, now_ms);
        return false;
    }
    uint64_t soak_end = self->rec.soak_from_ms + p->soak_ms;
    if (now_ms < soak_end) {
        int64_t wait = (int64_t) (soak_end - now_ms);
        if (wait < *next_ms)
            *next_ms = wait;
        return false;
    }
    if (self->options.gate_count && (!gates || !gates->caught_up)) {
        if (CATCH_UP_MS < *next_ms)
            *next_ms = CATCH_UP_MS;
        return false;
    }
    return true;
}

bool
fdy_rollout_engine_step(fdy_rollout_t *self, uint64_t now_ms, const fdy_rollout_gates_t *gates,
                        int64_t *next_ms)
{
    int64_t next_local = INT64_MAX;
    if (!next_ms)
        next_ms = &next_local;
    *next_ms = INT64_MAX;
    bool was_dirty = self->dirty;
    self->dirty = false;
    bool changed = false;
    if (s_finished(self)) {
        self->dirty = was_dirty;
        return false;
    }
    if (s_check_abort(self, now_ms)) {
        self->dirty = true;
        return true;
    }
    while (self->rec.state == FDY_ROLLOUT_RUNNING) {
        if (self->rec.wave >= self->options.waves.count) {
            self->rec.state = FDY_ROLLOUT_SUCCEEDED;
            self->rec.pause = FDY_PAUSE_NONE;
            self->rec.reason[0] = '\0';
            s_touch(self, now_ms);
            break;
        }
        s_start_nodes(self, now_ms, next_ms);
        s_wave_count_t c = s_count_wave(self, self->rec.wave);
        if (c.ended < c.nodes)
            break; /* reports (or the rate) move it on */
        /* An empty wave (every node excluded) has nothing to soak. */
        if (c.nodes && !s_wave_passes(self, &c, now_ms, gates, next_ms))
            break;
        /* Advance. Gates of the next wave are about its own nodes. */
        self->rec.wave++;
        self->rec.wave_done_ms = 0;
        self->rec.soak_from_ms = 0;
        self->rec.pause = FDY_PAUSE_NONE;
        gates = NULL;
        s_touch(self, now_ms);
    }
    changed = self->dirty;
    self->dirty = self->dirty || was_dirty;
    return changed;
}

void
fdy_rollout_engine_waiting(const fdy_rollout_t *self, const fdy_rollout_node_t *node,
                           uint64_t now_ms, char *buf, size_t size)
{
    buf[0] = '\0';
    if (node->state != FDY_RNODE_PENDING || s_finished(self))
        return;
    if (node->wave > self->rec.wave) {
        snprintf(buf, size, "waits for wave %u of %zu", node->wave + 1, self->options.waves.count);
        return;
    }
    if (self->rec.state == FDY_ROLLOUT_PAUSED) {
        snprintf(buf, size, "rollout paused");
        return;
    }
    if (self->options.label_count && !(node->flags & FDY_RNODE_LABELS)) {
        snprintf(buf, size, "waiting for the node's labels (its next WATCH or job registration)");
        return;
    }
    uint64_t interval = s_rate_interval_ms(self);
    if (interval && self->rec.last_start_ms && now_ms < self->rec.last_start_ms + interval) {
        uint64_t wait = self->rec.last_start_ms + interval - now_ms;
        snprintf(buf, size, "rate %u/min: next start in %" PRIu64 " s", self->options.policy.rate,
                 (wait + 999) / 1000);
        return;
    }
}
