/*  test_models.c: the broker's models service end to end, with the real
 *  broker over CURVE on loopback: an upload that resumes (UPLOAD_BEGIN
 *  again reports what is held), refused chunks (hash mismatch, too long),
 *  every publish check with its reason, the release log verified with the
 *  broker's release key, FETCH limited to the sites a release targets, and
 *  a broker SIGKILL in the middle of an upload. Manifests are built and
 *  signed here with the lib/daemon modules every publisher uses.
 */
#include "arena.h"
#include "artifact.h"
#include "clock.h"
#include "codec_models.h"
#include "keys.h"
#include "model_blobs.h"
#include "model_sign.h"
#include "proc.h"
#include "release_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <zmq.h>

#define CHUNK    FDY_MODEL_CHUNK_MIN /* 64 KiB: artifacts stay a few hundred KiB */
#define REPLY_MS 10000

/* ---- a small MODEL client over a raw DEALER -------------------------------------- */

typedef struct {
    fdy_proc_dealer_t *dealer;
    fdy_arena_t *arena;
    uint64_t request_id;
} s_conn_t;

typedef struct {
    foundry_err code;
    char reason[256];
    fdy_model_reply_t reply; /* decoded into the conn's arena */
    uint8_t *frame;          /* FETCH: the chunk (malloc'd) */
    size_t frame_len;
} s_result_t;

static void
s_open(fdy_proc_t *p, const char *name, s_conn_t *c)
{
    memset(c, 0, sizeof *c);
    FDY_CHECK_OK(fdy_proc_dealer_new(p, name, &c->dealer));
    c->arena = fdy_arena_new(64u << 20);
    FDY_CHECK(c->arena);
    c->request_id = 1000;
}

static void
s_close(s_conn_t *c)
{
    fdy_proc_dealer_destroy(&c->dealer);
    fdy_arena_destroy(&c->arena);
}

static void
s_result_clear(s_result_t *r)
{
    free(r->frame);
    memset(r, 0, sizeof *r);
}

/* Receives until the reply to request_id (notices are skipped). */
static void
s_wait(s_conn_t *c, uint64_t request_id, fdy_kind_t want_kind, s_result_t *out)
{
    int64_t deadline = fdy_clock_mono_ms() + REPLY_MS;
    for (;;) {
        zmq_pollitem_t item = {c->dealer->socket, 0, ZMQ_POLLIN, 0};
        int64_t left = deadline - fdy_clock_mono_ms();
        FDY_CHECK_MSG(left > 0, "no reply to request %" PRIu64, request_id);
        if (zmq_poll(&item, 1, (long) left) <= 0)
            continue;
        zmq_msg_t frames[3];
        size_t n = 0;
        bool more = true;
        while (more) {
            FDY_CHECK_MSG(n < 3, "a reply of more than 3 frames");
            zmq_msg_init(&frames[n]);
            FDY_CHECK(zmq_msg_recv(&frames[n], c->dealer->socket, 0) >= 0);
            more = zmq_msg_more(&frames[n]);
            n++;
        }
        fdy_arena_reset(c->arena, 64u << 20);
        fdy_envelope_t env;
        fdy_reason_t why = {{0}};
        FDY_CHECK_OK(fdy_codec_decode_envelope(zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]),
                                               c->arena, &env, &why));
        bool mine = env.request_id == request_id;
        if (mine && env.kind == FDY_KIND_ERROR) {
            out->code = env.error_code;
            snprintf(out->reason, sizeof out->reason, "%s",
                     env.error_reason ? env.error_reason : "");
        } else if (mine) {
            FDY_CHECK_EQ(env.kind, want_kind);
            out->code = FOUNDRY_OK;
            if (want_kind == FDY_KIND_MODEL_REPLY)
                FDY_CHECK_OK(fdy_codec_model_reply_decode(env.model, env.model_len, c->arena,
                                                          &out->reply, &why));
            if (n > 1) {
                out->frame_len = zmq_msg_size(&frames[1]);
                out->frame = malloc(out->frame_len ? out->frame_len : 1);
                FDY_CHECK(out->frame);
                memcpy(out->frame, zmq_msg_data(&frames[1]), out->frame_len);
            }
        }
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&frames[i]);
        if (mine)
            return;
    }
}

/* One MODEL request (plus a chunk frame when chunk is not NULL). The
 * reply's decoded pointers live until the next call on c. */
static foundry_err
s_model(s_conn_t *c, const fdy_model_request_t *mr, const void *chunk, size_t chunk_len,
        s_result_t *out)
{
    s_result_clear(out);
    fdy_envelope_t env = {0};
    env.kind = FDY_KIND_MODEL;
    env.request_id = ++c->request_id;
    uint8_t *env_buf = NULL, *body = NULL;
    size_t env_len = 0, body_len = 0;
    fdy_reason_t why = {{0}};
    FDY_CHECK_OK(fdy_codec_encode_envelope(&env, &env_buf, &env_len));
    FDY_CHECK_MSG(fdy_codec_model_request_encode(mr, &body, &body_len, &why) == FOUNDRY_OK,
                  "encode: %s", why.text);
    fdy_slice_t frames[3] = {{env_buf, env_len}, {body, body_len}, {chunk, chunk_len}};
    FDY_CHECK_OK(fdy_proc_dealer_send(c->dealer, frames, chunk ? 3 : 2));
    free(env_buf);
    free(body);
    s_wait(c, env.request_id, FDY_KIND_MODEL_REPLY, out);
    return out->code;
}

/* Expects a refusal with code want whose reason contains needle. */
#define S_REFUSED(call, result, want, needle)                                                      \
    do {                                                                                           \
        FDY_CHECK_ERR((call), (want));                                                             \
        FDY_CHECK_MSG(strstr((result)->reason, (needle)), "reason \"%s\" lacks \"%s\"",            \
                      (result)->reason, (needle));                                                 \
    } while (0)

/* One admin command; the table's cells live until the next call on c. */
static foundry_err
s_admin(s_conn_t *c, const char *command, const char *const *args, size_t count, fdy_table_t *out,
        char reason[256])
{
    fdy_envelope_t env = {0};
    env.kind = FDY_KIND_ADMIN;
    env.request_id = ++c->request_id;
    env.command = command;
    env.args = args;
    env.arg_count = count;
    uint8_t *buf = NULL;
    size_t len = 0;
    FDY_CHECK_OK(fdy_codec_encode_envelope(&env, &buf, &len));
    fdy_slice_t frame = {buf, len};
    FDY_CHECK_OK(fdy_proc_dealer_send(c->dealer, &frame, 1));
    free(buf);
    FDY_CHECK_OK(fdy_proc_dealer_recv(c->dealer, REPLY_MS, c->arena, &env));
    FDY_CHECK_EQ(env.request_id, c->request_id);
    if (env.kind == FDY_KIND_ERROR) {
        if (reason)
            snprintf(reason, 256, "%s", env.error_reason ? env.error_reason : "");
        return env.error_code;
    }
    FDY_CHECK_EQ(env.kind, FDY_KIND_ADMIN_REPLY);
    *out = env.table;
    return FOUNDRY_OK;
}

static const fdy_slice_t *
s_cell(const fdy_table_t *t, size_t row, const char *column)
{
    for (size_t i = 0; i < t->column_count; i++)
        if (strcmp(t->columns[i], column) == 0)
            return &t->cells[row * t->column_count + i];
    fdy_proc_fail(__FILE__, __LINE__, "no column %s", column);
}

static long long
s_cell_int(const fdy_table_t *t, size_t row, const char *column)
{
    const fdy_slice_t *cell = s_cell(t, row, column);
    char text[32] = {0};
    memcpy(text, cell->data, cell->len < 31 ? cell->len : 31);
    return strtoll(text, NULL, 10);
}

/* ---- artifacts, keys and manifests ------------------------------------------------- */

typedef struct {
    uint8_t *data;
    uint64_t size;
    uint8_t *hashes;
    size_t count;
    uint8_t id[32];
} s_artifact_t;

/* 2.5 chunks of bytes drawn from seed. */
static void
s_artifact(uint32_t seed, s_artifact_t *a)
{
    memset(a, 0, sizeof *a);
    a->size = 2 * CHUNK + CHUNK / 2;
    a->data = malloc(a->size);
    FDY_CHECK(a->data);
    uint32_t x = seed * 2654435761u + 1;
    for (uint64_t i = 0; i < a->size; i++) {
        x = x * 1103515245u + 12345u;
        a->data[i] = (uint8_t) (x >> 16);
    }
    a->count = fdy_artifact_chunk_count(a->size, CHUNK);
    a->hashes = malloc(a->count * 32);
    FDY_CHECK(a->hashes);
    for (size_t i = 0; i < a->count; i++)
        fdy_artifact_hash_chunk(a->data + i * CHUNK, fdy_artifact_chunk_len(a->size, CHUNK, i),
                                a->hashes + i * 32);
    fdy_artifact_id(a->size, CHUNK, a->hashes, a->count, a->id);
}

static void
s_artifact_free(s_artifact_t *a)
{
    free(a->data);
    free(a->hashes);
    memset(a, 0, sizeof *a);
}

static const uint8_t *
s_chunk(const s_artifact_t *a, size_t index, size_t *len_out)
{
    *len_out = fdy_artifact_chunk_len(a->size, CHUNK, index);
    return a->data + index * CHUNK;
}

static foundry_err
s_begin(s_conn_t *c, const s_artifact_t *a, s_result_t *r)
{
    fdy_model_request_t mr = {.op = FDY_MODEL_UPLOAD_BEGIN,
                              .artifact_hash = a->id,
                              .size = a->size,
                              .chunk_size = CHUNK,
                              .chunk_hashes = a->hashes,
                              .chunk_count = a->count};
    return s_model(c, &mr, NULL, 0, r);
}

static foundry_err
s_send_chunk(s_conn_t *c, const s_artifact_t *a, size_t index, const void *data, size_t len,
             s_result_t *r)
{
    fdy_model_request_t mr = {
        .op = FDY_MODEL_UPLOAD_CHUNK, .artifact_hash = a->id, .index = (uint32_t) index};
    return s_model(c, &mr, data, len, r);
}

/* Uploads every chunk the broker says it lacks. */
static void
s_upload(s_conn_t *c, const s_artifact_t *a)
{
    s_result_t r = {0};
    FDY_CHECK_OK(s_begin(c, a, &r));
    uint8_t have[8] = {0};
    memcpy(have, r.reply.have, r.reply.have_len < 8 ? r.reply.have_len : 8);
    for (size_t i = 0; i < a->count; i++) {
        if (have[i / 8] & (1u << (i % 8)))
            continue;
        size_t len;
        const uint8_t *data = s_chunk(a, i, &len);
        FDY_CHECK_OK(s_send_chunk(c, a, i, data, len, &r));
        FDY_CHECK_EQ(r.reply.index, i);
    }
    s_result_clear(&r);
}

typedef struct {
    fdy_sign_key_t *secret;
    uint8_t pub[32];
    char hex[65];
} s_key_t;

static void
s_keygen(fdy_proc_t *p, const char *name, s_key_t *k)
{
    fdy_reason_t why = {{0}};
    FDY_CHECK_MSG(fdy_sign_keygen(fdy_proc_dir(p), name, k->pub, &why) == FOUNDRY_OK, "keygen: %s",
                  why.text);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.sign", fdy_proc_dir(p), name);
    FDY_CHECK_MSG(fdy_sign_key_load(path, &k->secret, &why) == FOUNDRY_OK, "load: %s", why.text);
    for (size_t i = 0; i < 32; i++)
        snprintf(k->hex + 2 * i, 3, "%02x", k->pub[i]);
}

typedef struct {
    const char *name;
    uint64_t version;
    const char *const *sites;
    size_t site_count;
    uint64_t expires_ms;
    bool rollback;
    uint64_t rollback_of;
    uint64_t release_version;
} s_spec_t;

/* A signed manifest: *manifest_out the exact bytes signed (caller frees),
 * sigs filled for each signer. */
typedef struct {
    uint8_t *manifest;
    size_t manifest_len;
    fdy_model_signature_t sigs[4];
    size_t sig_count;
} s_signed_t;

static void
s_manifest(const s_spec_t *spec, const s_artifact_t *a, s_key_t *const *signers, size_t count,
           s_signed_t *out)
{
    memset(out, 0, sizeof *out);
    fdy_model_manifest_t m = {0};
    m.name = spec->name;
    m.version = spec->version;
    memcpy(m.artifact_hash, a->id, 32);
    m.size = a->size;
    m.chunk_size = CHUNK;
    m.chunk_hashes = a->hashes;
    m.chunk_count = a->count;
    m.sites = spec->sites;
    m.site_count = spec->site_count;
    m.created_ms = fdy_clock_wall_ns() / 1000000u;
    m.expires_ms = spec->expires_ms;
    m.rollback = spec->rollback;
    m.rollback_of = spec->rollback_of;
    m.release_version = spec->release_version;
    fdy_reason_t why = {{0}};
    FDY_CHECK_MSG(fdy_codec_model_manifest_encode(&m, &out->manifest, &out->manifest_len, &why) ==
                      FOUNDRY_OK,
                  "manifest: %s", why.text);
    for (size_t i = 0; i < count; i++) {
        memcpy(out->sigs[i].key, signers[i]->pub, 32);
        fdy_sign(signers[i]->secret, out->manifest, out->manifest_len, out->sigs[i].sig);
    }
    out->sig_count = count;
}

static foundry_err
s_publish(s_conn_t *c, const s_signed_t *s, s_result_t *r)
{
    fdy_model_request_t mr = {.op = FDY_MODEL_PUBLISH};
    mr.signed_manifest = (fdy_model_signed_t){s->manifest, s->manifest_len, s->sigs, s->sig_count};
    return s_model(c, &mr, NULL, 0, r);
}

/* An environment with the broker running, partner "acme" granted model
 * "vision", partner "other" with no model grant, and an admin conn. */
static fdy_proc_t *
s_env(const char *name)
{
    fdy_proc_t *p = fdy_proc_new(name);
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "acme", "--role", "partner", "--tenant", "acme", "--allow-models", "vision",
                     NULL);
    fdy_proc_key_add(p, "other", "--role", "partner", "--tenant", "other", NULL);
    return p;
}

static void
s_trust(s_conn_t *admin, const char *name, const char *threshold, const s_key_t *const *keys,
        size_t count)
{
    char name_arg[96], threshold_arg[32], key_args[4][80];
    const char *args[6] = {name_arg, threshold_arg};
    snprintf(name_arg, sizeof name_arg, "name=%s", name);
    snprintf(threshold_arg, sizeof threshold_arg, "threshold=%s", threshold);
    for (size_t i = 0; i < count; i++) {
        snprintf(key_args[i], sizeof key_args[i], "key=%s", keys[i]->hex);
        args[2 + i] = key_args[i];
    }
    fdy_table_t t;
    char reason[256] = "";
    FDY_CHECK_MSG(s_admin(admin, "model.trust", args, 2 + count, &t, reason) == FOUNDRY_OK,
                  "model.trust: %s", reason);
    FDY_CHECK_EQ(t.row_count, 1);
}

/* ---- streamed pushes (STREAM_BEGIN, STREAM_CHUNK) ------------------------------------ */

static void
s_stream_id(const s_artifact_t *a, uint8_t id[32])
{
    fdy_artifact_stream_id(a->size, CHUNK, a->hashes, id);
}

static foundry_err
s_stream_begin(s_conn_t *c, const s_artifact_t *a, s_result_t *r)
{
    uint8_t id[32];
    s_stream_id(a, id);
    fdy_model_request_t mr = {.op = FDY_MODEL_STREAM_BEGIN,
                              .artifact_hash = id,
                              .size = a->size,
                              .chunk_size = CHUNK,
                              .chunk_hashes = a->hashes,
                              .chunk_count = 1};
    return s_model(c, &mr, NULL, 0, r);
}

/* Chunk index of a's stream: data (len bytes) sent as the chunk whose
 * hash is a's. */
static foundry_err
s_stream_chunk(s_conn_t *c, const s_artifact_t *a, size_t index, const void *data, size_t len,
               s_result_t *r)
{
    uint8_t id[32];
    s_stream_id(a, id);
    fdy_model_request_t mr = {.op = FDY_MODEL_STREAM_CHUNK,
                              .artifact_hash = id,
                              .index = (uint32_t) index,
                              .chunk_hashes = a->hashes + index * 32,
                              .chunk_count = 1};
    return s_model(c, &mr, data, len, r);
}

static bool s_blob_held(fdy_proc_t *p, const uint8_t hash[32]);

/* ---- tests --------------------------------------------------------------------------- */

static void
test_models_upload_resume_and_bad_chunks(void)
{
    fdy_proc_t *p = s_env("models-upload");
    s_artifact_t a;
    s_artifact(1, &a);
    s_conn_t acme, other;
    s_open(p, "acme", &acme);
    s_open(p, "other", &other);
    s_result_t r = {0};

    /* No model grant: no upload at all. */
    S_REFUSED(s_begin(&other, &a, &r), &r, FOUNDRY_EDENIED, "no model grant");

    FDY_CHECK_OK(s_begin(&acme, &a, &r));
    FDY_CHECK_EQ(r.reply.have_len, 1);
    FDY_CHECK_EQ(r.reply.have[0], 0);
    size_t len;
    const uint8_t *data = s_chunk(&a, 0, &len);
    FDY_CHECK_OK(s_send_chunk(&acme, &a, 0, data, len, &r));
    data = s_chunk(&a, 2, &len);
    FDY_CHECK_OK(s_send_chunk(&acme, &a, 2, data, len, &r));
    FDY_CHECK_EQ(r.reply.index, 2);

    /* Resume: a second BEGIN reports chunks 0 and 2 held. */
    FDY_CHECK_OK(s_begin(&acme, &a, &r));
    FDY_CHECK_EQ(r.reply.have[0], 0x05);

    /* Chunk 1 with one byte changed, then one byte too long. */
    uint8_t *bad = malloc(CHUNK + 1);
    FDY_CHECK(bad);
    memcpy(bad, a.data + CHUNK, CHUNK);
    bad[100] ^= 0xff;
    S_REFUSED(s_send_chunk(&acme, &a, 1, bad, CHUNK, &r), &r, FOUNDRY_EINVAL,
              "chunk 1 hash mismatch");
    memcpy(bad, a.data + CHUNK, CHUNK);
    bad[CHUNK] = 0;
    S_REFUSED(s_send_chunk(&acme, &a, 1, bad, CHUNK + 1, &r), &r, FOUNDRY_ETOOBIG,
              "chunk 1 is 65537 bytes, manifest says 65536");
    free(bad);
    /* A chunk of an upload nobody began. */
    s_artifact_t b;
    s_artifact(2, &b);
    data = s_chunk(&b, 0, &len);
    S_REFUSED(s_send_chunk(&acme, &b, 0, data, len, &r), &r, FOUNDRY_ENOTFOUND,
              "UPLOAD_BEGIN first");
    FDY_CHECK_OK(s_begin(&acme, &a, &r));
    FDY_CHECK_EQ(r.reply.have[0], 0x05); /* the refused chunks left nothing */

    s_upload(&acme, &a);
    FDY_CHECK_OK(s_begin(&acme, &a, &r));
    FDY_CHECK_EQ(r.reply.have[0], 0x07);

    /* A grant names models by their grammar (or *). */
    FDY_CHECK_OK(fdy_proc_key_generate(p, "sloppy"));
    char sloppy_pub[512], sloppy_secret[512];
    fdy_proc_key_paths(p, "sloppy", sloppy_pub, sloppy_secret);
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "add", sloppy_pub, "--role", "partner",
                              "--allow-models", "Vision Model", NULL));
    FDY_CHECK_RUN(&run, 2);
    FDY_CHECK_MSG(strstr(run.err, "bad --allow-models 'Vision Model'"), "stderr: %s", run.err);
    fdy_proc_run_clear(&run);
    /* The broker's registry holds to the same rule (key.add sent raw). */
    char z85[FDY_Z85_KEY_LEN + 1], key_arg[64];
    fdy_reason_t why = {{0}};
    FDY_CHECK_OK(fdy_keys_load_public(sloppy_pub, z85, &why));
    snprintf(key_arg, sizeof key_arg, "key=%s", z85);
    const char *add_args[] = {"name=sloppy", key_arg, "role=partner", "allow_models=Vision Model"};
    s_conn_t admin;
    s_open(p, "admin", &admin);
    fdy_table_t t;
    char add_reason[256] = "";
    FDY_CHECK_ERR(s_admin(&admin, "key.add", add_args, 4, &t, add_reason), FOUNDRY_EINVAL);
    FDY_CHECK_MSG(strstr(add_reason, "not a model name"), "reason: %s", add_reason);
    s_close(&admin);

    /* key ls shows the grant. */
    const char *ls_argv[] = {"key", "ls", NULL};
    fdy_json_t *keys = fdy_proc_ctl_json(p, ls_argv);
    bool shown = false;
    for (size_t i = 0; i < fdy_proc_json_count(keys); i++) {
        char name[64], models[64];
        fdy_proc_row_str(fdy_proc_json_at(keys, i), "name", name, sizeof name);
        fdy_proc_row_str(fdy_proc_json_at(keys, i), "allow_models", models, sizeof models);
        shown = shown || (strcmp(name, "acme") == 0 && strcmp(models, "vision") == 0);
    }
    FDY_CHECK_MSG(shown, "key ls does not show acme's allow_models");
    fdy_proc_json_destroy(&keys);

    s_result_clear(&r);
    s_close(&acme);
    s_close(&other);
    s_artifact_free(&a);
    s_artifact_free(&b);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_models_publish_checks_and_release_log(void)
{
    fdy_proc_t *p = s_env("models-publish");
    s_key_t k1, k2, k3;
    s_keygen(p, "k1", &k1);
    s_keygen(p, "k2", &k2);
    s_keygen(p, "k3", &k3);
    s_artifact_t a, missing;
    s_artifact(3, &a);
    s_artifact(4, &missing);
    s_conn_t acme, admin;
    s_open(p, "acme", &acme);
    s_open(p, "admin", &admin);
    s_result_t r = {0};
    s_upload(&acme, &a);
    s_key_t *both[] = {&k1, &k2}, *only_k1[] = {&k1}, *stranger[] = {&k3};
    s_signed_t s;

    s_spec_t v2 = {.name = "vision", .version = 2};
    s_manifest(&v2, &a, both, 2, &s);
    S_REFUSED(s_publish(&acme, &s, &r), &r, FOUNDRY_EDENIED, "no trust policy for model vision");
    const s_key_t *policy[] = {&k1, &k2};
    s_trust(&admin, "vision", "2", policy, 2);
    free(s.manifest);

    s_manifest(&v2, &a, NULL, 0, &s);
    S_REFUSED(s_publish(&acme, &s, &r), &r, FOUNDRY_EDENIED, "no signature");
    free(s.manifest);
    s_manifest(&v2, &a, stranger, 1, &s);
    S_REFUSED(s_publish(&acme, &s, &r), &r, FOUNDRY_EDENIED, "untrusted key");
    free(s.manifest);
    s_manifest(&v2, &a, only_k1, 1, &s);
    S_REFUSED(s_publish(&acme, &s, &r), &r, FOUNDRY_EDENIED, "1 of 2");
    free(s.manifest);
    s_spec_t expired = v2;
    expired.expires_ms = fdy_clock_wall_ns() / 1000000u - 60000;
    s_manifest(&expired, &a, both, 2, &s);
    S_REFUSED(s_publish(&acme, &s, &r), &r, FOUNDRY_EDENIED, "manifest expired at");
    free(s.manifest);
    s_manifest(&v2, &missing, both, 2, &s);
    S_REFUSED(s_publish(&acme, &s, &r), &r, FOUNDRY_ENOTFOUND,
              "artifact not uploaded: chunk 0 of 3 missing");
    free(s.manifest);
    s_spec_t audio = {.name = "audio", .version = 1};
    s_manifest(&audio, &a, both, 2, &s);
    S_REFUSED(s_publish(&acme, &s, &r), &r, FOUNDRY_EDENIED, "may not publish model audio");
    free(s.manifest);

    /* Accepted: version 2, log entry 1. */
    s_signed_t accepted_v2;
    s_manifest(&v2, &a, both, 2, &accepted_v2);
    FDY_CHECK_OK(s_publish(&acme, &accepted_v2, &r));
    FDY_CHECK_EQ(r.reply.version, 2);
    FDY_CHECK(r.reply.entry != NULL);

    s_spec_t v1 = {.name = "vision", .version = 1};
    s_manifest(&v1, &a, both, 2, &s);
    S_REFUSED(s_publish(&acme, &s, &r), &r, FOUNDRY_EDENIED, "is not above the newest");
    free(s.manifest);
    s_spec_t v3 = {.name = "vision", .version = 3};
    s_manifest(&v3, &a, both, 2, &s);
    FDY_CHECK_OK(s_publish(&acme, &s, &r));
    FDY_CHECK_EQ(r.reply.version, 3);
    free(s.manifest);
    /* The old, validly signed v2 again: a replay, refused. */
    S_REFUSED(s_publish(&acme, &accepted_v2, &r), &r, FOUNDRY_EDENIED, "is not above the newest");
    free(accepted_v2.manifest);

    /* A signed rollback to 2 is a release of its own; an old rollback
     * number after a newer release is a replay, refused. */
    s_spec_t back = {
        .name = "vision", .version = 2, .rollback = true, .rollback_of = 3, .release_version = 10};
    s_manifest(&back, &a, both, 2, &s);
    FDY_CHECK_OK(s_publish(&acme, &s, &r));
    FDY_CHECK_EQ(r.reply.version, 2);
    free(s.manifest);
    s_spec_t v4 = {.name = "vision", .version = 4};
    s_manifest(&v4, &a, both, 2, &s);
    FDY_CHECK_OK(s_publish(&acme, &s, &r));
    free(s.manifest);
    s_spec_t stale = {
        .name = "vision", .version = 3, .rollback = true, .rollback_of = 4, .release_version = 5};
    s_manifest(&stale, &a, both, 2, &s);
    S_REFUSED(s_publish(&acme, &s, &r), &r, FOUNDRY_EDENIED, "a replayed rollback?");
    free(s.manifest);
    s_spec_t bad_back = {
        .name = "vision", .version = 1, .rollback = true, .rollback_of = 4, .release_version = 11};
    s_manifest(&bad_back, &a, both, 2, &s);
    S_REFUSED(s_publish(&acme, &s, &r), &r, FOUNDRY_EDENIED, "not an earlier accepted version");
    free(s.manifest);

    /* The release shows in model.ls and model.log. */
    fdy_table_t t;
    FDY_CHECK_OK(s_admin(&admin, "model.ls", NULL, 0, &t, NULL));
    FDY_CHECK_EQ(t.row_count, 1);
    FDY_CHECK_EQ(s_cell_int(&t, 0, "version"), 4);
    FDY_CHECK_EQ(s_cell_int(&t, 0, "log_index"), 4);
    FDY_CHECK_EQ(s_cell_int(&t, 0, "signatures"), 2);
    const char *log_args[] = {"name=vision"};
    FDY_CHECK_OK(s_admin(&admin, "model.log", log_args, 1, &t, NULL));
    FDY_CHECK_EQ(t.row_count, 4);
    FDY_CHECK_EQ(s_cell_int(&t, 1, "version"), 3);
    FDY_CHECK_EQ(s_cell_int(&t, 2, "version"), 2);
    FDY_CHECK_EQ(s_cell_int(&t, 2, "rollback"), 1);
    FDY_CHECK_OK(s_admin(&admin, "model.release-key", NULL, 0, &t, NULL));
    char release_hex[65] = {0};
    memcpy(release_hex, s_cell(&t, 0, "key")->data, 64);

    /* The log a publisher reads verifies against the release key. */
    fdy_model_request_t log = {.op = FDY_MODEL_LOG, .name = "vision", .from_index = 1};
    FDY_CHECK_OK(s_model(&acme, &log, NULL, 0, &r));
    FDY_CHECK_EQ(r.reply.entry_count, 4);
    FDY_CHECK(r.reply.release_key != NULL);
    char got_hex[65];
    for (size_t i = 0; i < 32; i++)
        snprintf(got_hex + 2 * i, 3, "%02x", r.reply.release_key[i]);
    FDY_CHECK_STR(got_hex, release_hex);
    fdy_release_head_t head = {0};
    fdy_reason_t why = {{0}};
    fdy_arena_t *arena = fdy_arena_new(1 << 20);
    FDY_CHECK(arena);
    FDY_CHECK_MSG(fdy_release_verify(r.reply.release_key, "vision", r.reply.entries,
                                     r.reply.entry_count, &head, arena, NULL, &why) == FOUNDRY_OK,
                  "release log: %s", why.text);
    FDY_CHECK_EQ(head.index, 4);
    FDY_CHECK_EQ(head.version, 4);
    /* A log whose entries are reordered no longer verifies. */
    fdy_model_signed_entry_t swapped[2] = {r.reply.entries[1], r.reply.entries[0]};
    fdy_release_head_t fresh = {0};
    FDY_CHECK_ERR(
        fdy_release_verify(r.reply.release_key, "vision", swapped, 2, &fresh, arena, NULL, &why),
        FOUNDRY_EDENIED);
    /* A partner without the grant does not read it. */
    s_conn_t other;
    s_open(p, "other", &other);
    S_REFUSED(s_model(&other, &log, NULL, 0, &r), &r, FOUNDRY_EDENIED, "may not read model vision");
    s_close(&other);

    fdy_arena_destroy(&arena);
    s_result_clear(&r);
    s_close(&acme);
    s_close(&admin);
    s_artifact_free(&a);
    s_artifact_free(&missing);
    fdy_sign_key_destroy(&k1.secret);
    fdy_sign_key_destroy(&k2.secret);
    fdy_sign_key_destroy(&k3.secret);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_models_fetch_only_for_targeted_sites(void)
{
    fdy_proc_t *p = s_env("models-fetch");
    fdy_proc_key_add(p, "robot-siheung", "--role", "node", "--site", "siheung", NULL);
    fdy_proc_key_add(p, "robot-pangyo", "--role", "node", "--site", "pangyo", NULL);
    s_key_t k1;
    s_keygen(p, "k1", &k1);
    s_artifact_t a;
    s_artifact(5, &a);
    s_conn_t acme, admin, siheung, pangyo;
    s_open(p, "acme", &acme);
    s_open(p, "admin", &admin);
    s_open(p, "robot-siheung", &siheung);
    s_open(p, "robot-pangyo", &pangyo);
    s_result_t r = {0};
    const s_key_t *policy[] = {&k1};
    s_trust(&admin, "vision", "1", policy, 1);
    /* A node never uploads. */
    S_REFUSED(s_begin(&siheung, &a, &r), &r, FOUNDRY_EDENIED, "no model grant");
    s_upload(&acme, &a);
    const char *sites[] = {"siheung"};
    s_spec_t spec = {.name = "vision", .version = 1, .sites = sites, .site_count = 1};
    s_key_t *signers[] = {&k1};
    s_signed_t s;
    s_manifest(&spec, &a, signers, 1, &s);
    FDY_CHECK_OK(s_publish(&acme, &s, &r));
    free(s.manifest);

    fdy_model_request_t fetch = {.op = FDY_MODEL_FETCH, .name = "vision", .version = 1, .index = 2};
    FDY_CHECK_OK(s_model(&siheung, &fetch, NULL, 0, &r));
    FDY_CHECK_EQ(r.reply.index, 2);
    size_t len;
    const uint8_t *want = s_chunk(&a, 2, &len);
    FDY_CHECK_EQ(r.frame_len, len);
    FDY_CHECK(memcmp(r.frame, want, len) == 0);
    S_REFUSED(s_model(&pangyo, &fetch, NULL, 0, &r), &r, FOUNDRY_EDENIED,
              "is not released to site pangyo");
    fetch.version = 9;
    S_REFUSED(s_model(&siheung, &fetch, NULL, 0, &r), &r, FOUNDRY_ENOTFOUND, "has no version 9");

    /* WATCH is for nodes; with no rollout there is nothing to do. */
    fdy_model_request_t watch = {.op = FDY_MODEL_WATCH};
    FDY_CHECK_OK(s_model(&siheung, &watch, NULL, 0, &r));
    FDY_CHECK_EQ(r.reply.notice_count, 0);
    S_REFUSED(s_model(&acme, &watch, NULL, 0, &r), &r, FOUNDRY_EDENIED, "only node keys");
    fdy_model_request_t report = {
        .op = FDY_MODEL_REPORT, .name = "vision", .version = 1, .state = "installed"};
    S_REFUSED(s_model(&acme, &report, NULL, 0, &r), &r, FOUNDRY_EDENIED, "only node keys");

    s_result_clear(&r);
    s_close(&acme);
    s_close(&admin);
    s_close(&siheung);
    s_close(&pangyo);
    s_artifact_free(&a);
    fdy_sign_key_destroy(&k1.secret);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_models_upload_survives_broker_kill(void)
{
    fdy_proc_t *p = s_env("models-kill");
    s_key_t k1;
    s_keygen(p, "k1", &k1);
    s_artifact_t a;
    s_artifact(6, &a);
    s_conn_t acme, admin;
    s_open(p, "acme", &acme);
    s_open(p, "admin", &admin);
    s_result_t r = {0};
    fdy_table_t t;
    FDY_CHECK_OK(s_admin(&admin, "model.release-key", NULL, 0, &t, NULL));
    char key_before[65] = {0};
    memcpy(key_before, s_cell(&t, 0, "key")->data, 64);
    const s_key_t *policy[] = {&k1};
    s_trust(&admin, "vision", "1", policy, 1);
    FDY_CHECK_OK(s_begin(&acme, &a, &r));
    size_t len;
    const uint8_t *data = s_chunk(&a, 0, &len);
    FDY_CHECK_OK(s_send_chunk(&acme, &a, 0, data, len, &r));
    data = s_chunk(&a, 1, &len);
    FDY_CHECK_OK(s_send_chunk(&acme, &a, 1, data, len, &r));
    s_close(&acme);
    s_close(&admin);

    /* Acknowledged chunks survive a SIGKILL; the upload resumes. */
    FDY_CHECK_OK(fdy_proc_broker_kill(p));
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    s_open(p, "acme", &acme);
    s_open(p, "admin", &admin);
    FDY_CHECK_OK(s_begin(&acme, &a, &r));
    FDY_CHECK_EQ(r.reply.have[0], 0x03);
    s_upload(&acme, &a);
    s_spec_t spec = {.name = "vision", .version = 1};
    s_key_t *signers[] = {&k1};
    s_signed_t s;
    s_manifest(&spec, &a, signers, 1, &s);
    FDY_CHECK_OK(s_publish(&acme, &s, &r));
    free(s.manifest);
    /* The trust policy and the release key are the ones from before. */
    FDY_CHECK_OK(s_admin(&admin, "model.release-key", NULL, 0, &t, NULL));
    FDY_CHECK(memcmp(s_cell(&t, 0, "key")->data, key_before, 64) == 0);
    FDY_CHECK_OK(s_admin(&admin, "model.trust.ls", NULL, 0, &t, NULL));
    FDY_CHECK_EQ(t.row_count, 1);

    s_result_clear(&r);
    s_close(&acme);
    s_close(&admin);
    s_artifact_free(&a);
    fdy_sign_key_destroy(&k1.secret);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static bool
s_blob_held(fdy_proc_t *p, const uint8_t hash[32])
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/blobs", fdy_proc_data_dir(p));
    fdy_blobs_t *blobs = NULL;
    fdy_reason_t why = {{0}};
    FDY_CHECK_MSG(fdy_blobs_open(dir, &blobs, &why) == FOUNDRY_OK, "blobs: %s", why.text);
    bool held = fdy_blobs_has(blobs, hash);
    fdy_blobs_close(&blobs);
    return held;
}

/* UPLOAD_BEGIN of size bytes in 16 MiB chunks with made-up hashes;
 * expects want with needle in the reason. */
static void
s_declare(s_conn_t *c, uint64_t size, foundry_err want, const char *needle)
{
    size_t count = fdy_artifact_chunk_count(size, FDY_MODEL_CHUNK_MAX);
    uint8_t *hashes = calloc(count, 32);
    FDY_CHECK(hashes);
    for (size_t i = 0; i < count; i++)
        memcpy(hashes + i * 32, &i, sizeof i);
    uint8_t id[32];
    fdy_artifact_id(size, FDY_MODEL_CHUNK_MAX, hashes, count, id);
    fdy_model_request_t mr = {.op = FDY_MODEL_UPLOAD_BEGIN,
                              .artifact_hash = id,
                              .size = size,
                              .chunk_size = FDY_MODEL_CHUNK_MAX,
                              .chunk_hashes = hashes,
                              .chunk_count = count};
    s_result_t r = {0};
    S_REFUSED(s_model(c, &mr, NULL, 0, &r), &r, want, needle);
    FDY_CHECK_MSG(want != FOUNDRY_ENOSPC || strstr(r.reason, "blob disk full"), "reason \"%s\"",
                  r.reason);
    s_result_clear(&r);
    free(hashes);
}

static void
test_models_interrupted_upload_is_collected(void)
{
    fdy_proc_t *p = fdy_proc_new("models-gc");
    static const char *const args[] = {"--set", "upload_gc_after=1s", "--set",
                                       "max_model_size=2TiB", NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(p, args));
    fdy_proc_key_add(p, "acme", "--role", "partner", "--tenant", "acme", "--allow-models", "*",
                     NULL);
    s_artifact_t a;
    s_artifact(7, &a);
    s_conn_t acme;
    s_open(p, "acme", &acme);
    s_result_t r = {0};
    FDY_CHECK_OK(s_begin(&acme, &a, &r));
    size_t len;
    const uint8_t *data = s_chunk(&a, 0, &len);
    FDY_CHECK_OK(s_send_chunk(&acme, &a, 0, data, len, &r));
    FDY_CHECK(s_blob_held(p, a.hashes));
    /* Nobody finishes it: the upload is dropped and its chunk deleted. */
    int64_t deadline = fdy_clock_mono_ms() + 30000;
    while (s_blob_held(p, a.hashes) && fdy_clock_mono_ms() < deadline) {
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    FDY_CHECK_MSG(!s_blob_held(p, a.hashes), "the interrupted upload's chunk is still there");
    FDY_CHECK_OK(s_begin(&acme, &a, &r));
    FDY_CHECK_EQ(r.reply.have[0], 0);
    FDY_CHECK(fdy_proc_log_count(p, "MODEL-UPLOAD-EXPIRED") >= 1);

    /* Announced sizes: over max_model_size, and more than the disk holds
     * (the chunk hashes are made up: nothing is sent). */
    s_declare(&acme, 3ull << 40, FOUNDRY_ETOOBIG, "max_model_size is");
    struct statvfs vfs;
    FDY_CHECK(statvfs(fdy_proc_data_dir(p), &vfs) == 0);
    if ((uint64_t) vfs.f_bavail * vfs.f_frsize < (1ull << 40))
        s_declare(&acme, 1ull << 40, FOUNDRY_ENOSPC, "artifact needs 1048576 MB");
    else
        fprintf(stderr, "note: over 1 TiB free, the ENOSPC check is not exercised\n");

    s_result_clear(&r);
    s_close(&acme);
    s_artifact_free(&a);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A push that sends chunks while it hashes them: each chunk is checked
 * against its own hash, the stream survives a SIGKILL and resumes, and
 * UPLOAD_BEGIN finds every streamed chunk held. */
static void
test_models_stream_checks_and_resumes(void)
{
    fdy_proc_t *p = s_env("models-stream");
    s_key_t k1;
    s_keygen(p, "k1", &k1);
    s_artifact_t a;
    s_artifact(8, &a);
    s_conn_t acme, other, admin;
    s_open(p, "acme", &acme);
    s_open(p, "other", &other);
    s_open(p, "admin", &admin);
    s_result_t r = {0};
    size_t len;
    const uint8_t *data = s_chunk(&a, 0, &len);

    S_REFUSED(s_stream_begin(&other, &a, &r), &r, FOUNDRY_EDENIED, "no model grant");
    S_REFUSED(s_stream_chunk(&acme, &a, 0, data, len, &r), &r, FOUNDRY_ENOTFOUND,
              "STREAM_BEGIN first");
    uint8_t wrong[32];
    memset(wrong, 7, sizeof wrong);
    fdy_model_request_t forged = {.op = FDY_MODEL_STREAM_BEGIN,
                                  .artifact_hash = wrong,
                                  .size = a.size,
                                  .chunk_size = CHUNK,
                                  .chunk_hashes = a.hashes,
                                  .chunk_count = 1};
    S_REFUSED(s_model(&acme, &forged, NULL, 0, &r), &r, FOUNDRY_EINVAL,
              "stream id is not that of its size, chunk size and chunk 0");

    FDY_CHECK_OK(s_stream_begin(&acme, &a, &r));
    FDY_CHECK_EQ(r.reply.have_len, 1);
    FDY_CHECK_EQ(r.reply.have[0], 0);
    FDY_CHECK(!r.reply.first_known);

    /* Chunk 1's hash with one byte of its bytes changed: refused, and
     * nothing is stored under either hash. */
    uint8_t *bad = malloc(CHUNK);
    FDY_CHECK(bad);
    memcpy(bad, a.data + CHUNK, CHUNK);
    bad[100] ^= 0xff;
    S_REFUSED(s_stream_chunk(&acme, &a, 1, bad, CHUNK, &r), &r, FOUNDRY_EINVAL,
              "chunk 1: its bytes do not match its hash");
    uint8_t bad_hash[32];
    fdy_artifact_hash_chunk(bad, CHUNK, bad_hash);
    FDY_CHECK(!s_blob_held(p, a.hashes + 32));
    FDY_CHECK(!s_blob_held(p, bad_hash));
    free(bad);

    FDY_CHECK_OK(s_stream_chunk(&acme, &a, 0, data, len, &r));
    FDY_CHECK_EQ(r.reply.index, 0);
    data = s_chunk(&a, 2, &len);
    FDY_CHECK_OK(s_stream_chunk(&acme, &a, 2, data, len, &r));
    s_close(&acme);

    /* Acknowledged streamed chunks survive a SIGKILL: the stream resumes. */
    FDY_CHECK_OK(fdy_proc_broker_kill(p));
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    s_open(p, "acme", &acme);
    s_close(&admin);
    s_open(p, "admin", &admin);
    FDY_CHECK_OK(s_stream_begin(&acme, &a, &r));
    FDY_CHECK_EQ(r.reply.have[0], 0x05);
    data = s_chunk(&a, 1, &len);
    FDY_CHECK_OK(s_stream_chunk(&acme, &a, 1, data, len, &r));

    /* The artifact's upload holds what the stream holds: nothing to send. */
    FDY_CHECK_OK(s_begin(&acme, &a, &r));
    FDY_CHECK_EQ(r.reply.have[0], 0x07);
    const s_key_t *policy[] = {&k1};
    s_trust(&admin, "vision", "1", policy, 1);
    s_spec_t spec = {.name = "vision", .version = 1};
    s_key_t *signers[] = {&k1};
    s_signed_t sm;
    s_manifest(&spec, &a, signers, 1, &sm);
    FDY_CHECK_OK(s_publish(&acme, &sm, &r));
    free(sm.manifest);

    /* The same size and chunk 0 but another chunk 2: the same stream id,
     * whose record says every index is held; UPLOAD_BEGIN, which goes by
     * hash, asks for chunk 2. */
    s_artifact_t b;
    s_artifact(8, &b);
    b.data[2 * CHUNK] ^= 1;
    fdy_artifact_hash_chunk(b.data + 2 * CHUNK, fdy_artifact_chunk_len(b.size, CHUNK, 2),
                            b.hashes + 64);
    fdy_artifact_id(b.size, CHUNK, b.hashes, b.count, b.id);
    FDY_CHECK_OK(s_stream_begin(&acme, &b, &r));
    FDY_CHECK_EQ(r.reply.have[0], 0x07);
    FDY_CHECK_OK(s_begin(&acme, &b, &r));
    FDY_CHECK_EQ(r.reply.have[0], 0x03);
    /* A new artifact of another size sharing chunk 0 with a released one:
     * the broker says so, and the pusher hashes first to find what it
     * need not send. */
    b.size -= CHUNK / 4;
    fdy_artifact_hash_chunk(b.data + 2 * CHUNK, fdy_artifact_chunk_len(b.size, CHUNK, 2),
                            b.hashes + 64);
    fdy_artifact_id(b.size, CHUNK, b.hashes, b.count, b.id);
    FDY_CHECK_OK(s_stream_begin(&acme, &b, &r));
    FDY_CHECK(r.reply.first_known);
    FDY_CHECK_EQ(r.reply.have[0], 0);

    s_result_clear(&r);
    s_close(&acme);
    s_close(&other);
    s_close(&admin);
    s_artifact_free(&a);
    s_artifact_free(&b);
    fdy_sign_key_destroy(&k1.secret);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A stream nobody finishes is dropped when idle, its chunks with it. */
static void
test_models_idle_stream_is_collected(void)
{
    fdy_proc_t *p = fdy_proc_new("models-stream-gc");
    static const char *const args[] = {"--set", "upload_gc_after=1s", NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(p, args));
    fdy_proc_key_add(p, "acme", "--role", "partner", "--tenant", "acme", "--allow-models", "*",
                     NULL);
    s_artifact_t a;
    s_artifact(9, &a);
    s_conn_t acme;
    s_open(p, "acme", &acme);
    s_result_t r = {0};
    FDY_CHECK_OK(s_stream_begin(&acme, &a, &r));
    size_t len;
    const uint8_t *data = s_chunk(&a, 1, &len);
    FDY_CHECK_OK(s_stream_chunk(&acme, &a, 1, data, len, &r));
    FDY_CHECK(s_blob_held(p, a.hashes + 32));
    int64_t deadline = fdy_clock_mono_ms() + 30000;
    while (s_blob_held(p, a.hashes + 32) && fdy_clock_mono_ms() < deadline) {
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    FDY_CHECK_MSG(!s_blob_held(p, a.hashes + 32), "the idle stream's chunk is still there");
    FDY_CHECK_OK(s_stream_begin(&acme, &a, &r));
    FDY_CHECK_EQ(r.reply.have[0], 0);
    FDY_CHECK(fdy_proc_log_count(p, "MODEL-UPLOAD-EXPIRED") >= 1);

    s_result_clear(&r);
    s_close(&acme);
    s_artifact_free(&a);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"upload_resume_and_bad_chunks", test_models_upload_resume_and_bad_chunks},
        {"publish_checks_and_release_log", test_models_publish_checks_and_release_log},
        {"fetch_only_for_targeted_sites", test_models_fetch_only_for_targeted_sites},
        {"upload_survives_broker_kill", test_models_upload_survives_broker_kill},
        {"interrupted_upload_is_collected", test_models_interrupted_upload_is_collected},
        {"stream_checks_and_resumes", test_models_stream_checks_and_resumes},
        {"idle_stream_is_collected", test_models_idle_stream_is_collected},
    };
    return fdy_proc_run_tests("models", tests, sizeof tests / sizeof tests[0], argc, argv);
}
