/*  test_node_outbox.c: the real foundry-node against the real broker.
 *  50,000 samples, pushed as text and typed frames, while the broker is
 *  down for part of the run and the node itself is stopped and restarted:
 *  all arrive once the broker is back, each exactly once. Also bad input on
 *  the PULL socket, stdin lines, the node's configuration surface and the
 *  modes of the files it creates.
 */
#include "clock.h"
#include "proc.h"
#include "telemetry.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
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

#define SITE            "siheung"
#define STREAM          "telemetry-siheung"
#define NODE_KEY        "node-siheung"
#define SAMPLES         50000
#define LINES_PER_FRAME 100
#define METRICS         15
#define PATH_LEN        1024
#define ARGS_MAX        40

/* ---- a foundry-node child ---------------------------------------------------- */

typedef struct {
    fdy_proc_t *env;
    const char *site;     /* --site */
    const char *key_name; /* the principal: clients/<key_name>.key_secret */
    pid_t pid;
    char data_dir[PATH_LEN];
    char log_path[PATH_LEN];
    char listen[PATH_LEN];
    const char *extra[ARGS_MAX]; /* more arguments, NULL-ended */
} s_node_t;

/* A node left running by a failed test is killed by the next one. */
static pid_t s_stray_pid;

static void
s_node_log_tail(const s_node_t *node)
{
    FILE *file = fopen(node->log_path, "r");
    if (!file)
        return;
    static char text[16384];
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, size > (long) sizeof text - 1 ? size - (long) sizeof text + 1 : 0, SEEK_SET);
    size_t got = fread(text, 1, sizeof text - 1, file);
    text[got] = '\0';
    fclose(file);
    fprintf(stderr, "  ---- tail of %s ----\n%s  ---- end ----\n", node->log_path, text);
}

#define NODE_CHECK(node, cond, ...)                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            s_node_log_tail(node);                                                                 \
            fdy_proc_fail(__FILE__, __LINE__, __VA_ARGS__);                                        \
        }                                                                                          \
    } while (0)

static void
s_node_init(s_node_t *node, fdy_proc_t *env, const char *name)
{
    if (s_stray_pid > 0) {
        kill(s_stray_pid, SIGKILL);
        waitpid(s_stray_pid, NULL, 0);
        s_stray_pid = 0;
    }
    memset(node, 0, sizeof *node);
    node->env = env;
    node->site = SITE;
    node->key_name = NODE_KEY;
    snprintf(node->data_dir, sizeof node->data_dir, "%s/%s", fdy_proc_dir(env), name);
    snprintf(node->log_path, sizeof node->log_path, "%s/%s.log", fdy_proc_dir(env), name);
}

/* Reads <data_dir>/ready; true when it names pid, with the listen line. */
static bool
s_node_ready(s_node_t *node)
{
    char path[PATH_LEN + 8];
    snprintf(path, sizeof path, "%s/ready", node->data_dir);
    FILE *file = fopen(path, "r");
    if (!file)
        return false;
    char line[PATH_LEN];
    long pid = -1;
    char listen[PATH_LEN] = "";
    while (fgets(line, sizeof line, file)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "listen ", 7) == 0)
            memcpy(listen, line + 7, strlen(line + 7) + 1);
        else if (strncmp(line, "pid ", 4) == 0)
            pid = strtol(line + 4, NULL, 10);
    }
    fclose(file);
    if (pid != (long) node->pid || !listen[0])
        return false;
    snprintf(node->listen, sizeof node->listen, "%s", listen);
    return true;
}

/* Starts foundry-node for principal NODE_KEY with the node's extra
 * arguments; stdin from stdin_fd (-1: /dev/null). Waits for its ready file
 * unless stdin is a pipe the caller writes (the node may finish first). */
static void
s_node_start(s_node_t *node, int stdin_fd, bool wait_ready)
{
    const char *binary = getenv("FOUNDRY_NODE");
    FDY_CHECK_MSG(binary, "FOUNDRY_NODE is not set");
    char public_path[512], secret_path[512];
    fdy_proc_key_paths(node->env, node->key_name, public_path, secret_path);
    const char *argv[ARGS_MAX + 24] = {
        binary,
        "--site",
        node->site,
        "--endpoint",
        fdy_proc_endpoint(node->env),
        "--key",
        secret_path,
        "--broker-key",
        fdy_proc_broker_key(node->env),
        "--data-dir",
        node->data_dir,
        "--log-level",
        "info",
        "--set",
        "connect_timeout=200ms",
        "--set",
        "retry_max=500ms",
        "--set",
        "shutdown_flush=3s",
    };
    size_t argc = 19;
    for (size_t i = 0; node->extra[i] && argc < ARGS_MAX + 23; i++)
        argv[argc++] = node->extra[i];
    argv[argc] = NULL;

    FILE *log = fopen(node->log_path, "a");
    FDY_CHECK(log);
    fprintf(log, "==== test: starting foundry-node\n");
    fflush(log);
    int in_fd = stdin_fd >= 0 ? stdin_fd : open("/dev/null", 0);
    FDY_CHECK(in_fd >= 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    FDY_CHECK(pid >= 0);
    if (pid == 0) {
        /* Only async-signal-safe calls: the parent has libzmq threads. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        signal(SIGPIPE, SIG_DFL);
        if (dup2(in_fd, 0) < 0 || dup2(fileno(log), 1) < 0 || dup2(fileno(log), 2) < 0)
            _exit(127);
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        execv(binary, (char *const *) argv);
        _exit(127);
    }
    if (stdin_fd < 0)
        close(in_fd);
    fclose(log);
    node->pid = pid;
    s_stray_pid = pid;
    if (!wait_ready)
        return;
    int64_t deadline = fdy_clock_mono_ms() + 20000;
    while (!s_node_ready(node)) {
        int status = 0;
        NODE_CHECK(node, waitpid(pid, &status, WNOHANG) == 0, "foundry-node exited at start");
        NODE_CHECK(node, fdy_clock_mono_ms() < deadline, "foundry-node not ready in 20 s");
        usleep(10000);
    }
}

/* Waits for the node to exit (deadline); returns its exit status, 128+N for
 * signal N, or -1 if it had to be killed. */
static int
s_node_wait(s_node_t *node, int timeout_ms)
{
    int64_t deadline = fdy_clock_mono_ms() + timeout_ms;
    for (;;) {
        int status = 0;
        pid_t got = waitpid(node->pid, &status, WNOHANG);
        if (got == node->pid) {
            node->pid = 0;
            s_stray_pid = 0;
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
        }
        if (fdy_clock_mono_ms() >= deadline) {
            kill(node->pid, SIGKILL);
            waitpid(node->pid, NULL, 0);
            node->pid = 0;
            s_stray_pid = 0;
            return -1;
        }
        usleep(5000);
    }
}

static int
s_node_stop(s_node_t *node)
{
    kill(node->pid, SIGTERM);
    return s_node_wait(node, 30000);
}

static size_t
s_log_count(const s_node_t *node, const char *needle)
{
    FILE *file = fopen(node->log_path, "r");
    if (!file)
        return 0;
    char line[4096];
    size_t count = 0;
    while (fgets(line, sizeof line, file))
        count += strstr(line, needle) != NULL;
    fclose(file);
    return count;
}

/* ---- the node's outbox, read through LMDB ---------------------------------- */

/* Entries and samples the outbox holds (header: samples, u32 LE at byte 8
 * of each value; node/outbox.c). Returns false if it cannot be read yet. */
static bool
s_outbox_count(const s_node_t *node, uint64_t *entries_out, uint64_t *samples_out)
{
    char dir[PATH_LEN + 16];
    snprintf(dir, sizeof dir, "%s/outbox", node->data_dir);
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *cursor = NULL;
    bool ok = false;
    *entries_out = *samples_out = 0;
    if (mdb_env_create(&env) != 0)
        return false;
    MDB_dbi dbi;
    if (mdb_env_set_maxdbs(env, 2) != 0 || mdb_env_open(env, dir, MDB_RDONLY, 0600) != 0 ||
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0 ||
        mdb_dbi_open(txn, "entries", 0, &dbi) != 0 || mdb_cursor_open(txn, dbi, &cursor) != 0)
        goto out;
    MDB_val key, value;
    int rc;
    for (rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
        const uint8_t *v = value.mv_data;
        (*entries_out)++;
        if (value.mv_size >= 12)
            *samples_out += (uint64_t) v[8] | (uint64_t) v[9] << 8 | (uint64_t) v[10] << 16 |
                            (uint64_t) v[11] << 24;
    }
    ok = rc == MDB_NOTFOUND;
out:
    if (cursor)
        mdb_cursor_close(cursor);
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    return ok;
}

static void
s_wait_outbox_samples(const s_node_t *node, uint64_t want)
{
    int64_t deadline = fdy_clock_mono_ms() + 60000;
    uint64_t entries = 0, samples = 0;
    for (;;) {
        bool ok = s_outbox_count(node, &entries, &samples);
        if (ok && samples == want)
            return;
        NODE_CHECK(node, fdy_clock_mono_ms() < deadline,
                   "outbox holds %" PRIu64 " samples, want %" PRIu64, samples, want);
        usleep(20000);
    }
}

/* ---- producing -------------------------------------------------------------- */

typedef struct {
    void *ctx;
    void *push;
} s_pusher_t;

static void
s_pusher_open(s_pusher_t *pusher, const char *endpoint)
{
    pusher->ctx = zmq_ctx_new();
    FDY_CHECK(pusher->ctx);
    pusher->push = zmq_socket(pusher->ctx, ZMQ_PUSH);
    FDY_CHECK(pusher->push);
    int timeout = 20000, linger = 20000;
    FDY_CHECK(zmq_setsockopt(pusher->push, ZMQ_SNDTIMEO, &timeout, sizeof timeout) == 0);
    /* Closing waits (bounded) until queued frames are delivered. */
    FDY_CHECK(zmq_setsockopt(pusher->push, ZMQ_LINGER, &linger, sizeof linger) == 0);
    FDY_CHECK_MSG(zmq_connect(pusher->push, endpoint) == 0, "connect %s: %s", endpoint,
                  zmq_strerror(errno));
}

static void
s_pusher_close(s_pusher_t *pusher)
{
    zmq_close(pusher->push);
    zmq_ctx_term(pusher->ctx);
    memset(pusher, 0, sizeof *pusher);
}

static void
s_push(s_pusher_t *pusher, const void *data, size_t len, int flags)
{
    FDY_CHECK_MSG(zmq_send(pusher->push, data, len, flags) == (int) len, "zmq_send: %s",
                  zmq_strerror(errno));
}

static void
s_metric(size_t i, char *out, size_t size)
{
    snprintf(out, size, "robot%zu.joint%zu.temp", i % 5, (i / 5) % 3);
}

/* Frame f carries samples [f * LINES_PER_FRAME, +LINES_PER_FRAME), value i
 * for sample i. Even frames go as text lines, odd frames as typed batches. */
static void
s_push_frames(s_pusher_t *pusher, size_t first_frame, size_t frames)
{
    static char text[LINES_PER_FRAME * 96];
    fdy_sample_t samples[LINES_PER_FRAME];
    fdy_label_t label = {"line", "7"};
    char metrics[LINES_PER_FRAME][64];
    for (size_t f = first_frame; f < first_frame + frames; f++) {
        size_t base = f * LINES_PER_FRAME;
        if (f % 2 == 0) {
            size_t len = 0;
            for (size_t k = 0; k < LINES_PER_FRAME; k++) {
                char metric[64];
                s_metric(base + k, metric, sizeof metric);
                len += (size_t) snprintf(text + len, sizeof text - len, "%s %zu C line=7\n", metric,
                                         base + k);
            }
            s_push(pusher, text, len, 0);
            continue;
        }
        for (size_t k = 0; k < LINES_PER_FRAME; k++) {
            s_metric(base + k, metrics[k], sizeof metrics[k]);
            samples[k] = (fdy_sample_t){metrics[k], (double) (base + k), "C", 0, &label, 1};
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        fdy_reason_t reason;
        FDY_CHECK_OK(fdy_telemetry_encode(samples, LINES_PER_FRAME, &buf, &len, &reason));
        s_push(pusher, buf, len, 0);
        free(buf);
    }
}

/* ---- reading the stream back --------------------------------------------------- */

typedef struct {
    const char *site;      /* samples expected under telemetry.<site>. */
    const char *stream;    /* read from this stream */
    const char *publisher; /* the node's principal */
    size_t range;          /* sample values are 0..range-1 */
    uint8_t *seen;         /* per sample value: times seen, range entries */
    size_t count;          /* values seen at least once */
    size_t duplicates;
    size_t foreign;   /* values out of range, or wrong metadata */
    int64_t next_seq; /* next stream seq to read */
    size_t messages;
} s_reader_t;

/* Reads what the stream has past next_seq and accounts its samples. */
static void
s_read_new(fdy_proc_t *env, s_reader_t *reader)
{
    for (;;) {
        char from[32];
        snprintf(from, sizeof from, "%" PRId64, reader->next_seq);
        fdy_proc_run_t run;
        FDY_CHECK_OK(fdy_proc_ctl(env, &run, "--json", "stream", "read", reader->stream, "--from",
                                  from, "--count", "2000", NULL));
        FDY_CHECK_RUN(&run, 0);
        fdy_json_t *rows = fdy_proc_json_parse(run.out, run.out_len);
        FDY_CHECK_MSG(rows && fdy_proc_json_type(rows) == FDY_JSON_ARRAY,
                      "stream read --json: not an array: %.200s", run.out);
        fdy_proc_run_clear(&run);
        size_t count = fdy_proc_json_count(rows);
        fdy_arena_t *arena = fdy_arena_new(0);
        FDY_CHECK(arena);
        for (size_t r = 0; r < count; r++) {
            const fdy_json_t *row = fdy_proc_json_at(rows, r);
            int64_t seq = 0;
            FDY_CHECK(fdy_proc_json_int(fdy_proc_json_get(row, "seq"), &seq));
            FDY_CHECK_EQ(seq, reader->next_seq);
            reader->next_seq = seq + 1;
            reader->messages++;
            const char *subject = fdy_proc_json_str(fdy_proc_json_get(row, "subject"), NULL);
            const char *publisher = fdy_proc_json_str(fdy_proc_json_get(row, "publisher"), NULL);
            FDY_CHECK_STR(publisher, reader->publisher);
            size_t len = 0;
            uint8_t *payload = fdy_proc_json_bytes(fdy_proc_json_get(row, "payload"), &len);
            FDY_CHECK(payload);
            fdy_arena_reset(arena, FDY_TELEMETRY_DECODE_BUDGET(len));
            fdy_sample_t *samples = NULL;
            size_t n = 0;
            fdy_reason_t reason;
            FDY_CHECK_OK(fdy_telemetry_decode(payload, len, arena, &samples, &n, &reason));
            for (size_t k = 0; k < n; k++) {
                double value = samples[k].value;
                size_t index = (size_t) value;
                char want[FOUNDRY_SUBJECT_MAX + 1];
                snprintf(want, sizeof want, "telemetry.%s.%s", reader->site, samples[k].metric);
                char metric[64];
                s_metric(index, metric, sizeof metric);
                bool good = value >= 0 && value < (double) reader->range &&
                            (double) index == value && subject && strcmp(subject, want) == 0 &&
                            strcmp(samples[k].metric, metric) == 0 &&
                            strcmp(samples[k].unit, "C") == 0 && samples[k].timestamp_ns > 0 &&
                            samples[k].label_count == 1 &&
                            strcmp(samples[k].labels[0].key, "line") == 0;
                if (!good) {
                    reader->foreign++;
                    continue;
                }
                if (reader->seen[index]++ == 0)
                    reader->count++;
                else
                    reader->duplicates++;
            }
            free(payload);
        }
        fdy_arena_destroy(&arena);
        fdy_proc_json_destroy(&rows);
        if (count < 2000)
            return;
    }
}

/* Reads the stream until `total` distinct samples arrived (deadline). */
static void
s_wait_all(fdy_proc_t *env, const s_node_t *node, s_reader_t *reader, size_t total, int timeout_ms)
{
    int64_t deadline = fdy_clock_mono_ms() + timeout_ms;
    for (;;) {
        s_read_new(env, reader);
        if (reader->count >= total)
            return;
        NODE_CHECK(node, fdy_clock_mono_ms() < deadline,
                   "%zu of %zu samples arrived (%zu messages)", reader->count, total,
                   reader->messages);
        usleep(100000);
    }
}

static void
s_wait_log(const s_node_t *node, const char *needle)
{
    int64_t deadline = fdy_clock_mono_ms() + 30000;
    while (s_log_count(node, needle) == 0) {
        NODE_CHECK(node, fdy_clock_mono_ms() < deadline, "no %s in the node's log", needle);
        usleep(20000);
    }
}

/* ---- tests ---------------------------------------------------------------------- */

static void
test_node_forwards_50000_samples_across_broker_outage(void)
{
    const size_t frames = SAMPLES / LINES_PER_FRAME;
    fdy_proc_t *p = fdy_proc_new("node_outbox");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, NODE_KEY, "--role", "node", "--site", SITE, NULL);
    /* The broker goes away before the node ever reaches it. */
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);

    s_node_t node;
    s_node_init(&node, p, "node");
    s_node_start(&node, -1, true);
    s_pusher_t pusher;

    /* Phase 1, broker down: 20,000 samples go to the outbox. */
    s_pusher_open(&pusher, node.listen);
    s_push_frames(&pusher, 0, frames * 2 / 5);
    s_pusher_close(&pusher);
    s_wait_outbox_samples(&node, SAMPLES * 2 / 5);

    /* The node stops with the broker still down: everything stays. */
    NODE_CHECK(&node, s_node_stop(&node) == 0, "foundry-node did not stop cleanly");
    uint64_t entries = 0, samples = 0;
    FDY_CHECK(s_outbox_count(&node, &entries, &samples));
    FDY_CHECK_EQ(samples, SAMPLES * 2 / 5);
    FDY_CHECK(entries > 0 && entries < SAMPLES * 2 / 5); /* samples were grouped */

    /* Phase 2, broker still down, node restarted: 10,000 more. */
    s_node_start(&node, -1, true);
    s_pusher_open(&pusher, node.listen);
    s_push_frames(&pusher, frames * 2 / 5, frames / 5);
    s_pusher_close(&pusher);
    s_wait_outbox_samples(&node, SAMPLES * 3 / 5);

    /* Phase 3: the broker is back (same endpoint); 20,000 more meanwhile. */
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    s_pusher_open(&pusher, node.listen);
    s_push_frames(&pusher, frames * 3 / 5, frames * 2 / 5);
    s_pusher_close(&pusher);

    s_reader_t reader = {SITE, STREAM, NODE_KEY, SAMPLES, NULL, 0, 0, 0, 1, 0};
    reader.seen = calloc(reader.range, 1);
    FDY_CHECK(reader.seen);
    s_wait_all(p, &node, &reader, SAMPLES, 150000);
    FDY_CHECK_EQ(reader.count, SAMPLES);
    FDY_CHECK_EQ(reader.duplicates, 0);
    FDY_CHECK_EQ(reader.foreign, 0);
    /* Grouped by metric: far fewer messages than samples. */
    FDY_CHECK(reader.messages < SAMPLES / 4);

    /* A clean stop leaves nothing: every entry was acknowledged. */
    NODE_CHECK(&node, s_node_stop(&node) == 0, "foundry-node did not stop cleanly");
    FDY_CHECK(s_outbox_count(&node, &entries, &samples));
    FDY_CHECK_EQ(entries, 0);
    FDY_CHECK_EQ(samples, 0);
    /* Nothing more arrived meanwhile (no late duplicates). */
    s_read_new(p, &reader);
    FDY_CHECK_EQ(reader.duplicates, 0);
    FDY_CHECK_EQ(s_log_count(&node, "OUTBOX-DROPPED"), 0);
    FDY_CHECK_EQ(s_log_count(&node, "NODE-BAD-"), 0);
    FDY_CHECK_EQ(s_log_count(&node, "NODE-FATAL"), 0);
    FDY_CHECK(s_log_count(&node, "NODE-BROKER-UNREACHABLE") >= 1);
    FDY_CHECK(s_log_count(&node, "NODE-CONNECTED") >= 1);
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
    s_node_t node;
    s_node_init(&node, p, "node");
    s_node_start(&node, -1, true);

    s_pusher_t pusher;
    s_pusher_open(&pusher, node.listen);
    const uint8_t bad_typed[] = {0x0a, 0x05, 0xff, 0xff, 0xff};
    s_push(&pusher, bad_typed, sizeof bad_typed, 0);            /* bad frame 1 */
    s_push(&pusher, "robot0.joint0.temp 1 C", 22, ZMQ_SNDMORE); /* bad frame 2: multipart */
    s_push(&pusher, "robot0.joint0.temp 2 C", 22, 0);
    s_push(&pusher, "", 0, 0); /* bad frame 3: empty */
    char deep[512] = "a";
    for (int i = 0; i < 31; i++)
        strcat(deep, ".a");
    char text[2048];
    /* Values follow s_metric(): 1 and 16 are robot1.joint0, 2 is robot2.joint0. */
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
    s_push(&pusher, text, (size_t) len, 0);
    s_pusher_close(&pusher);

    s_reader_t reader = {SITE, STREAM, NODE_KEY, 100, NULL, 0, 0, 0, 1, 0};
    reader.seen = calloc(reader.range, 1);
    FDY_CHECK(reader.seen);
    s_wait_all(p, &node, &reader, 3, 60000);
    FDY_CHECK_EQ(reader.count, 3);
    FDY_CHECK_EQ(reader.foreign, 0);
    FDY_CHECK_EQ(reader.duplicates, 0);
    /* Two metrics: two messages. */
    FDY_CHECK_EQ(reader.messages, 2);
    NODE_CHECK(&node, s_node_stop(&node) == 0, "foundry-node did not stop cleanly");
    FDY_CHECK_EQ(s_log_count(&node, "NODE-BAD-FRAME"), 3);
    FDY_CHECK_EQ(s_log_count(&node, "NODE-BAD-LINE"), 3);
    FDY_CHECK_EQ(s_log_count(&node, "NODE-BAD-SAMPLE"), 1);
    FDY_CHECK(s_log_count(&node, "in: 4 samples, 3 bad lines, 3 bad frames, 1 bad samples") >= 1);
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
    s_node_t node;
    s_node_init(&node, p, "node");
    node.extra[0] = "--stdin";
    int fds[2];
    FDY_CHECK(pipe(fds) == 0);
    s_node_start(&node, fds[0], false);
    close(fds[0]);
    /* Lines split across writes, a CRLF, a bad line, a last line without
     * its newline. */
    const char *pieces[] = {"robot0.joint0.te", "mp 0 C line=7\nrobot1.joint0.temp 1 C li",
                            "ne=7\r\nnot-a-sample\nrobot2.joint0.temp 2 C line=7"};
    for (size_t i = 0; i < 3; i++)
        FDY_CHECK(write(fds[1], pieces[i], strlen(pieces[i])) == (ssize_t) strlen(pieces[i]));
    close(fds[1]);
    NODE_CHECK(&node, s_node_wait(&node, 30000) == 0, "foundry-node --stdin did not exit 0");

    s_reader_t reader = {SITE, STREAM, NODE_KEY, 10, NULL, 0, 0, 0, 1, 0};
    reader.seen = calloc(reader.range, 1);
    FDY_CHECK(reader.seen);
    s_read_new(p, &reader);
    FDY_CHECK_EQ(reader.count, 3);
    FDY_CHECK_EQ(reader.foreign, 0);
    FDY_CHECK_EQ(reader.duplicates, 0);
    FDY_CHECK_EQ(s_log_count(&node, "NODE-BAD-LINE"), 1);
    FDY_CHECK(s_log_count(&node, "NODE-STOPPED 0 entries") == 1);
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
    s_node_t node;
    s_node_init(&node, p, "node");
    s_node_start(&node, -1, true);
    s_pusher_t pusher;
    s_pusher_open(&pusher, node.listen);
    s_push_frames(&pusher, 0, 10);
    s_pusher_close(&pusher);
    s_wait_outbox_samples(&node, 10 * LINES_PER_FRAME);
    s_wait_log(&node, "NODE-AUTH-REFUSED");

    char public_path[512], secret_path[512];
    fdy_proc_key_paths(p, NODE_KEY, public_path, secret_path);
    fdy_proc_run_t run;
    FDY_CHECK_OK(
        fdy_proc_ctl(p, &run, "key", "add", public_path, "--role", "node", "--site", SITE, NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);

    s_reader_t reader = {SITE, STREAM, NODE_KEY, 10 * LINES_PER_FRAME, NULL, 0, 0, 0, 1, 0};
    reader.seen = calloc(reader.range, 1);
    FDY_CHECK(reader.seen);
    s_wait_all(p, &node, &reader, 10 * LINES_PER_FRAME, 60000);
    FDY_CHECK_EQ(reader.duplicates, 0);
    FDY_CHECK_EQ(reader.foreign, 0);
    NODE_CHECK(&node, s_node_stop(&node) == 0, "foundry-node did not stop cleanly");
    uint64_t entries = 1, samples = 1;
    FDY_CHECK(s_outbox_count(&node, &entries, &samples));
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
    s_node_t node;
    s_node_init(&node, p, "node");
    node.site = "lab7";
    node.key_name = "node-lab7";
    s_node_start(&node, -1, true);
    s_pusher_t pusher;
    s_pusher_open(&pusher, node.listen);
    s_push_frames(&pusher, 0, 10);
    s_pusher_close(&pusher);
    s_wait_log(&node, "NODE-PUBLISH-FAILED");
    s_wait_outbox_samples(&node, 10 * LINES_PER_FRAME);

    /* The operator adds the site; the broker creates telemetry-lab7. A
     * new start picks a new port unless told the old one (later flags
     * win). */
    char endpoint[256];
    snprintf(endpoint, sizeof endpoint, "%s", fdy_proc_endpoint(p));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    const char *extra[] = {"--set", "sites=siheung lab7", "--bind", endpoint, NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(p, extra));

    s_reader_t reader = {
        "lab7", "telemetry-lab7", "node-lab7", 10 * LINES_PER_FRAME, NULL, 0, 0, 0, 1, 0};
    reader.seen = calloc(reader.range, 1);
    FDY_CHECK(reader.seen);
    s_wait_all(p, &node, &reader, 10 * LINES_PER_FRAME, 60000);
    FDY_CHECK_EQ(reader.duplicates, 0);
    FDY_CHECK_EQ(reader.foreign, 0);
    FDY_CHECK(s_log_count(&node, "NODE-RESEND") >= 1);
    NODE_CHECK(&node, s_node_stop(&node) == 0, "foundry-node did not stop cleanly");
    uint64_t entries = 1, samples = 1;
    FDY_CHECK(s_outbox_count(&node, &entries, &samples));
    FDY_CHECK_EQ(entries, 0);
    FDY_CHECK_EQ(s_log_count(&node, "NODE-REJECTED"), 0);
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
    s_node_t node;
    s_node_init(&node, p, "node");
    /* The node inherits the umask at fork; ours is put back at once. */
    mode_t before = umask((mode_t) umask_value);
    s_node_start(&node, -1, true);
    umask(before);
    char outbox[PATH_LEN + 16];
    snprintf(outbox, sizeof outbox, "%s/outbox", node.data_dir);
    s_check_mode(node.data_dir, "", 0700, umask_value);
    s_check_mode(node.data_dir, "ready", 0600, umask_value);
    s_check_mode(outbox, "", 0700, umask_value);
    s_check_mode(outbox, "data.mdb", 0600, umask_value);
    s_check_mode(outbox, "lock.mdb", 0600, umask_value);
    s_check_mode(outbox, "owner.lock", 0600, umask_value);
    NODE_CHECK(&node, s_node_stop(&node) == 0, "foundry-node did not stop cleanly");
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
