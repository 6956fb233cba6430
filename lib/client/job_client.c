/*  job_client.c: libfoundry's jobs API (foundry.h: foundry_job_*,
 *  foundry_worker_*). Every request is a JOB envelope plus its JobRequest
 *  frame, kept until answered and resent after a reconnect, so a submit
 *  (always with an idempotency key) is stored once and a result reaches
 *  the broker even across its restart. Requests are addressed by a
 *  request id with JOB_BIT set, in a ring of slots indexed by that id.
 */
#include "job_client.h"

#include "client.h"
#include "clock.h"
#include "codec_jobs.h"
#include "log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define JOB_BIT      (1ull << 62)
#define SLOTS        (2u * FOUNDRY_JOBS_IN_FLIGHT_MAX)
#define RESEND_MS    3000
#define INFO_BUDGET  FDY_DECODE_BUDGET(FDY_REPLY_MAX)
#define OFFERS_MAX   4096
#define HEARTBEATS_IN_FLIGHT_MAX 4u
/* An open submit batch is sent once it holds this many bytes. */
#define BATCH_BYTES_MAX (1024u * 1024u)

typedef struct {
    uint64_t request_id; /* 0: free */
    fdy_job_op_t op;
    uint8_t *body;
    size_t body_len;
    int64_t sent_ms; /* 0: not sent yet (or must be sent again) */
    uint64_t token;
    uint64_t *tokens; /* a batch's, one per job in its order; owned */
    size_t token_count;
    bool async;
    /* A blocking call's answer. */
    bool done;
    foundry_err err;
} s_slot_t;

typedef struct {
    uint8_t *data;
    size_t len;
    bool batch; /* JOB_OFFERS: a JobReply of leased jobs */
} s_blob_t;

struct fdy_job_client {
    foundry_client_t *client; /* borrowed: it owns us */
    s_slot_t *slots;
    size_t in_flight;
    size_t jobs_waiting; /* jobs unanswered: in slots (a batch counts each) and in the open batch */
    /* The open submit batch: a JobRequest being built, and its tokens. */
    uint8_t *batch;
    size_t batch_len, batch_cap;
    uint64_t batch_tokens[FOUNDRY_JOBS_BATCH_MAX];
    size_t batch_count;
    uint64_t next_id;
    int64_t next_resend_ms;
    char key_prefix[24];
    uint64_t key_counter;
    foundry_job_submitted_fn *fn;
    void *user;
    /* The last blocking answer: its JobReply, decoded into info_arena. */
    fdy_arena_t *info_arena;
    fdy_job_reply_t reply;
    char reason[FDY_REASON_MAX];
    foundry_job_info_t *infos;
    /* Offers waiting for foundry_worker_next(), encoded. */
    s_blob_t offers[OFFERS_MAX];
    size_t offer_head, offer_count;
    fdy_arena_t *offer_arena;
    /* The JOB_OFFERS being handed out, decoded in offer_arena. */
    fdy_job_reply_t offer_batch;
    size_t offer_batch_at;
    uint64_t *stale;
    size_t stale_count;
    /* foundry_worker_heartbeat_async(): a few in flight at most (a slow
     * answer must not stop the renewals); the jobs an answer names wait
     * here to come out of foundry_worker_next() as cancel offers;
     * forgotten: the broker no longer knew this node. */
    unsigned heartbeats_in_flight;
    bool forgotten;
    uint64_t *stale_queue;
    size_t stale_queued, stale_queue_cap;
};

fdy_job_client_t *
fdy_job_client_new(foundry_client_t *client)
{
    fdy_job_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->client = client;
    self->slots = calloc(SLOTS, sizeof *self->slots);
    self->info_arena = fdy_arena_new(INFO_BUDGET);
    self->offer_arena = fdy_arena_new(FDY_DECODE_BUDGET(FDY_JOB_FRAME_MAX));
    if (!self->slots || !self->info_arena || !self->offer_arena) {
        fdy_job_client_destroy(&self);
        return NULL;
    }
    uint8_t random[8];
    randombytes_buf(random, sizeof random);
    snprintf(self->key_prefix, sizeof self->key_prefix, "~%02x%02x%02x%02x%02x%02x%02x%02x-",
             random[0], random[1], random[2], random[3], random[4], random[5], random[6],
             random[7]);
    self->next_id = 1;
    return self;
}

void
fdy_job_client_destroy(fdy_job_client_t **self_p)
{
    fdy_job_client_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; self->slots && i < SLOTS; i++) {
        free(self->slots[i].body);
        free(self->slots[i].tokens);
    }
    free(self->batch);
    free(self->slots);
    for (size_t i = 0; i < self->offer_count; i++)
        free(self->offers[(self->offer_head + i) % OFFERS_MAX].data);
    fdy_arena_destroy(&self->info_arena);
    fdy_arena_destroy(&self->offer_arena);
    free(self->stale);
    free(self->stale_queue);
    free(self);
    *self_p = NULL;
}

static fdy_job_client_t *
s_of(foundry_client_t *client)
{
    return client ? fdy_client_jobs(client) : NULL;
}

/* ---- sending ------------------------------------------------------------- */

static void
s_send(fdy_job_client_t *self, s_slot_t *slot)
{
    fdy_envelope_t env;
    memset(&env, 0, sizeof env);
    env.kind = FDY_KIND_JOB;
    env.request_id = slot->request_id;
    uint8_t *head = NULL;
    size_t head_len = 0;
    if (fdy_codec_encode_envelope(&env, &head, &head_len) != FOUNDRY_OK)
        return;
    fdy_slice_t frames[2] = { { head, head_len }, { slot->body, slot->body_len } };
    /* Not sent (not connected, high-water mark): the resend check retries. */
    if (fdy_conn_send(fdy_client_conn(self->client), frames, 2) == FOUNDRY_OK)
        slot->sent_ms = fdy_clock_mono_ms();
    free(head);
}

static s_slot_t *
s_slot(fdy_job_client_t *self, uint64_t request_id)
{
    if (!(request_id & JOB_BIT))
        return NULL;
    s_slot_t *slot = &self->slots[(request_id & ~JOB_BIT) % SLOTS];
    return slot->request_id == request_id ? slot : NULL;
}

static void
s_free_slot(fdy_job_client_t *self, s_slot_t *slot)
{
    self->jobs_waiting -= slot->tokens ? slot->token_count : 1;
    free(slot->body);
    free(slot->tokens);
    memset(slot, 0, sizeof *slot);
    self->in_flight--;
}

/* Takes a free slot for body (owned from now on) and sends it. NULL when
 * every slot waits (cannot happen within the windows: SLOTS is twice
 * FOUNDRY_JOBS_IN_FLIGHT_MAX). */
static s_slot_t *
s_take_slot(fdy_job_client_t *self, fdy_job_op_t op, uint8_t *body, size_t body_len, bool async,
            uint64_t token)
{
    s_slot_t *slot = NULL;
    uint64_t id = 0;
    for (size_t tries = 0; tries < SLOTS && !slot; tries++) {
        id = JOB_BIT | self->next_id++;
        slot = &self->slots[(id & ~JOB_BIT) % SLOTS];
        if (slot->request_id != 0)
            slot = NULL; /* still waiting on an old request */
    }
    if (!slot)
        return NULL;
    *slot = (s_slot_t){ id, op, body, body_len, 0, token, NULL, 0, async, false, FOUNDRY_OK };
    self->in_flight++;
    self->jobs_waiting++;
    s_send(self, slot);
    return slot;
}

/* Sends the open submit batch as one request (a single job as itself). */
static void
s_send_batch(fdy_job_client_t *self)
{
    if (self->batch_count == 0)
        return;
    uint64_t *tokens = malloc(self->batch_count * sizeof *tokens);
    if (!tokens)
        return; /* stays open; the next pump tries again */
    memcpy(tokens, self->batch_tokens, self->batch_count * sizeof *tokens);
    s_slot_t *slot = s_take_slot(self, FDY_JOB_SUBMIT, self->batch, self->batch_len, true, 0);
    if (!slot) {
        free(tokens);
        return;
    }
    self->jobs_waiting--; /* s_take_slot counted one; the batch's jobs are counted already */
    slot->tokens = tokens;
    slot->token_count = self->batch_count;
    self->batch = NULL;
    self->batch_len = self->batch_cap = 0;
    self->batch_count = 0;
}

/* Encodes req, takes a slot (pumping while the window is full) and sends.
 * *slot_out: the slot, valid until answered. */
static foundry_err
s_request(fdy_job_client_t *self, const fdy_job_request_t *req, bool async, uint64_t token,
          s_slot_t **slot_out)
{
    foundry_client_t *client = self->client;
    if (fdy_client_dispatching(client) && self->in_flight >= FOUNDRY_JOBS_IN_FLIGHT_MAX)
        return fdy_client_fail(client, FOUNDRY_EINVAL, "job window full inside a handler");
    int64_t deadline = fdy_clock_mono_ms() + fdy_client_ack_timeout_ms(client);
    while (self->in_flight >= FOUNDRY_JOBS_IN_FLIGHT_MAX) {
        if (fdy_clock_mono_ms() >= deadline)
            return fdy_client_fail(client, FOUNDRY_ETIMEDOUT,
                                   "%zu job requests unanswered", self->in_flight);
        fdy_client_pump(client, 50);
    }
    uint8_t *body = NULL;
    size_t body_len = 0;
    foundry_err err = fdy_codec_job_request_encode(req, &body, &body_len);
    if (err != FOUNDRY_OK)
        return fdy_client_fail(client, err, "job request: %s", foundry_strerror(err));
    s_slot_t *slot = s_take_slot(self, req->op, body, body_len, async, token);
    if (!slot) {
        free(body);
        return fdy_client_fail(client, FOUNDRY_EFULL, "no free job request slot");
    }
    *slot_out = slot;
    return FOUNDRY_OK;
}

/* Waits for a blocking request's answer; the slot is freed. */
static foundry_err
s_await(fdy_job_client_t *self, s_slot_t *slot)
{
    foundry_client_t *client = self->client;
    if (fdy_client_dispatching(client))
        return fdy_client_fail(client, FOUNDRY_EINVAL, "blocking job call inside a handler");
    uint64_t id = slot->request_id;
    int64_t deadline = fdy_clock_mono_ms() + fdy_client_ack_timeout_ms(client);
    while (!slot->done) {
        if (fdy_client_refused(client)) {
            s_free_slot(self, slot);
            return fdy_client_fail(client, FOUNDRY_EAUTH, "the broker refused our key");
        }
        int64_t left = deadline - fdy_clock_mono_ms();
        if (left <= 0) {
            s_free_slot(self, slot);
            return fdy_client_fail(client, FOUNDRY_ETIMEDOUT, "no answer to job request %llu",
                                   (unsigned long long) (id & ~JOB_BIT));
        }
        fdy_client_pump(client, left < 100 ? (int) left : 100);
    }
    foundry_err err = slot->err;
    s_free_slot(self, slot);
    if (err != FOUNDRY_OK)
        return fdy_client_fail(client, err, "%s", self->reason[0] ? self->reason
                                                                  : foundry_strerror(err));
    return FOUNDRY_OK;
}

static foundry_err
s_call(fdy_job_client_t *self, const fdy_job_request_t *req)
{
    s_slot_t *slot;
    foundry_err err = s_request(self, req, false, 0, &slot);
    return err == FOUNDRY_OK ? s_await(self, slot) : err;
}

/* ---- replies ------------------------------------------------------------- */

bool
fdy_job_client_owns(const fdy_envelope_t *env)
{
    if (env->kind == FDY_KIND_JOB_REPLY || env->kind == FDY_KIND_JOB_OFFER ||
        env->kind == FDY_KIND_JOB_OFFERS)
        return true;
    return env->kind == FDY_KIND_ERROR && (env->request_id & JOB_BIT) &&
           !(env->request_id & (1ull << 63));
}

static void
s_on_offer(fdy_job_client_t *self, const fdy_envelope_t *env)
{
    if (self->offer_count == OFFERS_MAX) {
        /* The broker sends no more than our slots: a full queue is a bug
         * on one side; the lease then expires and the job is retried. */
        fdy_log_warn_limited("CLIENT-OFFER-DROPPED", "job offer dropped: queue full");
        return;
    }
    uint8_t *copy = malloc(env->job_len);
    if (!copy)
        return;
    memcpy(copy, env->job, env->job_len);
    self->offers[(self->offer_head + self->offer_count++) % OFFERS_MAX] =
        (s_blob_t){ copy, env->job_len, env->kind == FDY_KIND_JOB_OFFERS };
}

/* A batch's answer: one outcome per job, each to the job handler with its
 * own token (the whole batch's error when it was refused as a whole). */
static void
s_on_batch_answer(fdy_job_client_t *self, s_slot_t *slot, const fdy_envelope_t *env,
                  foundry_err err, const char *why)
{
    uint64_t *tokens = slot->tokens;
    size_t count = slot->token_count;
    slot->tokens = NULL;
    slot->token_count = 0;
    self->jobs_waiting -= count - 1; /* s_free_slot takes the last one */
    s_free_slot(self, slot);
    fdy_job_reply_t reply;
    memset(&reply, 0, sizeof reply);
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    if (err == FOUNDRY_OK) {
        fdy_arena_reset(self->info_arena, FDY_JOB_DECODE_BUDGET(env->job_len));
        if (fdy_codec_job_reply_decode(env->job, env->job_len, self->info_arena, &reply,
                                       &reason) != FOUNDRY_OK) {
            err = FOUNDRY_EPROTO;
            why = reason.text;
        } else if (reply.outcome_count != count) {
            err = FOUNDRY_EPROTO;
            fdy_reason_set(&reason, FOUNDRY_EPROTO, "a batch answer of %zu outcomes for %zu jobs",
                           reply.outcome_count, count);
            why = reason.text;
        }
    }
    memset(&self->reply, 0, sizeof self->reply); /* its arena was reused */
    for (size_t i = 0; i < count && self->fn; i++) {
        if (err != FOUNDRY_OK) {
            self->fn(tokens[i], err, 0, why, self->user);
            continue;
        }
        const fdy_job_outcome_t *o = &reply.outcomes[i];
        self->fn(tokens[i], o->code, o->job_id, o->error ? o->error : "", self->user);
    }
    free(tokens);
}

/* An async heartbeat's answer: the jobs it names are queued as cancels. */
static void
s_on_heartbeat_answer(fdy_job_client_t *self, const fdy_envelope_t *env, foundry_err err)
{
    if (self->heartbeats_in_flight)
        self->heartbeats_in_flight--;
    if (err == FOUNDRY_ENOTFOUND)
        self->forgotten = true;
    if (err != FOUNDRY_OK)
        return;
    fdy_arena_reset(self->info_arena, FDY_DECODE_BUDGET(env->job_len));
    fdy_job_reply_t reply;
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    if (fdy_codec_job_reply_decode(env->job, env->job_len, self->info_arena, &reply, &reason) !=
        FOUNDRY_OK) {
        fdy_log_warn_limited("CLIENT-BAD-REPLY", "heartbeat answer skipped: %s", reason.text);
        return;
    }
    for (size_t i = 0; i < reply.job_count; i++) {
        if (self->stale_queued == self->stale_queue_cap) {
            size_t cap = self->stale_queue_cap ? 2 * self->stale_queue_cap : 16;
            uint64_t *grown = realloc(self->stale_queue, cap * sizeof *grown);
            if (!grown)
                return; /* the next heartbeat names them again */
            self->stale_queue = grown;
            self->stale_queue_cap = cap;
        }
        self->stale_queue[self->stale_queued++] = reply.jobs[i].id;
        fdy_log_notice("JOB-STALE", "job %llu: the lease moved on; stopping it",
                       (unsigned long long) reply.jobs[i].id);
    }
    memset(&self->reply, 0, sizeof self->reply); /* its arena was reused */
}

void
fdy_job_client_on_reply(fdy_job_client_t *self, const fdy_envelope_t *env)
{
    if (env->kind == FDY_KIND_JOB_OFFER || env->kind == FDY_KIND_JOB_OFFERS) {
        s_on_offer(self, env);
        return;
    }
    s_slot_t *slot = s_slot(self, env->request_id);
    if (!slot)
        return; /* answered already (a resend's second answer) or given up */
    foundry_err err = env->kind == FDY_KIND_ERROR ? env->error_code : FOUNDRY_OK;
    const char *why = env->kind == FDY_KIND_ERROR && env->error_reason ? env->error_reason : "";
    uint64_t job_id = 0;
    if (slot->tokens) {
        s_on_batch_answer(self, slot, env, err, why);
        return;
    }
    if (slot->async && slot->op == FDY_JOB_HEARTBEAT) {
        s_free_slot(self, slot);
        s_on_heartbeat_answer(self, env, err);
        return;
    }
    if (slot->async) {
        if (err == FOUNDRY_OK) {
            fdy_arena_reset(self->info_arena, FDY_DECODE_BUDGET(env->job_len));
            fdy_job_reply_t reply;
            fdy_reason_t reason;
            if (fdy_codec_job_reply_decode(env->job, env->job_len, self->info_arena, &reply,
                                           &reason) == FOUNDRY_OK)
                job_id = reply.job_id;
        }
        uint64_t token = slot->token;
        s_free_slot(self, slot);
        if (self->fn)
            self->fn(token, err, job_id, why, self->user);
        return;
    }
    snprintf(self->reason, sizeof self->reason, "%s", why);
    slot->done = true;
    slot->err = err;
    memset(&self->reply, 0, sizeof self->reply);
    if (err == FOUNDRY_OK) {
        fdy_arena_reset(self->info_arena, INFO_BUDGET);
        fdy_reason_t reason;
        fdy_reason_clear(&reason);
        foundry_err derr = fdy_codec_job_reply_decode(env->job, env->job_len, self->info_arena,
                                                      &self->reply, &reason);
        if (derr != FOUNDRY_OK) {
            slot->err = derr;
            snprintf(self->reason, sizeof self->reason, "%s", reason.text);
        }
    }
}

void
fdy_job_client_service(fdy_job_client_t *self, int64_t now_ms, bool reconnected)
{
    s_send_batch(self);
    if (self->in_flight == 0 || (!reconnected && now_ms < self->next_resend_ms))
        return;
    self->next_resend_ms = now_ms + RESEND_MS / 4;
    for (size_t i = 0; i < SLOTS; i++) {
        s_slot_t *slot = &self->slots[i];
        if (slot->request_id == 0 || slot->done)
            continue;
        if (reconnected || slot->sent_ms == 0 || now_ms - slot->sent_ms >= RESEND_MS)
            s_send(self, slot);
    }
}

/* ---- conversions ------------------------------------------------------------ */

static foundry_job_state
s_state(const char *name)
{
    static const char *const names[] = { "queued", "leased",    "running", "succeeded",
                                         "failed", "dead",      "cancelled", "expired" };
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return (foundry_job_state) i;
    return FOUNDRY_JOB_QUEUED;
}

const char *
foundry_job_state_name(foundry_job_state state)
{
    static const char *const names[] = { "queued", "leased",    "running", "succeeded",
                                         "failed", "dead",      "cancelled", "expired" };
    if ((unsigned) state >= sizeof names / sizeof names[0])
        return "?";
    return names[state];
}

/* Converts rec into info, with the attempts in the info arena. */
static bool
s_info(fdy_job_client_t *self, const fdy_job_record_t *rec, foundry_job_info_t *info)
{
    memset(info, 0, sizeof *info);
    info->id = rec->id;
    info->state = s_state(rec->state);
    info->state_name = foundry_job_state_name(info->state);
    info->type = rec->spec.type;
    info->tenant = rec->tenant;
    info->submitter = rec->submitter;
    info->sites = rec->spec.sites;
    info->site_count = rec->spec.site_count;
    info->labels = rec->spec.labels;
    info->label_count = rec->spec.label_count;
    info->priority = rec->spec.priority;
    info->attempt = rec->attempt;
    info->max_attempts = rec->spec.max_attempts;
    info->fence = rec->fence;
    info->node = rec->node;
    info->created_ms = rec->created_ms;
    info->updated_ms = rec->updated_ms;
    info->result = rec->result;
    info->result_len = rec->result_len;
    info->error = rec->error;
    info->log_tail = rec->log_tail;
    info->progress = rec->progress;
    info->waiting = rec->waiting;
    if (rec->attempt_count) {
        foundry_job_attempt_t *a =
            fdy_arena_alloc(self->info_arena, rec->attempt_count * sizeof *a);
        if (!a)
            return false;
        for (size_t i = 0; i < rec->attempt_count; i++) {
            const fdy_job_attempt_t *r = &rec->attempts[i];
            a[i] = (foundry_job_attempt_t){ r->attempt,  r->fence,  r->node, r->started_ms,
                                            r->ended_ms, r->state, r->error };
        }
        info->attempts = a;
        info->attempt_count = rec->attempt_count;
    }
    return true;
}

/* ---- the public API ---------------------------------------------------------- */

void
foundry_job_spec_init(foundry_job_spec_t *spec)
{
    if (spec)
        memset(spec, 0, sizeof *spec);
}

void
foundry_client_set_job_handler(foundry_client_t *client, foundry_job_submitted_fn *fn, void *user)
{
    fdy_job_client_t *self = s_of(client);
    if (!self)
        return;
    self->fn = fn;
    self->user = user;
}

/* The request for spec, with a made-up idempotency key when it has none
 * (key_buf holds it), checked as the broker will. */
static foundry_err
s_submit_request(fdy_job_client_t *self, const foundry_job_spec_t *spec, fdy_job_request_t *req,
                 char *key_buf, size_t key_size)
{
    if (!spec)
        return fdy_client_fail(self->client, FOUNDRY_EINVAL, "no job spec");
    memset(req, 0, sizeof *req);
    req->op = FDY_JOB_SUBMIT;
    fdy_job_spec_t *s = &req->spec;
    s->type = spec->type;
    s->payload = spec->payload;
    s->payload_len = spec->payload ? spec->payload_len : 0;
    s->sites = spec->sites;
    s->site_count = spec->sites ? spec->site_count : 0;
    s->labels = spec->labels;
    s->label_count = spec->labels ? spec->label_count : 0;
    s->priority = spec->priority;
    s->timeout_ms = spec->timeout_ms;
    s->max_attempts = spec->max_attempts;
    s->backoff_initial_ms = spec->backoff_initial_ms;
    s->backoff_factor = spec->backoff_factor;
    s->backoff_max_ms = spec->backoff_max_ms;
    s->deadline_ms = spec->deadline_ms;
    s->result_ttl_ms = spec->result_ttl_ms;
    if (spec->idempotency_key && *spec->idempotency_key) {
        s->key = spec->idempotency_key;
    } else {
        /* Resends after a reconnect must not store the job twice. */
        snprintf(key_buf, key_size, "%s%llu", self->key_prefix,
                 (unsigned long long) ++self->key_counter);
        s->key = key_buf;
    }
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    foundry_err err = fdy_codec_job_spec_check(s, FDY_JOB_PAYLOAD_MAX, &reason);
    if (err != FOUNDRY_OK)
        return fdy_client_fail(self->client, err, "%s", reason.text);
    return FOUNDRY_OK;
}

foundry_err
foundry_job_submit(foundry_client_t *client, const foundry_job_spec_t *spec, uint64_t *id_out,
                   int *duplicate_out)
{
    fdy_job_client_t *self = s_of(client);
    if (!self || !id_out)
        return FOUNDRY_EINVAL;
    *id_out = 0;
    fdy_job_request_t req;
    char key[64];
    foundry_err err = s_submit_request(self, spec, &req, key, sizeof key);
    if (err == FOUNDRY_OK)
        err = s_call(self, &req);
    if (err != FOUNDRY_OK)
        return err;
    *id_out = self->reply.job_id;
    if (duplicate_out)
        *duplicate_out = self->reply.duplicate ? 1 : 0;
    return FOUNDRY_OK;
}

foundry_err
foundry_job_submit_async(foundry_client_t *client, const foundry_job_spec_t *spec,
                         uint64_t *token_out)
{
    fdy_job_client_t *self = s_of(client);
    if (!self)
        return FOUNDRY_EINVAL;
    fdy_job_request_t req;
    char key[64];
    foundry_err err = s_submit_request(self, spec, &req, key, sizeof key);
    if (err != FOUNDRY_OK)
        return err;
    uint64_t token = self->key_counter;
    if (self->jobs_waiting == 0) {
        /* Nothing to wait for: sent alone, at once. */
        s_slot_t *slot;
        err = s_request(self, &req, true, token, &slot);
        if (err == FOUNDRY_OK && token_out)
            *token_out = token;
        return err;
    }
    if (self->jobs_waiting >= FOUNDRY_JOBS_IN_FLIGHT_MAX) {
        if (fdy_client_dispatching(client))
            return fdy_client_fail(client, FOUNDRY_EINVAL, "job window full inside a handler");
        s_send_batch(self);
        int64_t deadline = fdy_clock_mono_ms() + fdy_client_ack_timeout_ms(client);
        while (self->jobs_waiting >= FOUNDRY_JOBS_IN_FLIGHT_MAX) {
            if (fdy_clock_mono_ms() >= deadline)
                return fdy_client_fail(client, FOUNDRY_ETIMEDOUT, "%zu job requests unanswered",
                                       self->jobs_waiting);
            fdy_client_pump(client, 50);
        }
    }
    if (fdy_codec_job_batch_append(&self->batch, &self->batch_len, &self->batch_cap, &req.spec) !=
        FOUNDRY_OK)
        return fdy_client_fail(client, FOUNDRY_ENOMEM, "job batch: out of memory");
    self->batch_tokens[self->batch_count++] = token;
    self->jobs_waiting++;
    if (self->batch_count == FOUNDRY_JOBS_BATCH_MAX || self->batch_len >= BATCH_BYTES_MAX)
        s_send_batch(self);
    if (token_out)
        *token_out = token;
    return FOUNDRY_OK;
}

foundry_err
foundry_job_flush(foundry_client_t *client, int timeout_ms)
{
    fdy_job_client_t *self = s_of(client);
    if (!self)
        return FOUNDRY_EINVAL;
    int64_t deadline = fdy_clock_mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    s_send_batch(self);
    while (self->in_flight > 0 || self->batch_count > 0) {
        int64_t left = deadline - fdy_clock_mono_ms();
        if (left <= 0)
            return fdy_client_fail(client, FOUNDRY_ETIMEDOUT, "%zu job requests unanswered",
                                   self->jobs_waiting);
        fdy_client_pump(client, left < 100 ? (int) left : 100);
    }
    return FOUNDRY_OK;
}

static foundry_err
s_simple(foundry_client_t *client, fdy_job_op_t op, uint64_t id)
{
    fdy_job_client_t *self = s_of(client);
    if (!self)
        return FOUNDRY_EINVAL;
    fdy_job_request_t req = { .op = op, .job_id = id };
    return s_call(self, &req);
}

foundry_err
foundry_job_status(foundry_client_t *client, uint64_t id, const foundry_job_info_t **info_out)
{
    fdy_job_client_t *self = s_of(client);
    if (!self || !info_out)
        return FOUNDRY_EINVAL;
    *info_out = NULL;
    foundry_err err = s_simple(client, FDY_JOB_STATUS, id);
    if (err != FOUNDRY_OK)
        return err;
    if (self->reply.job_count != 1)
        return fdy_client_fail(client, FOUNDRY_EPROTO, "job status without its job");
    foundry_job_info_t *info = fdy_arena_alloc(self->info_arena, sizeof *info);
    if (!info || !s_info(self, &self->reply.jobs[0], info))
        return fdy_client_fail(client, FOUNDRY_ENOMEM, "job status too large");
    *info_out = info;
    return FOUNDRY_OK;
}

foundry_err
foundry_job_wait(foundry_client_t *client, uint64_t id, int timeout_ms,
                 const foundry_job_info_t **info_out)
{
    if (!client || !info_out)
        return FOUNDRY_EINVAL;
    int64_t deadline = fdy_clock_mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    int interval = 20;
    for (;;) {
        foundry_err err = foundry_job_status(client, id, info_out);
        if (err != FOUNDRY_OK)
            return err;
        foundry_job_state state = (*info_out)->state;
        if (state == FOUNDRY_JOB_SUCCEEDED || state == FOUNDRY_JOB_DEAD ||
            state == FOUNDRY_JOB_CANCELLED || state == FOUNDRY_JOB_EXPIRED)
            return FOUNDRY_OK;
        int64_t left = deadline - fdy_clock_mono_ms();
        if (left <= 0)
            return fdy_client_fail(client, FOUNDRY_ETIMEDOUT, "job %llu is still %s",
                                   (unsigned long long) id, (*info_out)->state_name);
        /* Waiting between questions, the client still serves its socket. */
        int64_t until = fdy_clock_mono_ms() + (left < interval ? left : interval);
        while (fdy_clock_mono_ms() < until)
            fdy_client_pump(client, (int) (until - fdy_clock_mono_ms()));
        interval = interval < 200 ? interval * 2 : 200;
    }
}

foundry_err
foundry_job_cancel(foundry_client_t *client, uint64_t id)
{
    return s_simple(client, FDY_JOB_CANCEL, id);
}

foundry_err
foundry_job_retry(foundry_client_t *client, uint64_t id)
{
    return s_simple(client, FDY_JOB_RETRY, id);
}

foundry_err
foundry_job_list(foundry_client_t *client, const char *state, foundry_job_list_fn *fn, void *user)
{
    fdy_job_client_t *self = s_of(client);
    if (!self || !fn)
        return FOUNDRY_EINVAL;
    fdy_job_request_t req = { .op = FDY_JOB_LIST, .state = state ? state : "" };
    foundry_err err = s_call(self, &req);
    if (err != FOUNDRY_OK)
        return err;
    for (size_t i = 0; i < self->reply.job_count; i++) {
        foundry_job_info_t info;
        if (!s_info(self, &self->reply.jobs[i], &info))
            return fdy_client_fail(client, FOUNDRY_ENOMEM, "job list too large");
        fn(&info, user);
    }
    return FOUNDRY_OK;
}

/* ---- the worker side ---------------------------------------------------------- */

foundry_err
foundry_worker_register(foundry_client_t *client, const char *const *labels, size_t label_count,
                        const char *const *types, size_t type_count, uint32_t slots)
{
    fdy_job_client_t *self = s_of(client);
    if (!self)
        return FOUNDRY_EINVAL;
    fdy_job_request_t req = { .op = FDY_JOB_REGISTER,
                              .labels = labels,
                              .label_count = labels ? label_count : 0,
                              .types = types,
                              .type_count = types ? type_count : 0,
                              .credit = slots,
                              .offer_batches = true };
    return s_call(self, &req);
}

foundry_err
foundry_worker_next(foundry_client_t *client, int timeout_ms, foundry_job_offer_t *offer_out)
{
    fdy_job_client_t *self = s_of(client);
    if (!self || !offer_out)
        return FOUNDRY_EINVAL;
    memset(offer_out, 0, sizeof *offer_out);
    int64_t deadline = fdy_clock_mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        /* Offers already here go first, without a trip to the socket each. */
        if (self->offer_count == 0 && self->offer_batch_at >= self->offer_batch.job_count)
            fdy_client_pump(client, 0);
        if (self->stale_queued) {
            /* Leases the broker no longer holds for us: stop those runs. */
            *offer_out = (foundry_job_offer_t){ .job_id = self->stale_queue[--self->stale_queued],
                                                .cancel = 1,
                                                .type = "" };
            return FOUNDRY_OK;
        }
        if (self->offer_batch_at < self->offer_batch.job_count) {
            /* The records live in offer_arena until the next batch is decoded. */
            const fdy_job_record_t *rec = &self->offer_batch.jobs[self->offer_batch_at++];
            *offer_out = (foundry_job_offer_t){ rec->id,
                                                rec->fence,
                                                rec->attempt,
                                                strcmp(rec->state ? rec->state : "", "cancelled") == 0,
                                                rec->spec.type,
                                                rec->spec.payload,
                                                rec->spec.payload_len,
                                                rec->spec.timeout_ms };
            return FOUNDRY_OK;
        }
        while (self->offer_count) {
            s_blob_t blob = self->offers[self->offer_head];
            self->offer_head = (self->offer_head + 1) % OFFERS_MAX;
            self->offer_count--;
            fdy_arena_reset(self->offer_arena, FDY_JOB_DECODE_BUDGET(blob.len));
            memset(&self->offer_batch, 0, sizeof self->offer_batch);
            self->offer_batch_at = 0;
            if (blob.batch) {
                fdy_reason_t why;
                fdy_reason_clear(&why);
                if (fdy_codec_job_reply_decode(blob.data, blob.len, self->offer_arena,
                                               &self->offer_batch, &why) != FOUNDRY_OK) {
                    fdy_log_warn_limited("CLIENT-BAD-OFFER", "skipped a batch of job offers: %s",
                                         why.text);
                    memset(&self->offer_batch, 0, sizeof self->offer_batch);
                }
                free(blob.data); /* decoding copied what the records point to */
                break;
            }
            fdy_job_record_t rec;
            fdy_reason_t reason;
            fdy_reason_clear(&reason);
            foundry_err err =
                fdy_codec_job_record_decode(blob.data, blob.len, self->offer_arena, &rec, &reason);
            if (err != FOUNDRY_OK) {
                fdy_log_warn_limited("CLIENT-BAD-OFFER", "skipped a job offer: %s", reason.text);
                free(blob.data);
                continue;
            }
            /* The payload moves into the arena: the blob goes now. */
            uint8_t *payload = NULL;
            if (rec.spec.payload_len) {
                payload = fdy_arena_alloc(self->offer_arena, rec.spec.payload_len);
                if (payload)
                    memcpy(payload, rec.spec.payload, rec.spec.payload_len);
            }
            char *type = fdy_arena_alloc(self->offer_arena, strlen(rec.spec.type) + 1);
            if (type)
                memcpy(type, rec.spec.type, strlen(rec.spec.type) + 1);
            free(blob.data);
            if (!type || (rec.spec.payload_len && !payload))
                return fdy_client_fail(client, FOUNDRY_ENOMEM, "job offer too large");
            *offer_out = (foundry_job_offer_t){ rec.id,
                                                rec.fence,
                                                rec.attempt,
                                                strcmp(rec.state ? rec.state : "", "cancelled") == 0,
                                                type,
                                                payload,
                                                rec.spec.payload_len,
                                                rec.spec.timeout_ms };
            return FOUNDRY_OK;
        }
        if (self->offer_batch_at < self->offer_batch.job_count)
            continue; /* a batch was just decoded */
        int64_t left = deadline - fdy_clock_mono_ms();
        if (left <= 0)
            return FOUNDRY_ETIMEDOUT;
        fdy_client_pump(client, left < 100 ? (int) left : 100);
    }
}

size_t
foundry_worker_pending(foundry_client_t *client)
{
    fdy_job_client_t *self = s_of(client);
    if (!self)
        return 0;
    fdy_client_pump(client, 0);
    return self->offer_count + self->stale_queued +
           (self->offer_batch.job_count - self->offer_batch_at);
}

foundry_err
foundry_worker_result(foundry_client_t *client, uint64_t job_id, uint64_t fence, int ok,
                      const void *result, size_t result_len, const char *error,
                      const char *log_tail, uint32_t slots, uint64_t *token_out)
{
    fdy_job_client_t *self = s_of(client);
    if (!self)
        return FOUNDRY_EINVAL;
    if (result_len > FDY_JOB_RESULT_MAX)
        return fdy_client_fail(client, FOUNDRY_ETOOBIG, "job result of %zu bytes exceeds %u",
                               result_len, FDY_JOB_RESULT_MAX);
    fdy_job_request_t req = { .op = FDY_JOB_RESULT,
                              .job_id = job_id,
                              .fence = fence,
                              .ok = ok != 0,
                              .result = result,
                              .result_len = result ? result_len : 0,
                              .error = error,
                              .log_tail = log_tail,
                              .credit = slots };
    uint64_t token = (job_id << 8) ^ fence;
    s_slot_t *slot;
    foundry_err err = s_request(self, &req, true, token, &slot);
    if (err == FOUNDRY_OK && token_out)
        *token_out = token;
    return err;
}

foundry_err
foundry_worker_results(foundry_client_t *client, const foundry_worker_result_t *results,
                       size_t count, uint64_t *tokens_out)
{
    fdy_job_client_t *self = s_of(client);
    if (!self || !results || count == 0 || count > FOUNDRY_JOBS_BATCH_MAX)
        return self ? fdy_client_fail(client, FOUNDRY_EINVAL, "%zu job results: 1..%d per call",
                                      count, FOUNDRY_JOBS_BATCH_MAX)
                    : FOUNDRY_EINVAL;
    fdy_job_result_item_t items[FOUNDRY_JOBS_BATCH_MAX];
    uint64_t *tokens = malloc(count * sizeof *tokens);
    if (!tokens)
        return fdy_client_fail(client, FOUNDRY_ENOMEM, "job results: out of memory");
    for (size_t i = 0; i < count; i++) {
        const foundry_worker_result_t *r = &results[i];
        if (r->result_len > FDY_JOB_RESULT_MAX) {
            free(tokens);
            return fdy_client_fail(client, FOUNDRY_ETOOBIG, "job result of %zu bytes exceeds %u",
                                   r->result_len, FDY_JOB_RESULT_MAX);
        }
        items[i] = (fdy_job_result_item_t){ r->job_id,  r->fence,
                                            r->ok != 0, r->result,
                                            r->result ? r->result_len : 0,
                                            r->error,   r->log_tail,
                                            r->slots };
        tokens[i] = (r->job_id << 8) ^ r->fence;
    }
    fdy_job_request_t req = { .op = FDY_JOB_RESULT, .results = items, .result_count = count };
    s_slot_t *slot;
    foundry_err err = s_request(self, &req, true, 0, &slot);
    if (err != FOUNDRY_OK) {
        free(tokens);
        return err;
    }
    slot->tokens = tokens;
    slot->token_count = count;
    self->jobs_waiting += count - 1;
    if (tokens_out)
        memcpy(tokens_out, tokens, count * sizeof *tokens);
    return FOUNDRY_OK;
}

/* A request nobody answers unless it is refused: sent once, not kept. */
static foundry_err
s_fire(fdy_job_client_t *self, const fdy_job_request_t *req)
{
    s_slot_t *slot;
    foundry_err err = s_request(self, req, true, 0, &slot);
    if (err == FOUNDRY_OK)
        s_free_slot(self, slot); /* a refusal arrives for a free slot and is logged away */
    return err;
}

foundry_err
foundry_worker_credit(foundry_client_t *client, const char *type, uint32_t slots)
{
    fdy_job_client_t *self = s_of(client);
    if (!self || !type)
        return FOUNDRY_EINVAL;
    const char *types[] = { type };
    fdy_job_request_t req = { .op = FDY_JOB_CREDIT, .types = types, .type_count = 1,
                              .credit = slots };
    return s_fire(self, &req);
}

foundry_err
foundry_worker_progress(foundry_client_t *client, uint64_t job_id, uint64_t fence,
                        const char *text)
{
    fdy_job_client_t *self = s_of(client);
    if (!self)
        return FOUNDRY_EINVAL;
    fdy_job_request_t req = { .op = FDY_JOB_PROGRESS, .job_id = job_id, .fence = fence,
                              .progress = text };
    return s_fire(self, &req);
}

foundry_err
foundry_worker_heartbeat_async(foundry_client_t *client, const uint64_t *job_ids,
                               const uint64_t *fences, size_t count)
{
    fdy_job_client_t *self = s_of(client);
    if (!self || (count && (!job_ids || !fences)) || count > FDY_JOB_IDS_MAX)
        return FOUNDRY_EINVAL;
    if (self->forgotten) {
        self->forgotten = false;
        return fdy_client_fail(client, FOUNDRY_ENOTFOUND, "the broker does not know this node");
    }
    if (self->heartbeats_in_flight >= HEARTBEATS_IN_FLIGHT_MAX)
        return FOUNDRY_OK; /* those are resent until answered */
    fdy_job_request_t req = { .op = FDY_JOB_HEARTBEAT, .job_ids = job_ids, .fences = fences,
                              .id_count = count };
    s_slot_t *slot;
    foundry_err err = s_request(self, &req, true, 0, &slot);
    if (err == FOUNDRY_OK)
        self->heartbeats_in_flight++;
    return err;
}

foundry_err
foundry_worker_heartbeat(foundry_client_t *client, const uint64_t *job_ids,
                         const uint64_t *fences, size_t count, const uint64_t **stale_out,
                         size_t *stale_count_out)
{
    fdy_job_client_t *self = s_of(client);
    if (!self || (count && (!job_ids || !fences)) || count > FDY_JOB_IDS_MAX)
        return FOUNDRY_EINVAL;
    fdy_job_request_t req = { .op = FDY_JOB_HEARTBEAT, .job_ids = job_ids, .fences = fences,
                              .id_count = count };
    foundry_err err = s_call(self, &req);
    if (err != FOUNDRY_OK)
        return err;
    free(self->stale);
    self->stale = NULL;
    self->stale_count = 0;
    if (self->reply.job_count) {
        self->stale = malloc(self->reply.job_count * sizeof *self->stale);
        if (!self->stale)
            return FOUNDRY_ENOMEM;
        for (size_t i = 0; i < self->reply.job_count; i++)
            self->stale[i] = self->reply.jobs[i].id;
        self->stale_count = self->reply.job_count;
    }
    if (stale_out)
        *stale_out = self->stale;
    if (stale_count_out)
        *stale_count_out = self->stale_count;
    return FOUNDRY_OK;
}
