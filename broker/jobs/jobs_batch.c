/*  jobs_batch.c: the jobs service's batched wire (jobs_core.h): a SUBMIT
 *  of many specs and a RESULT of many results, each job stored or refused
 *  alone and all answered together after the turn's one commit, and the
 *  offers to a node that takes JOB_OFFERS grouped into one message. A
 *  batch saves per-message work (CURVE, syscalls, envelopes), not
 *  durability: its jobs are in the same commit as single requests' are.
 */
#include "jobs_core.h"

#include "log.h"
#include "reply.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Offers per JOB_OFFERS message, and the bytes after which it is sent. */
#define OFFERS_PER_MESSAGE 256
#define OFFER_BYTES_MAX    (1024u * 1024u)

static void
s_refused(fdy_jobs_item_t *item, foundry_err err, const fdy_reason_t *why)
{
    item->code = err;
    item->error = fdy_xstrdup(why->text[0] ? why->text : foundry_strerror(err));
    item->created = NULL;
}

foundry_err
fdy_jobs_submit_batch(fdy_jobs_t *self, const fdy_request_t *req, const fdy_job_request_t *jr,
                      fdy_reason_t *reason)
{
    (void) reason;
    fdy_jobs_item_t *items = fdy_xalloc(jr->spec_count * sizeof *items);
    for (size_t i = 0; i < jr->spec_count; i++) {
        fdy_reason_t why;
        fdy_reason_clear(&why);
        foundry_err err = fdy_jobs_submit_one(self, req, &jr->specs[i], &items[i], &why);
        if (err != FOUNDRY_OK)
            s_refused(&items[i], err, &why);
    }
    fdy_jobs_park(self, req, NULL, items, jr->spec_count);
    return FOUNDRY_OK;
}

foundry_err
fdy_jobs_result_batch(fdy_jobs_t *self, const fdy_request_t *req, const fdy_job_request_t *jr,
                      fdy_job_node_t *node, fdy_reason_t *reason)
{
    (void) reason;
    fdy_jobs_item_t *items = fdy_xalloc(jr->result_count * sizeof *items);
    for (size_t i = 0; i < jr->result_count; i++) {
        const fdy_job_result_item_t *r = &jr->results[i];
        fdy_reason_t why;
        fdy_reason_clear(&why);
        foundry_err err = fdy_codec_job_result_check(r, &why);
        if (err == FOUNDRY_OK)
            err = fdy_jobs_result_one(self, req, node, r, &items[i], &why);
        if (err != FOUNDRY_OK) {
            items[i].job_id = r->job_id;
            s_refused(&items[i], err, &why);
        }
    }
    fdy_jobs_park(self, req, NULL, items, jr->result_count);
    return FOUNDRY_OK;
}

void
fdy_jobs_reply_batch(fdy_jobs_t *self, const fdy_jobs_parked_t *p)
{
    fdy_job_outcome_t *outs = fdy_xalloc(p->item_count * sizeof *outs);
    for (size_t i = 0; i < p->item_count; i++) {
        const fdy_jobs_item_t *it = &p->items[i];
        outs[i] = (fdy_job_outcome_t){it->job_id, it->duplicate, it->code, it->error};
    }
    fdy_job_reply_t reply = {0, false, NULL, 0, outs, p->item_count};
    fdy_peer_t to = {p->peer, p->peer_len};
    fdy_jobs_send_body(self, &to, FDY_KIND_JOB_REPLY, p->request_id, &reply);
    free(outs);
}

/* ---- offers ------------------------------------------------------------------ */

/* The offer's record, borrowed from the job: only what a node acts on (id,
 * fence, attempt, type, payload, timeout; state "cancelled" for a kill
 * order). False when it no longer stands (cancelled, expired, node gone). */
static bool
s_offer_record(fdy_jobs_t *self, const fdy_jobs_offer_t *o, fdy_job_node_t **node_out,
               fdy_job_record_t *rec)
{
    fdy_job_t *job = fdy_jobs_get(self, o->job_id);
    fdy_job_node_t *node = fdy_job_nodes_by_name(self->nodes, o->node);
    if (!job || !node || !node->connected || job->fence != o->fence)
        return false;
    if (!o->cancel && job->state != FDY_JOB_LEASED)
        return false; /* cancelled or expired before its offer could leave */
    memset(rec, 0, sizeof *rec);
    rec->id = job->id;
    rec->spec.type = job->spec->type;
    rec->spec.timeout_ms = job->spec->timeout_ms;
    if (!o->cancel) {
        rec->spec.payload = job->spec->payload;
        rec->spec.payload_len = job->spec->payload_len;
    }
    rec->state = o->cancel ? "cancelled" : fdy_job_state_name(job->state);
    rec->attempt = job->attempt;
    rec->fence = job->fence;
    *node_out = node;
    return true;
}

static void
s_send_one(fdy_jobs_t *self, fdy_job_node_t *node, const fdy_job_record_t *rec)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (fdy_codec_job_record_encode(rec, &buf, &len) != FOUNDRY_OK)
        return;
    fdy_jobs_metrics_offer(self->metrics, node->site_index, 1, len);
    fdy_envelope_t env;
    memset(&env, 0, sizeof env);
    env.kind = FDY_KIND_JOB_OFFER;
    env.job = buf;
    env.job_len = len;
    fdy_peer_t to = {node->peer, node->peer_len};
    fdy_reply_send(self->deps.reply, &to, &env);
    free(buf);
}

/* Offer order, node by node: the scheduler deals jobs round-robin, so
 * consecutive offers are for different nodes, and sent in that order each
 * message would carry one. Sorted by node name, ties by position, so a
 * node's own offers and kill orders keep their order. */
static int
s_cmp_offer(const void *a, const void *b)
{
    const fdy_jobs_offer_slot_t *x = a, *y = b;
    int c = strcmp(x->node, y->node);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

void
fdy_jobs_send_offers(fdy_jobs_t *self, size_t count)
{
    if (count == 0)
        return;
    size_t cap = self->offer_order_capacity;
    self->offer_order = fdy_xgrow(self->offer_order, &cap, count, sizeof *self->offer_order);
    self->offer_order_capacity = cap;
    for (size_t i = 0; i < count; i++)
        self->offer_order[i] = (fdy_jobs_offer_slot_t){self->offers[i].node, i};
    qsort(self->offer_order, count, sizeof *self->offer_order, s_cmp_offer);
    size_t held = 0;
    self->offer_body_len = 0;
    fdy_job_node_t *batch_node = NULL;
    for (size_t i = 0; i <= count; i++) {
        fdy_job_node_t *node = NULL;
        fdy_job_record_t rec;
        const fdy_jobs_offer_t *o = i < count ? &self->offers[self->offer_order[i].at] : NULL;
        bool ok = o && s_offer_record(self, o, &node, &rec);
        /* The batch held so far leaves when the next offer is another
         * node's, when it is full, and at the end. */
        if (held && (i == count || (ok && node != batch_node) || held == OFFERS_PER_MESSAGE ||
                     self->offer_body_len >= OFFER_BYTES_MAX)) {
            fdy_peer_t to = {batch_node->peer, batch_node->peer_len};
            fdy_jobs_send_encoded(self, &to, FDY_KIND_JOB_OFFERS, 0, self->offer_body,
                                  self->offer_body_len);
            fdy_jobs_metrics_offer(self->metrics, batch_node->site_index, held,
                                   self->offer_body_len);
            held = 0;
            self->offer_body_len = 0;
        }
        if (!ok)
            continue;
        if (!o->cancel)
            self->offered++;
        if (!node->offer_batches) {
            s_send_one(self, node, &rec);
            continue;
        }
        if (fdy_codec_job_offer_append(&self->offer_body, &self->offer_body_len,
                                       &self->offer_body_cap, &rec) != FOUNDRY_OK) {
            fdy_log_err("JOBS-ENCODE", "job %" PRIu64 ": out of memory", rec.id);
            abort();
        }
        batch_node = node;
        held++;
    }
    if (self->offer_count > count)
        memmove(self->offers, self->offers + count,
                (self->offer_count - count) * sizeof *self->offers);
    self->offer_count -= count;
}
