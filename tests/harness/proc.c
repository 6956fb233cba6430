/*  proc.c: the integration-test harness (see proc.h). Starts the real broker
 *  and foundryctl as child processes in a per-test temporary directory and
 *  synchronises with them only through deadline-bounded polls (the ready
 *  file, waitpid, zmq_poll), never with sleeps. Not product code.
 */
#include "proc.h"

#include "clock.h"
#include "keys.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <arpa/inet.h>
#include <dirent.h>

extern char **environ;

#define PATH_LEN         512
#define READY_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS  30000
#define LOG_TAIL_LINES   40
#define ARGS_MAX         64
#define JSON_ARGS_MAX    48

struct fdy_proc {
    char name[64];
    char dir[PATH_LEN];
    char data_dir[PATH_LEN];
    char keys_dir[PATH_LEN];
    char clients_dir[PATH_LEN];
    char broker_key[PATH_LEN];
    char log_path[PATH_LEN];
    char ready_path[PATH_LEN];
    char endpoint[256];
    pid_t broker_pid;
    int last_exit; /* of the last failed start, -1 when it did not exit */
    char **extra;     /* extra broker arguments, NULL-ended copy */
    void *zmq_ctx;    /* for raw dealers, created on first use */
    fdy_proc_t *next; /* live environments, for the runner */
};

/* Runner state. Test code only: one test runs at a time on one thread. */
static jmp_buf s_jump;
static bool s_in_test;
static bool s_failed;
static fdy_proc_t *s_live;

static void s_unlink_live(fdy_proc_t *self);

/* ---- small utilities ------------------------------------------------------ */

void
fdy_proc_nap_ms(int ms)
{
    /* Poll interval of the deadline loops, not a synchronisation. */
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static void
s_path(char out[PATH_LEN], const char *a, const char *b)
{
    int n = snprintf(out, PATH_LEN, "%s/%s", a, b);
    if (n < 0 || n >= PATH_LEN)
        fdy_proc_fail(__FILE__, __LINE__, "path too long: %s/%s", a, b);
}

/* Reads a whole regular file (the ready file, a log), NUL-ended. */
static char *
s_read_file(const char *path, size_t *len_out)
{
    FILE *file = fopen(path, "rb");
    struct stat st;
    char *buf = NULL;
    if (file && fstat(fileno(file), &st) == 0 && (buf = malloc((size_t) st.st_size + 1))) {
        size_t len = fread(buf, 1, (size_t) st.st_size, file);
        buf[len] = '\0';
        if (len_out)
            *len_out = len;
    }
    if (file)
        fclose(file);
    return buf;
}

static void
s_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *dir = opendir(path);
        if (dir) {
            struct dirent *entry;
            while ((entry = readdir(dir)) != NULL) {
                if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
                    continue;
                char child[PATH_LEN];
                int n = snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
                if (n > 0 && n < (int) sizeof child)
                    s_remove_tree(child);
            }
            closedir(dir);
        }
        rmdir(path);
    } else
        unlink(path);
}

static void
s_print_log_tail(const fdy_proc_t *self)
{
    size_t len = 0;
    char *log = s_read_file(self->log_path, &len);
    if (!log) {
        fprintf(stderr, "  (no broker log at %s)\n", self->log_path);
        return;
    }
    size_t start = len, lines = 0;
    while (start > 0) {
        if (log[start - 1] == '\n' && start != len && ++lines >= LOG_TAIL_LINES)
            break;
        start--;
    }
    fprintf(stderr, "  ---- tail of %s ----\n%s", self->log_path, log + start);
    if (len > 0 && log[len - 1] != '\n')
        fputc('\n', stderr);
    fprintf(stderr, "  ---- end of log ----\n");
    free(log);
}

/* ---- runner --------------------------------------------------------------- */

void
fdy_proc_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    s_failed = true;
    if (s_in_test)
        longjmp(s_jump, 1);
    exit(1);
}

static void
s_free_extra(fdy_proc_t *self)
{
    for (char **arg = self->extra; arg && *arg; arg++)
        free(*arg);
    free(self->extra);
    self->extra = NULL;
}

static void
s_free(fdy_proc_t *self)
{
    s_unlink_live(self);
    s_free_extra(self);
    free(self);
}

/* An environment its test did not destroy: the test failed (or forgot).
 * Keep its directory for a post-mortem and say where it is. */
static void
s_abandon(fdy_proc_t *self)
{
    if (self->broker_pid > 0) {
        kill(self->broker_pid, SIGKILL);
        waitpid(self->broker_pid, NULL, 0);
        self->broker_pid = 0;
    }
    fprintf(stderr, "  kept test directory: %s\n", self->dir);
    s_print_log_tail(self);
    /* The context may still have sockets the failed test never closed:
     * terminating it could block, so it is left to process exit. */
    s_free(self);
}

int
fdy_proc_run_tests(const char *group, const fdy_proc_test_t *tests, size_t count, int argc,
                   char **argv)
{
    if (!getenv("FOUNDRY_BROKER") || !getenv("FOUNDRY_CTL")) {
        fprintf(stderr, "%s: FOUNDRY_BROKER and FOUNDRY_CTL must be set: skipped\n", group);
        return 77;
    }
    /* foundryctl may exit before reading all its stdin: a write error, not
     * a dead test. Children get the default disposition back. */
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *filter = argc > 1 ? argv[1] : NULL;
    volatile size_t failed = 0, ran = 0;
    for (volatile size_t i = 0; i < count; i++) {
        if (filter && !strstr(tests[i].name, filter))
            continue;
        ran++;
        printf("[ RUN      ] %s.%s\n", group, tests[i].name);
        int64_t start = fdy_clock_mono_ms();
        s_failed = false;
        s_in_test = true;
        if (setjmp(s_jump) == 0)
            tests[i].fn();
        s_in_test = false;
        if (s_live && !s_failed) {
            fprintf(stderr, "FAIL %s: test ended without destroying its environment\n",
                    tests[i].name);
            s_failed = true;
        }
        while (s_live)
            s_abandon(s_live);
        if (s_failed)
            failed++;
        printf("[ %s ] %s.%s (%lld ms)\n", s_failed ? "  FAILED" : "      OK", group, tests[i].name,
               (long long) (fdy_clock_mono_ms() - start));
    }
    printf("[==========] %s: %zu ran, %zu failed\n", group, (size_t) ran, (size_t) failed);
    if (failed) {
        /* A failed check longjmps past the test's own cleanup, so under
         * LeakSanitizer a failure would also report leaks that are only
         * its consequence: skip the exit-time leak check. */
        fflush(stdout);
        fflush(stderr);
        _exit(1);
    }
    return 0;
}

/* ---- child processes -------------------------------------------------------- */

/* Builds the environment for a child: ours without FOUNDRY_ENDPOINT,
 * FOUNDRY_KEY, FOUNDRY_BROKER_KEY, FOUNDRY_CONTEXT and XDG_CONFIG_HOME (so
 * tests say what they mean, and a developer's foundryctl contexts stay
 * out: XDG_CONFIG_HOME points nowhere unless extra sets it), plus
 * `extra`. The strings are borrowed; free only the array. */
static char **
s_child_env(const char *const *extra)
{
    static char no_config[] = "XDG_CONFIG_HOME=/nonexistent/foundry-tests";
    size_t n = 0, k = 0;
    bool extra_config = false;
    while (environ[n])
        n++;
    for (; extra && extra[k]; k++)
        if (strncmp(extra[k], "XDG_CONFIG_HOME=", 16) == 0)
            extra_config = true;
    char **env = calloc(n + k + 2, sizeof *env);
    if (!env)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "FOUNDRY_ENDPOINT=", 17) == 0 ||
            strncmp(environ[i], "FOUNDRY_KEY=", 12) == 0 ||
            strncmp(environ[i], "FOUNDRY_BROKER_KEY=", 19) == 0 ||
            strncmp(environ[i], "FOUNDRY_CONTEXT=", 16) == 0 ||
            strncmp(environ[i], "XDG_CONFIG_HOME=", 16) == 0)
            continue;
        env[at++] = environ[i];
    }
    if (!extra_config)
        env[at++] = no_config;
    for (size_t i = 0; i < k; i++)
        env[at++] = (char *) extra[i];
    env[at] = NULL;
    return env;
}

/* fork + execve with the given descriptors on 0, 1, 2. Between fork and
 * exec only async-signal-safe calls: the parent has libzmq threads. The
 * child dies with us (PR_SET_PDEATHSIG) so a crashed or timed-out test never
 * leaves a broker behind. */
static pid_t
s_spawn(char *const argv[], char *const envp[], int in_fd, int out_fd, int err_fd)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    signal(SIGPIPE, SIG_DFL);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(127);
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    execve(argv[0], argv, envp);
    _exit(127);
}

static int
s_decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* Waits for pid up to timeout_ms. Returns its decoded status, or -1 on
 * timeout (the process is left running). */
static int
s_wait_pid(pid_t pid, int timeout_ms)
{
    int64_t deadline = fdy_clock_mono_ms() + timeout_ms;
    for (;;) {
        int status = 0;
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            return s_decode_status(status);
        if (got < 0 && errno != EINTR)
            return -1;
        if (fdy_clock_mono_ms() >= deadline)
            return -1;
        fdy_proc_nap_ms(5);
    }
}

/* ---- environments ----------------------------------------------------------- */

static void
s_unlink_live(fdy_proc_t *self)
{
    for (fdy_proc_t **at = &s_live; *at; at = &(*at)->next) {
        if (*at == self) {
            *at = self->next;
            return;
        }
    }
}

fdy_proc_t *
fdy_proc_new(const char *name)
{
    fdy_proc_t *self = calloc(1, sizeof *self);
    FDY_CHECK(self);
    snprintf(self->name, sizeof self->name, "%s", name);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    snprintf(self->dir, sizeof self->dir, "%s/foundry-%s-XXXXXX", tmp, name);
    if (!mkdtemp(self->dir)) {
        free(self);
        fdy_proc_fail(__FILE__, __LINE__, "mkdtemp %s: %s", tmp, strerror(errno));
    }
    self->next = s_live;
    s_live = self;
    s_path(self->data_dir, self->dir, "data");
    s_path(self->keys_dir, self->dir, "keys");
    s_path(self->clients_dir, self->dir, "clients");
    s_path(self->broker_key, self->keys_dir, "broker.key");
    s_path(self->log_path, self->dir, "broker.log");
    s_path(self->ready_path, self->data_dir, "ready");
    FDY_CHECK(mkdir(self->data_dir, 0700) == 0);

    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_keys_generate(self->keys_dir, "broker", &reason);
    FDY_CHECK_MSG(err == FOUNDRY_OK, "broker key: %s: %s", foundry_strerror(err), reason.text);
    FDY_CHECK_OK(fdy_proc_key_generate(self, "admin"));

    char admin_public[PATH_LEN], admin_secret[PATH_LEN];
    fdy_proc_key_paths(self, "admin", admin_public, admin_secret);
    fdy_proc_ctl_opts_t opts = {.no_auth = true};
    const char *argv[] = {"bootstrap", "--data-dir", self->data_dir, admin_public, NULL};
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctlv(self, &opts, argv, &run));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    return self;
}

void
fdy_proc_destroy(fdy_proc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdy_proc_t *self = *self_p;
    if (self->broker_pid > 0) {
        kill(self->broker_pid, SIGKILL);
        waitpid(self->broker_pid, NULL, 0);
    }
    if (self->zmq_ctx)
        zmq_ctx_term(self->zmq_ctx);
    if (getenv("FOUNDRY_KEEP_TMP"))
        fprintf(stderr, "  FOUNDRY_KEEP_TMP: kept %s\n", self->dir);
    else
        s_remove_tree(self->dir);
    s_free(self);
    *self_p = NULL;
}

const char *
fdy_proc_endpoint(const fdy_proc_t *self)
{
    return self->endpoint;
}

const char *
fdy_proc_dir(const fdy_proc_t *self)
{
    return self->dir;
}

const char *
fdy_proc_data_dir(const fdy_proc_t *self)
{
    return self->data_dir;
}

const char *
fdy_proc_broker_key(const fdy_proc_t *self)
{
    return self->broker_key;
}

const char *
fdy_proc_log_path(const fdy_proc_t *self)
{
    return self->log_path;
}

bool
fdy_proc_metrics_address(const fdy_proc_t *self, char host_out[64], int *port_out)
{
    char path[PATH_LEN];
    s_path(path, self->data_dir, "metrics_url");
    char *text = s_read_file(path, NULL);
    bool ok = text && sscanf(text, "http://%63[0-9.]:%d/", host_out, port_out) == 2;
    free(text);
    return ok;
}

void
fdy_proc_key_paths(const fdy_proc_t *self, const char *name, char public_out[512],
                   char secret_out[512])
{
    int a = snprintf(public_out, PATH_LEN, "%s/%s.key", self->clients_dir, name);
    int b = snprintf(secret_out, PATH_LEN, "%s/%s.key_secret", self->clients_dir, name);
    if (a < 0 || a >= PATH_LEN || b < 0 || b >= PATH_LEN)
        fdy_proc_fail(__FILE__, __LINE__, "key path too long: %s", name);
}

foundry_err
fdy_proc_key_generate(fdy_proc_t *self, const char *name)
{
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_keys_generate(self->clients_dir, name, &reason);
    if (err != FOUNDRY_OK)
        fprintf(stderr, "  fdy_keys_generate %s: %s\n", name, reason.text);
    return err;
}

void
fdy_proc_key_add(fdy_proc_t *self, const char *name, ...)
{
    FDY_CHECK_OK(fdy_proc_key_generate(self, name));
    char public_path[PATH_LEN], secret_path[PATH_LEN];
    fdy_proc_key_paths(self, name, public_path, secret_path);
    const char *argv[ARGS_MAX] = {"key", "add", public_path};
    size_t argc = 3;
    va_list ap;
    va_start(ap, name);
    const char *arg;
    while ((arg = va_arg(ap, const char *)) != NULL && argc < ARGS_MAX - 1)
        argv[argc++] = arg;
    va_end(ap);
    argv[argc] = NULL;
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctlv(self, NULL, argv, &run));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
}

/* ---- broker ----------------------------------------------------------------- */

/* Reads the ready file; OK only when it names our child (a file left by a
 * killed broker names a dead pid). */
static foundry_err
s_read_ready(fdy_proc_t *self)
{
    char *text = s_read_file(self->ready_path, NULL);
    if (!text)
        return FOUNDRY_ETIMEDOUT;
    char endpoint[sizeof self->endpoint] = "";
    long pid = -1;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "endpoint ", 9) == 0)
            snprintf(endpoint, sizeof endpoint, "%s", line + 9);
        else if (strncmp(line, "pid ", 4) == 0)
            pid = strtol(line + 4, NULL, 10);
    }
    free(text);
    if (pid != (long) self->broker_pid || endpoint[0] == '\0')
        return FOUNDRY_ETIMEDOUT;
    snprintf(self->endpoint, sizeof self->endpoint, "%s", endpoint);
    return FOUNDRY_OK;
}

static foundry_err
s_start_once(fdy_proc_t *self, int *exit_out)
{
    const char *broker = getenv("FOUNDRY_BROKER");
    const char *bind = self->endpoint[0] ? self->endpoint : "tcp://127.0.0.1:*";
    char bind_copy[sizeof self->endpoint];
    snprintf(bind_copy, sizeof bind_copy, "%s", bind);
    char *argv[ARGS_MAX];
    size_t argc = 0;
    argv[argc++] = (char *) broker;
    argv[argc++] = "--data-dir";
    argv[argc++] = self->data_dir;
    argv[argc++] = "--keys";
    argv[argc++] = self->keys_dir;
    argv[argc++] = "--bind";
    argv[argc++] = bind_copy;
    argv[argc++] = "--log-level";
    argv[argc++] = "info";
    /* Many brokers run at once on one machine: never the default 9770
     * (a test's own --set after this one wins). */
    argv[argc++] = "--set";
    argv[argc++] = "metrics_listen=127.0.0.1:0";
    for (char **arg = self->extra; arg && *arg && argc < ARGS_MAX - 1; arg++)
        argv[argc++] = *arg;
    argv[argc] = NULL;

    /* A killed broker leaves its ready file behind; never mistake it. */
    unlink(self->ready_path);
    int log_fd = open(self->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char **env = s_child_env(NULL);
    if (log_fd < 0 || null_fd < 0 || !env) {
        if (log_fd >= 0)
            close(log_fd);
        if (null_fd >= 0)
            close(null_fd);
        free(env);
        return FOUNDRY_EIO;
    }
    dprintf(log_fd, "==== harness: starting broker (bind %s)\n", bind_copy);
    self->broker_pid = s_spawn(argv, env, null_fd, log_fd, log_fd);
    close(log_fd);
    close(null_fd);
    free(env);
    if (self->broker_pid < 0) {
        self->broker_pid = 0;
        return FOUNDRY_EIO;
    }
    int64_t deadline = fdy_clock_mono_ms() + READY_TIMEOUT_MS;
    while (fdy_clock_mono_ms() < deadline) {
        int status = 0;
        pid_t got = waitpid(self->broker_pid, &status, WNOHANG);
        if (got == self->broker_pid) {
            self->broker_pid = 0;
            *exit_out = s_decode_status(status);
            return FOUNDRY_EIO;
        }
        if (s_read_ready(self) == FOUNDRY_OK)
            return FOUNDRY_OK;
        fdy_proc_nap_ms(5);
    }
    return FOUNDRY_ETIMEDOUT;
}

static foundry_err
s_start(fdy_proc_t *self)
{
    FDY_CHECK_MSG(self->broker_pid == 0, "broker already running (pid %d)", (int) self->broker_pid);
    bool restart = self->endpoint[0] != '\0';
    /* A restart rebinds the port the killed broker held. libzmq listens
     * with SO_REUSEADDR, but a bind can still race the kernel closing the
     * old socket: a restart is retried a few times. */
    for (int attempt = 0;; attempt++) {
        int exit_status = -1;
        foundry_err err = s_start_once(self, &exit_status);
        self->last_exit = exit_status;
        if (err == FOUNDRY_OK)
            return FOUNDRY_OK;
        if (err == FOUNDRY_EIO && restart && attempt < 3 && exit_status != -1) {
            fprintf(stderr, "  broker restart exited %d before ready: retrying\n", exit_status);
            continue;
        }
        fprintf(stderr, "  broker did not become ready (%s, exit %d) in %s\n",
                foundry_strerror(err), exit_status, self->dir);
        s_print_log_tail(self);
        return err;
    }
}

int
fdy_proc_broker_last_exit(const fdy_proc_t *self)
{
    return self->last_exit;
}

foundry_err
fdy_proc_broker_start(fdy_proc_t *self, const char *const *extra)
{
    s_free_extra(self);
    size_t n = 0;
    while (extra && extra[n])
        n++;
    self->extra = calloc(n + 1, sizeof *self->extra);
    FDY_CHECK(self->extra);
    for (size_t i = 0; i < n; i++) {
        self->extra[i] = strdup(extra[i]);
        FDY_CHECK(self->extra[i]);
    }
    self->endpoint[0] = '\0';
    return s_start(self);
}

foundry_err
fdy_proc_broker_restart(fdy_proc_t *self)
{
    return s_start(self);
}

pid_t
fdy_proc_broker_pid(const fdy_proc_t *self)
{
    return self->broker_pid > 0 ? self->broker_pid : 0;
}

bool
fdy_proc_broker_alive(fdy_proc_t *self)
{
    if (self->broker_pid <= 0)
        return false;
    int status = 0;
    pid_t got = waitpid(self->broker_pid, &status, WNOHANG);
    if (got == self->broker_pid) {
        fprintf(stderr, "  broker pid %d exited: status %d\n", (int) self->broker_pid,
                s_decode_status(status));
        self->broker_pid = 0;
        return false;
    }
    return true;
}

int
fdy_proc_broker_stop(fdy_proc_t *self)
{
    if (self->broker_pid <= 0)
        return -1;
    kill(self->broker_pid, SIGTERM);
    int status = s_wait_pid(self->broker_pid, STOP_TIMEOUT_MS);
    if (status == -1) {
        fprintf(stderr, "  broker pid %d ignored SIGTERM for %d ms: SIGKILL\n",
                (int) self->broker_pid, STOP_TIMEOUT_MS);
        kill(self->broker_pid, SIGKILL);
        waitpid(self->broker_pid, NULL, 0);
    }
    if (status != 0)
        s_print_log_tail(self);
    self->broker_pid = 0;
    return status;
}

foundry_err
fdy_proc_broker_kill(fdy_proc_t *self)
{
    if (self->broker_pid <= 0)
        return FOUNDRY_EINVAL;
    kill(self->broker_pid, SIGKILL);
    waitpid(self->broker_pid, NULL, 0);
    self->broker_pid = 0;
    return FOUNDRY_OK;
}

/* ---- foundryctl ------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
} s_buf_t;

static bool
s_buf_read(s_buf_t *b, int fd)
{
    if (b->cap - b->len < 65536) {
        size_t cap = b->cap ? b->cap * 2 : 131072;
        char *bigger = realloc(b->buf, cap);
        if (!bigger)
            return false;
        b->buf = bigger;
        b->cap = cap;
    }
    ssize_t n = read(fd, b->buf + b->len, b->cap - b->len - 1);
    if (n > 0) {
        b->len += (size_t) n;
        return true;
    }
    return n < 0 && (errno == EINTR || errno == EAGAIN);
}

static char *
s_buf_take(s_buf_t *b, size_t *len_out)
{
    if (!b->buf) {
        b->buf = malloc(1);
        if (!b->buf)
            abort();
    }
    b->buf[b->len] = '\0';
    *len_out = b->len;
    return b->buf;
}

foundry_err
fdy_proc_ctlv(fdy_proc_t *self, const fdy_proc_ctl_opts_t *opts, const char *const *argv,
              fdy_proc_run_t *run_out)
{
    static const fdy_proc_ctl_opts_t defaults = {0};
    if (!opts)
        opts = &defaults;
    memset(run_out, 0, sizeof *run_out);
    run_out->status = -1;

    char admin_public[PATH_LEN], admin_secret[PATH_LEN];
    fdy_proc_key_paths(self, "admin", admin_public, admin_secret);
    char *args[ARGS_MAX];
    size_t argc = 0;
    args[argc++] = (char *) (opts->program ? opts->program : getenv("FOUNDRY_CTL"));
    if (!opts->no_auth) {
        args[argc++] = "--endpoint";
        args[argc++] = self->endpoint;
        args[argc++] = "--key";
        args[argc++] = admin_secret;
        args[argc++] = "--broker-key";
        args[argc++] = self->broker_key;
    }
    for (size_t i = 0; argv[i] && argc < ARGS_MAX - 1; i++)
        args[argc++] = (char *) argv[i];
    args[argc] = NULL;

    int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    char **env = s_child_env(opts->env);
    foundry_err result = FOUNDRY_EIO;
    s_buf_t out = {0}, err = {0};
    if (!env || pipe(in_pipe) || pipe(out_pipe) || pipe(err_pipe))
        goto out;
    /* Our ends must not leak into this child or later ones. */
    fcntl(in_pipe[1], F_SETFD, FD_CLOEXEC);
    fcntl(out_pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(err_pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);

    int64_t start = fdy_clock_mono_ms();
    pid_t pid = s_spawn(args, env, in_pipe[0], out_pipe[1], err_pipe[1]);
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    in_pipe[0] = out_pipe[1] = err_pipe[1] = -1;
    if (pid < 0)
        goto out;

    size_t written = 0;
    if (!opts->stdin_data || opts->stdin_len == 0) {
        close(in_pipe[1]);
        in_pipe[1] = -1;
    }
    int deadline_ms = opts->deadline_ms > 0 ? opts->deadline_ms : 60000;
    int64_t deadline = start + deadline_ms;
    bool timed_out = false;
    while (out_pipe[0] >= 0 || err_pipe[0] >= 0) {
        int64_t left = deadline - fdy_clock_mono_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        /* poll() skips negative descriptors: closed pipes stay in place. */
        struct pollfd fds[3] = {
            {out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}, {in_pipe[1], POLLOUT, 0}};
        int ready = poll(fds, 3, (int) (left < 100 ? left : 100));
        if (ready < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2 && ready > 0; i++) {
            int *fd = i == 0 ? &out_pipe[0] : &err_pipe[0];
            if (fds[i].revents && !s_buf_read(i == 0 ? &out : &err, *fd)) {
                close(*fd);
                *fd = -1;
            }
        }
        if (ready > 0 && fds[2].revents) {
            ssize_t w = write(in_pipe[1], opts->stdin_data + written, opts->stdin_len - written);
            if (w > 0)
                written += (size_t) w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == opts->stdin_len) {
                close(in_pipe[1]);
                in_pipe[1] = -1;
            }
        }
    }
    int status = timed_out ? -1 : s_wait_pid(pid, (int) (deadline - fdy_clock_mono_ms()) + 1);
    if (status == -1) {
        fprintf(stderr, "  foundryctl %s still running after %d ms: killed\n",
                argv[0] ? argv[0] : "", deadline_ms);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    run_out->status = status;
    run_out->elapsed_ms = fdy_clock_mono_ms() - start;
    result = FOUNDRY_OK;
out:
    for (int i = 0; i < 2; i++) {
        if (in_pipe[i] >= 0)
            close(in_pipe[i]);
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
        if (err_pipe[i] >= 0)
            close(err_pipe[i]);
    }
    free(env);
    run_out->out = s_buf_take(&out, &run_out->out_len);
    run_out->err = s_buf_take(&err, &run_out->err_len);
    return result;
}

foundry_err
fdy_proc_ctl(fdy_proc_t *self, fdy_proc_run_t *run_out, ...)
{
    const char *argv[ARGS_MAX];
    size_t argc = 0;
    va_list ap;
    va_start(ap, run_out);
    const char *arg;
    while ((arg = va_arg(ap, const char *)) != NULL && argc < ARGS_MAX - 1)
        argv[argc++] = arg;
    va_end(ap);
    argv[argc] = NULL;
    return fdy_proc_ctlv(self, NULL, argv, run_out);
}

void
fdy_proc_run_clear(fdy_proc_run_t *run)
{
    free(run->out);
    free(run->err);
    memset(run, 0, sizeof *run);
}

void
fdy_proc_run_print(const char *what, const fdy_proc_run_t *run)
{
    fprintf(stderr, "  %s: exit %d after %lld ms\n", what, run->status,
            (long long) run->elapsed_ms);
    fprintf(stderr, "  stdout (%zu bytes): %.2000s%s\n", run->out_len, run->out ? run->out : "",
            run->out_len > 2000 ? "..." : "");
    fprintf(stderr, "  stderr (%zu bytes): %.2000s%s\n", run->err_len, run->err ? run->err : "",
            run->err_len > 2000 ? "..." : "");
}

/* ---- clients ---------------------------------------------------------------- */

foundry_err
fdy_proc_client_new(fdy_proc_t *self, const char *name, const foundry_client_opts_t *base,
                    foundry_client_t **out)
{
    foundry_client_opts_t opts;
    if (base)
        opts = *base;
    else
        foundry_client_opts_init(&opts);
    char public_path[PATH_LEN], secret_path[PATH_LEN];
    fdy_proc_key_paths(self, name, public_path, secret_path);
    opts.endpoint = self->endpoint;
    opts.broker_key_file = self->broker_key;
    opts.secret_key_file = secret_path;
    foundry_err err = foundry_client_new(&opts, out);
    if (err != FOUNDRY_OK)
        fprintf(stderr, "  foundry_client_new(%s): %s: %s\n", name, foundry_strerror(err),
                foundry_client_last_error(NULL));
    return err;
}

/* ---- raw dealer ------------------------------------------------------------- */

foundry_err
fdy_proc_dealer_new(fdy_proc_t *self, const char *name, fdy_proc_dealer_t **out)
{
    return fdy_proc_dealer_new_id(self, name, NULL, out);
}

static foundry_err s_dealer_new(fdy_proc_t *self, const char *name, const char *routing_id,
                                bool slow, fdy_proc_dealer_t **out);

foundry_err
fdy_proc_dealer_new_id(fdy_proc_t *self, const char *name, const char *routing_id,
                       fdy_proc_dealer_t **out)
{
    return s_dealer_new(self, name, routing_id, false, out);
}

foundry_err
fdy_proc_dealer_new_slow(fdy_proc_t *self, const char *name, fdy_proc_dealer_t **out)
{
    return s_dealer_new(self, name, NULL, true, out);
}

static foundry_err
s_dealer_new(fdy_proc_t *self, const char *name, const char *routing_id, bool slow,
             fdy_proc_dealer_t **out)
{
    *out = NULL;
    char public_path[PATH_LEN], secret_path[PATH_LEN];
    fdy_proc_key_paths(self, name, public_path, secret_path);
    fdy_reason_t reason = {{0}};
    fdy_keypair_t *pair = NULL;
    char broker_public[FDY_Z85_KEY_LEN + 1];
    foundry_err err = fdy_keys_load_secret(secret_path, &pair, &reason);
    if (err == FOUNDRY_OK)
        err = fdy_keys_load_public(self->broker_key, broker_public, &reason);
    if (err != FOUNDRY_OK) {
        fprintf(stderr, "  dealer keys: %s\n", reason.text);
        fdy_keypair_destroy(&pair);
        return err;
    }
    if (!self->zmq_ctx)
        self->zmq_ctx = zmq_ctx_new();
    fdy_proc_dealer_t *dealer = calloc(1, sizeof *dealer);
    err = FOUNDRY_EIO;
    if (!self->zmq_ctx || !dealer)
        goto out;
    dealer->socket = zmq_socket(self->zmq_ctx, ZMQ_DEALER);
    dealer->monitor = zmq_socket(self->zmq_ctx, ZMQ_PAIR);
    if (!dealer->socket || !dealer->monitor)
        goto out;
    int zero = 0, one = 1, small_buf = 64 * 1024, send_timeout = 5000;
    char monitor_endpoint[64];
    snprintf(monitor_endpoint, sizeof monitor_endpoint, "inproc://fdy-proc-monitor-%p",
             (void *) dealer);
    if (zmq_setsockopt(dealer->socket, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(dealer->monitor, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(dealer->socket, ZMQ_SNDTIMEO, &send_timeout, sizeof send_timeout) ||
        zmq_setsockopt(dealer->socket, ZMQ_CURVE_SERVERKEY, broker_public, FDY_Z85_KEY_LEN + 1) ||
        zmq_setsockopt(dealer->socket, ZMQ_CURVE_PUBLICKEY, fdy_keypair_public(pair),
                       FDY_Z85_KEY_LEN + 1) ||
        zmq_setsockopt(dealer->socket, ZMQ_CURVE_SECRETKEY, fdy_keypair_secret(pair),
                       FDY_Z85_KEY_LEN + 1) ||
        (slow && (zmq_setsockopt(dealer->socket, ZMQ_RCVHWM, &one, sizeof one) ||
                  zmq_setsockopt(dealer->socket, ZMQ_RCVBUF, &small_buf, sizeof small_buf))) ||
        (routing_id && zmq_setsockopt(dealer->socket, ZMQ_ROUTING_ID, routing_id,
                                      strlen(routing_id))) ||
        zmq_socket_monitor(dealer->socket, monitor_endpoint, ZMQ_EVENT_ALL) ||
        zmq_connect(dealer->monitor, monitor_endpoint) ||
        zmq_connect(dealer->socket, self->endpoint)) {
        fprintf(stderr, "  dealer setup: %s\n", zmq_strerror(zmq_errno()));
        goto out;
    }
    err = FOUNDRY_OK;
    *out = dealer;
    dealer = NULL;
out:
    fdy_keypair_destroy(&pair);
    fdy_proc_dealer_destroy(&dealer);
    return err;
}

void
fdy_proc_dealer_destroy(fdy_proc_dealer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdy_proc_dealer_t *self = *self_p;
    if (self->socket) {
        zmq_socket_monitor(self->socket, NULL, 0);
        zmq_close(self->socket);
    }
    if (self->monitor)
        zmq_close(self->monitor);
    free(self);
    *self_p = NULL;
}

int
fdy_proc_dealer_wait_event(fdy_proc_dealer_t *self, int mask, int timeout_ms, int *value_out)
{
    int64_t deadline = fdy_clock_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - fdy_clock_mono_ms();
        if (left < 0)
            return 0;
        zmq_pollitem_t item = {self->monitor, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long) left) <= 0)
            continue;
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, self->monitor, 0) < 0) {
            zmq_msg_close(&frame);
            continue;
        }
        int event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&frame) >= 6) {
            const uint8_t *data = zmq_msg_data(&frame);
            uint16_t event16;
            memcpy(&event16, data, 2);
            memcpy(&value, data + 2, 4);
            event = event16;
        }
        /* The second frame is the endpoint: drain it. */
        while (zmq_msg_more(&frame)) {
            zmq_msg_close(&frame);
            zmq_msg_init(&frame);
            if (zmq_msg_recv(&frame, self->monitor, 0) < 0)
                break;
        }
        zmq_msg_close(&frame);
        if (event & mask) {
            if (value_out)
                *value_out = (int) value;
            return event;
        }
    }
}

foundry_err
fdy_proc_dealer_send(fdy_proc_dealer_t *self, const fdy_slice_t *frames, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        int flags = i + 1 < count ? ZMQ_SNDMORE : 0;
        if (zmq_send(self->socket, frames[i].data, frames[i].len, flags) < 0) {
            fprintf(stderr, "  dealer send: %s\n", zmq_strerror(zmq_errno()));
            return FOUNDRY_EIO;
        }
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_proc_dealer_recv(fdy_proc_dealer_t *self, int timeout_ms, fdy_arena_t *arena,
                     fdy_envelope_t *env_out)
{
    zmq_pollitem_t item = {self->socket, 0, ZMQ_POLLIN, 0};
    int64_t deadline = fdy_clock_mono_ms() + timeout_ms;
    int ready = 0;
    while (ready <= 0) {
        int64_t left = deadline - fdy_clock_mono_ms();
        if (left < 0)
            return FOUNDRY_ETIMEDOUT;
        ready = zmq_poll(&item, 1, (long) left);
        if (ready < 0 && zmq_errno() != EINTR)
            return FOUNDRY_EIO;
    }
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    if (zmq_msg_recv(&frame, self->socket, 0) < 0) {
        zmq_msg_close(&frame);
        return FOUNDRY_EIO;
    }
    size_t len = zmq_msg_size(&frame);
    fdy_arena_reset(arena, FDY_DECODE_BUDGET(len));
    fdy_reason_t reason = {{0}};
    memset(env_out, 0, sizeof *env_out);
    foundry_err err = fdy_codec_decode_envelope(zmq_msg_data(&frame), len, arena, env_out, &reason);
    if (err != FOUNDRY_OK)
        fprintf(stderr, "  reply does not decode: %s\n", reason.text);
    bool more = zmq_msg_more(&frame);
    zmq_msg_close(&frame);
    /* A reply is one frame: drain and refuse anything longer. */
    while (more) {
        err = FOUNDRY_EPROTO;
        zmq_msg_init(&frame);
        more = zmq_msg_recv(&frame, self->socket, 0) >= 0 && zmq_msg_more(&frame);
        zmq_msg_close(&frame);
    }
    if (err == FOUNDRY_EPROTO)
        fprintf(stderr, "  reply is not one decodable frame\n");
    return err;
}

uint8_t *
fdy_proc_encode_msg(const char *subject, const char *id, const void *payload, size_t payload_len,
                    size_t *len_out)
{
    fdy_msg_t msg = {0};
    msg.id = (const uint8_t *) id;
    msg.id_len = strlen(id);
    msg.subject = subject;
    msg.payload = payload;
    msg.payload_len = payload_len;
    msg.timestamp_ns = fdy_clock_wall_ns();
    uint8_t *buf = NULL;
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_codec_encode_msg(&msg, &buf, len_out, &reason);
    FDY_CHECK_MSG(err == FOUNDRY_OK, "fdy_codec_encode_msg: %s: %s", foundry_strerror(err),
                  reason.text);
    return buf;
}

void
fdy_proc_encode_publish(uint64_t request_id, uint32_t count, const fdy_slice_t *records,
                        size_t record_count, uint8_t **env_out, size_t *env_len,
                        uint8_t **batch_out, size_t *batch_len)
{
    fdy_envelope_t env = {0};
    env.version = FDY_PROTOCOL_VERSION;
    env.kind = FDY_KIND_PUBLISH;
    env.request_id = request_id;
    env.count = count;
    FDY_CHECK_OK(fdy_codec_encode_envelope(&env, env_out, env_len));
    size_t total = 1;
    for (size_t i = 0; i < record_count; i++)
        total += records[i].len + 10;
    uint8_t *batch = malloc(total);
    FDY_CHECK(batch);
    size_t at = 0;
    for (size_t i = 0; i < record_count; i++) {
        /* The varint written here, not by the codec: the test checks the
         * broker against the spec, not against our own writer. */
        for (uint64_t v = records[i].len;; v >>= 7) {
            batch[at++] = (uint8_t) ((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
            if (v <= 0x7F)
                break;
        }
        memcpy(batch + at, records[i].data, records[i].len);
        at += records[i].len;
    }
    *batch_out = batch;
    *batch_len = at;
}

/* ---- JSON --------------------------------------------------------------------- */

struct fdy_json {
    fdy_json_type_t type;
    bool boolean;
    char *text; /* STRING: decoded; NUMBER: the literal */
    size_t len;
    size_t count, cap;
    char **keys;        /* OBJECT */
    fdy_json_t **items; /* ARRAY, OBJECT */
};

typedef struct {
    const char *at, *end;
    int depth;
} s_json_in_t;

static fdy_json_t *s_json_value(s_json_in_t *in);

static void
s_json_space(s_json_in_t *in)
{
    while (in->at < in->end &&
           (*in->at == ' ' || *in->at == '\t' || *in->at == '\n' || *in->at == '\r'))
        in->at++;
}

static bool
s_json_put(s_buf_t *b, const char *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *bigger = realloc(b->buf, cap);
        if (!bigger)
            return false;
        b->buf = bigger;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, data, len);
    b->len += len;
    b->buf[b->len] = '\0';
    return true;
}

static int
s_json_hex4(s_json_in_t *in)
{
    char hex[5] = {0};
    if (in->end - in->at < 4)
        return -1;
    memcpy(hex, in->at, 4);
    for (int i = 0; i < 4; i++)
        if (!isxdigit((unsigned char) hex[i]))
            return -1;
    in->at += 4;
    return (int) strtol(hex, NULL, 16);
}

static bool
s_json_utf8(s_buf_t *b, uint32_t cp)
{
    /* A lead byte that encodes the length, then 6 bits per byte. */
    static const uint8_t lead[] = {0x00, 0xC0, 0xE0, 0xF0};
    char out[4];
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (size_t i = n - 1; i > 0; i--, cp >>= 6)
        out[i] = (char) (0x80 | (cp & 0x3F));
    out[0] = (char) (lead[n - 1] | cp);
    return s_json_put(b, out, n);
}

/* Parses a string at in->at (the opening quote) into a malloc'd buffer. */
static char *
s_json_string(s_json_in_t *in, size_t *len_out)
{
    s_buf_t b = {0};
    if (!s_json_put(&b, "", 0))
        return NULL;
    in->at++;
    while (in->at < in->end && *in->at != '"') {
        unsigned char c = (unsigned char) *in->at;
        if (c < 0x20)
            goto bad;
        if (c != '\\') {
            const char *run = in->at;
            while (in->at < in->end && *in->at != '"' && *in->at != '\\' &&
                   (unsigned char) *in->at >= 0x20)
                in->at++;
            if (!s_json_put(&b, run, (size_t) (in->at - run)))
                goto bad;
            continue;
        }
        if (++in->at >= in->end)
            goto bad;
        char esc = *in->at++;
        const char *simple = strchr("\"\\/bfnrt", esc);
        if (esc != 'u') {
            if (!simple || esc == '\0')
                goto bad;
            static const char map[] = "\"\\/\b\f\n\r\t";
            if (!s_json_put(&b, &map[simple - "\"\\/bfnrt"], 1))
                goto bad;
            continue;
        }
        int cp = s_json_hex4(in);
        if (cp < 0)
            goto bad;
        uint32_t code = (uint32_t) cp;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (in->end - in->at < 6 || in->at[0] != '\\' || in->at[1] != 'u')
                goto bad;
            in->at += 2;
            int low = s_json_hex4(in);
            if (low < 0xDC00 || low > 0xDFFF)
                goto bad;
            code = 0x10000 + (((uint32_t) cp - 0xD800) << 10) + ((uint32_t) low - 0xDC00);
        }
        if (!s_json_utf8(&b, code))
            goto bad;
    }
    if (in->at >= in->end)
        goto bad;
    in->at++;
    *len_out = b.len;
    return b.buf;
bad:
    free(b.buf);
    return NULL;
}

static bool
s_json_add(fdy_json_t *v, char *key, fdy_json_t *item)
{
    if (v->count == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        fdy_json_t **items = realloc(v->items, cap * sizeof *items);
        if (!items)
            return false;
        v->items = items;
        if (v->type == FDY_JSON_OBJECT) {
            char **keys = realloc(v->keys, cap * sizeof *keys);
            if (!keys)
                return false;
            v->keys = keys;
        }
        v->cap = cap;
    }
    if (v->type == FDY_JSON_OBJECT)
        v->keys[v->count] = key;
    v->items[v->count++] = item;
    return true;
}

static fdy_json_t *
s_json_container(s_json_in_t *in, fdy_json_t *v)
{
    bool object = v->type == FDY_JSON_OBJECT;
    char close = object ? '}' : ']';
    in->at++;
    s_json_space(in);
    if (in->at < in->end && *in->at == close) {
        in->at++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        if (object) {
            size_t key_len;
            s_json_space(in);
            if (in->at >= in->end || *in->at != '"' || !(key = s_json_string(in, &key_len)))
                goto bad;
            s_json_space(in);
            if (in->at >= in->end || *in->at != ':') {
                free(key);
                goto bad;
            }
            in->at++;
        }
        fdy_json_t *item = s_json_value(in);
        if (!item || !s_json_add(v, key, item)) {
            free(key);
            fdy_proc_json_destroy(&item);
            goto bad;
        }
        s_json_space(in);
        if (in->at < in->end && *in->at == ',') {
            in->at++;
            continue;
        }
        if (in->at < in->end && *in->at == close) {
            in->at++;
            return v;
        }
        goto bad;
    }
bad:
    fdy_proc_json_destroy(&v);
    return NULL;
}

static fdy_json_t *
s_json_value(s_json_in_t *in)
{
    s_json_space(in);
    if (in->at >= in->end || in->depth > 64)
        return NULL;
    fdy_json_t *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    char c = *in->at;
    if (c == '{' || c == '[') {
        v->type = c == '{' ? FDY_JSON_OBJECT : FDY_JSON_ARRAY;
        in->depth++;
        v = s_json_container(in, v);
        in->depth--;
        return v;
    }
    if (c == '"') {
        v->type = FDY_JSON_STRING;
        if (!(v->text = s_json_string(in, &v->len)))
            fdy_proc_json_destroy(&v);
        return v;
    }
    static const struct {
        const char *word;
        fdy_json_type_t type;
        bool value;
    } words[] = {{"true", FDY_JSON_BOOL, true},
                 {"false", FDY_JSON_BOOL, false},
                 {"null", FDY_JSON_NULL, false}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i].word);
        if ((size_t) (in->end - in->at) >= n && memcmp(in->at, words[i].word, n) == 0) {
            in->at += n;
            v->type = words[i].type;
            v->boolean = words[i].value;
            return v;
        }
    }
    const char *start = in->at;
    if (in->at < in->end && *in->at == '-')
        in->at++;
    const char *digits = in->at;
    while (in->at < in->end && strchr("0123456789.eE+-", *in->at))
        in->at++;
    if (in->at == digits || !(v->text = strndup(start, (size_t) (in->at - start)))) {
        free(v);
        return NULL;
    }
    v->type = FDY_JSON_NUMBER;
    v->len = (size_t) (in->at - start);
    return v;
}

fdy_json_t *
fdy_proc_json_parse(const char *text, size_t len)
{
    s_json_in_t in = {text, text + len, 0};
    fdy_json_t *v = s_json_value(&in);
    s_json_space(&in);
    if (v && in.at != in.end)
        fdy_proc_json_destroy(&v);
    return v;
}

void
fdy_proc_json_destroy(fdy_json_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdy_json_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        fdy_proc_json_destroy(&self->items[i]);
        if (self->keys)
            free(self->keys[i]);
    }
    free(self->items);
    free(self->keys);
    free(self->text);
    free(self);
    *self_p = NULL;
}

fdy_json_type_t
fdy_proc_json_type(const fdy_json_t *v)
{
    return v ? v->type : FDY_JSON_NULL;
}

size_t
fdy_proc_json_count(const fdy_json_t *v)
{
    return v && (v->type == FDY_JSON_ARRAY || v->type == FDY_JSON_OBJECT) ? v->count : 0;
}

const fdy_json_t *
fdy_proc_json_at(const fdy_json_t *v, size_t index)
{
    return v && index < fdy_proc_json_count(v) ? v->items[index] : NULL;
}

const fdy_json_t *
fdy_proc_json_get(const fdy_json_t *v, const char *key)
{
    if (!v || v->type != FDY_JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < v->count; i++)
        if (strcmp(v->keys[i], key) == 0)
            return v->items[i];
    return NULL;
}

const char *
fdy_proc_json_str(const fdy_json_t *v, size_t *len_out)
{
    if (!v || v->type != FDY_JSON_STRING)
        return NULL;
    if (len_out)
        *len_out = v->len;
    return v->text;
}

bool
fdy_proc_json_int(const fdy_json_t *v, int64_t *out)
{
    if (!v || v->type != FDY_JSON_NUMBER || strpbrk(v->text, ".eE"))
        return false;
    char *end = NULL;
    errno = 0;
    long long value = strtoll(v->text, &end, 10);
    if (errno || !end || *end)
        return false;
    *out = value;
    return true;
}

uint8_t *
fdy_proc_json_bytes(const fdy_json_t *v, size_t *len_out)
{
    const char *text = NULL;
    size_t len = 0;
    bool base64 = false;
    if (fdy_proc_json_type(v) == FDY_JSON_STRING)
        text = fdy_proc_json_str(v, &len);
    else if (fdy_proc_json_type(v) == FDY_JSON_OBJECT && fdy_proc_json_count(v) == 1) {
        text = fdy_proc_json_str(fdy_proc_json_get(v, "base64"), &len);
        base64 = true;
    }
    if (!text)
        return NULL;
    uint8_t *out = malloc(len + 1);
    if (!out)
        return NULL;
    if (!base64)
        memcpy(out, text, len);
    else if (sodium_base642bin(out, len + 1, text, len, NULL, &len, NULL,
                               sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(out);
        return NULL;
    }
    out[len] = '\0';
    *len_out = len;
    return out;
}

/* ---- JSON replies of foundryctl ---------------------------------------------- */

fdy_json_t *
fdy_proc_ctl_json(fdy_proc_t *self, const char *const *argv)
{
    const char *args[JSON_ARGS_MAX];
    size_t n = 0;
    args[n++] = "--json";
    for (size_t i = 0; argv[i] && n < JSON_ARGS_MAX - 1; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctlv(self, NULL, args, &run));
    if (run.status != 0) {
        fdy_proc_run_print(argv[0], &run);
        fdy_proc_fail(__FILE__, __LINE__, "foundryctl --json %s %s %s: exit %d", argv[0],
                      argv[1] ? argv[1] : "", argv[1] && argv[2] ? argv[2] : "", run.status);
    }
    fdy_json_t *json = fdy_proc_json_parse(run.out, run.out_len);
    FDY_CHECK_MSG(json, "foundryctl --json %s %s: not JSON: %.400s", argv[0],
                  argv[1] ? argv[1] : "", run.out);
    fdy_proc_run_clear(&run);
    return json;
}

const fdy_json_t *
fdy_proc_one_row(const fdy_json_t *json)
{
    if (fdy_proc_json_type(json) == FDY_JSON_ARRAY) {
        FDY_CHECK_MSG(fdy_proc_json_count(json) == 1, "expected one row, got %zu",
                      fdy_proc_json_count(json));
        json = fdy_proc_json_at(json, 0);
    }
    FDY_CHECK_MSG(fdy_proc_json_type(json) == FDY_JSON_OBJECT, "row is not a JSON object");
    return json;
}

int64_t
fdy_proc_row_int(const fdy_json_t *row, const char *key)
{
    int64_t value = 0;
    FDY_CHECK_MSG(fdy_proc_json_int(fdy_proc_json_get(row, key), &value),
                  "row has no integer column \"%s\"", key);
    return value;
}

int64_t
fdy_proc_status_int(fdy_proc_t *self, const char *key)
{
    const char *const argv[] = {"status", NULL};
    fdy_json_t *json = fdy_proc_ctl_json(self, argv);
    int64_t value = fdy_proc_row_int(fdy_proc_one_row(json), key);
    fdy_proc_json_destroy(&json);
    return value;
}

void
fdy_proc_row_str(const fdy_json_t *row, const char *key, char *out, size_t size)
{
    const fdy_json_t *value = fdy_proc_json_get(row, key);
    if (fdy_proc_json_type(value) == FDY_JSON_ARRAY) {
        /* a list column (allow_publish, filters): joined as the broker sends it */
        size_t used = 0;
        out[0] = '\0';
        for (size_t i = 0; i < fdy_proc_json_count(value); i++) {
            const char *item = fdy_proc_json_str(fdy_proc_json_at(value, i), NULL);
            FDY_CHECK_MSG(item, "list column \"%s\" holds a non-string", key);
            int n = snprintf(out + used, size - used, "%s%s", i ? " " : "", item);
            if (n < 0 || (size_t) n >= size - used)
                break;
            used += (size_t) n;
        }
        return;
    }
    const char *text = fdy_proc_json_str(value, NULL);
    FDY_CHECK_MSG(text, "row has no text column \"%s\"", key);
    snprintf(out, size, "%s", text);
}

/* ---- misc ------------------------------------------------------------------- */

bool
fdy_proc_one_line(const char *text, size_t len)
{
    if (!text || len == 0 || (len == 1 && text[0] == '\n'))
        return false;
    const char *newline = memchr(text, '\n', len);
    return !newline || newline == text + len - 1;
}

int
fdy_proc_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    FDY_CHECK(fd >= 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t addr_len = sizeof addr;
    int ok = bind(fd, (struct sockaddr *) &addr, sizeof addr) == 0 &&
             getsockname(fd, (struct sockaddr *) &addr, &addr_len) == 0;
    close(fd);
    FDY_CHECK(ok);
    return ntohs(addr.sin_port);
}

void
fdy_proc_check_stream_count(fdy_proc_t *self, const char *stream, int64_t messages)
{
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(self, &run, "--json", "stream", "ls", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_json_t *rows = fdy_proc_json_parse(run.out, run.out_len);
    FDY_CHECK_MSG(rows && fdy_proc_json_type(rows) == FDY_JSON_ARRAY,
                  "stream ls --json is not an array: %.500s", run.out);
    fdy_proc_run_clear(&run);
    int64_t found = -1;
    for (size_t i = 0; i < fdy_proc_json_count(rows); i++) {
        const fdy_json_t *row = fdy_proc_json_at(rows, i);
        const char *name = fdy_proc_json_str(fdy_proc_json_get(row, "name"), NULL);
        if (name && strcmp(name, stream) == 0)
            FDY_CHECK(fdy_proc_json_int(fdy_proc_json_get(row, "messages"), &found));
    }
    fdy_proc_json_destroy(&rows);
    FDY_CHECK_MSG(found == messages, "stream %s holds %lld messages, want %lld", stream,
                  (long long) found, (long long) messages);
}

size_t
fdy_proc_file_count(const char *path, const char *needle)
{
    FILE *file = fopen(path, "r");
    if (!file)
        return 0;
    char line[4096];
    size_t count = 0;
    while (fgets(line, sizeof line, file))
        count += strstr(line, needle) != NULL;
    fclose(file);
    return count;
}

size_t
fdy_proc_log_count(const fdy_proc_t *self, const char *needle)
{
    return fdy_proc_file_count(self->log_path, needle);
}
