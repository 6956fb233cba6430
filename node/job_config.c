/*  job_config.c: parsing the job handlers file (job_config.h). Words are
 *  separated by blanks; there is no quoting, because argv is passed to
 *  execvp as it stands (no shell) and a handler needing more takes a
 *  wrapper script.
 */
#include "job_config.h"

#include "codec_jobs.h"
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_handler_fini(fdy_job_handler_t *h)
{
    free(h->type);
    free(h->cwd);
    for (size_t i = 0; h->env[i]; i++)
        free(h->env[i]);
    for (size_t i = 0; h->argv[i]; i++)
        free(h->argv[i]);
    memset(h, 0, sizeof *h);
}

void
fdy_job_config_fini(fdy_job_config_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        s_handler_fini(&self->handlers[i]);
    self->count = 0;
}

const fdy_job_handler_t *
fdy_job_config_find(const fdy_job_config_t *self, const char *type)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->handlers[i].type, type) == 0)
            return &self->handlers[i];
    return NULL;
}

static foundry_err
s_line(fdy_job_config_t *self, char *line, fdy_reason_t *reason)
{
    char *save = NULL;
    char *words[4];
    for (size_t i = 0; i < 4; i++) {
        words[i] = strtok_r(i ? NULL : line, " \t", &save);
        if (!words[i])
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "want: type mode slots timeout [cwd=DIR] [env=K=V]... -- argv");
    }
    if (self->count == FDY_JOB_HANDLERS_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "more than %d handlers",
                              FDY_JOB_HANDLERS_MAX);
    fdy_job_handler_t *h = &self->handlers[self->count];
    memset(h, 0, sizeof *h);
    fdy_job_spec_t probe = { .type = words[0] };
    if (fdy_codec_job_spec_check(&probe, 0, reason) != FOUNDRY_OK)
        return FOUNDRY_EINVAL;
    if (fdy_job_config_find(self, words[0]))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "type %s given twice", words[0]);
    if (strcmp(words[1], "exec") == 0)
        h->mode = FDY_JOB_MODE_EXEC;
    else if (strcmp(words[1], "worker") == 0)
        h->mode = FDY_JOB_MODE_WORKER;
    else
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "mode '%s' is not exec or worker",
                              words[1]);
    char *end = NULL;
    unsigned long slots = strtoul(words[2], &end, 10);
    if (*end || slots == 0 || slots > 1024)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "slots '%s' is not 1..1024", words[2]);
    uint64_t timeout = 0;
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_config_parse_duration(words[3], &timeout, &why) != FOUNDRY_OK || timeout == 0 ||
        timeout > UINT32_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "timeout '%s': %s", words[3],
                              why.text[0] ? why.text : "out of range");
    h->slots = (uint32_t) slots;
    h->timeout_ms = (uint32_t) timeout;
    char *word;
    size_t envs = 0, args = 0;
    bool in_argv = false;
    while ((word = strtok_r(NULL, " \t", &save))) {
        if (in_argv) {
            if (args == FDY_JOB_ARGV_MAX) {
                s_handler_fini(h);
                return fdy_reason_set(reason, FOUNDRY_EINVAL, "more than %d arguments",
                                      FDY_JOB_ARGV_MAX);
            }
            h->argv[args++] = strdup(word);
        } else if (strcmp(word, "--") == 0) {
            in_argv = true;
        } else if (strncmp(word, "cwd=", 4) == 0 && !h->cwd) {
            h->cwd = strdup(word + 4);
        } else if (strncmp(word, "env=", 4) == 0 && strchr(word + 4, '=') && envs < FDY_JOB_ENV_MAX) {
            h->env[envs++] = strdup(word + 4);
        } else {
            s_handler_fini(h);
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "'%s': expected cwd=DIR, env=K=V or -- before the argv", word);
        }
    }
    if (args == 0) {
        s_handler_fini(h);
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "no argv after --");
    }
    h->type = strdup(words[0]);
    self->count++;
    return FOUNDRY_OK;
}

foundry_err
fdy_job_config_load(const char *path, fdy_job_config_t *out, fdy_reason_t *reason)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f)
        return fdy_reason_set(reason, FOUNDRY_EIO, "%s: %s", path, strerror(errno));
    char line[4096];
    unsigned number = 0;
    foundry_err err = FOUNDRY_OK;
    while (err == FOUNDRY_OK && fgets(line, sizeof line, f)) {
        number++;
        line[strcspn(line, "\r\n")] = '\0';
        char *start = line + strspn(line, " \t");
        if (*start == '\0' || *start == '#')
            continue;
        fdy_reason_t why;
        fdy_reason_clear(&why);
        err = s_line(out, start, &why);
        if (err != FOUNDRY_OK)
            fdy_reason_set(reason, err, "%s:%u: %s", path, number, why.text);
    }
    fclose(f);
    if (err != FOUNDRY_OK)
        fdy_job_config_fini(out);
    return err;
}
