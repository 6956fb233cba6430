/*  ctl_confirm.c: after an offline key change (key add|revoke, bootstrap
 *  with --data-dir), waits until a broker running on that data directory
 *  has the change in memory, so the command returns only once it is in
 *  force. Reads the ready file and the store's applied key generation
 *  (written by the broker, broker/store/registry.c); never talks to the broker.
 */
#include "ctl.h"

#include "clock.h"
#include "store.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Poll interval: short at first (a busy broker confirms within a turn, a
 * few ms), then up to POLL_MAX_MS (an idle one within its 100 ms tick). */
#define POLL_FIRST_MS 1
#define POLL_MAX_MS   20
#define READY_MAX     4096

static bool
s_alive(long pid)
{
    /* EPERM: a process of another user has it, which we cannot rule out as
     * the broker (foundryctl run by a different user than the broker's). */
    return pid > 0 && (kill((pid_t) pid, 0) == 0 || errno == EPERM);
}

/* The pid in <data_dir>/ready when that process is alive, else 0. The
 * broker writes the file after binding and before serving, and removes it
 * when it stops; a broker killed with SIGKILL leaves it naming a dead pid.
 * A broker still starting has no ready file yet: it has served no request
 * and reloads the keys before its first handshake, so it needs no wait. */
static long
s_serving_pid(const char *data_dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/ready", data_dir) >= (int) sizeof path)
        return 0;
    FILE *file = fopen(path, "r");
    if (!file)
        return 0;
    char text[READY_MAX + 1];
    size_t len = fread(text, 1, READY_MAX, file);
    fclose(file);
    text[len] = '\0';
    long pid = 0;
    for (const char *line = text; line;) {
        if (strncmp(line, "pid ", 4) == 0)
            pid = strtol(line + 4, NULL, 10);
        const char *end = strchr(line, '\n');
        line = end ? end + 1 : NULL;
    }
    return s_alive(pid) ? pid : 0;
}

static void
s_nap_ms(int64_t ms)
{
    struct timespec ts = {(time_t) (ms / 1000), (long) (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

int
fdy_ctl_confirm_wait(fdy_store_t *store, const char *data_dir, uint64_t generation, int timeout_ms,
                     const char *done, const char *pending)
{
    long pid = s_serving_pid(data_dir);
    if (pid == 0) {
        fdy_output_note("no broker is running on %s; a broker started later loads the change",
                        data_dir);
        return FDY_CTL_EXIT_OK;
    }
    int64_t deadline = fdy_clock_mono_ms() + timeout_ms;
    int64_t step = POLL_FIRST_MS;
    for (;;) {
        uint64_t applied = 0;
        fdy_reason_t reason = {{0}};
        foundry_err err = fdy_store_key_applied_get(store, &applied, &reason);
        if (err != FOUNDRY_OK)
            return fdy_output_fail("%s, but the broker's confirmation cannot be read: %s", done,
                                   reason.text[0] ? reason.text : foundry_strerror(err));
        if (applied >= generation)
            return FDY_CTL_EXIT_OK;
        if (!s_alive(pid)) {
            fdy_output_note("the broker (pid %ld) stopped before confirming; a broker started "
                            "later loads the change",
                            pid);
            return FDY_CTL_EXIT_OK;
        }
        int64_t left = deadline - fdy_clock_mono_ms();
        if (left <= 0)
            return fdy_output_fail("%s, but the running broker (pid %ld) did not confirm within "
                                   "%d ms; %s",
                                   done, pid, timeout_ms, pending);
        s_nap_ms(step < left ? step : left);
        step = step * 2 < POLL_MAX_MS ? step * 2 : POLL_MAX_MS;
    }
}
