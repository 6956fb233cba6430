/*  test_revoke.c: offline key changes (`foundryctl key add|revoke
 *  --data-dir`) against a running broker. The command returns only once the
 *  broker applied the change, so a publisher's very next message after it
 *  returned is refused and its subscriptions end; a stopped broker makes it
 *  fail with a clear message within --timeout; with no broker it returns at
 *  once and says so.
 */
#include "proc.h"

#include "clock.h"
#include "keys.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS  20
#define SUBJECT "telemetry.hanam.robot1.temp"
/* Pace of the publisher: a telemetry source, not a flood, so the broker
 * idles between messages, which is when a late registry refresh shows. */
#define PACE_MS               2
#define PUBLISHER_DEADLINE_MS 30000

/* A client publishing in a loop on its own thread, until its first publish
 * begun after the main thread said the command returned. The thread never
 * checks (a failed check longjmps): it records, the main thread checks. */
typedef struct {
    foundry_client_t *client;
    const char *name;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool returned;       /* set by main once foundryctl has exited */
    int64_t acked;       /* publishes acknowledged */
    int64_t acked_after; /* of those, begun after `returned` */
    bool tried_after;    /* a publish was begun after `returned` */
    foundry_err first_after;
    bool done;
} s_publisher_t;

static void
s_deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += (long) ms * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

static void *
s_publish_loop(void *arg)
{
    s_publisher_t *pub = arg;
    int64_t deadline = fdy_clock_mono_ms() + PUBLISHER_DEADLINE_MS;
    for (unsigned i = 0; fdy_clock_mono_ms() < deadline; i++) {
        pthread_mutex_lock(&pub->lock);
        bool after = pub->returned;
        pthread_mutex_unlock(&pub->lock);
        char id[64];
        snprintf(id, sizeof id, "%s-%u", pub->name, i);
        foundry_ack_t ack;
        foundry_err err =
            foundry_client_publish(pub->client, SUBJECT, "1", 1, id, strlen(id), &ack);
        pthread_mutex_lock(&pub->lock);
        if (err == FOUNDRY_OK)
            pub->acked++;
        if (after) {
            pub->tried_after = true;
            pub->first_after = err;
            if (err == FOUNDRY_OK)
                pub->acked_after++;
        }
        pthread_cond_broadcast(&pub->cond);
        if (!after && !pub->returned) {
            struct timespec ts;
            s_deadline_in(&ts, PACE_MS);
            pthread_cond_timedwait(&pub->cond, &pub->lock, &ts);
        }
        pthread_mutex_unlock(&pub->lock);
        if (after)
            break;
    }
    pthread_mutex_lock(&pub->lock);
    pub->done = true;
    pthread_cond_broadcast(&pub->cond);
    pthread_mutex_unlock(&pub->lock);
    return NULL;
}

/* Waits (deadline) until the publisher has `count` acks. */
static bool
s_wait_acked(s_publisher_t *pub, int64_t count)
{
    int64_t deadline = fdy_clock_mono_ms() + 10000;
    pthread_mutex_lock(&pub->lock);
    while (pub->acked < count && !pub->done && fdy_clock_mono_ms() < deadline) {
        struct timespec ts;
        s_deadline_in(&ts, 50);
        pthread_cond_timedwait(&pub->cond, &pub->lock, &ts);
    }
    bool ok = pub->acked >= count;
    pthread_mutex_unlock(&pub->lock);
    return ok;
}

/* Runs `foundryctl ARGV...` (offline: no connection settings). */
static void
s_ctl(fdy_proc_t *p, fdy_proc_run_t *run, const char *const *argv)
{
    fdy_proc_ctl_opts_t opts = {.no_auth = true, .deadline_ms = 20000};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, argv, run));
}

/* Registers NAME (a node at hanam) offline, while the broker runs. */
static void
s_add_offline(fdy_proc_t *p, const char *name)
{
    char pub[512], sec[512];
    FDY_CHECK_OK(fdy_proc_key_generate(p, name));
    fdy_proc_key_paths(p, name, pub, sec);
    const char *argv[] = {
        "key", "add", pub, "--role", "node", "--site", "hanam", "--data-dir", fdy_proc_data_dir(p),
        NULL};
    fdy_proc_run_t run;
    s_ctl(p, &run, argv);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
}

static bool
s_contains(const char *text, const char *needle)
{
    return text && strstr(text, needle) != NULL;
}

/* The pid in <data_dir>/ready. */
static pid_t
s_ready_pid(fdy_proc_t *p)
{
    char path[600];
    snprintf(path, sizeof path, "%s/ready", fdy_proc_data_dir(p));
    FILE *file = fopen(path, "r");
    FDY_CHECK_MSG(file, "no ready file %s", path);
    char line[600];
    long pid = -1;
    while (fgets(line, sizeof line, file))
        if (strncmp(line, "pid ", 4) == 0)
            pid = strtol(line + 4, NULL, 10);
    fclose(file);
    FDY_CHECK_MSG(pid > 0, "no pid in %s", path);
    return (pid_t) pid;
}

/* One round: a fresh key publishing every PACE_MS; revoked offline; the
 * first publish begun after the command returned must be refused. Returns
 * the publishes acknowledged. */
static int64_t
s_round(fdy_proc_t *p, unsigned round)
{
    char name[32];
    snprintf(name, sizeof name, "hanam-r%u", round);
    s_add_offline(p, name);
    s_publisher_t pub = {.name = name, .first_after = FOUNDRY_OK};
    pthread_mutex_init(&pub.lock, NULL);
    pthread_cond_init(&pub.cond, NULL);
    FDY_CHECK_OK(fdy_proc_client_new(p, name, NULL, &pub.client));
    pthread_t thread;
    FDY_CHECK_EQ(pthread_create(&thread, NULL, s_publish_loop, &pub), 0);
    bool publishing = s_wait_acked(&pub, 3);

    fdy_proc_run_t run = {0};
    const char *argv[] = {"key", "revoke", name, "--data-dir", fdy_proc_data_dir(p), NULL};
    if (publishing)
        s_ctl(p, &run, argv);
    pthread_mutex_lock(&pub.lock);
    pub.returned = true;
    pthread_cond_broadcast(&pub.cond);
    pthread_mutex_unlock(&pub.lock);
    pthread_join(thread, NULL);

    FDY_CHECK_MSG(publishing, "round %u: the publisher got no acks", round);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_MSG(pub.tried_after, "round %u: no publish after the command returned", round);
    FDY_CHECK_MSG(pub.acked_after == 0 && pub.first_after == FOUNDRY_EAUTH,
                  "round %u: the first publish after `key revoke --data-dir` returned got %s, "
                  "want EAUTH",
                  round, foundry_strerror(pub.first_after));
    (void) foundry_client_close(&pub.client, 1000, NULL);
    pthread_cond_destroy(&pub.cond);
    pthread_mutex_destroy(&pub.lock);
    return pub.acked;
}

static void
test_revoke_offline_refuses_the_next_publish(void)
{
    fdy_proc_t *p = fdy_proc_new("revoke-window");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    int64_t acked = 0;
    for (unsigned round = 0; round < ROUNDS; round++)
        acked += s_round(p, round);
    /* Nothing of a refused publish was stored. */
    fdy_proc_check_stream_count(p, "telemetry-hanam", acked);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_revoke_offline_stopped_broker_times_out(void)
{
    fdy_proc_t *p = fdy_proc_new("revoke-stopped");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_add_offline(p, "hanam-s");
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "hanam-s", NULL, &client));
    foundry_ack_t ack;
    FDY_CHECK_OK(foundry_client_publish(client, SUBJECT, "1", 1, "s-1", 3, &ack));

    /* A stopped broker cannot confirm: the command says so and fails. */
    pid_t pid = s_ready_pid(p);
    FDY_CHECK_EQ(kill(pid, SIGSTOP), 0);
    const char *argv[] = {"--timeout",          "300", "key", "revoke", "hanam-s", "--data-dir",
                          fdy_proc_data_dir(p), NULL};
    fdy_proc_run_t run;
    s_ctl(p, &run, argv);
    kill(pid, SIGCONT);
    FDY_CHECK_RUN(&run, 1);
    char expect[64];
    snprintf(expect, sizeof expect, "(pid %ld)", (long) pid);
    FDY_CHECK_MSG(fdy_proc_one_line(run.err, run.err_len) && s_contains(run.err, expect) &&
                      s_contains(run.err, "did not confirm within 300 ms") &&
                      s_contains(run.err, "revoked in the store"),
                  "stderr: %s", run.err);
    /* The key's row is still printed: the revocation is in the store. */
    FDY_CHECK_MSG(s_contains(run.out, "hanam-s"), "stdout: %s", run.out);
    fdy_proc_run_clear(&run);

    /* Running again, the broker confirms (nothing new to write), and the
     * client's next message is refused. */
    const char *again[] = {"key", "revoke", "hanam-s", "--data-dir", fdy_proc_data_dir(p), NULL};
    s_ctl(p, &run, again);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_ERR(foundry_client_publish(client, SUBJECT, "2", 1, "s-2", 3, &ack), FOUNDRY_EAUTH);
    (void) foundry_client_close(&client, 1000, NULL);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_revoke_offline_without_broker_returns_at_once(void)
{
    fdy_proc_t *p = fdy_proc_new("revoke-nobroker");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_add_offline(p, "hanam-a");
    s_add_offline(p, "hanam-b");
    /* SIGKILL leaves a ready file naming a dead pid: not a running broker. */
    FDY_CHECK_OK(fdy_proc_broker_kill(p));
    const char *argv[] = {"key", "revoke", "hanam-a", "--data-dir", fdy_proc_data_dir(p), NULL};
    fdy_proc_run_t run;
    s_ctl(p, &run, argv);
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(fdy_proc_one_line(run.err, run.err_len) && s_contains(run.err, "no broker"),
                  "stderr: %s", run.err);
    fdy_proc_run_clear(&run);

    /* With the broker stopped cleanly there is no ready file at all. */
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    const char *other[] = {"key", "revoke", "hanam-b", "--data-dir", fdy_proc_data_dir(p), NULL};
    s_ctl(p, &run, other);
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(s_contains(run.err, "no broker"), "stderr: %s", run.err);
    fdy_proc_run_clear(&run);

    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    foundry_client_t *client = NULL;
    FDY_CHECK_ERR(fdy_proc_client_new(p, "hanam-a", NULL, &client), FOUNDRY_EAUTH);
    FDY_CHECK_ERR(fdy_proc_client_new(p, "hanam-b", NULL, &client), FOUNDRY_EAUTH);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A revoked key's live subscription is ended by the broker (ERROR EAUTH,
 * request id 0), with no request of its own needed. */
static void
test_revoke_offline_ends_subscriptions(void)
{
    fdy_proc_t *p = fdy_proc_new("revoke-sub");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_add_offline(p, "hanam-t");
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "hanam-t", NULL, &client));
    foundry_sub_opts_t opts;
    foundry_sub_opts_init(&opts);
    opts.filter = "telemetry.hanam.>";
    foundry_sub_t *sub = NULL;
    FDY_CHECK_OK(foundry_client_subscribe(client, &opts, &sub));

    const char *argv[] = {"key", "revoke", "hanam-t", "--data-dir", fdy_proc_data_dir(p), NULL};
    fdy_proc_run_t run;
    s_ctl(p, &run, argv);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    /* The subscription table rechecks every second after a key change. */
    foundry_err err = FOUNDRY_ETIMEDOUT;
    int64_t deadline = fdy_clock_mono_ms() + 10000;
    while (err == FOUNDRY_ETIMEDOUT && fdy_clock_mono_ms() < deadline) {
        const foundry_msg_t *msg = NULL;
        err = foundry_sub_receive(sub, 200, &msg);
    }
    /* The library reports a subscription the broker ended as ECLOSED; the
     * reason is the broker's EAUTH text. */
    FDY_CHECK_ERR(err, FOUNDRY_ECLOSED);
    const char *why = foundry_client_last_error(client);
    FDY_CHECK_MSG(s_contains(why, "revoked"), "last error: %s", why ? why : "(null)");
    foundry_sub_close(&sub);
    (void) foundry_client_close(&client, 1000, NULL);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static foundry_err
s_publish_one(foundry_client_t *client, const char *id)
{
    foundry_ack_t ack;
    return foundry_client_publish(client, SUBJECT, "1", 1, id, strlen(id), &ack);
}

/* key rotate and key rm with --data-dir, while the broker runs: the old
 * public key's next request is refused once rotate returned, the new one
 * publishes; rm refuses a key not revoked (and prints no row), then
 * forgets a revoked one. */
static void
test_revoke_offline_rotate_and_rm(void)
{
    fdy_proc_t *p = fdy_proc_new("revoke-rotate");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_add_offline(p, "hanam-x");
    foundry_client_t *old = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "hanam-x", NULL, &old));
    FDY_CHECK_OK(s_publish_one(old, "before"));

    FDY_CHECK_OK(fdy_proc_key_generate(p, "hanam-x-new"));
    char pub[512], sec[512];
    fdy_proc_key_paths(p, "hanam-x-new", pub, sec);
    const char *rotate[] = {"key", "rotate", "hanam-x", pub, "--data-dir", fdy_proc_data_dir(p),
                            NULL};
    fdy_proc_run_t run;
    s_ctl(p, &run, rotate);
    FDY_CHECK_RUN(&run, 0);
    char public_key[64];
    fdy_reason_t why = {{0}};
    FDY_CHECK_OK(fdy_keys_load_public(pub, public_key, &why));
    FDY_CHECK_MSG(s_contains(run.out, public_key), "rotate printed: %s", run.out);
    fdy_proc_run_clear(&run);
    FDY_CHECK_ERR(s_publish_one(old, "after"), FOUNDRY_EAUTH);
    foundry_client_t *fresh = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "hanam-x-new", NULL, &fresh));
    FDY_CHECK_OK(s_publish_one(fresh, "new-key"));
    /* The same key again is refused, as the broker's key.rotate refuses it. */
    s_ctl(p, &run, rotate);
    FDY_CHECK_RUN(&run, 1);
    FDY_CHECK_MSG(s_contains(run.err, "already has that public key"), "stderr: %s", run.err);
    fdy_proc_run_clear(&run);

    const char *rm[] = {"key", "rm", "hanam-x", "--data-dir", fdy_proc_data_dir(p), NULL};
    s_ctl(p, &run, rm);
    FDY_CHECK_RUN(&run, 1);
    FDY_CHECK_MSG(s_contains(run.err, "revoked"), "stderr: %s", run.err);
    FDY_CHECK_MSG(!s_contains(run.out, "hanam-x"), "a row for a refused rm: %s", run.out);
    fdy_proc_run_clear(&run);
    const char *revoke[] = {"key", "revoke", "hanam-x", "--data-dir", fdy_proc_data_dir(p), NULL};
    s_ctl(p, &run, revoke);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    s_ctl(p, &run, rm);
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(s_contains(run.out, "hanam-x"), "rm printed: %s", run.out);
    fdy_proc_run_clear(&run);
    const char *ls[] = {"key", "ls", "--data-dir", fdy_proc_data_dir(p), NULL};
    s_ctl(p, &run, ls);
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(!s_contains(run.out, "hanam-x"), "key ls after rm: %s", run.out);
    fdy_proc_run_clear(&run);
    const char *rm_none[] = {"key", "rm", "nosuch", "--data-dir", fdy_proc_data_dir(p), NULL};
    s_ctl(p, &run, rm_none);
    FDY_CHECK_RUN(&run, 1);
    FDY_CHECK_MSG(s_contains(run.err, "no key named nosuch"), "stderr: %s", run.err);
    fdy_proc_run_clear(&run);

    (void) foundry_client_close(&fresh, 1000, NULL);
    (void) foundry_client_close(&old, 1000, NULL);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"offline_refuses_the_next_publish", test_revoke_offline_refuses_the_next_publish},
        {"offline_ends_subscriptions", test_revoke_offline_ends_subscriptions},
        {"offline_rotate_and_rm", test_revoke_offline_rotate_and_rm},
        {"offline_stopped_broker_times_out", test_revoke_offline_stopped_broker_times_out},
        {"offline_without_broker_returns_at_once",
         test_revoke_offline_without_broker_returns_at_once},
    };
    return fdy_proc_run_tests("revoke", tests, sizeof tests / sizeof tests[0], argc, argv);
}
