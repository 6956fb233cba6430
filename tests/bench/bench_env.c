/*  bench_env.c: the broker foundry-bench measures, in a temporary directory:
 *  key generation and the offline bootstrap of our admin key through
 *  foundryctl, start-up synchronised on the ready file, peak RSS, a clean
 *  SIGTERM stop, and removal. Not a test harness (tests/harness does that
 *  for the integration tests): no checks, only what the bench needs.
 */
#include "bench_env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS  60000

uint64_t
fdy_bench_env_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

double
fdy_bench_env_quantile_ms(uint64_t *values_ns, size_t n, double q)
{
    if (n == 0)
        return 0.0;
    qsort(values_ns, n, sizeof *values_ns, s_cmp_u64);
    size_t index = (size_t) ((double) (n - 1) * q + 0.5);
    return (double) values_ns[index] / 1e6;
}

/* Deadline-bounded polls (ready file, child exit) wait this long between
 * checks; nothing relies on the pause for ordering. */
static void
s_pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void
fdy_bench_env_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("foundry-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- processes -------------------------------------------------------- */

void
fdy_bench_env_child_init(void)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        _exit(127); /* the bench died before the line above */
}

/* Starts argv[0] with argv. Its stdout goes to /dev/null when quiet (the
 * report on our stdout stays clean); stderr is shared so failures show. */
static int
s_spawn(char *const argv[], bool quiet, pid_t *pid_out)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        fdy_bench_env_child_init();
        int null_fd = open("/dev/null", O_RDWR);
        if (null_fd >= 0) {
            dup2(null_fd, STDIN_FILENO);
            if (quiet)
                dup2(null_fd, STDOUT_FILENO);
            close(null_fd);
        }
        execv(argv[0], argv);
        fprintf(stderr, "foundry-bench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    *pid_out = pid;
    return 0;
}

/* Waits for pid for up to timeout_ms. Returns 0 with the wait status, or
 * -1 when it is still running. */
static int
s_wait_exit(pid_t pid, int timeout_ms, int *status_out)
{
    uint64_t deadline = fdy_bench_env_now_ns() + (uint64_t) timeout_ms * 1000000u;
    for (;;) {
        pid_t r = waitpid(pid, status_out, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (fdy_bench_env_now_ns() >= deadline)
            return -1;
        s_pause_ms(5);
    }
}

/* Runs a command to completion (at most 60 s). Returns 0 when it exited 0. */
static int
s_run(char *const argv[])
{
    pid_t pid;
    int status = 0;
    if (s_spawn(argv, true, &pid) != 0) {
        fdy_bench_env_fail("fork: %s", strerror(errno));
        return -1;
    }
    if (s_wait_exit(pid, 60000, &status) != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fdy_bench_env_fail("%s %s: did not finish within 60 s", argv[0], argv[1]);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fdy_bench_env_fail("%s %s: failed (status 0x%x)", argv[0], argv[1], (unsigned) status);
        return -1;
    }
    return 0;
}

/* Removes a directory tree of plain files and directories (our temp dir). */
static void
s_remove_tree(const char *path, int depth)
{
    DIR *dir = depth < 8 ? opendir(path) : NULL;
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
                continue;
            char child[PATH_MAX];
            if (snprintf(child, sizeof child, "%s/%s", path, entry->d_name) >= (int) sizeof child)
                continue;
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
                s_remove_tree(child, depth + 1);
            else
                unlink(child);
        }
        closedir(dir);
    }
    rmdir(path);
}

/* Default binary: next to the build tree this bench lives in
 * (build/tests/bench/foundry-bench -> build/<relative>). */
const char *
fdy_bench_env_default_binary(const char *relative, char *buf, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    if (snprintf(buf, size, "%s/../../%s", self, relative) >= (int) size)
        return NULL;
    return buf;
}

/* ---- set-up ------------------------------------------------------------- */

static int
s_path(char *out, const char *dir, const char *name)
{
    if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) {
        fdy_bench_env_fail("path too long: %s/%s", dir, name);
        return -1;
    }
    return 0;
}

/* A run's directory holds OWNER_FILE (its pid) while it runs; --keep
 * removes the file, so a kept directory is never taken for a stale one. */
#define OWNER_FILE "bench.pid"

/* Removes what killed runs left in tmp (a models run leaves gigabytes):
 * directories whose OWNER_FILE names a process that is gone. */
static void
s_remove_stale(const char *tmp)
{
    DIR *dir = opendir(tmp);
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strncmp(entry->d_name, "foundry-bench.", 14) != 0)
            continue;
        char path[PATH_MAX], owner[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", tmp, entry->d_name) >= (int) sizeof path ||
            snprintf(owner, sizeof owner, "%s/" OWNER_FILE, path) >= (int) sizeof owner)
            continue;
        FILE *f = fopen(owner, "r");
        long pid = 0;
        bool read = f && fscanf(f, "%ld", &pid) == 1;
        if (f)
            fclose(f);
        if (!read || pid <= 0)
            continue; /* no owner file: kept with --keep, or not ours */
        if (kill((pid_t) pid, 0) == 0 || errno != ESRCH)
            continue; /* its run goes on (or is not ours to ask) */
        printf("removed    %s, left by a run that was killed (pid %ld)\n", path, pid);
        s_remove_tree(path, 0);
    }
    closedir(dir);
}

static int
s_make_dirs(fdy_bench_env_t *env)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    s_remove_stale(tmp);
    if (snprintf(env->dir, sizeof env->dir, "%s/foundry-bench.XXXXXX", tmp) >=
        (int) sizeof env->dir)
        return -1;
    if (!mkdtemp(env->dir)) {
        fdy_bench_env_fail("mkdtemp %s: %s", env->dir, strerror(errno));
        return -1;
    }
    char owner[PATH_MAX];
    if (s_path(owner, env->dir, OWNER_FILE))
        return -1;
    FILE *f = fopen(owner, "w");
    if (f) {
        fprintf(f, "%ld\n", (long) getpid());
        fclose(f);
    }
    if (s_path(env->data_dir, env->dir, "data") || s_path(env->keys_dir, env->dir, "broker-keys") ||
        s_path(env->client_dir, env->dir, "clients") ||
        s_path(env->secret_file, env->client_dir, "bench.key_secret") ||
        s_path(env->public_file, env->client_dir, "bench.key"))
        return -1;
    return 0;
}

/* Generates our key pair and registers it as admin offline, the way an
 * operator bootstraps the first admin (docs/operations.md). */
static int
s_provision(const char *ctl, fdy_bench_env_t *env)
{
    char *keygen[] = {(char *) ctl, "keygen", "bench", "--out", env->client_dir, NULL};
    if (s_run(keygen) != 0)
        return -1;
    char *bootstrap[] = {(char *) ctl,  "bootstrap",      "--data-dir",
                         env->data_dir, env->public_file, NULL};
    if (s_run(bootstrap) != 0)
        return -1;
    return 0;
}

/* Copies text into dst, or leaves dst empty when it does not fit. */
static void
s_copy(char *dst, size_t size, const char *text)
{
    size_t len = strlen(text);
    if (len >= size)
        len = 0;
    memcpy(dst, text, len);
    dst[len] = '\0';
}

/* Parses <data_dir>/ready ("endpoint E", "pid N", "broker_key PATH").
 * Returns 0 once the file exists, names our broker, an endpoint and a key. */
static int
s_read_ready(fdy_bench_env_t *env)
{
    char path[PATH_MAX];
    if (s_path(path, env->data_dir, "ready") != 0)
        return -1;
    FILE *file = fopen(path, "r");
    if (!file)
        return -1;
    char line[PATH_MAX + 64];
    long pid = 0;
    env->endpoint[0] = '\0';
    env->broker_key[0] = '\0';
    while (fgets(line, sizeof line, file)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "pid ", 4) == 0)
            pid = strtol(line + 4, NULL, 10);
        else if (strncmp(line, "endpoint ", 9) == 0)
            s_copy(env->endpoint, sizeof env->endpoint, line + 9);
        else if (strncmp(line, "broker_key ", 11) == 0)
            s_copy(env->broker_key, sizeof env->broker_key, line + 11);
    }
    fclose(file);
    /* The rename makes the file appear whole; the pid check makes sure it
     * is our broker's and not one left by an earlier run. */
    if (pid != (long) env->broker_pid)
        return -1;
    return env->endpoint[0] && env->broker_key[0] ? 0 : -1;
}

static int
s_start_broker(const char *broker, const char *const *sets, size_t set_count, fdy_bench_env_t *env)
{
    char *argv[16 + 2 * FDY_BENCH_SETS_MAX];
    size_t n = 0;
    if (set_count > FDY_BENCH_SETS_MAX)
        return -1;
    argv[n++] = (char *) broker;
    argv[n++] = "--data-dir";
    argv[n++] = env->data_dir;
    argv[n++] = "--keys";
    argv[n++] = env->keys_dir;
    argv[n++] = "--bind";
    argv[n++] = "tcp://127.0.0.1:*";
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    /* Other brokers (tests, benches) may run on this machine: never the
     * default metrics port 9770, which the second one could not bind. */
    argv[n++] = "--set";
    argv[n++] = "metrics_listen=127.0.0.1:0";
    for (size_t i = 0; i < set_count; i++) {
        argv[n++] = "--set";
        argv[n++] = (char *) sets[i];
    }
    argv[n] = NULL;
    if (s_spawn(argv, false, &env->broker_pid) != 0) {
        fdy_bench_env_fail("fork: %s", strerror(errno));
        return -1;
    }
    uint64_t deadline = fdy_bench_env_now_ns() + (uint64_t) READY_TIMEOUT_MS * 1000000u;
    for (;;) {
        if (s_read_ready(env) == 0)
            return 0;
        int status;
        if (waitpid(env->broker_pid, &status, WNOHANG) == env->broker_pid) {
            fdy_bench_env_fail("foundry-broker exited before it was ready (status 0x%x)",
                               (unsigned) status);
            env->broker_pid = 0;
            return -1;
        }
        if (fdy_bench_env_now_ns() >= deadline) {
            fdy_bench_env_fail("foundry-broker wrote no ready file within %d ms", READY_TIMEOUT_MS);
            return -1;
        }
        s_pause_ms(10);
    }
}

foundry_err
fdy_bench_env_start(fdy_bench_env_t *env, const char *broker, const char *ctl,
                    const char *const *sets, size_t set_count)
{
    memset(env, 0, sizeof *env);
    if (s_make_dirs(env) != 0 || s_provision(ctl, env) != 0 ||
        s_start_broker(broker, sets, set_count, env) != 0)
        return FOUNDRY_EIO;
    return FOUNDRY_OK;
}

uint64_t
fdy_bench_env_peak_rss_kib(const fdy_bench_env_t *env)
{
    if (env->broker_pid <= 0)
        return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", (long) env->broker_pid);
    FILE *file = fopen(path, "r");
    if (!file)
        return 0;
    char line[256];
    uint64_t kib = 0;
    while (fgets(line, sizeof line, file)) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtoull(line + 6, NULL, 10);
            break;
        }
    }
    fclose(file);
    return kib;
}

double
fdy_bench_env_load_average(void)
{
    double load = -1.0;
    FILE *file = fopen("/proc/loadavg", "r");
    if (file) {
        if (fscanf(file, "%lf", &load) != 1)
            load = -1.0;
        fclose(file);
    }
    return load;
}

double
fdy_bench_env_cpu_ms(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, pid ? "/proc/%ld/stat" : "/proc/self/stat", (long) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0.0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the command may hold spaces */
    unsigned long long utime = 0, stime = 0;
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return 0.0;
    return (double) (utime + stime) * 1000.0 / (double) sysconf(_SC_CLK_TCK);
}

double
fdy_bench_env_children_cpu_ms(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", (long) pid, (long) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0.0;
    double sum = 0.0;
    long child;
    while (fscanf(f, "%ld", &child) == 1)
        sum += fdy_bench_env_cpu_ms((pid_t) child);
    fclose(f);
    return sum;
}

foundry_err
fdy_bench_env_stop(fdy_bench_env_t *env)
{
    if (env->broker_pid <= 0)
        return FOUNDRY_OK;
    pid_t pid = env->broker_pid;
    env->broker_pid = 0;
    int status = 0;
    kill(pid, SIGTERM);
    if (s_wait_exit(pid, STOP_TIMEOUT_MS, &status) != 0) {
        fdy_bench_env_fail("foundry-broker did not stop within %d ms of SIGTERM; killing it",
                           STOP_TIMEOUT_MS);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return FOUNDRY_ETIMEDOUT;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fdy_bench_env_fail("foundry-broker stopped with status 0x%x, not exit 0",
                           (unsigned) status);
        return FOUNDRY_EIO;
    }
    return FOUNDRY_OK;
}

void
fdy_bench_env_remove(fdy_bench_env_t *env, bool keep)
{
    if (env->broker_pid > 0) {
        /* Only after a failure: a normal run stopped it with SIGTERM. */
        kill(env->broker_pid, SIGKILL);
        waitpid(env->broker_pid, NULL, 0);
        env->broker_pid = 0;
    }
    if (!env->dir[0])
        return;
    char owner[PATH_MAX];
    if (keep && s_path(owner, env->dir, OWNER_FILE) == 0)
        unlink(owner);
    if (keep)
        printf("kept       %s\n", env->dir);
    else
        s_remove_tree(env->dir, 0);
    env->dir[0] = '\0';
}

/* ---- foundryctl ------------------------------------------------------------ */

/* Runs `ctl --endpoint E --key K --broker-key B ARGS...` (stdout to
 * /dev/null; its stderr is ours) and waits up to 60 s. */
foundry_err
fdy_bench_env_ctl(const fdy_bench_env_t *env, const char *ctl, const char *const *args)
{
    return fdy_bench_env_ctl_wait(env, ctl, args, 60000);
}

static foundry_err s_ctl_to(const fdy_bench_env_t *env, const char *ctl,
                            const char *const *args, uint64_t timeout_ms, const char *out_path);

foundry_err
fdy_bench_env_ctl_wait(const fdy_bench_env_t *env, const char *ctl, const char *const *args,
                       uint64_t timeout_ms)
{
    return s_ctl_to(env, ctl, args, timeout_ms, "/dev/null");
}

foundry_err
fdy_bench_env_status_value(const fdy_bench_env_t *env, const char *ctl, const char *name,
                           int64_t *value_out)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/status.json", env->dir);
    const char *args[] = {"status", "--json", NULL};
    foundry_err err = s_ctl_to(env, ctl, args, 60000, path);
    if (err != FOUNDRY_OK)
        return err;
    char text[64 * 1024];
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    unlink(path);
    text[len] = '\0';
    char key[128];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *at = strstr(text, key);
    if (!at) {
        fdy_bench_env_fail("status: no \"%s\"", name);
        return FOUNDRY_EIO;
    }
    *value_out = strtoll(at + strlen(key), NULL, 10);
    return FOUNDRY_OK;
}

/* Runs ctl ARGS as our admin key, its stdout to out_path. */
static foundry_err
s_ctl_to(const fdy_bench_env_t *env, const char *ctl, const char *const *args,
         uint64_t timeout_ms, const char *out_path)
{
    char *argv[32];
    size_t n = 0;
    argv[n++] = (char *) ctl;
    argv[n++] = "--endpoint";
    argv[n++] = (char *) env->endpoint;
    argv[n++] = "--key";
    argv[n++] = (char *) env->secret_file;
    argv[n++] = "--broker-key";
    argv[n++] = (char *) env->broker_key;
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = (char *) args[i];
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return FOUNDRY_EIO;
    if (pid == 0) {
        fdy_bench_env_child_init();
        int null_fd = open("/dev/null", O_RDWR);
        int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (null_fd >= 0)
            dup2(null_fd, STDIN_FILENO);
        if (out_fd >= 0)
            dup2(out_fd, STDOUT_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    uint64_t deadline = fdy_bench_env_now_ns() + timeout_ms * 1000000ull;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if ((r < 0 && errno != EINTR) || fdy_bench_env_now_ns() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fdy_bench_env_fail("foundryctl %s %s: did not finish", args[0], args[1]);
            return FOUNDRY_ETIMEDOUT;
        }
        struct timespec ts = {0, 5000000L}; /* poll interval of a bounded wait */
        nanosleep(&ts, NULL);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fdy_bench_env_fail("foundryctl %s %s %s: failed (status 0x%x)", args[0], args[1],
                           args[2] ? args[2] : "", (unsigned) status);
        return FOUNDRY_EIO;
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_bench_env_keygen(const fdy_bench_env_t *env, const char *ctl, const char *name)
{
    char *keygen[] = {(char *) ctl, "keygen", (char *) name, "--out", (char *) env->client_dir,
                      NULL};
    return s_run(keygen) == 0 ? FOUNDRY_OK : FOUNDRY_EIO;
}
