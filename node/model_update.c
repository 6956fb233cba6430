/*  model_update.c: one release's way from verified notice to healthy
 *  (model_update.h), as a small state machine stepped by the loop. A
 *  chunk is hashed once, on arrival, and written straight into the
 *  version's temporary file (model_assembly.h), which one fsync makes
 *  durable at the end; a restart resumes from that file, checking each
 *  chunk in it again rather than trusting one that could be half on disk.
 */
#include "model_update.h"

#include "artifact.h"
#include "log.h"
#include "model_assembly.h"
#include "model_files.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRESS_EVERY_MS 1000
/* Bytes of a kept temporary file hashed again per turn (at least one
 * chunk): a few ms, so a resumed 1 GiB model never stalls the loop. */
#define RESUME_BYTES_PER_TURN (4u << 20)
#define WINDOW_MAX            64
#define PATH_LEN              4096

typedef enum {
    STEP_DOWNLOAD,
    STEP_ASSEMBLE,
    STEP_INTERLOCK,
    STEP_SWITCH,
    STEP_HEALTH,
    STEP_DONE,
} s_step_t;

typedef struct {
    uint64_t request_id; /* 0: free */
    uint32_t index;
} s_fetch_t;

struct fdy_model_update {
    const fdy_model_update_env_t *env;
    const fdy_model_update_ops_t *ops;
    void *user;
    uint64_t rollout_id;
    char name[FDY_MODEL_NAME_MAX + 1];
    uint64_t version;
    uint64_t size;
    uint32_t chunk_size;
    uint8_t artifact[FDY_MODEL_HASH_LEN];
    uint8_t *hashes;
    size_t chunk_count;
    uint8_t manifest_hash[FDY_MODEL_HASH_LEN];
    fdy_release_head_t head;
    fdy_model_held_t held; /* before this update */
    char model_dir[PATH_LEN];
    char version_path[PATH_LEN];

    s_step_t step;
    bool started;
    uint32_t *todo; /* chunk indexes still to ask for */
    size_t todo_count;
    s_fetch_t fetches[WINDOW_MAX];
    size_t fetch_count;
    uint64_t done_bytes;
    bool resumed; /* what the temporary file held is checked */
    int64_t next_progress_ms;

    fdy_model_assembly_t *assembly;
    fdy_model_check_t *check;
    int64_t next_check_ms;
    char waiting_reason[FDY_REASON_MAX];
    uint64_t old_version; /* what current held before the switch */
    bool healthy;
};

fdy_model_update_t *
fdy_model_update_new(const fdy_model_update_env_t *env, const fdy_model_update_ops_t *ops,
                     void *user, uint64_t rollout_id, const fdy_model_verified_t *v,
                     const fdy_model_held_t *held)
{
    fdy_model_update_t *self = fdy_xalloc(sizeof *self);
    const fdy_model_manifest_t *m = &v->manifest;
    self->env = env;
    self->ops = ops;
    self->user = user;
    self->rollout_id = rollout_id;
    snprintf(self->name, sizeof self->name, "%s", m->name);
    self->version = m->version;
    self->size = m->size;
    self->chunk_size = m->chunk_size;
    memcpy(self->artifact, m->artifact_hash, FDY_MODEL_HASH_LEN);
    self->chunk_count = m->chunk_count;
    self->hashes = fdy_xalloc(m->chunk_count ? m->chunk_count * FDY_MODEL_HASH_LEN : 1);
    if (m->chunk_count)
        memcpy(self->hashes, m->chunk_hashes, m->chunk_count * FDY_MODEL_HASH_LEN);
    memcpy(self->manifest_hash, v->manifest_hash, FDY_MODEL_HASH_LEN);
    self->head = v->head;
    if (held)
        self->held = *held;
    else
        snprintf(self->held.name, sizeof self->held.name, "%s", m->name);
    /* models_dir fits: the updater checked it with a longer suffix. */
    if ((size_t) snprintf(self->model_dir, sizeof self->model_dir, "%s/%s", env->models_dir,
                          m->name) >= sizeof self->model_dir ||
        (size_t) snprintf(self->version_path, sizeof self->version_path, "%s/%" PRIu64,
                          self->model_dir, m->version) >= sizeof self->version_path)
        self->model_dir[0] = '\0';
    self->step = v->installed_already ? STEP_HEALTH : STEP_DOWNLOAD;
    return self;
}

void
fdy_model_update_destroy(fdy_model_update_t **self_p)
{
    fdy_model_update_t *self = *self_p;
    if (!self)
        return;
    /* Stopped mid-download: the temporary file stays for the next start
     * to resume from (it checks every chunk in it again). */
    fdy_model_assembly_destroy(&self->assembly, true);
    fdy_model_check_destroy(&self->check);
    free(self->hashes);
    free(self->todo);
    free(self);
    *self_p = NULL;
}

static void
s_report(fdy_model_update_t *self, fdy_model_state_t state, const char *reason)
{
    self->ops->report(self->user, self->rollout_id, self->name, self->version, state,
                      self->done_bytes, reason ? reason : "");
}

/* Ends the update as failed, before the switch: nothing installed. */
static void
s_fail(fdy_model_update_t *self, const char *reason)
{
    fdy_log_warn("MODEL-FAILED", "model %s %" PRIu64 " (rollout %" PRIu64 "): %s", self->name,
                 self->version, self->rollout_id, reason);
    s_report(self, FDY_MODEL_STATE_FAILED, reason);
    fdy_model_assembly_destroy(&self->assembly, false);
    fdy_model_check_destroy(&self->check);
    self->step = STEP_DONE;
}

static void s_failf(fdy_model_update_t *self, const char *fmt, ...) FDY_PRINTF(2, 3);

/* s_fail with a formatted reason. */
static void
s_failf(fdy_model_update_t *self, const char *fmt, ...)
{
    char why[FDY_REASON_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(why, sizeof why, fmt, args);
    va_end(args);
    s_fail(self, why);
}

/* ---- download ------------------------------------------------------------ */

static size_t
s_chunk_len(const fdy_model_update_t *self, size_t index)
{
    return fdy_artifact_chunk_len(self->size, self->chunk_size, index);
}

static void
s_plan(fdy_model_update_t *self)
{
    self->todo = fdy_xalloc((self->chunk_count ? self->chunk_count : 1) * sizeof *self->todo);
    /* Back to front, so popping from the end asks in index order. */
    for (size_t i = self->chunk_count; i-- > 0;) {
        if (fdy_model_assembly_has(self->assembly, i))
            self->done_bytes += s_chunk_len(self, i);
        else
            self->todo[self->todo_count++] = (uint32_t) i;
    }
    fdy_log_info("MODEL-DOWNLOAD", "model %s %" PRIu64 ": %zu of %zu chunks to fetch", self->name,
                 self->version, self->todo_count, self->chunk_count);
    self->resumed = true;
}

static void
s_ask(fdy_model_update_t *self)
{
    size_t window = self->env->window < WINDOW_MAX ? self->env->window : WINDOW_MAX;
    while (self->fetch_count < window && self->todo_count > 0) {
        uint32_t index = self->todo[self->todo_count - 1];
        uint64_t id = 0;
        if (self->ops->fetch(self->user, self->name, self->version, index, &id) != FOUNDRY_OK)
            return; /* not connected: asked again next turn */
        self->todo_count--;
        self->fetches[self->fetch_count++] = (s_fetch_t){id, index};
    }
}

static bool
s_take_fetch(fdy_model_update_t *self, uint64_t request_id, uint32_t *index_out)
{
    for (size_t i = 0; i < self->fetch_count; i++)
        if (self->fetches[i].request_id == request_id) {
            *index_out = self->fetches[i].index;
            self->fetches[i] = self->fetches[--self->fetch_count];
            return true;
        }
    return false;
}

bool
fdy_model_update_on_chunk(fdy_model_update_t *self, uint64_t request_id, const uint8_t *data,
                          size_t len)
{
    uint32_t index = 0;
    if (self->step != STEP_DOWNLOAD || !s_take_fetch(self, request_id, &index))
        return false;
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    foundry_err err = fdy_model_assembly_put(self->assembly, index, data, len, &reason);
    if (err == FOUNDRY_EINVAL) {
        s_fail(self, reason.text); /* wrong length or hash */
        return true;
    }
    if (err != FOUNDRY_OK) {
        s_failf(self, "storing chunk %" PRIu32 ": %s", index, reason.text);
        return true;
    }
    self->done_bytes += len;
    return true;
}

bool
fdy_model_update_on_failed(fdy_model_update_t *self, uint64_t request_id, foundry_err err,
                           const char *reason)
{
    uint32_t index = 0;
    if (self->step != STEP_DOWNLOAD || !s_take_fetch(self, request_id, &index))
        return false;
    if (err == FOUNDRY_ECLOSED || err == FOUNDRY_ETIMEDOUT) {
        self->todo[self->todo_count++] = index; /* lost on the way: ask again */
        return true;
    }
    s_failf(self, "fetch of chunk %" PRIu32 " refused: %s: %s", index, foundry_strerror(err),
            reason && *reason ? reason : "no reason given");
    return true;
}

static void
s_download(fdy_model_update_t *self, int64_t now_ms)
{
    if (!self->started) {
        self->started = true;
        /* The id is a function of the manifest's own fields (artifact.h),
         * so a mismatch is found before a byte is fetched. */
        uint8_t id[FDY_ARTIFACT_HASH_LEN];
        fdy_artifact_id(self->size, self->chunk_size, self->hashes, self->chunk_count, id);
        if (memcmp(id, self->artifact, sizeof id) != 0) {
            s_fail(self, "artifact id does not match the manifest's chunks");
            return;
        }
        fdy_reason_t reason;
        fdy_reason_clear(&reason);
        if (fdy_model_assembly_new(self->model_dir, self->version, self->size, self->chunk_size,
                                   self->hashes, self->chunk_count, &self->assembly,
                                   &reason) != FOUNDRY_OK) {
            s_failf(self, "writing %s: %s", self->version_path, reason.text);
            return;
        }
    }
    if (!self->resumed) {
        fdy_reason_t reason;
        fdy_reason_clear(&reason);
        bool done = false;
        size_t slice = self->chunk_size ? RESUME_BYTES_PER_TURN / self->chunk_size : 1;
        if (fdy_model_assembly_resume(self->assembly, slice ? slice : 1, &done, &reason) !=
            FOUNDRY_OK) {
            s_failf(self, "resuming %s: %s", self->version_path, reason.text);
            return;
        }
        if (!done)
            return;
        s_plan(self);
        self->next_progress_ms = now_ms; /* the first report at once */
    }
    if (now_ms >= self->next_progress_ms) {
        s_report(self, FDY_MODEL_STATE_DOWNLOADING, NULL);
        self->next_progress_ms = now_ms + PROGRESS_EVERY_MS;
    }
    s_ask(self);
    if (self->todo_count > 0 || self->fetch_count > 0)
        return;
    s_report(self, FDY_MODEL_STATE_DOWNLOADING, NULL);
    self->step = STEP_ASSEMBLE;
}

/* Every chunk is in, checked: one fsync, then the file gets its name. */
static void
s_assemble(fdy_model_update_t *self)
{
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    if (fdy_model_assembly_finish(self->assembly, &reason) != FOUNDRY_OK) {
        s_failf(self, "assembling %s: %s", self->version_path, reason.text);
        return;
    }
    fdy_model_assembly_destroy(&self->assembly, false);
    fdy_log_info("MODEL-VERIFIED", "model %s %" PRIu64 " assembled at %s", self->name,
                 self->version, self->version_path);
    s_report(self, FDY_MODEL_STATE_VERIFIED, NULL);
    self->step = STEP_INTERLOCK;
}

/* ---- checks ------------------------------------------------------------------ */

static foundry_err
s_start_check(fdy_model_update_t *self, const fdy_model_program_t *program, fdy_reason_t *reason)
{
    char name[FDY_MODEL_NAME_MAX + 32], version[64], path[PATH_LEN + 32];
    snprintf(name, sizeof name, "FOUNDRY_MODEL_NAME=%s", self->name);
    snprintf(version, sizeof version, "FOUNDRY_MODEL_VERSION=%" PRIu64, self->version);
    snprintf(path, sizeof path, "FOUNDRY_MODEL_PATH=%s", self->version_path);
    const char *vars[] = {name, version, path, NULL};
    return fdy_model_check_start(program, vars, FDY_MODEL_CHECK_TIMEOUT_MS, &self->check, reason);
}

/* Waits, never fails: a machine that is busy stays busy a while. */
static void
s_interlock(fdy_model_update_t *self, int64_t now_ms)
{
    if (!self->env->interlock) {
        self->step = STEP_SWITCH;
        return;
    }
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (!self->check) {
        if (now_ms < self->next_check_ms)
            return;
        fdy_reason_t reason;
        fdy_reason_clear(&reason);
        if (s_start_check(self, self->env->interlock, &reason) != FOUNDRY_OK)
            fdy_reason_set(&why, FOUNDRY_EIO, "interlock cannot run: %s", reason.text);
    } else {
        if (!fdy_model_check_service(self->check, now_ms))
            return;
        if (fdy_model_check_ok(self->check)) {
            fdy_model_check_destroy(&self->check);
            self->step = STEP_SWITCH;
            return;
        }
        fdy_reason_set(&why, FOUNDRY_EIO, "interlock: %s", fdy_model_check_reason(self->check));
        fdy_model_check_destroy(&self->check);
    }
    if (!why.text[0])
        return; /* started: its answer comes in a later turn */
    /* Said once per reason, not at every re-check. */
    if (strcmp(why.text, self->waiting_reason) != 0) {
        memcpy(self->waiting_reason, why.text, sizeof self->waiting_reason);
        fdy_log_notice("MODEL-WAITING",
                       "model %s %" PRIu64 ": %s; checking again every %" PRIu64 " ms", self->name,
                       self->version, why.text, self->env->interlock_interval_ms);
        s_report(self, FDY_MODEL_STATE_WAITING_INTERLOCK, why.text);
    }
    self->next_check_ms = now_ms + (int64_t) self->env->interlock_interval_ms;
}

static void
s_switch(fdy_model_update_t *self)
{
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    uint64_t old = 0;
    if (fdy_model_files_switch(self->model_dir, self->version, &old, &reason) != FOUNDRY_OK) {
        s_failf(self, "switching current: %s", reason.text);
        return;
    }
    self->old_version = old;
    fdy_model_held_t state = self->held;
    if (old != 0 && old != self->version) {
        state.previous = old;
        memcpy(state.previous_manifest_hash, self->held.manifest_hash, FDY_MODEL_HASH_LEN);
    }
    state.version = self->version;
    memcpy(state.manifest_hash, self->manifest_hash, FDY_MODEL_HASH_LEN);
    state.head = self->head;
    if (self->ops->persist(self->user, &state, &reason) != FOUNDRY_OK) {
        /* Unrecorded, the switch would be forgotten by the next start. */
        uint64_t back = 0;
        fdy_reason_t ignored;
        if (old)
            (void) fdy_model_files_switch(self->model_dir, old, &back, &ignored);
        s_failf(self, "recording the install: %s", reason.text);
        return;
    }
    self->held = state;
    fdy_log_notice("MODEL-INSTALLED", "model %s %" PRIu64 " is current (previous %" PRIu64 ")",
                   self->name, self->version, state.previous);
    s_report(self, FDY_MODEL_STATE_INSTALLED, NULL);
    self->step = STEP_HEALTH;
}

/* A failed health check: current goes back to previous, recorded. */
static void
s_unhealthy(fdy_model_update_t *self, const char *what)
{
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    uint64_t back = 0;
    foundry_err err = fdy_model_files_rollback(self->model_dir, &back, &reason);
    fdy_model_held_t state = self->held;
    state.version = back;
    memcpy(state.manifest_hash, state.previous_manifest_hash, FDY_MODEL_HASH_LEN);
    state.previous = 0;
    memset(state.previous_manifest_hash, 0, FDY_MODEL_HASH_LEN);
    if (err == FOUNDRY_OK || err == FOUNDRY_ENOTFOUND) {
        fdy_reason_t persisted;
        fdy_reason_clear(&persisted);
        if (self->ops->persist(self->user, &state, &persisted) != FOUNDRY_OK)
            fdy_log_err("MODEL-STATE-FAILED", "model %s: %s", self->name, persisted.text);
    }
    if (err == FOUNDRY_OK)
        s_failf(self, "health check failed (%s); back on version %" PRIu64, what, back);
    else
        s_failf(self, "health check failed (%s); %s", what, reason.text);
}

static void
s_healthy(fdy_model_update_t *self)
{
    fdy_log_notice("MODEL-HEALTHY", "model %s %" PRIu64 " is healthy", self->name,
                   self->version);
    s_report(self, FDY_MODEL_STATE_HEALTHY, NULL);
    self->step = STEP_DONE;
    self->healthy = true;
    fdy_model_files_prune(self->model_dir, self->held.version, self->held.previous);
}

static void
s_health(fdy_model_update_t *self, int64_t now_ms)
{
    if (!self->env->health) {
        s_healthy(self);
        return;
    }
    if (!self->check) {
        fdy_reason_t reason;
        fdy_reason_clear(&reason);
        if (s_start_check(self, self->env->health, &reason) != FOUNDRY_OK)
            s_unhealthy(self, reason.text);
        return;
    }
    if (!fdy_model_check_service(self->check, now_ms))
        return;
    if (fdy_model_check_ok(self->check)) {
        fdy_model_check_destroy(&self->check);
        s_healthy(self);
        return;
    }
    char what[FDY_REASON_MAX];
    memcpy(what, fdy_model_check_reason(self->check), sizeof what);
    fdy_model_check_destroy(&self->check);
    s_unhealthy(self, what);
}

bool
fdy_model_update_service(fdy_model_update_t *self, int64_t now_ms)
{
    switch (self->step) {
    case STEP_DOWNLOAD: s_download(self, now_ms); break;
    case STEP_ASSEMBLE: s_assemble(self); break;
    case STEP_INTERLOCK: s_interlock(self, now_ms); break;
    case STEP_SWITCH: s_switch(self); break;
    case STEP_HEALTH: s_health(self, now_ms); break;
    case STEP_DONE: break;
    }
    return self->step == STEP_DONE;
}

void
fdy_model_update_cancel(fdy_model_update_t *self)
{
    if (self->step >= STEP_SWITCH)
        return; /* installed or about to be: it stays */
    fdy_log_notice("MODEL-CANCELLED",
                   "model %s %" PRIu64 ": rollout %" PRIu64 " aborted; nothing installed",
                   self->name, self->version, self->rollout_id);
    fdy_model_assembly_destroy(&self->assembly, false);
    fdy_model_check_destroy(&self->check);
    self->step = STEP_DONE;
}

uint64_t
fdy_model_update_rollout(const fdy_model_update_t *self)
{
    return self->rollout_id;
}

const char *
fdy_model_update_name(const fdy_model_update_t *self)
{
    return self->name;
}

bool
fdy_model_update_healthy(const fdy_model_update_t *self)
{
    return self->healthy;
}

bool
fdy_model_update_downloading(const fdy_model_update_t *self)
{
    return self->step == STEP_DOWNLOAD || self->step == STEP_ASSEMBLE;
}
