/*  job_nodes.h: the node agents that take jobs: site and name from the
 *  authenticated key, labels and per-type slots from their registration,
 *  their credit (free slots) and when they were last heard from. Keyed by
 *  principal name, so an agent that reconnects (a new ROUTER identity)
 *  keeps its registration and its leases.
 */
#ifndef FDY_JOB_NODES_H_INCLUDED
#define FDY_JOB_NODES_H_INCLUDED

#include "codec_jobs.h"
#include "service.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDY_JOB_PEER_MAX 256

typedef struct {
    char type[FDY_JOB_TYPE_MAX + 1];
    uint32_t credit; /* offers it may still take */
} fdy_job_slot_t;

typedef struct {
    char name[FDY_NAME_MAX];
    char site[FDY_NAME_MAX];
    uint32_t site_index;    /* fdy_request_t.site of its registration (traffic metrics) */
    uint8_t peer[FDY_JOB_PEER_MAX];
    size_t peer_len;
    char labels[FDY_JOB_LABELS_MAX][FDY_JOB_LABEL_MAX + 1];
    size_t label_count;
    fdy_job_slot_t slots[FDY_JOB_LABELS_MAX];
    size_t slot_count;
    uint32_t busy;          /* leases it holds */
    int64_t last_seen_ms;   /* monotonic */
    uint64_t last_seen_wall_ms;
    bool connected;
    bool offer_batches; /* takes its offers as JOB_OFFERS */
} fdy_job_node_t;

typedef struct fdy_job_nodes fdy_job_nodes_t;

fdy_job_nodes_t *fdy_job_nodes_new(void);
void fdy_job_nodes_destroy(fdy_job_nodes_t **self_p);

/* Registers (or re-registers) the node of principal who on peer with the
 * request's labels and types, each type with `credit` slots. Returns the
 * node (borrowed, valid until removed). */
fdy_job_node_t *fdy_job_nodes_register(fdy_job_nodes_t *self, const fdy_principal_t *who,
                                       const fdy_peer_t *peer, const fdy_job_request_t *req,
                                       int64_t now_ms, uint64_t wall_ms);

/* Borrowed lookups; NULL when not registered. */
fdy_job_node_t *fdy_job_nodes_by_name(fdy_job_nodes_t *self, const char *name);
fdy_job_node_t *fdy_job_nodes_by_peer(fdy_job_nodes_t *self, const fdy_peer_t *peer);
size_t fdy_job_nodes_count(const fdy_job_nodes_t *self);
fdy_job_node_t *fdy_job_nodes_at(fdy_job_nodes_t *self, size_t index);
/* Forgets the node at index (the last one moves there). */
void fdy_job_nodes_remove(fdy_job_nodes_t *self, size_t index);

/* The node's slot for type, or NULL when it does not run it. */
fdy_job_slot_t *fdy_job_node_slot(fdy_job_node_t *node, const char *type);
/* True when the node advertises the label "key=value". */
bool fdy_job_node_has_label(const fdy_job_node_t *node, const char *label);

#endif
