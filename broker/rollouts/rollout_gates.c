/*  rollout_gates.c: the telemetry behind a rollout's gates (rollouts_core.h).
 *  While the current wave soaks, it reads the telemetry-<site> streams of
 *  the wave's sites from the first record stored since the soak began, keeps the
 *  samples published by the wave's own nodes (the record's publisher is
 *  the node's key name) under telemetry.<site>.<METRIC>, and checks each
 *  gate's condition on every sample. Bounded: RECORDS_PER_TICK per call.
 *  Payloads that are not typed telemetry (proto/telemetry.proto) are
 *  skipped.
 */
#include "rollouts_core.h"

#include "arena.h"
#include "codec.h"
#include "telemetry.h"
#include "xalloc.h"

#include <stdio.h>
#include <string.h>

#define RECORDS_PER_TICK 512

void
fdy_rollout_gates_reset(fdy_rollout_gate_scan_t *scan)
{
    free(scan->sites);
    memset(scan, 0, sizeof *scan);
}

typedef struct {
    uint64_t seq;
    uint64_t stored_ms;
} s_probe_t;

static foundry_err
s_probe_one(const fdy_stored_t *rec, void *user)
{
    s_probe_t *probe = user;
    probe->seq = rec->seq;
    probe->stored_ms = rec->stored_ns / 1000000u;
    return FOUNDRY_OK;
}

/* The first seq of stream stored at or after from_ms (last + 1 when none):
 * a binary search by stored time, which only grows along a stream, so the
 * window starts where the soak began, also after a restart, in
 * O(log n) one-record reads. */
static uint64_t
s_seek(fdy_store_t *store, const char *stream, uint64_t first, uint64_t last, uint64_t from_ms)
{
    if (last == 0)
        return 1;
    uint64_t lo = first ? first : 1, hi = last + 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        s_probe_t probe = {0, 0};
        fdy_reason_t why;
        fdy_reason_clear(&why);
        if (fdy_store_read(store, stream, mid, 1, s_probe_one, &probe, &why) != FOUNDRY_OK ||
            probe.seq == 0)
            return last + 1;
        if (probe.seq > mid) {
            lo = probe.seq; /* trimmed meanwhile: the stream starts later */
            continue;
        }
        if (probe.stored_ms >= from_ms)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void
s_setup(fdy_rollouts_t *self, fdy_rollouts_item_t *item, uint64_t from, uint64_t until)
{
    fdy_rollout_gate_scan_t *scan = &item->scan;
    fdy_rollout_gates_reset(scan);
    scan->from_ms = from;
    scan->until_ms = until;
    scan->wave = item->rollout.rec.wave;
    const fdy_rollout_record_t *rec = &item->rollout.rec;
    scan->sites = fdy_xalloc((rec->node_count ? rec->node_count : 1) * sizeof *scan->sites);
    for (size_t i = 0; i < rec->node_count; i++) {
        const fdy_rollout_node_t *n = &rec->nodes[i];
        if (n->wave != scan->wave || n->state == FDY_RNODE_EXCLUDED)
            continue;
        bool known = false;
        for (size_t s = 0; s < scan->site_count && !known; s++)
            known = strcmp(scan->sites[s].site, n->site) == 0;
        if (known)
            continue;
        fdy_rollout_gate_site_t *site = &scan->sites[scan->site_count++];
        snprintf(site->site, sizeof site->site, "%s", n->site);
        char stream[FDY_NAME_MAX + 16];
        snprintf(stream, sizeof stream, "telemetry-%s", n->site);
        fdy_stream_info_t info;
        fdy_reason_t why;
        fdy_reason_clear(&why);
        if (fdy_store_stream_info(self->deps.store, stream, &info, &why) == FOUNDRY_OK)
            site->next_seq = s_seek(self->deps.store, stream, info.first_seq, info.last_seq, from);
        else
            site->caught_up = true; /* no such stream: nothing can violate */
        fdy_store_stream_info_clear(&info);
    }
}

typedef struct {
    fdy_rollouts_t *self;
    fdy_rollouts_item_t *item;
    fdy_rollout_gate_site_t *site;
    size_t seen;
    bool past_window;
} s_read_t;

static void
s_check_samples(s_read_t *rd, const fdy_rollout_gate_t *gate, const char *node,
                const uint8_t *payload, size_t len)
{
    fdy_arena_t *arena = rd->self->arena;
    fdy_arena_reset(arena, FDY_TELEMETRY_DECODE_BUDGET(len));
    fdy_sample_t *samples = NULL;
    size_t count = 0;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_telemetry_decode(payload, len, arena, &samples, &count, &why) != FOUNDRY_OK)
        return; /* opaque bytes: not typed telemetry, no sample to judge */
    for (size_t i = 0; i < count; i++) {
        if (strcmp(samples[i].metric, gate->metric) != 0 ||
            fdy_rollout_gate_holds(gate, samples[i].value))
            continue;
        char expr[FDY_ROLLOUT_METRIC_MAX + 48], value[40];
        fdy_rollout_gate_text(gate, expr, sizeof expr);
        fdy_rollout_value_text(samples[i].value, value, sizeof value);
        /* A long metric is cut: the reason still names value and node. */
        fdy_reason_t text;
        fdy_reason_set(&text, FOUNDRY_OK, "gate %s violated: %s at %s/%s", expr, value,
                       rd->site->site, node);
        memcpy(rd->item->scan.violation, text.text, sizeof rd->item->scan.violation);
        return;
    }
}

static foundry_err
s_read_one(const fdy_stored_t *rec, void *user)
{
    s_read_t *rd = user;
    fdy_rollout_gate_scan_t *scan = &rd->item->scan;
    rd->seen++;
    rd->site->next_seq = rec->seq + 1;
    uint64_t stored_ms = rec->stored_ns / 1000000u;
    if (stored_ms > scan->until_ms) {
        rd->past_window = true;
        return FOUNDRY_ECLOSED; /* stops the read: the rest is after the soak */
    }
    if (stored_ms < scan->from_ms || scan->violation[0])
        return FOUNDRY_OK;
    fdy_rollout_node_t *node = fdy_rollout_engine_node(&rd->item->rollout, rec->publisher);
    if (!node || node->wave != scan->wave)
        return FOUNDRY_OK; /* someone else's telemetry */
    fdy_arena_t *arena = rd->self->arena;
    fdy_arena_reset(arena, FDY_DECODE_BUDGET(rec->data_len));
    fdy_msg_t msg;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_codec_decode_msg(rec->data, rec->data_len, arena, &msg, &why) != FOUNDRY_OK)
        return FOUNDRY_OK;
    char prefix[FOUNDRY_SUBJECT_MAX + 1];
    int plen = snprintf(prefix, sizeof prefix, "telemetry.%s.", rd->site->site);
    if (plen <= 0 || strncmp(msg.subject, prefix, (size_t) plen) != 0)
        return FOUNDRY_OK;
    const char *metric = msg.subject + plen;
    const uint8_t *payload = msg.payload ? msg.payload : rec->ext;
    size_t len = msg.payload ? msg.payload_len : rec->ext_len;
    /* The metric name lives in the arena the samples reuse: copy it. */
    char metric_copy[FOUNDRY_SUBJECT_MAX + 1];
    snprintf(metric_copy, sizeof metric_copy, "%s", metric);
    uint8_t *copy = NULL;
    for (size_t g = 0; g < rd->item->rollout.options.gate_count && !scan->violation[0]; g++) {
        const fdy_rollout_gate_t *gate = &rd->item->rollout.options.gates[g];
        if (strcmp(gate->metric, metric_copy) != 0 || !payload || len == 0)
            continue;
        if (!copy) {
            copy = fdy_xalloc(len);
            memcpy(copy, payload, len);
        }
        s_check_samples(rd, gate, node->name, copy, len);
    }
    free(copy);
    return FOUNDRY_OK;
}

bool
fdy_rollout_gates_check(fdy_rollouts_t *self, fdy_rollouts_item_t *item, uint64_t now_ms,
                        fdy_rollout_gates_t *out)
{
    uint64_t from, until;
    out->caught_up = false;
    out->violation = NULL;
    if (!fdy_rollout_engine_soaking(&item->rollout, &from, &until)) {
        if (item->scan.sites)
            fdy_rollout_gates_reset(&item->scan);
        return false;
    }
    fdy_rollout_gate_scan_t *scan = &item->scan;
    if (!scan->sites || scan->from_ms != from || scan->until_ms != until ||
        scan->wave != item->rollout.rec.wave)
        s_setup(self, item, from, until);
    size_t budget = RECORDS_PER_TICK;
    bool all = true;
    for (size_t s = 0; s < scan->site_count && !scan->violation[0]; s++) {
        fdy_rollout_gate_site_t *site = &scan->sites[s];
        if (site->caught_up)
            continue;
        char stream[FDY_NAME_MAX + 16];
        snprintf(stream, sizeof stream, "telemetry-%s", site->site);
        s_read_t rd = {self, item, site, 0, false};
        fdy_reason_t why;
        fdy_reason_clear(&why);
        size_t ask = budget ? budget : 1;
        (void) fdy_store_read(self->deps.store, stream, site->next_seq, ask, s_read_one, &rd, &why);
        budget = budget > rd.seen ? budget - rd.seen : 0;
        /* Caught up: past the window, or at the end of the stream once the
         * window is over (later records are stored later). */
        if (rd.past_window || (rd.seen < ask && now_ms > until))
            site->caught_up = true;
        all = all && site->caught_up;
    }
    out->caught_up = all;
    out->violation = scan->violation[0] ? scan->violation : NULL;
    return true;
}
