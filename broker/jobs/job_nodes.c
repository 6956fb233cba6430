/*  job_nodes.c: the registered node agents (job_nodes.h). A handful per
 *  site, so a plain array searched linearly.
 */
#include "job_nodes.h"

#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fdy_job_nodes {
    fdy_job_node_t **items;
    size_t count;
    size_t capacity;
};

fdy_job_nodes_t *
fdy_job_nodes_new(void)
{
    return fdy_xalloc(sizeof(fdy_job_nodes_t));
}

void
fdy_job_nodes_destroy(fdy_job_nodes_t **self_p)
{
    fdy_job_nodes_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        free(self->items[i]);
    free(self->items);
    free(self);
    *self_p = NULL;
}

fdy_job_node_t *
fdy_job_nodes_by_name(fdy_job_nodes_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->items[i]->name, name) == 0)
            return self->items[i];
    return NULL;
}

fdy_job_node_t *
fdy_job_nodes_by_peer(fdy_job_nodes_t *self, const fdy_peer_t *peer)
{
    for (size_t i = 0; i < self->count; i++) {
        fdy_job_node_t *n = self->items[i];
        if (n->connected && n->peer_len == peer->len && memcmp(n->peer, peer->id, peer->len) == 0)
            return n;
    }
    return NULL;
}

fdy_job_node_t *
fdy_job_nodes_register(fdy_job_nodes_t *self, const fdy_principal_t *who,
                       const fdy_peer_t *peer, const fdy_job_request_t *req, int64_t now_ms,
                       uint64_t wall_ms)
{
    fdy_job_node_t *n = fdy_job_nodes_by_name(self, who->name);
    if (!n) {
        self->items = fdy_xgrow(self->items, &self->capacity, self->count + 1,
                                sizeof *self->items);
        n = fdy_xalloc(sizeof *n);
        self->items[self->count++] = n;
        snprintf(n->name, sizeof n->name, "%s", who->name);
    }
    snprintf(n->site, sizeof n->site, "%s", who->site);
    n->peer_len = peer->len <= sizeof n->peer ? peer->len : 0;
    memcpy(n->peer, peer->id, n->peer_len);
    n->label_count = 0;
    for (size_t i = 0; i < req->label_count && i < FDY_JOB_LABELS_MAX; i++)
        snprintf(n->labels[n->label_count++], sizeof n->labels[0], "%s", req->labels[i]);
    n->slot_count = 0;
    for (size_t i = 0; i < req->type_count && i < FDY_JOB_LABELS_MAX; i++) {
        fdy_job_slot_t *s = &n->slots[n->slot_count++];
        snprintf(s->type, sizeof s->type, "%s", req->types[i]);
        s->credit = req->credit;
    }
    n->offer_batches = req->offer_batches;
    n->last_seen_ms = now_ms;
    n->last_seen_wall_ms = wall_ms;
    n->connected = n->peer_len > 0;
    return n;
}

size_t
fdy_job_nodes_count(const fdy_job_nodes_t *self)
{
    return self->count;
}

fdy_job_node_t *
fdy_job_nodes_at(fdy_job_nodes_t *self, size_t index)
{
    return index < self->count ? self->items[index] : NULL;
}

void
fdy_job_nodes_remove(fdy_job_nodes_t *self, size_t index)
{
    if (index >= self->count)
        return;
    free(self->items[index]);
    self->items[index] = self->items[--self->count];
}

fdy_job_slot_t *
fdy_job_node_slot(fdy_job_node_t *node, const char *type)
{
    for (size_t i = 0; i < node->slot_count; i++)
        if (strcmp(node->slots[i].type, type) == 0)
            return &node->slots[i];
    return NULL;
}

bool
fdy_job_node_has_label(const fdy_job_node_t *node, const char *label)
{
    for (size_t i = 0; i < node->label_count; i++)
        if (strcmp(node->labels[i], label) == 0)
            return true;
    return false;
}
