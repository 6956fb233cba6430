/*  model_updater.c: the agent's side of model rollouts (model_updater.h).
 *  It keeps what the node holds of each model (model_state.h), one
 *  update per model name at a time (a notice for a name that is busy
 *  waits behind it; so does one that lacks release-log entries while
 *  another's are fetched), and the final report of each rollout it finished, so
 *  a notice repeated after a reconnect is answered with that report
 *  instead of being acted on twice. Messages go through libfoundry's
 *  model_wire (lib/client/model_wire.h) on the agent's one connection.
 */
#include "model_updater.h"

#include "arena.h"
#include "clock.h"
#include "codec_models.h"
#include "log.h"
#include "model_blobs.h"
#include "model_check.h"
#include "model_log_fill.h"
#include "model_sign.h"
#include "model_state.h"
#include "model_update.h"
#include "model_verify.h"
#include "model_wire.h"
#include "xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LEN       4096
#define LABELS_MAX     16
#define UPDATES_MAX    32
#define FINISHED_MAX   64
#define WATCH_TIMEOUT  30000
#define WATCH_RETRY_MS 30000
#define FETCH_TIMEOUT  60000
#define BUSY_WAIT_MS   2
#define IDLE_WAIT_MS   100
#define DECODE_BUDGET  FDY_DECODE_BUDGET(FDY_REPLY_MAX)

/* A notice for a name whose update is still running, or (for_fill) one
 * that lacks release-log entries while another notice's are fetched,
 * encoded. */
typedef struct {
    char name[FDY_MODEL_NAME_MAX + 1];
    uint64_t rollout_id;
    uint8_t *notice;
    size_t len;
    bool for_fill;
} s_waiting_t;

/* The last report of a rollout this node finished. */
typedef struct {
    uint64_t rollout_id; /* 0: free */
    char name[FDY_MODEL_NAME_MAX + 1];
    uint64_t version;
    fdy_model_state_t state;
    char reason[FDY_REASON_MAX];
    bool sent;
} s_finished_t;

struct fdy_model_updater {
    const fdy_agent_cfg_t *cfg;
    char models_dir[PATH_LEN];
    fdy_trust_set_t *trust;
    uint8_t release_key[FDY_MODEL_KEY_LEN];
    bool has_release_key;
    fdy_model_program_t interlock, health;
    bool has_interlock, has_health;
    fdy_model_update_env_t env;
    char *label_text;
    const char *labels[LABELS_MAX];
    size_t label_count;
    fdy_model_held_t held[FDY_MODEL_INSTALLED_MAX];
    size_t held_count;
    fdy_model_update_t *updates[UPDATES_MAX];
    size_t update_count;
    s_waiting_t waiting[UPDATES_MAX];
    size_t waiting_count;
    s_finished_t finished[FINISHED_MAX];
    size_t finished_next;
    foundry_client_t *client;
    uint64_t watched_epoch; /* foundry_client_reconnects() + 1 when WATCH was answered */
    uint64_t watch_request; /* 0: none in flight */
    int64_t next_watch_ms;
    bool watch_refused_logged;
    fdy_model_log_fill_t *fill; /* a notice waiting for the log entries it lacks */
    uint64_t fill_request;      /* its LOG in flight; 0: none */
    fdy_arena_t *arena;
};

static const fdy_model_update_ops_t s_update_ops;

/* ---- setup ------------------------------------------------------------------ */

static foundry_err
s_mkdir(const char *path, fdy_reason_t *reason)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot create %s: %s", path, strerror(errno));
    return FOUNDRY_OK;
}

static void
s_hold(const fdy_model_held_t *state, void *user)
{
    fdy_model_updater_t *self = user;
    if (self->held_count < FDY_MODEL_INSTALLED_MAX)
        self->held[self->held_count++] = *state;
}

static foundry_err
s_load_config(fdy_model_updater_t *self, const fdy_agent_cfg_t *cfg, fdy_reason_t *reason)
{
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (cfg->model_trust_file &&
        fdy_trust_set_load(cfg->model_trust_file, &self->trust, &why) != FOUNDRY_OK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "model_trust_file: %s", why.text);
    if (cfg->model_release_key) {
        if (fdy_sign_public_load(cfg->model_release_key, self->release_key, &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "model_release_key: %s", why.text);
        self->has_release_key = true;
    }
    if (cfg->model_interlock) {
        if (fdy_model_program_parse(cfg->model_interlock, &self->interlock, &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "model_interlock: %s", why.text);
        self->has_interlock = true;
    }
    if (cfg->model_health) {
        if (fdy_model_program_parse(cfg->model_health, &self->health, &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "model_health: %s", why.text);
        self->has_health = true;
    }
    if (cfg->job_labels) {
        self->label_text = fdy_xstrdup(cfg->job_labels);
        char *save = NULL;
        for (char *w = strtok_r(self->label_text, " \t", &save); w;
             w = strtok_r(NULL, " \t", &save)) {
            if (self->label_count == LABELS_MAX)
                return fdy_reason_set(reason, FOUNDRY_EINVAL, "more than %d job_labels",
                                      LABELS_MAX);
            self->labels[self->label_count++] = w;
        }
    }
    return FOUNDRY_OK;
}

/* Agents before this one downloaded chunks into <models_dir>/.blobs and
 * copied them into the version file; now they go straight into it. What
 * such an agent left there is never used again: removed. */
static void
s_drop_old_blobs(const char *models_dir)
{
    char dir[PATH_LEN];
    struct stat st;
    if ((size_t) snprintf(dir, sizeof dir, "%s/.blobs", models_dir) >= sizeof dir ||
        lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return; /* none, or not a directory of ours (a symlink is left alone) */
    fdy_blobs_t *blobs = NULL;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    uint64_t removed = 0, bytes = 0;
    if (fdy_blobs_open(dir, &blobs, &why) == FOUNDRY_OK)
        (void) fdy_blobs_gc(blobs, 0, NULL, NULL, 0, &removed, &bytes, &why);
    fdy_blobs_close(&blobs);
    for (unsigned i = 0; i < 256; i++) {
        char sub[PATH_LEN + 4];
        snprintf(sub, sizeof sub, "%s/%02x", dir, i);
        (void) rmdir(sub);
    }
    if (rmdir(dir) != 0)
        fdy_log_warn("MODEL-BLOBS", "%s (chunks an earlier agent downloaded) not removed: %s", dir,
                     why.text[0] ? why.text : strerror(errno));
    else
        fdy_log_info("MODEL-BLOBS",
                     "%s removed: %" PRIu64 " chunks (%" PRIu64 " bytes) an earlier agent "
                     "downloaded, which downloads no longer use",
                     dir, removed, bytes);
}

foundry_err
fdy_model_updater_new(const fdy_agent_cfg_t *cfg, fdy_model_updater_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    fdy_model_updater_t *self = fdy_xalloc(sizeof *self);
    self->cfg = cfg;
    snprintf(self->models_dir, sizeof self->models_dir, "%s", cfg->models_dir);
    foundry_err err = s_load_config(self, cfg, reason);
    if (err == FOUNDRY_OK)
        err = s_mkdir(self->models_dir, reason);
    if (err == FOUNDRY_OK)
        s_drop_old_blobs(self->models_dir);
    if (err == FOUNDRY_OK)
        err = fdy_model_state_each(self->models_dir, s_hold, self, reason);
    self->arena = fdy_arena_new(DECODE_BUDGET);
    if (err != FOUNDRY_OK) {
        fdy_model_updater_destroy(&self);
        return err;
    }
    self->env = (fdy_model_update_env_t){
        self->models_dir,
        self->has_interlock ? &self->interlock : NULL,
        cfg->model_interlock_interval_ms,
        self->has_health ? &self->health : NULL,
        (uint32_t) cfg->model_fetch_window,
    };
    if (!self->trust)
        fdy_log_notice("MODEL-NO-TRUST", "model_trust_file is not set: every model update will "
                                         "be refused");
    else if (!self->has_release_key)
        fdy_log_notice("MODEL-NO-TRUST", "model_release_key is not set: every model update will "
                                         "be refused");
    fdy_log_info("MODEL-UPDATES", "models in %s: %zu installed", self->models_dir,
                 self->held_count);
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_model_updater_destroy(fdy_model_updater_t **self_p)
{
    fdy_model_updater_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->update_count; i++)
        fdy_model_update_destroy(&self->updates[i]);
    for (size_t i = 0; i < self->waiting_count; i++)
        free(self->waiting[i].notice);
    fdy_model_log_fill_destroy(&self->fill);
    fdy_trust_set_destroy(&self->trust);
    fdy_model_program_fini(&self->interlock);
    fdy_model_program_fini(&self->health);
    fdy_arena_destroy(&self->arena);
    free(self->label_text);
    free(self);
    *self_p = NULL;
}

/* ---- what is held ------------------------------------------------------------- */

static const fdy_model_held_t *
s_lookup(const char *name, void *user)
{
    fdy_model_updater_t *self = user;
    for (size_t i = 0; i < self->held_count; i++)
        if (strcmp(self->held[i].name, name) == 0)
            return &self->held[i];
    return NULL;
}

static foundry_err
s_persist(void *user, const fdy_model_held_t *state, fdy_reason_t *reason)
{
    fdy_model_updater_t *self = user;
    foundry_err err = fdy_model_state_save(self->models_dir, state, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_model_held_t *held = (fdy_model_held_t *) s_lookup(state->name, self);
    if (held)
        *held = *state;
    else if (self->held_count < FDY_MODEL_INSTALLED_MAX)
        self->held[self->held_count++] = *state;
    return FOUNDRY_OK;
}

/* ---- reports -------------------------------------------------------------------- */

static bool
s_send_report(fdy_model_updater_t *self, uint64_t rollout_id, const char *name, uint64_t version,
              fdy_model_state_t state, uint64_t done_bytes, const char *reason)
{
    if (!self->client)
        return false;
    fdy_model_request_t req;
    memset(&req, 0, sizeof req);
    req.op = FDY_MODEL_REPORT;
    req.rollout_id = rollout_id;
    req.name = name;
    req.version = version;
    req.state = fdy_model_state_name(state);
    req.done_bytes = done_bytes;
    req.reason = reason;
    uint8_t *body = NULL;
    size_t len = 0;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_codec_model_request_encode(&req, &body, &len, &why) != FOUNDRY_OK) {
        fdy_log_warn_limited("MODEL-REPORT-FAILED", "rollout %" PRIu64 ": %s", rollout_id,
                             why.text);
        return false;
    }
    foundry_err err = foundry_model_wire_send(self->client, body, len, false, 0, NULL);
    free(body);
    return err == FOUNDRY_OK;
}

static s_finished_t *
s_finished(fdy_model_updater_t *self, uint64_t rollout_id)
{
    for (size_t i = 0; i < FINISHED_MAX; i++)
        if (self->finished[i].rollout_id == rollout_id && rollout_id != 0)
            return &self->finished[i];
    return NULL;
}

static void
s_report(void *user, uint64_t rollout_id, const char *name, uint64_t version,
         fdy_model_state_t state, uint64_t done_bytes, const char *reason)
{
    fdy_model_updater_t *self = user;
    bool sent = s_send_report(self, rollout_id, name, version, state, done_bytes, reason);
    if (state != FDY_MODEL_STATE_HEALTHY && state != FDY_MODEL_STATE_FAILED)
        return; /* progress: the next one says more */
    s_finished_t *f = s_finished(self, rollout_id);
    if (!f) {
        f = &self->finished[self->finished_next];
        self->finished_next = (self->finished_next + 1) % FINISHED_MAX;
    }
    *f = (s_finished_t){.rollout_id = rollout_id, .version = version, .state = state, .sent = sent};
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->reason, sizeof f->reason, "%s", reason ? reason : "");
}

/* Final reports the broker may not have: sent again after a reconnect. */
static void
s_resend_finished(fdy_model_updater_t *self)
{
    for (size_t i = 0; i < FINISHED_MAX; i++) {
        s_finished_t *f = &self->finished[i];
        if (f->rollout_id && !f->sent)
            f->sent =
                s_send_report(self, f->rollout_id, f->name, f->version, f->state, 0, f->reason);
    }
}

/* ---- fetches --------------------------------------------------------------------- */

static foundry_err
s_fetch(void *user, const char *name, uint64_t version, uint32_t index, uint64_t *request_id)
{
    fdy_model_updater_t *self = user;
    if (!self->client)
        return FOUNDRY_ECLOSED;
    fdy_model_request_t req;
    memset(&req, 0, sizeof req);
    req.op = FDY_MODEL_FETCH;
    req.name = name;
    req.version = version;
    req.index = index;
    uint8_t *body = NULL;
    size_t len = 0;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err = fdy_codec_model_request_encode(&req, &body, &len, &why);
    if (err != FOUNDRY_OK)
        return err;
    err = foundry_model_wire_send(self->client, body, len, true, FETCH_TIMEOUT, request_id);
    free(body);
    return err;
}

static const fdy_model_update_ops_t s_update_ops = {s_fetch, s_report, s_persist};

/* ---- notices ---------------------------------------------------------------------- */

static fdy_model_update_t *
s_update_of(fdy_model_updater_t *self, uint64_t rollout_id, const char *name)
{
    for (size_t i = 0; i < self->update_count; i++) {
        fdy_model_update_t *u = self->updates[i];
        if ((rollout_id && fdy_model_update_rollout(u) == rollout_id) ||
            (name && strcmp(fdy_model_update_name(u), name) == 0))
            return u;
    }
    return NULL;
}

/* Keeps notice for when name's running update is over (a newer notice
 * for the same name replaces an older one waiting). */
static bool
s_wait_behind(fdy_model_updater_t *self, const char *name, const fdy_model_notice_t *notice,
              bool for_fill)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_codec_model_notice_encode(notice, &bytes, &len, &why) != FOUNDRY_OK) {
        fdy_log_warn("MODEL-NOTICE-DROPPED", "notice for %s: %s", name, why.text);
        return false;
    }
    s_waiting_t *w = NULL;
    for (size_t i = 0; i < self->waiting_count && !w; i++)
        if (strcmp(self->waiting[i].name, name) == 0)
            w = &self->waiting[i];
    if (!w && self->waiting_count == UPDATES_MAX) {
        free(bytes);
        fdy_log_warn("MODEL-NOTICE-DROPPED", "notice for %s: too many waiting", name);
        return false;
    }
    if (!w)
        w = &self->waiting[self->waiting_count++];
    else
        free(w->notice);
    snprintf(w->name, sizeof w->name, "%s", name);
    w->rollout_id = notice->rollout_id;
    w->notice = bytes;
    w->len = len;
    w->for_fill = for_fill;
    return true;
}

static void s_on_notice_bytes(fdy_model_updater_t *self, const uint8_t *bytes, size_t len);

/* The fill ended: the notices that waited for it go on, oldest first,
 * until one of them starts a fill of its own. */
static void
s_start_fill_waiting(fdy_model_updater_t *self)
{
    for (size_t i = 0; i < self->waiting_count && !self->fill;) {
        if (!self->waiting[i].for_fill) {
            i++;
            continue;
        }
        s_waiting_t w = self->waiting[i];
        memmove(&self->waiting[i], &self->waiting[i + 1],
                (self->waiting_count - i - 1) * sizeof self->waiting[0]);
        self->waiting_count--;
        s_on_notice_bytes(self, w.notice, w.len);
        free(w.notice);
    }
}

/* ---- release-log entries a notice lacks ------------------------------------------- */

static void
s_send_log(fdy_model_updater_t *self)
{
    fdy_model_request_t req;
    memset(&req, 0, sizeof req);
    req.op = FDY_MODEL_LOG;
    req.name = fdy_model_log_fill_name(self->fill);
    req.from_index = fdy_model_log_fill_next(self->fill);
    uint8_t *body = NULL;
    size_t len = 0;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_codec_model_request_encode(&req, &body, &len, &why) != FOUNDRY_OK)
        return;
    if (foundry_model_wire_send(self->client, body, len, true, WATCH_TIMEOUT,
                                &self->fill_request) != FOUNDRY_OK)
        self->fill_request = 0; /* not connected yet: next turn */
    free(body);
}

/* The fill failed: its rollout hears why. */
static void
s_fill_failed(fdy_model_updater_t *self, const char *reason)
{
    fdy_log_warn("MODEL-REFUSED", "rollout %" PRIu64 ": %s", fdy_model_log_fill_rollout(self->fill),
                 reason);
    s_report(self, fdy_model_log_fill_rollout(self->fill), fdy_model_log_fill_name(self->fill), 0,
             FDY_MODEL_STATE_FAILED, 0, reason);
    fdy_model_log_fill_destroy(&self->fill);
    self->fill_request = 0;
    s_start_fill_waiting(self);
}

/* True when the notice starts after the entry this node holds next:
 * the gap is asked for with LOG (model_log_fill.h) and the notice comes
 * back to s_on_notice once it is filled. */
static bool
s_fill_started(fdy_model_updater_t *self, const fdy_model_notice_t *notice)
{
    const char *name = NULL;
    uint64_t first = 0;
    if (!fdy_model_log_first(notice, self->arena, &name, &first))
        return false;
    const fdy_model_held_t *held = s_lookup(name, self);
    uint64_t held_index = held ? held->head.index : 0;
    if (first <= held_index + 1)
        return false;
    if (self->fill) {
        /* One fetch at a time: this one waits for it, then goes on. */
        if (fdy_model_log_fill_rollout(self->fill) == notice->rollout_id)
            return true; /* the same notice again */
        if (s_wait_behind(self, name, notice, true))
            fdy_log_notice("MODEL-LOG-WAIT",
                           "rollout %" PRIu64 ": %s lacks release-log entries; it waits for the "
                           "fetch of rollout %" PRIu64 "'s",
                           notice->rollout_id, name, fdy_model_log_fill_rollout(self->fill));
        else
            s_report(self, notice->rollout_id, name, 0, FDY_MODEL_STATE_FAILED, 0,
                     "too many notices waiting on this node; the next notice is tried again");
        return true;
    }
    fdy_reason_t why;
    fdy_reason_clear(&why);
    self->fill = fdy_model_log_fill_new(notice, name, held_index, &why);
    if (!self->fill) {
        fdy_log_warn("MODEL-NOTICE-DROPPED", "notice for %s: %s", name, why.text);
        return true;
    }
    fdy_log_notice("MODEL-LOG-FETCH",
                   "rollout %" PRIu64 ": the notice's release log of %s starts at entry %" PRIu64
                   ", this node holds %" PRIu64 ": fetching the %" PRIu64 " entries between",
                   notice->rollout_id, name, first, held_index, first - held_index - 1);
    s_send_log(self);
    return true;
}

static void s_on_notice(fdy_model_updater_t *self, const fdy_model_notice_t *notice);

static void
s_on_log_reply(fdy_model_updater_t *self, const uint8_t *body, size_t len)
{
    self->fill_request = 0;
    fdy_arena_reset(self->arena, DECODE_BUDGET);
    fdy_model_reply_t reply;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_codec_model_reply_decode(body, len, self->arena, &reply, &why) != FOUNDRY_OK ||
        fdy_model_log_fill_add(self->fill, reply.entries, reply.entry_count, self->arena, &why) !=
            FOUNDRY_OK) {
        s_fill_failed(self, why.text);
        return;
    }
    if (fdy_model_log_fill_next(self->fill)) {
        s_send_log(self);
        return;
    }
    fdy_arena_reset(self->arena, DECODE_BUDGET);
    fdy_model_notice_t notice;
    if (fdy_model_log_fill_notice(self->fill, self->arena, &notice, &why) != FOUNDRY_OK) {
        s_fill_failed(self, why.text);
        return;
    }
    /* Verified whole, the filled entries first; they live in the fill. */
    fdy_model_log_fill_t *fill = self->fill;
    self->fill = NULL;
    s_on_notice(self, &notice);
    fdy_model_log_fill_destroy(&fill);
    s_start_fill_waiting(self);
}

static void
s_on_notice(fdy_model_updater_t *self, const fdy_model_notice_t *notice)
{
    if (notice->cancel) {
        fdy_model_update_t *u = s_update_of(self, notice->rollout_id, NULL);
        if (u)
            fdy_model_update_cancel(u);
        for (size_t i = 0; i < self->waiting_count; i++)
            if (self->waiting[i].rollout_id == notice->rollout_id) {
                free(self->waiting[i].notice);
                self->waiting[i--] = self->waiting[--self->waiting_count];
            }
        return;
    }
    if (s_update_of(self, notice->rollout_id, NULL))
        return; /* the same rollout again (WATCH reply after a push): already on it */
    s_finished_t *f = s_finished(self, notice->rollout_id);
    if (f) {
        f->sent = s_send_report(self, f->rollout_id, f->name, f->version, f->state, 0, f->reason);
        return;
    }
    if (s_fill_started(self, notice))
        return;
    fdy_model_verify_ctx_t ctx = {
        self->cfg->site,
        self->labels,
        self->label_count,
        self->trust,
        self->has_release_key ? self->release_key : NULL,
        fdy_clock_wall_ns() / 1000000u,
    };
    fdy_model_verified_t v;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    foundry_err err = fdy_model_verify_notice(&ctx, notice, s_lookup, self, self->arena, &v, &why);
    /* A manifest that does not decode has no name: reported with "". */
    const char *name = err == FOUNDRY_EINVAL ? "" : v.manifest.name;
    if (err != FOUNDRY_OK) {
        fdy_log_warn("MODEL-REFUSED", "rollout %" PRIu64 ": %s", notice->rollout_id, why.text);
        s_report(self, notice->rollout_id, name, v.manifest.version, FDY_MODEL_STATE_FAILED, 0,
                 why.text);
        return;
    }
    if (s_update_of(self, 0, name)) {
        s_wait_behind(self, name, notice, false);
        return;
    }
    if (self->update_count == UPDATES_MAX) {
        s_report(self, notice->rollout_id, name, v.manifest.version, FDY_MODEL_STATE_FAILED, 0,
                 "too many model updates at once on this node");
        return;
    }
    fdy_log_notice("MODEL-ACCEPTED", "model %s %" PRIu64 "%s (rollout %" PRIu64 ") verified%s",
                   name, v.manifest.version, v.manifest.rollback ? " (rollback)" : "",
                   notice->rollout_id, v.installed_already ? "; installed already" : "");
    self->updates[self->update_count++] = fdy_model_update_new(
        &self->env, &s_update_ops, self, notice->rollout_id, &v, s_lookup(name, self));
}

static void
s_on_notice_bytes(fdy_model_updater_t *self, const uint8_t *bytes, size_t len)
{
    fdy_arena_reset(self->arena, DECODE_BUDGET);
    fdy_model_notice_t notice;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_codec_model_notice_decode(bytes, len, self->arena, &notice, &why) != FOUNDRY_OK) {
        fdy_log_warn_limited("MODEL-BAD-NOTICE", "notice skipped: %s", why.text);
        return;
    }
    s_on_notice(self, &notice);
}

/* ---- the wire ----------------------------------------------------------------------- */

static void
s_watch(fdy_model_updater_t *self, int64_t now_ms)
{
    uint64_t epoch = foundry_client_reconnects(self->client) + 1;
    if (self->watched_epoch == epoch || self->watch_request || now_ms < self->next_watch_ms)
        return;
    fdy_model_installed_t installed[FDY_MODEL_INSTALLED_MAX];
    for (size_t i = 0; i < self->held_count; i++)
        installed[i] = (fdy_model_installed_t){self->held[i].name, self->held[i].version,
                                               self->held[i].head.index};
    fdy_model_request_t req;
    memset(&req, 0, sizeof req);
    req.op = FDY_MODEL_WATCH;
    req.installed = installed;
    req.installed_count = self->held_count;
    req.labels = self->labels;
    req.label_count = self->label_count;
    uint8_t *body = NULL;
    size_t len = 0;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_codec_model_request_encode(&req, &body, &len, &why) != FOUNDRY_OK) {
        fdy_log_err("MODEL-WATCH-FAILED", "%s", why.text);
        self->next_watch_ms = now_ms + WATCH_RETRY_MS;
        return;
    }
    if (foundry_model_wire_send(self->client, body, len, true, WATCH_TIMEOUT,
                                &self->watch_request) != FOUNDRY_OK)
        self->watch_request = 0; /* not connected yet: next turn */
    else
        self->watched_epoch = epoch;
    free(body);
    s_resend_finished(self);
}

static void
s_on_watch_reply(fdy_model_updater_t *self, const uint8_t *body, size_t len)
{
    fdy_arena_reset(self->arena, DECODE_BUDGET);
    fdy_model_reply_t reply;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_codec_model_reply_decode(body, len, self->arena, &reply, &why) != FOUNDRY_OK) {
        fdy_log_warn("MODEL-WATCH-FAILED", "reply does not decode: %s", why.text);
        self->watched_epoch = 0;
        self->next_watch_ms = fdy_clock_mono_ms() + WATCH_RETRY_MS;
        return;
    }
    self->watch_refused_logged = false;
    fdy_log_info("MODEL-WATCH", "%zu models held, %zu notices", self->held_count,
                 reply.notice_count);
    /* Each notice is acted on from the reply's arena: copy what outlives it
     * (updates copy their manifest; waiting notices are re-encoded). A
     * notice's verification resets nothing, so the arena stays valid. */
    for (size_t i = 0; i < reply.notice_count; i++)
        s_on_notice(self, &reply.notices[i]);
}

static void
s_on_failed(fdy_model_updater_t *self, const foundry_model_wire_event_t *e, int64_t now_ms)
{
    if (self->fill && e->request_id && e->request_id == self->fill_request) {
        self->fill_request = 0; /* asked again next turn, unless refused */
        if (e->err != FOUNDRY_ECLOSED && e->err != FOUNDRY_ETIMEDOUT)
            s_fill_failed(self, e->reason);
        return;
    }
    if (e->request_id && e->request_id == self->watch_request) {
        self->watch_request = 0;
        self->watched_epoch = 0;
        self->next_watch_ms = now_ms + (e->err == FOUNDRY_ECLOSED ? 0 : WATCH_RETRY_MS);
        if (!self->watch_refused_logged || e->err == FOUNDRY_ECLOSED)
            fdy_log_notice("MODEL-WATCH-FAILED", "%s: %s; asking again in %d s",
                           foundry_strerror(e->err), e->reason,
                           e->err == FOUNDRY_ECLOSED ? 0 : WATCH_RETRY_MS / 1000);
        self->watch_refused_logged = true;
        return;
    }
    for (size_t i = 0; i < self->update_count; i++)
        if (fdy_model_update_on_failed(self->updates[i], e->request_id, e->err, e->reason))
            return;
    if (e->err != FOUNDRY_ECLOSED && e->err != FOUNDRY_ETIMEDOUT)
        fdy_log_warn_limited("MODEL-REPORT-REFUSED", "the broker refused a model message: %s: %s",
                             foundry_strerror(e->err), e->reason);
}

static void
s_drain(fdy_model_updater_t *self, int64_t now_ms)
{
    foundry_model_wire_event_t e;
    while (self->client && foundry_model_wire_next(self->client, &e)) {
        if (e.kind == FOUNDRY_MODEL_WIRE_NOTICE) {
            s_on_notice_bytes(self, e.body, e.body_len);
        } else if (e.kind == FOUNDRY_MODEL_WIRE_FAILED) {
            s_on_failed(self, &e, now_ms);
        } else if (e.request_id == self->watch_request) {
            self->watch_request = 0;
            s_on_watch_reply(self, e.body, e.body_len);
        } else if (self->fill && e.request_id == self->fill_request) {
            s_on_log_reply(self, e.body, e.body_len);
        } else {
            for (size_t i = 0; i < self->update_count; i++)
                if (fdy_model_update_on_chunk(self->updates[i], e.request_id, e.frame, e.frame_len))
                    break;
        }
    }
}

/* ---- the turn ------------------------------------------------------------------------- */

/* A finished update's name may have a notice waiting behind it. */
static void
s_start_waiting(fdy_model_updater_t *self, const char *name)
{
    for (size_t i = 0; i < self->waiting_count; i++) {
        if (strcmp(self->waiting[i].name, name) != 0 || self->waiting[i].for_fill)
            continue;
        s_waiting_t w = self->waiting[i];
        self->waiting[i] = self->waiting[--self->waiting_count];
        s_on_notice_bytes(self, w.notice, w.len);
        free(w.notice);
        return;
    }
}

void
fdy_model_updater_attach(fdy_model_updater_t *self, foundry_client_t *client)
{
    if (!self)
        return;
    self->client = client;
    self->watched_epoch = 0;
    self->watch_request = 0;
    self->next_watch_ms = 0;
}

void
fdy_model_updater_detach(fdy_model_updater_t *self)
{
    if (self)
        self->client = NULL;
}

int
fdy_model_updater_service(fdy_model_updater_t *self, int64_t now_ms)
{
    if (!self)
        return IDLE_WAIT_MS;
    if (self->client) {
        s_watch(self, now_ms);
        s_drain(self, now_ms);
        if (self->fill && !self->fill_request)
            s_send_log(self);
    }
    bool busy = false;
    for (size_t i = 0; i < self->update_count;) {
        fdy_model_update_t *u = self->updates[i];
        if (!fdy_model_update_service(u, now_ms)) {
            busy |= fdy_model_update_downloading(u);
            i++;
            continue;
        }
        char name[FDY_MODEL_NAME_MAX + 1];
        snprintf(name, sizeof name, "%s", fdy_model_update_name(u));
        fdy_model_update_destroy(&u);
        self->updates[i] = self->updates[--self->update_count];
        s_start_waiting(self, name);
    }
    return busy ? BUSY_WAIT_MS : IDLE_WAIT_MS;
}

size_t
fdy_model_updater_held(const fdy_model_updater_t *self, const fdy_model_held_t **held_out)
{
    *held_out = self->held;
    return self->held_count;
}

size_t
fdy_model_updater_running(const fdy_model_updater_t *self)
{
    return self->update_count;
}

size_t
fdy_model_updater_waiting(const fdy_model_updater_t *self)
{
    return self->waiting_count;
}
