/*  test_node_outbox.c: the real foundry-node against the real broker.
 *  50,000 samples, pushed as text and typed frames, while the broker is
 *  down for part of the run and the node itself is stopped and restarted:
 *  all arrive once the broker is back, each exactly once. Also bad input on
 *  the PULL socket, stdin lines, the node's configuration surface and the
 *  modes of the files it creates.
 */
#include "clock.h"
#include "node_proc.h"
#include "telemetry.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define SITE     FDY_NODE_PROC_SITE
#define STREAM   "telemetry-siheung"
#define NODE_KEY FDY_NODE_PROC_KEY
#define SAMPLES  50000
#define METRICS  15
#define PATH_LEN FDY_NODE_PROC_PATH_LEN
#define ARGS_MAX FDY_NODE_PROC_ARGS_MAX

/* ---- tests ---------------------------------------------------------------------- */

static void
test_node_forwards_50000_samples_across_broker_outage(void)
{
    const size_t frames = SAMPLES / FDY_NODE_PROC_LINES_PER_FRAME;
    fdy_proc_t *p = fdy_proc_new("node_outbox");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, NODE_KEY, "--role", "node", "--site", SITE, NULL);
    /* The broker goes away before the node ever reaches it. */
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);

    fdy_node_proc_t node;
    fdy_node_proc_init(&node, p, "node");
    fdy_node_proc_start(&node, -1, true);
    fdy_node_proc_pusher_t pusher;

    /* Phase 1, broker down: 20,000 samples go to the outbox. */
    fdy_node_proc_pusher_open(&pusher, node.listen);
    fdy_node_proc_push_frames(&pusher, 0, frames * 2 / 5);
    fdy_node_proc_pusher_close(&pusher);
    fdy_node_proc_wait_outbox_samples(&node, SAMPLES * 2 / 5);

    /* The node stops with the broker still down: everything stays. */
    FDY_NODE_CHECK(&node, fdy_node_proc_stop(&node) == 0, "foundry-node did not stop cleanly");
    uint64_t entries = 0, samples = 0;
    FDY_CHECK(fdy_node_proc_outbox_count(&node, &entries, &samples));
    FDY_CHECK_EQ(samples, SAMPLES * 2 / 5);
    FDY_CHECK(entries > 0 && entries < SAMPLES * 2 / 5); /* samples were grouped */

    /* Phase 2, broker still down, node restarted: 10,000 more. */
    fdy_node_proc_start(&node, -1, true);
    fdy_node_proc_pusher_open(&pusher, node.listen);
    fdy_node_proc_push_frames(&pusher, frames * 2 / 5, frames / 5);
    fdy_node_proc_pusher_close(&pusher);
    fdy_node_proc_wait_outbox_samples(&node, SAMPLES * 3 / 5);

    /* Phase 3: the broker is back (same endpoint); 20,000 more meanwhile. */
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    fdy_node_proc_pusher_open(&pusher, node.listen);
    fdy_node_proc_push_frames(&pusher, frames * 3 / 5, frames * 2 / 5);
    fdy_node_proc_pusher_close(&pusher);

    fdy_node_proc_reader_t reader = {SITE, STREAM, NODE_KEY, SAMPLES, NULL, 0, 0, 0, 1, 0};
    reader.seen = calloc(reader.range, 1);
    FDY_CHECK(reader.seen);
    fdy_node_proc_wait_all(p, &node, &reader, SAMPLES, 150000);
    FDY_CHECK_EQ(reader.count, SAMPLES);
    FDY_CHECK_EQ(reader.duplicates, 0);
    FDY_CHECK_EQ(reader.foreign, 0);
    /* Grouped by metric: far fewer messages than samples. */
    FDY_CHECK(reader.messages < SAMPLES / 4);

    /* A clean stop leaves nothing: every entry was acknowledged. */
    FDY_NODE_CHECK(&node, fdy_node_proc_stop(&node) == 0, "foundry-node did not stop cleanly");
    FDY_CHECK(fdy_node_proc_outbox_count(&node, &entries, &samples));
    FDY_CHECK_EQ(entries, 0);
    FDY_CHECK_EQ(samples, 0);
    /* Nothing more arrived meanwhile (no late duplicates). */
    fdy_node_proc_read_new(p, &reader);
    FDY_CHECK_EQ(reader.duplicates, 0);
    FDY_CHECK_EQ(fdy_node_proc_log_count(&node, "OUTBOX-DROPPED"), 0);
    FDY_CHECK_EQ(fdy_node_proc_log_count(&node, "NODE-BAD-"), 0);
    FDY_CHECK_EQ(fdy_node_proc_log_count(&node, "NODE-FATAL"), 0);
    FDY_CHECK(fdy_node_proc_log_count(&node, "NODE-BROKER-UNREACHABLE") >= 1);
    FDY_CHECK(fdy_node_proc_log_count(&node, "NODE-CONNECTED") >= 1);
    free(reader.seen);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* Bad frames and lines are counted, logged and skipped; good samples next
 * to them still arrive. */
static void
test_node_bad_input_harms_nothing(void)
{
    fdy_proc_t *p = fdy_proc_new("node_badinput");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, NODE_KEY, "--role", "node", "--site", SITE, NULL);
    fdy_node_proc_t node;
    fdy_node_proc_init(&node, p, "node");
    fdy_node_proc_start(&node, -1, true);

    fdy_node_proc_pusher_t pusher;
    fdy_node_proc_pusher_open(&pusher, node.listen);
    const uint8_t bad_typed[] = {0x0a, 0x05, 0xff, 0xff, 0xff};
    fdy_node_proc_push(&pusher, bad_typed, sizeof bad_typed, 0); /* bad frame 1 */
    fdy_node_proc_push(&pusher, "robot0.joint0.temp 1 C", 22,
                       ZMQ_SNDMORE); /* bad frame 2: multipart */
    fdy_node_proc_push(&pusher, "robot0.joint0.temp 2 C", 22, 0);
    fdy_node_proc_push(&pusher, "", 0, 0); /* bad frame 3: empty */
    char deep[512] = "a";
    for (int i = 0; i < 31; i++)
        strcat(deep, ".a");
    char text[2048];
    /* Values follow fdy_node_proc_metric(): 1 and 16 are robot1.joint0, 2 is robot2.joint0. */
    int len = snprintf(text, sizeof text,
                       "robot1.joint0.temp 1 C line=7\n"
                       "robot1.joint0.temp ten C\n" /* bad line */
                       "robot1.*.temp 11 C\n"       /* bad line */
                       "\n# a comment\n"
                       "robot1.joint0.temp 16 C 1700000000000000000 line=7\n"
                       "robot1.joint0.temp 13 C line=7 x\n" /* bad line */
                       "%s 14 C\n"                          /* subject too deep */
                       "robot2.joint0.temp 2 C line=7",
                       deep);
    fdy_node_proc_push(&pusher, text, (size_t) len, 0);
    fdy_node_proc_pusher_close(&pusher);

    fdy_node_proc_reader_t reader = {SITE, STREAM, NODE_KEY, 100, NULL, 0, 0, 0, 1, 0};
    reader.seen = calloc(reader.range, 1);
    FDY_CHECK(reader.seen);
    fdy_node_proc_wait_all(p, &node, &reader, 3, 60000);
    FDY_CHECK_EQ(reader.count, 3);
    FDY_CHECK_EQ(reader.foreign, 0);
    FDY_CHECK_EQ(reader.duplicates, 0);
    /* Two metrics: two messages. */
    FDY_CHECK_EQ(reader.messages, 2);
    FDY_NODE_CHECK(&node, fdy_node_proc_stop(&node) == 0, "foundry-node did not stop cleanly");
    FDY_CHECK_EQ(fdy_node_proc_log_count(&node, "NODE-BAD-FRAME"), 3);
    FDY_CHECK_EQ(fdy_node_proc_log_count(&node, "NODE-BAD-LINE"), 3);
    FDY_CHECK_EQ(fdy_node_proc_log_count(&node, "NODE-BAD-SAMPLE"), 1);
    FDY_CHECK(fdy_node_proc_log_count(
                  &node, "in: 4 samples, 3 bad lines, 3 bad frames, 1 bad samples") >= 1);
    free(reader.seen);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* --stdin: lines from a pipe are forwarded; the end of input stops the node
 * cleanly once they are acknowledged. */
static void
test_node_stdin_lines(void)
{
    fdy_proc_t *p = fdy_proc_new("node_stdin");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, NODE_KEY, "--role", "node", "--site", SITE, NULL);
    fdy_node_proc_t node;
    fdy_node_proc_init(&node, p, "node");
    node.extra[0] = "--stdin";
    int fds[2];
    FDY_CHECK(pipe(fds) == 0);
    fdy_node_proc_start(&node, fds[0], false);
    close(fds[0]);
    /* Lines split across writes, a CRLF, a bad line, a last line without
     * its newline. */
    const char *pieces[] = {"robot0.joint0.te", "mp 0 C line=7\nrobot1.joint0.temp 1 C li",
                            "ne=7\r\nnot-a-sample\nrobot2.joint0.temp 2 C line=7"};
    for (size_t i = 0; i < 3; i++)
        FDY_CHECK(write(fds[1], pieces[i], strlen(pieces[i])) == (ssize_t) strlen(pieces[i]));
    close(fds[1]);
    FDY_NODE_CHECK(&node, fdy_node_proc_wait(&node, 30000) == 0,
                   "foundry-node --stdin did not exit 0");

    fdy_node_proc_reader_t reader = {SITE, STREAM, NODE_KEY, 10, NULL, 0, 0, 0, 1, 0};
    reader.seen = calloc(reader.range, 1);
    FDY_CHECK(reader.seen);
    fdy_node_proc_read_new(p, &reader);
    FDY_CHECK_EQ(reader.count, 3);
    FDY_CHECK_EQ(reader.foreign, 0);
    FDY_CHECK_EQ(reader.duplicates, 0);
    FDY_CHECK_EQ(fdy_node_proc_log_count(&node, "NODE-BAD-LINE"), 1);
    FDY_CHECK(fdy_node_proc_log_count(&node, "NODE-STOPPED 0 entries") == 1);
    free(reader.seen);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A key the broker does not know yet: refused at the handshake, telemetry
 * waits in the outbox, and flows once an admin registers the key. */
static void
test_node_waits_until_its_key_is_registered(void)
{
    fdy_proc_t *p = fdy_proc_new("node_auth");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    FDY_CHECK_OK(fdy_proc_key_generate(p, NODE_KEY));
    fdy_node_proc_t node;
    fdy_node_proc_init(&node, p, "node");
    fdy_node_proc_start(&node, -1, true);
    fdy_node_proc_pusher_t pusher;
    fdy_node_proc_pusher_open(&pusher, node.listen);
    fdy_node_proc_push_frames(&pusher, 0, 10);
    fdy_node_proc_pusher_close(&pusher);
    fdy_node_proc_wait_outbox_samples(&node, 10 * FDY_NODE_PROC_LINES_PER_FRAME);
    fdy_node_proc_wait_log(&node, "NODE-AUTH-REFUSED");

    char public_path[512], secret_path[512];
    fdy_proc_key_paths(p, NODE_KEY, public_path, secret_path);
    fdy_proc_run_t run;
    FDY_CHECK_OK(
        fdy_proc_ctl(p, &run, "key", "add", public_path, "--role", "node", "--site", SITE, NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);

    fdy_node_proc_reader_t reader = {
        SITE, STREAM, NODE_KEY, 10 * FDY_NODE_PROC_LINES_PER_FRAME, NULL, 0, 0, 0, 1, 0};
    reader.seen = calloc(reader.range, 1);
    FDY_CHECK(reader.seen);
    fdy_node_proc_wait_all(p, &node, &reader, 10 * FDY_NODE_PROC_LINES_PER_FRAME, 60000);
    FDY_CHECK_EQ(reader.duplicates, 0);
    FDY_CHECK_EQ(reader.foreign, 0);
    FDY_NODE_CHECK(&node, fdy_node_proc_stop(&node) == 0, "foundry-node did not stop cleanly");
    uint64_t entries = 1, samples = 1;
    FDY_CHECK(fdy_node_proc_outbox_count(&node, &entries, &samples));
    FDY_CHECK_EQ(entries, 0);
    free(reader.seen);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* The broker refuses every message for a passing reason (no stream holds
 * the node's site yet): the entries stay in the outbox, and are resent and
 * stored once the broker has the stream. */
static void
test_node_resends_what_the_broker_refused(void)
{
    fdy_proc_t *p = fdy_proc_new("node_resend");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "node-lab7", "--role", "node", "--site", "lab7", NULL);
    fdy_node_proc_t node;
    fdy_node_proc_init(&node, p, "node");
    node.site = "lab7";
    node.key_name = "node-lab7";
    fdy_node_proc_start(&node, -1, true);
    fdy_node_proc_pusher_t pusher;
    fdy_node_proc_pusher_open(&pusher, node.listen);
    fdy_node_proc_push_frames(&pusher, 0, 10);
    fdy_node_proc_pusher_close(&pusher);
    fdy_node_proc_wait_log(&node, "NODE-PUBLISH-FAILED");
    fdy_node_proc_wait_outbox_samples(&node, 10 * FDY_NODE_PROC_LINES_PER_FRAME);

    /* The operator adds the site; the broker creates telemetry-lab7. A
     * new start picks a new port unless told the old one (later flags
     * win). */
    char endpoint[256];
    snprintf(endpoint, sizeof endpoint, "%s", fdy_proc_endpoint(p));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    const char *extra[] = {"--set", "sites=siheung lab7", "--bind", endpoint, NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(p, extra));

    fdy_node_proc_reader_t reader = {
        "lab7", "telemetry-lab7", "node-lab7", 10 * FDY_NODE_PROC_LINES_PER_FRAME, NULL, 0, 0, 0, 1,
        0};
    reader.seen = calloc(reader.range, 1);
    FDY_CHECK(reader.seen);
    fdy_node_proc_wait_all(p, &node, &reader, 10 * FDY_NODE_PROC_LINES_PER_FRAME, 60000);
    FDY_CHECK_EQ(reader.duplicates, 0);
    FDY_CHECK_EQ(reader.foreign, 0);
    FDY_CHECK(fdy_node_proc_log_count(&node, "NODE-RESEND") >= 1);
    FDY_NODE_CHECK(&node, fdy_node_proc_stop(&node) == 0, "foundry-node did not stop cleanly");
    uint64_t entries = 1, samples = 1;
    FDY_CHECK(fdy_node_proc_outbox_count(&node, &entries, &samples));
    FDY_CHECK_EQ(entries, 0);
    FDY_CHECK_EQ(fdy_node_proc_log_count(&node, "NODE-REJECTED"), 0);
    free(reader.seen);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* Runs foundry-node with arguments (NULL-ended), capturing stdout+stderr. */
static int
s_run_node(char *out, size_t size, ...)
{
    const char *binary = getenv("FOUNDRY_NODE");
    FDY_CHECK(binary);
    const char *argv[ARGS_MAX] = {binary};
    size_t argc = 1;
    va_list ap;
    va_start(ap, size);
    const char *arg;
    while ((arg = va_arg(ap, const char *)) != NULL && argc < ARGS_MAX - 1)
        argv[argc++] = arg;
    va_end(ap);
    argv[argc] = NULL;
    int fds[2];
    FDY_CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    FDY_CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null_fd = open("/dev/null", 0);
        if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0)
            _exit(127);
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        execv(binary, (char *const *) argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t got;
    while ((got = read(fds[0], out + len, size - 1 - len)) > 0 && len + 1 < size)
        len += (size_t) got;
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* deploy/node.conf is --help-config's output, so it lists every option at
 * its default; bad configuration exits 2 naming file and line. */
static void
test_node_config_surface(void)
{
    static char out[32768];
    FDY_CHECK_EQ(s_run_node(out, sizeof out, "--help-config", NULL), 0);
    /* The source tree, from this file's path as the compiler saw it. */
    char conf_path[PATH_LEN];
    snprintf(conf_path, sizeof conf_path, "%s", __FILE__);
    char *cut = strstr(conf_path, "tests/integration/");
    FDY_CHECK(cut);
    snprintf(cut, sizeof conf_path - (size_t) (cut - conf_path), "deploy/node.conf");
    FILE *file = fopen(conf_path, "r");
    FDY_CHECK_MSG(file, "cannot open %s (run from the build directory)", conf_path);
    static char conf[32768];
    size_t len = fread(conf, 1, sizeof conf - 1, file);
    conf[len] = '\0';
    fclose(file);
    FDY_CHECK_MSG(strstr(conf, out) != NULL,
                  "deploy/node.conf does not hold `foundry-node --help-config` verbatim");

    FDY_CHECK_EQ(s_run_node(out, sizeof out, "--version", NULL), 0);
    FDY_CHECK(strncmp(out, "foundry-node ", 13) == 0);
    FDY_CHECK_EQ(s_run_node(out, sizeof out, "--help", NULL), 0);
    FDY_CHECK(strstr(out, "--stdin") && strstr(out, "--listen") && strstr(out, "--broker-key"));

    /* site is required; every option is checked; unknown ones refused. */
    FDY_CHECK_EQ(s_run_node(out, sizeof out, "--check-config", NULL), 2);
    FDY_CHECK(strstr(out, "site"));
    FDY_CHECK_EQ(s_run_node(out, sizeof out, "--site", SITE, "--check-config", NULL), 0);
    FDY_CHECK_EQ(s_run_node(out, sizeof out, "--site", "a.b", "--check-config", NULL), 2);
    FDY_CHECK_EQ(s_run_node(out, sizeof out, "--site", SITE, "--set", "outbox_policy=fifo",
                            "--check-config", NULL),
                 2);
    FDY_CHECK(strstr(out, "outbox_policy"));
    FDY_CHECK_EQ(s_run_node(out, sizeof out, "--site", SITE, "--bogus", NULL), 2);

    char bad_conf[PATH_LEN];
    snprintf(bad_conf, sizeof bad_conf, "/tmp/foundry-node-conf-%ld", (long) getpid());
    file = fopen(bad_conf, "w");
    FDY_CHECK(file);
    fprintf(file, "site = pangyo\n# fine so far\noutbox_max_bytes = 10MB\n");
    fclose(file);
    FDY_CHECK_EQ(s_run_node(out, sizeof out, "--config", bad_conf, "--check-config", NULL), 2);
    unlink(bad_conf);
    FDY_CHECK_MSG(strstr(out, ":3:") && strstr(out, "outbox_max_bytes"), "no file:line reason: %s",
                  out);
}

static void
s_check_mode(const char *dir, const char *name, mode_t want, unsigned umask_value)
{
    char path[PATH_LEN + 32];
    snprintf(path, sizeof path, "%s%s%s", dir, name[0] ? "/" : "", name);
    struct stat st;
    FDY_CHECK_MSG(stat(path, &st) == 0, "umask %03o: %s is missing", umask_value, path);
    FDY_CHECK_MSG((st.st_mode & 07777) == want, "umask %03o: %s has mode %04o, want %04o",
                  umask_value, path, (unsigned) (st.st_mode & 07777), (unsigned) want);
}

/* What the node creates (docs/operations.md, "File modes"): its data
 * directory and outbox directory 0700, the outbox's LMDB and lock files
 * and the ready file 0600, whatever the umask it was started with. */
static void
s_check_node_files(unsigned umask_value)
{
    char name[32];
    snprintf(name, sizeof name, "node_modes_%03o", umask_value);
    fdy_proc_t *p = fdy_proc_new(name);
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    FDY_CHECK_OK(fdy_proc_key_generate(p, NODE_KEY));
    fdy_node_proc_t node;
    fdy_node_proc_init(&node, p, "node");
    /* The node inherits the umask at fork; ours is put back at once. */
    mode_t before = umask((mode_t) umask_value);
    fdy_node_proc_start(&node, -1, true);
    umask(before);
    char outbox[FDY_NODE_PROC_PATH_LEN + 16];
    snprintf(outbox, sizeof outbox, "%s/outbox", node.data_dir);
    s_check_mode(node.data_dir, "", 0700, umask_value);
    s_check_mode(node.data_dir, "ready", 0600, umask_value);
    s_check_mode(outbox, "", 0700, umask_value);
    s_check_mode(outbox, "data.mdb", 0600, umask_value);
    s_check_mode(outbox, "lock.mdb", 0600, umask_value);
    s_check_mode(outbox, "owner.lock", 0600, umask_value);
    FDY_NODE_CHECK(&node, fdy_node_proc_stop(&node) == 0, "foundry-node did not stop cleanly");
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_node_file_modes(void)
{
    s_check_node_files(022);
    s_check_node_files(0);
}

int
main(int argc, char **argv)
{
    if (!getenv("FOUNDRY_NODE")) {
        fprintf(stderr, "node_outbox: FOUNDRY_NODE is not set: skipped\n");
        return 77;
    }
    static const fdy_proc_test_t tests[] = {
        {"node_forwards_50000_samples_across_broker_outage",
         test_node_forwards_50000_samples_across_broker_outage},
        {"node_waits_until_its_key_is_registered", test_node_waits_until_its_key_is_registered},
        {"node_resends_what_the_broker_refused", test_node_resends_what_the_broker_refused},
        {"node_bad_input_harms_nothing", test_node_bad_input_harms_nothing},
        {"node_stdin_lines", test_node_stdin_lines},
        {"node_config_surface", test_node_config_surface},
        {"node_file_modes", test_node_file_modes},
    };
    return fdy_proc_run_tests("node_outbox", tests, sizeof tests / sizeof tests[0], argc, argv);
}
