/*  bench_env.h: the broker that foundry-bench measures, in a temporary
 *  directory, plus the few helpers the bench's files share. Test tooling:
 *  errors are printed here ("foundry-bench: ...") and returned as codes.
 */
#ifndef FDY_BENCH_ENV_H_INCLUDED
#define FDY_BENCH_ENV_H_INCLUDED

#include "foundry.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Most --set KEY=VALUE options passed to the broker. */
#define FDY_BENCH_SETS_MAX 16

typedef struct {
    char dir[PATH_MAX];         /* the temporary directory */
    char data_dir[PATH_MAX];    /* the broker's data directory */
    char keys_dir[PATH_MAX];    /* the broker's own key pair */
    char client_dir[PATH_MAX];  /* our key pair */
    char secret_file[PATH_MAX]; /* our NAME.key_secret (an admin key) */
    char public_file[PATH_MAX];
    char endpoint[256];        /* from the ready file */
    char broker_key[PATH_MAX]; /* from the ready file */
    pid_t broker_pid;          /* 0 when not running */
} fdy_bench_env_t;

/* Makes a temporary directory under $TMPDIR (or /tmp), generates our key
 * pair with `ctl keygen`, registers it as admin with `ctl bootstrap`
 * (offline, as an operator does), starts `broker` on tcp://127.0.0.1:*
 * with the given --set options and waits (deadline-bounded) for its ready
 * file. Returns FOUNDRY_OK, or FOUNDRY_EIO having printed why; call
 * fdy_bench_env_remove() in both cases. */
foundry_err fdy_bench_env_start(fdy_bench_env_t *env, const char *broker, const char *ctl,
                                const char *const *sets, size_t set_count);

/* Runs `ctl --endpoint E --key K --broker-key B ARGS...` (NULL-ended;
 * stdout to /dev/null, stderr ours) as our admin key, waiting up to 60 s.
 * Returns FOUNDRY_OK, or an error having printed why. */
foundry_err fdy_bench_env_ctl(const fdy_bench_env_t *env, const char *ctl,
                              const char *const *args);

/* The same, waiting up to timeout_ms (a command that follows something
 * long, such as `rollout start --wait`). */
foundry_err fdy_bench_env_ctl_wait(const fdy_bench_env_t *env, const char *ctl,
                                   const char *const *args, uint64_t timeout_ms);

/* Runs `ctl keygen NAME --out <client_dir>` (offline). */
/* The integer field name of `foundryctl status --json`. Returns
 * FOUNDRY_OK, or an error having printed why. */
foundry_err fdy_bench_env_status_value(const fdy_bench_env_t *env, const char *ctl,
                                       const char *name, int64_t *value_out);

foundry_err fdy_bench_env_keygen(const fdy_bench_env_t *env, const char *ctl, const char *name);

/* The broker's peak resident set in KiB (VmHWM), or 0 when unknown. */
uint64_t fdy_bench_env_peak_rss_kib(const fdy_bench_env_t *env);

/* Sends SIGTERM and waits for the broker to exit. Returns FOUNDRY_OK when
 * it exited 0, FOUNDRY_ETIMEDOUT (killed after 60 s) or FOUNDRY_EIO. */
foundry_err fdy_bench_env_stop(fdy_bench_env_t *env);

/* Kills a broker still running (after a failure) and removes the
 * directory, or only says where it is when keep is true. */
void fdy_bench_env_remove(fdy_bench_env_t *env, bool keep);

/* The binary at <build dir>/<relative>, where the build dir is the one
 * holding this executable (build/tests/bench/foundry-bench). Writes into
 * buf and returns it, or NULL. */
const char *fdy_bench_env_default_binary(const char *relative, char *buf, size_t size);

/* The 1-minute load average, -1 when unknown: figures from a busy machine
 * are not comparable, so the report says how busy it was. */
double fdy_bench_env_load_average(void);

/* In a child right after fork(): it gets SIGTERM when the bench dies
 * (killed or Ctrl-C), so no broker or agent outlives it. Async-signal
 * safe. */
void fdy_bench_env_child_init(void);

/* CPU time (user + system) a process has used, ms; 0 when unknown. pid 0:
 * this process. A figure per unit does not depend on how busy the shared
 * machine is, as the wall-clock rates do. */
double fdy_bench_env_cpu_ms(pid_t pid);

/* As fdy_bench_env_cpu_ms, summed over pid's direct children (a node
 * agent's handler processes); 0 when unknown. */
double fdy_bench_env_children_cpu_ms(pid_t pid);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t fdy_bench_env_now_ns(void);

/* Sorts n latencies (ns) and returns their q-quantile in milliseconds
 * (0 when n is 0). */
double fdy_bench_env_quantile_ms(uint64_t *values_ns, size_t n, double q);

/* Prints "foundry-bench: <message>" on stderr. */
void fdy_bench_env_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
