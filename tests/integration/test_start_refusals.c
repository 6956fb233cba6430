/*  test_start_refusals.c: the real foundry-broker and foundry-node refuse
 *  to start on bad input and say exactly what is wrong (issue 11, "Bad
 *  input"): a config file with an unknown key or a bad value names the
 *  file, the line and the reason (exit 2, nothing created); a key file
 *  that is missing or open to others is refused with its path (exit 1);
 *  a second broker on a data directory in use is refused before it
 *  checks or opens the store, and the first keeps serving. The parser's
 *  every message is unit-tested in tests/unit/test_config.c; the node's
 *  bad value in test_node_outbox.c; foundryctl's loose key in test_ctl.c.
 */
#include "proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LEN 700

/* Runs program (FOUNDRY_BROKER or FOUNDRY_NODE) with argv and no
 * foundryctl flags; returns its run (caller clears). */
static void
s_run(fdy_proc_t *p, const char *env_name, const char *const *argv, fdy_proc_run_t *run)
{
    const char *program = getenv(env_name);
    FDY_CHECK_MSG(program, "%s is not set", env_name);
    fdy_proc_ctl_opts_t opts = {.no_auth = true, .program = program, .deadline_ms = 30000};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, argv, run));
}

static void
s_write(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    FDY_CHECK_MSG(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
    FDY_CHECK(chmod(path, mode) == 0);
}

/* Fails unless the run exited want and its stderr holds every needle. */
static void
s_expect(const fdy_proc_run_t *run, int want, const char *const *needles)
{
    if (run->status != want)
        fdy_proc_run_print("run", run);
    FDY_CHECK_EQ(run->status, want);
    for (size_t i = 0; needles[i]; i++)
        FDY_CHECK_MSG(strstr(run->err, needles[i]) != NULL, "stderr lacks \"%s\": %s", needles[i],
                      run->err);
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ARGV(...)    ((const char *const[]){__VA_ARGS__, NULL})

static void
test_start_refusals_config_names_file_and_line(void)
{
    fdy_proc_t *p = fdy_proc_new("refuse-config");
    char conf[PATH_LEN], fresh[PATH_LEN], keys[PATH_LEN], want[PATH_LEN + 64];
    snprintf(fresh, sizeof fresh, "%s/fresh-data", fdy_proc_dir(p));
    snprintf(keys, sizeof keys, "%s/keys", fdy_proc_dir(p));
    fdy_proc_run_t run;

    /* Unknown key, on line 3, in a real start (not only --check-config). */
    snprintf(conf, sizeof conf, "%s/unknown.conf", fdy_proc_dir(p));
    s_write(conf, "listen = tcp://127.0.0.1:*\n# the next key does not exist\nmap_sise = 1GiB\n",
            0644);
    snprintf(want, sizeof want, "%s:3: unknown option 'map_sise'", conf);
    s_run(p, "FOUNDRY_BROKER", ARGV("--config", conf, "--data-dir", fresh, "--keys", keys), &run);
    s_expect(&run, 2, NEEDLES(want));
    fdy_proc_run_clear(&run);
    struct stat st;
    FDY_CHECK_MSG(stat(fresh, &st) != 0, "a refused config created %s", fresh);

    /* Bad values: a unit that is refused, a number out of range. */
    snprintf(conf, sizeof conf, "%s/value.conf", fdy_proc_dir(p));
    s_write(conf, "log_level = info\n\ncommit_max_msgs = 70000\n", 0644);
    snprintf(want, sizeof want, "%s:3: option 'commit_max_msgs': 70000 is above the maximum", conf);
    s_run(p, "FOUNDRY_BROKER", ARGV("--config", conf, "--data-dir", fresh, "--keys", keys), &run);
    s_expect(&run, 2, NEEDLES(want));
    fdy_proc_run_clear(&run);
    s_write(conf, "map_size = 64MB\n", 0644);
    snprintf(want, sizeof want, "%s:1: option 'map_size': size unit 'MB' is ambiguous", conf);
    s_run(p, "FOUNDRY_BROKER", ARGV("--config", conf, "--check-config"), &run);
    s_expect(&run, 2, NEEDLES(want));
    fdy_proc_run_clear(&run);

    /* A config file that is not there is named too. */
    snprintf(conf, sizeof conf, "%s/absent.conf", fdy_proc_dir(p));
    s_run(p, "FOUNDRY_BROKER", ARGV("--config", conf, "--data-dir", fresh), &run);
    s_expect(&run, 2, NEEDLES(conf));
    fdy_proc_run_clear(&run);
    FDY_CHECK(stat(fresh, &st) != 0);

    /* The node: an unknown key in its file, line 2. */
    snprintf(conf, sizeof conf, "%s/node.conf", fdy_proc_dir(p));
    s_write(conf, "site = pangyo\noutbox_max = 5\n", 0644);
    snprintf(want, sizeof want, "%s:2: unknown option 'outbox_max'", conf);
    s_run(p, "FOUNDRY_NODE", ARGV("--config", conf, "--data-dir", fresh), &run);
    s_expect(&run, 2, NEEDLES(want));
    fdy_proc_run_clear(&run);
    FDY_CHECK(stat(fresh, &st) != 0);
    fdy_proc_destroy(&p);
}

static void
test_start_refusals_key_files_named(void)
{
    fdy_proc_t *p = fdy_proc_new("refuse-keys");
    char keys[PATH_LEN], secret[PATH_LEN + 32], data[PATH_LEN], ready[PATH_LEN + 8];
    snprintf(data, sizeof data, "%s/data", fdy_proc_dir(p));
    snprintf(ready, sizeof ready, "%s/ready", data);
    fdy_proc_run_t run;

    /* The broker's secret key readable by others. */
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    snprintf(keys, sizeof keys, "%s/keys", fdy_proc_dir(p));
    snprintf(secret, sizeof secret, "%s/broker.key_secret", keys);
    FDY_CHECK(chmod(secret, 0644) == 0);
    s_run(p, "FOUNDRY_BROKER",
          ARGV("--data-dir", data, "--keys", keys, "--bind", "tcp://127.0.0.1:*"), &run);
    s_expect(&run, 1, NEEDLES(secret, "mode 0644", "chmod 600"));
    fdy_proc_run_clear(&run);
    struct stat st;
    FDY_CHECK_MSG(stat(ready, &st) != 0, "a refused broker wrote %s", ready);
    FDY_CHECK(chmod(secret, 0600) == 0);

    /* The node: its key missing, then open to others; the broker's public
     * key missing. */
    char node_pub[512], node_secret[512], absent[PATH_LEN], node_data[PATH_LEN];
    FDY_CHECK_OK(fdy_proc_key_generate(p, "node-hanam"));
    fdy_proc_key_paths(p, "node-hanam", node_pub, node_secret);
    snprintf(absent, sizeof absent, "%s/no-such.key_secret", fdy_proc_dir(p));
    snprintf(node_data, sizeof node_data, "%s/node-data", fdy_proc_dir(p));
    const char *broker_key = fdy_proc_broker_key(p);
    s_run(p, "FOUNDRY_NODE",
          ARGV("--site", "hanam", "--key", absent, "--broker-key", broker_key, "--data-dir",
               node_data),
          &run);
    s_expect(&run, 1, NEEDLES(absent, "No such file"));
    fdy_proc_run_clear(&run);

    FDY_CHECK(chmod(node_secret, 0640) == 0);
    s_run(p, "FOUNDRY_NODE",
          ARGV("--site", "hanam", "--key", node_secret, "--broker-key", broker_key, "--data-dir",
               node_data),
          &run);
    s_expect(&run, 1, NEEDLES(node_secret, "mode 0640", "chmod 600"));
    fdy_proc_run_clear(&run);
    FDY_CHECK(chmod(node_secret, 0600) == 0);

    snprintf(absent, sizeof absent, "%s/no-such-broker.key", fdy_proc_dir(p));
    s_run(p, "FOUNDRY_NODE",
          ARGV("--site", "hanam", "--key", node_secret, "--broker-key", absent, "--data-dir",
               node_data),
          &run);
    s_expect(&run, 1, NEEDLES(absent, "broker_key"));
    fdy_proc_run_clear(&run);
    snprintf(ready, sizeof ready, "%s/ready", node_data);
    FDY_CHECK(stat(ready, &st) != 0);
    fdy_proc_destroy(&p);
}

static void
test_start_refusals_second_broker(void)
{
    fdy_proc_t *p = fdy_proc_new("refuse-second");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    char keys[PATH_LEN], ready[PATH_LEN + 8], want[PATH_LEN + 32];
    snprintf(keys, sizeof keys, "%s/keys", fdy_proc_dir(p));
    snprintf(ready, sizeof ready, "%s/ready", fdy_proc_data_dir(p));
    fdy_proc_run_t run;
    s_run(p, "FOUNDRY_BROKER",
          ARGV("--data-dir", fdy_proc_data_dir(p), "--keys", keys, "--bind", "tcp://127.0.0.1:*"),
          &run);
    snprintf(want, sizeof want, "another broker uses %s", fdy_proc_data_dir(p));
    s_expect(&run, 1, NEEDLES(want, "broker.lock"));
    /* Refused first: it neither checked nor opened the store in use. */
    FDY_CHECK_MSG(!strstr(run.err, "STORE-CHECK") && !strstr(run.err, "STORE-DEDUPE"),
                  "the second broker touched the store: %s", run.err);
    fdy_proc_run_clear(&run);

    /* The first still announces itself and serves. */
    char pid_line[32];
    snprintf(pid_line, sizeof pid_line, "pid %ld", (long) fdy_proc_broker_pid(p));
    FDY_CHECK_EQ(fdy_proc_file_count(ready, pid_line), 1);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "status", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"config_names_file_and_line", test_start_refusals_config_names_file_and_line},
        {"key_files_named", test_start_refusals_key_files_named},
        {"second_broker", test_start_refusals_second_broker},
    };
    return fdy_proc_run_tests("start_refusals", tests, sizeof tests / sizeof tests[0], argc, argv);
}
