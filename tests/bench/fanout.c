/*  fanout.c: foundry-bench --fanout (see fanout.h). One thread per client:
 *  the producer publishes pipelined with its send time in the payload; each
 *  reading consumer receives, checks the sequence, records the end-to-end
 *  latency and acks cumulatively; the stalled consumer only keeps its
 *  connection alive. The main thread samples the broker's memory. Figures
 *  are printed, never asserted: only lost, duplicated or out-of-order
 *  messages fail the run.
 */
#include "fanout.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PACED_SECONDS    10   /* length of the paced (latency) phase */
#define ACK_EVERY        64   /* cumulative ack after this many messages */
#define RUN_DEADLINE_S   1200 /* a run that takes longer has stalled */
#define SAMPLE_MS        50   /* broker memory sampling period */
#define FLUSH_TIMEOUT_MS 600000

typedef struct s_shared s_shared_t;

typedef struct {
    s_shared_t *shared;
    char name[32];
    bool stall;
    foundry_client_t *client;
    foundry_sub_t *sub;
    uint64_t *lat_ns; /* per message received, end-to-end */
    size_t received;
    size_t out_of_order; /* first deliveries not at the expected seq */
    size_t redelivered;  /* deliveries with delivery_count > 1 */
    uint64_t last_ns;    /* when the last message arrived */
    foundry_err err;
    char err_text[256];
} s_consumer_t;

/* One phase: a stream of its own with its own consumers. */
typedef struct {
    const char *tag;  /* names the stream and subjects */
    size_t count;     /* messages */
    double rate;      /* msgs/s; 0: as fast as the producer's window allows */
    bool stalled;     /* with a consumer that never reads */
    char stream[32];  /* "fanout-<tag>" */
    char subject[64]; /* "bench.<tag>.sensor" */
} s_phase_t;

/* Figures of one phase. */
typedef struct {
    bool ran;
    size_t deliveries;
    size_t redelivered;
    double seconds; /* first publish to last delivery */
    double per_s;   /* deliveries per second, all readers */
    double publish_per_s;
    double p50_ms, p99_ms, max_ms;
    uint64_t peak_anon_kib;
    /* CPU (user + system) from the first publish to the last delivery, ms:
     * the broker's, and this process's (producer and consumers with their
     * libzmq threads). Per delivery, it hardly depends on the load. */
    double broker_cpu_ms, clients_cpu_ms;
} s_figures_t;

struct s_shared {
    const fdy_fanout_opts_t *opts;
    const s_phase_t *phase;
    atomic_bool stop;
    atomic_bool go;
    uint64_t start_ns; /* producer's first publish */
    /* producer */
    foundry_client_t *producer;
    size_t acks;
    size_t refused;
    uint64_t last_ack_ns;
    foundry_err producer_err;
    char producer_text[256];
};

/* ---- clients ----------------------------------------------------------------- */

static foundry_err
s_client_new(const fdy_bench_env_t *env, uint32_t max_in_flight, foundry_client_t **out)
{
    foundry_client_opts_t copts;
    foundry_client_opts_init(&copts);
    copts.endpoint = env->endpoint;
    copts.broker_key_file = env->broker_key;
    copts.secret_key_file = env->secret_file;
    if (max_in_flight)
        copts.max_in_flight = max_in_flight;
    foundry_err err = foundry_client_new(&copts, out);
    if (err != FOUNDRY_OK)
        fdy_bench_env_fail("foundry_client_new: %s: %s", foundry_strerror(err),
                           foundry_client_last_error(NULL));
    return err;
}

/* ---- threads -------------------------------------------------------------------- */

static void
s_on_ack(const foundry_ack_t *ack, void *user)
{
    s_shared_t *shared = user;
    shared->acks++;
    shared->last_ack_ns = fdy_bench_env_now_ns();
    if (ack->err != FOUNDRY_OK && shared->refused++ == 0)
        snprintf(shared->producer_text, sizeof shared->producer_text, "refused: %s: %s",
                 foundry_strerror(ack->err), ack->reason ? ack->reason : "");
}

static void *
s_producer(void *arg)
{
    s_shared_t *shared = arg;
    const fdy_fanout_opts_t *opts = shared->opts;
    uint8_t *payload = malloc(opts->payload_size);
    if (!payload) {
        shared->producer_err = FOUNDRY_ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < opts->payload_size; i++)
        payload[i] = (uint8_t) ('a' + i % 26);
    const s_phase_t *phase = shared->phase;
    shared->start_ns = fdy_bench_env_now_ns();
    for (size_t i = 0; i < phase->count && !atomic_load(&shared->stop); i++) {
        /* Paced: wait (serving acks) until message i is due. */
        while (phase->rate > 0 && !atomic_load(&shared->stop) &&
               (double) (fdy_bench_env_now_ns() - shared->start_ns) <
                   (double) i * 1e9 / phase->rate)
            if (foundry_client_poll(shared->producer, 1) != FOUNDRY_OK)
                break;
        uint64_t index = i;
        memcpy(payload + 8, &index, sizeof index);
        foundry_err err;
        do {
            /* The send time is the end-to-end clock's start: taken before
             * the call, which may wait for a full window. */
            uint64_t now = fdy_bench_env_now_ns();
            memcpy(payload, &now, sizeof now);
            err = foundry_client_publish_async(shared->producer, phase->subject, payload,
                                               opts->payload_size, NULL, 0, NULL);
        } while (err == FOUNDRY_ETIMEDOUT && !atomic_load(&shared->stop));
        if (err != FOUNDRY_OK) {
            shared->producer_err = err;
            snprintf(shared->producer_text, sizeof shared->producer_text, "publish #%zu: %s: %s", i,
                     foundry_strerror(err), foundry_client_last_error(shared->producer));
            break;
        }
    }
    if (shared->producer_err == FOUNDRY_OK) {
        foundry_err err = foundry_client_flush(shared->producer, FLUSH_TIMEOUT_MS);
        if (err != FOUNDRY_OK) {
            shared->producer_err = err;
            snprintf(shared->producer_text, sizeof shared->producer_text, "flush: %s: %zu unacked",
                     foundry_strerror(err), foundry_client_unacked(shared->producer));
        }
    }
    free(payload);
    return NULL;
}

static void *
s_consumer(void *arg)
{
    s_consumer_t *c = arg;
    const s_phase_t *phase = c->shared->phase;
    while (!atomic_load(&c->shared->go) && !atomic_load(&c->shared->stop)) {
        foundry_err err = foundry_client_poll(c->client, 10);
        (void) err;
    }
    if (c->stall) {
        /* Never reads: only lets the library keep the binding alive. */
        while (!atomic_load(&c->shared->stop))
            if (foundry_client_poll(c->client, 100) == FOUNDRY_EAUTH)
                break;
        return NULL;
    }
    uint64_t expected = 1, last_seq = 0;
    while (c->received < phase->count && !atomic_load(&c->shared->stop)) {
        const foundry_msg_t *msg = NULL;
        foundry_err err = foundry_sub_receive(c->sub, 200, &msg);
        if (err == FOUNDRY_ETIMEDOUT)
            continue;
        if (err != FOUNDRY_OK) {
            c->err = err;
            snprintf(c->err_text, sizeof c->err_text, "receive: %s", foundry_strerror(err));
            break;
        }
        uint64_t now = fdy_bench_env_now_ns();
        if (msg->delivery_count > 1 || msg->seq < expected) {
            c->redelivered++;
            continue;
        }
        if (msg->seq != expected)
            c->out_of_order++;
        expected = msg->seq + 1;
        uint64_t sent = 0;
        if (msg->len >= 16)
            memcpy(&sent, msg->data, sizeof sent);
        c->lat_ns[c->received++] = now > sent ? now - sent : 0;
        c->last_ns = now;
        last_seq = msg->seq;
        if (c->received % ACK_EVERY == 0 &&
            (err = foundry_sub_ack_upto(c->sub, last_seq)) != FOUNDRY_OK) {
            c->err = err;
            snprintf(c->err_text, sizeof c->err_text, "ack: %s", foundry_strerror(err));
            break;
        }
    }
    if (last_seq && c->err == FOUNDRY_OK) {
        foundry_err err = foundry_sub_ack_upto(c->sub, last_seq);
        if (err == FOUNDRY_OK)
            err = foundry_client_poll(c->client, 0);
        (void) err;
    }
    return NULL;
}

/* ---- broker memory -------------------------------------------------------------- */

/* The broker's current anonymous resident memory (heap, buffers) in KiB:
 * what credit must bound. VmHWM also counts LMDB's mapped file pages. */
static uint64_t
s_rss_anon_kib(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", (long) pid);
    FILE *file = fopen(path, "r");
    if (!file)
        return 0;
    char line[256];
    uint64_t kib = 0;
    while (fgets(line, sizeof line, file))
        if (strncmp(line, "RssAnon:", 8) == 0) {
            kib = strtoull(line + 8, NULL, 10);
            break;
        }
    fclose(file);
    return kib;
}

/* ---- statistics ------------------------------------------------------------------ */

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static double
s_quantile_ms(const uint64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return 0.0;
    return (double) sorted[(size_t) ((double) (n - 1) * q + 0.5)] / 1e6;
}

/* Checks that every reader had every message once, in order, and computes
 * the figures. Returns the number of problems (printed). */
static int
s_figures(const s_shared_t *shared, const s_consumer_t *consumers, size_t readers, s_figures_t *out)
{
    const s_phase_t *phase = shared->phase;
    size_t delivered = 0;
    uint64_t last_ns = 0;
    int problems = readers == 0;
    if (shared->producer_err != FOUNDRY_OK || shared->refused) {
        fdy_bench_env_fail("%s: producer: %s", phase->tag, shared->producer_text);
        problems++;
    }
    for (size_t i = 0; i < readers; i++) {
        const s_consumer_t *c = &consumers[i];
        delivered += c->received;
        out->redelivered += c->redelivered;
        if (c->last_ns > last_ns)
            last_ns = c->last_ns;
        if (c->err != FOUNDRY_OK || c->received != phase->count || c->out_of_order) {
            fdy_bench_env_fail("%s: %s: %zu of %zu messages, %zu out of order%s%s", phase->tag,
                               c->name, c->received, phase->count, c->out_of_order,
                               c->err_text[0] ? ": " : "", c->err_text);
            problems++;
        }
    }
    if (problems)
        return problems;
    uint64_t *all = malloc(delivered * sizeof(uint64_t));
    if (!all) {
        fdy_bench_env_fail("out of memory");
        return 1;
    }
    size_t at = 0;
    for (size_t i = 0; i < readers; i++) {
        memcpy(all + at, consumers[i].lat_ns, consumers[i].received * sizeof(uint64_t));
        at += consumers[i].received;
    }
    qsort(all, delivered, sizeof(uint64_t), s_cmp_u64);
    out->deliveries = delivered;
    out->seconds = (double) (last_ns - shared->start_ns) / 1e9;
    out->per_s = out->seconds > 0 ? (double) delivered / out->seconds : 0.0;
    double publish_s = (double) (shared->last_ack_ns - shared->start_ns) / 1e9;
    out->publish_per_s = publish_s > 0 ? (double) phase->count / publish_s : 0.0;
    out->p50_ms = s_quantile_ms(all, delivered, 0.50);
    out->p99_ms = s_quantile_ms(all, delivered, 0.99);
    out->max_ms = (double) all[delivered - 1] / 1e6;
    out->ran = true;
    free(all);
    return 0;
}

/* ---- one phase ---------------------------------------------------------------------- */

static foundry_err
s_setup(const fdy_bench_env_t *env, const char *ctl, const s_phase_t *phase, size_t readers,
        size_t total)
{
    char filter[64];
    snprintf(filter, sizeof filter, "bench.%s.>", phase->tag);
    const char *stream_add[] = {"stream", "add", phase->stream, "--subject", filter, NULL};
    foundry_err err = fdy_bench_env_ctl(env, ctl, stream_add);
    for (size_t i = 0; i < total && err == FOUNDRY_OK; i++) {
        char name[32];
        if (i < readers)
            snprintf(name, sizeof name, "reader%zu", i);
        else
            snprintf(name, sizeof name, "stalled");
        /* A long ack-wait: nothing is redelivered during the run. A high
         * max-ack-pending: credit, not this limit, must bound the stalled
         * consumer. */
        const char *consumer_add[] = {"consumer",          "add",     phase->stream, name,
                                      "--start",           "first",   "--ack-wait",  "30m",
                                      "--max-ack-pending", "1000000", NULL};
        err = fdy_bench_env_ctl(env, ctl, consumer_add);
    }
    return err;
}

static foundry_err
s_phase(const fdy_bench_env_t *env, const char *ctl, const fdy_fanout_opts_t *opts,
        s_phase_t *phase, s_figures_t *out)
{
    snprintf(phase->stream, sizeof phase->stream, "fanout-%s", phase->tag);
    snprintf(phase->subject, sizeof phase->subject, "bench.%s.sensor", phase->tag);
    size_t total = opts->consumers + (phase->stalled ? 1 : 0);
    s_shared_t shared;
    memset(&shared, 0, sizeof shared);
    shared.opts = opts;
    shared.phase = phase;
    atomic_init(&shared.stop, false);
    atomic_init(&shared.go, false);
    s_consumer_t consumers[FDY_FANOUT_CONSUMERS_MAX + 1];
    memset(consumers, 0, sizeof consumers);
    pthread_t threads[FDY_FANOUT_CONSUMERS_MAX + 1], producer_thread;
    size_t started = 0;
    bool producer_started = false;
    foundry_err err = s_setup(env, ctl, phase, opts->consumers, total);
    if (err != FOUNDRY_OK)
        goto out;

    /* Every consumer subscribes before the first publish. */
    for (size_t i = 0; i < total; i++) {
        s_consumer_t *c = &consumers[i];
        c->shared = &shared;
        c->stall = i >= opts->consumers;
        if (c->stall)
            snprintf(c->name, sizeof c->name, "stalled");
        else
            snprintf(c->name, sizeof c->name, "reader%zu", i);
        if (!c->stall && !(c->lat_ns = calloc(phase->count, sizeof(uint64_t)))) {
            err = FOUNDRY_ENOMEM;
            goto out;
        }
        if ((err = s_client_new(env, 0, &c->client)) != FOUNDRY_OK)
            goto out;
        foundry_sub_opts_t sopts;
        foundry_sub_opts_init(&sopts);
        sopts.stream = phase->stream;
        sopts.consumer = c->name;
        if (opts->credit)
            sopts.credit_msgs = opts->credit;
        if ((err = foundry_client_subscribe(c->client, &sopts, &c->sub)) != FOUNDRY_OK) {
            fdy_bench_env_fail("subscribe %s: %s: %s", c->name, foundry_strerror(err),
                               foundry_client_last_error(c->client));
            goto out;
        }
    }
    if ((err = s_client_new(env, opts->max_in_flight, &shared.producer)) != FOUNDRY_OK)
        goto out;
    if ((err = foundry_client_set_ack_handler(shared.producer, s_on_ack, &shared)) != FOUNDRY_OK)
        goto out;
    for (; started < total; started++)
        if (pthread_create(&threads[started], NULL, s_consumer, &consumers[started]) != 0) {
            err = FOUNDRY_EIO;
            goto out;
        }
    double broker_cpu0 = fdy_bench_env_cpu_ms(env->broker_pid);
    double clients_cpu0 = fdy_bench_env_cpu_ms(0);
    atomic_store(&shared.go, true);
    if (pthread_create(&producer_thread, NULL, s_producer, &shared) != 0) {
        err = FOUNDRY_EIO;
        goto out;
    }
    producer_started = true;

    /* Sample the broker until every reader has everything (or a thread
     * failed, or the run stalled). */
    uint64_t began = fdy_bench_env_now_ns();
    size_t step = phase->count / 10 ? phase->count / 10 : 1, next_report = step;
    for (;;) {
        uint64_t anon = s_rss_anon_kib(env->broker_pid);
        if (anon > out->peak_anon_kib)
            out->peak_anon_kib = anon;
        bool done = true, failed = shared.producer_err != FOUNDRY_OK;
        size_t slowest = phase->count;
        for (size_t i = 0; i < opts->consumers; i++) {
            done = done && consumers[i].received >= phase->count;
            failed = failed || consumers[i].err != FOUNDRY_OK;
            if (consumers[i].received < slowest)
                slowest = consumers[i].received;
        }
        if (slowest >= next_report && phase->count >= 100000) {
            fprintf(stderr, "foundry-bench: %s: every reader has %zu/%zu, producer acked %zu\n",
                    phase->tag, slowest, phase->count, shared.acks);
            next_report += step;
        }
        if (done || failed) {
            out->broker_cpu_ms = fdy_bench_env_cpu_ms(env->broker_pid) - broker_cpu0;
            out->clients_cpu_ms = fdy_bench_env_cpu_ms(0) - clients_cpu0;
            break;
        }
        if (fdy_bench_env_now_ns() - began > (uint64_t) RUN_DEADLINE_S * 1000000000ull) {
            fdy_bench_env_fail("%s: no end after %d s (slowest reader has %zu)", phase->tag,
                               RUN_DEADLINE_S, slowest);
            break;
        }
        struct timespec ts = {0, SAMPLE_MS * 1000000L}; /* the sampling period */
        nanosleep(&ts, NULL);
    }

out:
    atomic_store(&shared.stop, true);
    atomic_store(&shared.go, true);
    if (producer_started)
        pthread_join(producer_thread, NULL);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    int problems =
        (err != FOUNDRY_OK) + s_figures(&shared, consumers, started ? opts->consumers : 0, out);
    for (size_t i = 0; i < total; i++) {
        foundry_sub_close(&consumers[i].sub);
        foundry_client_close(&consumers[i].client, 1000, NULL);
        free(consumers[i].lat_ns);
    }
    if (shared.producer)
        foundry_client_close(&shared.producer, 10000, NULL);
    return problems ? (err != FOUNDRY_OK ? err : FOUNDRY_EIO) : FOUNDRY_OK;
}

/* ---- the benchmark -------------------------------------------------------------------- */

static void
s_print_phase(const char *what, const s_phase_t *phase, const s_figures_t *f, size_t readers)
{
    printf("fanout     %s: 1 producer -> %zu durable consumers%s, %zu msgs: %zu deliveries in "
           "%.3f s = %.0f deliveries/s; durable publish %.0f msgs/s\n",
           what, readers, phase->stalled ? " (+1 that never reads)" : "", phase->count,
           f->deliveries, f->seconds, f->per_s, f->publish_per_s);
    printf("fanout     %s: end-to-end latency p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", what,
           f->p50_ms, f->p99_ms, f->max_ms);
    double n = f->deliveries ? (double) f->deliveries : 1.0;
    printf("fanout     %s: cpu per delivery: broker %.2f us, clients (producer + consumers) "
           "%.2f us, together %.2f us\n",
           what, 1000.0 * f->broker_cpu_ms / n, 1000.0 * f->clients_cpu_ms / n,
           1000.0 * (f->broker_cpu_ms + f->clients_cpu_ms) / n);
}

foundry_err
fdy_fanout_run(const fdy_bench_env_t *env, const char *ctl, const fdy_fanout_opts_t *opts)
{
    if (opts->payload_size < 16 || opts->consumers < 1 ||
        opts->consumers > FDY_FANOUT_CONSUMERS_MAX) {
        fdy_bench_env_fail("--fanout needs --payload >= 16 and 1..%d consumers",
                           FDY_FANOUT_CONSUMERS_MAX);
        return FOUNDRY_EINVAL;
    }
    /* (1) as fast as it goes: throughput, and latency under a backlog. */
    s_phase_t max_phase = {.tag = "max", .count = opts->count, .stalled = opts->stalled};
    s_figures_t max = {0}, paced = {0};
    foundry_err err = s_phase(env, ctl, opts, &max_phase, &max);
    if (err != FOUNDRY_OK)
        return err;
    s_print_phase("max rate", &max_phase, &max, opts->consumers);

    /* (2) paced at half that rate, for PACED_SECONDS: latency without a
     * backlog. */
    double rate = opts->rate > 0 ? opts->rate : 0.5 * max.per_s / (double) opts->consumers;
    size_t count = (size_t) (rate * PACED_SECONDS);
    if (count > opts->count)
        count = opts->count;
    if (count < 1000)
        count = 1000;
    s_phase_t paced_phase = {.tag = "paced", .count = count, .rate = rate};
    err = s_phase(env, ctl, opts, &paced_phase, &paced);
    if (err != FOUNDRY_OK)
        return err;
    char what[64];
    snprintf(what, sizeof what, "paced %.0f msgs/s", rate);
    s_print_phase(what, &paced_phase, &paced, opts->consumers);

    uint64_t hwm_kib = fdy_bench_env_peak_rss_kib(env);
    uint64_t anon_kib =
        max.peak_anon_kib > paced.peak_anon_kib ? max.peak_anon_kib : paced.peak_anon_kib;
    double ratio = opts->baseline_msgs_per_s > 0 ? max.per_s / opts->baseline_msgs_per_s : 0.0;
    if (ratio > 0)
        printf("ratio      deliveries / raw CURVE baseline: %.3f\n", ratio);
    printf("broker     peak RSS (VmHWM, with LMDB's mapped pages) %.1f MiB; peak anonymous RSS "
           "%.1f MiB\n",
           (double) hwm_kib / 1024.0, (double) anon_kib / 1024.0);
    double load_end = fdy_bench_env_load_average();
    printf("{\"bench\":\"fanout\",\"payload_bytes\":%zu,\"count\":%zu,\"consumers\":%zu,"
           "\"stalled_consumer\":%s,\"credit\":%" PRIu32 ",\"deliveries\":%zu,"
           "\"seconds\":%.3f,\"deliveries_per_s\":%.0f,\"publish_msgs_per_s\":%.0f,"
           "\"e2e_p50_ms\":%.3f,\"e2e_p99_ms\":%.3f,\"e2e_max_ms\":%.3f,"
           "\"paced_msgs_per_s\":%.0f,\"paced_count\":%zu,\"paced_e2e_p50_ms\":%.3f,"
           "\"paced_e2e_p99_ms\":%.3f,\"paced_e2e_max_ms\":%.3f,"
           "\"broker_cpu_us_per_delivery\":%.3f,\"clients_cpu_us_per_delivery\":%.3f,"
           "\"baseline_msgs_per_s\":%.0f,\"ratio_to_baseline\":%.3f,"
           "\"broker_peak_rss_kib\":%" PRIu64 ",\"broker_peak_anon_rss_kib\":%" PRIu64 ","
           "\"load_average_start\":%.2f,\"load_average_end\":%.2f,\"failures\":0}\n",
           opts->payload_size, opts->count, opts->consumers, opts->stalled ? "true" : "false",
           opts->credit, max.deliveries, max.seconds, max.per_s, max.publish_per_s, max.p50_ms,
           max.p99_ms, max.max_ms, rate, count, paced.p50_ms, paced.p99_ms, paced.max_ms,
           max.deliveries ? 1000.0 * max.broker_cpu_ms / (double) max.deliveries : 0.0,
           max.deliveries ? 1000.0 * max.clients_cpu_ms / (double) max.deliveries : 0.0,
           opts->baseline_msgs_per_s, ratio, hwm_kib, anon_kib, opts->load_start, load_end);
    return FOUNDRY_OK;
}
