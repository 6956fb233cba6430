/*  test_partner_path.c: the partner path of issue 12, end to end against the
 *  real broker: docs/security.md's "Partner walk-through" block run as it is
 *  written (operator lines with an admin key, partner lines in a shell of
 *  its own with a foundryctl context), and key add refusing publish rights
 *  no stream captures with the exact `stream add` that then makes it work.
 */
#include "proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LINE_MAX_LEN 1024
#define STEPS_MAX    32

typedef struct {
    bool operator_role; /* else partner */
    char command[LINE_MAX_LEN];
    char expect[4][LINE_MAX_LEN]; /* "> " lines after it */
    size_t expect_count;
} step_t;

/* Reads the first ```sh block after "## Partner walk-through". */
static size_t
s_read_walkthrough(const char *path, step_t *steps, size_t max)
{
    FILE *in = fopen(path, "r");
    FDY_CHECK_MSG(in, "cannot open %s", path);
    char line[LINE_MAX_LEN];
    bool in_section = false, in_block = false, operator_role = false;
    size_t count = 0;
    while (fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = '\0';
        if (!in_section) {
            in_section = strcmp(line, "## Partner walk-through") == 0;
            continue;
        }
        if (!in_block) {
            in_block = strncmp(line, "```sh", 5) == 0;
            continue;
        }
        if (strncmp(line, "```", 3) == 0)
            break;
        if (strncmp(line, "# operator", 10) == 0)
            operator_role = true;
        else if (strncmp(line, "# partner", 9) == 0)
            operator_role = false;
        else if (strncmp(line, "foundryctl ", 11) == 0 && count < max) {
            steps[count].operator_role = operator_role;
            snprintf(steps[count].command, sizeof steps[count].command, "%s", line);
            steps[count].expect_count = 0;
            count++;
        } else if (strncmp(line, "> ", 2) == 0 && count > 0 && steps[count - 1].expect_count < 4) {
            step_t *last = &steps[count - 1];
            snprintf(last->expect[last->expect_count++], LINE_MAX_LEN, "%s", line + 2);
        }
    }
    fclose(in);
    return count;
}

/* text with every `from` replaced by `to`, into out. */
static void
s_replace(const char *text, const char *from, const char *to, char *out, size_t size)
{
    size_t used = 0, from_len = strlen(from);
    out[0] = '\0';
    while (*text && used + 1 < size) {
        if (strncmp(text, from, from_len) == 0) {
            used += (size_t) snprintf(out + used, size - used, "%s", to);
            text += from_len;
        } else {
            out[used++] = *text++;
            out[used] = '\0';
        }
        if (used >= size)
            used = size - 1;
    }
}

static void
s_copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    FDY_CHECK(in && out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        FDY_CHECK_EQ(fwrite(buf, 1, n, out), n);
    fclose(in);
    FDY_CHECK(fclose(out) == 0);
}

/* Runs `cd WORK && LINE` in /bin/sh as the operator (admin key in the
 * FOUNDRY_* variables) or the partner (its own config directory). */
static void
s_run_line(fdy_proc_t *p, const char *work, bool operator_role, const char *line,
           fdy_proc_run_t *run)
{
    char admin_public[512], admin_secret[512];
    fdy_proc_key_paths(p, "admin", admin_public, admin_secret);
    const char *endpoint = fdy_proc_endpoint(p);
    char command[8 * LINE_MAX_LEN], replaced[4 * LINE_MAX_LEN];
    s_replace(line, "broker.example:7700", endpoint + strlen("tcp://"), replaced, sizeof replaced);
    snprintf(command, sizeof command, "cd '%s' && %s%s", work, getenv("FOUNDRY_CTL"),
             replaced + strlen("foundryctl"));
    char var_endpoint[600], var_key[600], var_broker[600], var_config[700];
    snprintf(var_endpoint, sizeof var_endpoint, "FOUNDRY_ENDPOINT=%s", endpoint);
    snprintf(var_key, sizeof var_key, "FOUNDRY_KEY=%s", admin_secret);
    snprintf(var_broker, sizeof var_broker, "FOUNDRY_BROKER_KEY=%s", fdy_proc_broker_key(p));
    snprintf(var_config, sizeof var_config, "XDG_CONFIG_HOME=%s/%s", work,
             operator_role ? "operator-config" : "partner-config");
    const char *operator_env[] = {var_endpoint, var_key, var_broker, var_config, NULL};
    const char *partner_env[] = {var_config, NULL};
    fdy_proc_ctl_opts_t opts = {
        .no_auth = true, .program = "/bin/sh", .env = operator_role ? operator_env : partner_env};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, (const char *const[]){"-c", command, NULL}, run));
}

static void
test_partner_walkthrough_as_documented(void)
{
    const char *doc = getenv("FOUNDRY_SECURITY_DOC");
    if (!doc) {
        fprintf(stderr, "  FOUNDRY_SECURITY_DOC not set: walk-through skipped\n");
        return;
    }
    step_t steps[STEPS_MAX];
    size_t count = s_read_walkthrough(doc, steps, STEPS_MAX);
    FDY_CHECK_MSG(count >= 4, "only %zu foundryctl lines in the walk-through", count);
    fdy_proc_t *p = fdy_proc_new("walkthrough");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    char work[600], broker_copy[700];
    snprintf(work, sizeof work, "%s/work", fdy_proc_dir(p));
    FDY_CHECK(mkdir(work, 0700) == 0);
    snprintf(broker_copy, sizeof broker_copy, "%s/broker.key", work);
    s_copy_file(fdy_proc_broker_key(p), broker_copy);
    size_t checked = 0;
    for (size_t i = 0; i < count; i++) {
        fdy_proc_run_t run;
        s_run_line(p, work, steps[i].operator_role, steps[i].command, &run);
        if (run.status != 0) {
            fdy_proc_run_print(steps[i].command, &run);
            fdy_proc_fail(__FILE__, __LINE__, "walk-through step %zu failed: %s", i + 1,
                          steps[i].command);
        }
        for (size_t e = 0; e < steps[i].expect_count; e++) {
            FDY_CHECK_MSG(strstr(run.out, steps[i].expect[e]),
                          "step %zu (%s): \"%s\" not in its output \"%s\"", i + 1, steps[i].command,
                          steps[i].expect[e], run.out);
            checked++;
        }
        fdy_proc_run_clear(&run);
    }
    FDY_CHECK_MSG(checked >= 2, "the walk-through checks only %zu outputs", checked);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* Without --create-stream, publish rights no stream captures are refused
 * (nothing registered) with the exact command; running it makes the same
 * key add work, and the partner publishes there. */
static void
test_partner_refused_with_the_stream_add_to_run(void)
{
    fdy_proc_t *p = fdy_proc_new("tenant-refused");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    FDY_CHECK_OK(fdy_proc_key_generate(p, "beta"));
    char beta_public[512], beta_secret[512];
    fdy_proc_key_paths(p, "beta", beta_public, beta_secret);
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "add", beta_public, "--role", "partner", "--tenant",
                              "beta", "--allow-publish", "beta.>", NULL));
    FDY_CHECK_RUN(&run, 1);
    const char *want = "`foundryctl stream add tenant-beta --subject 'beta.>'`";
    FDY_CHECK_MSG(strstr(run.err, want), "refusal: %s", run.err);
    fdy_proc_run_clear(&run);
    foundry_client_t *client = NULL;
    FDY_CHECK_ERR(fdy_proc_client_new(p, "beta", NULL, &client), FOUNDRY_EAUTH);

    FDY_CHECK_OK(
        fdy_proc_ctl(p, &run, "stream", "add", "tenant-beta", "--subject", "beta.>", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "key", "add", beta_public, "--role", "partner", "--tenant",
                              "beta", "--allow-publish", "beta.>", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_client_new(p, "beta", NULL, &client));
    foundry_ack_t ack;
    FDY_CHECK_OK(foundry_client_publish(client, "beta.x", "1", 1, NULL, 0, &ack));
    FDY_CHECK_STR(ack.stream, "tenant-beta");
    /* it reads back what it published: a live tail on its own subjects */
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));
    fdy_json_t *keys = fdy_proc_ctl_json(p, (const char *const[]){"key", "ls", NULL});
    bool seen = false;
    for (size_t i = 0; i < fdy_proc_json_count(keys); i++) {
        const fdy_json_t *row = fdy_proc_json_at(keys, i);
        if (strcmp(fdy_proc_json_str(fdy_proc_json_get(row, "name"), NULL), "beta") != 0)
            continue;
        char sub[256];
        fdy_proc_row_str(row, "allow_subscribe", sub, sizeof sub);
        FDY_CHECK_STR(sub, "beta.>");
        seen = true;
    }
    FDY_CHECK(seen);
    fdy_proc_json_destroy(&keys);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"walkthrough_as_documented", test_partner_walkthrough_as_documented},
        {"refused_with_the_stream_add_to_run", test_partner_refused_with_the_stream_add_to_run},
    };
    return fdy_proc_run_tests("partner_path", tests, sizeof tests / sizeof tests[0], argc, argv);
}
