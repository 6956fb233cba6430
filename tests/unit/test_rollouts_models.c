/*  test_rollouts_models.c: the rollouts service (broker/rollouts/) driving a
 *  model rollout, with a fake models service linked in place of
 *  broker/models (a link-time seam: this file defines models.h's
 *  functions). Real store and registry. Targets from the manifest's sites,
 *  notices on start (or in the WATCH reply when the node is away), REPORTs
 *  moving nodes (unknown rollouts and foreign nodes ignored), waves, abort
 *  with cancel notices, and everything back after the service is made
 *  again from the store.
 */
#include "fixture_store.h"

#include "admin_table.h"
#include "commit.h"
#include "models.h"
#include "registry.h"
#include "service.h"

#include <string.h>
#include <zmq.h>

/* ---- the fake models service ------------------------------------------------------ */

struct fdy_models {
    fdy_models_hooks_t hooks;
    const char *connected[4]; /* nodes watching now */
    char notified[16][96];    /* "node rollout name version cancel" */
    size_t notified_count;
};

static struct fdy_models s_models;
static const char *const s_sites[] = {"seongnam-lab", "siheung"};
static const fdy_model_manifest_t s_manifest = {
    .name = "vision",
    .version = 3,
    .size = 1000,
    .sites = s_sites,
    .site_count = 2,
};

fdy_models_t *
fdy_models_find(const fdy_service_deps_t *deps)
{
    (void) deps;
    return &s_models;
}

foundry_err
fdy_models_release(fdy_models_t *self, const char *name, uint64_t version,
                   fdy_models_release_t *out, fdy_reason_t *reason)
{
    (void) self;
    if (strcmp(name, "vision") != 0 || version != 3)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "model %s has no version %llu", name,
                              (unsigned long long) version);
    *out = (fdy_models_release_t){&s_manifest, (const uint8_t *) "x", 1, 7};
    return FOUNDRY_OK;
}

bool
fdy_models_node_connected(const fdy_models_t *self, const char *node)
{
    for (size_t i = 0; i < 4 && self->connected[i]; i++)
        if (strcmp(self->connected[i], node) == 0)
            return true;
    return false;
}

bool
fdy_models_notify(fdy_models_t *self, const char *node, uint64_t rollout_id, const char *name,
                  uint64_t version, bool cancel)
{
    if (!fdy_models_node_connected(self, node))
        return false;
    snprintf(self->notified[self->notified_count++ % 16], 96, "%s %llu %s %llu %d", node,
             (unsigned long long) rollout_id, name, (unsigned long long) version, cancel);
    return true;
}

void
fdy_models_set_hooks(fdy_models_t *self, const fdy_models_hooks_t *hooks)
{
    self->hooks = *hooks;
}

/* ---- fixture ------------------------------------------------------------------------ */

typedef struct {
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store;
    fdy_registry_t *registry;
    fdy_broker_cfg_t cfg;
    fdy_service_deps_t deps;
    void *service;
    fdy_arena_t *arena;
    fdy_principal_t admin;
    fdy_reason_t reason;
} fixture_t;

static void
s_add_node(fixture_t *fx, const char *name, const char *site)
{
    fdy_principal_t p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "%s", name);
    char secret[41];
    assert_int_equal(zmq_curve_keypair(p.public_key, secret), 0);
    p.role = FDY_ROLE_NODE;
    snprintf(p.site, sizeof p.site, "%s", site);
    if (fdy_registry_add(fx->registry, &p, &fx->reason) != FOUNDRY_OK)
        fail_msg("add %s: %s", name, fx->reason.text);
}

static void
s_create(fixture_t *fx)
{
    memset(&s_models.hooks, 0, sizeof s_models.hooks);
    if (fdy_rollouts_service.create(&fx->deps, &fx->service, &fx->reason) != FOUNDRY_OK)
        fail_msg("create: %s", fx->reason.text);
    assert_ptr_equal(s_models.hooks.self, fx->service);
}

static int
s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    fdy_store_opts_t opts = {.dedupe_window_ms = 60000};
    fx_store_open_tmp(fx->dir, "fdy-rollouts", &opts, &fx->store, &fx->reason);
    assert_int_equal(fdy_registry_new(fx->store, &fx->registry, &fx->reason), FOUNDRY_OK);
    s_add_node(fx, "lab-1", "seongnam-lab");
    s_add_node(fx, "si-1", "siheung");
    s_add_node(fx, "si-2", "siheung");
    s_add_node(fx, "ha-1", "hanam"); /* not among the manifest's sites */
    fx->cfg.rollout_keep_ended_ms = 30ull * 24 * 3600 * 1000;
    fx->deps = (fdy_service_deps_t){.cfg = &fx->cfg, .store = fx->store, .registry = fx->registry};
    fx->arena = fdy_arena_new(1u << 20);
    snprintf(fx->admin.name, sizeof fx->admin.name, "ops");
    fx->admin.role = FDY_ROLE_ADMIN;
    memset(&s_models, 0, sizeof s_models);
    s_models.connected[0] = "lab-1";
    s_models.connected[1] = "si-1";
    s_create(fx);
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fx = *state;
    fdy_rollouts_service.destroy(&fx->service);
    fdy_registry_destroy(&fx->registry);
    fx_store_rm(fx->dir, &fx->store);
    fdy_arena_destroy(&fx->arena);
    free(fx);
    return 0;
}

static foundry_err
s_admin(fixture_t *fx, const char *command, const char *const *args, size_t count, fdy_table_t *out)
{
    fdy_arena_reset(fx->arena, 1u << 20);
    fdy_admin_call_t call = {&fx->admin, command, args, count, fx->arena};
    fdy_admin_table_t table;
    foundry_err err = fdy_rollouts_service.admin(fx->service, &call, &table, &fx->reason);
    if (err == FOUNDRY_OK)
        fdy_admin_table_end(&table, out);
    return err;
}

static void
s_cell(const fdy_table_t *t, size_t row, const char *column, char *out, size_t size)
{
    for (size_t c = 0; c < t->column_count; c++)
        if (strcmp(t->columns[c], column) == 0) {
            const fdy_slice_t *cell = &t->cells[row * t->column_count + c];
            snprintf(out, size, "%.*s", (int) cell->len, (const char *) cell->data);
            return;
        }
    fail_msg("no column %s", column);
}

/* The status cell of node's row. */
static void
s_node(fixture_t *fx, const char *node, const char *column, char *out, size_t size)
{
    const char *args[] = {"id=1"};
    fdy_table_t t;
    assert_int_equal(s_admin(fx, "rollout.status", args, 1, &t), FOUNDRY_OK);
    for (size_t r = 0; r < t.row_count; r++) {
        char name[64];
        s_cell(&t, r, "node", name, sizeof name);
        if (strcmp(name, node) == 0) {
            s_cell(&t, r, column, out, size);
            return;
        }
    }
    fail_msg("no node %s", node);
}

static void
s_report_about(const char *node, uint64_t rollout, const char *name, uint64_t version,
               const char *state, uint64_t done)
{
    fdy_model_request_t req;
    memset(&req, 0, sizeof req);
    req.op = FDY_MODEL_REPORT;
    req.name = name;
    req.version = version;
    req.rollout_id = rollout;
    req.state = state;
    req.done_bytes = done;
    req.reason = "";
    s_models.hooks.report(s_models.hooks.self, node, "x", &req, 0);
}

static void
s_report(const char *node, uint64_t rollout, const char *state, uint64_t done)
{
    s_report_about(node, rollout, "vision", 3, state, done);
}

static bool
s_notified(const char *line)
{
    for (size_t i = 0; i < s_models.notified_count && i < 16; i++)
        if (strcmp(s_models.notified[i], line) == 0)
            return true;
    return false;
}

static void
s_commit(fixture_t *fx)
{
    fdy_commit_t commit;
    fdy_commit_init(&commit);
    fdy_rollouts_service.collect(fx->service, &commit, 0);
    assert_int_equal(fdy_commit_run(&commit, fx->store, &fx->reason), FOUNDRY_OK);
    fdy_rollouts_service.committed(fx->service, &commit, 0);
}

/* ---- the test --------------------------------------------------------------------------- */

static void
test_rollouts_models_start_report_waves_abort_reload(void **state)
{
    fixture_t *fx = *state;
    fdy_table_t t;
    char text[256];
    const char *missing[] = {"model=vision@9"};
    assert_int_equal(s_admin(fx, "rollout.start", missing, 1, &t), FOUNDRY_ENOTFOUND);
    assert_non_null(strstr(fx->reason.text, "no version 9"));
    const char *args[] = {"model=vision@3", "waves=seongnam-lab;siheung"};
    assert_int_equal(s_admin(fx, "rollout.start", args, 2, &t), FOUNDRY_OK);
    s_cell(&t, 0, "id", text, sizeof text);
    assert_string_equal(text, "1");
    assert_int_equal(s_admin(fx, "rollout.ls", NULL, 0, &t), FOUNDRY_OK);
    s_cell(&t, 0, "nodes", text, sizeof text);
    assert_string_equal(text, "3"); /* ha-1's site is not the manifest's */
    s_cell(&t, 0, "target", text, sizeof text);
    assert_string_equal(text, "vision@3");

    fdy_rollouts_service.tick(fx->service, 0);
    assert_true(s_notified("lab-1 1 vision 3 0"));
    s_node(fx, "lab-1", "total_bytes", text, sizeof text);
    assert_string_equal(text, "1000");
    /* Unknown rollout, a node not started yet, a node not in it: ignored. */
    s_report("lab-1", 99, "healthy", 0);
    s_report("si-1", 1, "healthy", 0);
    s_report("ha-1", 1, "healthy", 0);
    s_report("lab-1", 1, "exploded", 0);
    s_report_about("lab-1", 1, "other", 3, "healthy", 0);
    s_report_about("lab-1", 1, "vision", 2, "healthy", 0);
    s_node(fx, "lab-1", "state", text, sizeof text);
    assert_string_equal(text, "started");
    s_node(fx, "si-1", "state", text, sizeof text);
    assert_string_equal(text, "pending");
    s_report_about("lab-1", 1, "", 0, "downloading", 500); /* no name: still ours */
    s_node(fx, "lab-1", "done_bytes", text, sizeof text);
    assert_string_equal(text, "500");
    s_report("lab-1", 1, "healthy", 1000);
    s_commit(fx);

    /* Wave 2: si-1 is watching and notified; si-2 is away, and gets the
     * notice in its next WATCH reply. */
    fdy_rollouts_service.tick(fx->service, 0);
    assert_true(s_notified("si-1 1 vision 3 0"));
    assert_false(s_notified("si-2 1 vision 3 0"));
    fdy_models_pending_t pending[4];
    assert_int_equal(s_models.hooks.pending(s_models.hooks.self, "si-2", pending, 4), 1);
    assert_int_equal(pending[0].rollout_id, 1);
    assert_string_equal(pending[0].name, "vision");
    assert_int_equal(pending[0].version, 3);
    assert_false(pending[0].cancel);
    assert_int_equal(s_models.hooks.pending(s_models.hooks.self, "ha-1", pending, 4), 0);
    s_report("si-1", 1, "waiting-interlock", 1000);
    s_commit(fx);

    /* Abort: si-1 (watching) is told at once, si-2 at its next WATCH. */
    const char *id[] = {"id=1"};
    assert_int_equal(s_admin(fx, "rollout.abort", id, 1, &t), FOUNDRY_OK);
    s_cell(&t, 0, "state", text, sizeof text);
    assert_string_equal(text, "aborted");
    fdy_rollouts_service.tick(fx->service, 0);
    assert_true(s_notified("si-1 1 vision 3 1"));
    assert_int_equal(s_models.hooks.pending(s_models.hooks.self, "si-2", pending, 4), 1);
    assert_true(pending[0].cancel);
    s_commit(fx);
    /* Given once: the next WATCH has nothing more. */
    assert_int_equal(s_models.hooks.pending(s_models.hooks.self, "si-2", pending, 4), 0);
    s_commit(fx);

    /* Everything is back when the service is made again from the store. */
    fdy_rollouts_service.destroy(&fx->service);
    s_create(fx);
    assert_int_equal(s_admin(fx, "rollout.ls", NULL, 0, &t), FOUNDRY_OK);
    assert_int_equal(t.row_count, 1);
    s_cell(&t, 0, "state", text, sizeof text);
    assert_string_equal(text, "aborted");
    s_cell(&t, 0, "healthy", text, sizeof text);
    assert_string_equal(text, "1");
    s_node(fx, "si-1", "state", text, sizeof text);
    assert_string_equal(text, "cancelled");
    assert_int_equal(s_models.hooks.pending(s_models.hooks.self, "si-2", pending, 4), 0);
    /* A new rollout gets a new id. */
    assert_int_equal(s_admin(fx, "rollout.start", args, 2, &t), FOUNDRY_OK);
    s_cell(&t, 0, "id", text, sizeof text);
    assert_string_equal(text, "2");
    fdy_stats_t stats = {.count = 0};
    fdy_rollouts_service.stats(fx->service, &stats);
    assert_string_equal(stats.items[0].name, "rollouts_running");
    assert_int_equal(stats.items[0].value, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rollouts_models_start_report_waves_abort_reload,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("rollouts_models", tests, NULL, NULL);
}
