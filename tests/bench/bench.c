/*  bench.c: foundry-bench, the publish benchmark (docs/operations.md).
 *  Starts its own foundry-broker in a temporary directory (bench_env.c),
 *  then measures on loopback with CURVE on: pipelined durable publish
 *  (msgs/s, ack latency), window-1 publish-and-wait (ack latency), and a raw
 *  libzmq CURVE baseline (baseline.c) in the same run; with --fanout, the
 *  fan-out benchmark (fanout.c) instead of the first two. Prints figures
 *  and never asserts on them: it fails only when something does not work.
 */
#include "baseline.h"
#include "commit_floor.h"
#include "bench_env.h"
#include "fanout.h"
#include "noisy.h"
#include "jobs_bench.h"
#include "models_bench.h"

#include "foundry.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BENCH_SUBJECT    "telemetry.siheung.bench.sensor"
#define FLUSH_TIMEOUT_MS 300000

typedef struct {
    const char *broker;
    const char *ctl;
    size_t count;          /* pipelined durable messages */
    size_t window1_count;  /* publish-and-wait messages */
    size_t baseline_count; /* raw libzmq messages */
    size_t payload_size;
    uint32_t max_in_flight; /* 0: the library's default */
    bool keep;
    bool fanout;                          /* --fanout: the fan-out benchmark instead (fanout.c) */
    bool noisy;                           /* --noisy: the noisy-neighbour benchmark (noisy.c) */
    bool jobs;                            /* --jobs: the jobs benchmark (jobs_bench.c) */
    size_t agents;                        /* --agents: its node agents */
    bool agents_set;
    size_t job_slots;                     /* --slots: each jobs agent's worker slots */
    bool models;                          /* --models: the model rollout (models_bench.c) */
    size_t size_mb;                       /* --size: its artifact, MiB */
    size_t model_window;                  /* --model-window: its chunks in flight */
    size_t model_chunk;                   /* --chunk-size: its chunk bytes */
    bool random_ids;                      /* --random-ids: UUID-like message ids, not the library's */
    size_t consumers;                     /* --consumers: its reading consumers */
    uint32_t credit;                      /* --credit: its subscriptions' credit */
    double rate;                          /* --rate: its paced phase, msgs/s */
    const char *sets[FDY_BENCH_SETS_MAX]; /* --set key=value passed to the broker */
    size_t set_count;
} bench_opts_t;

/* State shared with the ack callback of the pipelined run. */
typedef struct {
    uint64_t *sent_ns; /* per message: when publish_async was called */
    uint64_t *lat_ns;  /* per message: ack time - sent time */
    size_t count;
    size_t acks;
    size_t failed;
    size_t duplicates;
    uint64_t last_ack_ns;
    foundry_err first_err;
    char first_reason[256];
} pipeline_t;

typedef struct {
    double msgs_per_s;
    double p50_ms;
    double p99_ms;
    double seconds;
    bool ran;
} figures_t;

/* libfoundry is silent unless asked: its warnings (reconnects, refusals)
 * explain a slow or failed run. */
static void
s_log(foundry_log_level level, const char *id, const char *line, void *user)
{
    fprintf(stderr, "libfoundry: %d %s %s\n", (int) level, id, line);
}

/* ---- (a) pipelined durable publish --------------------------------------- */

static void
s_on_ack(const foundry_ack_t *ack, void *user)
{
    pipeline_t *run = user;
    uint64_t now = fdy_bench_env_now_ns();
    size_t index = (size_t) (uintptr_t) ack->user;
    run->acks++;
    run->last_ack_ns = now;
    if (index < run->count)
        run->lat_ns[index] = now - run->sent_ns[index];
    if (ack->duplicate)
        run->duplicates++;
    if (ack->err != FOUNDRY_OK) {
        if (run->failed++ == 0) {
            run->first_err = ack->err;
            snprintf(run->first_reason, sizeof run->first_reason, "%s",
                     ack->reason ? ack->reason : "");
        }
    }
}

static foundry_err
s_client_new(const bench_opts_t *opts, const fdy_bench_env_t *env, foundry_client_t **out)
{
    foundry_client_opts_t copts;
    foundry_client_opts_init(&copts);
    copts.endpoint = env->endpoint;
    copts.broker_key_file = env->broker_key;
    copts.secret_key_file = env->secret_file;
    if (opts->max_in_flight)
        copts.max_in_flight = opts->max_in_flight;
    foundry_err err = foundry_client_new(&copts, out);
    if (err != FOUNDRY_OK)
        fdy_bench_env_fail("foundry_client_new: %s: %s", foundry_strerror(err),
                           foundry_client_last_error(NULL));
    return err;
}

static int
s_bench_pipelined(foundry_client_t *client, const bench_opts_t *opts, const uint8_t *payload,
                  figures_t *out)
{
    pipeline_t run;
    memset(&run, 0, sizeof run);
    run.count = opts->count;
    run.sent_ns = calloc(opts->count, sizeof(uint64_t));
    run.lat_ns = calloc(opts->count, sizeof(uint64_t));
    int rc = -1;
    if (!run.sent_ns || !run.lat_ns) {
        fdy_bench_env_fail("out of memory for %zu latency samples", opts->count);
        goto out;
    }
    if (foundry_client_set_ack_handler(client, s_on_ack, &run) != FOUNDRY_OK)
        goto out;

    size_t progress_step = opts->count >= 10 ? opts->count / 10 : 1;
    uint64_t start = fdy_bench_env_now_ns();
    for (size_t i = 0; i < opts->count; i++) {
        foundry_err err;
        int retries = 0;
        do {
            /* Sent time is taken before the call: when the window is full
             * the call itself waits for acks, and that wait is part of the
             * latency a producer sees. */
            run.sent_ns[i] = fdy_bench_env_now_ns();
            /* Random ids (as partners sending UUIDs do) land all over the
             * dedupe index instead of after its last key. */
            uint8_t id[16];
            if (opts->random_ids)
                for (size_t b = 0; b < sizeof id; b++)
                    id[b] = (uint8_t) (rand() >> 7);
            err = foundry_client_publish_async(client, BENCH_SUBJECT, payload, opts->payload_size,
                                               opts->random_ids ? id : NULL,
                                               opts->random_ids ? sizeof id : 0,
                                               (void *) (uintptr_t) i);
        } while (err == FOUNDRY_ETIMEDOUT && ++retries < 6);
        if (err != FOUNDRY_OK) {
            fdy_bench_env_fail("publish_async #%zu: %s: %s", i, foundry_strerror(err),
                               foundry_client_last_error(client));
            goto out;
        }
        if ((i + 1) % progress_step == 0 && opts->count >= 100000)
            fprintf(stderr, "foundry-bench: queued %zu/%zu, acked %zu\n", i + 1, opts->count,
                    run.acks);
    }
    foundry_err err = foundry_client_flush(client, FLUSH_TIMEOUT_MS);
    if (err != FOUNDRY_OK) {
        fdy_bench_env_fail("flush: %s: %zu unacked: %s", foundry_strerror(err),
                           foundry_client_unacked(client), foundry_client_last_error(client));
        goto out;
    }
    if (run.failed) {
        fdy_bench_env_fail("%zu of %zu messages refused; first: %s: %s", run.failed, opts->count,
                           foundry_strerror(run.first_err), run.first_reason);
        goto out;
    }
    if (run.acks != opts->count) {
        fdy_bench_env_fail("%zu acks for %zu messages", run.acks, opts->count);
        goto out;
    }
    if (run.duplicates)
        fdy_bench_env_fail("note: %zu acks were duplicates (resent after a reconnect)",
                           run.duplicates);
    out->seconds = (double) (run.last_ack_ns - start) / 1e9;
    out->msgs_per_s = out->seconds > 0 ? (double) opts->count / out->seconds : 0.0;
    out->p50_ms = fdy_bench_env_quantile_ms(run.lat_ns, opts->count, 0.50);
    out->p99_ms = fdy_bench_env_quantile_ms(run.lat_ns, opts->count, 0.99);
    out->ran = true;
    rc = 0;
out:
    if (foundry_client_set_ack_handler(client, NULL, NULL) != FOUNDRY_OK)
        rc = -1;
    free(run.sent_ns);
    free(run.lat_ns);
    return rc;
}

/* ---- (b) window 1: publish and wait ---------------------------------------- */

static int
s_bench_window1(foundry_client_t *client, const bench_opts_t *opts, const uint8_t *payload,
                figures_t *out)
{
    uint64_t *lat = calloc(opts->window1_count, sizeof(uint64_t));
    if (!lat) {
        fdy_bench_env_fail("out of memory");
        return -1;
    }
    int rc = -1;
    uint64_t start = fdy_bench_env_now_ns();
    for (size_t i = 0; i < opts->window1_count; i++) {
        foundry_ack_t ack;
        uint64_t t0 = fdy_bench_env_now_ns();
        foundry_err err = foundry_client_publish(client, BENCH_SUBJECT, payload, opts->payload_size,
                                                 NULL, 0, &ack);
        lat[i] = fdy_bench_env_now_ns() - t0;
        if (err != FOUNDRY_OK) {
            fdy_bench_env_fail("publish #%zu: %s: %s", i, foundry_strerror(err),
                               foundry_client_last_error(client));
            goto out;
        }
        if (ack.seq == 0) {
            fdy_bench_env_fail("publish #%zu: acked without a sequence", i);
            goto out;
        }
    }
    out->seconds = (double) (fdy_bench_env_now_ns() - start) / 1e9;
    out->msgs_per_s = out->seconds > 0 ? (double) opts->window1_count / out->seconds : 0.0;
    out->p50_ms = fdy_bench_env_quantile_ms(lat, opts->window1_count, 0.50);
    out->p99_ms = fdy_bench_env_quantile_ms(lat, opts->window1_count, 0.99);
    out->ran = true;
    rc = 0;
out:
    free(lat);
    return rc;
}

/* ---- main ----------------------------------------------------------------- */

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: foundry-bench [options]\n"
                 "Starts a foundry-broker in a temporary directory and measures, on loopback\n"
                 "with CURVE: (a) pipelined durable publish, (b) publish-and-wait (window 1),\n"
                 "(c) raw libzmq CURVE DEALER->ROUTER throughput, (d) the window-1 floor: a\n"
                 "raw CURVE round trip alone and with an LMDB commit's disk work (page writes,\n"
                 "fdatasync, an O_DSYNC meta write). Prints figures and a final JSON line.\n"
                 "Exits 0 unless something failed functionally.\n"
                 "\n"
                 "  --broker PATH       foundry-broker binary (env FOUNDRY_BROKER; default: the\n"
                 "                      one in this build tree)\n"
                 "  --ctl PATH          foundryctl binary (env FOUNDRY_CTL; default: likewise)\n"
                 "  --count N           pipelined messages (default 1000000)\n"
                 "  --window1 N         publish-and-wait messages and floor round trips\n"
                 "                      (default 2000; 0 skips both)\n"
                 "  --baseline N        raw libzmq messages (default: --count; 0 skips)\n"
                 "  --payload BYTES     payload size (default 256)\n"
                 "  --max-in-flight N   client window (default: the library's)\n"
                 "  --set KEY=VALUE     broker option, passed as --set (repeatable)\n"
                 "  --random-ids        random 16-byte message ids (UUID-like) instead of the\n"
                 "                      library's increasing ones\n"
                 "  --fanout            instead: 1 producer -> --consumers durable consumers\n"
                 "                      (+1 that never reads), end-to-end latency, CPU\n"
                 "                      per delivery (broker, clients)\n"
                 "  --consumers N       fan-out reading consumers (default 4)\n"
                 "  --credit N          fan-out subscription credit (default: the library's)\n"
                 "  --rate N            fan-out paced phase, msgs/s (default: half the max)\n"
                 "  --noisy             instead: a window-1 publisher's ack latency alone, next\n"
                 "                      to 32 tails that never read, and next to a node key\n"
                 "                      flooding 1 MiB publishes without reading (--window1\n"
                 "                      publishes per phase)\n"
                 "  --jobs              instead: --count jobs (default here 100000) through\n"
                 "                      --agents foundry-node agents running the worker-mode\n"
                 "                      job_echo_worker, pipelined submits, durable transitions;\n"
                 "                      prints CPU us per job of each process (env\n"
                 "                      FOUNDRY_NODE: another agent binary, e.g. a profiler)\n"
                 "  --agents N          jobs agents (default 4), model agents (default 6)\n"
                 "  --slots N           jobs: each agent's worker slots, 1..1024 (default 1024)\n"
                 "  --models            instead: push a --size MiB signed model (random bytes)\n"
                 "                      and roll it out to --agents foundry-node agents, one\n"
                 "                      site each, in one wave; next to raw CURVE 1 MiB\n"
                 "                      messages and BLAKE2b speed; scaled down when the disk\n"
                 "                      lacks about (2 + agents) x the size\n"
                 "  --size MiB          model artifact size (default 1024)\n"
                 "  --model-window N    model push: chunks in flight (default: the library's)\n"
                 "  --chunk-size BYTES  model push: chunk size (default: the library's)\n"
                 "  --keep              keep the temporary directory\n"
                 "  --help              this text\n");
}

static int
s_parse_size(const char *text, size_t min, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || v < min || v > (1ull << 32)) {
        fprintf(stderr, "foundry-bench: bad number '%s'\n", text);
        return -1;
    }
    *out = (size_t) v;
    return 0;
}

static int
s_parse_args(int argc, char **argv, bench_opts_t *opts)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},
        {"ctl", required_argument, NULL, 'c'},
        {"count", required_argument, NULL, 'n'},
        {"window1", required_argument, NULL, 'w'},
        {"baseline", required_argument, NULL, 'z'},
        {"payload", required_argument, NULL, 'p'},
        {"max-in-flight", required_argument, NULL, 'f'},
        {"set", required_argument, NULL, 's'},
        {"keep", no_argument, NULL, 'k'},
        {"fanout", no_argument, NULL, 'F'},
        {"noisy", no_argument, NULL, 'N'},
        {"jobs", no_argument, NULL, 'J'},
        {"agents", required_argument, NULL, 'A'},
        {"slots", required_argument, NULL, 'L'},
        {"models", no_argument, NULL, 'M'},
        {"size", required_argument, NULL, 'S'},
        {"model-window", required_argument, NULL, 'W'},
        {"chunk-size", required_argument, NULL, 'K'},
        {"random-ids", no_argument, NULL, 'U'},
        {"consumers", required_argument, NULL, 'C'},
        {"credit", required_argument, NULL, 'R'},
        {"rate", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool baseline_set = false;
    bool count_set = false;
    size_t value;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': opts->broker = optarg; break;
        case 'c': opts->ctl = optarg; break;
        case 'n':
            if (s_parse_size(optarg, 1, &opts->count))
                return 2;
            count_set = true;
            break;
        case 'w':
            if (s_parse_size(optarg, 0, &opts->window1_count))
                return 2;
            break;
        case 'z':
            if (s_parse_size(optarg, 0, &opts->baseline_count))
                return 2;
            baseline_set = true;
            break;
        case 'p':
            if (s_parse_size(optarg, 1, &opts->payload_size) || opts->payload_size > 65536) {
                fprintf(stderr, "foundry-bench: --payload must be 1..65536\n");
                return 2;
            }
            break;
        case 'f':
            if (s_parse_size(optarg, 1, &value))
                return 2;
            opts->max_in_flight = (uint32_t) value;
            break;
        case 's':
            if (opts->set_count == FDY_BENCH_SETS_MAX || !strchr(optarg, '=')) {
                fprintf(stderr, "foundry-bench: --set takes KEY=VALUE (at most %d)\n",
                        FDY_BENCH_SETS_MAX);
                return 2;
            }
            opts->sets[opts->set_count++] = optarg;
            break;
        case 'k': opts->keep = true; break;
        case 'F': opts->fanout = true; break;
        case 'N': opts->noisy = true; break;
        case 'J': opts->jobs = true; break;
        case 'A':
            if (s_parse_size(optarg, 1, &opts->agents) || opts->agents > 16)
                return 2;
            opts->agents_set = true;
            break;
        case 'L':
            if (s_parse_size(optarg, 1, &opts->job_slots) || opts->job_slots > 1024)
                return 2;
            break;
        case 'M': opts->models = true; break;
        case 'W':
            if (s_parse_size(optarg, 1, &opts->model_window) ||
                opts->model_window > FOUNDRY_MODEL_WINDOW_MAX)
                return 2;
            break;
        case 'K':
            if (s_parse_size(optarg, FOUNDRY_MODEL_CHUNK_MIN, &opts->model_chunk) ||
                opts->model_chunk > FOUNDRY_MODEL_CHUNK_MAX)
                return 2;
            break;
        case 'S':
            if (s_parse_size(optarg, 16, &opts->size_mb) || opts->size_mb > (1u << 20)) {
                fprintf(stderr, "foundry-bench: --size must be 16..1048576 (MiB)\n");
                return 2;
            }
            break;
        case 'U': opts->random_ids = true; break;
        case 'C':
            if (s_parse_size(optarg, 1, &opts->consumers) ||
                opts->consumers > FDY_FANOUT_CONSUMERS_MAX)
                return 2;
            break;
        case 'R':
            if (s_parse_size(optarg, 1, &value))
                return 2;
            opts->credit = (uint32_t) value;
            break;
        case 'r':
            if (s_parse_size(optarg, 1, &value))
                return 2;
            opts->rate = (double) value;
            break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "foundry-bench: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (opts->jobs && !count_set)
        opts->count = 100000;
    if (opts->models && !opts->agents_set)
        opts->agents = 6;
    if (!baseline_set)
        opts->baseline_count = opts->count;
    if (opts->models && !baseline_set)
        opts->baseline_count = 0; /* it measures its own 1 MiB CURVE reference */
    return -1; /* go on */
}

/* The window-1 floor (commit_floor.h), measured after the broker stopped. */
typedef struct {
    bool ran;
    fdy_floor_figures_t rtt, data, commit;
} floor_t;

static int
s_bench_floor(const char *dir, const bench_opts_t *opts, floor_t *out)
{
    if (fdy_commit_floor_run(dir, opts->window1_count, opts->payload_size, FDY_FLOOR_NONE,
                             &out->rtt) != FOUNDRY_OK ||
        fdy_commit_floor_run(dir, opts->window1_count, opts->payload_size, FDY_FLOOR_DATA,
                             &out->data) != FOUNDRY_OK ||
        fdy_commit_floor_run(dir, opts->window1_count, opts->payload_size, FDY_FLOOR_COMMIT,
                             &out->commit) != FOUNDRY_OK)
        return -1;
    out->ran = true;
    return 0;
}

static void
s_print_json(const bench_opts_t *opts, const figures_t *durable, const figures_t *window1,
             const floor_t *floor, const figures_t *baseline, double ratio, uint64_t rss_kib,
             double load_start, double load_end, int failures)
{
    printf("{\"bench\":\"publish\",\"payload_bytes\":%zu,\"count\":%zu,"
           "\"durable_msgs_per_s\":%.0f,\"durable_seconds\":%.3f,"
           "\"durable_ack_p50_ms\":%.3f,\"durable_ack_p99_ms\":%.3f,"
           "\"window1_count\":%zu,\"window1_ack_p50_ms\":%.3f,\"window1_ack_p99_ms\":%.3f,"
           "\"floor_rtt_p50_ms\":%.3f,\"floor_one_flush_p50_ms\":%.3f,"
           "\"floor_commit_p50_ms\":%.3f,\"floor_commit_p99_ms\":%.3f,"
           "\"ratio_window1_to_floor\":%.3f,"
           "\"baseline_count\":%zu,\"baseline_msgs_per_s\":%.0f,"
           "\"ratio_durable_to_baseline\":%.3f,\"broker_peak_rss_kib\":%" PRIu64 ","
           "\"load_average_start\":%.2f,\"load_average_end\":%.2f,\"failures\":%d}\n",
           opts->payload_size, durable->ran ? opts->count : 0, durable->msgs_per_s,
           durable->seconds, durable->p50_ms, durable->p99_ms,
           window1->ran ? opts->window1_count : 0, window1->p50_ms, window1->p99_ms,
           floor->rtt.p50_ms, floor->data.p50_ms, floor->commit.p50_ms, floor->commit.p99_ms,
           floor->ran && floor->commit.p50_ms > 0 ? window1->p50_ms / floor->commit.p50_ms : 0.0,
           baseline->ran ? opts->baseline_count : 0, baseline->msgs_per_s, ratio, rss_kib,
           load_start, load_end, failures);
}

int
main(int argc, char **argv)
{
    bench_opts_t opts = {
        .broker = getenv("FOUNDRY_BROKER"),
        .ctl = getenv("FOUNDRY_CTL"),
        .count = 1000000,
        .window1_count = 2000,
        .payload_size = 256,
        .consumers = 4,
        .agents = 4,
        /* 256 slots an agent held about 10 ms of echo work, less than a
         * broker turn with its fsyncs: the agents idled between offers. */
        .job_slots = 1024,
        .size_mb = 1024,
    };
    int parsed = s_parse_args(argc, argv, &opts);
    if (parsed >= 0)
        return parsed;

    char broker_buf[PATH_MAX], ctl_buf[PATH_MAX];
    if (!opts.broker || !*opts.broker)
        opts.broker =
            fdy_bench_env_default_binary("broker/foundry-broker", broker_buf, sizeof broker_buf);
    if (!opts.ctl || !*opts.ctl)
        opts.ctl = fdy_bench_env_default_binary("broker/ctl/foundryctl", ctl_buf, sizeof ctl_buf);
    if (!opts.broker || access(opts.broker, X_OK) != 0 || !opts.ctl ||
        access(opts.ctl, X_OK) != 0) {
        fdy_bench_env_fail("cannot find foundry-broker and foundryctl: use --broker/--ctl or "
                           "FOUNDRY_BROKER/FOUNDRY_CTL (tried %s, %s)",
                           opts.broker ? opts.broker : "-", opts.ctl ? opts.ctl : "-");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0); /* figures interleave with progress on stderr */
    foundry_set_log_handler(s_log, FOUNDRY_LOG_WARN, NULL);

    uint8_t *payload = malloc(opts.payload_size);
    if (!payload) {
        fdy_bench_env_fail("out of memory");
        return 1;
    }
    for (size_t i = 0; i < opts.payload_size; i++)
        payload[i] = (uint8_t) ('a' + i % 26);

    figures_t durable = {0}, window1 = {0}, baseline = {0};
    floor_t floor = {0};
    uint64_t rss_kib = 0;
    int failures = 0;
    fdy_bench_env_t env;
    memset(&env, 0, sizeof env);
    foundry_client_t *client = NULL;

    double load_start = fdy_bench_env_load_average();
    printf("foundry-bench: libfoundry %s, payload %zu B, CURVE on, loopback, %ld CPUs, "
           "load average %.2f\n",
           foundry_version(), opts.payload_size, sysconf(_SC_NPROCESSORS_ONLN), load_start);

    /* (c) first, while nothing else of ours is running. */
    if (opts.baseline_count > 0) {
        if (fdy_baseline_run(opts.baseline_count, opts.payload_size, &baseline.seconds) ==
            FOUNDRY_OK) {
            baseline.ran = true;
            baseline.msgs_per_s = (double) opts.baseline_count / baseline.seconds;
            printf("baseline   raw libzmq CURVE DEALER->ROUTER: %zu msgs in %.3f s = %.0f msgs/s "
                   "(no acks, no storage)\n",
                   opts.baseline_count, baseline.seconds, baseline.msgs_per_s);
        } else
            failures++;
    }

    if (fdy_bench_env_start(&env, opts.broker, opts.ctl, opts.sets, opts.set_count) != FOUNDRY_OK) {
        failures++;
        goto out;
    }
    printf("broker     pid %ld at %s (data in %s)\n", (long) env.broker_pid, env.endpoint,
           env.data_dir);
    if (opts.fanout) {
        fdy_fanout_opts_t fanout = {
            .count = opts.count,
            .payload_size = opts.payload_size,
            .consumers = opts.consumers,
            .stalled = true,
            .credit = opts.credit,
            .max_in_flight = opts.max_in_flight,
            .rate = opts.rate,
            .baseline_msgs_per_s = baseline.ran ? baseline.msgs_per_s : 0.0,
            .load_start = load_start,
        };
        if (fdy_fanout_run(&env, opts.ctl, &fanout) != FOUNDRY_OK)
            failures++;
        goto out;
    }
    if (opts.jobs) {
        fdy_jobs_bench_opts_t jobs = {
            .count = opts.count,
            .agents = opts.agents,
            .slots = opts.job_slots,
            .payload_size = opts.payload_size,
            .baseline_msgs_per_s = baseline.ran ? baseline.msgs_per_s : 0.0,
            .load_start = load_start,
        };
        if (fdy_jobs_bench_run(&env, opts.ctl, &jobs) != FOUNDRY_OK)
            failures++;
        goto out;
    }
    if (opts.models) {
        fdy_models_bench_opts_t models = {
            .size = (uint64_t) opts.size_mb << 20,
            .agents = opts.agents,
            .chunk_size = (uint32_t) opts.model_chunk,
            .window = (uint32_t) opts.model_window,
            .load_start = load_start,
        };
        if (fdy_models_bench_run(&env, opts.ctl, &models) != FOUNDRY_OK)
            failures++;
        goto out;
    }
    if (opts.noisy) {
        fdy_noisy_opts_t noisy = {
            .count = opts.window1_count ? opts.window1_count : 2000,
            .payload_size = opts.payload_size,
            .baseline_msgs_per_s = baseline.ran ? baseline.msgs_per_s : 0.0,
            .load_start = load_start,
        };
        if (fdy_noisy_run(&env, opts.ctl, &noisy) != FOUNDRY_OK)
            failures++;
        goto out;
    }
    if (s_client_new(&opts, &env, &client) != FOUNDRY_OK) {
        failures++;
        goto out;
    }

    /* (a) */
    if (s_bench_pipelined(client, &opts, payload, &durable) == 0)
        printf("durable    pipelined publish: %zu msgs in %.3f s = %.0f msgs/s; "
               "ack latency p50 %.3f ms, p99 %.3f ms\n",
               opts.count, durable.seconds, durable.msgs_per_s, durable.p50_ms, durable.p99_ms);
    else
        failures++;

    /* (b) */
    if (opts.window1_count > 0 && failures == 0) {
        if (s_bench_window1(client, &opts, payload, &window1) == 0)
            printf("window 1   publish and wait: %zu msgs in %.3f s = %.0f msgs/s; "
                   "ack latency p50 %.3f ms, p99 %.3f ms\n",
                   opts.window1_count, window1.seconds, window1.msgs_per_s, window1.p50_ms,
                   window1.p99_ms);
        else
            failures++;
    }

out:
    if (client) {
        size_t unacked = 0;
        if (foundry_client_close(&client, 10000, &unacked) != FOUNDRY_OK) {
            fdy_bench_env_fail("close: %zu messages unacked", unacked);
            failures++;
        }
    }
    if (env.broker_pid > 0) {
        rss_kib = fdy_bench_env_peak_rss_kib(&env);
        if (fdy_bench_env_stop(&env) != FOUNDRY_OK)
            failures++;
    }
    /* (d) the window-1 floor, alone on the machine like the baseline. */
    if (window1.ran) {
        if (s_bench_floor(env.dir, &opts, &floor) == 0) {
            printf("floor      raw CURVE round trip, %zu B, one at a time: p50 %.3f ms; with "
                   "%d page writes + fdatasync: p50 %.3f ms; + the O_DSYNC meta write "
                   "(an LMDB commit's two flushes): p50 %.3f ms, p99 %.3f ms\n",
                   opts.payload_size, floor.rtt.p50_ms, FDY_FLOOR_PAGES, floor.data.p50_ms,
                   floor.commit.p50_ms, floor.commit.p99_ms);
            printf("ratio      window 1 p50 / floor p50: %.3f\n",
                   floor.commit.p50_ms > 0 ? window1.p50_ms / floor.commit.p50_ms : 0.0);
        } else
            failures++;
    }
    double ratio = 0.0;
    if (durable.ran && baseline.ran && baseline.msgs_per_s > 0) {
        ratio = durable.msgs_per_s / baseline.msgs_per_s;
        printf("ratio      durable / baseline: %.3f\n", ratio);
    }
    if (rss_kib && !opts.fanout && !opts.noisy && !opts.models) /* those runs printed it with more detail */
        printf("broker     peak RSS (VmHWM): %.1f MiB\n", (double) rss_kib / 1024.0);
    double load_end = fdy_bench_env_load_average();
    printf("machine    load average %.2f at start, %.2f at end\n", load_start, load_end);
    fdy_bench_env_remove(&env, opts.keep);
    if (!opts.fanout && !opts.noisy && !opts.jobs && !opts.models) /* not their figures */
        s_print_json(&opts, &durable, &window1, &floor, &baseline, ratio, rss_kib, load_start,
                     load_end, failures);
    free(payload);
    if (failures)
        fdy_bench_env_fail("%d step(s) failed", failures);
    return failures ? 1 : 0;
}
