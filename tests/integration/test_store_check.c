/*  test_store_check.c: a real store (made by the real broker: a node's
 *  published samples, a key, a consumer) damaged on disk in the ways a disk
 *  or a hand does it, then: foundry-broker --check-store and foundryctl
 *  store check report it (exit 1, never killed), the broker refuses to
 *  start naming the file (exit 1, never a signal), and --salvage-to copies
 *  what is readable into a store the broker serves. Also: the check at
 *  start follows the clean-stop marker (a SIGKILLed broker is checked, a
 *  cleanly stopped one is not).
 */
#include "damage.h"
#include "proc.h"
#include "tamper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

#define STREAM   "telemetry-siheung"
#define SUBJECT  "telemetry.siheung.press1.force"
#define MESSAGES 3000
#define TARGET   1500 /* the record whose leaf page is damaged */

/* A broker's store with MESSAGES samples, key n1 and consumer c1 (acked
 * up to nothing), stopped cleanly. */
static fdy_proc_t *
s_store_new(const char *name)
{
    fdy_proc_t *p = fdy_proc_new(name);
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "n1", "--role", "node", "--site", "siheung", NULL);
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "consumer", "add", STREAM, "c1", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "n1", NULL, &client));
    char payload[160];
    memset(payload, 'x', sizeof payload);
    for (int i = 0; i < MESSAGES; i++) {
        char id[32];
        snprintf(id, sizeof id, "m-%d", i);
        snprintf(payload, sizeof payload, "sample %d ", i);
        FDY_CHECK_OK(foundry_client_publish_async(client, SUBJECT, payload, sizeof payload, id,
                                                  strlen(id), NULL));
    }
    FDY_CHECK_OK(foundry_client_flush(client, 30000));
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    return p;
}

/* Runs the broker binary (not a start: a tool flag) with argv. */
static void
s_broker_tool(fdy_proc_t *p, const char *const *argv, fdy_proc_run_t *run)
{
    fdy_proc_ctl_opts_t opts = {.no_auth = true, .program = getenv("FOUNDRY_BROKER")};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, argv, run));
}

/* Both check commands on the environment's store exit `want`, and say so. */
static void
s_check_both(fdy_proc_t *p, int want)
{
    const char *dir = fdy_proc_data_dir(p);
    fdy_proc_run_t run;
    s_broker_tool(p, ARGV("--check-store", "--data-dir", dir), &run);
    FDY_CHECK_RUN(&run, want);
    FDY_CHECK_MSG(strstr(run.out, want == 0 ? "verdict: clean" : "verdict: DAMAGED"),
                  "no verdict in: %s", run.out);
    fdy_proc_run_clear(&run);
    fdy_proc_ctl_opts_t opts = {.no_auth = true};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, ARGV("store", "check", "--data-dir", dir), &run));
    FDY_CHECK_RUN(&run, want);
    FDY_CHECK_MSG(strstr(run.out, want == 0 ? "verdict: clean" : "verdict: DAMAGED"),
                  "no verdict in: %s", run.out);
    fdy_proc_run_clear(&run);
}

/* The damaged store is refused at start: exit 1 (a refusal, not a signal),
 * with a reason naming data.mdb. */
static void
s_start_refused(fdy_proc_t *p)
{
    FDY_CHECK_ERR(fdy_proc_broker_start(p, NULL), FOUNDRY_EIO);
    FDY_CHECK_EQ(fdy_proc_broker_last_exit(p), 1);
    FDY_CHECK(fdy_proc_log_count(p, "data.mdb") > 0);
    FDY_CHECK(fdy_proc_log_count(p, "BROKER-START-FAILED") > 0);
}

/* Salvages the store into <dir>/salvaged, expecting `want` (0 or 1) and at
 * least min_messages copied, then serves the salvaged store and reads the
 * stream back through the broker. */
static void
s_salvage(fdy_proc_t *p, int want, int64_t min_messages)
{
    char to[1024];
    snprintf(to, sizeof to, "%s/salvaged", fdy_proc_dir(p));
    fdy_proc_run_t run;
    s_broker_tool(p, ARGV("--salvage-to", to, "--data-dir", fdy_proc_data_dir(p)), &run);
    FDY_CHECK_RUN(&run, want);
    const char *at = strstr(run.out, "streams (");
    FDY_CHECK_MSG(at, "no summary in: %s", run.out);
    const char *msgs = strstr(run.out, " messages (");
    FDY_CHECK(msgs);
    while (msgs > run.out && msgs[-1] >= '0' && msgs[-1] <= '9')
        msgs--;
    long long copied = atoll(msgs);
    FDY_CHECK_MSG(copied >= min_messages && copied <= MESSAGES, "copied %lld: %s", copied, run.out);
    fdy_proc_run_clear(&run);
    /* The salvaged store passes the check and is served. */
    fdy_proc_ctl_opts_t opts = {.no_auth = true};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, ARGV("store", "check", "--data-dir", to), &run));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    char damaged[1024];
    snprintf(damaged, sizeof damaged, "%s/damaged", fdy_proc_dir(p));
    FDY_CHECK_EQ(rename(fdy_proc_data_dir(p), damaged), 0);
    FDY_CHECK_EQ(rename(to, fdy_proc_data_dir(p)), 0);
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_check_stream_count(p, STREAM, copied);
    fdy_json_t *json = fdy_proc_ctl_json(p, ARGV("consumer", "ls", STREAM));
    FDY_CHECK_EQ(fdy_proc_json_count(json), 1);
    fdy_proc_json_destroy(&json);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
}

static void
s_page_case(const char *name, fdy_damage_page_t how)
{
    fdy_proc_t *p = s_store_new(name);
    uint64_t pgno;
    uint32_t page_size;
    fdy_reason_t reason;
    FDY_CHECK_OK(
        fdy_damage_find_leaf(fdy_proc_data_dir(p), STREAM, TARGET, &pgno, &page_size, &reason));
    FDY_CHECK_OK(fdy_damage_page(fdy_proc_data_dir(p), pgno, page_size, how, &reason));
    s_check_both(p, 1);
    s_start_refused(p);
    /* One page of about 25 records is lost, the rest is copied. */
    s_salvage(p, 1, MESSAGES - 200);
    fdy_proc_destroy(&p);
}

static void
test_clean_store_checks_clean_and_salvages_whole(void)
{
    fdy_proc_t *p = s_store_new("check-clean");
    s_check_both(p, 0);
    s_salvage(p, 0, MESSAGES);
    fdy_proc_destroy(&p);
}

static void
test_leaf_relabelled_as_branch(void)
{
    s_page_case("check-branch", FDY_DAMAGE_LEAF_TO_BRANCH);
}

static void
test_leaf_page_zeroed(void)
{
    s_page_case("check-zero", FDY_DAMAGE_ZERO);
}

static void
test_leaf_page_random_bytes(void)
{
    s_page_case("check-random", FDY_DAMAGE_RANDOM);
}

static void
s_truncate_case(const char *name, unsigned percent, const char *why, const char *salvage_why)
{
    fdy_proc_t *p = s_store_new(name);
    fdy_reason_t reason;
    FDY_CHECK_OK(fdy_damage_truncate(fdy_proc_data_dir(p), percent, &reason));
    s_check_both(p, 1);
    s_start_refused(p);
    FDY_CHECK(fdy_proc_log_count(p, why) > 0);
    /* LMDB writes a commit's new pages (its roots among them) at the end of
     * the file: cut short, the catalogue is gone and salvage says to
     * restore a backup, exit 2, never crashing. */
    char to[1024];
    snprintf(to, sizeof to, "%s/salvaged", fdy_proc_dir(p));
    fdy_proc_run_t run;
    s_broker_tool(p, ARGV("--salvage-to", to, "--data-dir", fdy_proc_data_dir(p)), &run);
    FDY_CHECK_RUN(&run, 2);
    FDY_CHECK(strstr(run.err, salvage_why));
    fdy_proc_run_clear(&run);
    fdy_proc_destroy(&p);
}

static void
test_truncated_to_half(void)
{
    s_truncate_case("check-cut50", 50, "is truncated", "restore a backup");
}

static void
test_truncated_to_ninety_percent(void)
{
    s_truncate_case("check-cut90", 90, "is truncated", "restore a backup");
}

static void
test_empty_data_file(void)
{
    s_truncate_case("check-empty", 0, "is empty (0 bytes)", "restore a backup");
}

static void
test_altered_key_record(void)
{
    fdy_proc_t *p = s_store_new("check-key");
    fdy_reason_t reason;
    FDY_CHECK_OK(fdy_tamper_key_set(fdy_proc_data_dir(p), "n1", 12, 0x5a, &reason));
    s_check_both(p, 1);
    s_start_refused(p);
    FDY_CHECK(fdy_proc_log_count(p, "key record \"n1\"") > 0);
    /* Everything but the altered key is copied. */
    s_salvage(p, 1, MESSAGES);
    fdy_proc_destroy(&p);
}

/* The clean-stop marker: a clean stop skips the check at the next start,
 * SIGKILL does not, and check_store_at_start = never skips it always. */
static void
test_check_at_start_follows_clean_stop(void)
{
    fdy_proc_t *p = fdy_proc_new("check-marker");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL)); /* bootstrapped offline: checked */
    FDY_CHECK(fdy_proc_log_count(p, "STORE-CHECKED") > 0);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    char marker[1024];
    snprintf(marker, sizeof marker, "%s/clean-stop", fdy_proc_data_dir(p));
    FDY_CHECK_EQ(access(marker, F_OK), 0);
    /* Clean stop, unchanged file: no check. The log is emptied to tell. */
    FDY_CHECK_EQ(truncate(fdy_proc_log_path(p), 0), 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    FDY_CHECK(fdy_proc_log_count(p, "STORE-CHECK-START") == 0);
    FDY_CHECK(access(marker, F_OK) != 0); /* taken at start */
    FDY_CHECK_OK(fdy_proc_broker_kill(p));
    FDY_CHECK_EQ(truncate(fdy_proc_log_path(p), 0), 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    FDY_CHECK(fdy_proc_log_count(p, "not clean") > 0);
    FDY_CHECK(fdy_proc_log_count(p, "STORE-CHECKED") > 0);
    FDY_CHECK_OK(fdy_proc_broker_kill(p));
    FDY_CHECK_EQ(truncate(fdy_proc_log_path(p), 0), 0);
    FDY_CHECK_OK(fdy_proc_broker_start(p, ARGV("--set", "check_store_at_start=never")));
    FDY_CHECK(fdy_proc_log_count(p, "STORE-CHECK-START") == 0);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_check_usage_errors(void)
{
    fdy_proc_t *p = fdy_proc_new("check-usage");
    char none[1024];
    snprintf(none, sizeof none, "%s/none", fdy_proc_dir(p));
    fdy_proc_run_t run;
    s_broker_tool(p, ARGV("--check-store", "--data-dir", none), &run);
    FDY_CHECK_RUN(&run, 2);
    FDY_CHECK(strstr(run.err, "no data directory"));
    fdy_proc_run_clear(&run);
    s_broker_tool(p, ARGV("--check-store", "--set", "check_store_at_start=sometimes"), &run);
    FDY_CHECK_RUN(&run, 2);
    FDY_CHECK(strstr(run.err, "check_store_at_start"));
    fdy_proc_run_clear(&run);
    /* Salvage never writes over a store. */
    s_broker_tool(p, ARGV("--salvage-to", fdy_proc_data_dir(p), "--data-dir", fdy_proc_data_dir(p)),
                  &run);
    FDY_CHECK_RUN(&run, 2);
    FDY_CHECK(strstr(run.err, "holds a store already"));
    fdy_proc_run_clear(&run);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"clean_store_checks_clean_and_salvages_whole",
         test_clean_store_checks_clean_and_salvages_whole},
        {"leaf_relabelled_as_branch", test_leaf_relabelled_as_branch},
        {"leaf_page_zeroed", test_leaf_page_zeroed},
        {"leaf_page_random_bytes", test_leaf_page_random_bytes},
        {"truncated_to_half", test_truncated_to_half},
        {"truncated_to_ninety_percent", test_truncated_to_ninety_percent},
        {"empty_data_file", test_empty_data_file},
        {"altered_key_record", test_altered_key_record},
        {"check_at_start_follows_clean_stop", test_check_at_start_follows_clean_stop},
        {"check_usage_errors", test_check_usage_errors},
    };
    return fdy_proc_run_tests("store_check", tests, sizeof tests / sizeof tests[0], argc, argv);
}
