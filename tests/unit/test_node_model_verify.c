/*  test_node_model_verify.c: node/model_verify.c, the agent's checks on a
 *  model notice before it fetches anything, with real keys, signatures
 *  and release-log entries (lib/daemon): a good notice passes, and each
 *  attack is refused with its reason (tampered manifest, untrusted key,
 *  1 of 2 signatures, expired, older version without a rollback, replayed
 *  notice, rewritten log entry, another site, a missing label, a foreign
 *  release key, a replayed rollback); and a notice whose entries start
 *  after what the node holds, verified once the gap is filled from LOG
 *  pages (model_log_fill.c), a rewritten or misordered gap refused.
 */
#include "model_verify.h"

#include "codec_models.h"
#include "model_log_fill.h"
#include "model_sign.h"
#include "release_log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define NOW_MS      1800000000000ull
#define ENTRIES_MAX 12

typedef struct {
    char dir[64];
    fdy_sign_key_t *alice, *bob, *mallory, *release, *other_release;
    uint8_t alice_pub[32], bob_pub[32], mallory_pub[32], release_pub[32], other_pub[32];
    fdy_trust_set_t *trust;
    fdy_arena_t *arena;
    /* the broker's log of model "vision" */
    fdy_model_signed_entry_t log[ENTRIES_MAX];
    size_t log_count;
    uint8_t log_hash[32];
    /* what the node holds */
    fdy_model_held_t held;
    bool has_held;
    /* the notice being built: its buffers */
    uint8_t *manifest;
    size_t manifest_len;
    fdy_model_signature_t sigs[4];
    fdy_model_notice_t notice;
    fdy_model_verify_ctx_t ctx;
    const char *labels[2];
    fdy_reason_t reason;
} fixture_t;

static fdy_sign_key_t *
s_key(fixture_t *fx, const char *name, uint8_t pub[32])
{
    fdy_reason_t why;
    assert_int_equal(fdy_sign_keygen(fx->dir, name, pub, &why), FOUNDRY_OK);
    char path[128];
    snprintf(path, sizeof path, "%s/%s.sign", fx->dir, name);
    fdy_sign_key_t *key = NULL;
    assert_int_equal(fdy_sign_key_load(path, &key, &why), FOUNDRY_OK);
    return key;
}

static int
setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/foundry-verify-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->alice = s_key(fx, "alice", fx->alice_pub);
    fx->bob = s_key(fx, "bob", fx->bob_pub);
    fx->mallory = s_key(fx, "mallory", fx->mallory_pub);
    fx->release = s_key(fx, "release", fx->release_pub);
    fx->other_release = s_key(fx, "other", fx->other_pub);
    fx->trust = fdy_trust_set_new();
    fdy_trust_policy_t policy;
    memset(&policy, 0, sizeof policy);
    snprintf(policy.name, sizeof policy.name, "vision");
    policy.threshold = 2;
    memcpy(policy.keys[0], fx->alice_pub, 32);
    memcpy(policy.keys[1], fx->bob_pub, 32);
    policy.key_count = 2;
    assert_int_equal(fdy_trust_set_put(fx->trust, &policy, &fx->reason), FOUNDRY_OK);
    fx->arena = fdy_arena_new(1u << 20);
    fx->labels[0] = "gpu=a100";
    fx->labels[1] = "line=3";
    fx->ctx =
        (fdy_model_verify_ctx_t){"siheung", fx->labels, 2, fx->trust, fx->release_pub, NOW_MS};
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    fdy_sign_key_destroy(&fx->alice);
    fdy_sign_key_destroy(&fx->bob);
    fdy_sign_key_destroy(&fx->mallory);
    fdy_sign_key_destroy(&fx->release);
    fdy_sign_key_destroy(&fx->other_release);
    fdy_trust_set_destroy(&fx->trust);
    fdy_arena_destroy(&fx->arena);
    for (size_t i = 0; i < fx->log_count; i++)
        free((void *) fx->log[i].entry);
    free(fx->manifest);
    const char *names[] = {"alice", "bob", "mallory", "release", "other"};
    for (size_t i = 0; i < 5; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s.sign", fx->dir, names[i]);
        unlink(path);
        snprintf(path, sizeof path, "%s/%s.sign.pub", fx->dir, names[i]);
        unlink(path);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* ---- building notices ---------------------------------------------------------- */

typedef struct {
    uint64_t version;
    bool rollback;
    uint64_t rollback_of;
    uint64_t release_version;
    const char *site;  /* NULL: every site */
    const char *label; /* NULL: none */
    uint64_t expires_ms;
    uint8_t fill; /* first chunk hash byte: another artifact */
} s_spec_t;

/* Encodes the manifest for spec into fx->manifest. */
static void
s_manifest(fixture_t *fx, const s_spec_t *spec)
{
    uint8_t hashes[2 * 32];
    memset(hashes, spec->fill ? spec->fill : 0x11, sizeof hashes);
    fdy_model_manifest_t m;
    memset(&m, 0, sizeof m);
    m.name = "vision";
    m.version = spec->version;
    memset(m.artifact_hash, 0xaa, 32);
    m.chunk_size = 64u * 1024u;
    m.size = 64u * 1024u + 10u;
    m.chunk_hashes = hashes;
    m.chunk_count = 2;
    const char *sites[1] = {spec->site};
    m.sites = sites;
    m.site_count = spec->site ? 1 : 0;
    const char *labels[1] = {spec->label};
    m.labels = labels;
    m.label_count = spec->label ? 1 : 0;
    m.created_ms = NOW_MS - 60000;
    m.expires_ms = spec->expires_ms;
    m.rollback = spec->rollback;
    m.rollback_of = spec->rollback_of;
    m.release_version = spec->release_version;
    free(fx->manifest);
    fx->manifest = NULL;
    assert_int_equal(
        fdy_codec_model_manifest_encode(&m, &fx->manifest, &fx->manifest_len, &fx->reason),
        FOUNDRY_OK);
}

/* Signs fx->manifest with the given keys (NULL-terminated). */
static void
s_sign(fixture_t *fx, fdy_sign_key_t *const *keys)
{
    size_t n = 0;
    for (; keys[n]; n++) {
        fdy_sign_key_public(keys[n], fx->sigs[n].key);
        fdy_sign(keys[n], fx->manifest, fx->manifest_len, fx->sigs[n].sig);
    }
    fx->notice.signed_manifest = (fdy_model_signed_t){fx->manifest, fx->manifest_len, fx->sigs, n};
}

/* Appends fx->manifest to the broker's log, signed by key. */
static void
s_publish(fixture_t *fx, const fdy_sign_key_t *key, bool rollback, uint64_t version)
{
    assert_true(fx->log_count < ENTRIES_MAX);
    fdy_model_signed_entry_t *e = &fx->log[fx->log_count];
    assert_int_equal(fdy_release_append(key, "vision", fx->log_count, fx->log_hash, version,
                                        fx->manifest, fx->manifest_len, rollback, NOW_MS - 1000, e,
                                        &fx->reason),
                     FOUNDRY_OK);
    fdy_release_hash(e->entry, e->entry_len, fx->log_hash);
    fx->log_count++;
}

/* The notice carries the log after index from (the node's head). */
static void
s_entries_after(fixture_t *fx, uint64_t from)
{
    fx->notice.entries = fx->log + from;
    fx->notice.entry_count = fx->log_count - from;
    fx->notice.release_key = fx->release_pub;
    fx->notice.rollout_id = 7;
}

/* A release of spec signed by alice and bob, published and noticed to a
 * node holding `from` entries. */
static void
s_release(fixture_t *fx, const s_spec_t *spec, uint64_t from)
{
    s_manifest(fx, spec);
    fdy_sign_key_t *keys[] = {fx->alice, fx->bob, NULL};
    s_sign(fx, keys);
    s_publish(fx, fx->release, spec->rollback, spec->version);
    s_entries_after(fx, from);
}

static const fdy_model_held_t *
s_lookup(const char *name, void *user)
{
    fixture_t *fx = user;
    return fx->has_held && strcmp(name, fx->held.name) == 0 ? &fx->held : NULL;
}

static foundry_err
s_verify(fixture_t *fx, fdy_model_verified_t *v)
{
    fdy_reason_clear(&fx->reason);
    return fdy_model_verify_notice(&fx->ctx, &fx->notice, s_lookup, fx, fx->arena, v, &fx->reason);
}

/* The node installed v with its head: what the updater would persist. */
static void
s_hold(fixture_t *fx, const fdy_model_verified_t *v)
{
    fx->has_held = true;
    snprintf(fx->held.name, sizeof fx->held.name, "vision");
    fx->held.version = v->manifest.version;
    memcpy(fx->held.manifest_hash, v->manifest_hash, 32);
    fx->held.head = v->head;
}

static void
s_expect_refused(fixture_t *fx, const char *needle)
{
    fdy_model_verified_t v;
    foundry_err err = s_verify(fx, &v);
    if (err == FOUNDRY_OK || !strstr(fx->reason.text, needle))
        fail_msg("want a refusal with '%s', got %s: '%s'", needle, foundry_strerror(err),
                 fx->reason.text);
}

/* ---- tests ---------------------------------------------------------------------- */

static void
test_node_model_verify_accepts_a_good_notice(void **state)
{
    fixture_t *fx = *state;
    s_spec_t spec = {
        .version = 3, .site = "siheung", .label = "gpu=a100", .expires_ms = NOW_MS + 60000};
    s_release(fx, &spec, 0);
    fdy_model_verified_t v;
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    assert_string_equal(v.manifest.name, "vision");
    assert_int_equal(v.manifest.version, 3);
    assert_int_equal(v.head.index, 1);
    assert_memory_equal(v.head.hash, fx->log_hash, 32);
    assert_true(v.head.release_version >= 3);
    assert_false(v.installed_already);
}

static void
test_node_model_verify_refuses_a_tampered_manifest(void **state)
{
    fixture_t *fx = *state;
    s_spec_t spec = {.version = 3};
    s_release(fx, &spec, 0);
    /* The same signatures over a manifest that now says version 9. */
    fdy_model_signature_t sigs[2] = {fx->sigs[0], fx->sigs[1]};
    spec.version = 9;
    s_manifest(fx, &spec);
    memcpy(fx->sigs, sigs, sizeof sigs);
    fx->notice.signed_manifest = (fdy_model_signed_t){fx->manifest, fx->manifest_len, fx->sigs, 2};
    s_expect_refused(fx, "not trusted");
}

static void
test_node_model_verify_refuses_an_untrusted_key(void **state)
{
    fixture_t *fx = *state;
    s_spec_t spec = {.version = 3};
    s_manifest(fx, &spec);
    fdy_sign_key_t *keys[] = {fx->alice, fx->mallory, NULL};
    s_sign(fx, keys);
    s_publish(fx, fx->release, false, 3);
    s_entries_after(fx, 0);
    s_expect_refused(fx, "not trusted");
}

static void
test_node_model_verify_refuses_one_of_two_signatures(void **state)
{
    fixture_t *fx = *state;
    s_spec_t spec = {.version = 3};
    s_manifest(fx, &spec);
    fdy_sign_key_t *keys[] = {fx->alice, NULL};
    s_sign(fx, keys);
    s_publish(fx, fx->release, false, 3);
    s_entries_after(fx, 0);
    s_expect_refused(fx, "1 of 2");
}

static void
test_node_model_verify_refuses_an_expired_manifest(void **state)
{
    fixture_t *fx = *state;
    s_spec_t spec = {.version = 3, .expires_ms = NOW_MS - 1};
    s_release(fx, &spec, 0);
    s_expect_refused(fx, "expired at 2027-01-15T07:59:59Z");
}

static void
test_node_model_verify_refuses_an_older_version_without_rollback(void **state)
{
    fixture_t *fx = *state;
    s_spec_t v4 = {.version = 4};
    s_release(fx, &v4, 0);
    fdy_model_verified_t v;
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    s_hold(fx, &v);
    /* A broker that logged version 3 after 4, with good signatures. */
    s_spec_t v3 = {.version = 3};
    s_release(fx, &v3, 1);
    s_expect_refused(fx, "version 3 is not above the installed version 4");
}

static void
test_node_model_verify_refuses_a_replayed_notice(void **state)
{
    fixture_t *fx = *state;
    s_spec_t v1 = {.version = 1};
    s_release(fx, &v1, 0);
    fdy_model_notice_t old = fx->notice;
    uint8_t *old_manifest = malloc(fx->manifest_len);
    memcpy(old_manifest, fx->manifest, fx->manifest_len);
    old.signed_manifest.manifest = old_manifest;
    fdy_model_signature_t old_sigs[2] = {fx->sigs[0], fx->sigs[1]};
    old.signed_manifest.signatures = old_sigs;
    fdy_model_verified_t v;
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    s_hold(fx, &v);
    s_spec_t v2 = {.version = 2, .fill = 0x22};
    s_release(fx, &v2, 1);
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    s_hold(fx, &v); /* at version 2, log index 2 */
    /* The version 1 notice again, entries and all: entry 1 is held already. */
    fx->notice = old;
    s_expect_refused(fx, "no release-log entry after index 2");
    /* And without its entries. */
    fx->notice.entry_count = 0;
    s_expect_refused(fx, "no release-log entry after index 2");
    free(old_manifest);
}

static void
test_node_model_verify_refuses_a_rewritten_log_entry(void **state)
{
    fixture_t *fx = *state;
    s_spec_t v1 = {.version = 1};
    s_release(fx, &v1, 0);
    fdy_model_verified_t v;
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    s_hold(fx, &v); /* holds entry 1 */
    /* The broker rewrites its log: a new entry 1 (another manifest), then
     * entry 2 on top of it. The node holds the old entry 1. */
    for (size_t i = 0; i < fx->log_count; i++)
        free((void *) fx->log[i].entry);
    fx->log_count = 0;
    memset(fx->log_hash, 0, 32);
    s_spec_t forged = {.version = 1, .fill = 0x33};
    s_manifest(fx, &forged);
    s_publish(fx, fx->release, false, 1);
    s_spec_t v2 = {.version = 2, .fill = 0x22};
    s_release(fx, &v2, 1);
    s_expect_refused(fx, "release log");
}

static void
test_node_model_verify_skips_entries_it_holds(void **state)
{
    fixture_t *fx = *state;
    fdy_model_verified_t v;
    s_spec_t v1 = {.version = 1};
    s_release(fx, &v1, 0);
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    s_hold(fx, &v);
    s_spec_t v2 = {.version = 2, .fill = 0x22};
    s_release(fx, &v2, 1);
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    s_hold(fx, &v); /* holds 2 */
    /* The broker still counts the node at index 0 (its last WATCH): the
     * notice for version 3 carries the whole log. */
    s_spec_t v3 = {.version = 3, .fill = 0x33};
    s_release(fx, &v3, 0);
    assert_int_equal(fx->notice.entry_count, 3);
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    assert_int_equal(v.head.index, 3);
    s_hold(fx, &v);
    /* A log rewritten below the head, sent from index 0 again: entry 3,
     * the one held, differs. */
    for (size_t i = 0; i < fx->log_count; i++)
        free((void *) fx->log[i].entry);
    fx->log_count = 0;
    memset(fx->log_hash, 0, 32);
    s_spec_t forged = {.version = 1, .fill = 0x44};
    s_release(fx, &forged, 0);
    s_release(fx, &v2, 0);
    s_release(fx, &v3, 0);
    s_spec_t v4 = {.version = 4, .fill = 0x55};
    s_release(fx, &v4, 0);
    s_expect_refused(fx, "entry 3 is not the one this node verified");
}

static void
test_node_model_verify_refuses_an_entry_for_another_manifest(void **state)
{
    fixture_t *fx = *state;
    s_spec_t v2 = {.version = 2};
    s_release(fx, &v2, 0);
    /* The signed manifest the notice carries is another one of version 2. */
    s_spec_t other = {.version = 2, .fill = 0x44};
    s_manifest(fx, &other);
    fdy_sign_key_t *keys[] = {fx->alice, fx->bob, NULL};
    s_sign(fx, keys);
    s_expect_refused(fx, "names another manifest");
}

static void
test_node_model_verify_refuses_another_site(void **state)
{
    fixture_t *fx = *state;
    s_spec_t spec = {.version = 3, .site = "pangyo"};
    s_release(fx, &spec, 0);
    s_expect_refused(fx, "does not target site siheung");
}

static void
test_node_model_verify_refuses_a_missing_label(void **state)
{
    fixture_t *fx = *state;
    s_spec_t spec = {.version = 3, .label = "robot=ur10"};
    s_release(fx, &spec, 0);
    s_expect_refused(fx, "needs label robot=ur10");
}

static void
test_node_model_verify_refuses_a_log_signed_by_another_key(void **state)
{
    fixture_t *fx = *state;
    s_spec_t spec = {.version = 3};
    s_manifest(fx, &spec);
    fdy_sign_key_t *keys[] = {fx->alice, fx->bob, NULL};
    s_sign(fx, keys);
    s_publish(fx, fx->other_release, false, 3);
    s_entries_after(fx, 0);
    /* Saying so openly: the notice's key is not ours. */
    fx->notice.release_key = fx->other_pub;
    s_expect_refused(fx, "is not model_release_key");
    /* Claiming ours: the entries' signatures do not verify. */
    fx->notice.release_key = fx->release_pub;
    s_expect_refused(fx, "release log");
}

static void
test_node_model_verify_refuses_without_trust_or_release_key(void **state)
{
    fixture_t *fx = *state;
    s_spec_t spec = {.version = 3};
    s_release(fx, &spec, 0);
    fx->ctx.trust = NULL;
    s_expect_refused(fx, "no model_trust_file");
    fx->ctx.trust = fx->trust;
    fx->ctx.release_key = NULL;
    s_expect_refused(fx, "no model_release_key");
}

static void
test_node_model_verify_refuses_an_undecodable_manifest(void **state)
{
    fixture_t *fx = *state;
    s_spec_t spec = {.version = 3};
    s_release(fx, &spec, 0);
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0x01};
    fx->notice.signed_manifest.manifest = junk;
    fx->notice.signed_manifest.manifest_len = sizeof junk;
    fdy_model_verified_t v;
    assert_int_equal(s_verify(fx, &v), FOUNDRY_EINVAL);
    assert_non_null(strstr(fx->reason.text, "does not decode"));
}

static void
test_node_model_verify_takes_a_rollback_once(void **state)
{
    fixture_t *fx = *state;
    fdy_model_verified_t v;
    s_spec_t v1 = {.version = 1};
    s_release(fx, &v1, 0);
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    s_hold(fx, &v);
    s_spec_t v2 = {.version = 2, .fill = 0x22};
    s_release(fx, &v2, 1);
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    s_hold(fx, &v); /* version 2, log index 2 */
    /* Back to 1, signed as a rollback of 2, release 3. */
    s_spec_t back = {.version = 1, .rollback = true, .rollback_of = 2, .release_version = 3};
    s_release(fx, &back, 2);
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    assert_true(v.manifest.rollback);
    assert_int_equal(v.head.release_version, 3);
    s_hold(fx, &v); /* version 1, seen 3 */
    /* A rollback of 2 again while 1 is installed. */
    s_spec_t again = {
        .version = 1, .rollback = true, .rollback_of = 2, .release_version = 3, .fill = 0x55};
    s_release(fx, &again, 3);
    s_expect_refused(fx, "replaces version 2, but version 1 is installed");
    /* Version 3, then a rollback of 3 to 2 (release 4): both taken. */
    s_spec_t v3 = {.version = 3, .fill = 0x33};
    s_release(fx, &v3, 3);
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    s_hold(fx, &v);
    s_spec_t back2 = {
        .version = 2, .rollback = true, .rollback_of = 3, .release_version = 4, .fill = 0x22};
    s_release(fx, &back2, 5);
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    s_hold(fx, &v); /* version 2, seen 4 */
    /* The first rollback (of 2, release 3) logged once more: its
     * rollback_of matches what is installed, but release 3 was passed. */
    s_manifest(fx, &back);
    fdy_sign_key_t *keys[] = {fx->alice, fx->bob, NULL};
    s_sign(fx, keys);
    s_publish(fx, fx->release, true, 1);
    s_entries_after(fx, 6);
    s_expect_refused(fx, "release_version 3, not above 4");
}

static void
test_node_model_verify_knows_what_is_installed(void **state)
{
    fixture_t *fx = *state;
    s_spec_t spec = {.version = 3};
    s_release(fx, &spec, 0);
    fdy_model_verified_t v;
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    s_hold(fx, &v);
    /* The same notice after a restart (the broker never got "healthy"):
     * the log held is past it, and that is no refusal. */
    s_entries_after(fx, 1);
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    assert_true(v.installed_already);
}

/* Six releases; the notice carries only entries 4 to 6 (as one to a node
 * more than FDY_MODEL_ENTRIES_MAX behind would). */
static void
s_six_releases_notice_from_4(fixture_t *fx)
{
    for (uint64_t v = 1; v <= 6; v++) {
        s_spec_t spec = {.version = v, .site = "siheung", .expires_ms = NOW_MS + 60000};
        s_release(fx, &spec, 3);
    }
}

static void
test_node_model_verify_fills_a_log_gap_from_log_pages(void **state)
{
    fixture_t *fx = *state;
    s_six_releases_notice_from_4(fx);
    s_expect_refused(fx, "entries missing");

    const char *name = NULL;
    uint64_t first = 0;
    assert_true(fdy_model_log_first(&fx->notice, fx->arena, &name, &first));
    assert_string_equal(name, "vision");
    assert_int_equal(first, 4);
    fdy_model_log_fill_t *fill = fdy_model_log_fill_new(&fx->notice, name, 0, &fx->reason);
    assert_non_null(fill);
    assert_int_equal(fdy_model_log_fill_next(fill), 1);
    fdy_model_notice_t filled;
    assert_int_equal(fdy_model_log_fill_notice(fill, fx->arena, &filled, &fx->reason),
                     FOUNDRY_EINVAL);
    /* Two LOG pages: 1-2, then 3-6 (its overlap with the notice ends it). */
    assert_int_equal(fdy_model_log_fill_add(fill, fx->log, 2, fx->arena, &fx->reason), FOUNDRY_OK);
    assert_int_equal(fdy_model_log_fill_next(fill), 3);
    assert_int_equal(fdy_model_log_fill_add(fill, fx->log + 2, 4, fx->arena, &fx->reason),
                     FOUNDRY_OK);
    assert_int_equal(fdy_model_log_fill_next(fill), 0);
    assert_int_equal(fdy_model_log_fill_rollout(fill), 7);
    assert_int_equal(fdy_model_log_fill_notice(fill, fx->arena, &filled, &fx->reason), FOUNDRY_OK);
    assert_int_equal(filled.entry_count, 6);
    fx->notice = filled;
    fdy_model_verified_t v;
    assert_int_equal(s_verify(fx, &v), FOUNDRY_OK);
    assert_int_equal(v.manifest.version, 6);
    assert_int_equal(v.head.index, 6);
    fdy_model_log_fill_destroy(&fill);
    assert_null(fill);
}

static void
test_node_model_verify_refuses_a_rewritten_or_misordered_gap(void **state)
{
    fixture_t *fx = *state;
    s_six_releases_notice_from_4(fx);
    fdy_model_log_fill_t *fill = fdy_model_log_fill_new(&fx->notice, "vision", 0, &fx->reason);
    assert_non_null(fill);
    /* A page that skips entry 1, and an empty page before the gap is filled. */
    assert_int_equal(fdy_model_log_fill_add(fill, fx->log + 1, 2, fx->arena, &fx->reason),
                     FOUNDRY_EDENIED);
    assert_non_null(strstr(fx->reason.text, "wanted 1"));
    assert_int_equal(fdy_model_log_fill_add(fill, NULL, 0, fx->arena, &fx->reason),
                     FOUNDRY_EDENIED);
    assert_non_null(strstr(fx->reason.text, "no entry 1"));

    /* Entry 2 rewritten (signed by another key): the fill takes it, the
     * verification of the whole refuses it. */
    fdy_model_signed_entry_t forged = fx->log[1];
    fdy_sign(fx->other_release, forged.entry, forged.entry_len, forged.sig);
    fdy_model_signed_entry_t page[3] = {fx->log[0], forged, fx->log[2]};
    assert_int_equal(fdy_model_log_fill_add(fill, page, 3, fx->arena, &fx->reason), FOUNDRY_OK);
    assert_int_equal(fdy_model_log_fill_next(fill), 0);
    fdy_model_notice_t filled;
    assert_int_equal(fdy_model_log_fill_notice(fill, fx->arena, &filled, &fx->reason), FOUNDRY_OK);
    fx->notice = filled;
    s_expect_refused(fx, "entry 2");
    fdy_model_log_fill_destroy(&fill);
}

/* A node holding entry 3 and a notice from 4: no gap. */
static void
test_node_model_verify_sees_no_gap_after_the_held_entry(void **state)
{
    fixture_t *fx = *state;
    s_six_releases_notice_from_4(fx);
    const char *name = NULL;
    uint64_t first = 0;
    assert_true(fdy_model_log_first(&fx->notice, fx->arena, &name, &first));
    assert_false(first > 3 + 1);
    fx->notice.cancel = true;
    assert_false(fdy_model_log_first(&fx->notice, fx->arena, &name, &first));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_node_model_verify_fills_a_log_gap_from_log_pages,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_node_model_verify_refuses_a_rewritten_or_misordered_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_sees_no_gap_after_the_held_entry,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_accepts_a_good_notice, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_refuses_a_tampered_manifest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_refuses_an_untrusted_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_refuses_one_of_two_signatures, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_refuses_an_expired_manifest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_node_model_verify_refuses_an_older_version_without_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_refuses_a_replayed_notice, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_refuses_a_rewritten_log_entry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_skips_entries_it_holds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_node_model_verify_refuses_an_entry_for_another_manifest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_refuses_another_site, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_refuses_a_missing_label, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_refuses_a_log_signed_by_another_key,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_refuses_without_trust_or_release_key,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_refuses_an_undecodable_manifest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_takes_a_rollback_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_model_verify_knows_what_is_installed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("node_model_verify", tests, NULL, NULL);
}
