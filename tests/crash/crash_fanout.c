/*  crash_fanout.c: one producer publishes into a stream with 4 durable
 *  consumers while the broker is SIGKILLed and restarted at random moments
 *  (at least 3 times). Afterwards every publish the producer saw
 *  acknowledged was delivered to every consumer at least once (redelivery
 *  after a crash is allowed, loss is not), with the right payload, and each
 *  consumer's stored cursor reaches the end and survives a clean restart.
 *  FOUNDRY_CRASH_SEED=N replays the kill schedule of a failed run.
 */
#include "proc.h"

#include "clock.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KILLS                4
#define MAX_MESSAGES         100000
#define RATE_PER_MS          5 /* publishing pace: fan-out goes on across every kill */
#define CONSUMERS            4
#define BURST                50
#define PROGRESS_DEADLINE_MS 30000
#define CATCH_UP_DEADLINE_MS 60000
#define ARGV_MAX             24

typedef struct {
    foundry_client_t *client;
    foundry_sub_t *sub;
    char name[8];
    uint8_t *seen;      /* per seq: deliveries, saturating */
    size_t distinct;    /* seqs seen at least once */
    size_t redelivered; /* deliveries with delivery_count > 1 */
    size_t duplicates;  /* a seq seen again (after a crash) */
    uint64_t last_seq;  /* highest seq seen */
} s_reader_t;

typedef struct {
    size_t sent;
    size_t acked;
    size_t errors;
    size_t double_acks;
    uint8_t *ack_count; /* per message index */
    uint64_t *ack_seq;  /* per message index */
    size_t *index_of;   /* per seq: message index + 1 (from consumers' payloads) */
    uint64_t max_seq;   /* highest acked seq */
    int64_t start_ms;   /* for the publishing pace */
    s_reader_t readers[CONSUMERS];
    size_t bad_payloads;
} s_state_t;

static uint64_t s_rng;

static uint32_t
s_random(uint32_t bound)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (uint32_t) (s_rng % bound);
}

static size_t
s_payload(size_t i, char *out, size_t size)
{
    int n = snprintf(out, size, "cf:%zu:", i);
    size_t len = (size_t) n;
    for (size_t k = 0; k < i % 64 && len + 1 < size; k++)
        out[len++] = (char) ('a' + (i + k) % 26);
    out[len] = '\0';
    return len;
}

static void
s_on_ack(const foundry_ack_t *ack, void *user)
{
    s_state_t *state = user;
    size_t i = (size_t) (uintptr_t) ack->user - 1;
    if (i >= state->sent || ack->err != FOUNDRY_OK) {
        if (state->errors++ < 10)
            fprintf(stderr, "  message %zu: %s: %s\n", i, foundry_strerror(ack->err), ack->reason);
        return;
    }
    if (state->ack_count[i]++ > 0) {
        state->double_acks++;
        return;
    }
    state->acked++;
    state->ack_seq[i] = ack->seq;
    if (ack->seq > state->max_seq)
        state->max_seq = ack->seq;
}

/* Queues up to BURST messages (a full window is not an error). */
static void
s_publish_some(foundry_client_t *producer, s_state_t *state)
{
    char subject[64], payload[128], id[32];
    int64_t due = (fdy_clock_mono_ms() - state->start_ms) * RATE_PER_MS;
    size_t budget = due < MAX_MESSAGES ? (size_t) due : MAX_MESSAGES;
    for (int k = 0; k < BURST && state->sent < budget; k++) {
        size_t i = state->sent;
        snprintf(subject, sizeof subject, "crash.r%zu", i % 5);
        snprintf(id, sizeof id, "cf-%07zu", i);
        size_t len = s_payload(i, payload, sizeof payload);
        state->sent++;
        foundry_err err = foundry_client_publish_async(producer, subject, payload, len, id,
                                                       strlen(id), (void *) (uintptr_t) (i + 1));
        if (err == FOUNDRY_ETIMEDOUT) {
            state->sent--;
            break;
        }
        FDY_CHECK_OK(err);
    }
    FDY_CHECK_OK(foundry_client_poll(producer, 0));
}

/* Takes what reader r has ready, acking each message. Returns the count. */
static size_t
s_consume_some(s_state_t *state, s_reader_t *r)
{
    size_t got = 0;
    FDY_CHECK_OK(foundry_client_poll(r->client, 0));
    for (int k = 0; k < 2000; k++) {
        const foundry_msg_t *msg = NULL;
        foundry_err err = foundry_sub_receive(r->sub, 0, &msg);
        if (err == FOUNDRY_ETIMEDOUT)
            break;
        FDY_CHECK_MSG(err == FOUNDRY_OK,
                      "%s: receive: %s (the subscription must survive "
                      "broker restarts)",
                      r->name, foundry_strerror(err));
        FDY_CHECK_MSG(msg->seq >= 1 && msg->seq <= MAX_MESSAGES + 1000,
                      "%s: seq %" PRIu64 " out of range", r->name, msg->seq);
        size_t index = 0;
        char tail = 0;
        char text[160];
        size_t n = msg->len < sizeof text - 1 ? msg->len : sizeof text - 1;
        memcpy(text, msg->data, n);
        text[n] = '\0';
        bool parsed =
            sscanf(text, "cf:%zu%c", &index, &tail) == 2 && tail == ':' && index < MAX_MESSAGES;
        char want[128];
        size_t want_len = parsed ? s_payload(index, want, sizeof want) : 0;
        if (!parsed || want_len != msg->len || memcmp(want, msg->data, want_len) != 0 ||
            (state->index_of[msg->seq] && state->index_of[msg->seq] != index + 1)) {
            if (state->bad_payloads++ < 10)
                fprintf(stderr, "  %s: seq %" PRIu64 ": unexpected payload \"%s\"\n", r->name,
                        msg->seq, text);
        } else
            state->index_of[msg->seq] = index + 1;
        if (r->seen[msg->seq] == 0)
            r->distinct++;
        else
            r->duplicates++;
        if (r->seen[msg->seq] < 255)
            r->seen[msg->seq]++;
        if (msg->delivery_count > 1)
            r->redelivered++;
        if (msg->seq > r->last_seq)
            r->last_seq = msg->seq;
        FDY_CHECK_OK(foundry_sub_ack(r->sub, msg->seq));
        got++;
    }
    return got;
}

/* One turn: publish (unless publishing is over), consume, and wait a
 * little on the descriptors when nothing moved. */
static void
s_turn(foundry_client_t *producer, s_state_t *state, bool publish)
{
    size_t moved = 0, before = state->sent + state->acked;
    if (publish)
        s_publish_some(producer, state);
    else
        FDY_CHECK_OK(foundry_client_poll(producer, 0));
    moved += state->sent + state->acked - before;
    for (size_t c = 0; c < CONSUMERS; c++)
        moved += s_consume_some(state, &state->readers[c]);
    if (moved == 0) {
        struct pollfd fds[CONSUMERS + 1];
        fds[0] = (struct pollfd){foundry_client_fd(producer), POLLIN, 0};
        for (size_t c = 0; c < CONSUMERS; c++)
            fds[c + 1] = (struct pollfd){foundry_client_fd(state->readers[c].client), POLLIN, 0};
        poll(fds, CONSUMERS + 1, 10);
    }
}

static void
s_run_phase(foundry_client_t *producer, s_state_t *state, int ms)
{
    int64_t start = fdy_clock_mono_ms();
    size_t acked_before = state->acked;
    size_t distinct_before = state->readers[0].distinct;
    while (fdy_clock_mono_ms() - start < ms ||
           ((state->acked == acked_before && state->acked < state->sent) ||
            state->readers[0].distinct == distinct_before)) {
        FDY_CHECK_MSG(fdy_clock_mono_ms() - start < PROGRESS_DEADLINE_MS,
                      "no progress for %d ms after a restart (acked %zu of %zu sent; c0 has %zu)",
                      PROGRESS_DEADLINE_MS, state->acked, state->sent, state->readers[0].distinct);
        s_turn(producer, state, true);
    }
}

static bool
s_all_delivered(const s_state_t *state)
{
    for (size_t i = 0; i < state->sent; i++) {
        if (!state->ack_count[i])
            return false;
        for (size_t c = 0; c < CONSUMERS; c++)
            if (!state->readers[c].seen[state->ack_seq[i]])
                return false;
    }
    return true;
}

static fdy_json_t *
s_ctl_json(fdy_proc_t *p, const char *const *argv)
{
    const char *args[ARGV_MAX];
    size_t n = 0;
    args[n++] = "--json";
    for (size_t i = 0; argv[i] && n < ARGV_MAX - 1; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctlv(p, NULL, args, &run));
    FDY_CHECK_RUN(&run, 0);
    fdy_json_t *json = fdy_proc_json_parse(run.out, run.out_len);
    FDY_CHECK_MSG(json, "foundryctl --json %s: not JSON: %.300s", argv[0], run.out);
    fdy_proc_run_clear(&run);
    return json;
}

/* The consumer's stored ack_floor (consumer info). */
static int64_t
s_ack_floor(fdy_proc_t *p, const char *name)
{
    fdy_json_t *json =
        s_ctl_json(p, (const char *const[]){"consumer", "info", "crash", name, NULL});
    const fdy_json_t *row = json;
    if (fdy_proc_json_type(row) == FDY_JSON_ARRAY)
        row = fdy_proc_json_at(row, 0);
    int64_t floor = -1;
    FDY_CHECK(fdy_proc_json_int(fdy_proc_json_get(row, "ack_floor"), &floor));
    fdy_proc_json_destroy(&json);
    return floor;
}

static void
test_crash_fanout_survives_sigkill(void)
{
    const char *seed_text = getenv("FOUNDRY_CRASH_SEED");
    uint64_t seed = seed_text ? strtoull(seed_text, NULL, 10)
                              : (fdy_clock_wall_ns() ^ ((uint64_t) getpid() << 32));
    s_rng = seed ? seed : 1;
    fprintf(stderr, "  FOUNDRY_CRASH_SEED=%" PRIu64 "\n", seed);

    s_state_t *state = calloc(1, sizeof *state);
    FDY_CHECK(state);
    state->ack_count = calloc(MAX_MESSAGES, 1);
    state->ack_seq = calloc(MAX_MESSAGES, sizeof *state->ack_seq);
    state->index_of = calloc(MAX_MESSAGES + 1001, sizeof *state->index_of);
    FDY_CHECK(state->ack_count && state->ack_seq && state->index_of);

    fdy_proc_t *p = fdy_proc_new("crash-fanout");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_json_t *json = s_ctl_json(
        p, (const char *const[]){"stream", "add", "crash", "--subject", "crash.>", NULL});
    fdy_proc_json_destroy(&json);
    for (size_t c = 0; c < CONSUMERS; c++) {
        s_reader_t *r = &state->readers[c];
        snprintf(r->name, sizeof r->name, "k%zu", c);
        /* A short ack-wait: deliveries lost in a crash come back soon;
         * max-deliver high: a message may be delivered once per crash. */
        json = s_ctl_json(p, (const char *const[]){"consumer", "add", "crash", r->name, "--start",
                                                   "first", "--ack-wait", "2s", "--max-deliver",
                                                   "1000", NULL});
        fdy_proc_json_destroy(&json);
        r->seen = calloc(MAX_MESSAGES + 1001, 1);
        FDY_CHECK(r->seen);
        FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &r->client));
        foundry_sub_opts_t opts;
        foundry_sub_opts_init(&opts);
        opts.stream = "crash";
        opts.consumer = r->name;
        FDY_CHECK_OK(foundry_client_subscribe(r->client, &opts, &r->sub));
    }
    foundry_client_opts_t copts;
    foundry_client_opts_init(&copts);
    copts.resend_after_ms = 1000;
    copts.ack_timeout_ms = 2000;
    foundry_client_t *producer = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", &copts, &producer));
    FDY_CHECK_OK(foundry_client_set_ack_handler(producer, s_on_ack, state));

    int64_t start = fdy_clock_mono_ms();
    state->start_ms = start;
    for (int kill_no = 0; kill_no < KILLS; kill_no++) {
        s_run_phase(producer, state, 200 + (int) s_random(800));
        size_t acked_at_kill = state->acked, seen_at_kill = state->readers[0].distinct;
        FDY_CHECK_OK(fdy_proc_broker_kill(p));
        int down_ms = (int) s_random(301);
        int64_t down_start = fdy_clock_mono_ms();
        while (fdy_clock_mono_ms() - down_start < down_ms)
            s_turn(producer, state, true);
        fprintf(stderr, "  kill %d: %zu acked of %zu sent, k0 had %zu; down %d ms\n", kill_no + 1,
                acked_at_kill, state->sent, seen_at_kill, down_ms);
        FDY_CHECK_OK(fdy_proc_broker_restart(p));
    }
    s_run_phase(producer, state, 300);

    /* Publishing stops; everything acked must reach every consumer. */
    FDY_CHECK_OK(foundry_client_flush(producer, 60000));
    int64_t deadline = fdy_clock_mono_ms() + CATCH_UP_DEADLINE_MS;
    while (!s_all_delivered(state)) {
        if (fdy_clock_mono_ms() > deadline)
            break;
        s_turn(producer, state, false);
    }
    fprintf(stderr, "  %zu sent, %zu acked, max seq %" PRIu64 ", %lld ms\n", state->sent,
            state->acked, state->max_seq, (long long) (fdy_clock_mono_ms() - start));
    size_t missing = 0;
    for (size_t c = 0; c < CONSUMERS; c++) {
        s_reader_t *r = &state->readers[c];
        fprintf(stderr, "  %s: %zu distinct, %zu seen again, %zu with delivery_count > 1\n",
                r->name, r->distinct, r->duplicates, r->redelivered);
        for (size_t i = 0; i < state->sent; i++) {
            if (state->ack_count[i] && !r->seen[state->ack_seq[i]] && missing++ < 10)
                fprintf(stderr, "  %s never got message %zu (acked as seq %" PRIu64 ")\n", r->name,
                        i, state->ack_seq[i]);
        }
    }
    FDY_CHECK_EQ(missing, 0);
    FDY_CHECK_EQ(state->errors, 0);
    FDY_CHECK_EQ(state->double_acks, 0);
    FDY_CHECK_EQ(state->bad_payloads, 0);
    FDY_CHECK_EQ(state->acked, state->sent);
    /* One producer, one stream: seqs 1..sent, none stored twice. */
    FDY_CHECK_EQ(state->max_seq, state->sent);
    /* Every acked message has its own seq, and each seq a single message. */
    for (size_t i = 0; i < state->sent; i++) {
        uint64_t seq = state->ack_seq[i];
        FDY_CHECK_MSG(state->index_of[seq] == i + 1,
                      "seq %" PRIu64 " acked for message %zu, "
                      "delivered as message %zu",
                      seq, i, state->index_of[seq] - 1);
    }

    /* The consumers' acks reach the broker and their cursors are durable. */
    deadline = fdy_clock_mono_ms() + PROGRESS_DEADLINE_MS;
    for (size_t c = 0; c < CONSUMERS; c++) {
        while (s_ack_floor(p, state->readers[c].name) != (int64_t) state->max_seq) {
            FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline,
                          "%s: ack_floor %" PRId64 ", want %" PRIu64, state->readers[c].name,
                          s_ack_floor(p, state->readers[c].name), state->max_seq);
            s_turn(producer, state, false);
        }
    }
    for (size_t c = 0; c < CONSUMERS; c++) {
        foundry_sub_close(&state->readers[c].sub);
        size_t unacked = 1;
        FDY_CHECK_OK(foundry_client_close(&state->readers[c].client, 10000, &unacked));
        FDY_CHECK_EQ(unacked, 0);
    }
    size_t unacked = 1;
    FDY_CHECK_OK(foundry_client_close(&producer, 10000, &unacked));
    FDY_CHECK_EQ(unacked, 0);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    fdy_proc_check_stream_count(p, "crash", (int64_t) state->max_seq);
    for (size_t c = 0; c < CONSUMERS; c++)
        FDY_CHECK_EQ(s_ack_floor(p, state->readers[c].name), (int64_t) state->max_seq);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);

    for (size_t c = 0; c < CONSUMERS; c++)
        free(state->readers[c].seen);
    free(state->ack_count);
    free(state->ack_seq);
    free(state->index_of);
    free(state);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"fanout_survives_sigkill", test_crash_fanout_survives_sigkill},
    };
    return fdy_proc_run_tests("crash", tests, sizeof tests / sizeof tests[0], argc, argv);
}
