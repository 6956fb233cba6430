/*  node_proc.c: the integration harness for foundry-node (node_proc.h):
 *  the real binary as a child with its log, pushing telemetry at its PULL
 *  socket, reading what reached the broker's stream, and counting its
 *  outbox through LMDB. Test code: it never mocks a component.
 */
#include "node_proc.h"

#include "clock.h"
#include "telemetry.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

/* Nodes left running by a failed test are killed by the next one: a test
 * may run several nodes, so they are kept with the environment they
 * belong to and only another environment's are strays. */
#define STRAYS_MAX 16
static struct {
    pid_t pid;
    const fdy_proc_t *env;
} s_strays[STRAYS_MAX];

static void
s_stray_forget(pid_t pid)
{
    for (size_t i = 0; i < STRAYS_MAX; i++)
        if (s_strays[i].pid == pid)
            s_strays[i].pid = 0;
}

static void
s_stray_add(pid_t pid, const fdy_proc_t *env)
{
    for (size_t i = 0; i < STRAYS_MAX; i++)
        if (s_strays[i].pid == 0) {
            s_strays[i].pid = pid;
            s_strays[i].env = env;
            return;
        }
}

void
fdy_node_proc_log_tail(const fdy_node_proc_t *node)
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

void
fdy_node_proc_init(fdy_node_proc_t *node, fdy_proc_t *env, const char *name)
{
    for (size_t i = 0; i < STRAYS_MAX; i++)
        if (s_strays[i].pid > 0 && s_strays[i].env != env) {
            kill(s_strays[i].pid, SIGKILL);
            waitpid(s_strays[i].pid, NULL, 0);
            s_strays[i].pid = 0;
        }
    memset(node, 0, sizeof *node);
    node->env = env;
    node->site = FDY_NODE_PROC_SITE;
    node->key_name = FDY_NODE_PROC_KEY;
    snprintf(node->data_dir, sizeof node->data_dir, "%s/%s", fdy_proc_dir(env), name);
    snprintf(node->log_path, sizeof node->log_path, "%s/%s.log", fdy_proc_dir(env), name);
}

/* Reads <data_dir>/ready; true when it names pid, with the listen line. */
static bool
s_ready(fdy_node_proc_t *node)
{
    char path[FDY_NODE_PROC_PATH_LEN + 8];
    snprintf(path, sizeof path, "%s/ready", node->data_dir);
    FILE *file = fopen(path, "r");
    if (!file)
        return false;
    char line[FDY_NODE_PROC_PATH_LEN];
    long pid = -1;
    char listen[FDY_NODE_PROC_PATH_LEN] = "";
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

/* Starts foundry-node for principal node->key_name with the node's extra
 * arguments; stdin from stdin_fd (-1: /dev/null). Waits for its ready file
 * unless stdin is a pipe the caller writes (the node may finish first). */
void
fdy_node_proc_start(fdy_node_proc_t *node, int stdin_fd, bool wait_ready)
{
    const char *binary = getenv("FOUNDRY_NODE");
    FDY_CHECK_MSG(binary, "FOUNDRY_NODE is not set");
    char public_path[512], secret_path[512];
    fdy_proc_key_paths(node->env, node->key_name, public_path, secret_path);
    const char *argv[FDY_NODE_PROC_ARGS_MAX + 24] = {
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
    for (size_t i = 0; node->extra[i] && argc < FDY_NODE_PROC_ARGS_MAX + 23; i++)
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
    s_stray_add(pid, node->env);
    if (!wait_ready)
        return;
    int64_t deadline = fdy_clock_mono_ms() + 20000;
    while (!s_ready(node)) {
        int status = 0;
        FDY_NODE_CHECK(node, waitpid(pid, &status, WNOHANG) == 0, "foundry-node exited at start");
        FDY_NODE_CHECK(node, fdy_clock_mono_ms() < deadline, "foundry-node not ready in 20 s");
        usleep(10000);
    }
}

/* Waits for the node to exit (deadline); returns its exit status, 128+N for
 * signal N, or -1 if it had to be killed. */
int
fdy_node_proc_wait(fdy_node_proc_t *node, int timeout_ms)
{
    int64_t deadline = fdy_clock_mono_ms() + timeout_ms;
    for (;;) {
        int status = 0;
        pid_t got = waitpid(node->pid, &status, WNOHANG);
        if (got == node->pid) {
            s_stray_forget(node->pid);
            node->pid = 0;
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
        }
        if (fdy_clock_mono_ms() >= deadline) {
            kill(node->pid, SIGKILL);
            waitpid(node->pid, NULL, 0);
            s_stray_forget(node->pid);
            node->pid = 0;
            return -1;
        }
        usleep(5000);
    }
}

int
fdy_node_proc_stop(fdy_node_proc_t *node)
{
    kill(node->pid, SIGTERM);
    return fdy_node_proc_wait(node, 30000);
}

size_t
fdy_node_proc_log_count(const fdy_node_proc_t *node, const char *needle)
{
    return fdy_proc_file_count(node->log_path, needle);
}

/* ---- the node's outbox, read through LMDB ---------------------------------- */

/* Entries and samples the outbox holds (header: samples, u32 LE at byte 8
 * of each value; node/outbox.c). Returns false if it cannot be read yet. */
bool
fdy_node_proc_outbox_count(const fdy_node_proc_t *node, uint64_t *entries_out,
                           uint64_t *samples_out)
{
    char dir[FDY_NODE_PROC_PATH_LEN + 16];
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

void
fdy_node_proc_wait_outbox_samples(const fdy_node_proc_t *node, uint64_t want)
{
    int64_t deadline = fdy_clock_mono_ms() + 60000;
    uint64_t entries = 0, samples = 0;
    for (;;) {
        bool ok = fdy_node_proc_outbox_count(node, &entries, &samples);
        if (ok && samples == want)
            return;
        FDY_NODE_CHECK(node, fdy_clock_mono_ms() < deadline,
                       "outbox holds %" PRIu64 " samples, want %" PRIu64, samples, want);
        usleep(20000);
    }
}

/* ---- producing -------------------------------------------------------------- */

void
fdy_node_proc_pusher_open(fdy_node_proc_pusher_t *pusher, const char *endpoint)
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

void
fdy_node_proc_pusher_close(fdy_node_proc_pusher_t *pusher)
{
    zmq_close(pusher->push);
    zmq_ctx_term(pusher->ctx);
    memset(pusher, 0, sizeof *pusher);
}

void
fdy_node_proc_push(fdy_node_proc_pusher_t *pusher, const void *data, size_t len, int flags)
{
    FDY_CHECK_MSG(zmq_send(pusher->push, data, len, flags) == (int) len, "zmq_send: %s",
                  zmq_strerror(errno));
}

void
fdy_node_proc_metric(size_t i, char *out, size_t size)
{
    snprintf(out, size, "robot%zu.joint%zu.temp", i % 5, (i / 5) % 3);
}

/* Frame f carries samples [f * FDY_NODE_PROC_LINES_PER_FRAME, +FDY_NODE_PROC_LINES_PER_FRAME), value i
 * for sample i. Even frames go as text lines, odd frames as typed batches. */
void
fdy_node_proc_push_frames(fdy_node_proc_pusher_t *pusher, size_t first_frame, size_t frames)
{
    static char text[FDY_NODE_PROC_LINES_PER_FRAME * 96];
    fdy_sample_t samples[FDY_NODE_PROC_LINES_PER_FRAME];
    fdy_label_t label = {"line", "7"};
    char metrics[FDY_NODE_PROC_LINES_PER_FRAME][64];
    for (size_t f = first_frame; f < first_frame + frames; f++) {
        size_t base = f * FDY_NODE_PROC_LINES_PER_FRAME;
        if (f % 2 == 0) {
            size_t len = 0;
            for (size_t k = 0; k < FDY_NODE_PROC_LINES_PER_FRAME; k++) {
                char metric[64];
                fdy_node_proc_metric(base + k, metric, sizeof metric);
                len += (size_t) snprintf(text + len, sizeof text - len, "%s %zu C line=7\n", metric,
                                         base + k);
            }
            fdy_node_proc_push(pusher, text, len, 0);
            continue;
        }
        for (size_t k = 0; k < FDY_NODE_PROC_LINES_PER_FRAME; k++) {
            fdy_node_proc_metric(base + k, metrics[k], sizeof metrics[k]);
            samples[k] = (fdy_sample_t){metrics[k], (double) (base + k), "C", 0, &label, 1};
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        fdy_reason_t reason;
        FDY_CHECK_OK(
            fdy_telemetry_encode(samples, FDY_NODE_PROC_LINES_PER_FRAME, &buf, &len, &reason));
        fdy_node_proc_push(pusher, buf, len, 0);
        free(buf);
    }
}

/* ---- reading the stream back --------------------------------------------------- */

/* Reads what the stream has past next_seq and accounts its samples. */
void
fdy_node_proc_read_new(fdy_proc_t *env, fdy_node_proc_reader_t *reader)
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
                fdy_node_proc_metric(index, metric, sizeof metric);
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
void
fdy_node_proc_wait_all(fdy_proc_t *env, const fdy_node_proc_t *node, fdy_node_proc_reader_t *reader,
                       size_t total, int timeout_ms)
{
    int64_t deadline = fdy_clock_mono_ms() + timeout_ms;
    for (;;) {
        fdy_node_proc_read_new(env, reader);
        if (reader->count >= total)
            return;
        FDY_NODE_CHECK(node, fdy_clock_mono_ms() < deadline,
                       "%zu of %zu samples arrived (%zu messages)", reader->count, total,
                       reader->messages);
        usleep(100000);
    }
}

void
fdy_node_proc_wait_log(const fdy_node_proc_t *node, const char *needle)
{
    int64_t deadline = fdy_clock_mono_ms() + 30000;
    while (fdy_node_proc_log_count(node, needle) == 0) {
        FDY_NODE_CHECK(node, fdy_clock_mono_ms() < deadline, "no %s in the node's log", needle);
        usleep(20000);
    }
}
