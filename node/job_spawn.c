/*  job_spawn.c: fork + execvp of a handler (job_spawn.h). The child calls
 *  setpgid first, so a kill of the group reaches everything it starts;
 *  the parent calls it too, so no kill can race the child's own call.
 */
#include "job_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
fdy_job_spawn_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static bool
s_executable(const char *file, fdy_reason_t *reason)
{
    if (strchr(file, '/')) {
        if (access(file, X_OK) == 0)
            return true;
        fdy_reason_set(reason, FOUNDRY_EIO, "handler %s is not executable: %s", file,
                       strerror(errno));
        return false;
    }
    const char *path = getenv("PATH");
    char candidate[4096];
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(candidate, sizeof candidate, "%.*s/%s", (int) len, p, file);
        if (access(candidate, X_OK) == 0)
            return true;
        p += len + (p[len] == ':');
    }
    fdy_reason_set(reason, FOUNDRY_EIO, "handler %s not found in PATH", file);
    return false;
}

static void
s_child(const fdy_job_handler_t *h, const char *const *vars, int fds[4])
{
    setpgid(0, 0);
    for (int i = 0; i < 4; i++)
        dup2(fds[i], i);
    for (int fd = 4; fd < 1024; fd++)
        close(fd);
    for (size_t i = 0; vars && vars[i]; i++)
        putenv((char *) vars[i]);
    for (size_t i = 0; h->env[i]; i++)
        putenv(h->env[i]);
    setenv("FOUNDRY_PROGRESS_FD", "3", 1);
    signal(SIGPIPE, SIG_DFL);
    if (h->cwd && chdir(h->cwd) != 0) {
        dprintf(2, "foundry-node: cannot enter %s: %s\n", h->cwd, strerror(errno));
        _exit(126);
    }
    execvp(h->argv[0], h->argv);
    dprintf(2, "foundry-node: cannot run %s: %s\n", h->argv[0], strerror(errno));
    _exit(127);
}

foundry_err
fdy_job_spawn(const fdy_job_handler_t *h, const char *const *vars, fdy_job_child_t *out,
              fdy_reason_t *reason)
{
    if (!s_executable(h->argv[0], reason))
        return FOUNDRY_EIO;
    int pipes[4][2];
    int made = 0;
    while (made < 4 && pipe(pipes[made]) == 0)
        made++;
    if (made < 4) {
        int err = errno;
        for (int i = 0; i < made; i++) {
            close(pipes[i][0]);
            close(pipes[i][1]);
        }
        return fdy_reason_set(reason, FOUNDRY_EIO, "pipe: %s", strerror(err));
    }
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        for (int i = 0; i < 4; i++) {
            close(pipes[i][0]);
            close(pipes[i][1]);
        }
        return fdy_reason_set(reason, FOUNDRY_EIO, "fork: %s", strerror(err));
    }
    if (pid == 0) {
        int child_fds[4] = { pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1] };
        s_child(h, vars, child_fds);
    }
    setpgid(pid, pid);
    close(pipes[0][0]);
    close(pipes[1][1]);
    close(pipes[2][1]);
    close(pipes[3][1]);
    *out = (fdy_job_child_t){ pid, pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][0] };
    int fds[] = { out->in_fd, out->out_fd, out->err_fd, out->prog_fd };
    for (size_t i = 0; i < 4; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    return FOUNDRY_OK;
}
