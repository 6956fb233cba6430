/*  test_metrics.c: the broker's metrics endpoint over real HTTP (a tiny
 *  client on a plain TCP socket, no library): the figures match what the
 *  test did (publishes, a job, a connected node), bad HTTP gets an error
 *  and harms nothing (wrong method, oversized headers, a request left
 *  half-sent while others are served), the token is enforced, and a
 *  non-loopback address without a token is refused at start.
 */
#include "node_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY_MAX (4u * 1024u * 1024u)
#define DEADLINE_MS 10000

static int
s_connect_to(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FDY_CHECK(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    FDY_CHECK(inet_pton(AF_INET, host, &addr.sin_addr) == 1);
    FDY_CHECK_MSG(connect(fd, (struct sockaddr *) &addr, sizeof addr) == 0, "connect: %s",
                  strerror(errno));
    return fd;
}

static int
s_connect(const fdy_proc_t *p)
{
    char host[64];
    int port = 0;
    FDY_CHECK_MSG(fdy_proc_metrics_address(p, host, &port), "no data/metrics_url");
    return s_connect_to(host, port);
}

static void
s_send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;   /* the server may close on an oversized request: read what it said */
        data += n;
        len -= (size_t) n;
    }
}

/* Reads until the server closes (every request says Connection: close).
 * Returns the HTTP status (0 when the reply is not HTTP); *body_out is
 * the malloc'd body (caller frees). */
static int
s_read_reply(int fd, char **body_out)
{
    char *buf = malloc(REPLY_MAX + 1);
    FDY_CHECK(buf != NULL);
    size_t len = 0;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, DEADLINE_MS);
        FDY_CHECK_MSG(ready > 0, "no HTTP reply within %d ms", DEADLINE_MS);
        ssize_t n = recv(fd, buf + len, REPLY_MAX - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || len + (size_t) n >= REPLY_MAX) {
            if (n > 0)
                len += (size_t) n;
            break;
        }
        len += (size_t) n;
    }
    buf[len] = '\0';
    close(fd);
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    const char *body = strstr(buf, "\r\n\r\n");
    *body_out = strdup(body ? body + 4 : "");
    free(buf);
    return status;
}

/* One request; returns the status, *body_out the body (caller frees). */
static int
s_request(const fdy_proc_t *p, const char *method, const char *path, const char *headers,
          char **body_out)
{
    int fd = s_connect(p);
    char req[1024];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n",
             method, path, headers ? headers : "");
    s_send_all(fd, req, strlen(req));
    return s_read_reply(fd, body_out);
}

/* The value of the sample line that starts with `series ` (name and
 * labels exactly), or -1 when there is none. */
static long long
s_sample(const char *text, const char *series)
{
    size_t len = strlen(series);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, series, len) == 0 && line[len] == ' ')
            return strtoll(line + len + 1, NULL, 10);
    }
    return -1;
}

static long long
s_scrape(const fdy_proc_t *p, const char *series)
{
    char *body = NULL;
    int status = s_request(p, "GET", "/metrics", NULL, &body);
    FDY_CHECK_EQ(status, 200);
    long long value = s_sample(body, series);
    free(body);
    return value;
}

/* ---- tests ------------------------------------------------------------------------ */

/* N publishes: the counter says N, the site's stream holds N, and the node
 * that sent them is counted as connected at its site. */
static void
test_metrics_counts_publishes(void)
{
    fdy_proc_t *p = fdy_proc_new("metrics-pub");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    FDY_CHECK_EQ(s_scrape(p, "foundry_published_total"), 0);
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
    FDY_CHECK_EQ(s_scrape(p, "foundry_published_total"), n);
    FDY_CHECK_EQ(s_scrape(p, "foundry_duplicates_total"), 1);
    FDY_CHECK_EQ(s_scrape(p, "foundry_stream_messages{stream=\"telemetry-siheung\"}"), n);
    FDY_CHECK_EQ(s_scrape(p, "foundry_stream_messages{stream=\"telemetry-pangyo\"}"), 0);
    FDY_CHECK_EQ(s_scrape(p, "foundry_principals_connected{role=\"node\",site=\"siheung\"}"), 1);

    char *body = NULL;
    FDY_CHECK_EQ(s_request(p, "GET", "/metrics", NULL, &body), 200);
    FDY_CHECK(strstr(body, "# TYPE foundry_published_total counter\n") != NULL);
    FDY_CHECK(strstr(body, "# TYPE foundry_map_size_max gauge\n") != NULL);
    FDY_CHECK(strstr(body, "# TYPE foundry_rollouts_running gauge\n") != NULL);
    FDY_CHECK(s_sample(body, "foundry_model_bytes_stored") == 0);
    FDY_CHECK(s_sample(body, "foundry_store_used_bytes") > 0);
    /* every stored publish was one group commit with one fsync */
    long long batches = s_sample(body, "foundry_commit_batch_records_count");
    FDY_CHECK_MSG(batches >= n, "%lld group commits for %d publishes", batches, n);
    FDY_CHECK_EQ(s_sample(body, "foundry_commit_batch_records_bucket{le=\"+Inf\"}"), batches);
    long long syncs = s_sample(body, "foundry_commit_fsync_seconds_count");
    FDY_CHECK(syncs >= batches);
    FDY_CHECK_EQ(s_sample(body, "foundry_commit_fsync_seconds_bucket{le=\"+Inf\"}"), syncs);
    FDY_CHECK(strstr(body, "# TYPE foundry_commit_fsync_seconds histogram\n") != NULL);
    free(body);
    /* the JSON status says the same */
    FDY_CHECK_EQ(s_request(p, "GET", "/api/status", NULL, &body), 200);
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
    FDY_CHECK_EQ(s_scrape(p, "foundry_jobs_queued"), 0);
    foundry_client_t *admin = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &admin));
    foundry_job_spec_t spec;
    foundry_job_spec_init(&spec);
    spec.type = "inspect";
    uint64_t id = 0;
    FDY_CHECK_OK(foundry_job_submit(admin, &spec, &id, NULL));
    FDY_CHECK_EQ(s_scrape(p, "foundry_jobs_submitted_total"), 1);
    FDY_CHECK_EQ(s_scrape(p, "foundry_jobs_queued"), 1);
    FDY_CHECK_EQ(s_scrape(p, "foundry_jobs"), 1);
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
    FDY_CHECK_EQ(s_request(p, "DELETE", "/metrics", NULL, &body), 405);
    FDY_CHECK(strstr(body, "read-only") != NULL);
    free(body);
    FDY_CHECK_EQ(s_request(p, "POST", "/metrics", "Content-Length: 0\r\n", &body), 405);
    free(body);
    FDY_CHECK_EQ(s_request(p, "GET", "/nothing-here", NULL, &body), 404);
    free(body);

    /* 256 KiB of headers: far past the connection's memory limit */
    int fd = s_connect(p);
    const char *line = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ";
    s_send_all(fd, line, strlen(line));
    char *big = malloc(256 * 1024);
    FDY_CHECK(big != NULL);
    memset(big, 'a', 256 * 1024);
    s_send_all(fd, big, 256 * 1024);
    free(big);
    s_send_all(fd, "\r\n\r\n", 4);
    int status = s_read_reply(fd, &body);
    FDY_CHECK_MSG(status == 0 || status >= 400, "oversized headers answered %d", status);
    free(body);

    /* not HTTP at all */
    fd = s_connect(p);
    s_send_all(fd, "\x16\x03\x01\x02\x00garbage\r\n\r\n", 16);
    status = s_read_reply(fd, &body);
    FDY_CHECK_MSG(status == 0 || status >= 400, "garbage answered %d", status);
    free(body);

    /* slowloris: several requests left half-sent stay open while a
     * publisher and a scraper are served */
    int partial[4];
    for (int i = 0; i < 4; i++) {
        partial[i] = s_connect(p);
        s_send_all(partial[i], "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ", 40);
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
    FDY_CHECK_EQ(s_scrape(p, "foundry_published_total"), 5);
    FDY_CHECK(s_scrape(p, "foundry_http_refused_total") >= 3);
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
    FDY_CHECK_EQ(s_request(p, "GET", "/metrics", NULL, &body), 401);
    free(body);
    FDY_CHECK_EQ(s_request(p, "GET", "/metrics", "Authorization: Bearer wrong-token\r\n", &body),
                 401);
    free(body);
    FDY_CHECK_EQ(s_request(p, "GET", "/metrics?token=s3cret-tokeX", NULL, &body), 401);
    free(body);
    FDY_CHECK_EQ(s_request(p, "GET", "/metrics", "Authorization: Bearer s3cret-token\r\n", &body),
                 200);
    FDY_CHECK(s_sample(body, "foundry_published_total") == 0);
    free(body);
    FDY_CHECK_EQ(s_request(p, "GET", "/api/status?token=s3cret-token", NULL, &body), 200);
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
    FDY_CHECK_EQ(s_request(p, "GET", "/metrics", NULL, &body), 200);
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
    snprintf(want, sizeof want, "%-16s %6d %6d %12d %10s  node-hanam\n", "hanam", 1, 1, 4, "0.0");
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
    FILE *f = fopen(path, "r");
    FDY_CHECK_MSG(f != NULL, "no %s", path);
    char host[64];
    int port = 0;
    FDY_CHECK(fscanf(f, "http://%63[0-9.]:%d/", host, &port) == 2);
    fclose(f);
    int fd = s_connect_to(host, port);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    s_send_all(fd, req, strlen(req));
    char *body = NULL;
    FDY_CHECK_EQ(s_read_reply(fd, &body), 200);
    long long value = s_sample(body, series);
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
    FDY_CHECK_EQ(s_scrape(p, "foundry_principals_connected{role=\"node\",site=\"siheung\"}"), 1);
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
        {"metrics_bad_http_harms_nothing", test_metrics_bad_http_harms_nothing},
        {"metrics_token_required", test_metrics_token_required},
        {"metrics_listen_checked", test_metrics_listen_checked},
        {"metrics_log_lines_name_principal", test_metrics_log_lines_name_principal},
        {"metrics_ctl_top_once", test_metrics_ctl_top_once},
        {"metrics_node_endpoint", test_metrics_node_endpoint},
    };
    return fdy_proc_run_tests("metrics", tests, sizeof tests / sizeof tests[0], argc, argv);
}
