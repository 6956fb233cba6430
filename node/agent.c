/*  agent.c: the foundry-node event loop (agent.h). Each turn takes what the
 *  inputs hold, commits it to the outbox together with the removals of
 *  acknowledged entries (one fsync), forwards outbox entries the client has
 *  room for, and lets the client process acks. Not for parsing input
 *  (telemetry_in.c), storage (outbox.c) or the wire (libfoundry).
 *
 *  Forwarding keeps a cursor, the next outbox seq to hand to the client.
 *  Everything below it is in the client's hands: acked (then removed),
 *  or resent by the client itself after a reconnect. An entry the broker
 *  refused for a passing reason (store full, key refused, no stream yet)
 *  stays in the outbox; after a back-off, once the client holds nothing,
 *  the cursor goes back to the first entry and the rest is sent again.
 */
#include "agent.h"

#include "agent_metrics.h"

#include "clock.h"
#include "files.h"
#include "heap.h"
#include "job_config.h"
#include "job_worker.h"
#include "keys.h"
#include "log.h"
#include "model_updater.h"
#include "ready_file.h"
#include "telemetry.h"
#include "telemetry_in.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

/* Work per turn, so one busy input cannot starve the rest. */
#define FRAMES_PER_TURN  256
#define STDIN_READ_MAX   (64u * 1024u)
#define FORWARD_PER_TURN 4096u
/* How long a turn waits: for inputs when the client holds nothing, for
 * acks (inputs are checked first) when it does. */
#define IDLE_WAIT_MS 100
#define ACK_WAIT_MS  5
/* First back-off between connection attempts and between resends. */
#define RETRY_FIRST_MS 250
#define PATH_LEN       4096
#define ENDPOINT_LEN   512

struct fdy_agent {
    const fdy_agent_cfg_t *cfg;
    fdy_outbox_t *outbox;
    fdy_telemetry_in_t *intake;
    uint64_t epoch;

    void *zmq_ctx;
    void *pull;
    char endpoint[ENDPOINT_LEN]; /* what the PULL socket bound */
    char ready_path[PATH_LEN];
    bool ready_written;
    bool stdin_open;
    bool stdin_ended;
    char *read_buf;

    foundry_client_t *client;
    fdy_job_worker_t *jobs; /* NULL: this node takes no jobs */
    fdy_model_updater_t *models;
    int64_t next_connect_ms;
    int64_t connect_backoff_ms;
    bool unreachable_logged;
    bool auth_refused; /* the broker refused our key; logged once per episode */
    bool closing;      /* the client is being closed: ECLOSED outcomes are expected */

    uint64_t next_send_seq; /* first outbox seq not yet handed to the client */
    bool rewind_pending;
    int64_t rewind_at_ms;
    int64_t resend_backoff_ms;
    int64_t last_failure_ms;

    uint64_t forwarded; /* messages handed to the client */
    uint64_t acked;
    uint64_t duplicates;     /* acked from the broker's dedupe window */
    uint64_t rejected;       /* refused for good: removed */
    uint64_t failed;         /* refused for now: kept and resent */
    uint64_t logged_dropped; /* outbox drops already reported */
    uint64_t logged_lost;    /* outbox write failures already reported */
    bool disk_full_logged;   /* in a full-disk episode, reported */
    uint64_t disk_full_lost; /* samples lost to the disk at its start */
    int64_t next_stats_ms;
    fdy_agent_metrics_t *metrics; /* NULL: metrics_listen is off */
};

/* ---- libfoundry's diagnostics go to our log ------------------------------- */

static void
s_client_log(foundry_log_level level, const char *id, const char *line, void *user)
{
    (void) user;
    if ((int) level <= fdy_log_threshold)
        fdy_log_write((int) level, id, "%s", line);
}

/* ---- setting up ---------------------------------------------------------- */

/* Both key files are read once here, so a missing file or a secret key
 * others may read stops the start with a clear reason instead of turning
 * into endless failed connection attempts. */
static foundry_err
s_check_keys(const fdy_agent_cfg_t *cfg, fdy_reason_t *reason)
{
    char public_key[FDY_Z85_KEY_LEN + 1];
    fdy_reason_t why;
    foundry_err err = fdy_keys_load_public(cfg->broker_key, public_key, &why);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, err, "broker_key: %s", why.text);
    fdy_keypair_t *keypair = NULL;
    err = fdy_keys_load_secret(cfg->key, &keypair, &why);
    fdy_keypair_destroy(&keypair);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, err, "key: %s", why.text);
    return FOUNDRY_OK;
}

static foundry_err
s_bind(fdy_agent_t *self, fdy_reason_t *reason)
{
    self->zmq_ctx = zmq_ctx_new();
    if (!self->zmq_ctx)
        return fdy_reason_set(reason, FOUNDRY_EIO, "zmq_ctx_new: %s", zmq_strerror(errno));
    self->pull = zmq_socket(self->zmq_ctx, ZMQ_PULL);
    if (!self->pull)
        return fdy_reason_set(reason, FOUNDRY_EIO, "zmq_socket: %s", zmq_strerror(errno));
    /* A bigger message drops the sender's connection in libzmq, before it
     * costs us memory. */
    int64_t max_size = FDY_TELEMETRY_FRAME_MAX;
    int linger = 0;
    if (zmq_setsockopt(self->pull, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size) != 0 ||
        zmq_setsockopt(self->pull, ZMQ_LINGER, &linger, sizeof linger) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "zmq_setsockopt: %s", zmq_strerror(errno));
    if (zmq_bind(self->pull, self->cfg->listen) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot listen on %s: %s", self->cfg->listen,
                              zmq_strerror(errno));
    size_t size = sizeof self->endpoint;
    if (zmq_getsockopt(self->pull, ZMQ_LAST_ENDPOINT, self->endpoint, &size) != 0)
        snprintf(self->endpoint, sizeof self->endpoint, "%s", self->cfg->listen);
    return FOUNDRY_OK;
}

/* <data_dir>/ready says the node takes input, and where: written whole
 * and 0600 (ready_file.c), so a reader never sees half of it. */
static foundry_err
s_write_ready(fdy_agent_t *self, fdy_reason_t *reason)
{
    char text[sizeof self->endpoint + 96];
    snprintf(text, sizeof text, "listen %s\npid %ld\nepoch %016llx\n", self->endpoint,
             (long) getpid(), (unsigned long long) self->epoch);
    foundry_err err = fdy_ready_file_write(self->ready_path, text, reason);
    if (err == FOUNDRY_OK)
        self->ready_written = true;
    return err;
}

/* ---- metrics (agent_metrics.c renders them) -------------------------------------- */

static size_t
s_metrics_fill(void *user, fdy_agent_metric_t *out, size_t max)
{
    fdy_agent_t *self = user;
    fdy_outbox_stats_t outbox;
    fdy_outbox_stats(self->outbox, &outbox);
    fdy_telemetry_in_stats_t intake;
    fdy_telemetry_in_stats(self->intake, &intake);
    fdy_job_worker_stats_t jobs = {0};
    if (self->jobs)
        fdy_job_worker_stats(self->jobs, &jobs);
    const fdy_agent_metric_t figures[] = {
        {"connected", false, "1 while connected to the broker", NULL, NULL,
         self->client ? 1 : 0},
        {"outbox_entries", false, "Messages waiting in the outbox (not yet acked)", NULL, NULL,
         outbox.entries},
        {"outbox_bytes", false, "Bytes of the messages in the outbox", NULL, NULL, outbox.bytes},
        {"outbox_dropped_samples", true, "Samples dropped by the outbox policy (full outbox)",
         NULL, NULL, outbox.dropped_samples},
        {"outbox_lost_samples", true, "Samples lost to failed commits or a full disk", NULL,
         NULL, outbox.lost_samples},
        {"outbox_disk_full", false, "1 while the outbox refuses entries for disk space", NULL,
         NULL, outbox.disk_full ? 1 : 0},
        {"samples_in", true, "Telemetry samples taken in (parsed and valid)", NULL, NULL,
         intake.samples},
        {"bad_input", true, "Input refused, by kind", "kind", "line", intake.bad_lines},
        {"bad_input", true, "Input refused, by kind", "kind", "frame", intake.bad_frames},
        {"bad_input", true, "Input refused, by kind", "kind", "sample", intake.bad_samples},
        {"forwarded", true, "Messages handed to the broker connection", NULL, NULL,
         self->forwarded},
        {"acked", true, "Messages the broker acknowledged", NULL, NULL, self->acked},
        {"rejected", true, "Messages the broker refused for good (removed)", NULL, NULL,
         self->rejected},
        {"handler_runs", true, "Job handler runs, by outcome", "outcome", "started",
         jobs.started},
        {"handler_runs", true, "Job handler runs, by outcome", "outcome", "succeeded",
         jobs.succeeded},
        {"handler_runs", true, "Job handler runs, by outcome", "outcome", "failed", jobs.failed},
        {"handlers_running", false, "Job handlers running now", NULL, NULL, jobs.running},
        {"job_results_refused", true, "Job results the broker refused as stale", NULL, NULL,
         jobs.results_refused},
    };
    size_t count = sizeof figures / sizeof figures[0];
    if (count > max)
        count = max;
    memcpy(out, figures, count * sizeof *out);
    /* Install state: each model's installed version, and updates under way. */
    if (self->models) {
        if (count < max)
            out[count++] = (fdy_agent_metric_t){"model_updates", false,
                                                "Model updates downloading or installing, waiting",
                                                "phase", "running",
                                                fdy_model_updater_running(self->models)};
        if (count < max)
            out[count++] = (fdy_agent_metric_t){"model_updates", false,
                                                "Model updates downloading or installing, waiting",
                                                "phase", "waiting",
                                                fdy_model_updater_waiting(self->models)};
        const fdy_model_held_t *held = NULL;
        size_t n = fdy_model_updater_held(self->models, &held);
        for (size_t i = 0; i < n && count < max; i++)
            out[count++] = (fdy_agent_metric_t){"model_version", false,
                                                "Installed release version of each model",
                                                "model", held[i].name, held[i].version};
    }
    return count;
}

foundry_err
fdy_agent_new(const fdy_agent_cfg_t *cfg, fdy_agent_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    fdy_heap_bound(); /* model chunks and their CURVE boxes reuse heap pages */
    fdy_agent_t *self = calloc(1, sizeof *self);
    if (!self)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    self->cfg = cfg;
    self->connect_backoff_ms = RETRY_FIRST_MS;
    self->resend_backoff_ms = RETRY_FIRST_MS;
    self->stdin_open = cfg->stdin_input;

    foundry_err err = s_check_keys(cfg, reason);
    if (err == FOUNDRY_OK)
        err = fdy_dirs_make(cfg->data_dir, reason);
    if (err != FOUNDRY_OK)
        goto out;
    char outbox_dir[PATH_LEN];
    if ((size_t) snprintf(outbox_dir, sizeof outbox_dir, "%s/outbox", cfg->data_dir) >=
            sizeof outbox_dir ||
        (size_t) snprintf(self->ready_path, sizeof self->ready_path, "%s/ready", cfg->data_dir) >=
            sizeof self->ready_path) {
        err = fdy_reason_set(reason, FOUNDRY_EINVAL, "data_dir is too long");
        goto out;
    }
    fdy_outbox_opts_t outbox_opts = {outbox_dir, cfg->outbox_max_entries, cfg->outbox_max_bytes,
                                     cfg->policy};
    err = fdy_outbox_open(&outbox_opts, &self->outbox, reason);
    if (err != FOUNDRY_OK)
        goto out;
    self->epoch = fdy_outbox_epoch(self->outbox);
    /* The outbox lock is ours: a ready file still here is stale. */
    unlink(self->ready_path);

    fdy_telemetry_in_opts_t intake_opts = {cfg->site, (uint32_t) cfg->batch_max_samples,
                                           self->outbox};
    self->intake = fdy_telemetry_in_new(&intake_opts);
    self->read_buf = malloc(STDIN_READ_MAX);
    if (!self->intake || !self->read_buf) {
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
        goto out;
    }
    err = fdy_job_worker_new(cfg, &self->jobs, reason);
    if (err == FOUNDRY_OK)
        err = fdy_model_updater_new(cfg, &self->models, reason);
    if (err == FOUNDRY_OK)
        err = s_bind(self, reason);
    if (err == FOUNDRY_OK)
        err = fdy_agent_metrics_new(cfg->metrics_listen, cfg->metrics_token, cfg->data_dir,
                                    s_metrics_fill, self, &self->metrics, reason);
    if (err == FOUNDRY_OK)
        err = s_write_ready(self, reason);
out:
    if (err != FOUNDRY_OK) {
        fdy_agent_destroy(&self);
        return err;
    }
    foundry_set_log_handler(s_client_log, (foundry_log_level) cfg->log_level, NULL);
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_agent_destroy(fdy_agent_t **self_p)
{
    assert(self_p);
    fdy_agent_t *self = *self_p;
    if (!self)
        return;
    if (self->client) {
        self->closing = true;
        fdy_job_worker_detach(self->jobs);
        fdy_model_updater_detach(self->models);
        (void) foundry_client_close(&self->client, 0, NULL);
    }
    fdy_job_worker_destroy(&self->jobs);
    fdy_model_updater_destroy(&self->models);
    fdy_agent_metrics_destroy(&self->metrics);
    if (self->pull)
        zmq_close(self->pull);
    if (self->zmq_ctx)
        zmq_ctx_term(self->zmq_ctx);
    if (self->ready_written)
        unlink(self->ready_path);
    fdy_telemetry_in_destroy(&self->intake);
    fdy_outbox_close(&self->outbox);
    free(self->read_buf);
    free(self);
    *self_p = NULL;
}

/* ---- acks ------------------------------------------------------------------ */

/* The outbox only records the ack (no LMDB call: this may run inside a
 * read) and deletes at the next write. */
static void
s_remove_later(fdy_agent_t *self, uint64_t seq)
{
    fdy_reason_t why;
    if (fdy_outbox_remove(self->outbox, seq, &why) != FOUNDRY_OK)
        fdy_log_warn_limited("OUTBOX-WRITE-FAILED", "%s (it is sent again)", why.text);
}

/* An entry stays for a resend after a back-off that grows while refusals
 * keep coming and starts over once they stopped for retry_max. */
static void
s_schedule_rewind(fdy_agent_t *self)
{
    int64_t now = fdy_clock_mono_ms();
    int64_t limit = (int64_t) self->cfg->retry_max_ms;
    if (now - self->last_failure_ms > limit)
        self->resend_backoff_ms = RETRY_FIRST_MS;
    else if (self->resend_backoff_ms < limit)
        self->resend_backoff_ms =
            self->resend_backoff_ms * 2 < limit ? self->resend_backoff_ms * 2 : limit;
    self->last_failure_ms = now;
    if (!self->rewind_pending) {
        self->rewind_pending = true;
        self->rewind_at_ms = now + self->resend_backoff_ms;
    }
}

/* Runs inside libfoundry's calls: it only records; the outbox is written
 * at the next turn. */
static void
s_on_ack(const foundry_ack_t *ack, void *user)
{
    fdy_agent_t *self = user;
    uint64_t seq = 0;
    if (!fdy_outbox_msg_id_parse(self->epoch, ack->msg_id, ack->msg_id_len, &seq))
        return; /* every id we send is ours: nothing else can arrive */
    if (ack->err == FOUNDRY_OK) {
        self->acked++;
        self->duplicates += ack->duplicate ? 1 : 0;
        if (self->auth_refused) {
            self->auth_refused = false;
            fdy_log_notice("NODE-AUTH-ACCEPTED", "the broker accepts our key again");
        }
        s_remove_later(self, seq);
        return;
    }
    /* The message itself is bad: sending it again cannot help. */
    if (ack->err == FOUNDRY_EINVAL || ack->err == FOUNDRY_EPROTO || ack->err == FOUNDRY_ETOOBIG) {
        self->rejected++;
        fdy_log_warn_limited("NODE-REJECTED",
                             "outbox entry %llu refused by the broker, removed: %s: %s",
                             (unsigned long long) seq, foundry_strerror(ack->err), ack->reason);
        s_remove_later(self, seq);
        return;
    }
    if (self->closing && ack->err == FOUNDRY_ECLOSED)
        return; /* unacked at stop: it stays for the next start */
    self->failed++;
    fdy_log_warn_limited("NODE-PUBLISH-FAILED",
                         "outbox entry %llu not stored by the broker (%s: %s); it stays in the "
                         "outbox and is resent",
                         (unsigned long long) seq, foundry_strerror(ack->err), ack->reason);
    s_schedule_rewind(self);
}

/* ---- the client -------------------------------------------------------------- */

static void
s_note_auth_refused(fdy_agent_t *self)
{
    if (self->auth_refused)
        return;
    self->auth_refused = true;
    fdy_log_err("NODE-AUTH-REFUSED",
                "the broker refused our key (%s); telemetry waits in the "
                "outbox (the key needs role node and site %s)",
                foundry_client_last_error(self->client), self->cfg->site);
}

static void
s_connect(fdy_agent_t *self)
{
    if (self->client || fdy_clock_mono_ms() < self->next_connect_ms)
        return;
    const fdy_agent_cfg_t *cfg = self->cfg;
    foundry_client_opts_t opts;
    foundry_client_opts_init(&opts);
    opts.endpoint = cfg->endpoint;
    opts.broker_key_file = cfg->broker_key;
    opts.secret_key_file = cfg->key;
    opts.connect_timeout_ms = (uint32_t) cfg->connect_timeout_ms;
    opts.max_in_flight = (uint32_t) cfg->max_in_flight;
    foundry_err err = foundry_client_new(&opts, &self->client);
    int64_t now = fdy_clock_mono_ms();
    if (err == FOUNDRY_OK)
        err = foundry_client_set_ack_handler(self->client, s_on_ack, self);
    if (err == FOUNDRY_OK) {
        fdy_outbox_stats_t stats;
        fdy_outbox_stats(self->outbox, &stats);
        fdy_log_notice("NODE-CONNECTED", "connected to %s; %llu outbox entries to forward",
                       cfg->endpoint, (unsigned long long) stats.entries);
        self->next_send_seq = 0; /* from the first entry the outbox holds */
        self->rewind_pending = false;
        self->unreachable_logged = false;
        self->connect_backoff_ms = RETRY_FIRST_MS;
        fdy_job_worker_attach(self->jobs, self->client);
        fdy_model_updater_attach(self->models, self->client);
        return;
    }
    char why[FDY_REASON_MAX + 64];
    snprintf(why, sizeof why, "%s", foundry_client_last_error(self->client));
    if (self->client)
        (void) foundry_client_close(&self->client, 0, NULL);
    self->next_connect_ms = now + self->connect_backoff_ms;
    int64_t limit = (int64_t) cfg->retry_max_ms;
    self->connect_backoff_ms =
        self->connect_backoff_ms * 2 < limit ? self->connect_backoff_ms * 2 : limit;
    if (err == FOUNDRY_EAUTH) {
        if (!self->auth_refused)
            fdy_log_err("NODE-AUTH-REFUSED",
                        "%s: %s; telemetry waits in the outbox (register "
                        "the key with role node and --site %s)",
                        cfg->endpoint, why, cfg->site);
        self->auth_refused = true;
    } else if (err == FOUNDRY_ETIMEDOUT ||
               (err == FOUNDRY_EIO && strstr(why, "connection refused at"))) {
        /* refused at once means no broker listening: unreachable, for us */
        if (!self->unreachable_logged)
            fdy_log_notice("NODE-BROKER-UNREACHABLE",
                           "%s; telemetry waits in the outbox, "
                           "retrying every %llu ms at most",
                           why, (unsigned long long) cfg->retry_max_ms);
        else
            fdy_log_debug("NODE-BROKER-UNREACHABLE", "%s", why);
        self->unreachable_logged = true;
    } else {
        fdy_log_warn_limited("NODE-CONNECT-FAILED", "%s: %s", foundry_strerror(err), why);
    }
}

/* Hands the client one entry. Returns false to stop for this turn. */
static bool
s_forward_one(const fdy_outbox_entry_t *entry, void *user)
{
    fdy_agent_t *self = user;
    uint8_t id[FDY_OUTBOX_MSG_ID_LEN];
    fdy_outbox_msg_id(self->epoch, entry->seq, id);
    foundry_err err = foundry_client_publish_async(self->client, entry->subject, entry->payload,
                                                   entry->payload_len, id, sizeof id, NULL);
    if (err == FOUNDRY_OK) {
        self->forwarded++;
        return true;
    }
    if (err == FOUNDRY_EINVAL) {
        /* The library found the entry unsendable (subject, size): it never
         * will be. */
        self->rejected++;
        fdy_log_warn_limited("NODE-REJECTED", "outbox entry %llu cannot be sent, removed: %s",
                             (unsigned long long) entry->seq,
                             foundry_client_last_error(self->client));
        s_remove_later(self, entry->seq);
        return true;
    }
    if (err == FOUNDRY_EAUTH)
        s_note_auth_refused(self);
    else
        fdy_log_warn_limited("NODE-PUBLISH-FAILED", "forwarding paused: %s: %s",
                             foundry_strerror(err), foundry_client_last_error(self->client));
    return false;
}

static void
s_forward(fdy_agent_t *self)
{
    if (!self->client)
        return;
    if (self->rewind_pending) {
        /* Resend only once the client holds nothing: a batch still in
         * flight would otherwise go twice. */
        if (fdy_clock_mono_ms() < self->rewind_at_ms || foundry_client_unacked(self->client) > 0)
            return;
        self->rewind_pending = false;
        self->next_send_seq = 0;
        fdy_log_info("NODE-RESEND", "resending the outbox's unacknowledged entries");
    }
    size_t unacked = foundry_client_unacked(self->client);
    if (unacked >= self->cfg->max_in_flight)
        return;
    size_t room = (size_t) self->cfg->max_in_flight - unacked;
    if (room > FORWARD_PER_TURN)
        room = FORWARD_PER_TURN;
    uint64_t next = self->next_send_seq;
    fdy_reason_t reason;
    foundry_err err = fdy_outbox_read(self->outbox, self->next_send_seq, room, s_forward_one, self,
                                      &next, &reason);
    self->next_send_seq = next;
    if (err != FOUNDRY_OK)
        fdy_log_warn_limited("OUTBOX-READ-FAILED", "%s", reason.text);
}

/* ---- writing the outbox -------------------------------------------------------- */

/* A full disk is one line when it starts and one when it ends, with the
 * samples it cost; every turn of it would flood the log. */
static void
s_log_disk_full(fdy_agent_t *self, const fdy_outbox_stats_t *stats)
{
    if (stats->disk_full && !self->disk_full_logged) {
        fdy_log_err("OUTBOX-DISK-FULL",
                    "disk full at %s/outbox: new telemetry is not stored (counted as lost) "
                    "until space is freed; acknowledged entries are still deleted",
                    self->cfg->data_dir);
        self->disk_full_logged = true;
        self->disk_full_lost = stats->disk_full_lost_samples;
    } else if (!stats->disk_full && self->disk_full_logged) {
        fdy_log_notice("OUTBOX-DISK-OK",
                       "space at %s/outbox again: %llu samples were lost while the disk was "
                       "full (%llu since start)",
                       self->cfg->data_dir,
                       (unsigned long long) (stats->disk_full_lost_samples - self->disk_full_lost),
                       (unsigned long long) stats->disk_full_lost_samples);
        self->disk_full_logged = false;
    }
}

static void
s_log_drops(fdy_agent_t *self)
{
    fdy_outbox_stats_t stats;
    fdy_outbox_stats(self->outbox, &stats);
    if (stats.dropped > self->logged_dropped) {
        fdy_log_warn_limited(
            "OUTBOX-DROPPED",
            "outbox full (%llu entries, %llu bytes, policy %s): %llu entries "
            "dropped now, %llu (%llu samples) since start",
            (unsigned long long) stats.entries, (unsigned long long) stats.bytes,
            self->cfg->outbox_policy, (unsigned long long) (stats.dropped - self->logged_dropped),
            (unsigned long long) stats.dropped, (unsigned long long) stats.dropped_samples);
        self->logged_dropped = stats.dropped;
    }
    s_log_disk_full(self, &stats);
    uint64_t failed = stats.lost - stats.disk_full_lost; /* failed commits, not the disk */
    if (failed > self->logged_lost) {
        fdy_log_err("OUTBOX-WRITE-FAILED",
                    "%llu entries lost to a failed outbox write, %llu (%llu samples) since start",
                    (unsigned long long) (failed - self->logged_lost),
                    (unsigned long long) stats.lost, (unsigned long long) stats.lost_samples);
        self->logged_lost = failed;
    }
}

/* Commits this turn's appends with the deletes of what was acknowledged:
 * one synchronous commit per turn, whatever came in. A failure keeps the
 * acks in the outbox (and on disk) for the next turn. */
static void
s_write(fdy_agent_t *self)
{
    fdy_reason_t reason;
    if (fdy_outbox_commit(self->outbox, &reason) != FOUNDRY_OK)
        fdy_log_err("OUTBOX-WRITE-FAILED", "%s", reason.text);
    s_log_drops(self);
}

/* ---- inputs ------------------------------------------------------------------- */

static foundry_err
s_drain_pull(fdy_agent_t *self, fdy_reason_t *reason)
{
    for (int i = 0; i < FRAMES_PER_TURN; i++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, self->pull, ZMQ_DONTWAIT) < 0) {
            int error = errno;
            zmq_msg_close(&msg);
            if (error == EAGAIN || error == EINTR)
                return FOUNDRY_OK;
            return fdy_reason_set(reason, FOUNDRY_EIO, "receiving telemetry: %s",
                                  zmq_strerror(error));
        }
        if (zmq_msg_more(&msg)) {
            /* One frame per message: the rest of this one is read away. */
            while (zmq_msg_more(&msg)) {
                zmq_msg_close(&msg);
                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, self->pull, 0) < 0)
                    break;
            }
            fdy_telemetry_in_refuse_frame(self->intake, "a multipart message (send one frame "
                                                        "per message)");
        } else {
            fdy_reason_t why;
            if (fdy_telemetry_in_frame(self->intake, zmq_msg_data(&msg), zmq_msg_size(&msg),
                                       fdy_clock_wall_ns(), &why) != FOUNDRY_OK)
                fdy_log_err("OUTBOX-WRITE-FAILED", "%s", why.text);
        }
        zmq_msg_close(&msg);
    }
    return FOUNDRY_OK;
}

static void
s_read_stdin(fdy_agent_t *self)
{
    ssize_t got = read(STDIN_FILENO, self->read_buf, STDIN_READ_MAX);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    fdy_reason_t why;
    bool eof = got <= 0;
    if (got < 0)
        fdy_log_err("NODE-STDIN-FAILED", "reading stdin: %s", strerror(errno));
    if (fdy_telemetry_in_stream(self->intake, self->read_buf, got > 0 ? (size_t) got : 0, eof,
                                fdy_clock_wall_ns(), &why) != FOUNDRY_OK)
        fdy_log_err("OUTBOX-WRITE-FAILED", "%s", why.text);
    if (eof) {
        fdy_log_notice("NODE-STDIN-EOF", "stdin ended: stopping");
        self->stdin_open = false;
        self->stdin_ended = true;
    }
}

/* Waits up to wait_ms for input and takes what is there. */
static foundry_err
s_take_input(fdy_agent_t *self, int wait_ms, fdy_reason_t *reason)
{
    zmq_pollitem_t items[4 + FDY_JOB_HANDLERS_MAX] = {
        {self->pull, 0, ZMQ_POLLIN, 0},
        {NULL, STDIN_FILENO, ZMQ_POLLIN, 0},
    };
    int count = self->stdin_open ? 2 : 1;
    int metrics_at = -1;
    if (self->metrics) {
        metrics_at = count++;
        items[metrics_at] = (zmq_pollitem_t){NULL, fdy_agent_metrics_fd(self->metrics), ZMQ_POLLIN, 0};
        int due = fdy_agent_metrics_due_ms(self->metrics);
        wait_ms = due < wait_ms ? due : wait_ms;
    }
    /* Offers and worker answers end the wait at once: a job then waits
     * for no tick. The client's descriptor is edge-triggered: offers read
     * off the socket already are checked for just before the wait. */
    if (fdy_job_worker_has_offers(self->jobs))
        wait_ms = 0;
    int client_fd = self->client ? foundry_client_fd(self->client) : -1;
    if (client_fd >= 0 && self->jobs)
        items[count++] = (zmq_pollitem_t){NULL, client_fd, ZMQ_POLLIN, 0};
    int fds[FDY_JOB_HANDLERS_MAX];
    size_t fd_count = fdy_job_worker_fds(self->jobs, fds, FDY_JOB_HANDLERS_MAX);
    for (size_t i = 0; i < fd_count; i++)
        items[count++] = (zmq_pollitem_t){NULL, fds[i], ZMQ_POLLIN, 0};
    int ready = zmq_poll(items, count, wait_ms);
    if (ready < 0) {
        if (errno == EINTR)
            return FOUNDRY_OK;
        return fdy_reason_set(reason, FOUNDRY_EIO, "zmq_poll: %s", zmq_strerror(errno));
    }
    foundry_err err = FOUNDRY_OK;
    if (items[0].revents & ZMQ_POLLIN)
        err = s_drain_pull(self, reason);
    /* POLLHUP and POLLERR come back as readable: read() then says EOF. */
    if (self->stdin_open && items[1].revents)
        s_read_stdin(self);
    /* Input or not: libmicrohttpd also has timeouts to run. */
    if (self->metrics)
        fdy_agent_metrics_run(self->metrics);
    return err;
}

/* ---- the loop ------------------------------------------------------------------- */

static void
s_log_stats(fdy_agent_t *self, int level)
{
    fdy_outbox_stats_t outbox;
    fdy_outbox_stats(self->outbox, &outbox);
    fdy_telemetry_in_stats_t intake;
    fdy_telemetry_in_stats(self->intake, &intake);
    if (level > fdy_log_threshold)
        return;
    fdy_log_write(level, "NODE-STATS",
                  "in: %llu samples, %llu bad lines, %llu bad frames, %llu bad samples; outbox: "
                  "%llu entries, %llu bytes, %llu samples dropped, %llu lost; forwarded %llu, "
                  "acked %llu (%llu duplicates), rejected %llu, refused for now %llu",
                  (unsigned long long) intake.samples, (unsigned long long) intake.bad_lines,
                  (unsigned long long) intake.bad_frames, (unsigned long long) intake.bad_samples,
                  (unsigned long long) outbox.entries, (unsigned long long) outbox.bytes,
                  (unsigned long long) outbox.dropped_samples,
                  (unsigned long long) outbox.lost_samples, (unsigned long long) self->forwarded,
                  (unsigned long long) self->acked, (unsigned long long) self->duplicates,
                  (unsigned long long) self->rejected, (unsigned long long) self->failed);
}

static int
s_min_wait(int wait, int64_t due, int64_t now)
{
    if (due <= now)
        return 0;
    return due - now < wait ? (int) (due - now) : wait;
}

static foundry_err
s_turn(fdy_agent_t *self, fdy_reason_t *reason)
{
    int64_t now = fdy_clock_mono_ms();
    bool waiting_for_acks = self->client && foundry_client_unacked(self->client) > 0;
    int wait = IDLE_WAIT_MS;
    if (waiting_for_acks)
        wait = 0; /* the client's poll below does the waiting */
    if (!self->client)
        wait = s_min_wait(wait, self->next_connect_ms, now);
    if (self->rewind_pending)
        wait = s_min_wait(wait, self->rewind_at_ms, now);
    if (self->cfg->stats_interval_ms)
        wait = s_min_wait(wait, self->next_stats_ms, now);
    if (self->jobs) {
        int jobs_wait = fdy_job_worker_service(self->jobs, now);
        wait = jobs_wait < wait ? jobs_wait : wait;
    }
    int models_wait = fdy_model_updater_service(self->models, now);
    wait = models_wait < wait ? models_wait : wait;

    foundry_err err = s_take_input(self, wait, reason);
    if (err != FOUNDRY_OK)
        return err;
    s_write(self);
    s_connect(self);
    s_forward(self);
    if (self->client) {
        err = foundry_client_poll(self->client, waiting_for_acks ? ACK_WAIT_MS : 0);
        if (err == FOUNDRY_EAUTH)
            s_note_auth_refused(self);
    }
    now = fdy_clock_mono_ms();
    if (self->cfg->stats_interval_ms && now >= self->next_stats_ms) {
        s_log_stats(self, FDY_LOG_INFO);
        self->next_stats_ms = now + (int64_t) self->cfg->stats_interval_ms;
    }
    return FOUNDRY_OK;
}

/* After a stop: forward and collect acks until the outbox is empty, the
 * flush time is up, or a second signal came. */
static void
s_flush(fdy_agent_t *self, volatile sig_atomic_t *stop)
{
    int64_t deadline = fdy_clock_mono_ms() + (int64_t) self->cfg->shutdown_flush_ms;
    for (;;) {
        s_write(self);
        fdy_outbox_stats_t stats;
        fdy_outbox_stats(self->outbox, &stats);
        int64_t now = fdy_clock_mono_ms();
        if (stats.entries == 0 || now >= deadline || *stop >= 2)
            break;
        int left = deadline - now < IDLE_WAIT_MS ? (int) (deadline - now) : IDLE_WAIT_MS;
        if (!self->client) {
            /* An attempt that cannot finish before the deadline is not made. */
            bool due = now >= self->next_connect_ms;
            if (due && deadline - now >= (int64_t) self->cfg->connect_timeout_ms)
                s_connect(self);
            else
                zmq_poll(NULL, 0, due ? left : s_min_wait(left, self->next_connect_ms, now));
            continue;
        }
        s_forward(self);
        if (foundry_client_poll(self->client, left < ACK_WAIT_MS ? left : ACK_WAIT_MS) ==
            FOUNDRY_EAUTH)
            s_note_auth_refused(self);
    }
    if (self->client) {
        self->closing = true;
        fdy_job_worker_detach(self->jobs);
        fdy_model_updater_detach(self->models);
        (void) foundry_client_close(&self->client, 0, NULL);
        s_write(self); /* acks that came in while closing */
    }
}

foundry_err
fdy_agent_run(fdy_agent_t *self, volatile sig_atomic_t *stop)
{
    fdy_log_notice("NODE-STARTED", "site %s, taking telemetry on %s%s; outbox %llx in %s/outbox",
                   self->cfg->site, self->endpoint, self->cfg->stdin_input ? " and stdin" : "",
                   (unsigned long long) self->epoch, self->cfg->data_dir);
    self->next_connect_ms = fdy_clock_mono_ms();
    self->next_stats_ms = fdy_clock_mono_ms() + (int64_t) self->cfg->stats_interval_ms;
    foundry_err err = FOUNDRY_OK;
    fdy_reason_t reason;
    while (!*stop && !self->stdin_ended) {
        err = s_turn(self, &reason);
        if (err != FOUNDRY_OK) {
            fdy_log_err("NODE-FATAL", "%s", reason.text);
            break;
        }
    }
    /* Stop taking input first: what arrives from now on is not ours. */
    zmq_close(self->pull);
    self->pull = NULL;
    if (self->stdin_open && !self->stdin_ended) {
        fdy_reason_t why;
        if (fdy_telemetry_in_stream(self->intake, NULL, 0, true, fdy_clock_wall_ns(), &why) !=
            FOUNDRY_OK)
            fdy_log_err("OUTBOX-WRITE-FAILED", "%s", why.text);
    }
    fdy_log_notice("NODE-STOPPING", "inputs closed; flushing for up to %llu ms",
                   (unsigned long long) self->cfg->shutdown_flush_ms);
    s_flush(self, stop);
    fdy_outbox_stats_t stats;
    fdy_outbox_stats(self->outbox, &stats);
    s_log_stats(self, FDY_LOG_NOTICE);
    fdy_log_notice("NODE-STOPPED",
                   "%llu entries (%llu bytes) left in the outbox for the next "
                   "start",
                   (unsigned long long) stats.entries, (unsigned long long) stats.bytes);
    return err;
}
