/*  test_operator.c: foundryctl and libfoundry as an operator meets them in
 *  the first hour (issue 12): a stopped broker reported at once, durations
 *  with units, --json list cells as arrays, pub --file, confirmation of
 *  destructive commands, key edit/rotate/rm, typo warnings, contexts and
 *  typed-telemetry decoding. Real broker and foundryctl processes.
 */
#include "proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static void
s_check_fail_with(const fdy_proc_run_t *run, int status, const char *needle, const char *what)
{
    if (run->status != status || !strstr(run->err, needle)) {
        fdy_proc_run_print(what, run);
        fdy_proc_fail(__FILE__, __LINE__, "%s: want exit %d and \"%s\" on stderr", what, status,
                      needle);
    }
}

/* A listening TCP socket on 127.0.0.1 that never accepts: connects
 * complete in the kernel's backlog and then hear nothing. */
static int
s_listen_silent(int *port_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    FDY_CHECK(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    FDY_CHECK(bind(fd, (struct sockaddr *) &addr, sizeof addr) == 0);
    FDY_CHECK(listen(fd, 8) == 0);
    FDY_CHECK(getsockname(fd, (struct sockaddr *) &addr, &len) == 0);
    *port_out = ntohs(addr.sin_port);
    return fd;
}

/* Nothing listens on the port: refused at once, although --timeout is a
 * minute (the harness kills a run that takes 20 s, failing the check);
 * libfoundry says the same with FOUNDRY_EIO. A host that does not answer
 * still waits for the timeout. */
static void
test_operator_refused_at_once(void)
{
    fdy_proc_t *p = fdy_proc_new("refused");
    char admin_public[512], admin_secret[512];
    fdy_proc_key_paths(p, "admin", admin_public, admin_secret);
    char endpoint[64], expected[96];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", fdy_proc_closed_port());
    snprintf(expected, sizeof expected, "connection refused at %s", endpoint);

    fdy_proc_ctl_opts_t opts = {.no_auth = true, .deadline_ms = 20000};
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts,
                               ARGV("--endpoint", endpoint, "--key", admin_secret, "--broker-key",
                                    fdy_proc_broker_key(p), "--timeout", "60000", "status"),
                               &run));
    s_check_fail_with(&run, 1, expected, "status against a closed port");
    fdy_proc_run_clear(&run);
    /* pub goes through libfoundry rather than the admin connection */
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts,
                               ARGV("--endpoint", endpoint, "--key", admin_secret, "--broker-key",
                                    fdy_proc_broker_key(p), "--timeout", "60000", "pub", "a.b",
                                    "x"),
                               &run));
    s_check_fail_with(&run, 1, expected, "pub against a closed port");
    fdy_proc_run_clear(&run);

    foundry_client_opts_t copts;
    foundry_client_opts_init(&copts);
    copts.endpoint = endpoint;
    copts.secret_key_file = admin_secret;
    copts.broker_key_file = fdy_proc_broker_key(p);
    copts.connect_timeout_ms = 60000;
    foundry_client_t *client = NULL;
    FDY_CHECK_ERR(foundry_client_new(&copts, &client), FOUNDRY_EIO);
    FDY_CHECK_MSG(strstr(foundry_client_last_error(NULL), expected), "last error \"%s\"",
                  foundry_client_last_error(NULL));

    /* A host that takes the TCP connection but never speaks (a socket
     * listening that nobody accepts on, as a hung or filtered host looks):
     * not a refusal, so the timeout is what ends it. */
    int silent_port = 0;
    int silent = s_listen_silent(&silent_port);
    char silent_endpoint[64];
    snprintf(silent_endpoint, sizeof silent_endpoint, "tcp://127.0.0.1:%d", silent_port);
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts,
                               ARGV("--endpoint", silent_endpoint, "--key", admin_secret,
                                    "--broker-key", fdy_proc_broker_key(p), "--timeout", "300",
                                    "status"),
                               &run));
    close(silent);
    s_check_fail_with(&run, 1, "did not answer within 300 ms", "status against a silent host");
    fdy_proc_run_clear(&run);
    fdy_proc_destroy(&p);
}

/* --timeout 2s, sub --wait 300ms, stream add --max-age 90000 (bare: ms):
 * every duration takes units and a bare number still means ms; a
 * nonsense unit is a usage error that names the flag. --json list cells
 * are arrays. */
static void
test_operator_durations_and_json_lists(void)
{
    fdy_proc_t *p = fdy_proc_new("durations");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "--timeout", "2s", "status", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "--timeout", "2000", "status", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "--timeout", "2 fortnights", "status", NULL));
    s_check_fail_with(&run, 2, "--timeout", "--timeout with a bad unit");
    fdy_proc_run_clear(&run);

    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "add", "plant", "--subject", "plant.>",
                              "--subject", "yard.>", "--max-age", "90000", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    fdy_json_t *info = fdy_proc_ctl_json(p, ARGV("stream", "info", "plant"));
    const fdy_json_t *row = fdy_proc_one_row(info);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "max_age_ms"), 90000);
    const fdy_json_t *filters = fdy_proc_json_get(row, "filters");
    FDY_CHECK_EQ(fdy_proc_json_type(filters), FDY_JSON_ARRAY);
    FDY_CHECK_EQ(fdy_proc_json_count(filters), 2);
    FDY_CHECK_STR(fdy_proc_json_str(fdy_proc_json_at(filters, 0), NULL), "plant.>");
    FDY_CHECK_STR(fdy_proc_json_str(fdy_proc_json_at(filters, 1), NULL), "yard.>");
    fdy_proc_json_destroy(&info);
    fdy_json_t *streams = fdy_proc_ctl_json(p, ARGV("stream", "ls"));
    FDY_CHECK_EQ(fdy_proc_json_type(fdy_proc_json_get(fdy_proc_json_at(streams, 0), "filters")),
                 FDY_JSON_ARRAY);
    fdy_proc_json_destroy(&streams);

    /* sub --wait with a unit ends the wait: nothing is published */
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "sub", "plant.>", "--wait", "300ms", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "sub", "plant.>", "--wait", "soon", NULL));
    s_check_fail_with(&run, 2, "--wait", "sub --wait soon");
    fdy_proc_run_clear(&run);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
s_write_file(const char *path, const void *data, size_t len)
{
    FILE *out = fopen(path, "wb");
    FDY_CHECK(out);
    FDY_CHECK_EQ(fwrite(data, 1, len, out), len);
    FDY_CHECK(fclose(out) == 0);
}

static size_t
s_count_lines(const char *text)
{
    size_t n = 0;
    for (; text && *text; text++)
        n += *text == '\n';
    return n;
}

/* pub --file sends the file's bytes as one message (binary too); --lines
 * one per line; --id names the one message; bad combinations are usage
 * errors; a missing file is reported by name before connecting. */
static void
test_operator_pub_file(void)
{
    fdy_proc_t *p = fdy_proc_new("pubfile");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "add", "docs", "--subject", "docs.>", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);

    static const char blob[] = "first line\nsecond line\n\0\xff\x01 tail";
    char path[600], lines_path[600];
    snprintf(path, sizeof path, "%s/report.bin", fdy_proc_dir(p));
    snprintf(lines_path, sizeof lines_path, "%s/three.txt", fdy_proc_dir(p));
    s_write_file(path, blob, sizeof blob - 1);
    s_write_file(lines_path, "a\nb\nc\n", 6);

    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "docs.report", "--file", path, "--id", "report-1",
                              NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_STR(run.out, "docs 1\n");
    fdy_proc_run_clear(&run);
    fdy_json_t *read = fdy_proc_ctl_json(p, ARGV("stream", "read", "docs"));
    FDY_CHECK_EQ(fdy_proc_json_count(read), 1);
    size_t len = 0;
    uint8_t *payload =
        fdy_proc_json_bytes(fdy_proc_json_get(fdy_proc_json_at(read, 0), "payload"), &len);
    FDY_CHECK(payload);
    FDY_CHECK_EQ(len, sizeof blob - 1);
    FDY_CHECK(memcmp(payload, blob, len) == 0);
    free(payload);
    fdy_proc_json_destroy(&read);
    /* the same id again: the dedupe window knows it */
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "docs.report", "--file", path, "--id", "report-1",
                              NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_STR(run.out, "docs 1 duplicate\n");
    fdy_proc_run_clear(&run);

    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "docs.lines", "--file", lines_path, "--lines",
                              NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_EQ(s_count_lines(run.out), 3);
    fdy_proc_run_clear(&run);
    fdy_proc_check_stream_count(p, "docs", 4);

    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "docs.x", "text", "--file", path, NULL));
    s_check_fail_with(&run, 2, "not both", "TEXT and --file");
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "docs.x", "--lines", NULL));
    s_check_fail_with(&run, 2, "--lines needs --file", "--lines alone");
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "docs.x", "--file", lines_path, "--lines", "--id",
                              "x", NULL));
    s_check_fail_with(&run, 2, "--id", "--id with --lines");
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "docs.x", "--file", "/nonexistent/f", NULL));
    s_check_fail_with(&run, 1, "/nonexistent/f", "missing file");
    fdy_proc_run_clear(&run);
    fdy_proc_check_stream_count(p, "docs", 4);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"refused_at_once", test_operator_refused_at_once},
        {"durations_and_json_lists", test_operator_durations_and_json_lists},
        {"pub_file", test_operator_pub_file},
    };
    return fdy_proc_run_tests("operator", tests, sizeof tests / sizeof tests[0], argc, argv);
}
