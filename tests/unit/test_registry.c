/*  test_registry.c: the principal registry (registry.h) over a real store:
 *  add and lookups, uniqueness, validation, revocation, refresh after
 *  another process (a forked child with its own store) changed the keys,
 *  the broker's confirmation of the generation it applies, key records
 *  altered on disk (refused, never another key) and schema-3 key records
 *  (read as they are read-only, framed by the migration).
 */
#include "clock.h"
#include "registry.h"
#include "store_keys.h"
#include "tamper.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#define assert_foundry_ok(expr)                                                                    \
    do {                                                                                           \
        foundry_err err_ = (expr);                                                                 \
        if (err_ != FOUNDRY_OK)                                                                    \
            fail_msg("%s: %s", #expr, foundry_strerror(err_));                                     \
    } while (0)

typedef struct {
    char dir[64];
    fdy_store_t *store;
    fdy_registry_t *registry;
    fdy_reason_t reason;
} fixture_t;

static foundry_err
s_open_store(const char *dir, fdy_store_t **store, fdy_reason_t *reason)
{
    fdy_store_opts_t opts = {.dir = dir, .map_size = 1u << 20, .map_size_max = 64u << 20,
                             .dedupe_window_ms = 60000, .read_only = false};
    return fdy_store_open(&opts, store, reason);
}

static int
s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    strcpy(fx->dir, "/tmp/test_registry.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    assert_foundry_ok(s_open_store(fx->dir, &fx->store, &fx->reason));
    assert_foundry_ok(fdy_registry_new(fx->store, &fx->registry, &fx->reason));
    assert_non_null(fx->registry);
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fx = *state;
    fdy_registry_destroy(&fx->registry);
    fdy_store_close(&fx->store);
    char path[128];
    snprintf(path, sizeof path, "%s/data.mdb", fx->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", fx->dir);
    unlink(path);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* A principal with a fresh CURVE public key. allow_publish points at
 * static strings: the registry copies what it keeps. */
static fdy_principal_t
s_principal(const char *name, fdy_role_t role, const char *site)
{
    fdy_principal_t p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "%s", name);
    char secret[41];
    if (zmq_curve_keypair(p.public_key, secret) != 0)
        fail_msg("zmq_curve_keypair failed");
    p.role = role;
    snprintf(p.site, sizeof p.site, "%s", site);
    return p;
}

static void
s_add_ok(fixture_t *fx, const fdy_principal_t *p)
{
    foundry_err err = fdy_registry_add(fx->registry, p, &fx->reason);
    if (err != FOUNDRY_OK)
        fail_msg("add %s: %s: %s", p->name, foundry_strerror(err), fx->reason.text);
}

static void
test_registry_add_and_lookup(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(fdy_registry_count(fx->registry), 0);
    fdy_principal_t node = s_principal("node-siheung-1", FDY_ROLE_NODE, "siheung");
    fdy_principal_t partner = s_principal("acme.robotics", FDY_ROLE_PARTNER, "");
    snprintf(partner.tenant, sizeof partner.tenant, "acme");
    char f1[] = "telemetry.acme.>", f2[] = "jobs.*.acme";
    partner.allow_publish[0] = f1;
    partner.allow_publish[1] = f2;
    partner.allow_count = 2;
    uint64_t before = fdy_clock_wall_ns();
    s_add_ok(fx, &node);
    s_add_ok(fx, &partner);

    const fdy_principal_t *p = fdy_registry_by_name(fx->registry, "acme.robotics");
    assert_non_null(p);
    assert_string_equal(p->public_key, partner.public_key);
    assert_int_equal(p->role, FDY_ROLE_PARTNER);
    assert_string_equal(p->tenant, "acme");
    assert_int_equal(p->allow_count, 2);
    assert_string_equal(p->allow_publish[0], "telemetry.acme.>");
    assert_string_equal(p->allow_publish[1], "jobs.*.acme");
    assert_ptr_not_equal(p->allow_publish[0], f1); /* copied */
    assert_false(p->revoked);
    assert_true(p->created_ns >= before);
    assert_ptr_equal(fdy_registry_by_key(fx->registry, partner.public_key), p);

    p = fdy_registry_by_key(fx->registry, node.public_key);
    assert_non_null(p);
    assert_string_equal(p->name, "node-siheung-1");
    assert_string_equal(p->site, "siheung");
    assert_null(fdy_registry_by_name(fx->registry, "nobody"));
    assert_null(fdy_registry_by_key(fx->registry, "0000000000000000000000000000000000000000"));

    assert_int_equal(fdy_registry_count(fx->registry), 2);
    assert_string_equal(fdy_registry_at(fx->registry, 0)->name, "acme.robotics"); /* by name */
    assert_string_equal(fdy_registry_at(fx->registry, 1)->name, "node-siheung-1");
    assert_null(fdy_registry_at(fx->registry, 2));

    /* Persisted: a new registry over the store loads the same. */
    fdy_registry_t *again = NULL;
    assert_foundry_ok(fdy_registry_new(fx->store, &again, &fx->reason));
    assert_non_null(again);
    assert_int_equal(fdy_registry_count(again), 2);
    p = fdy_registry_by_name(again, "acme.robotics");
    assert_non_null(p);
    assert_int_equal(p->allow_count, 2);
    fdy_registry_destroy(&again);
    assert_null(again);
}

static void
test_registry_duplicate_name_or_key(void **state)
{
    fixture_t *fx = *state;
    fdy_principal_t a = s_principal("alice", FDY_ROLE_ADMIN, "");
    s_add_ok(fx, &a);
    fdy_principal_t same_name = s_principal("alice", FDY_ROLE_ADMIN, "");
    assert_int_equal(fdy_registry_add(fx->registry, &same_name, &fx->reason), FOUNDRY_EEXIST);
    assert_non_null(strstr(fx->reason.text, "alice"));
    fdy_principal_t same_key = s_principal("bob", FDY_ROLE_ADMIN, "");
    memcpy(same_key.public_key, a.public_key, sizeof a.public_key);
    assert_int_equal(fdy_registry_add(fx->registry, &same_key, &fx->reason), FOUNDRY_EEXIST);
    assert_non_null(strstr(fx->reason.text, "alice"));
    assert_int_equal(fdy_registry_count(fx->registry), 1);
    /* The original is untouched. */
    assert_string_equal(fdy_registry_by_name(fx->registry, "alice")->public_key, a.public_key);
}

static void
test_registry_rejects_invalid(void **state)
{
    fixture_t *fx = *state;
    fdy_principal_t p;

    p = s_principal("bad name", FDY_ROLE_ADMIN, "");
    assert_int_equal(fdy_registry_add(fx->registry, &p, &fx->reason), FOUNDRY_EINVAL);
    p = s_principal("", FDY_ROLE_ADMIN, "");
    assert_int_equal(fdy_registry_add(fx->registry, &p, &fx->reason), FOUNDRY_EINVAL);
    p = s_principal("shortkey", FDY_ROLE_ADMIN, "");
    p.public_key[39] = '\0';
    assert_int_equal(fdy_registry_add(fx->registry, &p, &fx->reason), FOUNDRY_EINVAL);
    p = s_principal("badchar", FDY_ROLE_ADMIN, "");
    p.public_key[5] = '"'; /* not in the Z85 alphabet */
    assert_int_equal(fdy_registry_add(fx->registry, &p, &fx->reason), FOUNDRY_EINVAL);
    p = s_principal("norole", (fdy_role_t) 0, "");
    assert_int_equal(fdy_registry_add(fx->registry, &p, &fx->reason), FOUNDRY_EINVAL);
    p = s_principal("nosite", FDY_ROLE_NODE, "");
    assert_int_equal(fdy_registry_add(fx->registry, &p, &fx->reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(fx->reason.text, "site"));
    p = s_principal("dotsite", FDY_ROLE_NODE, "a.b");
    assert_int_equal(fdy_registry_add(fx->registry, &p, &fx->reason), FOUNDRY_EINVAL);
    p = s_principal("badfilter", FDY_ROLE_PARTNER, "");
    char bad[] = "telemetry..x";
    p.allow_publish[0] = bad;
    p.allow_count = 1;
    assert_int_equal(fdy_registry_add(fx->registry, &p, &fx->reason), FOUNDRY_EINVAL);
    assert_non_null(strstr(fx->reason.text, "telemetry..x"));
    assert_int_equal(fdy_registry_count(fx->registry), 0);
    assert_int_equal(fdy_store_key_generation(fx->store), 0); /* nothing written */
}

static void
test_registry_revoke(void **state)
{
    fixture_t *fx = *state;
    fdy_principal_t n = s_principal("node1", FDY_ROLE_NODE, "hanam");
    s_add_ok(fx, &n);
    assert_foundry_ok(fdy_registry_revoke(fx->registry, "node1", &fx->reason));
    const fdy_principal_t *p = fdy_registry_by_key(fx->registry, n.public_key);
    assert_non_null(p); /* kept for audit */
    assert_true(p->revoked);
    assert_true(p->revoked_ns > 0);
    assert_string_equal(p->site, "hanam");
    uint64_t when = p->revoked_ns;
    /* Again: still revoked, first time kept. */
    assert_foundry_ok(fdy_registry_revoke(fx->registry, "node1", &fx->reason));
    assert_int_equal(fdy_registry_by_name(fx->registry, "node1")->revoked_ns, when);
    assert_int_equal(fdy_registry_revoke(fx->registry, "ghost", &fx->reason), FOUNDRY_ENOTFOUND);

    fdy_registry_t *again = NULL;
    assert_foundry_ok(fdy_registry_new(fx->store, &again, &fx->reason));
    assert_non_null(again);
    assert_true(fdy_registry_by_name(again, "node1")->revoked);
    fdy_registry_destroy(&again);
}

/* The child: its own store and registry on the same directory, as
 * foundryctl's offline commands would be. No cmocka in here. */
static int
s_child_changes(const char *dir, const char *revoke_name)
{
    fdy_store_t *store = NULL;
    fdy_reason_t reason;
    if (s_open_store(dir, &store, &reason) != FOUNDRY_OK)
        return 2;
    fdy_registry_t *registry = NULL;
    (void) fdy_registry_new(store, &registry, &reason);
    int status = 0;
    fdy_principal_t p = s_principal("from-child", FDY_ROLE_PARTNER, "");
    if (!registry || fdy_registry_add(registry, &p, &reason) != FOUNDRY_OK ||
        fdy_registry_revoke(registry, revoke_name, &reason) != FOUNDRY_OK)
        status = 3;
    fdy_registry_destroy(&registry);
    fdy_store_close(&store);
    return status;
}

static void
test_registry_refresh_sees_other_process(void **state)
{
    fixture_t *fx = *state;
    fdy_principal_t n = s_principal("victim", FDY_ROLE_NODE, "pangyo");
    s_add_ok(fx, &n);
    /* Nothing changed: refresh keeps the same entries (no reload). */
    const fdy_principal_t *before = fdy_registry_by_name(fx->registry, "victim");
    assert_foundry_ok(fdy_registry_refresh(fx->registry));
    assert_ptr_equal(fdy_registry_by_name(fx->registry, "victim"), before);

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(s_child_changes(fx->dir, "victim"));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* Stale until refreshed... */
    assert_null(fdy_registry_by_name(fx->registry, "from-child"));
    assert_false(fdy_registry_by_name(fx->registry, "victim")->revoked);
    /* ...then current. */
    assert_foundry_ok(fdy_registry_refresh(fx->registry));
    assert_non_null(fdy_registry_by_name(fx->registry, "from-child"));
    assert_true(fdy_registry_by_key(fx->registry, n.public_key)->revoked);
    assert_int_equal(fdy_registry_count(fx->registry), 2);
}

/* A key record that does not decode: the registry refuses to load, and
 * the reason names the record (the broker prints it at start-up). */
static void
test_registry_new_reports_corrupt_record(void **state)
{
    fixture_t *fx = *state;
    const uint8_t junk[] = {0xff, 0x01, 0x02, 0x03, 0x04};
    assert_foundry_ok(fdy_store_key_put(fx->store, "mangled", junk, sizeof junk, &fx->reason));
    fdy_registry_t *again = (fdy_registry_t *) 1;
    fdy_reason_clear(&fx->reason);
    foundry_err err = fdy_registry_new(fx->store, &again, &fx->reason);
    assert_int_equal(err, FOUNDRY_ECORRUPT);
    assert_null(again);
    assert_non_null(strstr(fx->reason.text, "key record \"mangled\""));

    /* The loaded registry keeps its set: a refresh fails, nothing is lost. */
    assert_int_equal(fdy_registry_refresh(fx->registry), FOUNDRY_ESTORE);
}

static uint64_t
s_applied(fixture_t *fx)
{
    uint64_t applied = 99;
    assert_foundry_ok(fdy_store_key_applied_get(fx->store, &applied, &fx->reason));
    return applied;
}

static uint64_t
s_commits(fixture_t *fx)
{
    fdy_store_stats_t stats;
    assert_foundry_ok(fdy_store_stats(fx->store, &stats));
    return stats.commits;
}

/* The broker's confirmation: written once per generation it loaded, never
 * ahead of what its lookups answer with. */
static void
test_registry_confirm_records_applied_generation(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(s_applied(fx), 0);
    fdy_principal_t n = s_principal("node-1", FDY_ROLE_NODE, "pangyo");
    s_add_ok(fx, &n);
    uint64_t generation = fdy_registry_generation(fx->registry);
    assert_int_equal(generation, fdy_store_key_generation(fx->store));
    assert_int_equal(s_applied(fx), 0);
    uint64_t commits = s_commits(fx);
    assert_foundry_ok(fdy_registry_confirm(fx->registry, &fx->reason));
    assert_int_equal(s_applied(fx), generation);
    assert_int_equal(s_commits(fx), commits + 1);
    /* Nothing changed: no transaction at all. */
    commits = s_commits(fx);
    assert_foundry_ok(fdy_registry_refresh(fx->registry));
    assert_foundry_ok(fdy_registry_confirm(fx->registry, &fx->reason));
    assert_int_equal(s_commits(fx), commits);

    /* Another registry on the store (foundryctl's offline revoke): ours
     * confirms the new generation only once it has reloaded. */
    fdy_registry_t *other = NULL;
    assert_foundry_ok(fdy_registry_new(fx->store, &other, &fx->reason));
    assert_foundry_ok(fdy_registry_revoke(other, "node-1", &fx->reason));
    uint64_t revoked_at = fdy_registry_generation(other);
    assert_true(revoked_at > generation);
    fdy_registry_destroy(&other);
    assert_foundry_ok(fdy_registry_confirm(fx->registry, &fx->reason));
    assert_int_equal(s_applied(fx), generation);
    assert_foundry_ok(fdy_registry_refresh(fx->registry));
    assert_true(fdy_registry_by_name(fx->registry, "node-1")->revoked);
    assert_foundry_ok(fdy_registry_confirm(fx->registry, &fx->reason));
    assert_int_equal(s_applied(fx), revoked_at);
}

/* ---- key records on disk ---------------------------------------------------- */

/* The registry's encoding begins tag, length, name, tag, length, then the
 * 40 characters of the public key. */
static size_t
s_public_key_offset(const char *name)
{
    return FDY_KEY_REC_HEADER + 2 + strlen(name) + 2;
}

static void
s_close(fixture_t *fx)
{
    fdy_registry_destroy(&fx->registry);
    fdy_store_close(&fx->store);
}

/* One character of a stored public key changed to another Z85 character:
 * without the checksum this decoded as a valid, different key. */
static void
test_registry_altered_key_record_refused(void **state)
{
    fixture_t *fx = *state;
    fdy_principal_t alice = s_principal("alice", FDY_ROLE_PARTNER, "");
    s_add_ok(fx, &alice);
    s_close(fx);
    uint8_t other = alice.public_key[3] == 'A' ? 'B' : 'A';
    assert_foundry_ok(
        fdy_tamper_key_set(fx->dir, "alice", s_public_key_offset("alice") + 3, other, &fx->reason));

    assert_foundry_ok(s_open_store(fx->dir, &fx->store, &fx->reason));
    fdy_reason_clear(&fx->reason);
    fdy_registry_t *registry = (fdy_registry_t *) 1;
    assert_int_equal(fdy_registry_new(fx->store, &registry, &fx->reason), FOUNDRY_ECORRUPT);
    assert_null(registry);
    if (!strstr(fx->reason.text, "key record \"alice\": checksum mismatch"))
        fail_msg("reason: %s", fx->reason.text);
    assert_non_null(strstr(fx->reason.text, "refused"));

    /* A record cut short is refused too. */
    fdy_store_close(&fx->store);
    assert_foundry_ok(fdy_tamper_key_set(fx->dir, "alice", 4, 0x7f, &fx->reason));
    assert_foundry_ok(s_open_store(fx->dir, &fx->store, &fx->reason));
    assert_int_equal(fdy_registry_new(fx->store, &registry, &fx->reason), FOUNDRY_ECORRUPT);
}

/* Rewrites every key record bare and the schema as 3, as a schema-3 store
 * held them. */
static void
s_make_schema_3(const char *dir)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi keys, meta;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4096), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "keys", 0, &keys), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_cursor *cursor;
    assert_int_equal(mdb_cursor_open(txn, keys, &cursor), 0);
    MDB_val k, v;
    char names[4][32];
    uint8_t bare[4][512];
    size_t lens[4], count = 0;
    while (mdb_cursor_get(cursor, &k, &v, MDB_NEXT) == 0) {
        assert_true(count < 4 && k.mv_size < 32 && v.mv_size < 512 + FDY_KEY_REC_HEADER);
        memcpy(names[count], k.mv_data, k.mv_size);
        names[count][k.mv_size] = '\0';
        lens[count] = v.mv_size - FDY_KEY_REC_HEADER;
        memcpy(bare[count], (const uint8_t *) v.mv_data + FDY_KEY_REC_HEADER, lens[count]);
        count++;
    }
    mdb_cursor_close(cursor);
    for (size_t i = 0; i < count; i++) {
        MDB_val nk = {strlen(names[i]), names[i]}, nv = {lens[i], bare[i]};
        assert_int_equal(mdb_put(txn, keys, &nk, &nv, 0), 0);
    }
    uint8_t three[8] = {3};
    MDB_val sk = {6, "schema"}, sv = {sizeof three, three};
    assert_int_equal(mdb_put(txn, meta, &sk, &sv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void
test_registry_schema_3_key_records_framed_by_migration(void **state)
{
    fixture_t *fx = *state;
    fdy_principal_t a = s_principal("node-a", FDY_ROLE_NODE, "siheung");
    fdy_principal_t b = s_principal("partner-b", FDY_ROLE_PARTNER, "");
    s_add_ok(fx, &a);
    s_add_ok(fx, &b);
    s_close(fx);
    s_make_schema_3(fx->dir);

    /* Read-only: the bare records are read as they are. */
    fdy_store_opts_t ro = {.dir = fx->dir, .map_size = 0, .map_size_max = 0,
                             .dedupe_window_ms = 60000, .read_only = true};
    assert_foundry_ok(fdy_store_open(&ro, &fx->store, &fx->reason));
    assert_foundry_ok(fdy_registry_new(fx->store, &fx->registry, &fx->reason));
    assert_string_equal(fdy_registry_by_name(fx->registry, "node-a")->public_key, a.public_key);
    s_close(fx);

    /* Read-write: every record framed, the same principals. */
    assert_foundry_ok(s_open_store(fx->dir, &fx->store, &fx->reason));
    assert_foundry_ok(fdy_registry_new(fx->store, &fx->registry, &fx->reason));
    assert_int_equal(fdy_registry_count(fx->registry), 2);
    assert_string_equal(fdy_registry_by_name(fx->registry, "partner-b")->public_key, b.public_key);
    s_close(fx);
    /* Framed now: an alteration is found. */
    assert_foundry_ok(fdy_tamper_key_set(fx->dir, "node-a", s_public_key_offset("node-a"),
                                         a.public_key[0] == 'x' ? 'y' : 'x', &fx->reason));
    assert_foundry_ok(s_open_store(fx->dir, &fx->store, &fx->reason));
    assert_int_equal(fdy_registry_new(fx->store, &fx->registry, &fx->reason), FOUNDRY_ECORRUPT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registry_add_and_lookup, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_registry_duplicate_name_or_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_registry_rejects_invalid, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_registry_revoke, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_registry_refresh_sees_other_process, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_registry_new_reports_corrupt_record, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_registry_confirm_records_applied_generation, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_registry_altered_key_record_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_registry_schema_3_key_records_framed_by_migration,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
