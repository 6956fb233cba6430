/*  test_node_model_update.c: node/model_update.c, one release from
 *  verified notice to healthy, in a temporary models_dir with real
 *  files and real interlock/health programs (small sh scripts run
 *  without a shell by the agent); the broker is the test, answering
 *  FETCHes through the ops table. Covers the window, resume from the
 *  temporary file an agent stop left (a damaged chunk there fetched
 *  again), bad chunks, refused and lost fetches, the interlock's waiting, a
 *  failed health check going back to the previous version, and a cancel
 *  (the temporary file removed, as after a failure; kept after a stop).
 */
#include "model_update.h"

#include "artifact.h"
#include "clock.h"
#include "model_files.h"
#include "model_state.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define CHUNK     (64u * 1024u)
#define SIZE      (3u * CHUNK + 17u)
#define CHUNKS    4u
#define ASKED_MAX 64

typedef struct {
    uint64_t request_id;
    uint32_t index;
} asked_t;

typedef struct {
    char dir[64];
    char models[96];
    uint8_t *data;
    uint8_t hashes[CHUNKS * 32];
    fdy_model_verified_t v;
    fdy_model_update_env_t env;
    fdy_model_program_t interlock, health;
    asked_t asked[ASKED_MAX];
    size_t asked_count, answered, in_flight, max_in_flight;
    uint64_t next_id;
    bool offline;
    char states[512]; /* every report's state, space-separated */
    char last_reason[FDY_REASON_MAX];
    uint64_t last_done;
    fdy_model_held_t persisted;
    size_t persist_count;
} fixture_t;

static int
setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/foundry-mupdate-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->models, sizeof fx->models, "%s/models", fx->dir);
    assert_int_equal(mkdir(fx->models, 0700), 0);
    fx->data = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++)
        fx->data[i] = (uint8_t) (i * 13 + i / 509);
    for (size_t i = 0; i < CHUNKS; i++)
        fdy_artifact_hash_chunk(fx->data + i * CHUNK, fdy_artifact_chunk_len(SIZE, CHUNK, i),
                                fx->hashes + 32 * i);
    fdy_model_manifest_t *m = &fx->v.manifest;
    m->name = "vision";
    m->version = 2;
    m->size = SIZE;
    m->chunk_size = CHUNK;
    m->chunk_hashes = fx->hashes;
    m->chunk_count = CHUNKS;
    fdy_artifact_id(SIZE, CHUNK, fx->hashes, CHUNKS, m->artifact_hash);
    memset(fx->v.manifest_hash, 0x42, 32);
    fx->v.head.index = 2;
    fx->env = (fdy_model_update_env_t){fx->models, NULL, 10, NULL, 2};
    fx->next_id = 1000;
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    fdy_model_program_fini(&fx->interlock);
    fdy_model_program_fini(&fx->health);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx->data);
    free(fx);
    return 0;
}

/* ---- the fake broker and agent ----------------------------------------------------- */

static foundry_err
s_fetch(void *user, const char *name, uint64_t version, uint32_t index, uint64_t *request_id)
{
    fixture_t *fx = user;
    assert_string_equal(name, "vision");
    assert_int_equal(version, fx->v.manifest.version);
    if (fx->offline)
        return FOUNDRY_ETIMEDOUT;
    assert_true(fx->asked_count < ASKED_MAX);
    *request_id = fx->next_id++;
    fx->asked[fx->asked_count++] = (asked_t){*request_id, index};
    fx->in_flight++;
    if (fx->in_flight > fx->max_in_flight)
        fx->max_in_flight = fx->in_flight;
    return FOUNDRY_OK;
}

static void
s_report(void *user, uint64_t rollout_id, const char *name, uint64_t version,
         fdy_model_state_t state, uint64_t done_bytes, const char *reason)
{
    fixture_t *fx = user;
    assert_int_equal(rollout_id, 77);
    assert_string_equal(name, "vision");
    (void) version;
    strcat(fx->states, fdy_model_state_name(state));
    strcat(fx->states, " ");
    snprintf(fx->last_reason, sizeof fx->last_reason, "%s", reason);
    fx->last_done = done_bytes;
}

static foundry_err
s_persist(void *user, const fdy_model_held_t *state, fdy_reason_t *reason)
{
    fixture_t *fx = user;
    fx->persisted = *state;
    fx->persist_count++;
    return fdy_model_state_save(fx->models, state, reason);
}

static const fdy_model_update_ops_t s_ops = {s_fetch, s_report, s_persist};

/* Answers every FETCH asked and not answered yet, in order. */
static void
s_answer_all(fixture_t *fx, fdy_model_update_t *u)
{
    while (fx->answered < fx->asked_count) {
        asked_t a = fx->asked[fx->answered++];
        fx->in_flight--;
        size_t len = fdy_artifact_chunk_len(SIZE, CHUNK, a.index);
        assert_true(fdy_model_update_on_chunk(u, a.request_id, fx->data + a.index * CHUNK, len));
    }
}

/* Steps u, answering fetches, until it is over (a deadline-bounded loop:
 * checks are processes). */
static void
s_run(fixture_t *fx, fdy_model_update_t *u)
{
    int64_t deadline = fdy_clock_mono_ms() + 20000;
    while (!fdy_model_update_service(u, fdy_clock_mono_ms())) {
        s_answer_all(fx, u);
        assert_true(fdy_clock_mono_ms() < deadline);
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

static fdy_model_update_t *
s_update(fixture_t *fx, const fdy_model_held_t *held)
{
    return fdy_model_update_new(&fx->env, &s_ops, fx, 77, &fx->v, held);
}

static void
s_script(fixture_t *fx, const char *name, const char *body, fdy_model_program_t *program)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", fx->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
    fdy_reason_t why;
    assert_int_equal(fdy_model_program_parse(path, program, &why), FOUNDRY_OK);
}

static uint64_t
s_current(const fixture_t *fx)
{
    char dir[160];
    snprintf(dir, sizeof dir, "%s/vision", fx->models);
    uint64_t v = 0;
    (void) fdy_model_files_link(dir, "current", &v);
    return v;
}

/* ---- tests ------------------------------------------------------------------------ */

static void
test_node_model_update_installs_within_its_window(void **state)
{
    fixture_t *fx = *state;
    fdy_model_update_t *u = s_update(fx, NULL);
    s_run(fx, u);
    assert_true(fdy_model_update_healthy(u));
    fdy_model_update_destroy(&u);
    assert_int_equal(fx->asked_count, CHUNKS);
    assert_int_equal(fx->max_in_flight, 2);
    assert_non_null(strstr(fx->states, "downloading "));
    assert_non_null(strstr(fx->states, "verified installed healthy "));
    assert_int_equal(fx->last_done, SIZE);
    assert_int_equal(s_current(fx), 2);
    /* the file is the artifact, byte for byte */
    char path[160];
    snprintf(path, sizeof path, "%s/vision/2", fx->models);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *back = malloc(SIZE);
    assert_int_equal(fread(back, 1, SIZE, f), SIZE);
    fclose(f);
    assert_memory_equal(back, fx->data, SIZE);
    free(back);
    /* and the install is recorded on disk */
    fdy_model_held_t held;
    fdy_reason_t why;
    assert_int_equal(fdy_model_state_load(fx->models, "vision", &held, &why), FOUNDRY_OK);
    assert_int_equal(held.version, 2);
    assert_int_equal(held.head.index, 2);
    assert_memory_equal(held.manifest_hash, fx->v.manifest_hash, 32);
}

static bool
s_tmp_exists(const fixture_t *fx)
{
    char path[160];
    snprintf(path, sizeof path, "%s/vision/.2.tmp", fx->models);
    return access(path, F_OK) == 0;
}

/* Steps u until it has asked for want chunks in all. */
static void
s_until_asked(fixture_t *fx, fdy_model_update_t *u, size_t want)
{
    int64_t deadline = fdy_clock_mono_ms() + 20000;
    while (fx->asked_count < want) {
        assert_false(fdy_model_update_service(u, fdy_clock_mono_ms()));
        assert_true(fdy_clock_mono_ms() < deadline);
    }
}

static void
test_node_model_update_resumes_from_the_temporary_file(void **state)
{
    fixture_t *fx = *state;
    /* A first run gets chunks 0, 1 and 2 (window 2: asked 0 1, then 2 3),
     * and the agent stops with chunk 3 in flight. */
    fdy_model_update_t *u = s_update(fx, NULL);
    s_until_asked(fx, u, 2);
    s_answer_all(fx, u);
    s_until_asked(fx, u, 4);
    assert_int_equal(fx->asked[2].index, 2);
    fx->in_flight--;
    assert_true(fdy_model_update_on_chunk(u, fx->asked[2].request_id, fx->data + 2 * CHUNK, CHUNK));
    fdy_model_update_destroy(&u);
    assert_true(s_tmp_exists(fx)); /* kept for the next start */
    /* A crash had left chunk 1 damaged on disk. */
    char path[160];
    snprintf(path, sizeof path, "%s/vision/.2.tmp", fx->models);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, CHUNK + 10, SEEK_SET), 0);
    assert_int_equal(fputc(0x5a ^ fx->data[CHUNK + 10], f), 0x5a ^ fx->data[CHUNK + 10]);
    fclose(f);

    /* The next start checks the file again and fetches only 1 and 3. */
    fx->asked_count = fx->answered = 0;
    fx->in_flight = 0;
    fx->states[0] = '\0';
    u = s_update(fx, NULL);
    s_run(fx, u);
    assert_true(fdy_model_update_healthy(u));
    fdy_model_update_destroy(&u);
    assert_int_equal(fx->asked_count, 2);
    assert_int_equal(fx->asked[0].index, 1);
    assert_int_equal(fx->asked[1].index, 3);
    assert_int_equal(s_current(fx), 2);
    assert_int_equal(fx->last_done, SIZE);
    assert_false(s_tmp_exists(fx));
    /* the damaged byte was replaced */
    snprintf(path, sizeof path, "%s/vision/2", fx->models);
    f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *back = malloc(SIZE);
    assert_int_equal(fread(back, 1, SIZE, f), SIZE);
    fclose(f);
    assert_memory_equal(back, fx->data, SIZE);
    free(back);
}

/* The first report of a resumed download counts what the file held. */
static void
test_node_model_update_reports_resumed_bytes(void **state)
{
    fixture_t *fx = *state;
    fdy_model_update_t *u = s_update(fx, NULL);
    s_until_asked(fx, u, 2);
    s_answer_all(fx, u);
    fdy_model_update_destroy(&u);
    fx->asked_count = fx->answered = 0;
    fx->in_flight = 0;
    fx->states[0] = '\0';
    u = s_update(fx, NULL);
    s_until_asked(fx, u, 1);
    assert_string_equal(fx->states, "downloading ");
    assert_int_equal(fx->last_done, 2 * CHUNK);
    assert_int_equal(fx->asked[0].index, 2);
    fdy_model_update_destroy(&u);
}

static void
s_first_answer(fixture_t *fx, fdy_model_update_t *u, const uint8_t *data, size_t len)
{
    assert_false(fdy_model_update_service(u, fdy_clock_mono_ms()));
    assert_true(fx->asked_count > 0);
    assert_true(fdy_model_update_on_chunk(u, fx->asked[0].request_id, data, len));
    assert_true(fdy_model_update_service(u, fdy_clock_mono_ms()));
}

static void
test_node_model_update_refuses_a_bad_chunk(void **state)
{
    fixture_t *fx = *state;
    fdy_model_update_t *u = s_update(fx, NULL);
    uint8_t *bad = malloc(CHUNK);
    memcpy(bad, fx->data, CHUNK);
    bad[100] ^= 1;
    s_first_answer(fx, u, bad, CHUNK);
    fdy_model_update_destroy(&u);
    free(bad);
    assert_non_null(strstr(fx->states, "failed "));
    assert_string_equal(fx->last_reason, "chunk 0 hash mismatch");
    assert_int_equal(s_current(fx), 0);
    assert_false(s_tmp_exists(fx)); /* a failed download leaves nothing */
}

static void
test_node_model_update_refuses_a_chunk_of_the_wrong_length(void **state)
{
    fixture_t *fx = *state;
    fdy_model_update_t *u = s_update(fx, NULL);
    s_first_answer(fx, u, fx->data, CHUNK + 1);
    fdy_model_update_destroy(&u);
    assert_string_equal(fx->last_reason, "chunk 0 is 65537 bytes, the manifest says 65536");
    assert_int_equal(s_current(fx), 0);
}

static void
test_node_model_update_fails_on_a_refused_fetch_and_retries_a_lost_one(void **state)
{
    fixture_t *fx = *state;
    fdy_model_update_t *u = s_update(fx, NULL);
    assert_false(fdy_model_update_service(u, fdy_clock_mono_ms()));
    assert_int_equal(fx->asked_count, 2);
    /* lost on a reconnect: asked again */
    assert_true(fdy_model_update_on_failed(u, fx->asked[0].request_id, FOUNDRY_ECLOSED, "gone"));
    assert_false(fdy_model_update_on_failed(u, 12345, FOUNDRY_ECLOSED, "not ours"));
    assert_false(fdy_model_update_service(u, fdy_clock_mono_ms()));
    assert_int_equal(fx->asked_count, 3);
    assert_int_equal(fx->asked[2].index, fx->asked[0].index);
    /* refused by the broker: the update fails with its reason */
    assert_true(fdy_model_update_on_failed(u, fx->asked[1].request_id, FOUNDRY_EDENIED,
                                           "model vision 2 does not target site siheung"));
    assert_true(fdy_model_update_service(u, fdy_clock_mono_ms()));
    fdy_model_update_destroy(&u);
    assert_non_null(strstr(fx->last_reason, "refused"));
    assert_non_null(strstr(fx->last_reason, "does not target site siheung"));
}

static void
test_node_model_update_waits_for_the_interlock(void **state)
{
    fixture_t *fx = *state;
    char body[256];
    snprintf(body, sizeof body, "[ -e %s/safe ] && exit 0\necho \"robot arm moving\"\nexit 3",
             fx->dir);
    s_script(fx, "interlock", body, &fx->interlock);
    fx->env.interlock = &fx->interlock;
    fdy_model_update_t *u = s_update(fx, NULL);
    int64_t deadline = fdy_clock_mono_ms() + 20000;
    while (!strstr(fx->states, "waiting-interlock")) {
        assert_false(fdy_model_update_service(u, fdy_clock_mono_ms()));
        s_answer_all(fx, u);
        assert_true(fdy_clock_mono_ms() < deadline);
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    assert_string_equal(fx->last_reason, "interlock: exit status 3: robot arm moving");
    assert_int_equal(s_current(fx), 0);
    /* still waiting a few checks later, said once */
    for (int i = 0; i < 50; i++) {
        assert_false(fdy_model_update_service(u, fdy_clock_mono_ms()));
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    assert_non_null(strstr(fx->states, "verified waiting-interlock "));
    assert_null(strstr(strstr(fx->states, "waiting-interlock") + 1, "waiting-interlock"));
    assert_null(strstr(fx->states, "failed"));
    char path[160];
    snprintf(path, sizeof path, "%s/safe", fx->dir);
    FILE *f = fopen(path, "w");
    fclose(f);
    s_run(fx, u);
    fdy_model_update_destroy(&u);
    assert_non_null(strstr(fx->states, "waiting-interlock installed healthy "));
    assert_int_equal(s_current(fx), 2);
}

static void
test_node_model_update_goes_back_when_unhealthy(void **state)
{
    fixture_t *fx = *state;
    /* version 2 installed and healthy first */
    fdy_model_update_t *u = s_update(fx, NULL);
    s_run(fx, u);
    fdy_model_update_destroy(&u);
    fdy_model_held_t held = fx->persisted;
    /* version 3 (the same bytes) with a health check that says no */
    char body[256];
    snprintf(body, sizeof body,
             "[ \"$FOUNDRY_MODEL_VERSION\" = 3 ] && [ -f \"$FOUNDRY_MODEL_PATH\" ] && "
             "echo \"accuracy 0.41 on $FOUNDRY_MODEL_NAME\" && exit 1\nexit 0");
    s_script(fx, "health", body, &fx->health);
    fx->env.health = &fx->health;
    fx->v.manifest.version = 3;
    memset(fx->v.manifest_hash, 0x43, 32);
    fx->states[0] = '\0';
    fx->asked_count = fx->answered = 0;
    /* s_fetch checks the version: version 3 is fetched whole (no chunk
     * store outside version files) */
    u = s_update(fx, &held);
    s_run(fx, u);
    assert_false(fdy_model_update_healthy(u));
    fdy_model_update_destroy(&u);
    assert_int_equal(fx->asked_count, CHUNKS);
    assert_non_null(strstr(fx->states, "installed failed "));
    assert_string_equal(fx->last_reason,
                        "health check failed (exit status 1: accuracy 0.41 on vision); back on "
                        "version 2");
    assert_int_equal(s_current(fx), 2);
    assert_int_equal(fx->persisted.version, 2);
    assert_memory_equal(fx->persisted.manifest_hash, held.manifest_hash, 32);
    fdy_model_held_t disk;
    fdy_reason_t why;
    assert_int_equal(fdy_model_state_load(fx->models, "vision", &disk, &why), FOUNDRY_OK);
    assert_int_equal(disk.version, 2);
}

static void
test_node_model_update_stops_on_cancel(void **state)
{
    fixture_t *fx = *state;
    fdy_model_update_t *u = s_update(fx, NULL);
    assert_false(fdy_model_update_service(u, fdy_clock_mono_ms()));
    assert_true(fdy_model_update_downloading(u));
    s_answer_all(fx, u);
    assert_true(s_tmp_exists(fx));
    fdy_model_update_cancel(u);
    assert_false(s_tmp_exists(fx));
    assert_true(fdy_model_update_service(u, fdy_clock_mono_ms()));
    fdy_model_update_destroy(&u);
    assert_null(strstr(fx->states, "failed"));
    assert_null(strstr(fx->states, "installed"));
    assert_int_equal(s_current(fx), 0);
    assert_int_equal(fx->persist_count, 0);
}

static void
test_node_model_update_waits_while_offline(void **state)
{
    fixture_t *fx = *state;
    fx->offline = true;
    fdy_model_update_t *u = s_update(fx, NULL);
    for (int i = 0; i < 5; i++)
        assert_false(fdy_model_update_service(u, fdy_clock_mono_ms()));
    assert_int_equal(fx->asked_count, 0);
    fx->offline = false;
    s_run(fx, u);
    fdy_model_update_destroy(&u);
    assert_int_equal(s_current(fx), 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_node_model_update_installs_within_its_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_update_reports_resumed_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_update_resumes_from_the_temporary_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_model_update_refuses_a_bad_chunk, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_update_refuses_a_chunk_of_the_wrong_length,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_node_model_update_fails_on_a_refused_fetch_and_retries_a_lost_one, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_node_model_update_waits_for_the_interlock, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_update_goes_back_when_unhealthy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_update_stops_on_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_model_update_waits_while_offline, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("node_model_update", tests, NULL, NULL);
}
