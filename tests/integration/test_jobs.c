/*  test_jobs.c: jobs end to end with the real broker, real foundry-node
 *  agents and real exec-mode handlers (shell scripts run by argv, written
 *  by each test into its directory). Covers routing by site and label,
 *  results and tenant isolation, retries with back-off into dead, the
 *  timeout that kills a whole process group, cancel of queued and running
 *  jobs, idempotent resubmit, why a job waits, bad input, fencing against
 *  stale results and heartbeats, and a broker SIGKILL mid-run.
 */
#include "clock.h"
#include "node_proc.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PATH_LEN FDY_NODE_PROC_PATH_LEN
/* Short leases, so lost nodes and dead brokers are noticed within a test. */
static const char *const s_broker_args[] = {"--set", "job_node_timeout_ms=1500", NULL};

/* ---- helpers ------------------------------------------------------------------- */

/* Writes an executable script `name` in the test directory. */
static void
s_script(fdy_proc_t *p, const char *name, const char *body, char *path_out)
{
    snprintf(path_out, PATH_LEN, "%s/%s", fdy_proc_dir(p), name);
    FILE *f = fopen(path_out, "w");
    FDY_CHECK(f != NULL);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    FDY_CHECK(chmod(path_out, 0755) == 0);
}

/* Writes a handlers file and returns its path. */
static void
s_handlers(fdy_proc_t *p, const char *name, const char *text, char *path_out)
{
    snprintf(path_out, PATH_LEN, "%s/%s", fdy_proc_dir(p), name);
    FILE *f = fopen(path_out, "w");
    FDY_CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

typedef struct {
    fdy_node_proc_t proc;
    char handlers[PATH_LEN];
    char labels[128];
} s_agent_t;

/* A node agent at site with its own key, handlers file and labels. */
static void
s_agent_start(fdy_proc_t *p, s_agent_t *a, const char *name, const char *site,
              const char *handlers_text, const char *labels)
{
    char file[64];
    snprintf(file, sizeof file, "%s.jobs", name);
    s_handlers(p, file, handlers_text, a->handlers);
    snprintf(a->labels, sizeof a->labels, "%s", labels ? labels : "");
    fdy_proc_key_add(p, name, "--role", "node", "--site", site, NULL);
    fdy_node_proc_init(&a->proc, p, name);
    a->proc.site = site;
    a->proc.key_name = name;
    size_t n = 0;
    a->proc.extra[n++] = "--jobs";
    a->proc.extra[n++] = a->handlers;
    a->proc.extra[n++] = "--set";
    a->proc.extra[n++] = "job_heartbeat=200ms";
    if (labels) {
        a->proc.extra[n++] = "--labels";
        a->proc.extra[n++] = a->labels;
    }
    a->proc.extra[n] = NULL;
    fdy_node_proc_start(&a->proc, -1, true);
}

static foundry_client_t *
s_client(fdy_proc_t *p, const char *name)
{
    foundry_client_t *c = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, name, NULL, &c));
    return c;
}

static uint64_t
s_submit(foundry_client_t *c, const char *type, const char *site, const char *label,
         const char *payload)
{
    foundry_job_spec_t spec;
    foundry_job_spec_init(&spec);
    spec.type = type;
    const char *sites[] = {site};
    const char *labels[] = {label};
    if (site) {
        spec.sites = sites;
        spec.site_count = 1;
    }
    if (label) {
        spec.labels = labels;
        spec.label_count = 1;
    }
    spec.payload = payload;
    spec.payload_len = payload ? strlen(payload) : 0;
    spec.backoff_initial_ms = 50;
    spec.max_attempts = 3;
    uint64_t id = 0;
    foundry_err err = foundry_job_submit(c, &spec, &id, NULL);
    FDY_CHECK_MSG(err == FOUNDRY_OK, "submit %s: %s", type, foundry_client_last_error(c));
    FDY_CHECK(id > 0);
    return id;
}

static const foundry_job_info_t *
s_wait(foundry_client_t *c, uint64_t id, int timeout_ms)
{
    const foundry_job_info_t *info = NULL;
    foundry_err err = foundry_job_wait(c, id, timeout_ms, &info);
    FDY_CHECK_MSG(err == FOUNDRY_OK, "job %" PRIu64 ": %s (%s)", id, foundry_strerror(err),
                  foundry_client_last_error(c));
    return info;
}

/* Polls until job `id` is in `state` (deadline). */
static const foundry_job_info_t *
s_wait_state(foundry_client_t *c, uint64_t id, foundry_job_state state, int timeout_ms)
{
    int64_t deadline = fdy_clock_mono_ms() + timeout_ms;
    const foundry_job_info_t *info = NULL;
    for (;;) {
        FDY_CHECK_OK(foundry_job_status(c, id, &info));
        if (info->state == state)
            return info;
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "job %" PRIu64 " is %s, not %s", id,
                      info->state_name, foundry_job_state_name(state));
        foundry_err err = foundry_client_poll(c, 20);
        (void) err;
    }
}

static bool
s_pid_alive(const char *pid_file)
{
    FILE *f = fopen(pid_file, "r");
    if (!f)
        return false;
    long pid = 0;
    bool got = fscanf(f, "%ld", &pid) == 1;
    fclose(f);
    if (!got || pid <= 0)
        return false;
    /* A killed orphan may linger as a zombie of the harness (a subreaper):
     * reap it, and count a zombie as dead. */
    (void) waitpid((pid_t) pid, NULL, WNOHANG);
    char stat_path[64], state = '?';
    snprintf(stat_path, sizeof stat_path, "/proc/%ld/stat", pid);
    FILE *st = fopen(stat_path, "r");
    if (!st)
        return false;
    if (fscanf(st, "%*d (%*[^)]) %c", &state) != 1)
        state = '?';
    fclose(st);
    return state != 'Z' && state != 'X';
}

static void
s_wait_file(const char *path, int timeout_ms)
{
    int64_t deadline = fdy_clock_mono_ms() + timeout_ms;
    struct stat st;
    while (stat(path, &st) != 0 || st.st_size == 0) {
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "%s never appeared", path);
        usleep(10000);
    }
}

typedef struct {
    size_t count;
    foundry_err err[4];
    char reason[256];
} s_answers_t;

static void
s_on_answer(uint64_t token, foundry_err err, uint64_t job_id, const char *reason, void *user)
{
    (void) token;
    (void) job_id;
    s_answers_t *a = user;
    if (a->count < 4)
        a->err[a->count] = err;
    if (err != FOUNDRY_OK)
        snprintf(a->reason, sizeof a->reason, "%s", reason ? reason : "");
    a->count++;
}

static void
s_count(const foundry_job_info_t *info, void *user)
{
    (void) info;
    (*(size_t *) user)++;
}

/* ---- tests ------------------------------------------------------------------------ */

/* Six agents, one per site, two handler types each, labels on one of them:
 * 1,000 jobs end succeeded exactly once at an eligible node, with that
 * node's answer; the submitter reads the result, another tenant cannot see,
 * cancel or fetch it. */
static void
test_jobs_route_by_site_and_label(void)
{
    fdy_proc_t *p = fdy_proc_new("jobs_route");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    char echo[PATH_LEN], upper[PATH_LEN];
    s_script(p, "echo.sh", "printf '%s:%s:' \"$SITE_NAME\" \"$FOUNDRY_JOB_ATTEMPT\"; cat", echo);
    s_script(p, "upper.sh", "tr a-z A-Z", upper);
    enum { SITES = 6 };
    const char *sites[SITES] = {"siheung", "bucheon", "uijeongbu",
                                "hanam",   "pangyo",  "seongnam-lab"};
    s_agent_t agents[SITES];
    for (size_t i = 0; i < SITES; i++) {
        char text[4096], name[32];
        snprintf(text, sizeof text,
                 "echo exec 4 10s env=SITE_NAME=%s -- %s\nupper exec 2 10s -- %s\n", sites[i],
                 echo, upper);
        snprintf(name, sizeof name, "node-%s", sites[i]);
        s_agent_start(p, &agents[i], name, sites[i], text, i == 1 ? "gpu=a100" : "gpu=none");
    }
    fdy_proc_key_add(p, "acme", "--role", "partner", "--tenant", "acme", "--allow-jobs", "*",
                     NULL);
    fdy_proc_key_add(p, "rival", "--role", "partner", "--tenant", "rival", "--allow-jobs", "*",
                     NULL);
    foundry_client_t *acme = s_client(p, "acme");
    foundry_client_t *rival = s_client(p, "rival");

    enum { JOBS = 1000 };
    static uint64_t ids[JOBS];
    for (size_t i = 0; i < JOBS; i++) {
        const char *site = sites[i % SITES];
        const char *label = (i % SITES == 1 && i % 2) ? "gpu=a100" : NULL;
        char payload[32];
        snprintf(payload, sizeof payload, "job-%zu", i);
        ids[i] = s_submit(acme, i % 5 == 0 ? "upper" : "echo", site, label, payload);
    }
    for (size_t i = 0; i < JOBS; i++) {
        const foundry_job_info_t *info = s_wait(acme, ids[i], 60000);
        FDY_CHECK_MSG(info->state == FOUNDRY_JOB_SUCCEEDED, "job %zu: %s (%s)", i,
                      info->state_name, info->error ? info->error : "");
        FDY_CHECK_EQ(info->attempt, 1u); /* exactly once */
        char want_node[64], want[64];
        snprintf(want_node, sizeof want_node, "node-%s", sites[i % SITES]);
        FDY_CHECK_STR(info->node, want_node);
        if (i % 5 == 0)
            snprintf(want, sizeof want, "JOB-%zu", i);
        else
            snprintf(want, sizeof want, "%s:1:job-%zu", sites[i % SITES], i);
        FDY_CHECK_EQ(info->result_len, strlen(want));
        FDY_CHECK(memcmp(info->result, want, strlen(want)) == 0);
    }
    /* Another tenant: not found, for status, cancel and retry alike. */
    const foundry_job_info_t *info = NULL;
    FDY_CHECK_EQ(foundry_job_status(rival, ids[0], &info), FOUNDRY_ENOTFOUND);
    FDY_CHECK_EQ(foundry_job_cancel(rival, ids[1]), FOUNDRY_ENOTFOUND);
    FDY_CHECK_EQ(foundry_job_retry(rival, ids[2]), FOUNDRY_ENOTFOUND);
    size_t seen = 0;
    FDY_CHECK_OK(foundry_job_list(rival, NULL, s_count, &seen));
    FDY_CHECK_EQ(seen, 0u);
    FDY_CHECK_OK(foundry_job_list(acme, "succeeded", s_count, &seen));
    FDY_CHECK_EQ(seen, (size_t) JOBS);

    foundry_client_close(&acme, 1000, NULL);
    foundry_client_close(&rival, 1000, NULL);
    for (size_t i = 0; i < SITES; i++)
        FDY_NODE_CHECK(&agents[i].proc, fdy_node_proc_stop(&agents[i].proc) == 0, "node stop");
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A failing handler is retried with back-off, then dead with its last
 * error and stderr tail and every attempt in its history; retry queues it
 * again with a fresh set of attempts and a higher fence. */
static void
test_jobs_retry_then_dead(void)
{
    fdy_proc_t *p = fdy_proc_new("jobs_dead");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    char fail[PATH_LEN];
    s_script(p, "fail.sh", "echo \"attempt $FOUNDRY_JOB_ATTEMPT fence $FOUNDRY_JOB_FENCE broke\" >&2; exit 3",
             fail);
    char text[4096];
    snprintf(text, sizeof text, "fail exec 1 10s -- %s\n", fail);
    s_agent_t a;
    s_agent_start(p, &a, "node-hanam", "hanam", text, NULL);
    foundry_client_t *admin = s_client(p, "admin");
    uint64_t id = s_submit(admin, "fail", "hanam", NULL, "x");
    const foundry_job_info_t *info = s_wait(admin, id, 30000);
    FDY_CHECK_STR(info->state_name, "dead");
    FDY_CHECK_EQ(info->attempt, 3u);
    FDY_CHECK_EQ(info->attempt_count, 3u);
    FDY_CHECK_STR(info->error, "exit status 3");
    FDY_CHECK(strstr(info->log_tail, "attempt 3 fence 3 broke") != NULL);
    for (size_t i = 0; i < 3; i++) {
        FDY_CHECK_EQ(info->attempts[i].attempt, i + 1);
        FDY_CHECK_EQ(info->attempts[i].fence, i + 1);
        FDY_CHECK_STR(info->attempts[i].state, "failed");
    }
    /* Back-off: 50 ms, then 100 ms between the attempts' starts at least. */
    FDY_CHECK(info->attempts[1].started_ms >= info->attempts[0].ended_ms + 50);
    FDY_CHECK(info->attempts[2].started_ms >= info->attempts[1].ended_ms + 100);
    size_t dead = 0;
    FDY_CHECK_OK(foundry_job_list(admin, "dead", s_count, &dead));
    FDY_CHECK_EQ(dead, 1u);
    FDY_CHECK_EQ(foundry_job_list(admin, "sleeping", s_count, &dead), FOUNDRY_EINVAL);
    FDY_CHECK_OK(foundry_job_retry(admin, id));
    info = s_wait(admin, id, 30000);
    FDY_CHECK_STR(info->state_name, "dead");
    FDY_CHECK_EQ(info->fence, 6u); /* fences never repeat */
    FDY_CHECK_EQ(foundry_job_retry(admin, 999999), FOUNDRY_ENOTFOUND);
    foundry_client_close(&admin, 1000, NULL);
    FDY_NODE_CHECK(&a.proc, fdy_node_proc_stop(&a.proc) == 0, "node stop");
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A handler that outlives its timeout is killed with its whole process
 * group: the child it started is gone too. Cancel stops a queued job at
 * once and a running one by killing its handler. */
static void
test_jobs_timeout_and_cancel_kill_process_groups(void)
{
    fdy_proc_t *p = fdy_proc_new("jobs_kill");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    char hang[PATH_LEN], body[2048];
    snprintf(body, sizeof body,
             "sleep 300 & echo $! > %s/child-$FOUNDRY_JOB_ID.pid\nwait", fdy_proc_dir(p));
    s_script(p, "hang.sh", body, hang);
    char text[4096];
    snprintf(text, sizeof text, "hang exec 2 400ms -- %s\nlong exec 1 60s -- %s\n", hang, hang);
    s_agent_t a;
    s_agent_start(p, &a, "node-uijeongbu", "uijeongbu", text, NULL);
    foundry_client_t *admin = s_client(p, "admin");

    foundry_job_spec_t spec;
    foundry_job_spec_init(&spec);
    spec.type = "hang";
    spec.max_attempts = 1;
    uint64_t id = 0;
    FDY_CHECK_OK(foundry_job_submit(admin, &spec, &id, NULL));
    char pid_file[PATH_LEN];
    snprintf(pid_file, sizeof pid_file, "%s/child-%" PRIu64 ".pid", fdy_proc_dir(p), id);
    const foundry_job_info_t *info = s_wait(admin, id, 20000);
    FDY_CHECK_STR(info->state_name, "dead");
    FDY_CHECK(strstr(info->error, "timed out after 400 ms") != NULL);
    FDY_CHECK(!s_pid_alive(pid_file));

    /* Running: its node kills the handler and its child. */
    spec.type = "long";
    FDY_CHECK_OK(foundry_job_submit(admin, &spec, &id, NULL));
    snprintf(pid_file, sizeof pid_file, "%s/child-%" PRIu64 ".pid", fdy_proc_dir(p), id);
    s_wait_file(pid_file, 10000);
    FDY_CHECK(s_pid_alive(pid_file));
    s_wait_state(admin, id, FOUNDRY_JOB_RUNNING, 10000);
    FDY_CHECK_OK(foundry_job_cancel(admin, id));
    info = s_wait(admin, id, 1000);
    FDY_CHECK_STR(info->state_name, "cancelled");
    int64_t deadline = fdy_clock_mono_ms() + 10000;
    while (s_pid_alive(pid_file))
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "the cancelled handler's child lives");
    FDY_CHECK_EQ(foundry_job_cancel(admin, id), FOUNDRY_EINVAL); /* already ended */

    /* Queued (no node at that site): cancelled at once. */
    uint64_t queued = s_submit(admin, "long", "bucheon", NULL, NULL);
    FDY_CHECK_OK(foundry_job_cancel(admin, queued));
    FDY_CHECK_OK(foundry_job_status(admin, queued, &info));
    FDY_CHECK_STR(info->state_name, "cancelled");

    foundry_client_close(&admin, 1000, NULL);
    FDY_NODE_CHECK(&a.proc, fdy_node_proc_stop(&a.proc) == 0, "node stop");
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* Idempotent resubmit; a job with no eligible node waits and says why;
 * bad input is refused with the reason and stores nothing. */
static void
test_jobs_waiting_reasons_and_bad_input(void)
{
    fdy_proc_t *p = fdy_proc_new("jobs_input");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    char ok[PATH_LEN];
    s_script(p, "ok.sh", "cat", ok);
    char text[4096];
    snprintf(text, sizeof text, "ok exec 1 10s -- %s\nmissing exec 1 10s -- %s/no-such-file\n",
             ok, fdy_proc_dir(p));
    s_agent_t a;
    s_agent_start(p, &a, "node-pangyo", "pangyo", text, "gpu=a100");
    fdy_proc_key_add(p, "acme", "--role", "partner", "--tenant", "acme", "--allow-jobs", "pangyo",
                     NULL);
    fdy_proc_key_add(p, "nogrant", "--role", "partner", "--tenant", "other", NULL);
    foundry_client_t *acme = s_client(p, "acme");

    /* Idempotency key: the same id, flagged a duplicate. */
    foundry_job_spec_t spec;
    foundry_job_spec_init(&spec);
    spec.type = "ok";
    const char *pangyo[] = {"pangyo"};
    spec.sites = pangyo;
    spec.site_count = 1;
    spec.idempotency_key = "order-17";
    uint64_t first = 0, again = 0;
    int dup = -1;
    FDY_CHECK_OK(foundry_job_submit(acme, &spec, &first, &dup));
    FDY_CHECK_EQ(dup, 0);
    FDY_CHECK_OK(foundry_job_submit(acme, &spec, &again, &dup));
    FDY_CHECK_EQ(again, first);
    FDY_CHECK_EQ(dup, 1);
    FDY_CHECK_STR(s_wait(acme, first, 10000)->state_name, "succeeded");

    /* No eligible node: stays queued, with the reason. */
    const foundry_job_info_t *info;
    uint64_t label = s_submit(acme, "ok", "pangyo", "robot=ur10", NULL);
    uint64_t type = s_submit(acme, "translate", "pangyo", NULL, NULL);
    FDY_CHECK_OK(foundry_job_status(acme, label, &info));
    FDY_CHECK_STR(info->state_name, "queued");
    FDY_CHECK_STR(info->waiting, "no node at pangyo with label robot=ur10");
    FDY_CHECK_OK(foundry_job_status(acme, type, &info));
    FDY_CHECK_STR(info->waiting, "no node at pangyo runs type translate");

    /* A deadline passes while no node can take it: expired, and retry
     * queues it again (without the deadline). */
    foundry_job_spec_t late;
    foundry_job_spec_init(&late);
    late.type = "translate";
    late.sites = pangyo;
    late.site_count = 1;
    late.deadline_ms = fdy_clock_wall_ns() / 1000000u + 300;
    uint64_t expiring = 0;
    FDY_CHECK_OK(foundry_job_submit(acme, &late, &expiring, NULL));
    info = s_wait(acme, expiring, 10000);
    FDY_CHECK_STR(info->state_name, "expired");
    FDY_CHECK_STR(info->error, "deadline passed before it ran");
    FDY_CHECK_EQ(info->attempt_count, 0u);
    FDY_CHECK_OK(foundry_job_retry(acme, expiring));
    FDY_CHECK_OK(foundry_job_status(acme, expiring, &info));
    FDY_CHECK_STR(info->state_name, "queued");

    /* Handler not executable: the job fails with that reason. */
    spec.idempotency_key = NULL;
    spec.type = "missing";
    spec.max_attempts = 1;
    uint64_t missing = 0;
    FDY_CHECK_OK(foundry_job_submit(acme, &spec, &missing, NULL));
    info = s_wait(acme, missing, 10000);
    FDY_CHECK_STR(info->state_name, "dead");
    FDY_CHECK(strstr(info->error, "no-such-file is not executable") != NULL);

    /* Refused before anything is stored. */
    spec.type = "ok";
    static char big[2 * 1024 * 1024];
    spec.payload = big;
    spec.payload_len = sizeof big;
    uint64_t id = 0;
    FDY_CHECK_EQ(foundry_job_submit(acme, &spec, &id, NULL), FOUNDRY_ETOOBIG);
    spec.payload_len = 1024 * 1024 + 1; /* under the library's cap, over the broker's */
    FDY_CHECK_EQ(foundry_job_submit(acme, &spec, &id, NULL), FOUNDRY_ETOOBIG);
    spec.payload = NULL;
    spec.payload_len = 0;
    const char *bad_labels[] = {"gpu a100"};
    spec.labels = bad_labels;
    spec.label_count = 1;
    FDY_CHECK_EQ(foundry_job_submit(acme, &spec, &id, NULL), FOUNDRY_EINVAL);
    FDY_CHECK(strstr(foundry_client_last_error(acme), "not key=value") != NULL);
    spec.labels = NULL;
    spec.label_count = 0;
    spec.type = "bad type";
    FDY_CHECK_EQ(foundry_job_submit(acme, &spec, &id, NULL), FOUNDRY_EINVAL);
    spec.type = "ok";
    const char *siheung[] = {"siheung"};
    spec.sites = siheung;
    FDY_CHECK_EQ(foundry_job_submit(acme, &spec, &id, NULL), FOUNDRY_EDENIED);
    FDY_CHECK(strstr(foundry_client_last_error(acme), "site siheung") != NULL);
    foundry_client_t *nogrant = s_client(p, "nogrant");
    FDY_CHECK_EQ(foundry_job_submit(nogrant, &spec, &id, NULL), FOUNDRY_EDENIED);
    FDY_CHECK(strstr(foundry_client_last_error(nogrant), "no job grant") != NULL);
    foundry_client_close(&nogrant, 1000, NULL);

    /* foundryctl: submit and wait, show, result, the dead list, the nodes. */
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "job", "submit", "ok", "--site", "pangyo", "--data",
                              "from ctl", "--wait", "20s", "--json", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK(strstr(run.out, "\"state\":\"succeeded\"") != NULL);
    fdy_proc_run_clear(&run);
    char id_text[24];
    snprintf(id_text, sizeof id_text, "%" PRIu64, missing);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "job", "show", id_text, NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK(strstr(run.out, "not executable") != NULL);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "dlq", "ls", "--json", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK(strstr(run.out, "\"type\":\"missing\"") != NULL);
    fdy_proc_run_clear(&run);
    snprintf(id_text, sizeof id_text, "%" PRIu64, first);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "job", "result", id_text, NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_STR(run.out, "");
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "job", "result", id_text, "--json", NULL));
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "job", "show", "77777", NULL));
    FDY_CHECK_RUN(&run, 1);
    FDY_CHECK(strstr(run.err, "no job 77777") != NULL);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "node", "ls", "--json", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK(strstr(run.out, "\"name\":\"node-pangyo\"") != NULL);
    FDY_CHECK(strstr(run.out, "gpu=a100") != NULL);
    fdy_proc_run_clear(&run);

    foundry_client_close(&acme, 1000, NULL);
    FDY_NODE_CHECK(&a.proc, fdy_node_proc_stop(&a.proc) == 0, "node stop");
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A worker of our own (libfoundry with a node key): a result or progress
 * with a stale fence or a forged id is refused, a heartbeat naming them
 * gets them back as stale, and after its lease expired (no heartbeats)
 * the job runs again under a higher fence and the old result is refused:
 * the job completes once. */
static void
test_jobs_fencing_refuses_stale_reports(void)
{
    fdy_proc_t *p = fdy_proc_new("jobs_fence");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    fdy_proc_key_add(p, "node-bucheon", "--role", "node", "--site", "bucheon", NULL);
    foundry_client_t *admin = s_client(p, "admin");
    foundry_client_t *worker = s_client(p, "node-bucheon");
    const char *types[] = {"robot"};
    FDY_CHECK_OK(foundry_worker_register(worker, NULL, 0, types, 1, 1));
    uint64_t id = s_submit(admin, "robot", "bucheon", NULL, "move arm");

    foundry_job_offer_t offer;
    FDY_CHECK_OK(foundry_worker_next(worker, 10000, &offer));
    FDY_CHECK_EQ(offer.job_id, id);
    FDY_CHECK_EQ(offer.fence, 1u);
    FDY_CHECK_EQ(offer.payload_len, 8u);
    uint64_t old_fence = offer.fence;

    /* Forged id, then wrong fence: refused. */
    const uint64_t *stale = NULL;
    size_t stale_count = 0;
    uint64_t ids[] = {id, 424242}, fences[] = {old_fence + 7, 1};
    FDY_CHECK_OK(foundry_worker_heartbeat(worker, ids, fences, 2, &stale, &stale_count));
    FDY_CHECK_EQ(stale_count, 2u);
    FDY_CHECK_EQ(foundry_worker_progress(worker, 424242, 1, "half"), FOUNDRY_OK); /* sent */

    /* The node stays alive but never heartbeats the job: its lease (1.5 s)
     * expires and the job is retried under fence 2. */
    FDY_CHECK_OK(foundry_worker_credit(worker, "robot", 1));
    int64_t deadline = fdy_clock_mono_ms() + 15000;
    for (;;) {
        FDY_CHECK_OK(foundry_worker_heartbeat(worker, NULL, NULL, 0, &stale, &stale_count));
        if (foundry_worker_next(worker, 200, &offer) == FOUNDRY_OK)
            break;
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "the job was not offered again");
    }
    FDY_CHECK_EQ(offer.job_id, id);
    FDY_CHECK_EQ(offer.fence, 2u);

    /* The late result of attempt 1 is refused; attempt 2's is stored. */
    s_answers_t answers = {0};
    foundry_client_set_job_handler(worker, s_on_answer, &answers);
    uint64_t token = 0;
    FDY_CHECK_OK(foundry_worker_result(worker, id, old_fence, 1, "late", 4, NULL, NULL, 0, &token));
    FDY_CHECK_OK(foundry_job_flush(worker, 5000));
    FDY_CHECK_EQ(answers.count, 1u);
    FDY_CHECK_EQ(answers.err[0], FOUNDRY_ESTALE);
    FDY_CHECK(strstr(answers.reason, "fence 1 is stale") != NULL);
    const foundry_job_info_t *info;
    FDY_CHECK_OK(foundry_job_status(admin, id, &info));
    FDY_CHECK_STR(info->state_name, "leased"); /* attempt 2, never heartbeated */
    FDY_CHECK_EQ(info->fence, 2u);
    FDY_CHECK_OK(foundry_worker_result(worker, id, offer.fence, 1, "done", 4, NULL, NULL, 0, &token));
    FDY_CHECK_OK(foundry_job_flush(worker, 5000));
    info = s_wait(admin, id, 5000);
    FDY_CHECK_STR(info->state_name, "succeeded");
    FDY_CHECK_EQ(info->result_len, 4u);
    FDY_CHECK(memcmp(info->result, "done", 4) == 0);
    FDY_CHECK_EQ(info->attempt_count, 2u);
    FDY_CHECK_STR(info->attempts[0].state, "lost");
    FDY_CHECK_EQ(answers.count, 2u);
    FDY_CHECK_EQ(answers.err[1], FOUNDRY_OK);

    /* The broker counted the refusals. */
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "status", "--json", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK(strstr(run.out, "jobs_stale_refused") != NULL);
    fdy_proc_run_clear(&run);

    foundry_client_close(&worker, 1000, NULL);
    foundry_client_close(&admin, 1000, NULL);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* The broker is SIGKILLed while jobs run and while results wait in the
 * nodes' outboxes: after the restart every job ends succeeded, once. */
static void
test_jobs_survive_broker_kill(void)
{
    fdy_proc_t *p = fdy_proc_new("jobs_crash");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    char slow[PATH_LEN];
    s_script(p, "slow.sh", "sleep 0.3; echo \"$FOUNDRY_JOB_ID:$FOUNDRY_JOB_ATTEMPT\"", slow);
    char text[4096];
    snprintf(text, sizeof text, "slow exec 8 20s -- %s\n", slow);
    s_agent_t a, b;
    s_agent_start(p, &a, "node-siheung-1", "siheung", text, NULL);
    s_agent_start(p, &b, "node-siheung-2", "siheung", text, NULL);
    foundry_client_t *admin = s_client(p, "admin");
    enum { JOBS = 120 };
    uint64_t ids[JOBS];
    for (size_t i = 0; i < JOBS; i++)
        ids[i] = s_submit(admin, "slow", "siheung", NULL, NULL);
    /* Some are done, some run, some wait. */
    s_wait_state(admin, ids[20], FOUNDRY_JOB_SUCCEEDED, 20000);
    FDY_CHECK_OK(fdy_proc_broker_kill(p));
    usleep(500 * 1000); /* handlers finish while it is down: results wait in the outboxes */
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    for (size_t i = 0; i < JOBS; i++) {
        const foundry_job_info_t *info = s_wait(admin, ids[i], 60000);
        FDY_CHECK_MSG(info->state == FOUNDRY_JOB_SUCCEEDED, "job %zu: %s (%s)", i,
                      info->state_name, info->error ? info->error : "");
        /* Exactly one attempt succeeded, and the result is that attempt's. */
        size_t wins = 0;
        for (size_t t = 0; t < info->attempt_count; t++)
            wins += strcmp(info->attempts[t].state, "succeeded") == 0;
        FDY_CHECK_EQ(wins, 1u);
    }
    foundry_client_close(&admin, 1000, NULL);
    FDY_NODE_CHECK(&a.proc, fdy_node_proc_stop(&a.proc) == 0, "node stop");
    FDY_NODE_CHECK(&b.proc, fdy_node_proc_stop(&b.proc) == 0, "node stop");
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A job removed after its result TTL leaves its id behind: after a
 * restart with no job stored, the next job still gets a newer id (a
 * node's outbox may hold a result for the old one). */
static void
test_jobs_ids_not_reused_after_removal_and_restart(void)
{
    fdy_proc_t *p = fdy_proc_new("jobs_ids");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    foundry_client_t *admin = s_client(p, "admin");
    foundry_job_spec_t spec;
    foundry_job_spec_init(&spec);
    spec.type = "nobody-runs-this";
    spec.result_ttl_ms = 200;
    uint64_t first = 0, second = 0;
    FDY_CHECK_OK(foundry_job_submit(admin, &spec, &first, NULL));
    FDY_CHECK_OK(foundry_job_cancel(admin, first));
    int64_t deadline = fdy_clock_mono_ms() + 10000;
    const foundry_job_info_t *info = NULL;
    while (foundry_job_status(admin, first, &info) != FOUNDRY_ENOTFOUND) {
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "job %" PRIu64 " not removed", first);
        usleep(50 * 1000);
    }
    foundry_client_close(&admin, 1000, NULL);
    FDY_CHECK_OK(fdy_proc_broker_kill(p));
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    admin = s_client(p, "admin");
    FDY_CHECK_OK(foundry_job_submit(admin, &spec, &second, NULL));
    FDY_CHECK_MSG(second > first, "job id %" PRIu64 " given again (first was %" PRIu64 ")", second,
                  first);
    foundry_client_close(&admin, 1000, NULL);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* An agent SIGKILLed while running jobs: its leases expire and the jobs
 * run on the other agent, each succeeding once. */
static void
test_jobs_lost_agent_requeued(void)
{
    fdy_proc_t *p = fdy_proc_new("jobs_lost");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    char slow[PATH_LEN];
    s_script(p, "slow.sh", "sleep 1; echo ok", slow);
    char text[4096];
    snprintf(text, sizeof text, "slow exec 4 20s -- %s\n", slow);
    s_agent_t a;
    s_agent_start(p, &a, "node-hanam-1", "hanam", text, NULL);
    foundry_client_t *admin = s_client(p, "admin");
    uint64_t ids[4];
    for (size_t i = 0; i < 4; i++)
        ids[i] = s_submit(admin, "slow", "hanam", NULL, NULL);
    for (size_t i = 0; i < 4; i++)
        s_wait_state(admin, ids[i], FOUNDRY_JOB_RUNNING, 10000);
    kill(a.proc.pid, SIGKILL);
    FDY_CHECK(fdy_node_proc_wait(&a.proc, 5000) == 128 + SIGKILL);
    s_agent_t b;
    s_agent_start(p, &b, "node-hanam-2", "hanam", text, NULL);
    for (size_t i = 0; i < 4; i++) {
        const foundry_job_info_t *info = s_wait(admin, ids[i], 30000);
        FDY_CHECK_STR(info->state_name, "succeeded");
        FDY_CHECK_STR(info->node, "node-hanam-2");
        FDY_CHECK_EQ(info->attempt, 2u);
        FDY_CHECK_STR(info->attempts[0].state, "lost");
    }
    foundry_client_close(&admin, 1000, NULL);
    FDY_NODE_CHECK(&b.proc, fdy_node_proc_stop(&b.proc) == 0, "node stop");
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* An agent SIGKILLed after its handler finished while the broker was down:
 * the result sits in its outbox. Its lease expires, another agent runs the
 * job again and succeeds; when the killed agent restarts it replays its
 * old result from the outbox, and the broker refuses it by fencing: the
 * job keeps the second attempt's result, completed once. */
static void
test_jobs_replayed_result_refused_by_fence(void)
{
    fdy_proc_t *p = fdy_proc_new("jobs_replay");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    char work[PATH_LEN];
    s_script(p, "work.sh", "sleep 0.5; echo \"attempt $FOUNDRY_JOB_ATTEMPT fence $FOUNDRY_JOB_FENCE\"",
             work);
    char text[4096];
    snprintf(text, sizeof text, "work exec 1 20s -- %s\n", work);
    s_agent_t a;
    s_agent_start(p, &a, "node-pangyo-1", "pangyo", text, NULL);
    foundry_client_t *admin = s_client(p, "admin");
    uint64_t id = s_submit(admin, "work", "pangyo", NULL, NULL);
    uint64_t first_fence = s_wait_state(admin, id, FOUNDRY_JOB_RUNNING, 10000)->fence;
    FDY_CHECK_OK(fdy_proc_broker_kill(p));
    /* The handler ends while the broker is away; the agent keeps serving it
     * (its heartbeats do not wait for answers) and stores the result. */
    fdy_node_proc_wait_log(&a.proc, "JOB-DONE");
    FDY_CHECK_EQ(fdy_node_proc_log_count(&a.proc, "JOB-RESULT-REFUSED"), 0u);
    kill(a.proc.pid, SIGKILL);
    FDY_CHECK(fdy_node_proc_wait(&a.proc, 5000) == 128 + SIGKILL);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));

    s_agent_t b;
    s_agent_start(p, &b, "node-pangyo-2", "pangyo", text, NULL);
    const foundry_job_info_t *info = s_wait(admin, id, 30000);
    FDY_CHECK_STR(info->state_name, "succeeded");
    FDY_CHECK_STR(info->node, "node-pangyo-2");
    FDY_CHECK(info->fence > first_fence);
    uint64_t second_fence = info->fence;

    /* The killed agent comes back with its outbox and replays. */
    fdy_node_proc_start(&a.proc, -1, true);
    fdy_node_proc_wait_log(&a.proc, "JOB-RESULT-REFUSED");
    info = s_wait(admin, id, 5000);
    FDY_CHECK_STR(info->state_name, "succeeded");
    FDY_CHECK_STR(info->node, "node-pangyo-2");
    FDY_CHECK_EQ(info->fence, second_fence);
    char want[64];
    snprintf(want, sizeof want, "fence %" PRIu64, second_fence);
    char result[256];
    snprintf(result, sizeof result, "%.*s", (int) info->result_len, (const char *) info->result);
    FDY_CHECK_MSG(strstr(result, want) != NULL, "the result is not the second attempt's: %s",
                  result);
    size_t wins = 0;
    for (size_t t = 0; t < info->attempt_count; t++)
        wins += strcmp(info->attempts[t].state, "succeeded") == 0;
    FDY_CHECK_EQ(wins, 1u);
    foundry_client_close(&admin, 1000, NULL);
    FDY_NODE_CHECK(&a.proc, fdy_node_proc_stop(&a.proc) == 0, "node stop");
    FDY_NODE_CHECK(&b.proc, fdy_node_proc_stop(&b.proc) == 0, "node stop");
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* Worker mode: one process per type keeps its state between jobs, gets
 * each payload in the documented framing, reports progress; when it
 * crashes mid-job that job fails with the reason and the next job gets a
 * fresh process; a job it never answers times out and the process group
 * is killed. */
static void
test_jobs_worker_mode(void)
{
    const char *worker = getenv("FOUNDRY_JOB_ECHO_WORKER");
    FDY_CHECK_MSG(worker && *worker, "FOUNDRY_JOB_ECHO_WORKER is not set");
    fdy_proc_t *p = fdy_proc_new("jobs_worker");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    char text[4096];
    snprintf(text, sizeof text, "echo worker 1 2s -- %s\n", worker);
    s_agent_t a;
    s_agent_start(p, &a, "node-seongnam", "seongnam-lab", text, "robot=ur10");
    foundry_client_t *admin = s_client(p, "admin");
    const char *payloads[] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++) {
        uint64_t id = s_submit(admin, "echo", "seongnam-lab", "robot=ur10", payloads[i]);
        const foundry_job_info_t *info = s_wait(admin, id, 20000);
        FDY_CHECK_STR(info->state_name, "succeeded");
        char want[16];
        snprintf(want, sizeof want, "%zu:%s", i + 1, payloads[i]); /* the same process */
        FDY_CHECK_EQ(info->result_len, strlen(want));
        FDY_CHECK(memcmp(info->result, want, strlen(want)) == 0);
    }
    uint64_t id = s_submit(admin, "echo", NULL, NULL, "progress");
    const foundry_job_info_t *info = s_wait(admin, id, 20000);
    FDY_CHECK_STR(info->state_name, "succeeded");
    FDY_CHECK_STR(info->progress, "half way");

    foundry_job_spec_t spec;
    foundry_job_spec_init(&spec);
    spec.type = "echo";
    spec.max_attempts = 1;
    spec.payload = "crash";
    spec.payload_len = 5;
    FDY_CHECK_OK(foundry_job_submit(admin, &spec, &id, NULL));
    info = s_wait(admin, id, 20000);
    FDY_CHECK_STR(info->state_name, "dead");
    FDY_CHECK(strstr(info->error, "worker exited with status 4") != NULL);
    FDY_CHECK(strstr(info->log_tail, "crashing on purpose") != NULL);
    id = s_submit(admin, "echo", NULL, NULL, "d");
    info = s_wait(admin, id, 20000);
    FDY_CHECK_EQ(info->result_len, 3u);
    FDY_CHECK(memcmp(info->result, "1:d", 3) == 0); /* a new process */

    spec.payload = "sleep";
    spec.timeout_ms = 300;
    FDY_CHECK_OK(foundry_job_submit(admin, &spec, &id, NULL));
    info = s_wait(admin, id, 20000);
    FDY_CHECK_STR(info->state_name, "dead");
    FDY_CHECK(strstr(info->error, "timed out after 300 ms") != NULL);

    foundry_client_close(&admin, 1000, NULL);
    FDY_NODE_CHECK(&a.proc, fdy_node_proc_stop(&a.proc) == 0, "node stop");
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    const fdy_proc_test_t tests[] = {
        {"jobs_route_by_site_and_label", test_jobs_route_by_site_and_label},
        {"jobs_retry_then_dead", test_jobs_retry_then_dead},
        {"jobs_timeout_and_cancel_kill_process_groups",
         test_jobs_timeout_and_cancel_kill_process_groups},
        {"jobs_waiting_reasons_and_bad_input", test_jobs_waiting_reasons_and_bad_input},
        {"jobs_fencing_refuses_stale_reports", test_jobs_fencing_refuses_stale_reports},
        {"jobs_survive_broker_kill", test_jobs_survive_broker_kill},
        {"jobs_ids_not_reused_after_removal_and_restart",
         test_jobs_ids_not_reused_after_removal_and_restart},
        {"jobs_lost_agent_requeued", test_jobs_lost_agent_requeued},
        {"jobs_replayed_result_refused_by_fence", test_jobs_replayed_result_refused_by_fence},
        {"jobs_worker_mode", test_jobs_worker_mode},
    };
    return fdy_proc_run_tests("jobs", tests, sizeof tests / sizeof tests[0], argc, argv);
}
