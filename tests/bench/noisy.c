/*  noisy.c: the noisy-neighbour benchmark (noisy.h). The victim is a
 *  libfoundry client publishing and waiting, one message at a time; the
 *  abusers are raw CURVE DEALERs in a thread of their own, speaking the
 *  protocol through the codec, so they can do what the library never
 *  does: subscribe and then stop reading, or send without reading replies.
 */
#include "noisy.h"

#include "codec.h"
#include "keys.h"
#include "reason.h"

#include <zmq.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VICTIM_SUBJECT "telemetry.siheung.victim"
#define FLOOD_SUBJECT  "telemetry.hanam.flood"
#define FLOOD_PAYLOAD  (1024 * 1024)
#define STALLED_TAILS  32
#define TAIL_CREDIT    4096 /* 32 x 4,096: all the credit one connection may hold */
#define FLOOD_KEY      "flooder"
#define ONSET_KEY      "flooder-onset"

typedef enum { ABUSE_NONE, ABUSE_STALLED_TAILS, ABUSE_FLOOD } abuse_t;

typedef struct {
    const fdy_bench_env_t *env;
    abuse_t abuse;
    const char *key;  /* the flooder's key name */
    atomic_bool stop;
    atomic_bool ready;
    uint64_t sent; /* requests the abuser got out */
    int rc;
} abuser_t;

typedef struct {
    double p50_ms;
    double p99_ms;
} latency_t;

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/* A CURVE DEALER as the key in secret_path. slow: reads as little as it
 * can (a client that stopped reading). */
static void *
s_dealer(void *ctx, const fdy_bench_env_t *env, const char *secret_path, bool slow)
{
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    fdy_keypair_t *pair = NULL;
    char server[FDY_Z85_KEY_LEN + 1];
    if (fdy_keys_load_secret(secret_path, &pair, &reason) != FOUNDRY_OK ||
        fdy_keys_load_public(env->broker_key, server, &reason) != FOUNDRY_OK) {
        fdy_bench_env_fail("abuser keys: %s", reason.text);
        fdy_keypair_destroy(&pair);
        return NULL;
    }
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, one = 1, small = 64 * 1024, send_timeout = 100;
    bool ok = s && zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) == 0 &&
              zmq_setsockopt(s, ZMQ_SNDTIMEO, &send_timeout, sizeof send_timeout) == 0 &&
              zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server, FDY_Z85_KEY_LEN + 1) == 0 &&
              zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, fdy_keypair_public(pair),
                             FDY_Z85_KEY_LEN + 1) == 0 &&
              zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, fdy_keypair_secret(pair),
                             FDY_Z85_KEY_LEN + 1) == 0 &&
              (!slow || (zmq_setsockopt(s, ZMQ_RCVHWM, &one, sizeof one) == 0 &&
                         zmq_setsockopt(s, ZMQ_RCVBUF, &small, sizeof small) == 0)) &&
              zmq_connect(s, env->endpoint) == 0;
    fdy_keypair_destroy(&pair);
    if (!ok) {
        fdy_bench_env_fail("abuser socket: %s", zmq_strerror(zmq_errno()));
        if (s)
            zmq_close(s);
        return NULL;
    }
    return s;
}

/* Sends the envelope env (and body, when not NULL) as one request. */
static int
s_send(void *s, const fdy_envelope_t *env, const uint8_t *body, size_t body_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (fdy_codec_encode_envelope(env, &buf, &len) != FOUNDRY_OK)
        return -1;
    int rc = zmq_send(s, buf, len, body ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
    if (rc == 0 && body)
        rc = zmq_send(s, body, body_len, 0) < 0 ? -1 : 0;
    free(buf);
    return rc;
}

/* One PUBLISH batch frame holding a single 1 MiB message. */
static uint8_t *
s_flood_batch(size_t *len_out)
{
    uint8_t *payload = malloc(FLOOD_PAYLOAD);
    if (!payload)
        return NULL;
    memset(payload, 'f', FLOOD_PAYLOAD);
    fdy_msg_t msg = {.subject = FLOOD_SUBJECT,
                     .payload = payload,
                     .payload_len = FLOOD_PAYLOAD,
                     .id = (const uint8_t *) "flood",
                     .id_len = 5};
    uint8_t *rec = NULL;
    size_t rec_len = 0;
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    foundry_err err = fdy_codec_encode_msg(&msg, &rec, &rec_len, &reason);
    free(payload);
    if (err != FOUNDRY_OK)
        return NULL;
    uint8_t *batch = malloc(rec_len + 10);
    if (!batch) {
        free(rec);
        return NULL;
    }
    size_t at = fdy_codec_batch_put_prefix(rec_len, batch);
    memcpy(batch + at, rec, rec_len);
    free(rec);
    *len_out = at + rec_len;
    return batch;
}

static void *
s_abuse(void *arg)
{
    abuser_t *self = arg;
    self->rc = -1;
    void *ctx = zmq_ctx_new();
    char secret[PATH_MAX + 32];
    if (self->abuse == ABUSE_FLOOD)
        snprintf(secret, sizeof secret, "%s/%s.key_secret", self->env->client_dir, self->key);
    else
        snprintf(secret, sizeof secret, "%s", self->env->secret_file);
    void *s = ctx ? s_dealer(ctx, self->env, secret, true) : NULL;
    if (!s)
        goto out;
    fdy_envelope_t env = {.version = FDY_PROTOCOL_VERSION};
    if (self->abuse == ABUSE_STALLED_TAILS) {
        env.kind = FDY_KIND_SUBSCRIBE;
        env.sub_filter = "telemetry.>";
        env.credit_msgs = TAIL_CREDIT;
        for (int i = 0; i < STALLED_TAILS; i++) {
            env.request_id = (uint64_t) i + 1;
            if (s_send(s, &env, NULL, 0) == 0)
                self->sent++;
        }
        atomic_store(&self->ready, true);
        while (!atomic_load(&self->stop)) {
            struct timespec ts = {0, 10000000L};
            nanosleep(&ts, NULL); /* holds the connection, reads nothing */
        }
    } else {
        size_t batch_len = 0;
        uint8_t *batch = s_flood_batch(&batch_len);
        if (!batch)
            goto out;
        env.kind = FDY_KIND_PUBLISH;
        env.count = 1;
        atomic_store(&self->ready, true);
        while (!atomic_load(&self->stop)) {
            env.request_id = self->sent + 1;
            if (s_send(s, &env, batch, batch_len) == 0) /* times out when not read */
                self->sent++;
        }
        free(batch);
    }
    self->rc = 0;
out:
    atomic_store(&self->ready, true);
    if (s)
        zmq_close(s);
    if (ctx)
        zmq_ctx_term(ctx);
    return NULL;
}

/* count window-1 publishes by victim; their ack latency. */
static int
s_victim(foundry_client_t *victim, const fdy_noisy_opts_t *opts, const uint8_t *payload,
         latency_t *out)
{
    uint64_t *lat = calloc(opts->count, sizeof *lat);
    if (!lat)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < opts->count; i++) {
        foundry_ack_t ack;
        uint64_t t0 = fdy_bench_env_now_ns();
        foundry_err err = foundry_client_publish(victim, VICTIM_SUBJECT, payload,
                                                 opts->payload_size, NULL, 0, &ack);
        lat[i] = fdy_bench_env_now_ns() - t0;
        if (err != FOUNDRY_OK) {
            fdy_bench_env_fail("victim publish #%zu: %s: %s", i, foundry_strerror(err),
                               foundry_client_last_error(victim));
            rc = -1;
            break;
        }
    }
    if (rc == 0) {
        qsort(lat, opts->count, sizeof *lat, s_cmp_u64);
        out->p50_ms = (double) lat[(size_t) ((double) (opts->count - 1) * 0.50 + 0.5)] / 1e6;
        out->p99_ms = (double) lat[(size_t) ((double) (opts->count - 1) * 0.99 + 0.5)] / 1e6;
    }
    free(lat);
    return rc;
}

typedef struct {
    abuse_t abuse;
    const char *name;
    const char *what;
    const char *key;   /* the flooder's */
    bool settle;       /* the abuse in full swing before the victim starts */
} phase_t;

static int
s_phase(const fdy_bench_env_t *env, foundry_client_t *victim, const fdy_noisy_opts_t *opts,
        const uint8_t *payload, const phase_t *phase, latency_t *out, abuser_t *abuser_out)
{
    abuser_t abuser = {.env = env, .abuse = phase->abuse, .key = phase->key};
    atomic_init(&abuser.stop, false);
    atomic_init(&abuser.ready, false);
    pthread_t thread;
    bool started = false;
    if (phase->abuse != ABUSE_NONE) {
        if (pthread_create(&thread, NULL, s_abuse, &abuser) != 0)
            return -1;
        started = true;
        while (!atomic_load(&abuser.ready)) {
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
        }
        struct timespec settle = {1, 0};
        if (phase->settle)
            nanosleep(&settle, NULL);
    }
    int rc = s_victim(victim, opts, payload, out);
    if (started) {
        atomic_store(&abuser.stop, true);
        pthread_join(thread, NULL);
        if (abuser.rc != 0)
            rc = -1;
    }
    abuser_out->sent = abuser.sent;
    return rc;
}

/* Makes a node key of site hanam for a flooder. */
static foundry_err
s_flooder_key(const fdy_bench_env_t *env, const char *ctl, const char *name)
{
    char public_path[PATH_MAX + 32];
    snprintf(public_path, sizeof public_path, "%s/%s.key", env->client_dir, name);
    const char *key_add[] = {"key", "add", public_path, "--role", "node", "--site", "hanam", NULL};
    if (fdy_bench_env_keygen(env, ctl, name) != FOUNDRY_OK ||
        fdy_bench_env_ctl(env, ctl, key_add) != FOUNDRY_OK)
        return FOUNDRY_EIO;
    return FOUNDRY_OK;
}

#define PHASES 4

foundry_err
fdy_noisy_run(const fdy_bench_env_t *env, const char *ctl, const fdy_noisy_opts_t *opts)
{
    if (s_flooder_key(env, ctl, FLOOD_KEY) != FOUNDRY_OK ||
        s_flooder_key(env, ctl, ONSET_KEY) != FOUNDRY_OK)
        return FOUNDRY_EIO;
    foundry_client_opts_t copts;
    foundry_client_opts_init(&copts);
    copts.endpoint = env->endpoint;
    copts.broker_key_file = env->broker_key;
    copts.secret_key_file = env->secret_file;
    foundry_client_t *victim = NULL;
    if (foundry_client_new(&copts, &victim) != FOUNDRY_OK) {
        fdy_bench_env_fail("victim client: %s", foundry_client_last_error(NULL));
        return FOUNDRY_EIO;
    }
    uint8_t *payload = malloc(opts->payload_size ? opts->payload_size : 1);
    if (!payload) {
        foundry_client_close(&victim, 1000, NULL);
        return FOUNDRY_ENOMEM;
    }
    memset(payload, 'v', opts->payload_size);
    /* flood: the victim starts 1 s into the flood, after the broker closed
     * the flooder; onset: the victim starts with a new flooder, so its
     * publishes also see the flood before the broker notices it. */
    static const phase_t phases[PHASES] = {
        {ABUSE_NONE, "alone", "nothing else connected", NULL, false},
        {ABUSE_STALLED_TAILS, "stalled", "32 full-credit tails on telemetry.> never read", NULL,
         true},
        {ABUSE_FLOOD, "flood", "a node key sends 1 MiB publishes, never reads a reply", FLOOD_KEY,
         true},
        {ABUSE_FLOOD, "onset", "the same, the victim starting with the flood", ONSET_KEY, false},
    };
    latency_t lat[PHASES] = {{0}};
    abuser_t abusers[PHASES] = {{0}};
    int64_t floods[PHASES] = {0}; /* the broker's rate_floods after each phase */
    foundry_err err = FOUNDRY_OK;
    printf("noisy      victim: %zu window-1 publishes of %zu B per phase\n", opts->count,
           opts->payload_size);
    for (size_t i = 0; i < PHASES && err == FOUNDRY_OK; i++) {
        if (s_phase(env, victim, opts, payload, &phases[i], &lat[i], &abusers[i]) != 0) {
            err = FOUNDRY_EIO;
            break;
        }
        if (fdy_bench_env_status_value(env, ctl, "rate_floods", &floods[i]) != FOUNDRY_OK) {
            err = FOUNDRY_EIO;
            break;
        }
        printf("noisy      %-8s (%s): victim ack p50 %.3f ms, p99 %.3f ms; p99 %.2fx alone",
               phases[i].name, phases[i].what, lat[i].p50_ms, lat[i].p99_ms,
               lat[0].p99_ms > 0 ? lat[i].p99_ms / lat[0].p99_ms : 0.0);
        /* A flooder that never reads never sees that the broker closed
         * it: its own sends stall from then on. */
        if (phases[i].abuse == ABUSE_FLOOD)
            printf("; the flooder got %" PRIu64 " requests out, the broker closed it %" PRId64
                   " time(s)",
                   abusers[i].sent, floods[i] - (i > 0 ? floods[i - 1] : 0));
        printf("\n");
    }
    uint64_t rss_kib = fdy_bench_env_peak_rss_kib(env);
    printf("noisy      broker peak RSS (VmHWM) %.1f MiB; baseline %.0f msgs/s; load average "
           "%.2f at start, %.2f at end\n",
           (double) rss_kib / 1024.0, opts->baseline_msgs_per_s, opts->load_start,
           fdy_bench_env_load_average());
    double alone = lat[0].p99_ms > 0 ? lat[0].p99_ms : 1;
    if (err == FOUNDRY_OK)
        printf("{\"bench\":\"noisy\",\"count\":%zu,\"alone_p50_ms\":%.3f,\"alone_p99_ms\":%.3f,"
               "\"stalled_p50_ms\":%.3f,\"stalled_p99_ms\":%.3f,\"flood_p50_ms\":%.3f,"
               "\"flood_p99_ms\":%.3f,\"onset_p50_ms\":%.3f,\"onset_p99_ms\":%.3f,"
               "\"stalled_p99_ratio\":%.3f,\"flood_p99_ratio\":%.3f,\"onset_p99_ratio\":%.3f,"
               "\"flood_requests\":%" PRIu64 ",\"rate_floods\":%" PRId64
               ",\"broker_peak_rss_kib\":%" PRIu64
               ",\"baseline_msgs_per_s\":%.0f}\n",
               opts->count, lat[0].p50_ms, lat[0].p99_ms, lat[1].p50_ms, lat[1].p99_ms,
               lat[2].p50_ms, lat[2].p99_ms, lat[3].p50_ms, lat[3].p99_ms,
               lat[1].p99_ms / alone, lat[2].p99_ms / alone, lat[3].p99_ms / alone,
               abusers[2].sent, floods[PHASES - 1], rss_kib,
               opts->baseline_msgs_per_s);
    free(payload);
    foundry_client_close(&victim, 5000, NULL);
    return err;
}
