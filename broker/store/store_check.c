/*  store_check.c: the store check (store_check.h): forks the walk
 *  (store_walk.c) into a child that shares one struct with us, waits for
 *  it, turns how it ended into a verdict and prints the summary. Not for
 *  reading the store itself: a damaged page may kill whoever reads it, and
 *  that must be the child.
 */
#include "store_check.h"

#include "store_walk.h"

#include "clock.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_WHAT_TO_DO                                                                               \
    "stop using it: restore a backup or salvage it (foundry-broker --salvage-to NEWDIR; "          \
    "docs/operations.md: Recovering a damaged store)"

/* Into the result's reason, truncated to fit. */
static void s_reason(fdy_store_check_result_t *out, const char *fmt, ...) FDY_PRINTF(2, 3);

static void
s_reason(fdy_store_check_result_t *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
}

const char *
fdy_store_check_signal_name(int sig)
{
    switch (sig) {
    case SIGABRT: return "SIGABRT";
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGKILL: return "SIGKILL";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    default: return "a signal";
    }
}

/* Where the walk was, for a finding about its death. */
static void
s_where(const fdy_store_walk_t *w, char *out, size_t size)
{
    int n = snprintf(out, size, "table %s", w->table[0] ? w->table : "?");
    if (n > 0 && (size_t) n < size && w->stream[0])
        n += snprintf(out + n, size - (size_t) n, ", stream %s", w->stream);
    if (n > 0 && (size_t) n < size && w->db[0])
        n += snprintf(out + n, size - (size_t) n, " (database %s)", w->db);
    if (n > 0 && (size_t) n < size && w->has_seq)
        snprintf(out + n, size - (size_t) n, ", after seq %llu", (unsigned long long) w->seq);
}

static void
s_died(const char *dir, const fdy_store_walk_t *w, int status, fdy_store_check_result_t *out)
{
    char where[256];
    s_where(w, where, sizeof where);
    char how[96];
    if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "died with %s (signal %d)",
                 fdy_store_check_signal_name(WTERMSIG(status)), WTERMSIG(status));
    else
        snprintf(how, sizeof how, "ended early (exit status %d)", WEXITSTATUS(status));
    s_reason(out, "%s/data.mdb is damaged: the walk of %s %s%s%s%s; %s", dir, where, how,
             w->assertion[0] ? " (LMDB assertion: " : "", w->assertion, w->assertion[0] ? ")" : "",
             S_WHAT_TO_DO);
}

/* The verdict and the first finding, from the shared struct and how the
 * child ended. */
static void
s_judge(const char *dir, const fdy_store_walk_t *w, int status, fdy_store_check_result_t *out)
{
    out->tables = w->table_count;
    out->streams = w->streams;
    out->streams_damaged = w->streams_damaged;
    out->records = w->records;
    out->damaged = w->damaged;
    out->audit_chain_damaged = w->audit_chain_damaged;
    if (w->open_err == FOUNDRY_ECORRUPT) {
        out->verdict = FDY_STORE_CHECK_DAMAGED;
        s_reason(out, "%s", w->open_reason);
    } else if (w->open_err != FOUNDRY_OK) {
        out->verdict = FDY_STORE_CHECK_UNUSABLE;
        s_reason(out, "cannot check the store in %s: %s", dir, w->open_reason);
    } else if (!w->finished || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        out->verdict = FDY_STORE_CHECK_DAMAGED;
        s_died(dir, w, status, out);
    } else if (w->damaged) {
        out->verdict = FDY_STORE_CHECK_DAMAGED;
        s_reason(out,
                 "%s/data.mdb is damaged: %llu records damaged "
                 "or missing (first: %s); %s",
                 dir, (unsigned long long) w->damaged, w->first, S_WHAT_TO_DO);
    } else {
        out->verdict = FDY_STORE_CHECK_CLEAN;
    }
}

static void
s_summary(FILE *report, const char *dir, const fdy_store_walk_t *w,
          const fdy_store_check_result_t *r)
{
    fprintf(report, "store %s/data.mdb:\n", dir);
    for (size_t i = 0; i < w->table_count; i++)
        fprintf(report, "  %-20s %10llu records %8llu damaged\n", w->tables[i].name,
                (unsigned long long) w->tables[i].records,
                (unsigned long long) w->tables[i].damaged);
    fprintf(report,
            "  %llu tables, %llu streams (%llu damaged), %llu records checked, %llu "
            "damaged or missing, %llu ms\n",
            (unsigned long long) r->tables, (unsigned long long) r->streams,
            (unsigned long long) r->streams_damaged, (unsigned long long) r->records,
            (unsigned long long) r->damaged, (unsigned long long) r->elapsed_ms);
    if (r->verdict == FDY_STORE_CHECK_CLEAN)
        fprintf(report, "verdict: clean\n");
    else
        fprintf(report, "verdict: %s: %s\n",
                r->verdict == FDY_STORE_CHECK_DAMAGED ? "DAMAGED" : "not checked", r->reason);
}

static foundry_err
s_unusable(fdy_store_check_result_t *out, foundry_err err, const char *fmt, const char *a,
           const char *b)
{
    out->verdict = FDY_STORE_CHECK_UNUSABLE;
    s_reason(out, fmt, a, b);
    return err;
}

foundry_err
fdy_store_check(const fdy_store_check_opts_t *opts, fdy_store_check_result_t *out)
{
    memset(out, 0, sizeof *out);
    const char *dir = opts->dir;
    struct stat st;
    if (!dir || !*dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return s_unusable(out, FOUNDRY_EINVAL, "no data directory %s%s", dir ? dir : "", "");
    char path[4096];
    if ((size_t) snprintf(path, sizeof path, "%s/data.mdb", dir) >= sizeof path ||
        stat(path, &st) != 0)
        return s_unusable(out, FOUNDRY_EINVAL, "no store in %s (%s/data.mdb does not exist)", dir,
                          dir);
    int64_t start_ms = fdy_clock_mono_ms();
    fdy_store_walk_t *w =
        mmap(NULL, sizeof *w, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (w == MAP_FAILED)
        return s_unusable(out, FOUNDRY_EIO, "store check: shared memory: %s%s", strerror(errno),
                          "");
    memset(w, 0, sizeof *w);
    if (opts->report)
        fflush(opts->report);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        munmap(w, sizeof *w);
        return s_unusable(out, FOUNDRY_EIO, "store check: fork: %s%s", strerror(errno), "");
    }
    if (pid == 0) {
        fdy_store_walk(dir, w, opts->report, opts->progress);
        if (opts->report)
            fflush(opts->report);
        fflush(stderr);
        _exit(0); /* not exit(): the parent's atexit handlers are not ours */
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        continue;
    out->elapsed_ms = (uint64_t) (fdy_clock_mono_ms() - start_ms);
    s_judge(dir, w, status, out);
    if (opts->report)
        s_summary(opts->report, dir, w, out);
    munmap(w, sizeof *w);
    return FOUNDRY_OK;
}

int
fdy_store_check_exit_status(const fdy_store_check_result_t *result)
{
    return (int) result->verdict;
}
