/*  test_backup.c: `foundryctl backup` against a broker that is serving.
 *  A producer publishes on its own thread while the backup runs; the
 *  backup is restored as docs/operations.md says (copy data.mdb and blobs/
 *  into a new broker's data directory) and the new broker must give back
 *  every message acknowledged before the backup began, in order and
 *  without a gap, every job with its state, the keys, and every blob with
 *  its bytes. Also: a damaged blob is left out and named, an existing
 *  target is refused, and no store in --data-dir is a clear error.
 */
#include "proc.h"

#include "clock.h"
#include "model_blobs.h"

#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARGV(...)   ((const char *const[]){__VA_ARGS__, NULL})
#define SUBJECT     "telemetry.siheung.line1.throughput"
#define STREAM      "telemetry-siheung"
#define PREFILL     300 /* acked before the backup starts */
#define AFTER       50  /* acked after it ended, before the producer stops */
#define DEADLINE_MS 60000
#define BLOB_COUNT  5

/* ---- the producer: records, never checks (a check would longjmp) -------- */

typedef struct {
    foundry_client_t *client;
    pthread_mutex_t lock;
    bool stop;
    int64_t acked; /* messages 1..acked were acknowledged, in order */
    foundry_err failed;
} s_producer_t;

static void
s_payload(int64_t n, char out[32])
{
    snprintf(out, 32, "throughput %06" PRId64, n);
}

static void *
s_produce(void *arg)
{
    s_producer_t *self = arg;
    int64_t deadline = fdy_clock_mono_ms() + DEADLINE_MS;
    for (int64_t n = 1; fdy_clock_mono_ms() < deadline; n++) {
        pthread_mutex_lock(&self->lock);
        bool stop = self->stop;
        pthread_mutex_unlock(&self->lock);
        if (stop)
            break;
        char payload[32], id[32];
        s_payload(n, payload);
        snprintf(id, sizeof id, "m%06" PRId64, n);
        foundry_err err = foundry_client_publish(self->client, SUBJECT, payload, strlen(payload),
                                                 id, strlen(id), NULL);
        pthread_mutex_lock(&self->lock);
        if (err == FOUNDRY_OK)
            self->acked = n;
        else
            self->failed = err;
        pthread_mutex_unlock(&self->lock);
        if (err != FOUNDRY_OK)
            break;
    }
    return NULL;
}

static int64_t
s_acked(s_producer_t *self)
{
    pthread_mutex_lock(&self->lock);
    int64_t acked = self->acked;
    foundry_err failed = self->failed;
    pthread_mutex_unlock(&self->lock);
    FDY_CHECK_MSG(failed == FOUNDRY_OK, "the producer failed: %s", foundry_strerror(failed));
    return acked;
}

static void
s_wait_acked(s_producer_t *self, int64_t want)
{
    int64_t deadline = fdy_clock_mono_ms() + DEADLINE_MS;
    while (s_acked(self) < want) {
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "the producer is stuck at %" PRId64,
                      s_acked(self));
        fdy_proc_nap_ms(5);
    }
}

/* ---- helpers -------------------------------------------------------------- */

static void
s_sh(const char *fmt, const char *a, const char *b)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    FDY_CHECK_MSG(system(cmd) == 0, "command failed: %s", cmd);
}

/* Stores BLOB_COUNT model-chunk-like blobs in the broker's blob directory
 * (the models service's layout, lib/daemon/model_blobs.h) and returns
 * their hashes. */
static void
s_put_blobs(const char *data_dir, uint8_t hashes[BLOB_COUNT][FDY_BLOB_HASH_LEN])
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/blobs", data_dir);
    fdy_blobs_t *blobs = NULL;
    fdy_reason_t reason = {0};
    FDY_CHECK_OK(fdy_blobs_open(dir, &blobs, &reason));
    for (int i = 0; i < BLOB_COUNT; i++) {
        char data[64];
        int len = snprintf(data, sizeof data, "model chunk %d of the seongnam-lab", i);
        crypto_generichash(hashes[i], FDY_BLOB_HASH_LEN, (const uint8_t *) data, (size_t) len, NULL,
                           0);
        FDY_CHECK_OK(fdy_blobs_put(blobs, hashes[i], data, (size_t) len, true, &reason));
    }
    fdy_blobs_close(&blobs);
}

static void
s_check_blobs(const char *data_dir, uint8_t hashes[BLOB_COUNT][FDY_BLOB_HASH_LEN])
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/blobs", data_dir);
    fdy_blobs_t *blobs = NULL;
    fdy_reason_t reason = {0};
    FDY_CHECK_OK(fdy_blobs_open(dir, &blobs, &reason));
    for (int i = 0; i < BLOB_COUNT; i++) {
        char want[64], got[64];
        int want_len = snprintf(want, sizeof want, "model chunk %d of the seongnam-lab", i);
        size_t got_len = 0;
        FDY_CHECK_OK(fdy_blobs_read(blobs, hashes[i], got, sizeof got, &got_len, &reason));
        FDY_CHECK_EQ(got_len, want_len);
        FDY_CHECK(memcmp(got, want, got_len) == 0);
    }
    fdy_blobs_close(&blobs);
}

static uint64_t
s_submit(foundry_client_t *c, const char *type, const char *site)
{
    foundry_job_spec_t spec;
    foundry_job_spec_init(&spec);
    spec.type = type;
    const char *sites[] = {site};
    spec.sites = sites;
    spec.site_count = 1;
    spec.payload = "calibrate";
    spec.payload_len = 9;
    uint64_t id = 0;
    foundry_err err = foundry_job_submit(c, &spec, &id, NULL);
    FDY_CHECK_MSG(err == FOUNDRY_OK, "submit %s: %s", type, foundry_client_last_error(c));
    return id;
}

/* Restores backup into p's data directory as docs/operations.md says: the
 * broker stopped, its store replaced by the backup's files; the keys of
 * `from`'s clients come along (they are registered in the restored store). */
static void
s_restore(fdy_proc_t *p, const char *backup, fdy_proc_t *from)
{
    const char *data = fdy_proc_data_dir(p);
    s_sh("rm -rf '%s' && mkdir -m 0700 '%s'", data, data);
    s_sh("cp '%s/data.mdb' '%s/data.mdb'", backup, data);
    s_sh("cp -a '%s/blobs' '%s/blobs'", backup, data);
    char from_clients[600], to_clients[600];
    snprintf(from_clients, sizeof from_clients, "%s/clients", fdy_proc_dir(from));
    snprintf(to_clients, sizeof to_clients, "%s/clients", fdy_proc_dir(p));
    s_sh("cp -a '%s/.' '%s'", from_clients, to_clients);
}

/* ---- tests ---------------------------------------------------------------- */

static void
test_backup_restores_messages_jobs_and_blobs(void)
{
    fdy_proc_t *p = fdy_proc_new("backup");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "node-siheung", "--role", "node", "--site", "siheung", NULL);
    fdy_proc_key_add(p, "acme", "--role", "partner", "--tenant", "acme", "--allow-jobs", "*", NULL);
    uint8_t hashes[BLOB_COUNT][FDY_BLOB_HASH_LEN];
    s_put_blobs(fdy_proc_data_dir(p), hashes);

    /* Jobs in two states: queued (no agent at pangyo) and cancelled. */
    foundry_client_t *acme = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "acme", NULL, &acme));
    uint64_t queued[3];
    for (int i = 0; i < 3; i++)
        queued[i] = s_submit(acme, "robot.calibrate", "pangyo");
    uint64_t cancelled = s_submit(acme, "lab.assay", "seongnam-lab");
    FDY_CHECK_OK(foundry_job_cancel(acme, cancelled));

    s_producer_t producer = {.failed = FOUNDRY_OK};
    pthread_mutex_init(&producer.lock, NULL);
    FDY_CHECK_OK(fdy_proc_client_new(p, "node-siheung", NULL, &producer.client));
    pthread_t thread;
    FDY_CHECK(pthread_create(&thread, NULL, s_produce, &producer) == 0);
    s_wait_acked(&producer, PREFILL);

    int64_t before = s_acked(&producer);
    char backup[600];
    snprintf(backup, sizeof backup, "%s/backup-1", fdy_proc_dir(p));
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "backup", backup, "--data-dir", fdy_proc_data_dir(p), NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(strstr(run.err, "backup: store") && strstr(run.err, "copy checked"),
                  "no progress lines: %s", run.err);
    FDY_CHECK(strstr(run.out, "5 blobs") != NULL);
    fdy_proc_run_clear(&run);
    int64_t after = s_acked(&producer);
    s_wait_acked(&producer, after + AFTER);
    pthread_mutex_lock(&producer.lock);
    producer.stop = true;
    pthread_mutex_unlock(&producer.lock);
    pthread_join(thread, NULL);
    int64_t total = s_acked(&producer);
    (void) foundry_client_close(&producer.client, 1000, NULL);
    fprintf(stderr, "backup: %" PRId64 " acked before, %" PRId64 " after, %" PRId64 " in all\n",
            before, after, total);

    /* The backup is a directory of its own: no lock file, no partial. */
    char path[700];
    struct stat st;
    snprintf(path, sizeof path, "%s/lock.mdb", backup);
    FDY_CHECK(stat(path, &st) != 0);
    snprintf(path, sizeof path, "%s.partial", backup);
    FDY_CHECK(stat(path, &st) != 0);
    snprintf(path, sizeof path, "%s/data.mdb", backup);
    FDY_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

    /* A second backup into the same directory is refused. */
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "backup", backup, "--data-dir", fdy_proc_data_dir(p), NULL));
    FDY_CHECK_RUN(&run, 1);
    FDY_CHECK(strstr(run.err, "already exists") != NULL);
    fdy_proc_run_clear(&run);

    /* Restore into a new broker. */
    fdy_proc_t *q = fdy_proc_new("backup-restored");
    s_restore(q, backup, p);
    FDY_CHECK_OK(fdy_proc_broker_start(q, NULL));

    fdy_json_t *rows = fdy_proc_ctl_json(q, ARGV("stream", "read", STREAM));
    int64_t held = (int64_t) fdy_proc_json_count(rows);
    FDY_CHECK_MSG(held >= before && held <= total,
                  "restored %" PRId64 " messages, acked %" PRId64 " before the backup and %" PRId64
                  " in all",
                  held, before, total);
    for (int64_t i = 0; i < held; i++) {
        const fdy_json_t *row = fdy_proc_json_at(rows, (size_t) i);
        FDY_CHECK_EQ(fdy_proc_row_int(row, "seq"), i + 1);
        size_t len = 0;
        uint8_t *payload = fdy_proc_json_bytes(fdy_proc_json_get(row, "payload"), &len);
        char want[32];
        s_payload(i + 1, want);
        FDY_CHECK_MSG(payload && len == strlen(want) && memcmp(payload, want, len) == 0,
                      "message %" PRId64 " differs", i + 1);
        free(payload);
    }
    fdy_proc_json_destroy(&rows);

    /* The partner's jobs, through the restored key. */
    foundry_client_t *acme2 = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(q, "acme", NULL, &acme2));
    const foundry_job_info_t *info = NULL;
    for (int i = 0; i < 3; i++) {
        FDY_CHECK_OK(foundry_job_status(acme2, queued[i], &info));
        FDY_CHECK_EQ(info->state, FOUNDRY_JOB_QUEUED);
        FDY_CHECK_STR(info->type, "robot.calibrate");
    }
    FDY_CHECK_OK(foundry_job_status(acme2, cancelled, &info));
    FDY_CHECK_EQ(info->state, FOUNDRY_JOB_CANCELLED);
    /* New work goes on where the backup left off. */
    uint64_t next = s_submit(acme2, "robot.calibrate", "pangyo");
    FDY_CHECK(next > cancelled);
    (void) foundry_client_close(&acme2, 1000, NULL);
    (void) foundry_client_close(&acme, 1000, NULL);

    s_check_blobs(fdy_proc_data_dir(q), hashes);
    FDY_CHECK_EQ(fdy_proc_broker_stop(q), 0);
    fdy_proc_destroy(&q);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_backup_refuses_damage_and_bad_input(void)
{
    fdy_proc_t *p = fdy_proc_new("backup-bad");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    uint8_t hashes[BLOB_COUNT][FDY_BLOB_HASH_LEN];
    s_put_blobs(fdy_proc_data_dir(p), hashes);
    /* One blob's bytes no longer match its name; a put's leftover
     * temporary file is no blob. */
    char hex[2 * FDY_BLOB_HASH_LEN + 1], path[800];
    fdy_blobs_hex(hashes[2], hex);
    snprintf(path, sizeof path, "%s/blobs/%.2s/%s", fdy_proc_data_dir(p), hex, hex);
    FILE *f = fopen(path, "r+");
    FDY_CHECK(f != NULL);
    fputc('X', f);
    fclose(f);
    snprintf(path, sizeof path, "%s/blobs/%.2s/.tmp-123", fdy_proc_data_dir(p), hex);
    f = fopen(path, "w");
    FDY_CHECK(f != NULL);
    fclose(f);

    char backup[600];
    snprintf(backup, sizeof backup, "%s/backup-damaged", fdy_proc_dir(p));
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "--json", "backup", backup, "--data-dir",
                              fdy_proc_data_dir(p), NULL));
    FDY_CHECK_RUN(&run, 1);
    FDY_CHECK_MSG(strstr(run.err, hex) && strstr(run.err, "damaged"), "%s", run.err);
    FDY_CHECK(strstr(run.out, "\"blobs\":4") && strstr(run.out, "\"blobs_damaged\":1"));
    fdy_proc_run_clear(&run);
    snprintf(path, sizeof path, "%s/blobs/%.2s/%s", backup, hex, hex);
    struct stat st;
    FDY_CHECK(stat(path, &st) != 0);
    snprintf(path, sizeof path, "%s/blobs/%.2s/.tmp-123", backup, hex);
    FDY_CHECK(stat(path, &st) != 0);

    /* No store in --data-dir: named, and nothing left behind. */
    char empty[600], target[600];
    snprintf(empty, sizeof empty, "%s/empty", fdy_proc_dir(p));
    snprintf(target, sizeof target, "%s/backup-none", fdy_proc_dir(p));
    FDY_CHECK(mkdir(empty, 0700) == 0);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "backup", target, "--data-dir", empty, NULL));
    FDY_CHECK_RUN(&run, 1);
    FDY_CHECK_MSG(strstr(run.err, "no store here") && strstr(run.err, empty), "%s", run.err);
    fdy_proc_run_clear(&run);
    FDY_CHECK(stat(target, &st) != 0);
    snprintf(path, sizeof path, "%s.partial", target);
    FDY_CHECK(stat(path, &st) != 0);

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    static const fdy_proc_test_t tests[] = {
        {"restores_messages_jobs_and_blobs", test_backup_restores_messages_jobs_and_blobs},
        {"refuses_damage_and_bad_input", test_backup_refuses_damage_and_bad_input},
    };
    return fdy_proc_run_tests("backup", tests, sizeof tests / sizeof tests[0], argc, argv);
}
