/*  test_model_rollout.c: model rollouts end to end at fleet scale, with
 *  the real broker, real foundry-node agents at six sites and foundryctl:
 *  a large artifact in two waves (installed bytes hashed against the
 *  source, one agent held by its interlock until it opens); resume after a
 *  broker SIGKILL mid-upload (the push run again sends only what the
 *  broker lacks), an agent SIGKILL mid-download (its second run fetches
 *  only what it had not stored) and broker SIGKILLs mid-rollout; the
 *  attack matrix through the real path (each refused with its reason,
 *  nothing installed, the previous model in place); health and telemetry
 *  gates that pause a rollout; a fleet job over the six sites whose abort
 *  threshold trips. test_node_models.c covers one agent's steps,
 *  test_models.c the broker's refusals at upload and publish,
 *  test_ctl_models.c foundryctl.
 *
 *  FOUNDRY_TEST_MODEL_MB sets the large artifact's size (default 256 MiB,
 *  32 MiB under sanitizers, less when the disk is short).
 */
#define _GNU_SOURCE /* lseek's SEEK_DATA: which chunks an agent has written */
#include "clock.h"
#include "model_blobs.h"
#include "model_sign.h"
#include "node_proc.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define PATH_LEN    FDY_NODE_PROC_PATH_LEN
#define WAIT_MS     120000
#define SMALL_CHUNK 65536u

#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_MODEL_MB 32u
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEFAULT_MODEL_MB 32u
#endif
#endif
#ifndef DEFAULT_MODEL_MB
#define DEFAULT_MODEL_MB 256u
#endif

/* ---- files ----------------------------------------------------------------------- */

static void
s_path(const fdy_proc_t *p, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", fdy_proc_dir(p), name);
}

static void
s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    FDY_CHECK_MSG(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void
s_script(const char *path, const char *body)
{
    char text[PATH_LEN * 2];
    snprintf(text, sizeof text, "#!/bin/sh\n%s\n", body);
    s_write(path, text);
    FDY_CHECK(chmod(path, 0755) == 0);
}

/* size bytes of xorshift output seeded by seed: no two chunks alike. */
static void
s_write_model(const char *path, uint64_t size, uint64_t seed)
{
    FILE *f = fopen(path, "wb");
    FDY_CHECK_MSG(f, "cannot write %s", path);
    static uint64_t buf[1 << 17]; /* 1 MiB */
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (uint64_t done = 0; done < size;) {
        for (size_t i = 0; i < sizeof buf / sizeof buf[0]; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = x;
        }
        size_t n = size - done < sizeof buf ? (size_t) (size - done) : sizeof buf;
        FDY_CHECK(fwrite(buf, 1, n, f) == n);
        done += n;
    }
    FDY_CHECK(fclose(f) == 0);
}

/* BLAKE2b-256 of a whole file, as hex; false if it cannot be read. */
static bool
s_file_hash(const char *path, char hex[2 * FDY_BLOB_HASH_LEN + 1])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, FDY_BLOB_HASH_LEN);
    static unsigned char buf[1 << 20];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        crypto_generichash_update(&st, buf, n);
    fclose(f);
    uint8_t hash[FDY_BLOB_HASH_LEN];
    crypto_generichash_final(&st, hash, sizeof hash);
    fdy_blobs_hex(hash, hex);
    return true;
}

/* The BLAKE2b-256 of the first chunk of a file, as hex (its blob name). */
static void
s_first_chunk_hex(const char *path, size_t chunk, char hex[2 * FDY_BLOB_HASH_LEN + 1])
{
    FILE *f = fopen(path, "rb");
    FDY_CHECK(f);
    unsigned char *buf = malloc(chunk);
    FDY_CHECK(buf);
    FDY_CHECK(fread(buf, 1, chunk, f) == chunk);
    fclose(f);
    uint8_t hash[FDY_BLOB_HASH_LEN];
    crypto_generichash(hash, sizeof hash, buf, chunk, NULL, 0);
    free(buf);
    fdy_blobs_hex(hash, hex);
}

/* ---- foundryctl ------------------------------------------------------------------- */

static void
s_ctl_ok(fdy_proc_t *p, const char *const *argv)
{
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctlv(p, NULL, argv, &run));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
}

/* Expects foundryctl ARGV to fail with needle in its stderr. */
static void
s_ctl_refused(fdy_proc_t *p, const char *const *argv, const char *needle)
{
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctlv(p, NULL, argv, &run));
    if (run.status == 0 || !strstr(run.err, needle)) {
        fdy_proc_run_print("refused", &run);
        FDY_CHECK_MSG(false, "want a refusal naming '%s'", needle);
    }
    fdy_proc_run_clear(&run);
}

typedef struct {
    fdy_proc_t *p;
    char release_hex[80];
    char hex[3][2 * FDY_MODEL_KEY_LEN + 1]; /* alice, bob, carol public keys */
    char sign[3][PATH_LEN];                 /* their secret key files */
} s_env_t;

static const char *const s_signers[] = {"alice", "bob", "carol"};

/* The broker (extra options), three signing keys, a broker policy for
 * "vision" trusting all three with threshold 1, and the release key. */
static void
s_env_start(s_env_t *e, const char *name, const char *const *broker_extra)
{
    e->p = fdy_proc_new(name);
    FDY_CHECK_OK(fdy_proc_broker_start(e->p, broker_extra));
    char pubs[3][PATH_LEN];
    for (size_t i = 0; i < 3; i++) {
        const char *argv[] = {"model", "keygen", s_signers[i], "--dir", fdy_proc_dir(e->p), NULL};
        fdy_proc_ctl_opts_t opts = {.no_auth = true};
        fdy_proc_run_t run;
        FDY_CHECK_OK(fdy_proc_ctlv(e->p, &opts, argv, &run));
        FDY_CHECK_RUN(&run, 0);
        fdy_proc_run_clear(&run);
        char file[64];
        snprintf(file, sizeof file, "%s.sign.pub", s_signers[i]);
        s_path(e->p, file, pubs[i], sizeof pubs[i]);
        snprintf(file, sizeof file, "%s.sign", s_signers[i]);
        s_path(e->p, file, e->sign[i], sizeof e->sign[i]);
        uint8_t key[FDY_MODEL_KEY_LEN];
        fdy_reason_t why;
        FDY_CHECK_OK(fdy_sign_public_load(pubs[i], key, &why));
        fdy_blobs_hex(key, e->hex[i]);
    }
    const char *trust[] = {"model", "trust",    "vision", "--signer",    pubs[0], "--signer",
                           pubs[1], "--signer", pubs[2],  "--threshold", "1",     NULL};
    s_ctl_ok(e->p, trust);
    const char *release[] = {"model", "release-key", NULL};
    fdy_json_t *json = fdy_proc_ctl_json(e->p, release);
    fdy_proc_row_str(fdy_proc_one_row(json), "key", e->release_hex, sizeof e->release_hex);
    fdy_proc_json_destroy(&json);
}

static void
s_env_stop(s_env_t *e)
{
    FDY_CHECK_EQ(fdy_proc_broker_stop(e->p), 0);
    fdy_proc_destroy(&e->p);
}

/* foundryctl model push FILE as vision@version, signed by the signers
 * named in `who` ("ab": alice and bob), chunk bytes, to every site
 * (site NULL) or one, with an optional --expires. */
static void
s_push_argv(s_env_t *e, const char **argv, const char *file, const char *version, const char *who,
            const char *chunk, const char *site, const char *expires)
{
    size_t n = 0;
    argv[n++] = "model";
    argv[n++] = "push";
    argv[n++] = file;
    argv[n++] = "--name";
    argv[n++] = "vision";
    argv[n++] = "--model-version";
    argv[n++] = version;
    argv[n++] = "--chunk-size";
    argv[n++] = chunk;
    for (const char *c = who; *c; c++) {
        argv[n++] = "--sign";
        argv[n++] = e->sign[*c - 'a'];
    }
    if (site) {
        argv[n++] = "--site";
        argv[n++] = site;
    }
    if (expires) {
        argv[n++] = "--expires";
        argv[n++] = expires;
    }
    argv[n] = NULL;
}

static void
s_push(s_env_t *e, const char *file, const char *version, const char *who, const char *chunk)
{
    const char *argv[32];
    s_push_argv(e, argv, file, version, who, chunk, NULL, NULL);
    s_ctl_ok(e->p, argv);
}

/* foundryctl rollout start TARGET [more...]; returns its id. */
static uint64_t
s_rollout(s_env_t *e, const char *target, const char *const *more)
{
    const char *argv[24] = {"rollout", "start", target};
    size_t n = 3;
    for (size_t i = 0; more && more[i]; i++)
        argv[n++] = more[i];
    argv[n] = NULL;
    fdy_json_t *json = fdy_proc_ctl_json(e->p, argv);
    uint64_t id = (uint64_t) fdy_proc_row_int(fdy_proc_one_row(json), "id");
    fdy_proc_json_destroy(&json);
    FDY_CHECK(id > 0);
    return id;
}

typedef struct {
    char state[32];
    char wave[16];
    char reason[512];
    int64_t nodes, healthy, failed;
} s_rollout_row_t;

static void
s_rollout_ls(s_env_t *e, uint64_t id, s_rollout_row_t *out)
{
    const char *argv[] = {"rollout", "ls", NULL};
    fdy_json_t *json = fdy_proc_ctl_json(e->p, argv);
    for (size_t i = 0; i < fdy_proc_json_count(json); i++) {
        const fdy_json_t *row = fdy_proc_json_at(json, i);
        if ((uint64_t) fdy_proc_row_int(row, "id") != id)
            continue;
        fdy_proc_row_str(row, "state", out->state, sizeof out->state);
        fdy_proc_row_str(row, "wave", out->wave, sizeof out->wave);
        fdy_proc_row_str(row, "reason", out->reason, sizeof out->reason);
        out->nodes = fdy_proc_row_int(row, "nodes");
        out->healthy = fdy_proc_row_int(row, "healthy");
        out->failed = fdy_proc_row_int(row, "failed");
        fdy_proc_json_destroy(&json);
        return;
    }
    fdy_proc_json_destroy(&json);
    FDY_CHECK_MSG(false, "rollout ls has no rollout %" PRIu64, id);
}

static void
s_wait_rollout(s_env_t *e, uint64_t id, const char *want, s_rollout_row_t *out)
{
    int64_t deadline = fdy_clock_mono_ms() + WAIT_MS;
    for (;;) {
        s_rollout_ls(e, id, out);
        if (strcmp(out->state, want) == 0)
            return;
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "rollout %" PRIu64 " is %s (%s), not %s", id,
                      out->state, out->reason, want);
        fdy_proc_nap_ms(100);
    }
}

typedef struct {
    char state[32];
    char reason[512];
    int64_t wave, done_bytes, total_bytes;
} s_node_row_t;

static void
s_node_row(s_env_t *e, uint64_t id, const char *node, s_node_row_t *out)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRIu64, id);
    const char *argv[] = {"rollout", "status", text, NULL};
    fdy_json_t *json = fdy_proc_ctl_json(e->p, argv);
    for (size_t i = 0; i < fdy_proc_json_count(json); i++) {
        const fdy_json_t *row = fdy_proc_json_at(json, i);
        char name[64];
        fdy_proc_row_str(row, "node", name, sizeof name);
        if (strcmp(name, node) != 0)
            continue;
        fdy_proc_row_str(row, "state", out->state, sizeof out->state);
        fdy_proc_row_str(row, "reason", out->reason, sizeof out->reason);
        out->wave = fdy_proc_row_int(row, "wave");
        out->done_bytes = fdy_proc_row_int(row, "done_bytes");
        out->total_bytes = fdy_proc_row_int(row, "total_bytes");
        fdy_proc_json_destroy(&json);
        return;
    }
    fdy_proc_json_destroy(&json);
    FDY_CHECK_MSG(false, "rollout %" PRIu64 " has no node %s", id, node);
}

static void
s_wait_node(s_env_t *e, uint64_t id, const char *node, const char *want, s_node_row_t *out)
{
    int64_t deadline = fdy_clock_mono_ms() + WAIT_MS;
    for (;;) {
        s_node_row(e, id, node, out);
        if (strcmp(out->state, want) == 0)
            return;
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "node %s of rollout %" PRIu64 " is %s (%s)",
                      node, id, out->state, out->reason);
        fdy_proc_nap_ms(50);
    }
}

/* ---- agents ------------------------------------------------------------------------ */

typedef struct {
    fdy_node_proc_t proc;
    char name[32];
    char set[8][PATH_LEN + 64];
} s_agent_t;

/* What an agent runs with; NULL fields (or opts NULL) take the default. */
typedef struct {
    const char *trust;     /* model_trust_file text (default: alice, bob, carol; threshold 1) */
    const char *interlock; /* model_interlock program (default none) */
    const char *health;    /* model_health program (default none) */
    const char *window;    /* model_fetch_window (default 8) */
    const char *jobs;      /* --jobs handler file (default none) */
} s_agent_opts_t;

/* An agent named name at site, with a node key of its own. */
static void
s_agent_start(s_env_t *e, s_agent_t *a, const char *name, const char *site,
              const s_agent_opts_t *opts)
{
    static const s_agent_opts_t none = {0};
    if (!opts)
        opts = &none;
    const char *trust_text = opts->trust, *interlock = opts->interlock, *health = opts->health,
               *window = opts->window;
    snprintf(a->name, sizeof a->name, "%s", name);
    char trust[PATH_LEN], text[512];
    snprintf(trust, sizeof trust, "%s/%s.trust", fdy_proc_dir(e->p), name);
    if (!trust_text) {
        snprintf(text, sizeof text, "vision 1 %.64s %.64s %.64s\n", e->hex[0], e->hex[1],
                 e->hex[2]);
        trust_text = text;
    }
    s_write(trust, trust_text);
    fdy_proc_key_add(e->p, name, "--role", "node", "--site", site, NULL);
    fdy_node_proc_init(&a->proc, e->p, name);
    a->proc.site = site;
    a->proc.key_name = name;
    size_t n = 0, s = 0;
    snprintf(a->set[s], sizeof a->set[s], "model_trust_file=%s", trust);
    a->proc.extra[n++] = "--set";
    a->proc.extra[n++] = a->set[s++];
    snprintf(a->set[s], sizeof a->set[s], "model_release_key=%s", e->release_hex);
    a->proc.extra[n++] = "--set";
    a->proc.extra[n++] = a->set[s++];
    snprintf(a->set[s], sizeof a->set[s], "model_fetch_window=%s", window ? window : "8");
    a->proc.extra[n++] = "--set";
    a->proc.extra[n++] = a->set[s++];
    if (interlock) {
        snprintf(a->set[s], sizeof a->set[s], "model_interlock=%s", interlock);
        a->proc.extra[n++] = "--set";
        a->proc.extra[n++] = a->set[s++];
        a->proc.extra[n++] = "--set";
        a->proc.extra[n++] = "model_interlock_interval=100ms";
    }
    if (health) {
        snprintf(a->set[s], sizeof a->set[s], "model_health=%s", health);
        a->proc.extra[n++] = "--set";
        a->proc.extra[n++] = a->set[s++];
    }
    if (opts->jobs) {
        a->proc.extra[n++] = "--jobs";
        a->proc.extra[n++] = opts->jobs;
        a->proc.extra[n++] = "--set";
        a->proc.extra[n++] = "job_heartbeat=200ms";
    }
    a->proc.extra[n] = NULL;
    fdy_node_proc_start(&a->proc, -1, true);
}

static void
s_agents_stop(s_agent_t *agents, size_t count)
{
    for (size_t i = 0; i < count; i++)
        FDY_NODE_CHECK(&agents[i].proc, fdy_node_proc_stop(&agents[i].proc) == 0,
                       "%s did not stop cleanly", agents[i].name);
}

/* The version `current` points at, 0 for none. */
static uint64_t
s_current(const s_agent_t *a)
{
    char path[PATH_LEN + 32], target[32] = "";
    snprintf(path, sizeof path, "%s/models/vision/current", a->proc.data_dir);
    ssize_t n = readlink(path, target, sizeof target - 1);
    return n > 0 ? strtoull(target, NULL, 10) : 0;
}

static bool
s_has_version(const s_agent_t *a, unsigned version)
{
    char path[PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/models/vision/%u", a->proc.data_dir, version);
    return access(path, F_OK) == 0;
}

/* ---- six sites, two waves, a large artifact --------------------------------------------- */

static const char *const s_sites[6] = {"siheung", "bucheon", "uijeongbu",
                                       "hanam",   "pangyo",  "seongnam-lab"};

/* The artifact's size: FOUNDRY_TEST_MODEL_MB or the default, scaled down
 * while the disk under dir cannot hold 2.5 times what the test writes
 * (source, broker blobs, and each agent's version file). */
static uint64_t
s_model_size(const char *dir)
{
    uint64_t mb = DEFAULT_MODEL_MB;
    const char *env = getenv("FOUNDRY_TEST_MODEL_MB");
    if (env && *env)
        mb = strtoull(env, NULL, 10);
    FDY_CHECK_MSG(mb >= 1, "FOUNDRY_TEST_MODEL_MB=%s is not a size in MiB", env);
    struct statvfs vfs;
    FDY_CHECK(statvfs(dir, &vfs) == 0);
    uint64_t free_mb = (uint64_t) vfs.f_bavail * vfs.f_frsize >> 20;
    const uint64_t copies = 2 + 6;
    uint64_t want = mb;
    while (mb > 1 && mb * copies * 5 / 2 > free_mb)
        mb /= 2;
    if (mb != want)
        fprintf(stderr,
                "model_rollout: only %" PRIu64 " MiB free under %s: artifact scaled down from "
                "%" PRIu64 " MiB to %" PRIu64 " MiB\n",
                free_mb, dir, want, mb);
    fprintf(stderr, "model_rollout: artifact of %" PRIu64 " MiB to six agents\n", mb);
    return mb << 20;
}

static void
test_model_rollout_six_sites_two_waves(void)
{
    s_env_t e;
    s_env_start(&e, "model_rollout_six", NULL);
    uint64_t size = s_model_size(fdy_proc_dir(e.p));
    /* hanam's interlock stays closed until a file exists. */
    char interlock[PATH_LEN], safe[PATH_LEN], body[PATH_LEN * 2];
    s_path(e.p, "interlock.sh", interlock, sizeof interlock);
    s_path(e.p, "hanam-safe", safe, sizeof safe);
    snprintf(body, sizeof body, "[ -e %s ] && exit 0\necho 'line 2 robot busy'\nexit 1", safe);
    s_script(interlock, body);
    s_agent_t agents[6];
    for (size_t i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "node-%s", s_sites[i]);
        s_agent_opts_t opts = {.interlock = strcmp(s_sites[i], "hanam") == 0 ? interlock : NULL};
        s_agent_start(&e, &agents[i], name, s_sites[i], &opts);
    }
    char model[PATH_LEN], source_hash[2 * FDY_BLOB_HASH_LEN + 1];
    s_path(e.p, "large.onnx", model, sizeof model);
    s_write_model(model, size, 1);
    FDY_CHECK(s_file_hash(model, source_hash));
    int64_t t0 = fdy_clock_mono_ms();
    s_push(&e, model, "1", "a", "1048576");
    int64_t t1 = fdy_clock_mono_ms();

    const char *waves[] = {"--waves", "seongnam-lab;*", NULL};
    uint64_t id = s_rollout(&e, "vision@1", waves);
    /* Wave 1 is the lab alone; the sites wait for it. */
    s_node_row_t row;
    s_wait_node(&e, id, "node-seongnam-lab", "healthy", &row);
    FDY_CHECK_EQ(row.wave, 1);
    /* Wave 2: hanam is held by its interlock, with its reason, and
     * installs nothing while the others finish. */
    s_wait_node(&e, id, "node-hanam", "waiting-interlock", &row);
    FDY_CHECK_MSG(strstr(row.reason, "line 2 robot busy"), "hanam waits: %s", row.reason);
    for (size_t i = 0; i < 6; i++)
        if (strcmp(s_sites[i], "hanam") != 0)
            s_wait_node(&e, id, agents[i].name, "healthy", &row);
    s_rollout_row_t ls;
    s_rollout_ls(&e, id, &ls);
    FDY_CHECK_STR(ls.state, "running");
    FDY_CHECK_EQ(ls.healthy, 5);
    FDY_CHECK_EQ(s_current(&agents[3]), 0);
    s_write(safe, "");
    s_wait_rollout(&e, id, "succeeded", &ls);
    fprintf(stderr, "model_rollout: pushed in %" PRId64 " ms, rolled out in %" PRId64 " ms\n",
            t1 - t0, fdy_clock_mono_ms() - t1);
    FDY_CHECK_STR(ls.wave, "2/2");
    FDY_CHECK_EQ(ls.nodes, 6);
    FDY_CHECK_EQ(ls.healthy, 6);
    FDY_CHECK_EQ(ls.failed, 0);
    for (size_t i = 0; i < 6; i++) {
        s_node_row(&e, id, agents[i].name, &row);
        FDY_CHECK_STR(row.state, "healthy");
        FDY_CHECK_EQ(row.wave, strcmp(s_sites[i], "seongnam-lab") == 0 ? 1 : 2);
        FDY_CHECK_EQ(s_current(&agents[i]), 1);
        char path[PATH_LEN + 32], hash[2 * FDY_BLOB_HASH_LEN + 1];
        snprintf(path, sizeof path, "%s/models/vision/1", agents[i].proc.data_dir);
        FDY_CHECK_MSG(s_file_hash(path, hash), "%s is missing", path);
        FDY_CHECK_MSG(strcmp(hash, source_hash) == 0, "%s: BLAKE2b %s, source %s", path, hash,
                      source_hash);
    }
    s_agents_stop(agents, 6);
    s_env_stop(&e);
}

/* ---- resume ----------------------------------------------------------------------------- */

/* The broker's model_chunks_stored status counter. */
static int64_t
s_chunks_stored(s_env_t *e)
{
    const char *argv[] = {"status", NULL};
    fdy_json_t *json = fdy_proc_ctl_json(e->p, argv);
    int64_t n = fdy_proc_row_int(fdy_proc_one_row(json), "model_chunks_stored");
    fdy_proc_json_destroy(&json);
    return n;
}

/* A push of file as vision@1 (64 KiB chunks, one in flight) that the
 * broker's SIGKILL interrupts once it holds some chunks; pushed again, only
 * the chunks it lacks are sent. */
static void
s_push_through_broker_kill(s_env_t *e, const char *file, int64_t chunks)
{
    const char *argv[32];
    s_push_argv(e, argv, file, "1", "a", "65536", NULL, NULL);
    size_t n = 0;
    while (argv[n])
        n++;
    argv[n++] = "--window";
    argv[n++] = "1";
    argv[n] = NULL;
    int64_t before = s_chunks_stored(e);
    fflush(NULL);
    pid_t child = fork();
    FDY_CHECK(child >= 0);
    if (child == 0) { /* the push, in a child so the test can kill the broker under it */
        fdy_proc_run_t run;
        int status = fdy_proc_ctlv(e->p, NULL, argv, &run) == FOUNDRY_OK ? run.status : 99;
        _exit(status);
    }
    int64_t deadline = fdy_clock_mono_ms() + WAIT_MS;
    while (s_chunks_stored(e) < before + chunks / 8) {
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "the push stored no chunks");
        fdy_proc_nap_ms(10);
    }
    FDY_CHECK_OK(fdy_proc_broker_kill(e->p));
    int wstatus = 0;
    FDY_CHECK(waitpid(child, &wstatus, 0) == child);
    FDY_CHECK_MSG(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 1,
                  "the push the broker's kill interrupted exited %d, want 1 (it finished first?)",
                  WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
    FDY_CHECK_OK(fdy_proc_broker_restart(e->p));
    argv[n - 2] = NULL; /* the default window */
    fdy_json_t *json = fdy_proc_ctl_json(e->p, argv);
    const fdy_json_t *row = fdy_proc_one_row(json);
    int64_t held = fdy_proc_row_int(row, "chunks_held"),
            sent = fdy_proc_row_int(row, "chunks_sent");
    FDY_CHECK_MSG(held >= chunks / 8 && sent < chunks && held + sent == chunks,
                  "after the broker's kill: %" PRId64 " held, %" PRId64 " sent of %" PRId64, held,
                  sent, chunks);
    fprintf(stderr,
            "model_rollout: push after the broker's kill sent %" PRId64 " of %" PRId64 " chunks\n",
            sent, chunks);
    fdy_proc_json_destroy(&json);
}

/* Chunks (of chunk bytes) written into the agent's temporary file for
 * vision 1: the file is sparse until a chunk lands at its offset. */
static size_t
s_tmp_chunk_count(const s_agent_t *a, uint64_t size, uint64_t chunk)
{
    char path[PATH_LEN + 64];
    snprintf(path, sizeof path, "%s/models/vision/.1.tmp", a->proc.data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t count = 0;
    for (uint64_t at = 0; at < size; at += chunk) {
        off_t data = lseek(fd, (off_t) at, SEEK_DATA);
        if (data < 0)
            break; /* no data from here on */
        count += (uint64_t) data < at + chunk;
    }
    close(fd);
    return count;
}

/* The count of chunks the node's last MODEL-DOWNLOAD line says it fetches. */
static size_t
s_last_download_todo(const s_agent_t *a, size_t *total_out)
{
    FILE *f = fopen(a->proc.log_path, "r");
    FDY_CHECK(f);
    char line[1024];
    size_t todo = SIZE_MAX, total = 0;
    while (fgets(line, sizeof line, f)) {
        const char *at = strstr(line, "MODEL-DOWNLOAD");
        const char *colon = at ? strstr(at, ": ") : NULL;
        size_t t, n;
        if (colon && sscanf(colon, ": %zu of %zu chunks", &t, &n) == 2) {
            todo = t;
            total = n;
        }
    }
    fclose(f);
    FDY_NODE_CHECK(&a->proc, todo != SIZE_MAX, "no MODEL-DOWNLOAD line");
    *total_out = total;
    return todo;
}

static void
test_model_rollout_resume_after_agent_and_broker_kill(void)
{
    s_env_t e;
    s_env_start(&e, "model_rollout_resume", NULL);
    /* Window 1 and small chunks: the download is slow enough to be caught
     * in the middle, and every acknowledged chunk is on the agent's disk. */
    s_agent_t agent;
    const s_agent_opts_t slow = {.window = "1"};
    s_agent_start(&e, &agent, "node-siheung", "siheung", &slow);
    const uint64_t size = 16u << 20; /* 256 chunks */
    char model[PATH_LEN], source_hash[2 * FDY_BLOB_HASH_LEN + 1];
    s_path(e.p, "resume.onnx", model, sizeof model);
    s_write_model(model, size, 7);
    FDY_CHECK(s_file_hash(model, source_hash));
    s_push_through_broker_kill(&e, model, 256);
    uint64_t id = s_rollout(&e, "vision@1", NULL);

    /* SIGKILL once some chunks are in its temporary file (watched there,
     * not through reports, which go about once a second). */
    int64_t deadline = fdy_clock_mono_ms() + WAIT_MS;
    while (s_tmp_chunk_count(&agent, size, SMALL_CHUNK) < 256 / 8) {
        FDY_NODE_CHECK(&agent.proc, fdy_clock_mono_ms() < deadline, "no chunks downloaded");
        fdy_proc_nap_ms(2);
    }
    FDY_CHECK(kill(agent.proc.pid, SIGKILL) == 0);
    FDY_CHECK_EQ(fdy_node_proc_wait(&agent.proc, 30000), 128 + SIGKILL);
    size_t total = 0;
    FDY_CHECK_EQ(s_last_download_todo(&agent, &total), 256);
    FDY_CHECK_EQ(total, 256);
    size_t lines_before = fdy_node_proc_log_count(&agent.proc, "MODEL-DOWNLOAD");

    /* The restarted agent fetches only the chunks it had not stored. */
    fdy_node_proc_start(&agent.proc, -1, true);
    deadline = fdy_clock_mono_ms() + WAIT_MS;
    while (fdy_node_proc_log_count(&agent.proc, "MODEL-DOWNLOAD") == lines_before) {
        FDY_NODE_CHECK(&agent.proc, fdy_clock_mono_ms() < deadline, "no second MODEL-DOWNLOAD");
        fdy_proc_nap_ms(20);
    }
    size_t todo = s_last_download_todo(&agent, &total);
    FDY_NODE_CHECK(&agent.proc, todo < 256 - 256 / 8 + 1 && total == 256,
                   "after the restart %zu of %zu chunks fetched again", todo, total);
    fprintf(stderr, "model_rollout: after the kill, %zu of 256 chunks left to fetch\n", todo);

    /* The broker SIGKILLed while the agent downloads the rest: both
     * recover. */
    FDY_CHECK_OK(fdy_proc_broker_kill(e.p));
    FDY_CHECK_OK(fdy_proc_broker_restart(e.p));
    s_rollout_row_t ls;
    s_wait_rollout(&e, id, "succeeded", &ls);
    FDY_CHECK_EQ(ls.healthy, 1);
    FDY_CHECK_EQ(s_current(&agent), 1);
    char path[PATH_LEN + 32], hash[2 * FDY_BLOB_HASH_LEN + 1];
    snprintf(path, sizeof path, "%s/models/vision/1", agent.proc.data_dir);
    FDY_CHECK(s_file_hash(path, hash));
    FDY_CHECK_STR(hash, source_hash);

    /* (A publisher killed mid-push: test_ctl_models' push_resume.) The
     * broker dies while a rollout's first wave runs and the second has not
     * started. */
    s_agent_t lab;
    s_agent_start(&e, &lab, "node-lab", "seongnam-lab", &slow);
    s_write_model(model, size, 8);
    s_push(&e, model, "2", "a", "65536");
    const char *waves[] = {"--waves", "seongnam-lab;siheung", NULL};
    uint64_t id2 = s_rollout(&e, "vision@2", waves);
    fdy_node_proc_wait_log(&lab.proc, "MODEL-DOWNLOAD");
    s_node_row_t row;
    s_node_row(&e, id2, "node-siheung", &row);
    FDY_CHECK_STR(row.state, "pending");
    FDY_CHECK_OK(fdy_proc_broker_kill(e.p));
    FDY_CHECK_OK(fdy_proc_broker_restart(e.p));
    s_wait_rollout(&e, id2, "succeeded", &ls);
    FDY_CHECK_EQ(ls.healthy, 2);
    FDY_CHECK_EQ(s_current(&agent), 2);
    FDY_CHECK_EQ(s_current(&lab), 2);

    FDY_NODE_CHECK(&lab.proc, fdy_node_proc_stop(&lab.proc) == 0, "lab did not stop cleanly");
    FDY_NODE_CHECK(&agent.proc, fdy_node_proc_stop(&agent.proc) == 0, "did not stop cleanly");
    s_env_stop(&e);
}

/* ---- the attack matrix --------------------------------------------------------------------- */

/* Rolls out vision@version to the one agent and expects it refused with
 * needle in the reason, nothing of it installed, `current` still at
 * installed. */
static void
s_expect_refused(s_env_t *e, s_agent_t *a, unsigned version, uint64_t installed, const char *needle)
{
    char target[32];
    snprintf(target, sizeof target, "vision@%u", version);
    uint64_t id = s_rollout(e, target, NULL);
    s_node_row_t row;
    s_wait_node(e, id, a->name, "failed", &row);
    FDY_NODE_CHECK(&a->proc, strstr(row.reason, needle), "version %u refused as '%s', want '%s'",
                   version, row.reason, needle);
    FDY_CHECK_EQ(s_current(a), installed);
    if (version > installed) /* an older one may be kept as `previous` */
        FDY_CHECK_MSG(!s_has_version(a, version), "version %u was written", version);
    fprintf(stderr, "model_rollout: version %u refused: %s\n", version, row.reason);
}

static void
s_install(s_env_t *e, s_agent_t *a, unsigned version)
{
    char target[32];
    snprintf(target, sizeof target, "vision@%u", version);
    uint64_t id = s_rollout(e, target, NULL);
    s_node_row_t row;
    s_wait_node(e, id, a->name, "healthy", &row);
    FDY_CHECK_EQ(s_current(a), version);
}

/* Where the broker refuses a case itself, the agent-side check is a unit
 * test: tampered manifest (the broker verifies signatures over the exact
 * bytes at publish: test_models_publish_checks_and_release_log;
 * agent: test_node_model_verify_refuses_a_tampered_manifest), an artifact
 * larger than its manifest says (the broker refuses a long chunk at upload
 * and serves exactly the manifest's length: test_models_upload_resume_and_
 * bad_chunks; agent: test_node_model_update_refuses_a_chunk_of_the_wrong_
 * length), and a manifest for another site (no rollout can start it there;
 * broker FETCH: test_models_fetch_only_for_targeted_sites; agent:
 * test_node_model_verify_refuses_another_site). The rest go through the
 * real path: the broker accepts them (its policy is looser than the
 * agent's, or its stored files were altered) and the agent must refuse. */
static void
test_model_rollout_attacks_refused(void)
{
    s_env_t e;
    s_env_start(&e, "model_rollout_attacks", NULL);
    /* The agent trusts alice and bob, two signatures needed; the broker
     * takes any one of alice, bob or carol. */
    char trust[4 * FDY_MODEL_KEY_LEN + 16];
    snprintf(trust, sizeof trust, "vision 2 %.64s %.64s\n", e.hex[0], e.hex[1]);
    s_agent_t a;
    const s_agent_opts_t strict = {.trust = trust};
    s_agent_start(&e, &a, "node-siheung", "siheung", &strict);
    char model[PATH_LEN];
    s_path(e.p, "attack.onnx", model, sizeof model);
    const uint64_t size = 4 * SMALL_CHUNK + 100;
    s_write_model(model, size, 1);
    s_push(&e, model, "1", "ab", "65536");
    s_install(&e, &a, 1);

    /* Signed by a key the agent does not trust. */
    s_write_model(model, size, 2);
    s_push(&e, model, "2", "c", "65536");
    s_expect_refused(&e, &a, 2, 1, "not trusted");
    /* One signature where the agent's policy needs two. */
    s_write_model(model, size, 3);
    s_push(&e, model, "3", "a", "65536");
    s_expect_refused(&e, &a, 3, 1, "1 of 2");
    /* A tampered chunk: one byte of a blob in the broker's store. */
    s_write_model(model, size, 4);
    s_push(&e, model, "4", "ab", "65536");
    char hex[2 * FDY_BLOB_HASH_LEN + 1], blob[PATH_LEN + 128];
    s_first_chunk_hex(model, SMALL_CHUNK, hex);
    snprintf(blob, sizeof blob, "%s/blobs/%.2s/%s", fdy_proc_data_dir(e.p), hex, hex);
    FDY_CHECK(chmod(blob, 0600) == 0);
    FILE *f = fopen(blob, "r+b");
    FDY_CHECK_MSG(f, "no blob %s", blob);
    int c = fgetc(f);
    FDY_CHECK(c != EOF && fseek(f, 0, SEEK_SET) == 0 && fputc(c ^ 0x40, f) != EOF);
    FDY_CHECK(fclose(f) == 0);
    s_expect_refused(&e, &a, 4, 1, "hash");
    /* An expired manifest: valid when pushed, expired when rolled out. */
    s_write_model(model, size, 5);
    const char *argv[32];
    s_push_argv(&e, argv, model, "5", "ab", "65536", NULL, "1s");
    s_ctl_ok(e.p, argv);
    int64_t until = fdy_clock_mono_ms() + 2100;
    while (fdy_clock_mono_ms() < until)
        fdy_proc_nap_ms(100);
    s_expect_refused(&e, &a, 5, 1, "expired");

    /* Version 6 installs; then the old version 1 replayed (its manifest
     * and log entry are genuine, but older than installed and not a
     * rollback): no entry past the agent's head names it. The version
     * check behind it is test_node_model_verify_refuses_an_older_version_
     * without_rollback. */
    s_write_model(model, size, 6);
    s_push(&e, model, "6", "ab", "65536");
    s_install(&e, &a, 6);
    s_expect_refused(&e, &a, 1, 6, "replayed");

    /* A release log with a rewritten entry: the agent holds a head the
     * broker's log does not extend (as if the broker's history had been
     * rewritten since the agent verified it). */
    FDY_NODE_CHECK(&a.proc, fdy_node_proc_stop(&a.proc) == 0, "did not stop cleanly");
    char state[PATH_LEN + 32], text[2048];
    snprintf(state, sizeof state, "%s/models/vision/state", a.proc.data_dir);
    f = fopen(state, "r");
    FDY_CHECK(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *log_hash = strstr(text, "log_hash = ");
    FDY_CHECK(log_hash);
    log_hash += strlen("log_hash = ");
    *log_hash = *log_hash == '0' ? '1' : '0';
    s_write(state, text);
    fdy_node_proc_start(&a.proc, -1, true);
    s_write_model(model, size, 7);
    s_push(&e, model, "7", "ab", "65536");
    s_expect_refused(&e, &a, 7, 6, "log");

    /* A manifest for another site: the rollout has no node to start. */
    s_write_model(model, size, 8);
    s_push_argv(&e, argv, model, "8", "ab", "65536", "bucheon", NULL);
    s_ctl_ok(e.p, argv);
    const char *other[] = {"rollout", "start", "vision@8", "--site", "siheung", NULL};
    s_ctl_refused(e.p, other, "no target nodes");
    FDY_CHECK_EQ(s_current(&a), 6);

    FDY_NODE_CHECK(&a.proc, fdy_node_proc_stop(&a.proc) == 0, "did not stop cleanly");
    s_env_stop(&e);
}

/* ---- gates ----------------------------------------------------------------------------------- */

static void
test_model_rollout_health_gate_pauses_before_last_wave(void)
{
    s_env_t e;
    s_env_start(&e, "model_rollout_health", NULL);
    char good[PATH_LEN], bad[PATH_LEN];
    s_path(e.p, "good.sh", good, sizeof good);
    s_path(e.p, "bad.sh", bad, sizeof bad);
    s_script(good, "exit 0");
    s_script(bad, "echo 'camera 3 sees black'; exit 1");
    s_agent_t agents[6];
    for (size_t i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "node-%s", s_sites[i]);
        bool fails = strcmp(s_sites[i], "bucheon") == 0 || strcmp(s_sites[i], "uijeongbu") == 0;
        s_agent_opts_t opts = {.health = fails ? bad : good};
        s_agent_start(&e, &agents[i], name, s_sites[i], &opts);
    }
    char model[PATH_LEN];
    s_path(e.p, "v.onnx", model, sizeof model);
    s_write_model(model, 3 * SMALL_CHUNK, 1);
    s_push(&e, model, "1", "a", "65536");
    const char *waves[] = {"--waves", "seongnam-lab;siheung,bucheon,uijeongbu;*", NULL};
    uint64_t id = s_rollout(&e, "vision@1", waves);
    s_rollout_row_t ls;
    s_wait_rollout(&e, id, "paused", &ls);
    FDY_CHECK_STR(ls.wave, "2/3");
    FDY_CHECK_EQ(ls.failed, 2);
    FDY_CHECK_MSG(strstr(ls.reason, "2 of 3 failed"), "pause reason: %s", ls.reason);
    s_node_row_t row;
    for (size_t i = 0; i < 6; i++) {
        s_node_row(&e, id, agents[i].name, &row);
        if (strcmp(s_sites[i], "bucheon") == 0 || strcmp(s_sites[i], "uijeongbu") == 0) {
            FDY_CHECK_STR(row.state, "failed");
            FDY_CHECK_MSG(strstr(row.reason, "camera 3 sees black"), "%s: %s", agents[i].name,
                          row.reason);
            FDY_CHECK_EQ(s_current(&agents[i]), 0); /* back on nothing: no previous */
        } else if (strcmp(s_sites[i], "hanam") == 0 || strcmp(s_sites[i], "pangyo") == 0) {
            FDY_CHECK_STR(row.state, "pending"); /* the last wave never started */
            FDY_CHECK_EQ(row.wave, 3);
            FDY_CHECK(!s_has_version(&agents[i], 1));
        } else {
            FDY_CHECK_STR(row.state, "healthy");
            FDY_CHECK_EQ(s_current(&agents[i]), 1);
        }
    }
    s_agents_stop(agents, 6);
    s_env_stop(&e);
}

static void
test_model_rollout_telemetry_gate_pauses_during_soak(void)
{
    s_env_t e;
    s_env_start(&e, "model_rollout_telemetry", NULL);
    s_agent_t agents[2];
    s_agent_start(&e, &agents[0], "node-lab", "seongnam-lab", NULL);
    s_agent_start(&e, &agents[1], "node-siheung", "siheung", NULL);
    char model[PATH_LEN];
    s_path(e.p, "v.onnx", model, sizeof model);
    s_write_model(model, 3 * SMALL_CHUNK, 1);
    s_push(&e, model, "1", "a", "65536");
    /* A soak far longer than the test: the gate must trip within it. */
    const char *more[] = {"--waves", "seongnam-lab;siheung",        "--soak", "10m",
                          "--gate",  "inspection.reject_rate<0.02", NULL};
    uint64_t id = s_rollout(&e, "vision@1", more);
    s_node_row_t row;
    s_wait_node(&e, id, "node-lab", "healthy", &row);
    s_rollout_row_t ls;
    s_rollout_ls(&e, id, &ls);
    FDY_CHECK_STR(ls.state, "running");
    fdy_node_proc_pusher_t pusher;
    fdy_node_proc_pusher_open(&pusher, agents[0].proc.listen);
    const char *bad = "inspection.reject_rate 0.07\n";
    fdy_node_proc_push(&pusher, bad, strlen(bad), 0);
    fdy_node_proc_pusher_close(&pusher);
    s_wait_rollout(&e, id, "paused", &ls);
    FDY_CHECK_STR(ls.wave, "1/2");
    FDY_CHECK_MSG(strstr(ls.reason, "gate inspection.reject_rate<0.02 violated: 0.07 at "
                                    "seongnam-lab/node-lab"),
                  "pause reason: %s", ls.reason);
    s_node_row(&e, id, "node-siheung", &row);
    FDY_CHECK_STR(row.state, "pending");
    FDY_CHECK_EQ(s_current(&agents[1]), 0);
    s_agents_stop(agents, 2);
    s_env_stop(&e);
}

/* ---- a fleet job ------------------------------------------------------------------------------ */

static void
test_model_rollout_fleet_job_aborts_at_threshold(void)
{
    s_env_t e;
    s_env_start(&e, "model_rollout_fleet", NULL);
    char ok[PATH_LEN], bad[PATH_LEN], ok_jobs[PATH_LEN], bad_jobs[PATH_LEN], text[PATH_LEN + 64];
    s_path(e.p, "collect.sh", ok, sizeof ok);
    s_path(e.p, "collect-fails.sh", bad, sizeof bad);
    s_script(ok, "exit 0");
    s_script(bad, "echo 'calibration log missing' >&2; exit 4");
    s_path(e.p, "ok.jobs", ok_jobs, sizeof ok_jobs);
    s_path(e.p, "bad.jobs", bad_jobs, sizeof bad_jobs);
    snprintf(text, sizeof text, "collect exec 2 10s -- %s\n", ok);
    s_write(ok_jobs, text);
    snprintf(text, sizeof text, "collect exec 2 10s -- %s\n", bad);
    s_write(bad_jobs, text);
    /* Bucheon and Uijeongbu (wave 3 of 4, alone so that no healthy node of
     * theirs is cut short) fail: two failures abort before the last wave. */
    s_agent_t agents[6];
    for (size_t i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "node-%s", s_sites[i]);
        bool fails = strcmp(s_sites[i], "bucheon") == 0 || strcmp(s_sites[i], "uijeongbu") == 0;
        s_agent_opts_t opts = {.jobs = fails ? bad_jobs : ok_jobs};
        s_agent_start(&e, &agents[i], name, s_sites[i], &opts);
    }
    const char *more[] = {
        "--data",           "full", "--waves", "seongnam-lab;siheung;bucheon,uijeongbu;*",
        "--abort-failures", "2",    NULL};
    const char *argv[16] = {"rollout", "start", "--job", "collect"};
    size_t n = 4;
    for (size_t i = 0; more[i]; i++)
        argv[n++] = more[i];
    argv[n] = NULL;
    fdy_json_t *json = fdy_proc_ctl_json(e.p, argv);
    uint64_t id = (uint64_t) fdy_proc_row_int(fdy_proc_one_row(json), "id");
    fdy_proc_json_destroy(&json);
    s_rollout_row_t ls;
    s_wait_rollout(&e, id, "aborted", &ls);
    FDY_CHECK_STR(ls.wave, "3/4");
    FDY_CHECK_EQ(ls.nodes, 6);
    FDY_CHECK_EQ(ls.failed, 2);
    FDY_CHECK_MSG(strstr(ls.reason, "abort_failures=2: 2 nodes failed"), "abort reason: %s",
                  ls.reason);
    for (size_t i = 0; i < 6; i++) {
        s_node_row_t row;
        s_node_row(&e, id, agents[i].name, &row);
        if (strcmp(s_sites[i], "bucheon") == 0 || strcmp(s_sites[i], "uijeongbu") == 0) {
            FDY_CHECK_STR(row.state, "failed");
            FDY_CHECK_MSG(strstr(row.reason, "exit status 4"), "%s: %s", agents[i].name,
                          row.reason);
        } else if (strcmp(s_sites[i], "hanam") == 0 || strcmp(s_sites[i], "pangyo") == 0) {
            FDY_CHECK_STR(row.state, "pending"); /* the last wave never started */
            FDY_CHECK_EQ(row.wave, 4);
        } else {
            FDY_CHECK_STR(row.state, "healthy");
        }
    }
    s_agents_stop(agents, 6);
    s_env_stop(&e);
}

int
main(int argc, char **argv)
{
    if (!getenv("FOUNDRY_NODE")) {
        fprintf(stderr, "model_rollout: FOUNDRY_NODE is not set: skipped\n");
        return 77;
    }
    FDY_CHECK(sodium_init() >= 0);
    static const fdy_proc_test_t tests[] = {
        {"model_rollout_six_sites_two_waves", test_model_rollout_six_sites_two_waves},
        {"model_rollout_resume_after_agent_and_broker_kill",
         test_model_rollout_resume_after_agent_and_broker_kill},
        {"model_rollout_attacks_refused", test_model_rollout_attacks_refused},
        {"model_rollout_health_gate_pauses_before_last_wave",
         test_model_rollout_health_gate_pauses_before_last_wave},
        {"model_rollout_telemetry_gate_pauses_during_soak",
         test_model_rollout_telemetry_gate_pauses_during_soak},
        {"model_rollout_fleet_job_aborts_at_threshold",
         test_model_rollout_fleet_job_aborts_at_threshold},
    };
    return fdy_proc_run_tests("model_rollout", tests, sizeof tests / sizeof tests[0], argc, argv);
}
