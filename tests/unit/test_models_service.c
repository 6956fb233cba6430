/*  test_models_service.c: the models service over a fake send path
 *  (fake_reply.c linked in place of broker/net/reply.c) and a real store
 *  and blob directory: what the rollouts service gets through models.h.
 *  fdy_models_find, fdy_models_release, the hooks (node_seen with the
 *  node's labels and key identity, pending notices in the WATCH reply,
 *  report), fdy_models_notify while watching and not after peer_gone, and
 *  replies that leave only after the turn's commit, and its traffic
 *  counted by the requester's site.
 */
#include "artifact.h"
#include "commit.h"
#include "fake_reply.h"
#include "model_sign.h"
#include "models.h"
#include "peers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define CHUNK FDY_MODEL_CHUNK_MIN

typedef struct {
    char dir[64];
    fdy_store_t *store;
    fdy_reply_t *reply;
    fdy_peers_t *peers;
    fdy_broker_cfg_t cfg;
    fdy_service_t service;
    void *models;
    fdy_principal_t admin, acme, robot;
    fdy_sign_key_t *key;
    uint8_t pub[32];
    uint8_t data[2 * CHUNK + 100];
    uint8_t hashes[3 * 32];
    uint8_t id[32];
    fdy_arena_t *arena;
    uint64_t request_id;
    /* what the hooks saw */
    char seen_node[64], seen_site[64], seen_label[64];
    int seen_connected, seen_gone;
    int reports;
    char report_node[64], report_state[32];
    fdy_models_pending_t pending[2];
    size_t pending_count;
} fx_t;

static void
s_turn(fx_t *fx)
{
    fdy_commit_t commit;
    fdy_commit_init(&commit);
    fdy_models_service.collect(fx->models, &commit, 0);
    fdy_reason_t why = {{0}};
    if (fdy_commit_run(&commit, fx->store, &why) != FOUNDRY_OK)
        fail_msg("commit: %s", why.text);
    fdy_models_service.committed(fx->models, &commit, 0);
}

static const uint8_t s_peer_robot[] = {0, 1, 2, 3, 4};
static const uint8_t s_peer_acme[] = {9, 9, 9};

/* Hands one MODEL request to the service; returns what handle() said. */
static foundry_err
s_request(fx_t *fx, const fdy_principal_t *who, const fdy_model_request_t *mr, const void *chunk,
          size_t chunk_len, char reason_out[256])
{
    uint8_t *body = NULL;
    size_t body_len = 0;
    fdy_reason_t why = {{0}};
    if (fdy_codec_model_request_encode(mr, &body, &body_len, &why) != FOUNDRY_OK)
        fail_msg("encode: %s", why.text);
    fdy_envelope_t env = {.kind = FDY_KIND_MODEL, .request_id = ++fx->request_id};
    fdy_slice_t frames[3] = {{NULL, 0}, {body, body_len}, {chunk, chunk_len}};
    bool robot = who == &fx->robot;
    fdy_peer_t peer = {robot ? s_peer_robot : s_peer_acme,
                       robot ? sizeof s_peer_robot : sizeof s_peer_acme};
    fdy_request_t req = {.who = who,
                         .peer = peer,
                         .env = &env,
                         .frames = frames,
                         .frame_count = chunk ? 3 : 2,
                         .now_ms = 1,
                         .site = fdy_peers_bind(fx->peers, &peer, -1, who->name, who->site)};
    foundry_err err = fdy_models_service.handle(fx->models, &req, &why);
    if (reason_out)
        snprintf(reason_out, 256, "%s", why.text);
    free(body);
    return err;
}

/* A traffic count the models service reports: family (e.g.
 * "foundry_messages_out_total") for site, from its stats' tables. */
static uint64_t
s_traffic(fx_t *fx, const char *family, const char *site)
{
    fdy_stats_t stats = {0};
    fdy_models_service.stats(fx->models, &stats);
    for (size_t i = 0; i < stats.table_count; i++) {
        const fdy_labeled_t *t = stats.tables[i];
        for (size_t f = 0; f < t->family_count; f++)
            if (strcmp(t->families[f].name, family) == 0) {
                assert_string_equal(t->fixed_values[0], "models");
                return fdy_labeled_get(t, f, 0, fdy_labeled_values_find(t->values, site));
            }
    }
    fail_msg("no family %s", family);
    return 0;
}

static const fake_sent_t *
s_last(void)
{
    assert_true(fake_sent_count > 0);
    return &fake_sent[fake_sent_count - 1];
}

/* ---- hooks ------------------------------------------------------------------ */

static void
s_report(void *self, const char *node, const char *site, const fdy_model_request_t *req,
         int64_t now_ms)
{
    (void) site, (void) now_ms;
    fx_t *fx = self;
    fx->reports++;
    snprintf(fx->report_node, sizeof fx->report_node, "%s", node);
    snprintf(fx->report_state, sizeof fx->report_state, "%s", req->state);
}

static void
s_node_seen(void *self, const char *node, const char *site, const char *const *labels,
            size_t label_count, bool connected, int64_t now_ms)
{
    (void) now_ms;
    fx_t *fx = self;
    snprintf(fx->seen_node, sizeof fx->seen_node, "%s", node);
    snprintf(fx->seen_site, sizeof fx->seen_site, "%s", site);
    snprintf(fx->seen_label, sizeof fx->seen_label, "%s", label_count ? labels[0] : "");
    if (connected)
        fx->seen_connected++;
    else
        fx->seen_gone++;
}

static size_t
s_pending(void *self, const char *node, fdy_models_pending_t *out, size_t max)
{
    fx_t *fx = self;
    if (strcmp(node, "robot-1") != 0)
        return 0;
    size_t n = fx->pending_count < max ? fx->pending_count : max;
    memcpy(out, fx->pending, n * sizeof *out);
    return n;
}

/* ---- fixture ------------------------------------------------------------------ */

static int
s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/foundry-test-models.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fdy_store_opts_t opts = {.dir = fx->dir, .dedupe_window_ms = 60000};
    fdy_reason_t why = {{0}};
    if (fdy_store_open(&opts, &fx->store, &why) != FOUNDRY_OK)
        fail_msg("store: %s", why.text);
    fx->cfg.data_dir = fx->dir;
    fx->cfg.release_key_file = "";
    fx->cfg.max_model_size = 1u << 30;
    fx->cfg.upload_gc_after_ms = 3600000;
    fx->reply = fdy_reply_new(NULL);
    fx->peers = fdy_peers_new();
    fdy_service_deps_t deps = {.cfg = &fx->cfg, .store = fx->store, .reply = fx->reply,
                               .peers = fx->peers};
    if (fdy_models_service.create(&deps, &fx->models, &why) != FOUNDRY_OK)
        fail_msg("create: %s", why.text);
    fx->service = (fdy_service_t){&fdy_models_service, fx->models};
    snprintf(fx->admin.name, sizeof fx->admin.name, "admin");
    fx->admin.role = FDY_ROLE_ADMIN;
    snprintf(fx->acme.name, sizeof fx->acme.name, "acme");
    fx->acme.role = FDY_ROLE_PARTNER;
    fx->acme.allow_models[0] = "vision";
    fx->acme.allow_models_count = 1;
    snprintf(fx->robot.name, sizeof fx->robot.name, "robot-1");
    fx->robot.role = FDY_ROLE_NODE;
    snprintf(fx->robot.site, sizeof fx->robot.site, "siheung");
    if (fdy_sign_keygen(fx->dir, "k1", fx->pub, &why) != FOUNDRY_OK)
        fail_msg("keygen: %s", why.text);
    char path[128];
    snprintf(path, sizeof path, "%s/k1.sign", fx->dir);
    if (fdy_sign_key_load(path, &fx->key, &why) != FOUNDRY_OK)
        fail_msg("key: %s", why.text);
    for (size_t i = 0; i < sizeof fx->data; i++)
        fx->data[i] = (uint8_t) (i * 31 + 7);
    for (size_t i = 0; i < 3; i++)
        fdy_artifact_hash_chunk(fx->data + i * CHUNK,
                                fdy_artifact_chunk_len(sizeof fx->data, CHUNK, i),
                                fx->hashes + i * 32);
    fdy_artifact_id(sizeof fx->data, CHUNK, fx->hashes, 3, fx->id);
    fx->arena = fdy_arena_new(1 << 20);
    fake_reply_clear();
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fx_t *fx = *state;
    fdy_models_service.destroy(&fx->models);
    fdy_store_close(&fx->store);
    fdy_reply_destroy(&fx->reply);
    fdy_peers_destroy(&fx->peers);
    fdy_sign_key_destroy(&fx->key);
    fdy_arena_destroy(&fx->arena);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
    free(fx);
    return 0;
}

/* Trust k1 for vision, upload the artifact and publish version 1 for
 * siheung. */
static void
s_release(fx_t *fx)
{
    char key_arg[80] = "key=";
    for (size_t i = 0; i < 32; i++)
        snprintf(key_arg + 4 + 2 * i, 3, "%02x", fx->pub[i]);
    const char *args[] = {"name=vision", "threshold=1", key_arg};
    fdy_admin_call_t call = {.caller = &fx->admin,
                             .command = "model.trust",
                             .args = args,
                             .arg_count = 3,
                             .arena = fx->arena};
    fdy_admin_table_t table;
    fdy_reason_t why = {{0}};
    if (fdy_models_service.admin(fx->models, &call, &table, &why) != FOUNDRY_OK)
        fail_msg("model.trust: %s", why.text);

    fdy_model_request_t begin = {.op = FDY_MODEL_UPLOAD_BEGIN,
                                 .artifact_hash = fx->id,
                                 .size = sizeof fx->data,
                                 .chunk_size = CHUNK,
                                 .chunk_hashes = fx->hashes,
                                 .chunk_count = 3};
    assert_int_equal(s_request(fx, &fx->acme, &begin, NULL, 0, NULL), FOUNDRY_OK);
    assert_int_equal(fake_sent_count, 0); /* the reply waits for the commit */
    s_turn(fx);
    assert_int_equal(s_last()->kind, FDY_KIND_MODEL_REPLY);
    for (uint32_t i = 0; i < 3; i++) {
        fdy_model_request_t chunk = {
            .op = FDY_MODEL_UPLOAD_CHUNK, .artifact_hash = fx->id, .index = i};
        assert_int_equal(s_request(fx, &fx->acme, &chunk, fx->data + i * CHUNK,
                                   fdy_artifact_chunk_len(sizeof fx->data, CHUNK, i), NULL),
                         FOUNDRY_OK);
    }
    size_t before = fake_sent_count;
    s_turn(fx);
    assert_int_equal(fake_sent_count, before + 3);

    const char *sites[] = {"siheung"};
    fdy_model_manifest_t m = {.name = "vision",
                              .version = 1,
                              .size = sizeof fx->data,
                              .chunk_size = CHUNK,
                              .chunk_hashes = fx->hashes,
                              .chunk_count = 3,
                              .sites = sites,
                              .site_count = 1};
    memcpy(m.artifact_hash, fx->id, 32);
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (fdy_codec_model_manifest_encode(&m, &bytes, &len, &why) != FOUNDRY_OK)
        fail_msg("manifest: %s", why.text);
    fdy_model_signature_t sig;
    memcpy(sig.key, fx->pub, 32);
    fdy_sign(fx->key, bytes, len, sig.sig);
    fdy_model_request_t publish = {.op = FDY_MODEL_PUBLISH};
    publish.signed_manifest = (fdy_model_signed_t){bytes, len, &sig, 1};
    char reason[256];
    assert_int_equal(s_request(fx, &fx->acme, &publish, NULL, 0, reason), FOUNDRY_OK);
    s_turn(fx);
    assert_int_equal(s_last()->kind, FDY_KIND_MODEL_REPLY);
    free(bytes);
}

/* ---- tests ---------------------------------------------------------------------- */

static void
test_models_service_find_and_release(void **state)
{
    fx_t *fx = *state;
    fdy_service_deps_t deps = {.services = &fx->service, .service_count = 1};
    assert_ptr_equal(fdy_models_find(&deps), fx->models);
    fdy_service_deps_t none = {0};
    assert_null(fdy_models_find(&none));
    s_release(fx);
    fdy_models_release_t rel;
    fdy_reason_t why = {{0}};
    assert_int_equal(fdy_models_release(fx->models, "vision", 1, &rel, &why), FOUNDRY_OK);
    assert_int_equal(rel.log_index, 1);
    assert_int_equal(rel.manifest->chunk_count, 3);
    assert_string_equal(rel.manifest->sites[0], "siheung");
    assert_non_null(rel.signed_bytes);
    assert_int_equal(fdy_models_release(fx->models, "vision", 9, &rel, &why), FOUNDRY_ENOTFOUND);
    assert_non_null(strstr(why.text, "has no version 9"));
    fdy_stats_t stats = {0};
    fdy_models_service.stats(fx->models, &stats);
    bool manifests = false;
    for (size_t i = 0; i < stats.count; i++)
        manifests = manifests || (strcmp(stats.items[i].name, "model_manifests") == 0 &&
                                  stats.items[i].value == 1);
    assert_true(manifests);
}

static void
test_models_service_watch_notify_report(void **state)
{
    fx_t *fx = *state;
    s_release(fx);
    fdy_models_hooks_t hooks = {
        .self = fx, .report = s_report, .node_seen = s_node_seen, .pending = s_pending};
    fdy_models_set_hooks(fx->models, &hooks);
    fx->pending[0] = (fdy_models_pending_t){.rollout_id = 7, .name = "vision", .version = 1};
    fx->pending_count = 1;
    assert_false(fdy_models_node_connected(fx->models, "robot-1"));
    assert_false(fdy_models_notify(fx->models, "robot-1", 7, "vision", 1, false));

    const char *labels[] = {"camera=rgb"};
    fdy_model_request_t watch = {.op = FDY_MODEL_WATCH, .labels = labels, .label_count = 1};
    assert_int_equal(s_request(fx, &fx->robot, &watch, NULL, 0, NULL), FOUNDRY_OK);
    assert_string_equal(fx->seen_node, "robot-1");
    assert_string_equal(fx->seen_site, "siheung");
    assert_string_equal(fx->seen_label, "camera=rgb");
    assert_int_equal(fx->seen_connected, 1);
    const fake_sent_t *sent = s_last();
    assert_int_equal(sent->kind, FDY_KIND_MODEL_REPLY);
    fdy_model_reply_t reply;
    fdy_reason_t why = {{0}};
    fdy_arena_reset(fx->arena, 1 << 20);
    assert_int_equal(
        fdy_codec_model_reply_decode(sent->model, sent->model_len, fx->arena, &reply, &why),
        FOUNDRY_OK);
    assert_int_equal(reply.notice_count, 1);
    assert_int_equal(reply.notices[0].rollout_id, 7);
    assert_int_equal(reply.notices[0].entry_count, 1);
    assert_non_null(reply.notices[0].release_key);
    assert_false(reply.notices[0].cancel);

    /* While it watches, a notice goes straight to it. */
    assert_true(fdy_models_node_connected(fx->models, "robot-1"));
    assert_true(fdy_models_notify(fx->models, "robot-1", 7, "vision", 1, true));
    sent = s_last();
    assert_int_equal(sent->kind, FDY_KIND_MODEL_NOTICE);
    assert_int_equal(sent->request_id, 0);
    fdy_model_notice_t notice;
    fdy_arena_reset(fx->arena, 1 << 20);
    assert_int_equal(
        fdy_codec_model_notice_decode(sent->model, sent->model_len, fx->arena, &notice, &why),
        FOUNDRY_OK);
    assert_true(notice.cancel);
    assert_false(fdy_models_notify(fx->models, "robot-1", 7, "vision", 5, false));
    assert_false(fdy_models_notify(fx->models, "robot-9", 7, "vision", 1, false));

    /* REPORT reaches the hook under the key's name, and gets no reply. */
    size_t before = fake_sent_count;
    fdy_model_request_t report = {.op = FDY_MODEL_REPORT,
                                  .rollout_id = 7,
                                  .name = "vision",
                                  .version = 1,
                                  .state = "installed"};
    assert_int_equal(s_request(fx, &fx->robot, &report, NULL, 0, NULL), FOUNDRY_OK);
    assert_int_equal(fx->reports, 1);
    assert_string_equal(fx->report_node, "robot-1");
    assert_string_equal(fx->report_state, "installed");
    assert_int_equal(fake_sent_count, before);
    char reason[256];
    assert_int_equal(s_request(fx, &fx->acme, &report, NULL, 0, reason), FOUNDRY_EDENIED);
    assert_non_null(strstr(reason, "only node keys"));
    assert_int_equal(fx->reports, 1);

    /* Its connection goes: the hook hears it, and notices wait for WATCH. */
    fdy_peer_t peer = {s_peer_robot, sizeof s_peer_robot};
    fdy_models_service.peer_gone(fx->models, &peer);
    assert_int_equal(fx->seen_gone, 1);
    assert_false(fdy_models_node_connected(fx->models, "robot-1"));
    assert_false(fdy_models_notify(fx->models, "robot-1", 7, "vision", 1, false));
}

static void
test_models_service_fetch_after_release(void **state)
{
    fx_t *fx = *state;
    s_release(fx);
    fdy_model_request_t fetch = {.op = FDY_MODEL_FETCH, .name = "vision", .version = 1, .index = 2};
    assert_int_equal(s_request(fx, &fx->robot, &fetch, NULL, 0, NULL), FOUNDRY_OK);
    const fake_sent_t *sent = s_last();
    assert_int_equal(sent->kind, FDY_KIND_MODEL_REPLY);
    assert_int_equal(sent->frame_len, 100); /* the last chunk */
    fdy_principal_t pangyo = fx->robot;
    snprintf(pangyo.site, sizeof pangyo.site, "pangyo");
    char reason[256];
    assert_int_equal(s_request(fx, &pangyo, &fetch, NULL, 0, reason), FOUNDRY_EDENIED);
    assert_non_null(strstr(reason, "not released to site pangyo"));
    /* traffic by the requester's site: the partner's three upload chunks
     * in (no site), the one chunk sent to the siheung node out; the
     * refused fetch sent nothing */
    assert_int_equal(s_traffic(fx, "foundry_messages_in_total", ""), 3);
    assert_int_equal(s_traffic(fx, "foundry_bytes_in_total", ""), sizeof fx->data);
    assert_int_equal(s_traffic(fx, "foundry_messages_out_total", "siheung"), 1);
    assert_int_equal(s_traffic(fx, "foundry_bytes_out_total", "siheung"), 100);
    assert_int_equal(s_traffic(fx, "foundry_messages_in_total", "siheung"), 0);
    assert_int_equal(s_traffic(fx, "foundry_messages_out_total", ""), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_models_service_find_and_release, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_models_service_watch_notify_report, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_models_service_fetch_after_release, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests_name("models_service", tests, NULL, NULL);
}
