/*  test_backup.c: `foundryctl backup` against a broker that is serving.
 *  A producer publishes on its own thread while the backup runs; the
 *  backup is restored as docs/operations.md says (copy data.mdb and blobs/
 *  into a new broker's data directory) and the new broker must give back
 *  every message acknowledged before the backup began, in order and
 *  without a gap, every job with its state, the keys, and the model a lab
 *  pushed with every chunk byte for byte (and no unreferenced blob). Also:
 *  a damaged chunk of a model fails the backup, naming it, an existing
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

#define ARGV(...)    ((const char *const[]){__VA_ARGS__, NULL})
#define SUBJECT      "telemetry.siheung.line1.throughput"
#define STREAM       "telemetry-siheung"
#define PREFILL      300 /* acked before the backup starts */
#define AFTER        50  /* acked after it ended, before the producer stops */
#define DEADLINE_MS  60000
#define MODEL_NAME   "lab-detector"
#define MODEL_CHUNK  (64u * 1024u)
#define MODEL_LEN    (3u * MODEL_CHUNK + 8192u)
#define MODEL_CHUNKS 4

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

/* A model the lab pushes: MODEL_CHUNKS chunks of 64 KiB, the last one
 * short; the test knows each chunk's hash and bytes. */
static void
s_model_bytes(uint8_t *out)
{
    for (size_t i = 0; i < MODEL_LEN; i++)
        out[i] = (uint8_t) (i * 31u + i / 4096u);
}

static size_t
s_chunk(const uint8_t *model, size_t c, const uint8_t **start)
{
    *start = model + c * MODEL_CHUNK;
    size_t left = MODEL_LEN - c * MODEL_CHUNK;
    return left < MODEL_CHUNK ? left : MODEL_CHUNK;
}

/* Makes a signing key, trusts it for MODEL_NAME and pushes version 1
 * through the broker with foundryctl; fills the chunk hashes. */
static void
s_push_model(fdy_proc_t *p, uint8_t hashes[MODEL_CHUNKS][FDY_BLOB_HASH_LEN])
{
    static uint8_t model[MODEL_LEN];
    s_model_bytes(model);
    char file[600], sign[600], pub[600];
    snprintf(file, sizeof file, "%s/detector.onnx", fdy_proc_dir(p));
    snprintf(sign, sizeof sign, "%s/lab-a.sign", fdy_proc_dir(p));
    snprintf(pub, sizeof pub, "%s/lab-a.sign.pub", fdy_proc_dir(p));
    FILE *f = fopen(file, "wb");
    FDY_CHECK(f && fwrite(model, 1, MODEL_LEN, f) == MODEL_LEN);
    fclose(f);
    for (size_t c = 0; c < MODEL_CHUNKS; c++) {
        const uint8_t *start;
        size_t len = s_chunk(model, c, &start);
        crypto_generichash(hashes[c], FDY_BLOB_HASH_LEN, start, len, NULL, 0);
    }
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "model", "keygen", "lab-a", "--dir", fdy_proc_dir(p), NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "model", "trust", MODEL_NAME, "--signer", pub, "--threshold",
                              "1", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "model", "push", file, "--name", MODEL_NAME,
                              "--model-version", "1", "--sign", sign, "--chunk-size", "64KiB",
                              NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
}

/* A blob no model references (a chunk of a removed model the collector
 * has not reached yet): a backup leaves it out. */
static void
s_put_stray_blob(const char *data_dir, uint8_t hash[FDY_BLOB_HASH_LEN])
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/blobs", data_dir);
    fdy_blobs_t *blobs = NULL;
    fdy_reason_t reason = {0};
    FDY_CHECK_OK(fdy_blobs_open(dir, &blobs, &reason));
    static const char data[] = "a chunk no manifest references";
    crypto_generichash(hash, FDY_BLOB_HASH_LEN, (const uint8_t *) data, sizeof data, NULL, 0);
    FDY_CHECK_OK(fdy_blobs_put(blobs, hash, data, sizeof data, true, &reason));
    fdy_blobs_close(&blobs);
}

static bool
s_blob_exists(const char *blobs_dir, const uint8_t hash[FDY_BLOB_HASH_LEN])
{
    char hex[2 * FDY_BLOB_HASH_LEN + 1], path[800];
    fdy_blobs_hex(hash, hex);
    snprintf(path, sizeof path, "%s/%.2s/%s", blobs_dir, hex, hex);
    struct stat st;
    return stat(path, &st) == 0;
}

/* Every chunk of the model is in data_dir/blobs with its bytes. */
static void
s_check_model_blobs(const char *data_dir, uint8_t hashes[MODEL_CHUNKS][FDY_BLOB_HASH_LEN])
{
    static uint8_t model[MODEL_LEN], got[MODEL_CHUNK];
    s_model_bytes(model);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/blobs", data_dir);
    fdy_blobs_t *blobs = NULL;
    fdy_reason_t reason = {0};
    FDY_CHECK_OK(fdy_blobs_open(dir, &blobs, &reason));
    for (size_t c = 0; c < MODEL_CHUNKS; c++) {
        const uint8_t *want;
        size_t want_len = s_chunk(model, c, &want), got_len = 0;
        FDY_CHECK_OK(fdy_blobs_read(blobs, hashes[c], got, sizeof got, &got_len, &reason));
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
    s_sh("cp -p '%s/release.sign' '%s/release.sign'", backup, data);
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
    uint8_t hashes[MODEL_CHUNKS][FDY_BLOB_HASH_LEN], stray[FDY_BLOB_HASH_LEN];
    s_push_model(p, hashes);
    s_put_stray_blob(fdy_proc_data_dir(p), stray);

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
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "--json", "backup", backup, "--data-dir",
                              fdy_proc_data_dir(p), NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(strstr(run.err, "backup: store") && strstr(run.err, "copy checked"),
                  "no progress lines: %s", run.err);
    FDY_CHECK_MSG(strstr(run.out, "\"manifests\":1,\"blobs\":4,") &&
                      strstr(run.out, "\"blobs_skipped\":1"),
                  "%s", run.out);
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

    /* The release-log key the agents trust, to compare after the restore. */
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "model", "release-key", NULL));
    FDY_CHECK_RUN(&run, 0);
    char release_key[256];
    snprintf(release_key, sizeof release_key, "%s", run.out);
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

    /* The model, its chunks byte for byte, and not the stray blob. */
    rows = fdy_proc_ctl_json(q, ARGV("model", "ls"));
    FDY_CHECK_EQ(fdy_proc_json_count(rows), 1);
    char name[64];
    fdy_proc_row_str(fdy_proc_json_at(rows, 0), "name", name, sizeof name);
    FDY_CHECK_STR(name, MODEL_NAME);
    fdy_proc_json_destroy(&rows);
    s_check_model_blobs(fdy_proc_data_dir(q), hashes);
    FDY_CHECK_OK(fdy_proc_ctl(q, &run, "model", "release-key", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_STR(run.out, release_key);
    fdy_proc_run_clear(&run);
    char restored_blobs[700];
    snprintf(restored_blobs, sizeof restored_blobs, "%s/blobs", fdy_proc_data_dir(q));
    FDY_CHECK(!s_blob_exists(restored_blobs, stray));
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
    uint8_t hashes[MODEL_CHUNKS][FDY_BLOB_HASH_LEN], stray[FDY_BLOB_HASH_LEN];
    s_push_model(p, hashes);
    s_put_stray_blob(fdy_proc_data_dir(p), stray);
    char backup[600], path[800], hex[2 * FDY_BLOB_HASH_LEN + 1];
    struct stat st;
    fdy_proc_run_t run;

    /* A put's leftover temporary file is no blob: never copied. */
    fdy_blobs_hex(hashes[0], hex);
    snprintf(path, sizeof path, "%s/blobs/%.2s/.tmp-123", fdy_proc_data_dir(p), hex);
    FILE *f = fopen(path, "w");
    FDY_CHECK(f != NULL);
    fclose(f);
    snprintf(backup, sizeof backup, "%s/backup-ok", fdy_proc_dir(p));
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "backup", backup, "--data-dir", fdy_proc_data_dir(p), NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    snprintf(path, sizeof path, "%s/blobs/%.2s/.tmp-123", backup, hex);
    FDY_CHECK(stat(path, &st) != 0);

    /* A chunk of the model whose bytes no longer match its name: the
     * backup could not serve the model, so it fails and keeps nothing. */
    fdy_blobs_hex(hashes[2], hex);
    snprintf(path, sizeof path, "%s/blobs/%.2s/%s", fdy_proc_data_dir(p), hex, hex);
    f = fopen(path, "r+");
    FDY_CHECK(f != NULL);
    fputc('X', f);
    fclose(f);
    snprintf(backup, sizeof backup, "%s/backup-damaged", fdy_proc_dir(p));
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "backup", backup, "--data-dir", fdy_proc_data_dir(p), NULL));
    FDY_CHECK_RUN(&run, 1);
    FDY_CHECK_MSG(strstr(run.err, hex) && strstr(run.err, "damaged") &&
                      strstr(run.err, "model " MODEL_NAME " v1") &&
                      strstr(run.err, "nothing was kept"),
                  "%s", run.err);
    fdy_proc_run_clear(&run);
    FDY_CHECK(stat(backup, &st) != 0);
    snprintf(path, sizeof path, "%s.partial", backup);
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
