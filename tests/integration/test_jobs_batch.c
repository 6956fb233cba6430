/*  test_jobs_batch.c: the batched jobs wire end to end with the real
 *  broker: pipelined submits that travel as one SUBMIT batch, in which a
 *  job the broker refuses (payload over max_job_payload, a site the key
 *  has no grant for) is refused alone with its reason while the others are
 *  stored; a RESULT batch from a node key in which a stale and an unknown
 *  result are refused alone while the current one is stored; and offers
 *  that reach a node as JOB_OFFERS, each taken once; and a real agent
 *  whose worker answers one job with a result over the limit: that attempt
 *  fails with the reason while the results sent with it are stored.
 */
#include "clock.h"
#include "node_proc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOBS    6
#define ANSWERS 16

static const char *const s_broker_args[] = {"--set", "max_job_payload=1024", NULL};

typedef struct {
    size_t count;
    uint64_t tokens[ANSWERS];
    foundry_err err[ANSWERS];
    uint64_t job_id[ANSWERS];
    char reason[ANSWERS][256];
} s_answers_t;

static void
s_on_answer(uint64_t token, foundry_err err, uint64_t job_id, const char *reason, void *user)
{
    s_answers_t *a = user;
    FDY_CHECK(a->count < ANSWERS);
    a->tokens[a->count] = token;
    a->err[a->count] = err;
    a->job_id[a->count] = job_id;
    snprintf(a->reason[a->count], sizeof a->reason[0], "%s", reason ? reason : "");
    a->count++;
}

/* The answer for token; fails the test when there is none or two. */
static size_t
s_answer_of(const s_answers_t *a, uint64_t token)
{
    size_t found = ANSWERS, seen = 0;
    for (size_t i = 0; i < a->count; i++)
        if (a->tokens[i] == token) {
            found = i;
            seen++;
        }
    FDY_CHECK_MSG(seen == 1, "token %" PRIu64 " answered %zu times", token, seen);
    return found;
}

static void
s_count(const foundry_job_info_t *info, void *user)
{
    (void) info;
    (*(size_t *) user)++;
}

static foundry_client_t *
s_client(fdy_proc_t *p, const char *name)
{
    foundry_client_t *c = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, name, NULL, &c));
    return c;
}

/* Jobs 1..5 are submitted while job 0 is unanswered, so they leave as one
 * batch at the flush; job 2's payload is over the broker's limit and job 4
 * names a site the partner may not use. Those two are refused with their
 * reasons, the other four stored with their own specs, each answered once. */
static void
test_jobs_batch_refuses_only_the_bad_job(void)
{
    fdy_proc_t *p = fdy_proc_new("jobs_batch_submit");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    fdy_proc_key_add(p, "partner-daegu", "--role", "partner", "--tenant", "daegu", "--allow-jobs",
                     "daegu-fab", NULL);
    foundry_client_t *c = s_client(p, "partner-daegu");
    s_answers_t answers = {0};
    foundry_client_set_job_handler(c, s_on_answer, &answers);

    static char big[2000];
    memset(big, 'x', sizeof big);
    uint64_t tokens[JOBS];
    for (size_t i = 0; i < JOBS; i++) {
        foundry_job_spec_t spec;
        foundry_job_spec_init(&spec);
        spec.type = "inspect";
        const char *good[] = {"daegu-fab"}, *other[] = {"ulsan-port"};
        spec.sites = i == 4 ? other : good;
        spec.site_count = 1;
        spec.priority = (uint32_t) i;
        char payload[16];
        snprintf(payload, sizeof payload, "part-%zu", i);
        spec.payload = i == 2 ? (const void *) big : (const void *) payload;
        spec.payload_len = i == 2 ? sizeof big : strlen(payload);
        FDY_CHECK_OK(foundry_job_submit_async(c, &spec, &tokens[i]));
    }
    FDY_CHECK_OK(foundry_job_flush(c, 10000));
    FDY_CHECK_EQ(answers.count, (size_t) JOBS);
    for (size_t i = 0; i < JOBS; i++) {
        size_t at = s_answer_of(&answers, tokens[i]);
        if (i == 2) {
            FDY_CHECK_EQ(answers.err[at], FOUNDRY_ETOOBIG);
            FDY_CHECK_MSG(strstr(answers.reason[at], "2000 bytes exceeds 1024") != NULL, "%s",
                          answers.reason[at]);
            continue;
        }
        if (i == 4) {
            FDY_CHECK_EQ(answers.err[at], FOUNDRY_EDENIED);
            FDY_CHECK_MSG(strstr(answers.reason[at], "ulsan-port") != NULL, "%s",
                          answers.reason[at]);
            continue;
        }
        FDY_CHECK_MSG(answers.err[at] == FOUNDRY_OK, "job %zu: %s", i, answers.reason[at]);
        const foundry_job_info_t *info = NULL;
        FDY_CHECK_OK(foundry_job_status(c, answers.job_id[at], &info));
        FDY_CHECK_STR(info->state_name, "queued");
        FDY_CHECK_EQ(info->priority, (uint32_t) i);
        FDY_CHECK_EQ(info->site_count, 1u);
        FDY_CHECK_STR(info->sites[0], "daegu-fab");
    }
    size_t queued = 0;
    FDY_CHECK_OK(foundry_job_list(c, "queued", s_count, &queued));
    FDY_CHECK_EQ(queued, 4u);
    foundry_client_close(&c, 1000, NULL);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A node key takes three jobs as offers (one JOB_OFFERS message, since it
 * registered with free slots for all three), then reports one RESULT batch:
 * job A with its fence, job B with a stale fence, a job that does not
 * exist, and job C with its fence. A and C are stored; B and the unknown
 * one are refused alone, each with its reason; B stays leased. */
static void
test_jobs_batch_results_refused_alone(void)
{
    fdy_proc_t *p = fdy_proc_new("jobs_batch_results");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "node-gumi", "--role", "node", "--site", "gumi", NULL);
    foundry_client_t *admin = s_client(p, "admin");
    foundry_client_t *worker = s_client(p, "node-gumi");
    const char *types[] = {"weld"};
    uint64_t ids[3];
    for (size_t i = 0; i < 3; i++) {
        foundry_job_spec_t spec;
        foundry_job_spec_init(&spec);
        spec.type = "weld";
        spec.payload = "seam";
        spec.payload_len = 4;
        FDY_CHECK_OK(foundry_job_submit(admin, &spec, &ids[i], NULL));
    }
    FDY_CHECK_OK(foundry_worker_register(worker, NULL, 0, types, 1, 3));
    foundry_job_offer_t offers[3];
    for (size_t i = 0; i < 3; i++) {
        FDY_CHECK_OK(foundry_worker_next(worker, 10000, &offers[i]));
        FDY_CHECK(!offers[i].cancel);
        FDY_CHECK_EQ(offers[i].fence, 1u);
        FDY_CHECK_EQ(offers[i].payload_len, 4u);
        for (size_t k = 0; k < i; k++)
            FDY_CHECK(offers[k].job_id != offers[i].job_id); /* each taken once */
    }
    foundry_job_offer_t none;
    FDY_CHECK_EQ(foundry_worker_next(worker, 300, &none), FOUNDRY_ETIMEDOUT);

    s_answers_t answers = {0};
    foundry_client_set_job_handler(worker, s_on_answer, &answers);
    foundry_worker_result_t results[4] = {
        {offers[0].job_id, offers[0].fence, 1, "ok-a", 4, NULL, NULL, 1},
        {offers[1].job_id, offers[1].fence + 5, 1, "late", 4, NULL, NULL, 1},
        {987654, 1, 1, "who", 3, NULL, NULL, 0},
        {offers[2].job_id, offers[2].fence, 0, NULL, 0, "torch cold", NULL, 1},
    };
    uint64_t tokens[4];
    FDY_CHECK_OK(foundry_worker_results(worker, results, 4, tokens));
    FDY_CHECK_OK(foundry_job_flush(worker, 10000));
    FDY_CHECK_EQ(answers.count, 4u);
    FDY_CHECK_EQ(answers.err[s_answer_of(&answers, tokens[0])], FOUNDRY_OK);
    size_t stale = s_answer_of(&answers, tokens[1]);
    FDY_CHECK_EQ(answers.err[stale], FOUNDRY_ESTALE);
    FDY_CHECK_MSG(strstr(answers.reason[stale], "fence 6 is stale") != NULL, "%s",
                  answers.reason[stale]);
    size_t unknown = s_answer_of(&answers, tokens[2]);
    FDY_CHECK_EQ(answers.err[unknown], FOUNDRY_ENOTFOUND);
    FDY_CHECK_MSG(strstr(answers.reason[unknown], "no job 987654") != NULL, "%s",
                  answers.reason[unknown]);
    FDY_CHECK_EQ(answers.err[s_answer_of(&answers, tokens[3])], FOUNDRY_OK);

    const foundry_job_info_t *info = NULL;
    FDY_CHECK_OK(foundry_job_status(admin, offers[0].job_id, &info));
    FDY_CHECK_STR(info->state_name, "succeeded");
    FDY_CHECK_EQ(info->result_len, 4u);
    FDY_CHECK(memcmp(info->result, "ok-a", 4) == 0);
    FDY_CHECK_OK(foundry_job_status(admin, offers[1].job_id, &info));
    FDY_CHECK_STR(info->state_name, "leased");
    FDY_CHECK_EQ(info->fence, 1u);
    FDY_CHECK_OK(foundry_job_status(admin, offers[2].job_id, &info));
    FDY_CHECK_STR(info->state_name, "failed"); /* retried after its back-off */
    FDY_CHECK_STR(info->error, "torch cold");

    /* The batch is not a way around the limits: too many at once is refused
     * before anything is sent. */
    foundry_worker_result_t many[FOUNDRY_JOBS_BATCH_MAX + 1];
    memset(many, 0, sizeof many);
    FDY_CHECK_EQ(foundry_worker_results(worker, many, FOUNDRY_JOBS_BATCH_MAX + 1, NULL),
                 FOUNDRY_EINVAL);
    FDY_CHECK_EQ(foundry_worker_results(worker, many, 0, NULL), FOUNDRY_EINVAL);

    foundry_client_close(&worker, 1000, NULL);
    foundry_client_close(&admin, 1000, NULL);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A worker-mode agent gets three jobs at once; the echo of the middle one
 * (a 1 MiB payload, answered with a prefix) is over the 1 MiB result limit.
 * That attempt fails with the reason; the others, reported in the same
 * turn, are stored. */
static void
test_jobs_batch_oversize_result_fails_alone(void)
{
    const char *worker = getenv("FOUNDRY_JOB_ECHO_WORKER");
    FDY_CHECK_MSG(worker && *worker, "FOUNDRY_JOB_ECHO_WORKER is not set");
    fdy_proc_t *p = fdy_proc_new("jobs_batch_oversize");
    const char *args[] = {"--set", "max_job_payload=2MiB", NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(p, args));
    foundry_client_t *admin = s_client(p, "admin");
    static char big[1024 * 1024];
    memset(big, 'b', sizeof big);
    uint64_t ids[3];
    for (size_t i = 0; i < 3; i++) {
        foundry_job_spec_t spec;
        foundry_job_spec_init(&spec);
        spec.type = "echo";
        spec.max_attempts = 1;
        spec.payload = i == 1 ? (const void *) big : (const void *) "small";
        spec.payload_len = i == 1 ? sizeof big : 5;
        FDY_CHECK_OK(foundry_job_submit(admin, &spec, &ids[i], NULL));
    }
    char handlers[FDY_NODE_PROC_PATH_LEN];
    snprintf(handlers, sizeof handlers, "%s/echo.jobs", fdy_proc_dir(p));
    FILE *f = fopen(handlers, "w");
    FDY_CHECK(f != NULL);
    fprintf(f, "echo worker 3 20s -- %s\n", worker);
    fclose(f);
    fdy_proc_key_add(p, "node-iksan", "--role", "node", "--site", "iksan", NULL);
    fdy_node_proc_t node;
    fdy_node_proc_init(&node, p, "node-iksan");
    node.site = "iksan";
    node.key_name = "node-iksan";
    node.extra[0] = "--jobs";
    node.extra[1] = handlers;
    node.extra[2] = NULL;
    fdy_node_proc_start(&node, -1, true);
    const foundry_job_info_t *info = NULL;
    for (size_t i = 0; i < 3; i++) {
        FDY_CHECK_OK(foundry_job_wait(admin, ids[i], 30000, &info));
        if (i == 1) {
            FDY_CHECK_STR(info->state_name, "dead");
            FDY_CHECK_MSG(strstr(info->error, "exceeds 1048576") != NULL, "%s", info->error);
        } else {
            FDY_CHECK_STR(info->state_name, "succeeded");
            FDY_CHECK_EQ(info->attempt, 1u);
        }
    }
    foundry_client_close(&admin, 1000, NULL);
    FDY_NODE_CHECK(&node, fdy_node_proc_stop(&node) == 0, "node stop");
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    const fdy_proc_test_t tests[] = {
        {"jobs_batch_refuses_only_the_bad_job", test_jobs_batch_refuses_only_the_bad_job},
        {"jobs_batch_results_refused_alone", test_jobs_batch_results_refused_alone},
        {"jobs_batch_oversize_result_fails_alone", test_jobs_batch_oversize_result_fails_alone},
    };
    return fdy_proc_run_tests("jobs_batch", tests, sizeof tests / sizeof tests[0], argc, argv);
}
