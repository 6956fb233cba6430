/*  test_metrics.c: the broker's metrics endpoint over real HTTP (the
 *  harness's scrape.c, a plain TCP socket): the figures match what the
 *  test did (publishes, a job, a connected node, traffic by kind and site,
 *  jobs by state and type), bad HTTP gets an error
 *  and harms nothing (wrong method, oversized headers, a request left
 *  half-sent while others are served), the token is enforced, and a
 *  non-loopback address without a token is refused at start.
 */
#include "clock.h"
#include "node_proc.h"
#include "scrape.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEADLINE_MS 10000

/* ---- tests ------------------------------------------------------------------------ */

/* N publishes: the counter says N, the site's stream holds N, and the node
 * that sent them is counted as connected at its site. */
static void
test_metrics_counts_publishes(void)
{
    fdy_proc_t *p = fdy_proc_new("metrics-pub");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    FDY_CHECK_EQ(fdy_scrape_value(p, "foundry_published_total"), 0);
    fdy_proc_key_add(p, "node-siheung", "--role", "node", "--site", "siheung", NULL);
    foundry_client_t *node = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "node-siheung", NULL, &node));
    const int n = 17;
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "m-%d", i);
        foundry_ack_t ack;
        FDY_CHECK_OK(foundry_client_publish(node, "telemetry.siheung.robot1.temp", "21.5", 4, id,
                                            strlen(id), &ack));
    }
    /* a resend is a duplicate, not a second message */
    foundry_ack_t ack;
    FDY_CHECK_OK(foundry_client_publish(node, "telemetry.siheung.robot1.temp", "21.5", 4, "m-0", 3,
                                        &ack));
    FDY_CHECK_EQ(fdy_scrape_value(p, "foundry_published_total"), n);
    FDY_CHECK_EQ(fdy_scrape_value(p, "foundry_duplicates_total"), 1);
    FDY_CHECK_EQ(fdy_scrape_value(p, "foundry_stream_messages{stream=\"telemetry-siheung\"}"), n);
    FDY_CHECK_EQ(fdy_scrape_value(p, "foundry_stream_messages{stream=\"telemetry-pangyo\"}"), 0);
    FDY_CHECK_EQ(fdy_scrape_value(p, "foundry_principals_connected{role=\"node\",site=\"siheung\"}"), 1);

    char *body = NULL;
    FDY_CHECK_EQ(fdy_scrape_request(p, "GET", "/metrics", NULL, &body), 200);
    FDY_CHECK(strstr(body, "# TYPE foundry_published_total counter\n") != NULL);
    FDY_CHECK(strstr(body, "# TYPE foundry_map_size_max gauge\n") != NULL);
    FDY_CHECK(strstr(body, "# TYPE foundry_rollouts_running gauge\n") != NULL);
    FDY_CHECK(fdy_scrape_sample(body, "foundry_model_bytes_stored") == 0);
    FDY_CHECK(fdy_scrape_sample(body, "foundry_store_used_bytes") > 0);
    /* every stored publish was one group commit with one fsync */
    long long batches = fdy_scrape_sample(body, "foundry_commit_batch_records_count");
    FDY_CHECK_MSG(batches >= n, "%lld group commits for %d publishes", batches, n);
    FDY_CHECK_EQ(fdy_scrape_sample(body, "foundry_commit_batch_records_bucket{le=\"+Inf\"}"), batches);
    long long syncs = fdy_scrape_sample(body, "foundry_commit_fsync_seconds_count");
    FDY_CHECK(syncs >= batches);
    FDY_CHECK_EQ(fdy_scrape_sample(body, "foundry_commit_fsync_seconds_bucket{le=\"+Inf\"}"), syncs);
    FDY_CHECK(strstr(body, "# TYPE foundry_commit_fsync_seconds histogram\n") != NULL);
    free(body);
    /* the JSON status says the same */
    FDY_CHECK_EQ(fdy_scrape_request(p, "GET", "/api/status", NULL, &body), 200);
    fdy_json_t *json = fdy_proc_json_parse(body, strlen(body));
    FDY_CHECK_MSG(json != NULL, "not JSON: %.200s", body);
    const fdy_json_t *sites = fdy_proc_json_get(json, "sites");
    FDY_CHECK_EQ(fdy_proc_json_count(sites), 6);
    bool seen = false;
    for (size_t i = 0; i < fdy_proc_json_count(sites); i++) {
        const fdy_json_t *site = fdy_proc_json_at(sites, i);
        char name[64];
        fdy_proc_row_str(site, "site", name, sizeof name);
        if (strcmp(name, "siheung") == 0) {
            FDY_CHECK_EQ(fdy_proc_row_int(site, "telemetry_messages"), n);
            FDY_CHECK_EQ(fdy_proc_row_int(site, "nodes"), 1);
            seen = true;
        }
    }
    FDY_CHECK(seen);
    fdy_proc_json_destroy(&json);
    free(body);
    foundry_client_close(&node, 1000, NULL);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A job submitted with no node to take it: submitted 1, queued 1. */
static void
test_metrics_jobs_gauge(void)
{
    fdy_proc_t *p = fdy_proc_new("metrics-jobs");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    FDY_CHECK_EQ(fdy_scrape_value(p, "foundry_jobs_queued"), 0);
    foundry_client_t *admin = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &admin));
    foundry_job_spec_t spec;
    foundry_job_spec_init(&spec);
    spec.type = "inspect";
    uint64_t id = 0;
    FDY_CHECK_OK(foundry_job_submit(admin, &spec, &id, NULL));
    FDY_CHECK_EQ(fdy_scrape_value(p, "foundry_jobs_submitted_total"), 1);
    FDY_CHECK_EQ(fdy_scrape_value(p, "foundry_jobs_queued"), 1);
    FDY_CHECK_EQ(fdy_scrape_value(p, "foundry_jobs{state=\"queued\",type=\"inspect\"}"), 1);
    FDY_CHECK_EQ(fdy_scrape_value(p, "foundry_jobs"), -1);   /* only by state and type */
    foundry_client_close(&admin, 1000, NULL);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static long long
s_count(const char *text, const char *needle)
{
    long long count = 0;
    for (const char *at = strstr(text, needle); at; at = strstr(at + 1, needle))
        count++;
    return count;
}

static void
s_submit_type(foundry_client_t *c, const char *type)
{
    foundry_job_spec_t spec;
    foundry_job_spec_init(&spec);
    spec.type = type;
    uint64_t id = 0;
    foundry_err err = foundry_job_submit(c, &spec, &id, NULL);
    FDY_CHECK_MSG(err == FOUNDRY_OK, "submit %s: %s", type, foundry_client_last_error(c));
}

#define IN_TELEMETRY(site) "foundry_messages_in_total{kind=\"telemetry\",site=\"" site "\"}"
#define OUT_TELEMETRY(site) "foundry_messages_out_total{kind=\"telemetry\",site=\"" site "\"}"
#define IN_JOBS(site) "foundry_messages_in_total{kind=\"jobs\",site=\"" site "\"}"
#define OUT_JOBS(site) "foundry_messages_out_total{kind=\"jobs\",site=\"" site "\"}"
#define JOBS(state, type) "foundry_jobs{state=\"" state "\",type=\"" type "\"}"

/* Traffic by kind and by the site of the authenticated key (never a
 * message field): N publishes from a siheung node are telemetry in at
 * siheung, their deliveries to the admin (a key without a site) telemetry
 * out at site ""; submits of two types by the admin are jobs in at "";
 * the offer to a bucheon worker is jobs out at bucheon and its result jobs
 * in at bucheon; foundry_jobs counts the jobs now by state and type. */
static void
test_metrics_traffic_by_kind_and_site(void)
{
    fdy_proc_t *p = fdy_proc_new("metrics-traffic");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "node-siheung", "--role", "node", "--site", "siheung", NULL);
    fdy_proc_key_add(p, "node-bucheon", "--role", "node", "--site", "bucheon", NULL);
    foundry_client_t *admin = NULL, *node = NULL, *worker = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &admin));
    FDY_CHECK_OK(fdy_proc_client_new(p, "node-siheung", NULL, &node));
    FDY_CHECK_OK(fdy_proc_client_new(p, "node-bucheon", NULL, &worker));

    foundry_sub_opts_t opts;
    foundry_sub_opts_init(&opts);
    opts.filter = "telemetry.siheung.>";
    foundry_sub_t *sub = NULL;
    FDY_CHECK_OK(foundry_client_subscribe(admin, &opts, &sub));
    const int n = 12;
    const char payload[] = "joint=3 angle=41.25";
    const long long payload_len = (long long) sizeof payload - 1;
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "t-%d", i);
        foundry_ack_t ack;
        FDY_CHECK_OK(foundry_client_publish(node, "telemetry.siheung.robot1.joint", payload,
                                            (size_t) payload_len, id, strlen(id), &ack));
    }
    for (int got = 0; got < n; got++) {
        const foundry_msg_t *msg = NULL;
        FDY_CHECK_OK(foundry_sub_receive(sub, 10000, &msg));
    }

    const char *types[] = {"calibrate"};
    FDY_CHECK_OK(foundry_worker_register(worker, NULL, 0, types, 1, 1));
    for (int i = 0; i < 3; i++)
        s_submit_type(admin, "inspect");   /* no node runs it: stays queued */
    s_submit_type(admin, "calibrate");
    s_submit_type(admin, "calibrate");
    foundry_job_offer_t offer;
    FDY_CHECK_OK(foundry_worker_next(worker, 10000, &offer));
    uint64_t token = 0;
    /* slots 0: no slot back, so the second calibrate job is never offered */
    FDY_CHECK_OK(foundry_worker_result(worker, offer.job_id, offer.fence, 1, "ok", 2, NULL, NULL,
                                       0, &token));
    FDY_CHECK_OK(foundry_job_flush(worker, 5000));
    int64_t deadline = fdy_clock_mono_ms() + DEADLINE_MS;
    while (fdy_scrape_value(p, JOBS("succeeded", "calibrate")) != 1)
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "the calibrate job never succeeded");

    char *body = NULL;
    FDY_CHECK_EQ(fdy_scrape_request(p, "GET", "/metrics", NULL, &body), 200);
    FDY_CHECK_EQ(fdy_scrape_sample(body, IN_TELEMETRY("siheung")), n);
    FDY_CHECK_EQ(fdy_scrape_sample(body, OUT_TELEMETRY("")), n);
    FDY_CHECK_EQ(fdy_scrape_sample(body, IN_TELEMETRY("")), 0);
    FDY_CHECK_EQ(fdy_scrape_sample(body, OUT_TELEMETRY("siheung")), 0);
    FDY_CHECK_EQ(fdy_scrape_sample(body, OUT_TELEMETRY("bucheon")), 0);
    long long bytes_in = fdy_scrape_sample(
        body, "foundry_bytes_in_total{kind=\"telemetry\",site=\"siheung\"}");
    long long bytes_out = fdy_scrape_sample(
        body, "foundry_bytes_out_total{kind=\"telemetry\",site=\"\"}");
    FDY_CHECK_MSG(bytes_in >= n * payload_len, "bytes in %lld for %d messages", bytes_in, n);
    FDY_CHECK_MSG(bytes_out >= n * payload_len, "bytes out %lld for %d messages", bytes_out, n);
    FDY_CHECK_EQ(fdy_scrape_sample(body, IN_JOBS("")), 5);
    FDY_CHECK_EQ(fdy_scrape_sample(body, IN_JOBS("bucheon")), 1);
    FDY_CHECK_EQ(fdy_scrape_sample(body, OUT_JOBS("bucheon")), 1);
    FDY_CHECK_EQ(fdy_scrape_sample(body, OUT_JOBS("")), 0);
    FDY_CHECK_EQ(fdy_scrape_sample(body, IN_JOBS("siheung")), 0);
    FDY_CHECK(fdy_scrape_sample(body, "foundry_bytes_out_total{kind=\"jobs\",site=\"bucheon\"}")
              > 0);
    FDY_CHECK_EQ(fdy_scrape_sample(body,
                                   "foundry_messages_in_total{kind=\"models\",site=\"siheung\"}"),
                 0);
    FDY_CHECK_EQ(fdy_scrape_sample(body, JOBS("queued", "inspect")), 3);
    FDY_CHECK_EQ(fdy_scrape_sample(body, JOBS("queued", "calibrate")), 1);
    FDY_CHECK_EQ(fdy_scrape_sample(body, JOBS("succeeded", "calibrate")), 1);
    FDY_CHECK_EQ(fdy_scrape_sample(body, JOBS("running", "inspect")), 0);
    FDY_CHECK_EQ(fdy_scrape_sample(body, JOBS("queued", "other")), -1);   /* under the cap */
    /* one HELP and TYPE per family, however many services fill it */
    FDY_CHECK_EQ(s_count(body, "# TYPE foundry_messages_in_total counter\n"), 1);
    FDY_CHECK_EQ(s_count(body, "# HELP foundry_messages_out_total "), 1);
    FDY_CHECK_EQ(s_count(body, "# TYPE foundry_jobs gauge\n"), 1);
    free(body);
    /* /api/status carries the same rows under families */
    FDY_CHECK_EQ(fdy_scrape_request(p, "GET", "/api/status", NULL, &body), 200);
    fdy_json_t *json = fdy_proc_json_parse(body, strlen(body));
    FDY_CHECK_MSG(json != NULL, "not JSON: %.200s", body);
    const fdy_json_t *rows =
        fdy_proc_json_get(fdy_proc_json_get(json, "families"), "foundry_messages_in_total");
    long long telemetry_in = -1;
    for (size_t i = 0; i < fdy_proc_json_count(rows); i++) {
        const fdy_json_t *row = fdy_proc_json_at(rows, i);
        char kind[32], site[64];
        fdy_proc_row_str(row, "kind", kind, sizeof kind);
        fdy_proc_row_str(row, "site", site, sizeof site);
        if (strcmp(kind, "telemetry") == 0 && strcmp(site, "siheung") == 0)
            telemetry_in = fdy_proc_row_int(row, "value");
    }
    FDY_CHECK_EQ(telemetry_in, n);
    /* ... and per site, the jobs the dashboard and top show: one offer to
     * bucheon's worker and its one result; nothing for siheung. */
    const fdy_json_t *sites = fdy_proc_json_get(json, "sites");
    int seen = 0;
    for (size_t i = 0; i < fdy_proc_json_count(sites); i++) {
        const fdy_json_t *row = fdy_proc_json_at(sites, i);
        char site[64];
        fdy_proc_row_str(row, "site", site, sizeof site);
        bool bucheon = strcmp(site, "bucheon") == 0;
        if (!bucheon && strcmp(site, "siheung") != 0)
            continue;
        FDY_CHECK_EQ(fdy_proc_row_int(row, "jobs_offered"), bucheon ? 1 : 0);
        FDY_CHECK_EQ(fdy_proc_row_int(row, "jobs_results"), bucheon ? 1 : 0);
        FDY_CHECK_EQ(fdy_proc_row_int(row, "model_bytes"), 0);
        seen++;
    }
    FDY_CHECK_EQ(seen, 2);
    fdy_proc_json_destroy(&json);
    free(body);

    foundry_sub_close(&sub);
    foundry_client_close(&worker, 1000, NULL);
    foundry_client_close(&node, 1000, NULL);
    foundry_client_close(&admin, 1000, NULL);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A tenant submitting ever new job types: the first 64 get a row each,
 * the rest share type="other", so the scrape and the broker's memory stay
 * bounded. */
static void
test_metrics_job_types_capped(void)
{
    fdy_proc_t *p = fdy_proc_new("metrics-types");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    foundry_client_t *admin = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &admin));
    const int types = 70;
    for (int i = 0; i < types; i++) {
        char type[16];
        snprintf(type, sizeof type, "random-%02d", i);
        s_submit_type(admin, type);
    }
    s_submit_type(admin, "other");   /* a type named like the bucket joins it */
    char *body = NULL;
    FDY_CHECK_EQ(fdy_scrape_request(p, "GET", "/metrics", NULL, &body), 200);
    FDY_CHECK_EQ(fdy_scrape_sample(body, JOBS("queued", "random-00")), 1);
    FDY_CHECK_EQ(fdy_scrape_sample(body, JOBS("queued", "random-63")), 1);
    FDY_CHECK_EQ(fdy_scrape_sample(body, JOBS("queued", "random-64")), -1);
    FDY_CHECK_EQ(fdy_scrape_sample(body, JOBS("queued", "other")), types - 64 + 1);
    FDY_CHECK_EQ(s_count(body, "\nfoundry_jobs{state=\"queued\","), 65);
    FDY_CHECK_EQ(s_count(body, "\nfoundry_jobs{state=\"dead\","), 65);
    free(body);
    foundry_client_close(&admin, 1000, NULL);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* Wrong method, unknown path, oversized headers, garbage and a request
 * left half-sent: each gets an error (or is closed), none stops the broker
 * from serving HTTP and CURVE clients meanwhile. */
static void
test_metrics_bad_http_harms_nothing(void)
{
    fdy_proc_t *p = fdy_proc_new("metrics-bad");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    char *body = NULL;
    FDY_CHECK_EQ(fdy_scrape_request(p, "DELETE", "/metrics", NULL, &body), 405);
    FDY_CHECK(strstr(body, "read-only") != NULL);
    free(body);
    FDY_CHECK_EQ(fdy_scrape_request(p, "POST", "/metrics", "Content-Length: 0\r\n", &body), 405);
    free(body);
    FDY_CHECK_EQ(fdy_scrape_request(p, "GET", "/nothing-here", NULL, &body), 404);
    free(body);

    /* 256 KiB of headers: far past the connection's memory limit */
    int fd = fdy_scrape_connect(p);
    const char *line = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ";
    fdy_scrape_send_all(fd, line, strlen(line));
    char *big = malloc(256 * 1024);
    FDY_CHECK(big != NULL);
    memset(big, 'a', 256 * 1024);
    fdy_scrape_send_all(fd, big, 256 * 1024);
    free(big);
    fdy_scrape_send_all(fd, "\r\n\r\n", 4);
    int status = fdy_scrape_read_reply(fd, &body);
    FDY_CHECK_MSG(status == 0 || status >= 400, "oversized headers answered %d", status);
    free(body);

    /* not HTTP at all */
    fd = fdy_scrape_connect(p);
    fdy_scrape_send_all(fd, "\x16\x03\x01\x02\x00garbage\r\n\r\n", 16);
    status = fdy_scrape_read_reply(fd, &body);
    FDY_CHECK_MSG(status == 0 || status >= 400, "garbage answered %d", status);
    free(body);

    /* slowloris: several requests left half-sent stay open while a
     * publisher and a scraper are served */
    int partial[4];
    for (int i = 0; i < 4; i++) {
        partial[i] = fdy_scrape_connect(p);
        fdy_scrape_send_all(partial[i], "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ", 40);
    }
    foundry_client_t *admin = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &admin));
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "s-%d", i);
        foundry_ack_t ack;
        FDY_CHECK_OK(foundry_client_publish(admin, "telemetry.hanam.line.rate", "1", 1, id,
                                            strlen(id), &ack));
    }
    FDY_CHECK_EQ(fdy_scrape_value(p, "foundry_published_total"), 5);
    FDY_CHECK(fdy_scrape_value(p, "foundry_http_refused_total") >= 3);
    for (int i = 0; i < 4; i++)
        close(partial[i]);
    foundry_client_close(&admin, 1000, NULL);
    FDY_CHECK(fdy_proc_broker_alive(p));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* With a token every page needs it, by header or query; a wrong one is 401. */
static void
test_metrics_token_required(void)
{
    fdy_proc_t *p = fdy_proc_new("metrics-token");
    const char *const extra[] = {"--set", "metrics_token=s3cret-token", NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(p, extra));
    char *body = NULL;
    FDY_CHECK_EQ(fdy_scrape_request(p, "GET", "/metrics", NULL, &body), 401);
    free(body);
    FDY_CHECK_EQ(fdy_scrape_request(p, "GET", "/metrics", "Authorization: Bearer wrong-token\r\n", &body),
                 401);
    free(body);
    FDY_CHECK_EQ(fdy_scrape_request(p, "GET", "/metrics?token=s3cret-tokeX", NULL, &body), 401);
    free(body);
    FDY_CHECK_EQ(fdy_scrape_request(p, "GET", "/metrics", "Authorization: Bearer s3cret-token\r\n", &body),
                 200);
    FDY_CHECK(fdy_scrape_sample(body, "foundry_published_total") == 0);
    free(body);
    FDY_CHECK_EQ(fdy_scrape_request(p, "GET", "/api/status?token=s3cret-token", NULL, &body), 200);
    free(body);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* off: no endpoint. Off loopback without a token: the broker refuses to
 * start and says why. A bad address names the option. */
static void
test_metrics_listen_checked(void)
{
    fdy_proc_t *p = fdy_proc_new("metrics-off");
    const char *const off[] = {"--set", "metrics_listen=off", NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(p, off));
    char host[64];
    int port = 0;
    FDY_CHECK(!fdy_proc_metrics_address(p, host, &port));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);

    const char *const open_all[] = {"--set", "metrics_listen=0.0.0.0:0", NULL};
    FDY_CHECK_ERR(fdy_proc_broker_start(p, open_all), FOUNDRY_EIO);
    FDY_CHECK(fdy_proc_log_count(p, "is not loopback: set a token (metrics_token)") >= 1);

    const char *const bad[] = {"--set", "metrics_listen=localhost:99999", NULL};
    FDY_CHECK_ERR(fdy_proc_broker_start(p, bad), FOUNDRY_EIO);
    FDY_CHECK(fdy_proc_log_count(p, "option 'metrics_listen'") >= 2);
    fdy_proc_destroy(&p);
}

/* A request refused for node-siheung: the log line about it carries the
 * principal; with log_format = json every line is one JSON object with
 * ts, level, id and msg. */
static void
s_refused_request(fdy_proc_t *p)
{
    fdy_proc_key_add(p, "node-siheung", "--role", "node", "--site", "siheung", NULL);
    foundry_client_t *node = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "node-siheung", NULL, &node));
    foundry_job_spec_t spec;
    foundry_job_spec_init(&spec);
    spec.type = "not-for-nodes";
    uint64_t id = 0;
    FDY_CHECK(foundry_job_submit(node, &spec, &id, NULL) != FOUNDRY_OK);
    foundry_client_close(&node, 1000, NULL);
}

static void
test_metrics_log_lines_name_principal(void)
{
    fdy_proc_t *p = fdy_proc_new("log-text");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_refused_request(p);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    FDY_CHECK(fdy_proc_log_count(p, " principal=node-siheung") >= 1);
    FDY_CHECK(fdy_proc_log_count(p, "Z NOTICE BROKER-READY serving on") == 1);
    fdy_proc_destroy(&p);

    p = fdy_proc_new("log-json");
    const char *const json_args[] = {"--set", "log_format=json", NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(p, json_args));
    s_refused_request(p);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    FILE *log = fopen(fdy_proc_log_path(p), "r");
    FDY_CHECK(log != NULL);
    char line[8192];
    size_t objects = 0, about_node = 0;
    while (fgets(line, sizeof line, log)) {
        if (strncmp(line, "====", 4) == 0 || line[0] != '{')
            continue;   /* the harness's own lines */
        fdy_json_t *json = fdy_proc_json_parse(line, strlen(line));
        FDY_CHECK_MSG(json != NULL, "not JSON: %s", line);
        char level[16], msg_id[64], ts[40];
        fdy_proc_row_str(json, "level", level, sizeof level);
        fdy_proc_row_str(json, "id", msg_id, sizeof msg_id);
        fdy_proc_row_str(json, "ts", ts, sizeof ts);
        FDY_CHECK(fdy_proc_json_str(fdy_proc_json_get(json, "msg"), NULL) != NULL);
        FDY_CHECK_MSG(strlen(ts) == 24 && ts[23] == 'Z', "timestamp %s", ts);
        const char *who = fdy_proc_json_str(fdy_proc_json_get(json, "principal"), NULL);
        about_node += who && strcmp(who, "node-siheung") == 0;
        objects++;
        fdy_proc_json_destroy(&json);
    }
    fclose(log);
    FDY_CHECK(objects >= 3);
    FDY_CHECK(about_node >= 1);
    fdy_proc_destroy(&p);

    /* the refusal is counted by reason on /metrics */
    p = fdy_proc_new("log-refused");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_refused_request(p);
    char *body = NULL;
    FDY_CHECK_EQ(fdy_scrape_request(p, "GET", "/metrics", NULL, &body), 200);
    FDY_CHECK_MSG(strstr(body, "\nfoundry_refused_total{code=\"6\",reason=\"permission denied\"} 1\n")
                      != NULL,
                  "no refusal by reason in:\n%s", body);
    free(body);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* foundryctl top --once: the same figures, one row per site sorted by
 * site; metrics sites --json for scripts; a bad --interval is a usage error. */
static void
test_metrics_ctl_top_once(void)
{
    fdy_proc_t *p = fdy_proc_new("metrics-top");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "node-hanam", "--role", "node", "--site", "hanam", NULL);
    foundry_client_t *node = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "node-hanam", NULL, &node));
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "h-%d", i);
        foundry_ack_t ack;
        FDY_CHECK_OK(foundry_client_publish(node, "telemetry.hanam.line3.rate", "9", 1, id,
                                            strlen(id), &ack));
    }
    foundry_client_t *admin = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &admin));
    foundry_job_spec_t spec;
    foundry_job_spec_init(&spec);
    spec.type = "inspect";
    uint64_t id = 0;
    FDY_CHECK_OK(foundry_job_submit(admin, &spec, &id, NULL));

    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "top", "--once", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(strstr(run.out, "queued 1") != NULL, "top: %s", run.out);
    FDY_CHECK(strstr(run.out, "SITE") != NULL);
    /* hanam: 1 node, 1 connection, 4 messages; sorted: bucheon < hanam < pangyo < siheung */
    char want[128];
    snprintf(want, sizeof want, "%-16s %6d %6d %12d %10s %10d %10s  node-hanam\n", "hanam", 1, 1, 4,
             "0.0", 0, "0.0");
    FDY_CHECK_MSG(strstr(run.out, want) != NULL, "no '%s' in:\n%s", want, run.out);
    const char *b = strstr(run.out, "\nbucheon "), *h = strstr(run.out, "\nhanam ");
    const char *pg = strstr(run.out, "\npangyo "), *sh = strstr(run.out, "\nsiheung ");
    FDY_CHECK(b && h && pg && sh && b < h && h < pg && pg < sh);
    FDY_CHECK(strstr(run.out, "\033[") == NULL);   /* not a terminal: plain text */
    fdy_proc_run_clear(&run);

    fdy_json_t *json = fdy_proc_ctl_json(p, (const char *const[]){"metrics", "sites", NULL});
    FDY_CHECK_EQ(fdy_proc_json_count(json), 6);
    bool seen = false;
    for (size_t i = 0; i < fdy_proc_json_count(json); i++) {
        const fdy_json_t *row = fdy_proc_json_at(json, i);
        char site[64];
        fdy_proc_row_str(row, "site", site, sizeof site);
        if (strcmp(site, "hanam") == 0) {
            FDY_CHECK_EQ(fdy_proc_row_int(row, "telemetry_messages"), 4);
            FDY_CHECK_EQ(fdy_proc_row_int(row, "nodes"), 1);
            char names[128];
            fdy_proc_row_str(row, "node_names", names, sizeof names);
            FDY_CHECK_STR(names, "node-hanam");
            seen = true;
        }
    }
    FDY_CHECK(seen);
    fdy_proc_json_destroy(&json);

    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "top", "--interval", "5", NULL));
    FDY_CHECK_RUN(&run, 2);
    FDY_CHECK(strstr(run.err, "--interval") != NULL);
    fdy_proc_run_clear(&run);
    foundry_client_close(&admin, 1000, NULL);
    foundry_client_close(&node, 1000, NULL);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* The agent's own endpoint: GET /metrics of a node whose samples the
 * broker acked shows them taken in, forwarded and acked, and it is
 * connected. Its address is in <node data dir>/metrics_url. */
static long long
s_node_scrape(const fdy_node_proc_t *node, const char *series)
{
    char path[FDY_NODE_PROC_PATH_LEN + 16];
    snprintf(path, sizeof path, "%s/metrics_url", node->data_dir);
    char host[64];
    int port = 0;
    FDY_CHECK_MSG(fdy_scrape_address(path, host, &port), "no address in %s", path);
    char *body = NULL;
    FDY_CHECK_EQ(fdy_scrape_request_to(host, port, "GET", "/metrics", NULL, &body), 200);
    long long value = fdy_scrape_sample(body, series);
    free(body);
    return value;
}

static void
test_metrics_node_endpoint(void)
{
    fdy_proc_t *p = fdy_proc_new("metrics-node");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, FDY_NODE_PROC_KEY, "--role", "node", "--site", FDY_NODE_PROC_SITE, NULL);
    fdy_node_proc_t node;
    fdy_node_proc_init(&node, p, "node");
    node.extra[0] = "--set";
    node.extra[1] = "metrics_listen=127.0.0.1:0";
    node.extra[2] = NULL;
    fdy_node_proc_start(&node, -1, true);
    fdy_node_proc_pusher_t pusher;
    fdy_node_proc_pusher_open(&pusher, node.listen);
    fdy_node_proc_push_frames(&pusher, 0, 2);   /* 200 samples */
    fdy_node_proc_pusher_close(&pusher);
    /* deadline-bounded: until the broker acked what the node forwarded */
    long long taken = 0, acked = 0;
    for (int waited = 0; waited < 20000 && (taken < 200 || acked == 0
                                            || s_node_scrape(&node, "foundry_node_outbox_entries") != 0);
         waited += 50) {
        fdy_proc_nap_ms(50);
        taken = s_node_scrape(&node, "foundry_node_samples_in_total");
        acked = s_node_scrape(&node, "foundry_node_acked_total");
    }
    FDY_NODE_CHECK(&node, taken == 200, "samples_in %lld", taken);
    FDY_NODE_CHECK(&node, acked > 0, "acked %lld", acked);
    FDY_CHECK_EQ(s_node_scrape(&node, "foundry_node_outbox_entries"), 0);
    FDY_CHECK_EQ(s_node_scrape(&node, "foundry_node_forwarded_total"), acked);
    FDY_CHECK_EQ(s_node_scrape(&node, "foundry_node_connected"), 1);
    FDY_CHECK_EQ(s_node_scrape(&node, "foundry_node_bad_input_total{kind=\"line\"}"), 0);
    FDY_CHECK_EQ(s_node_scrape(&node, "foundry_node_handler_runs_total{outcome=\"started\"}"), 0);
    /* install state: nothing installed, no update under way */
    FDY_CHECK_EQ(s_node_scrape(&node, "foundry_node_model_updates{phase=\"running\"}"), 0);
    FDY_CHECK_EQ(s_node_scrape(&node, "foundry_node_model_updates{phase=\"waiting\"}"), 0);
    /* and the broker counts the node at its site */
    FDY_CHECK_EQ(fdy_scrape_value(p, "foundry_principals_connected{role=\"node\",site=\"siheung\"}"), 1);
    FDY_CHECK_EQ(fdy_node_proc_stop(&node), 0);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"metrics_counts_publishes", test_metrics_counts_publishes},
        {"metrics_jobs_gauge", test_metrics_jobs_gauge},
        {"metrics_traffic_by_kind_and_site", test_metrics_traffic_by_kind_and_site},
        {"metrics_job_types_capped", test_metrics_job_types_capped},
        {"metrics_bad_http_harms_nothing", test_metrics_bad_http_harms_nothing},
        {"metrics_token_required", test_metrics_token_required},
        {"metrics_listen_checked", test_metrics_listen_checked},
        {"metrics_log_lines_name_principal", test_metrics_log_lines_name_principal},
        {"metrics_ctl_top_once", test_metrics_ctl_top_once},
        {"metrics_node_endpoint", test_metrics_node_endpoint},
    };
    return fdy_proc_run_tests("metrics", tests, sizeof tests / sizeof tests[0], argc, argv);
}
