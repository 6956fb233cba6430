/*  jobs_bench.c: foundry-bench --jobs (jobs_bench.h). The agents are real
 *  foundry-node processes in the bench's directory; their handler is the
 *  worker-mode job_echo_worker built next to the tests (it answers each job
 *  with a counter and the payload). Completion is seen through the jobs
 *  API (no job left queued, leased, running or failed); latency comes from
 *  the broker's created and updated times of a sample of jobs.
 */
#include "jobs_bench.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AGENTS_MAX 16
#define SAMPLES    2000

typedef struct {
    size_t answered;
    size_t failed;
    uint64_t *ids; /* by token - first token */
    uint64_t first_token;
    size_t count;
} s_submits_t;

static void
s_on_submitted(uint64_t token, foundry_err err, uint64_t job_id, const char *reason, void *user)
{
    s_submits_t *s = user;
    s->answered++;
    if (err != FOUNDRY_OK) {
        if (s->failed++ == 0)
            fdy_bench_env_fail("submit refused: %s (%s)", foundry_strerror(err),
                               reason ? reason : "");
        return;
    }
    uint64_t at = token - s->first_token;
    if (at < s->count)
        s->ids[at] = job_id;
}

static pid_t
s_start_agent(const fdy_bench_env_t *env, const char *node, size_t i, const char *worker,
              size_t slots)
{
    char name[32], dir[PATH_MAX + 64], handlers[PATH_MAX + 64], log[PATH_MAX + 64],
        key[PATH_MAX + 64];
    snprintf(name, sizeof name, "bench-node-%zu", i);
    snprintf(dir, sizeof dir, "%s/%s", env->dir, name);
    snprintf(handlers, sizeof handlers, "%s/%s.jobs", env->dir, name);
    snprintf(log, sizeof log, "%s/%s.log", env->dir, name);
    snprintf(key, sizeof key, "%s/%s.key_secret", env->client_dir, name);
    FILE *f = fopen(handlers, "w");
    if (!f)
        return -1;
    fprintf(f, "echo worker %zu 30s -- %s\n", slots, worker);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        fdy_bench_env_child_init();
        FILE *out = freopen(log, "a", stdout);
        (void) out;
        dup2(1, 2);
        execl(node, node, "--site", "pangyo", "--endpoint", env->endpoint, "--key", key,
              "--broker-key", env->broker_key, "--data-dir", dir, "--jobs", handlers,
              "--log-level", "notice", (char *) NULL);
        _exit(127);
    }
    return pid;
}

/* CPU ms used so far by each part of the system: a per-job figure does
 * not depend on how busy the shared machine is. The workers started with
 * the first jobs, so before that they count 0. */
typedef struct {
    double broker, client, agents, workers;
} s_cpu_t;

static void
s_cpu_sample(const fdy_bench_env_t *env, const pid_t *pids, size_t agents, s_cpu_t *out)
{
    *out = (s_cpu_t){fdy_bench_env_cpu_ms(env->broker_pid), fdy_bench_env_cpu_ms(0), 0.0, 0.0};
    for (size_t i = 0; i < agents; i++)
        if (pids[i] > 0) {
            out->agents += fdy_bench_env_cpu_ms(pids[i]);
            out->workers += fdy_bench_env_children_cpu_ms(pids[i]);
        }
}

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static size_t s_counted;

static void
s_count(const foundry_job_info_t *info, void *user)
{
    (void) info;
    (void) user;
    s_counted++;
}

/* True once no job is waiting or running. */
static bool
s_all_done(foundry_client_t *c)
{
    const char *states[] = {"queued", "leased", "running", "failed"};
    for (size_t i = 0; i < 4; i++) {
        s_counted = 0;
        if (foundry_job_list(c, states[i], s_count, NULL) != FOUNDRY_OK || s_counted)
            return false;
    }
    return true;
}

/* True once the last job submitted has ended: jobs run about in submit
 * order, so only then is listing every job (which the broker pays for,
 * in the figures) worth it. */
static bool
s_last_done(foundry_client_t *c, const s_submits_t *s)
{
    const foundry_job_info_t *info = NULL;
    if (!s->count || foundry_job_status(c, s->ids[s->count - 1], &info) != FOUNDRY_OK)
        return false;
    return info->state != FOUNDRY_JOB_QUEUED && info->state != FOUNDRY_JOB_LEASED &&
           info->state != FOUNDRY_JOB_RUNNING && info->state != FOUNDRY_JOB_FAILED;
}

foundry_err
fdy_jobs_bench_run(const fdy_bench_env_t *env, const char *ctl, const fdy_jobs_bench_opts_t *opts)
{
    char node[PATH_MAX], worker[PATH_MAX];
    /* FOUNDRY_NODE (as for the integration tests) may name another agent
     * binary, e.g. a wrapper that profiles it. */
    const char *node_env = getenv("FOUNDRY_NODE");
    if (node_env && *node_env)
        snprintf(node, sizeof node, "%s", node_env);
    if ((!(node_env && *node_env) &&
         !fdy_bench_env_default_binary("node/foundry-node", node, sizeof node)) ||
        !fdy_bench_env_default_binary("tests/job_echo_worker", worker, sizeof worker)) {
        fdy_bench_env_fail("cannot find foundry-node and job_echo_worker in the build tree");
        return FOUNDRY_EIO;
    }
    size_t agents = opts->agents < AGENTS_MAX ? opts->agents : AGENTS_MAX;
    pid_t pids[AGENTS_MAX] = {0};
    foundry_err err = FOUNDRY_OK;
    for (size_t i = 0; i < agents && err == FOUNDRY_OK; i++) {
        char name[32], pub[PATH_MAX + 64];
        snprintf(name, sizeof name, "bench-node-%zu", i);
        snprintf(pub, sizeof pub, "%s/%s.key", env->client_dir, name);
        err = fdy_bench_env_keygen(env, ctl, name);
        const char *args[] = {"key", "add", pub, "--role", "node", "--site", "pangyo", NULL};
        if (err == FOUNDRY_OK)
            err = fdy_bench_env_ctl(env, ctl, args);
        if (err == FOUNDRY_OK && (pids[i] = s_start_agent(env, node, i, worker, opts->slots)) <= 0)
            err = FOUNDRY_EIO;
    }
    foundry_client_t *client = NULL;
    s_submits_t submits = {0};
    submits.count = opts->count;
    submits.ids = calloc(opts->count, sizeof *submits.ids);
    uint8_t *payload = malloc(opts->payload_size ? opts->payload_size : 1);
    if (!submits.ids || !payload)
        err = FOUNDRY_ENOMEM;
    memset(payload, 'j', opts->payload_size);
    if (err == FOUNDRY_OK) {
        foundry_client_opts_t copts;
        foundry_client_opts_init(&copts);
        copts.endpoint = env->endpoint;
        copts.broker_key_file = env->broker_key;
        copts.secret_key_file = env->secret_file;
        copts.ack_timeout_ms = 60000;
        err = foundry_client_new(&copts, &client);
        if (err != FOUNDRY_OK)
            fdy_bench_env_fail("connect: %s", foundry_client_last_error(NULL));
    }
    /* The agents registered once node ls shows them all with free slots. */
    if (err == FOUNDRY_OK) {
        struct timespec nap = {0, 200 * 1000 * 1000};
        nanosleep(&nap, NULL); /* a start-up grace, not a synchronisation: offers wait anyway */
        foundry_client_set_job_handler(client, s_on_submitted, &submits);
    }
    s_cpu_t cpu0, cpu1;
    s_cpu_sample(env, pids, agents, &cpu0);
    uint64_t start_ns = fdy_bench_env_now_ns(), submitted_ns = 0, done_ns = 0;
    foundry_job_spec_t spec;
    foundry_job_spec_init(&spec);
    spec.type = "echo";
    spec.payload = payload;
    spec.payload_len = opts->payload_size;
    for (size_t i = 0; err == FOUNDRY_OK && i < opts->count; i++) {
        uint64_t token = 0;
        err = foundry_job_submit_async(client, &spec, &token);
        if (i == 0)
            submits.first_token = token;
        if (err != FOUNDRY_OK)
            fdy_bench_env_fail("submit: %s", foundry_client_last_error(client));
    }
    if (err == FOUNDRY_OK && (err = foundry_job_flush(client, 120000)) != FOUNDRY_OK)
        fdy_bench_env_fail("flush: %s", foundry_client_last_error(client));
    submitted_ns = fdy_bench_env_now_ns();
    if (err == FOUNDRY_OK && submits.failed)
        err = FOUNDRY_EIO;
    uint64_t deadline = submitted_ns + 600ull * 1000000000ull;
    while (err == FOUNDRY_OK && !(s_last_done(client, &submits) && s_all_done(client))) {
        if (fdy_bench_env_now_ns() > deadline) {
            fdy_bench_env_fail("jobs not done after 10 minutes");
            err = FOUNDRY_ETIMEDOUT;
        }
        foundry_err perr = foundry_client_poll(client, 50);
        (void) perr;
    }
    done_ns = fdy_bench_env_now_ns();
    s_cpu_sample(env, pids, agents, &cpu1);
    if (err == FOUNDRY_OK) {
        uint64_t lat[SAMPLES];
        size_t n = 0, bad = 0;
        size_t step = opts->count / SAMPLES ? opts->count / SAMPLES : 1;
        for (size_t i = 0; i < opts->count && n < SAMPLES; i += step) {
            const foundry_job_info_t *info = NULL;
            if (foundry_job_status(client, submits.ids[i], &info) != FOUNDRY_OK ||
                info->state != FOUNDRY_JOB_SUCCEEDED || info->attempt != 1) {
                bad++;
                continue;
            }
            lat[n++] = info->updated_ms - info->created_ms;
        }
        qsort(lat, n, sizeof lat[0], s_cmp_u64);
        double seconds = (double) (done_ns - start_ns) / 1e9;
        double rate = (double) opts->count / seconds;
        printf("jobs       %zu jobs, %zu agents (worker mode, job_echo_worker, %zu slots each), "
               "payload %zu B: submit %.3f s, all results stored after %.3f s = %.0f jobs/s; "
               "submit-to-result latency p50 %" PRIu64 " ms, p99 %" PRIu64 " ms (%zu sampled)\n",
               opts->count, agents, opts->slots, opts->payload_size,
               (double) (submitted_ns - start_ns) / 1e9, seconds, rate,
               n ? lat[n / 2] : 0, n ? lat[(n * 99) / 100] : 0, n);
        double per_job = 1000.0 / (double) opts->count; /* ms in total -> us per job */
        double broker = (cpu1.broker - cpu0.broker) * per_job,
               submitter = (cpu1.client - cpu0.client) * per_job,
               nodes = (cpu1.agents - cpu0.agents) * per_job,
               workers = (cpu1.workers - cpu0.workers) * per_job;
        printf("jobs cpu   us per job: broker %.1f, submitter %.1f, agents %.1f, workers %.1f; "
               "total %.1f\n",
               broker, submitter, nodes, workers, broker + submitter + nodes + workers);
        if (opts->baseline_msgs_per_s > 0)
            printf("ratio      jobs/s / raw CURVE msgs/s: %.4f\n",
                   rate / opts->baseline_msgs_per_s);
        if (bad) {
            fdy_bench_env_fail("%zu sampled jobs not succeeded once", bad);
            err = FOUNDRY_EIO;
        }
    }
    if (client)
        (void) foundry_client_close(&client, 1000, NULL);
    for (size_t i = 0; i < agents; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGTERM);
            waitpid(pids[i], NULL, 0);
        }
    free(submits.ids);
    free(payload);
    return err;
}
