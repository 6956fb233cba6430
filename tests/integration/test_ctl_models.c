/*  test_ctl_models.c: `foundryctl model` and `rollout` against the real
 *  broker: signing keys and a 2-of-2 trust policy, a push killed in the
 *  middle and pushed again (only the missing chunks are sent), refusals
 *  with the broker's reason (old version, too few signatures), ls and
 *  show, the release log verified against the release key (and refused
 *  against another key), rollbacks, a fleet-job rollout over two real
 *  node agents followed with --wait, and the rollout commands' argument
 *  checks and errors. Files stay a few MiB.
 */
#include "node_proc.h"
#include "proc.h"

#include "clock.h"
#include "model_sign.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define CHUNK_ARG "64KiB"
#define CHUNK     (64u * 1024u)
#define CHUNKS    48u
#define WAIT_MS   60000

/* ---- helpers ------------------------------------------------------------------ */

static void
s_path(const fdy_proc_t *p, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", fdy_proc_dir(p), name);
}

/* A file of n chunks of pseudo-random bytes (no two chunks alike). */
static void
s_write_model(const char *path, size_t chunks, uint32_t seed)
{
    FILE *f = fopen(path, "wb");
    FDY_CHECK_MSG(f, "%s: %s", path, strerror(errno));
    uint32_t x = seed * 2654435761u + 1u;
    static uint8_t buf[CHUNK];
    for (size_t c = 0; c < chunks; c++) {
        for (size_t i = 0; i < CHUNK; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            buf[i] = (uint8_t) x;
        }
        FDY_CHECK(fwrite(buf, 1, CHUNK, f) == CHUNK);
    }
    FDY_CHECK(fclose(f) == 0);
}

/* Runs foundryctl --json ARGV and expects exit `status`; returns the run. */
static void
s_run(fdy_proc_t *p, int status, fdy_proc_run_t *run, const char *const *argv)
{
    FDY_CHECK_OK(fdy_proc_ctlv(p, NULL, argv, run));
    FDY_CHECK_RUN(run, status);
}

/* Expects a failure with exit status `status` whose error line (the last
 * line on stderr: a push prints its progress there first) is
 * "foundryctl: ..." and contains `needle`. */
static void
s_refused(fdy_proc_t *p, int status, const char *needle, const char *const *argv)
{
    fdy_proc_run_t run;
    s_run(p, status, &run, argv);
    FDY_CHECK(run.err_len > 0);
    size_t end = run.err_len;
    if (end && run.err[end - 1] == '\n')
        end--;
    size_t start = end;
    while (start > 0 && run.err[start - 1] != '\n')
        start--;
    const char *line = run.err + start;
    FDY_CHECK_MSG(strncmp(line, "foundryctl: ", 12) == 0, "last stderr line \"%s\"", line);
    FDY_CHECK_MSG(strstr(line, needle), "stderr \"%s\" lacks \"%s\"", line, needle);
    fdy_proc_run_clear(&run);
}

static fdy_json_t *
s_json(fdy_proc_t *p, const char *const *argv)
{
    return fdy_proc_ctl_json(p, argv);
}

/* The push command line for file and version, with both signing keys or
 * only the first. argv must hold 24 entries. */
static void
s_push_argv(const fdy_proc_t *p, const char **argv, char paths[3][600], const char *file,
            const char *version, bool both_keys, const char *window)
{
    s_path(p, file, paths[0], sizeof paths[0]);
    s_path(p, "alice.sign", paths[1], sizeof paths[1]);
    s_path(p, "bob.sign", paths[2], sizeof paths[2]);
    size_t n = 0;
    argv[n++] = "model";
    argv[n++] = "push";
    argv[n++] = paths[0];
    argv[n++] = "--name";
    argv[n++] = "detector";
    argv[n++] = "--model-version";
    argv[n++] = version;
    argv[n++] = "--chunk-size";
    argv[n++] = CHUNK_ARG;
    argv[n++] = "--window";
    argv[n++] = window;
    argv[n++] = "--sign";
    argv[n++] = paths[1];
    if (both_keys) {
        argv[n++] = "--sign";
        argv[n++] = paths[2];
    }
    argv[n++] = "--site";
    argv[n++] = "siheung";
    argv[n++] = "--meta";
    argv[n++] = "framework=onnx";
    argv[n] = NULL;
}

/* Two signing keys and the 2-of-2 policy for "detector". */
static void
s_keys_and_trust(fdy_proc_t *p)
{
    const char *names[] = {"alice", "bob"};
    for (size_t i = 0; i < 2; i++) {
        const char *argv[] = {"model", "keygen", names[i], "--dir", fdy_proc_dir(p), NULL};
        fdy_proc_ctl_opts_t opts = {.no_auth = true};
        fdy_proc_run_t run;
        FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, argv, &run));
        FDY_CHECK_RUN(&run, 0);
        fdy_proc_run_clear(&run);
        char secret[600];
        snprintf(secret, sizeof secret, "%s/%s.sign", fdy_proc_dir(p), names[i]);
        struct stat st;
        FDY_CHECK(stat(secret, &st) == 0);
        FDY_CHECK_MSG((st.st_mode & 077) == 0, "%s mode %o", secret, (unsigned) st.st_mode & 0777);
    }
    char a[600], b[600];
    s_path(p, "alice.sign.pub", a, sizeof a);
    s_path(p, "bob.sign.pub", b, sizeof b);
    const char *argv[] = {"model",    "trust", "detector",    "--signer", a,
                          "--signer", b,       "--threshold", "2",        NULL};
    fdy_json_t *json = s_json(p, argv);
    const fdy_json_t *row = fdy_proc_one_row(json);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "threshold"), 2);
    fdy_proc_json_destroy(&json);
    const char *ls[] = {"model", "trust", "ls", NULL};
    json = s_json(p, ls);
    FDY_CHECK_EQ(fdy_proc_json_count(json), 1);
    fdy_proc_json_destroy(&json);

    /* Exported as an agent's model_trust_file, it reads back the same. */
    char policy_file[600];
    s_path(p, "trust.policy", policy_file, sizeof policy_file);
    const char *export[] = {"model", "trust", "ls", "--export", policy_file, NULL};
    fdy_proc_run_t run;
    s_run(p, 0, &run, export);
    fdy_proc_run_clear(&run);
    fdy_trust_set_t *set = NULL;
    fdy_reason_t reason = {{0}};
    FDY_CHECK_MSG(fdy_trust_set_load(policy_file, &set, &reason) == FOUNDRY_OK, "%s", reason.text);
    const fdy_trust_policy_t *policy = fdy_trust_set_find(set, "detector");
    FDY_CHECK(policy);
    FDY_CHECK_EQ(policy->threshold, 2);
    FDY_CHECK_EQ(policy->key_count, 2);
    uint8_t alice[FDY_MODEL_KEY_LEN];
    FDY_CHECK_OK(fdy_sign_public_load(a, alice, &reason));
    FDY_CHECK(memcmp(policy->keys[0], alice, sizeof alice) == 0 ||
              memcmp(policy->keys[1], alice, sizeof alice) == 0);
    fdy_trust_set_destroy(&set);
}

/* Starts `foundryctl ARGV` with the admin credentials, its stderr on a
 * pipe (*err_fd), and returns its pid. */
static pid_t
s_spawn(fdy_proc_t *p, const char *const *argv, int *err_fd)
{
    const char *ctl = getenv("FOUNDRY_CTL");
    FDY_CHECK(ctl);
    char pub[512], secret[512];
    fdy_proc_key_paths(p, "admin", pub, secret);
    const char *full[40] = {ctl,    "--endpoint",   fdy_proc_endpoint(p),  "--key",
                            secret, "--broker-key", fdy_proc_broker_key(p)};
    size_t n = 7;
    for (size_t i = 0; argv[i] && n < 39; i++)
        full[n++] = argv[i];
    full[n] = NULL;
    int fds[2];
    FDY_CHECK(pipe(fds) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, ctl, &actions, NULL, (char *const *) full, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    FDY_CHECK_MSG(rc == 0, "posix_spawn %s: %s", ctl, strerror(rc));
    *err_fd = fds[0];
    return pid;
}

/* Reads the child's plain progress lines until one says it has sent at
 * least one chunk but not all, within the deadline. */
static bool
s_saw_partial_upload(int fd)
{
    char buf[8192];
    size_t len = 0;
    int64_t deadline = fdy_clock_mono_ms() + WAIT_MS;
    while (fdy_clock_mono_ms() < deadline) {
        struct pollfd item = {fd, POLLIN, 0};
        if (poll(&item, 1, 200) <= 0)
            continue;
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            return false; /* it ended before sending anything */
        len += (size_t) n;
        buf[len] = '\0';
        char *nl;
        while ((nl = strchr(buf, '\n'))) {
            *nl = '\0';
            unsigned sent = 0, held = 0;
            const char *at = strstr(buf, " sent ");
            if (strncmp(buf, "uploading", 9) == 0 && at &&
                sscanf(at, " sent %u held %u", &sent, &held) == 2 && sent > 0 &&
                sent + held < CHUNKS)
                return true;
            len -= (size_t) (nl + 1 - buf);
            memmove(buf, nl + 1, len + 1);
        }
        if (len == sizeof buf - 1)
            len = 0;
    }
    return false;
}

/* ---- tests -------------------------------------------------------------------- */

static void
test_ctl_models_push_resume_log_rollback(void)
{
    fdy_proc_t *p = fdy_proc_new("ctl-models");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_keys_and_trust(p);
    char model_path[600];
    s_path(p, "detector.onnx", model_path, sizeof model_path);
    s_write_model(model_path, CHUNKS, 1);

    /* A push killed once it has sent some chunks (window 1: one at a time,
     * each acknowledged only once it is on the broker's disk). */
    const char *argv[24];
    char paths[3][600];
    s_push_argv(p, argv, paths, "detector.onnx", "1", true, "1");
    int err_fd = -1;
    pid_t pid = s_spawn(p, argv, &err_fd);
    bool partial = s_saw_partial_upload(err_fd);
    kill(pid, SIGKILL);
    int wstatus = 0;
    FDY_CHECK(waitpid(pid, &wstatus, 0) == pid);
    close(err_fd);
    FDY_CHECK_MSG(partial, "the first push never reported a partial upload");
    FDY_CHECK_MSG(WIFSIGNALED(wstatus), "the first push finished before it was killed");
    const char *ls[] = {"model", "ls", NULL};
    fdy_json_t *json = s_json(p, ls);
    FDY_CHECK_EQ(fdy_proc_json_count(json), 0); /* nothing published */
    fdy_proc_json_destroy(&json);

    /* The same command again sends only what is missing. */
    s_push_argv(p, argv, paths, "detector.onnx", "1", true, "8");
    json = s_json(p, argv);
    const fdy_json_t *row = fdy_proc_one_row(json);
    int64_t held = fdy_proc_row_int(row, "chunks_held");
    int64_t sent = fdy_proc_row_int(row, "chunks_sent");
    FDY_CHECK_EQ(fdy_proc_row_int(row, "chunks"), CHUNKS);
    FDY_CHECK_MSG(held > 0 && sent < (int64_t) CHUNKS, "resume: held %" PRId64 " sent %" PRId64,
                  held, sent);
    FDY_CHECK_EQ(held + sent, CHUNKS);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "version"), 1);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "log_index"), 1);
    fdy_proc_json_destroy(&json);

    /* Refusals carry the broker's reason. */
    s_refused(p, 1, "version", argv);
    s_push_argv(p, argv, paths, "detector.onnx", "2", false, "8");
    s_refused(p, 1, "1 of 2", argv);

    /* Version 2 of the same bytes: every chunk is held already. */
    s_push_argv(p, argv, paths, "detector.onnx", "2", true, "8");
    json = s_json(p, argv);
    row = fdy_proc_one_row(json);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "chunks_sent"), 0);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "log_index"), 2);
    fdy_proc_json_destroy(&json);

    const char *show[] = {"model", "show", "detector", NULL};
    json = s_json(p, show);
    row = fdy_proc_one_row(json);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "version"), 2);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "signatures"), 2);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "chunks"), CHUNKS);
    fdy_proc_json_destroy(&json);
    const char *show_v1[] = {"model", "show", "detector@1", NULL};
    json = s_json(p, show_v1);
    FDY_CHECK_EQ(fdy_proc_row_int(fdy_proc_one_row(json), "version"), 1);
    fdy_proc_json_destroy(&json);

    /* The log verifies against the release key, and not against another. */
    const char *release[] = {"model", "release-key", NULL};
    json = s_json(p, release);
    char release_hex[80];
    fdy_proc_row_str(fdy_proc_one_row(json), "key", release_hex, sizeof release_hex);
    fdy_proc_json_destroy(&json);
    const char *log[] = {"model", "log", "detector", "--release-key", release_hex, NULL};
    json = s_json(p, log);
    FDY_CHECK_EQ(fdy_proc_json_count(json), 2);
    FDY_CHECK_EQ(fdy_proc_row_int(fdy_proc_json_at(json, 1), "version"), 2);
    fdy_proc_json_destroy(&json);
    char alice_pub[600];
    s_path(p, "alice.sign.pub", alice_pub, sizeof alice_pub);
    const char *bad_log[] = {"model", "log", "detector", "--release-key", alice_pub, NULL};
    s_refused(p, 1, "entry 1", bad_log);

    /* Rollback to 1, then to 2 again: each above every release version. */
    const char *back[] = {"model",  "rollback", "detector", "--to",   "1",
                          "--sign", paths[1],   "--sign",   paths[2], NULL};
    json = s_json(p, back);
    row = fdy_proc_one_row(json);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "version"), 1);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "log_index"), 3);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "chunks_sent"), 0);
    fdy_proc_json_destroy(&json);
    json = s_json(p, show);
    row = fdy_proc_one_row(json);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "version"), 1);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "rollback"), 1);
    fdy_proc_json_destroy(&json);
    /* A rollback "forward" is a new version instead; then a second
     * rollback, whose release version must be above the first one's. */
    const char *forward[] = {"model",  "rollback", "detector", "--to",   "2",
                             "--sign", paths[1],   "--sign",   paths[2], NULL};
    s_refused(p, 1, "push it as a new version", forward);
    s_push_argv(p, argv, paths, "detector.onnx", "3", true, "8");
    json = s_json(p, argv);
    FDY_CHECK_EQ(fdy_proc_row_int(fdy_proc_one_row(json), "log_index"), 4);
    fdy_proc_json_destroy(&json);
    const char *again[] = {"model",  "rollback", "detector", "--to",   "2",
                           "--sign", paths[1],   "--sign",   paths[2], NULL};
    json = s_json(p, again);
    row = fdy_proc_one_row(json);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "version"), 2);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "log_index"), 5);
    fdy_proc_json_destroy(&json);
    json = s_json(p, log);
    FDY_CHECK_EQ(fdy_proc_json_count(json), 5);
    FDY_CHECK_EQ(fdy_proc_row_int(fdy_proc_json_at(json, 2), "rollback"), 1);
    FDY_CHECK_EQ(fdy_proc_row_int(fdy_proc_json_at(json, 2), "version"), 1);
    FDY_CHECK_EQ(fdy_proc_row_int(fdy_proc_json_at(json, 4), "rollback"), 1);
    FDY_CHECK_EQ(fdy_proc_row_int(fdy_proc_json_at(json, 4), "version"), 2);
    fdy_proc_json_destroy(&json);
    const char *never[] = {"model", "rollback", "detector", "--to", "9", "--sign", paths[1], NULL};
    s_refused(p, 1, "no version 9", never);

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_ctl_models_bad_arguments(void)
{
    fdy_proc_t *p = fdy_proc_new("ctl-models-args");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    const char *bad_name[] = {"model",           "push", "x.onnx", "--name", "Bad",
                              "--model-version", "1",    "--sign", "k.sign", NULL};
    s_refused(p, 2, "bad model name 'Bad'", bad_name);
    const char *no_version[] = {"model", "push",   "x.onnx", "--name",
                                "det",   "--sign", "k.sign", NULL};
    s_refused(p, 2, "--model-version", no_version);
    const char *bad_chunk[] = {
        "model", "push",   "x.onnx", "--name",       "det",  "--model-version",
        "1",     "--sign", "k.sign", "--chunk-size", "1KiB", NULL};
    s_refused(p, 2, "--chunk-size", bad_chunk);
    const char *bad_label[] = {"model", "push", "x.onnx", "--label", "gpu", NULL};
    s_refused(p, 2, "--label 'gpu' is not key=value", bad_label);
    const char *unversioned[] = {"rollout", "start", "detector", NULL};
    s_refused(p, 2, "needs a version", unversioned);
    const char *bad_waves[] = {"rollout", "start", "detector@1", "--waves", "*;siheung", NULL};
    s_refused(p, 2, "last wave", bad_waves);
    const char *bad_gate[] = {"rollout", "start", "detector@1", "--gate", "errors=0", NULL};
    s_refused(p, 2, "use ==", bad_gate);
    const char *both[] = {"rollout", "start", "detector@1", "--job", "recalibrate", NULL};
    s_refused(p, 2, "not both", both);
    const char *bad_id[] = {"rollout", "pause", "x", NULL};
    s_refused(p, 2, "bad rollout id", bad_id);

    /* Runtime errors: exit 1 with the broker's reason. */
    const char *missing[] = {"model", "show", "nosuch", NULL};
    s_refused(p, 1, "nosuch", missing);
    const char *no_rollout[] = {"rollout", "status", "99", NULL};
    s_refused(p, 1, "99", no_rollout);
    const char *no_model[] = {"rollout", "start", "nosuch@1", NULL};
    s_refused(p, 1, "nosuch", no_model);
    const char *rollouts[] = {"rollout", "ls", NULL};
    fdy_json_t *json = s_json(p, rollouts);
    FDY_CHECK_EQ(fdy_proc_json_count(json), 0);
    fdy_proc_json_destroy(&json);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A node agent at site that runs job type "calibrate" with /bin/cat. */
static void
s_node_start(fdy_proc_t *p, fdy_node_proc_t *node, const char *name, const char *site,
             char *handlers, size_t size)
{
    snprintf(handlers, size, "%s/%s.jobs", fdy_proc_dir(p), name);
    FILE *f = fopen(handlers, "w");
    FDY_CHECK(f);
    fputs("calibrate exec 1 10s -- /bin/cat\n", f);
    FDY_CHECK(fclose(f) == 0);
    fdy_proc_key_add(p, name, "--role", "node", "--site", site, NULL);
    fdy_node_proc_init(node, p, name);
    node->site = site;
    node->key_name = name;
    node->extra[0] = "--jobs";
    node->extra[1] = handlers;
    node->extra[2] = NULL;
    fdy_node_proc_start(node, -1, true);
}

/* Waits (deadline) until `node ls` shows count connected agents. */
static void
s_wait_nodes(fdy_proc_t *p, size_t count)
{
    const char *argv[] = {"node", "ls", NULL};
    int64_t deadline = fdy_clock_mono_ms() + WAIT_MS;
    for (;;) {
        fdy_json_t *json = s_json(p, argv);
        size_t connected = 0;
        for (size_t i = 0; i < fdy_proc_json_count(json); i++)
            connected += fdy_proc_row_int(fdy_proc_json_at(json, i), "connected") == 1;
        fdy_proc_json_destroy(&json);
        if (connected >= count)
            return;
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "only %zu of %zu agents registered",
                      connected, count);
        fdy_proc_nap_ms(50);
    }
}

static void
test_ctl_models_fleet_job_rollout(void)
{
    fdy_proc_t *p = fdy_proc_new("ctl-rollout");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_node_proc_t a, b;
    char handlers_a[700], handlers_b[700];
    s_node_start(p, &a, "node-siheung", "siheung", handlers_a, sizeof handlers_a);
    s_node_start(p, &b, "node-pangyo", "pangyo", handlers_b, sizeof handlers_b);
    s_wait_nodes(p, 2);

    /* --wait follows it to the end: one line per change, exit 0. */
    const char *start[] = {"rollout", "start",   "--job",     "calibrate",     "--data",
                           "full",    "--waves", "siheung;*", "--run-timeout", "30s",
                           "--wait",  "60s",     NULL};
    fdy_proc_run_t run;
    s_run(p, 0, &run, start);
    const char *last = run.out;
    for (const char *at = run.out; *at; at++)
        if (at[0] == '\n' && at[1])
            last = at + 1;
    FDY_CHECK_MSG(strncmp(last, "rollout 1 succeeded", 19) == 0, "last line \"%s\"", last);
    FDY_CHECK_MSG(strstr(last, "healthy 2 failed 0"), "last line \"%s\"", last);
    fdy_proc_run_clear(&run);

    const char *status[] = {"rollout", "status", "1", NULL};
    fdy_json_t *json = s_json(p, status);
    FDY_CHECK_EQ(fdy_proc_json_count(json), 2);
    for (size_t i = 0; i < 2; i++) {
        const fdy_json_t *row = fdy_proc_json_at(json, i);
        char site[64], state[64];
        fdy_proc_row_str(row, "site", site, sizeof site);
        fdy_proc_row_str(row, "state", state, sizeof state);
        FDY_CHECK_STR(state, "healthy");
        FDY_CHECK_EQ(fdy_proc_row_int(row, "wave"), strcmp(site, "siheung") == 0 ? 1 : 2);
    }
    fdy_proc_json_destroy(&json);
    const char *ls[] = {"rollout", "ls", NULL};
    json = s_json(p, ls);
    const fdy_json_t *row = fdy_proc_one_row(json);
    char state[64];
    fdy_proc_row_str(row, "state", state, sizeof state);
    FDY_CHECK_STR(state, "succeeded");
    FDY_CHECK_EQ(fdy_proc_row_int(row, "healthy"), 2);
    fdy_proc_json_destroy(&json);
    /* A finished rollout cannot be paused: the broker says why. */
    const char *pause[] = {"rollout", "pause", "1", NULL};
    fdy_proc_run_t refused;
    s_run(p, 1, &refused, pause);
    FDY_CHECK(strncmp(refused.err, "foundryctl: ", 12) == 0);
    fdy_proc_run_clear(&refused);

    FDY_NODE_CHECK(&a, fdy_node_proc_stop(&a) == 0, "node stop");
    FDY_NODE_CHECK(&b, fdy_node_proc_stop(&b) == 0, "node stop");
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    const fdy_proc_test_t tests[] = {
        {"push_resume_log_rollback", test_ctl_models_push_resume_log_rollback},
        {"bad_arguments", test_ctl_models_bad_arguments},
        {"fleet_job_rollout", test_ctl_models_fleet_job_rollout},
    };
    return fdy_proc_run_tests("ctl_models", tests, sizeof tests / sizeof tests[0], argc, argv);
}
