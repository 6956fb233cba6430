/*  models_bench.c: foundry-bench --models (models_bench.h). The artifact is
 *  generated (xorshift, cheap: the bench must not measure its own
 *  generator), pushed with the client API, then rolled out with foundryctl
 *  to real foundry-node processes, one per site, each with a trust file
 *  for the bench's signing key and the broker's release key. The rollout
 *  time runs from `rollout start` to the rollout's end with every node
 *  healthy (foundryctl --wait polls every 500 ms: that is the resolution).
 */
#include "models_bench.h"

#include "baseline.h"
#include "model_sign.h"

#include <errno.h>
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

#define AGENTS_MAX     16
#define MODEL_NAME     "bench-model"
#define MIB            (1024.0 * 1024.0)
#define GEN_BUF        (4u << 20)
#define HASH_BYTES     (256u << 20) /* BLAKE2b reference: 256 MiB in 1 MiB calls */
#define CURVE_MSGS     256u         /* raw CURVE reference: 256 x 1 MiB */
#define CURVE_MSG_SIZE (1u << 20)
/* Under AddressSanitizer the RSS is mostly its shadow memory. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_CHECKED false
#else
#define RSS_CHECKED true
#endif
#define SIZE_MIN       (16ull << 20)

typedef struct {
    uint64_t start_ns;
    uint64_t hashed_ns; /* the hashing pass ended (upload began) */
    bool hashing_seen;  /* a hash-first push; a streamed one has no such pass */
} s_push_clock_t;

static void
s_on_progress(const foundry_model_progress_t *progress, void *user)
{
    s_push_clock_t *clock = user;
    if (progress->phase == FOUNDRY_MODEL_HASHING)
        clock->hashing_seen = true;
    if (progress->phase != FOUNDRY_MODEL_HASHING && !clock->hashed_ns)
        clock->hashed_ns = fdy_bench_env_now_ns();
}

/* ---- preparation -------------------------------------------------------------- */

/* The size that fits: the source file, the broker's blobs and, per agent,
 * the version file it writes its chunks into, plus 10%. Prints why when it
 * scales down. */
static uint64_t
s_fit_size(const char *dir, uint64_t want, size_t agents)
{
    struct statvfs vfs;
    if (statvfs(dir, &vfs) != 0)
        return want;
    uint64_t free_bytes = (uint64_t) vfs.f_bavail * vfs.f_frsize;
    uint64_t copies = 2 + (uint64_t) agents;
    uint64_t fits = free_bytes / copies / 11 * 10;
    if (fits >= want)
        return want;
    uint64_t size = fits & ~((1ull << 20) - 1);
    fdy_bench_env_fail("note: %.0f MiB free in %s, and a %.0f MiB artifact needs about %" PRIu64
                       "x that (source, broker blobs, version file of %zu agents): scaled down to "
                       "%.0f MiB",
                       (double) free_bytes / MIB, dir, (double) want / MIB, copies, agents,
                       (double) size / MIB);
    return size;
}

/* Writes size random-looking bytes (xorshift64*): no two chunks alike, so
 * nothing is deduplicated. */
static foundry_err
s_write_artifact(const char *path, uint64_t size)
{
    uint64_t *buf = malloc(GEN_BUF);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    foundry_err err = buf && fd >= 0 ? FOUNDRY_OK : FOUNDRY_EIO;
    uint64_t x = 0x9e3779b97f4a7c15ull ^ (uint64_t) fdy_bench_env_now_ns();
    for (uint64_t done = 0; err == FOUNDRY_OK && done < size;) {
        for (size_t i = 0; i < GEN_BUF / 8; i++) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            buf[i] = x * 0x2545f4914f6cdd1dull;
        }
        size_t n = size - done < GEN_BUF ? (size_t) (size - done) : GEN_BUF;
        if (write(fd, buf, n) != (ssize_t) n)
            err = FOUNDRY_EIO;
        done += n;
    }
    if (fd >= 0 && close(fd) != 0)
        err = FOUNDRY_EIO;
    if (err != FOUNDRY_OK)
        fdy_bench_env_fail("cannot write the artifact %s: %s", path, strerror(errno));
    free(buf);
    return err;
}

/* BLAKE2b-256 over HASH_BYTES in 1 MiB calls (as a chunk is hashed), MB/s. */
static double
s_hash_speed(void)
{
    uint8_t *buf = malloc(CURVE_MSG_SIZE), out[32];
    if (!buf)
        return 0.0;
    randombytes_buf(buf, CURVE_MSG_SIZE);
    uint64_t t0 = fdy_bench_env_now_ns();
    for (size_t i = 0; i < HASH_BYTES / CURVE_MSG_SIZE; i++) {
        crypto_generichash(out, sizeof out, buf, CURVE_MSG_SIZE, NULL, 0);
        buf[0] ^= out[0]; /* each pass depends on the last */
    }
    double seconds = (double) (fdy_bench_env_now_ns() - t0) / 1e9;
    free(buf);
    return (double) HASH_BYTES / MIB / seconds;
}

/* ---- agents ------------------------------------------------------------------- */

static pid_t
s_start_agent(const fdy_bench_env_t *env, const char *node, size_t i, const char *trust,
              const char *release_hex)
{
    char name[32], site[32], dir[PATH_MAX + 64], log[PATH_MAX + 64], key[PATH_MAX + 64],
        set_trust[PATH_MAX + 64], set_key[128];
    snprintf(name, sizeof name, "bench-node-%zu", i);
    snprintf(site, sizeof site, "site%zu", i);
    snprintf(dir, sizeof dir, "%s/%s", env->dir, name);
    snprintf(log, sizeof log, "%s/%s.log", env->dir, name);
    snprintf(key, sizeof key, "%s/%s.key_secret", env->client_dir, name);
    snprintf(set_trust, sizeof set_trust, "model_trust_file=%s", trust);
    snprintf(set_key, sizeof set_key, "model_release_key=%s", release_hex);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        fdy_bench_env_child_init();
        FILE *out = freopen(log, "a", stdout);
        (void) out;
        dup2(1, 2);
        execl(node, node, "--site", site, "--endpoint", env->endpoint, "--key", key, "--broker-key",
              env->broker_key, "--data-dir", dir, "--set", set_trust, "--set", set_key,
              "--log-level", "notice", (char *) NULL);
        _exit(127);
    }
    return pid;
}

/* Peak RSS (VmHWM) of any process, KiB; 0 when unknown. */
static uint64_t
s_peak_rss_kib(pid_t pid)
{
    fdy_bench_env_t probe;
    memset(&probe, 0, sizeof probe);
    probe.broker_pid = pid;
    return fdy_bench_env_peak_rss_kib(&probe);
}

/* True when agent i runs version 1 of the model, the whole file. */
static bool
s_installed(const fdy_bench_env_t *env, size_t i, uint64_t size)
{
    char path[PATH_MAX + 96], target[32] = "";
    snprintf(path, sizeof path, "%s/bench-node-%zu/models/%s/current", env->dir, i, MODEL_NAME);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0 || strcmp(target, "1") != 0)
        return false;
    snprintf(path, sizeof path, "%s/bench-node-%zu/models/%s/1", env->dir, i, MODEL_NAME);
    struct stat st;
    return stat(path, &st) == 0 && (uint64_t) st.st_size == size;
}

/* Bytes on disk under path (allocated blocks), to report what a run used. */
static uint64_t
s_disk_used(const char *path)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "du -sk '%s' 2>/dev/null", path);
    FILE *p = popen(cmd, "r");
    unsigned long long kib = 0;
    if (p) {
        if (fscanf(p, "%llu", &kib) != 1)
            kib = 0;
        pclose(p);
    }
    return (uint64_t) kib * 1024;
}

/* ---- the run ------------------------------------------------------------------ */

static foundry_err
s_provision(fdy_bench_env_t *env, const char *ctl, size_t agents, char *trust_path,
            char *release_hex)
{
    char pub_hex[65], pub_file[PATH_MAX + 32];
    foundry_err err = foundry_model_keygen(env->client_dir, "bench-release", pub_hex);
    if (err != FOUNDRY_OK) {
        fdy_bench_env_fail("model keygen: %s", foundry_strerror(err));
        return err;
    }
    snprintf(pub_file, sizeof pub_file, "%s/bench-release.sign.pub", env->client_dir);
    const char *trust_args[] = {"model",  "trust",       MODEL_NAME, "--signer",
                                pub_file, "--threshold", "1",        NULL};
    if ((err = fdy_bench_env_ctl(env, ctl, trust_args)) != FOUNDRY_OK)
        return err;
    /* The broker made its release key at start; agents need its public half. */
    char release_file[PATH_MAX + 32];
    snprintf(release_file, sizeof release_file, "%s/release.sign", env->data_dir);
    fdy_sign_key_t *release = NULL;
    fdy_reason_t why = {{0}};
    if (fdy_sign_key_load(release_file, &release, &why) != FOUNDRY_OK) {
        fdy_bench_env_fail("the broker's release key %s: %s", release_file, why.text);
        return FOUNDRY_EIO;
    }
    uint8_t public_key[FDY_MODEL_KEY_LEN];
    fdy_sign_key_public(release, public_key);
    fdy_sign_key_destroy(&release);
    sodium_bin2hex(release_hex, 2 * FDY_MODEL_KEY_LEN + 1, public_key, sizeof public_key);

    if (snprintf(trust_path, PATH_MAX, "%s/node-trust", env->dir) >= PATH_MAX)
        return FOUNDRY_EIO;
    FILE *f = fopen(trust_path, "w");
    if (!f)
        return FOUNDRY_EIO;
    fprintf(f, "%s 1 %s\n", MODEL_NAME, pub_hex);
    fclose(f);
    for (size_t i = 0; i < agents && err == FOUNDRY_OK; i++) {
        char name[32], site[32], pub[PATH_MAX + 64];
        snprintf(name, sizeof name, "bench-node-%zu", i);
        snprintf(site, sizeof site, "site%zu", i);
        snprintf(pub, sizeof pub, "%s/%s.key", env->client_dir, name);
        err = fdy_bench_env_keygen(env, ctl, name);
        const char *args[] = {"key", "add", pub, "--role", "node", "--site", site, NULL};
        if (err == FOUNDRY_OK)
            err = fdy_bench_env_ctl(env, ctl, args);
    }
    return err;
}

static foundry_err
s_push(const fdy_bench_env_t *env, const char *file, const fdy_models_bench_opts_t *opts,
       s_push_clock_t *clock, uint64_t *done_ns)
{
    foundry_client_opts_t copts;
    foundry_client_opts_init(&copts);
    copts.endpoint = env->endpoint;
    copts.broker_key_file = env->broker_key;
    copts.secret_key_file = env->secret_file;
    copts.ack_timeout_ms = 60000;
    foundry_client_t *client = NULL;
    foundry_err err = foundry_client_new(&copts, &client);
    if (err != FOUNDRY_OK) {
        fdy_bench_env_fail("connect: %s", foundry_client_last_error(NULL));
        return err;
    }
    char key[PATH_MAX + 32];
    snprintf(key, sizeof key, "%s/bench-release.sign", env->client_dir);
    const char *keys[] = {key};
    foundry_model_push_opts_t push;
    foundry_model_push_opts_init(&push);
    push.file = file;
    push.name = MODEL_NAME;
    push.version = 1;
    push.chunk_size = opts->chunk_size;
    push.window = opts->window;
    push.sign_key_files = keys;
    push.sign_key_count = 1;
    foundry_model_pushed_t pushed;
    clock->start_ns = fdy_bench_env_now_ns();
    err = foundry_model_push(client, &push, s_on_progress, clock, &pushed);
    *done_ns = fdy_bench_env_now_ns();
    if (err != FOUNDRY_OK)
        fdy_bench_env_fail("model push: %s: %s", foundry_strerror(err),
                           foundry_client_last_error(client));
    else if (pushed.size != opts->size || pushed.chunks_held != 0) {
        fdy_bench_env_fail("model push: %" PRIu64 " bytes, %zu chunks already held: not a "
                           "fresh %" PRIu64 "-byte upload",
                           pushed.size, pushed.chunks_held, opts->size);
        err = FOUNDRY_EIO;
    }
    (void) foundry_client_close(&client, 1000, NULL);
    return err;
}

foundry_err
fdy_models_bench_run(fdy_bench_env_t *env, const char *ctl, const fdy_models_bench_opts_t *opts_in)
{
    fdy_models_bench_opts_t opts = *opts_in;
    char node[PATH_MAX];
    if (!fdy_bench_env_default_binary("node/foundry-node", node, sizeof node)) {
        fdy_bench_env_fail("cannot find foundry-node in the build tree");
        return FOUNDRY_EIO;
    }
    if (sodium_init() < 0)
        return FOUNDRY_EIO;
    size_t agents = opts.agents < AGENTS_MAX ? opts.agents : AGENTS_MAX;
    opts.size = s_fit_size(env->dir, opts.size, agents);
    if (opts.size < SIZE_MIN) {
        fdy_bench_env_fail("not enough free disk for even a %.0f MiB artifact",
                           (double) SIZE_MIN / MIB);
        return FOUNDRY_ENOSPC;
    }
    double size_mb = (double) opts.size / MIB;

    /* The references first, while nothing else of ours runs. */
    double load = fdy_bench_env_load_average();
    double hash_mbs = s_hash_speed();
    printf("blake2b    crypto_generichash 32 B out, 1 MiB calls, one core: %.0f MiB/s "
           "(load %.2f)\n",
           hash_mbs, load);
    double curve_seconds = 0.0, curve_mbs = 0.0;
    if (fdy_baseline_run(CURVE_MSGS, CURVE_MSG_SIZE, &curve_seconds) == FOUNDRY_OK) {
        curve_mbs = (double) CURVE_MSGS * CURVE_MSG_SIZE / MIB / curve_seconds;
        printf("curve      raw libzmq CURVE DEALER->ROUTER, %u x 1 MiB: %.0f MiB/s (load %.2f)\n",
               CURVE_MSGS, curve_mbs, fdy_bench_env_load_average());
    }

    char artifact[PATH_MAX + 32], trust[PATH_MAX] = "", release_hex[2 * FDY_MODEL_KEY_LEN + 1];
    snprintf(artifact, sizeof artifact, "%s/artifact.bin", env->dir);
    uint64_t t0 = fdy_bench_env_now_ns();
    foundry_err err = s_write_artifact(artifact, opts.size);
    if (err == FOUNDRY_OK)
        printf("artifact   %.0f MiB of xorshift bytes written in %.2f s\n", size_mb,
               (double) (fdy_bench_env_now_ns() - t0) / 1e9);
    if (err == FOUNDRY_OK)
        err = s_provision(env, ctl, agents, trust, release_hex);
    pid_t pids[AGENTS_MAX] = {0};
    for (size_t i = 0; i < agents && err == FOUNDRY_OK; i++)
        if ((pids[i] = s_start_agent(env, node, i, trust, release_hex)) <= 0)
            err = FOUNDRY_EIO;

    /* Upload. */
    s_push_clock_t clock = {0};
    uint64_t pushed_ns = 0;
    double load_push = fdy_bench_env_load_average();
    double client_cpu0 = fdy_bench_env_cpu_ms(0);
    double broker_cpu0 = fdy_bench_env_cpu_ms(env->broker_pid);
    if (err == FOUNDRY_OK)
        err = s_push(env, artifact, &opts, &clock, &pushed_ns);
    double client_cpu = fdy_bench_env_cpu_ms(0) - client_cpu0;
    double broker_push_cpu = fdy_bench_env_cpu_ms(env->broker_pid) - broker_cpu0;
    double push_s = (double) (pushed_ns - clock.start_ns) / 1e9;
    double hash_s = clock.hashing_seen && clock.hashed_ns
                        ? (double) (clock.hashed_ns - clock.start_ns) / 1e9
                        : 0.0;
    double upload_mbs = push_s > 0 ? size_mb / push_s : 0.0;
    double upload_only_mbs = push_s > hash_s ? size_mb / (push_s - hash_s) : 0.0;
    uint64_t rss_push = s_peak_rss_kib(env->broker_pid);
    if (err == FOUNDRY_OK && clock.hashing_seen)
        printf("upload     %.0f MiB pushed in %.2f s = %.0f MiB/s, %.0f MB/s (hashing pass %.2f "
               "s, upload %.0f MiB/s after it); broker peak RSS %.1f MiB (load %.2f at start, "
               "%.2f now)\n",
               size_mb, push_s, upload_mbs, upload_mbs * MIB / 1e6, hash_s, upload_only_mbs,
               (double) rss_push / 1024.0, load_push, fdy_bench_env_load_average());
    else if (err == FOUNDRY_OK)
        printf("upload     %.0f MiB pushed in %.2f s = %.0f MiB/s, %.0f MB/s (streamed: each "
               "chunk sent as it was hashed, no hashing pass); broker peak RSS %.1f MiB (load "
               "%.2f at start, %.2f now)\n",
               size_mb, push_s, upload_mbs, upload_mbs * MIB / 1e6, (double) rss_push / 1024.0,
               load_push, fdy_bench_env_load_average());
    if (err == FOUNDRY_OK)
        printf("upload cpu %.2f ms/MiB in the client (hashing, reading, CURVE), %.2f ms/MiB in "
               "the broker: %.2f ms/MiB, a bound of %.0f MiB/s on 2 idle cores\n",
               client_cpu / size_mb, broker_push_cpu / size_mb,
               (client_cpu + broker_push_cpu) / size_mb,
               2000.0 * size_mb / (client_cpu + broker_push_cpu));

    /* Rollout: one wave, every node. */
    double load_rollout = fdy_bench_env_load_average();
    double broker_cpu1 = fdy_bench_env_cpu_ms(env->broker_pid), agents_cpu0 = 0.0;
    for (size_t i = 0; i < agents; i++)
        agents_cpu0 += pids[i] > 0 ? fdy_bench_env_cpu_ms(pids[i]) : 0.0;
    uint64_t r0 = fdy_bench_env_now_ns(), r1 = r0;
    if (err == FOUNDRY_OK) {
        const char *args[] = {"rollout", "start",  MODEL_NAME "@1", "--waves",
                              "*",       "--wait", "30m",           NULL};
        err = fdy_bench_env_ctl_wait(env, ctl, args, 31ull * 60 * 1000);
        r1 = fdy_bench_env_now_ns();
    }
    double rollout_s = (double) (r1 - r0) / 1e9;
    double broker_rollout_cpu = fdy_bench_env_cpu_ms(env->broker_pid) - broker_cpu1;
    double agents_cpu = 0.0;
    for (size_t i = 0; i < agents; i++)
        agents_cpu += pids[i] > 0 ? fdy_bench_env_cpu_ms(pids[i]) : 0.0;
    agents_cpu -= agents_cpu0;
    double rollout_mbs = rollout_s > 0 ? size_mb * (double) agents / rollout_s : 0.0;
    size_t installed = 0;
    for (size_t i = 0; i < agents; i++)
        installed += s_installed(env, i, opts.size);
    uint64_t rss_kib = s_peak_rss_kib(env->broker_pid), agent_rss = 0;
    for (size_t i = 0; i < agents; i++) {
        uint64_t kib = pids[i] > 0 ? s_peak_rss_kib(pids[i]) : 0;
        agent_rss = kib > agent_rss ? kib : agent_rss;
    }
    if (err == FOUNDRY_OK) {
        printf("rollout    %zu agents x %.0f MiB installed and healthy in %.2f s = %.0f MiB/s, "
               "%.0f MB/s aggregate (%.0f MiB/s per agent); %zu of %zu verified on disk (load "
               "%.2f at start, %.2f now)\n",
               agents, size_mb, rollout_s, rollout_mbs, rollout_mbs * MIB / 1e6,
               rollout_mbs / (double) agents, installed,
               agents, load_rollout, fdy_bench_env_load_average());
        double installed_mb = size_mb * (double) agents;
        printf("rollout cpu %.2f ms/MiB installed in the broker (reading blobs, CURVE), %.2f "
               "ms/MiB in the agents (CURVE, hashing, writing): %.2f ms/MiB, a bound of %.0f "
               "MiB/s on 2 idle cores\n",
               broker_rollout_cpu / installed_mb, agents_cpu / installed_mb,
               (broker_rollout_cpu + agents_cpu) / installed_mb,
               2000.0 * installed_mb / (broker_rollout_cpu + agents_cpu));
        printf("memory     broker peak RSS (VmHWM) %.1f MiB (limit 200), largest agent %.1f MiB\n",
               (double) rss_kib / 1024.0, (double) agent_rss / 1024.0);
        printf("disk       %.0f MiB used by the run (source, broker blobs, agents)\n",
               (double) s_disk_used(env->dir) / MIB);
        if (installed != agents) {
            fdy_bench_env_fail("only %zu of %zu agents hold version 1", installed, agents);
            err = FOUNDRY_EIO;
        }
        if (rss_kib > 200u * 1024u && !RSS_CHECKED) {
            fdy_bench_env_fail("note: broker peak RSS %.1f MiB, but this is a sanitizer build: "
                               "not checked",
                               (double) rss_kib / 1024.0);
        } else if (rss_kib > 200u * 1024u) {
            fdy_bench_env_fail("broker peak RSS %.1f MiB is over 200 MiB",
                               (double) rss_kib / 1024.0);
            err = FOUNDRY_EIO;
        }
    }
    for (size_t i = 0; i < agents; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGTERM);
            waitpid(pids[i], NULL, 0);
        }
    printf("{\"bench\":\"models\",\"size_bytes\":%" PRIu64 ",\"agents\":%zu,"
           "\"chunk_size\":%u,\"window\":%u,"
           "\"upload_mib_per_s\":%.1f,\"upload_seconds\":%.3f,\"hash_pass_seconds\":%.3f,"
           "\"rollout_aggregate_mib_per_s\":%.1f,\"rollout_seconds\":%.3f,"
           "\"installed\":%zu,\"upload_client_cpu_ms_per_mib\":%.3f,"
           "\"upload_broker_cpu_ms_per_mib\":%.3f,\"rollout_broker_cpu_ms_per_mib\":%.3f,"
           "\"rollout_agents_cpu_ms_per_mib\":%.3f,\"curve_1mib_mib_per_s\":%.1f,\"blake2b_mib_per_"
           "s\":%.1f,"
           "\"broker_peak_rss_kib\":%" PRIu64 ",\"agent_peak_rss_kib\":%" PRIu64 ","
           "\"load_average_start\":%.2f,\"load_average_push\":%.2f,"
           "\"load_average_rollout\":%.2f,\"load_average_end\":%.2f,\"ok\":%s}\n",
           opts.size, agents, opts.chunk_size, opts.window, upload_mbs, push_s, hash_s, rollout_mbs,
           rollout_s, installed, client_cpu / size_mb, broker_push_cpu / size_mb,
           broker_rollout_cpu / (size_mb * (double) agents),
           agents_cpu / (size_mb * (double) agents), curve_mbs, hash_mbs, rss_kib, agent_rss,
           opts.load_start, load_push, load_rollout, fdy_bench_env_load_average(),
           err == FOUNDRY_OK ? "true" : "false");
    return err;
}
