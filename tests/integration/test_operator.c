/*  test_operator.c: foundryctl and libfoundry as an operator meets them in
 *  the first hour (issue 12): a stopped broker reported at once, durations
 *  with units, --json list cells as arrays, pub --file, confirmation of
 *  destructive commands, key edit/rotate/rm, typo warnings, contexts and
 *  typed-telemetry decoding. Real broker and foundryctl processes.
 */
#include "proc.h"

#include "telemetry.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    FDY_CHECK_OK(
        fdy_proc_ctlv(p, &opts,
                      ARGV("--endpoint", endpoint, "--key", admin_secret, "--broker-key",
                           fdy_proc_broker_key(p), "--timeout", "60000", "pub", "a.b", "x"),
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
    FDY_CHECK_OK(
        fdy_proc_ctlv(p, &opts,
                      ARGV("--endpoint", silent_endpoint, "--key", admin_secret, "--broker-key",
                           fdy_proc_broker_key(p), "--timeout", "300", "status"),
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

static bool s_ctl_on_tty(fdy_proc_t *p, const char *answer, const char *args, fdy_proc_run_t *run);

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

    FDY_CHECK_OK(
        fdy_proc_ctl(p, &run, "pub", "docs.report", "--file", path, "--id", "report-1", NULL));
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
    FDY_CHECK_OK(
        fdy_proc_ctl(p, &run, "pub", "docs.report", "--file", path, "--id", "report-1", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_STR(run.out, "docs 1 duplicate\n");
    fdy_proc_run_clear(&run);

    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "docs.lines", "--file", lines_path, "--lines", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_EQ(s_count_lines(run.out), 3);
    fdy_proc_run_clear(&run);
    fdy_proc_check_stream_count(p, "docs", 4);

    /* on a terminal, pub without TEXT says it reads stdin, then does */
    if (s_ctl_on_tty(p, "typed\n", "pub docs.typed", &run)) {
        FDY_CHECK_MSG(strstr(run.out, "reading messages from stdin, one per line") &&
                          strstr(run.out, "docs 5"),
                      "pub on a terminal: %s", run.out);
        fdy_proc_run_clear(&run);
        fdy_proc_check_stream_count(p, "docs", 5);
    }
    /* not on a terminal: no note (stdin is /dev/null here, nothing sent) */
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "docs.quiet", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK(!strstr(run.err, "reading messages"));
    fdy_proc_run_clear(&run);

    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "docs.x", "text", "--file", path, NULL));
    s_check_fail_with(&run, 2, "not both", "TEXT and --file");
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "docs.x", "--lines", NULL));
    s_check_fail_with(&run, 2, "--lines needs --file", "--lines alone");
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(
        fdy_proc_ctl(p, &run, "pub", "docs.x", "--file", lines_path, "--lines", "--id", "x", NULL));
    s_check_fail_with(&run, 2, "--id", "--id with --lines");
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "docs.x", "--file", "/nonexistent/f", NULL));
    s_check_fail_with(&run, 1, "/nonexistent/f", "missing file");
    fdy_proc_run_clear(&run);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* Runs foundryctl with the admin's credentials on a pseudo-terminal
 * (script(1)), typing `answer` at it. Returns false when script(1) is not
 * installed. */
static bool
s_ctl_on_tty(fdy_proc_t *p, const char *answer, const char *args, fdy_proc_run_t *run)
{
    if (access("/usr/bin/script", X_OK) != 0)
        return false;
    char admin_public[512], admin_secret[512];
    fdy_proc_key_paths(p, "admin", admin_public, admin_secret);
    char command[4096];
    snprintf(command, sizeof command, "%s --endpoint %s --key %s --broker-key %s %s",
             getenv("FOUNDRY_CTL"), fdy_proc_endpoint(p), admin_secret, fdy_proc_broker_key(p),
             args);
    fdy_proc_ctl_opts_t opts = {.no_auth = true,
                                .program = "/usr/bin/script",
                                .stdin_data = answer,
                                .stdin_len = strlen(answer)};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, ARGV("-qec", command, "/dev/null"), run));
    return true;
}

static bool
s_stream_exists(fdy_proc_t *p, const char *name)
{
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "info", name, NULL));
    bool exists = run.status == 0;
    fdy_proc_run_clear(&run);
    return exists;
}

/* stream rm and consumer rm ask on a terminal: "n" keeps, "y" deletes;
 * --yes and a non-terminal stdin (scripts) do not ask. */
static void
test_operator_destructive_commands_confirm(void)
{
    fdy_proc_t *p = fdy_proc_new("confirm");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_run_t run;
    const char *names[] = {"keep", "gone", "scripted", "yes"};
    for (size_t i = 0; i < 4; i++) {
        char subject[32];
        snprintf(subject, sizeof subject, "%s.>", names[i]);
        FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "add", names[i], "--subject", subject, NULL));
        FDY_CHECK_RUN(&run, 0);
        fdy_proc_run_clear(&run);
    }
    if (s_ctl_on_tty(p, "n\n", "stream rm keep", &run)) {
        FDY_CHECK_MSG(strstr(run.out, "delete stream keep") && strstr(run.out, "[y/N]"),
                      "no question on the terminal: %s", run.out);
        FDY_CHECK_MSG(strstr(run.out, "not confirmed"), "answer n: %s", run.out);
        fdy_proc_run_clear(&run);
        FDY_CHECK(s_stream_exists(p, "keep"));
        FDY_CHECK(s_ctl_on_tty(p, "y\n", "stream rm gone", &run));
        FDY_CHECK_MSG(strstr(run.out, "[y/N]") && !strstr(run.out, "not confirmed"), "answer y: %s",
                      run.out);
        fdy_proc_run_clear(&run);
        FDY_CHECK(!s_stream_exists(p, "gone"));
        /* --yes on a terminal: no question */
        FDY_CHECK(s_ctl_on_tty(p, "", "--yes stream rm yes", &run));
        FDY_CHECK_MSG(!strstr(run.out, "[y/N]"), "--yes asked: %s", run.out);
        fdy_proc_run_clear(&run);
        FDY_CHECK(!s_stream_exists(p, "yes"));
        /* consumer rm asks too */
        FDY_CHECK_OK(fdy_proc_ctl(p, &run, "consumer", "add", "keep", "c1", NULL));
        FDY_CHECK_RUN(&run, 0);
        fdy_proc_run_clear(&run);
        FDY_CHECK(s_ctl_on_tty(p, "no\n", "consumer rm keep c1", &run));
        FDY_CHECK_MSG(strstr(run.out, "delete consumer c1 of stream keep"), "%s", run.out);
        fdy_proc_run_clear(&run);
        FDY_CHECK_OK(fdy_proc_ctl(p, &run, "consumer", "info", "keep", "c1", NULL));
        FDY_CHECK_RUN(&run, 0);
        fdy_proc_run_clear(&run);
    } else {
        fprintf(stderr, "  script(1) not installed: terminal prompts not exercised\n");
    }
    /* stdin not a terminal (the harness gives /dev/null): no question */
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "rm", "scripted", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK(!strstr(run.err, "[y/N]"));
    fdy_proc_run_clear(&run);
    FDY_CHECK(!s_stream_exists(p, "scripted"));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* key edit changes grants in place; key rotate swaps the public key (the
 * old key is refused at once, also on a connection made before); key rm
 * forgets only a revoked key; typo checks at key add and stream add. */
static void
test_operator_key_changes(void)
{
    fdy_proc_t *p = fdy_proc_new("keychanges");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "add", "acme", "--subject", "acme.>", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    fdy_proc_key_add(p, "acme", "--role", "partner", "--tenant", "acme", "--allow-publish",
                     "acme.a.>", NULL);
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "acme", NULL, &client));
    foundry_ack_t ack;
    FDY_CHECK_ERR(foundry_client_publish(client, "acme.b.x", "1", 1, NULL, 0, &ack),
                  FOUNDRY_EDENIED);

    /* edit: new publish filters, same key pair, in force at the next message */
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "edit", "acme", "--allow-publish", "acme.b.>", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(foundry_client_publish(client, "acme.b.x", "2", 1, NULL, 0, &ack));
    FDY_CHECK_ERR(foundry_client_publish(client, "acme.a.x", "3", 1, NULL, 0, &ack),
                  FOUNDRY_EDENIED);
    fdy_json_t *keys = fdy_proc_ctl_json(p, ARGV("key", "ls"));
    bool seen = false;
    for (size_t i = 0; i < fdy_proc_json_count(keys); i++) {
        const fdy_json_t *row = fdy_proc_json_at(keys, i);
        if (strcmp(fdy_proc_json_str(fdy_proc_json_get(row, "name"), NULL), "acme") != 0)
            continue;
        char allow[256];
        fdy_proc_row_str(row, "allow_publish", allow, sizeof allow);
        FDY_CHECK_STR(allow, "acme.b.>");
        seen = true;
    }
    FDY_CHECK(seen);
    fdy_proc_json_destroy(&keys);
    /* model grants change in place too */
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "edit", "acme", "--allow-models", "vision", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    keys = fdy_proc_ctl_json(p, ARGV("key", "ls"));
    for (size_t i = 0; i < fdy_proc_json_count(keys); i++) {
        const fdy_json_t *row = fdy_proc_json_at(keys, i);
        if (strcmp(fdy_proc_json_str(fdy_proc_json_get(row, "name"), NULL), "acme") != 0)
            continue;
        char models[256], allow[256];
        fdy_proc_row_str(row, "allow_models", models, sizeof models);
        fdy_proc_row_str(row, "allow_publish", allow, sizeof allow);
        FDY_CHECK_STR(models, "vision");
        FDY_CHECK_STR(allow, "acme.b.>"); /* what was not given stays */
    }
    fdy_proc_json_destroy(&keys);
    /* publish rights no stream captures: refused with the stream add to run */
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "edit", "acme", "--allow-publish", "zeta.>", NULL));
    s_check_fail_with(&run, 1, "`foundryctl stream add tenant-acme --subject 'zeta.>'`",
                      "key edit to publish rights no stream captures");
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "edit", "acme", NULL));
    s_check_fail_with(&run, 2, "needs something to change", "key edit without changes");
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "edit", "nobody", "--tenant", "x", NULL));
    s_check_fail_with(&run, 1, "nobody", "key edit of an unknown key");
    fdy_proc_run_clear(&run);

    /* rotate: the new key works, the old one is refused on its open
     * connection and at a new handshake */
    FDY_CHECK_OK(fdy_proc_key_generate(p, "acme-new"));
    char new_public[512], new_secret[512];
    fdy_proc_key_paths(p, "acme-new", new_public, new_secret);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "rotate", "acme", new_public, NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_ERR(foundry_client_publish(client, "acme.b.x", "4", 1, NULL, 0, &ack), FOUNDRY_EAUTH);
    (void) foundry_client_close(&client, 0, NULL);
    FDY_CHECK_ERR(fdy_proc_client_new(p, "acme", NULL, &client), FOUNDRY_EAUTH);
    FDY_CHECK_OK(fdy_proc_client_new(p, "acme-new", NULL, &client));
    FDY_CHECK_OK(foundry_client_publish(client, "acme.b.x", "5", 1, NULL, 0, &ack));
    (void) foundry_client_close(&client, 0, NULL);

    /* rm: only a revoked key, then the name is free again */
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "rm", "acme", NULL));
    s_check_fail_with(&run, 1, "not revoked", "key rm of a live key");
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "revoke", "acme", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "rm", "acme", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    char old_public[512], old_secret[512];
    fdy_proc_key_paths(p, "acme", old_public, old_secret);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "add", old_public, "--role", "partner", "--tenant",
                              "acme", "--allow-publish", "acme.>", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);

    /* typos: a partner key without grants, a node site no stream holds */
    FDY_CHECK_OK(fdy_proc_key_generate(p, "bare"));
    char bare_public[512], bare_secret[512];
    fdy_proc_key_paths(p, "bare", bare_public, bare_secret);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "add", bare_public, "--role", "partner", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(strstr(run.err, "has no grants"), "no-grant note: %s", run.err);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_key_generate(p, "n1"));
    char n1_public[512], n1_secret[512];
    fdy_proc_key_paths(p, "n1", n1_public, n1_secret);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "add", n1_public, "--role", "node", "--site",
                              "pangyoo", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(strstr(run.err, "site pangyoo is not configured"), "site note: %s", run.err);
    fdy_proc_run_clear(&run);

    /* a stream every filter of which an earlier stream captures */
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "add", "acme-b", "--subject", "acme.b.>", NULL));
    s_check_fail_with(&run, 1, "would never get a message", "shadowed stream");
    FDY_CHECK(strstr(run.err, "stream acme "));
    fdy_proc_run_clear(&run);
    FDY_CHECK(!s_stream_exists(p, "acme-b"));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* Runs foundryctl without the harness's credentials, with extra env. */
static void
s_ctl_env(fdy_proc_t *p, const char *const *env, const char *const *argv, fdy_proc_run_t *run)
{
    fdy_proc_ctl_opts_t opts = {.no_auth = true, .env = env};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, argv, run));
}

/* context add/use/ls/rm under XDG_CONFIG_HOME, paths only; a command uses
 * the context in use; flags and FOUNDRY_* variables win over it;
 * host:port means tcp://; foundry-node reads the same variables. */
static void
test_operator_contexts(void)
{
    fdy_proc_t *p = fdy_proc_new("contexts");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    char config[600], xdg[700];
    snprintf(config, sizeof config, "%s/config", fdy_proc_dir(p));
    snprintf(xdg, sizeof xdg, "XDG_CONFIG_HOME=%s", config);
    const char *env[] = {xdg, NULL};
    char admin_public[512], admin_secret[512];
    fdy_proc_key_paths(p, "admin", admin_public, admin_secret);
    /* host:port shorthand, stored as tcp:// */
    const char *endpoint = fdy_proc_endpoint(p);
    FDY_CHECK(strncmp(endpoint, "tcp://", 6) == 0);
    fdy_proc_run_t run;
    s_ctl_env(p, env,
              ARGV("context", "add", "plant", "--endpoint", endpoint + 6, "--key", admin_secret,
                   "--broker-key", fdy_proc_broker_key(p)),
              &run);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    char conf_path[800];
    snprintf(conf_path, sizeof conf_path, "%s/foundry/contexts/plant.conf", config);
    FDY_CHECK(fdy_proc_file_count(conf_path, endpoint) == 1);
    FDY_CHECK(fdy_proc_file_count(conf_path, admin_secret) == 1);
    /* the secret key's text is nowhere in the file */
    FILE *in = fopen(admin_secret, "r");
    FDY_CHECK(in);
    char secret_text[512] = "";
    while (fgets(secret_text, sizeof secret_text, in))
        if (strstr(secret_text, "secret-key"))
            break;
    fclose(in);
    char *quote = strchr(secret_text, '"');
    FDY_CHECK(quote);
    char *end = strchr(quote + 1, '"');
    FDY_CHECK(end);
    *end = '\0';
    FDY_CHECK_EQ(fdy_proc_file_count(conf_path, quote + 1), 0);

    /* the first context is in use: no flags needed */
    s_ctl_env(p, env, ARGV("status"), &run);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    /* a second one, pointing nowhere; use it; flags still win */
    char nowhere[64];
    snprintf(nowhere, sizeof nowhere, "127.0.0.1:%d", fdy_proc_closed_port());
    s_ctl_env(p, env,
              ARGV("context", "add", "dead", "--endpoint", nowhere, "--key", admin_secret,
                   "--broker-key", fdy_proc_broker_key(p)),
              &run);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    s_ctl_env(p, env, ARGV("context", "use", "dead"), &run);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    s_ctl_env(p, env, ARGV("status"), &run);
    s_check_fail_with(&run, 1, "connection refused", "status through the dead context");
    fdy_proc_run_clear(&run);
    s_ctl_env(p, env, ARGV("--endpoint", endpoint, "status"), &run);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    char endpoint_var[600];
    snprintf(endpoint_var, sizeof endpoint_var, "FOUNDRY_ENDPOINT=%s", endpoint);
    const char *env_and_var[] = {xdg, endpoint_var, NULL};
    s_ctl_env(p, env_and_var, ARGV("status"), &run);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    s_ctl_env(p, env, ARGV("--context", "plant", "status"), &run);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    s_ctl_env(p, env, ARGV("--context", "nosuch", "status"), &run);
    s_check_fail_with(&run, 2, "no context named nosuch", "an unknown context");
    fdy_proc_run_clear(&run);

    fdy_json_t *list = NULL;
    s_ctl_env(p, env, ARGV("--json", "context", "ls"), &run);
    FDY_CHECK_RUN(&run, 0);
    list = fdy_proc_json_parse(run.out, run.out_len);
    FDY_CHECK_MSG(list, "context ls --json: %s", run.out);
    fdy_proc_run_clear(&run);
    FDY_CHECK_EQ(fdy_proc_json_count(list), 2);
    const fdy_json_t *dead = fdy_proc_json_at(list, 0);
    FDY_CHECK_STR(fdy_proc_json_str(fdy_proc_json_get(dead, "name"), NULL), "dead");
    FDY_CHECK_EQ(fdy_proc_json_type(fdy_proc_json_get(dead, "current")), FDY_JSON_BOOL);
    char expanded[96];
    snprintf(expanded, sizeof expanded, "tcp://%s", nowhere);
    FDY_CHECK_STR(fdy_proc_json_str(fdy_proc_json_get(dead, "endpoint"), NULL), expanded);
    fdy_proc_json_destroy(&list);
    s_ctl_env(p, env, ARGV("context", "rm", "dead"), &run);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    /* nothing in use any more: a usage error that says how to fix it */
    s_ctl_env(p, env, ARGV("status"), &run);
    s_check_fail_with(&run, 2, "context add", "no context in use");
    fdy_proc_run_clear(&run);

    /* foundry-node reads FOUNDRY_ENDPOINT (and expands host:port) */
    const char *node = getenv("FOUNDRY_NODE");
    if (node) {
        fdy_proc_ctl_opts_t opts = {.no_auth = true,
                                    .program = node,
                                    .env =
                                        (const char *const[]){"FOUNDRY_ENDPOINT=bad value", NULL}};
        FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, ARGV("--site", "pangyo", "--check-config"), &run));
        s_check_fail_with(&run, 2, "tcp://bad value", "foundry-node with a bad FOUNDRY_ENDPOINT");
        fdy_proc_run_clear(&run);
        opts.env = (const char *const[]){"FOUNDRY_ENDPOINT=bad value", NULL};
        FDY_CHECK_OK(fdy_proc_ctlv(
            p, &opts, ARGV("--site", "pangyo", "--endpoint", "h:1", "--check-config"), &run));
        FDY_CHECK_RUN(&run, 0); /* the flag wins over the variable */
        fdy_proc_run_clear(&run);
    }
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A telemetry batch as foundry-node publishes it is shown as samples by
 * stream read and sub (human and --json), automatically under
 * telemetry.>; --decode none shows the bytes as before. */
static void
test_operator_telemetry_decoding(void)
{
    fdy_proc_t *p = fdy_proc_new("decode");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "pangyo-n", "--role", "node", "--site", "pangyo", NULL);
    fdy_label_t labels[] = {{"line", "a"}};
    fdy_sample_t samples[] = {
        {"robot1.temp", 21.5, "C", 1700000000000000000ull, labels, 1},
        {"robot1.rpm", 1200, "", 0, NULL, 0},
    };
    uint8_t *batch = NULL;
    size_t batch_len = 0;
    fdy_reason_t reason = {{0}};
    FDY_CHECK_OK(fdy_telemetry_encode(samples, 2, &batch, &batch_len, &reason));
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "pangyo-n", NULL, &client));
    foundry_ack_t ack;
    FDY_CHECK_OK(
        foundry_client_publish(client, "telemetry.pangyo.robot1", batch, batch_len, NULL, 0, &ack));
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));
    free(batch);

    const char *want = "robot1.temp 21.5 C 1700000000000000000 line=a; robot1.rpm 1200";
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "read", "telemetry-pangyo", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(strstr(run.out, want), "stream read: %s", run.out);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(
        fdy_proc_ctl(p, &run, "stream", "read", "telemetry-pangyo", "--decode", "none", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(!strstr(run.out, "robot1.temp 21.5") && strstr(run.out, " <0a"),
                  "--decode none: %s", run.out);
    fdy_proc_run_clear(&run);
    fdy_json_t *read =
        fdy_proc_ctl_json(p, ARGV("stream", "read", "telemetry-pangyo", "--decode", "telemetry"));
    const fdy_json_t *got = fdy_proc_json_get(fdy_proc_json_at(read, 0), "samples");
    FDY_CHECK_EQ(fdy_proc_json_count(got), 2);
    const fdy_json_t *first = fdy_proc_json_at(got, 0);
    FDY_CHECK_STR(fdy_proc_json_str(fdy_proc_json_get(first, "metric"), NULL), "robot1.temp");
    FDY_CHECK_STR(fdy_proc_json_str(fdy_proc_json_get(first, "unit"), NULL), "C");
    FDY_CHECK_EQ(fdy_proc_row_int(first, "timestamp_ns"), 1700000000000000000ll);
    FDY_CHECK_STR(
        fdy_proc_json_str(fdy_proc_json_get(fdy_proc_json_get(first, "labels"), "line"), NULL),
        "a");
    FDY_CHECK_EQ(fdy_proc_row_int(fdy_proc_json_at(got, 1), "value"), 1200);
    fdy_proc_json_destroy(&read);

    /* sub, from a durable consumer's start */
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "consumer", "add", "telemetry-pangyo", "ops", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "sub", "--stream", "telemetry-pangyo", "--consumer", "ops",
                              "--count", "1", "--no-ack", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(strstr(run.out, want), "sub: %s", run.out);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "--json", "sub", "--stream", "telemetry-pangyo",
                              "--consumer", "ops", "--count", "1", "--no-ack", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(strstr(run.out, "\"samples\":[{\"metric\":\"robot1.temp\",\"value\":21.5"),
                  "sub --json: %s", run.out);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "sub", "x.>", "--decode", "protobuf", NULL));
    s_check_fail_with(&run, 2, "--decode", "--decode protobuf");
    fdy_proc_run_clear(&run);
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
        {"destructive_commands_confirm", test_operator_destructive_commands_confirm},
        {"key_changes", test_operator_key_changes},
        {"contexts", test_operator_contexts},
        {"telemetry_decoding", test_operator_telemetry_decoding},
    };
    return fdy_proc_run_tests("operator", tests, sizeof tests / sizeof tests[0], argc, argv);
}
