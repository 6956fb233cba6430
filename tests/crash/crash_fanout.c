/*  crash_fanout.c: one producer publishes into a stream with 4 durable
 *  consumers while the broker is SIGKILLed and restarted at random moments
 *  (at least 3 times). Afterwards every publish the producer saw
 *  acknowledged was delivered to every consumer at least once (redelivery
 *  after a crash is allowed, loss is not), with the right payload, and each
 *  consumer's stored cursor reaches the end and survives a clean restart.
 *  FOUNDRY_CRASH_SEED=N replays the kill schedule of a failed run.
 */
#include "crash_common.h"

#include "clock.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KILLS                4
#define MAX_MESSAGES         100000
#define RATE_PER_MS          5 /* publishing pace: fan-out goes on across every kill */
#define CONSUMERS            4
#define BURST                50
#define PROGRESS_DEADLINE_MS 30000
#define CATCH_UP_DEADLINE_MS 60000

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
    fdy_crash_pub_t pub;
    size_t *index_of; /* per seq: message index + 1 (from consumers' payloads) */
    int64_t start_ms; /* for the publishing pace */
    s_reader_t readers[CONSUMERS];
    size_t bad_payloads;
} s_state_t;

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
s_make(size_t i, fdy_crash_msg_t *out)
{
    snprintf(out->subject, sizeof out->subject, "crash.r%zu", i % 5);
    snprintf(out->id, sizeof out->id, "cf-%07zu", i);
    out->payload_len = s_payload(i, out->payload, sizeof out->payload);
}

/* Queues up to BURST messages, at the publishing pace. */
static void
s_publish_some(s_state_t *state)
{
    int64_t due = (fdy_clock_mono_ms() - state->start_ms) * RATE_PER_MS;
    size_t budget = due < MAX_MESSAGES ? (size_t) due : MAX_MESSAGES;
    fdy_crash_pub_some(&state->pub, budget, 0);
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
s_turn(s_state_t *state, bool publish)
{
    foundry_client_t *producer = state->pub.client;
    size_t moved = 0, before = state->pub.sent + state->pub.acked;
    if (publish)
        s_publish_some(state);
    else
        FDY_CHECK_OK(foundry_client_poll(producer, 0));
    moved += state->pub.sent + state->pub.acked - before;
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
s_run_phase(s_state_t *state, int ms)
{
    const fdy_crash_pub_t *pub = &state->pub;
    int64_t start = fdy_clock_mono_ms();
    size_t acked_before = pub->acked;
    size_t distinct_before = state->readers[0].distinct;
    while (fdy_clock_mono_ms() - start < ms ||
           ((pub->acked == acked_before && pub->acked < pub->sent) ||
            state->readers[0].distinct == distinct_before)) {
        FDY_CHECK_MSG(fdy_clock_mono_ms() - start < PROGRESS_DEADLINE_MS,
                      "no progress for %d ms after a restart (acked %zu of %zu sent; c0 has %zu)",
                      PROGRESS_DEADLINE_MS, pub->acked, pub->sent, state->readers[0].distinct);
        s_turn(state, true);
    }
}

static bool
s_all_delivered(const s_state_t *state)
{
    const fdy_crash_pub_t *pub = &state->pub;
    for (size_t i = 0; i < pub->sent; i++) {
        if (!pub->ack_count[i])
            return false;
        for (size_t c = 0; c < CONSUMERS; c++)
            if (!state->readers[c].seen[pub->ack_seq[i]])
                return false;
    }
    return true;
}

/* The consumer's stored ack_floor (consumer info). */
static int64_t
s_ack_floor(fdy_proc_t *p, const char *name)
{
    fdy_json_t *json =
        fdy_proc_ctl_json(p, (const char *const[]){"consumer", "info", "crash", name, NULL});
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
    fdy_crash_rng_t rng;
    fdy_crash_rng_init(&rng);

    s_state_t *state = calloc(1, sizeof *state);
    FDY_CHECK(state);
    state->index_of = calloc(MAX_MESSAGES + 1001, sizeof *state->index_of);
    FDY_CHECK(state->index_of);

    fdy_proc_t *p = fdy_proc_new("crash-fanout");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_json_t *json = fdy_proc_ctl_json(
        p, (const char *const[]){"stream", "add", "crash", "--subject", "crash.>", NULL});
    fdy_proc_json_destroy(&json);
    for (size_t c = 0; c < CONSUMERS; c++) {
        s_reader_t *r = &state->readers[c];
        snprintf(r->name, sizeof r->name, "k%zu", c);
        /* A short ack-wait: deliveries lost in a crash come back soon;
         * max-deliver high: a message may be delivered once per crash. */
        json = fdy_proc_ctl_json(p, (const char *const[]){"consumer", "add", "crash", r->name,
                                                          "--start", "first", "--ack-wait", "2s",
                                                          "--max-deliver", "1000", NULL});
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
    const fdy_crash_pub_cfg_t cfg = {.max_messages = MAX_MESSAGES, .burst = BURST, .make = s_make};
    fdy_crash_pub_init(&state->pub, p, "admin", &cfg);
    fdy_crash_pub_t *pub = &state->pub;

    int64_t start = fdy_clock_mono_ms();
    state->start_ms = start;
    for (int kill_no = 0; kill_no < KILLS; kill_no++) {
        s_run_phase(state, 200 + (int) fdy_crash_random(&rng, 800));
        size_t acked_at_kill = pub->acked, seen_at_kill = state->readers[0].distinct;
        FDY_CHECK_OK(fdy_proc_broker_kill(p));
        int down_ms = (int) fdy_crash_random(&rng, 301);
        int64_t down_start = fdy_clock_mono_ms();
        while (fdy_clock_mono_ms() - down_start < down_ms)
            s_turn(state, true);
        fprintf(stderr, "  kill %d: %zu acked of %zu sent, k0 had %zu; down %d ms\n", kill_no + 1,
                acked_at_kill, pub->sent, seen_at_kill, down_ms);
        FDY_CHECK_OK(fdy_proc_broker_restart(p));
    }
    s_run_phase(state, 300);

    /* Publishing stops; everything acked must reach every consumer. */
    FDY_CHECK_OK(foundry_client_flush(pub->client, 60000));
    int64_t deadline = fdy_clock_mono_ms() + CATCH_UP_DEADLINE_MS;
    while (!s_all_delivered(state)) {
        if (fdy_clock_mono_ms() > deadline)
            break;
        s_turn(state, false);
    }
    fprintf(stderr, "  %zu sent, %zu acked, max seq %" PRIu64 ", %lld ms\n", pub->sent, pub->acked,
            pub->max_seq, (long long) (fdy_clock_mono_ms() - start));
    size_t missing = 0;
    for (size_t c = 0; c < CONSUMERS; c++) {
        s_reader_t *r = &state->readers[c];
        fprintf(stderr, "  %s: %zu distinct, %zu seen again, %zu with delivery_count > 1\n",
                r->name, r->distinct, r->duplicates, r->redelivered);
        for (size_t i = 0; i < pub->sent; i++) {
            if (pub->ack_count[i] && !r->seen[pub->ack_seq[i]] && missing++ < 10)
                fprintf(stderr, "  %s never got message %zu (acked as seq %" PRIu64 ")\n", r->name,
                        i, pub->ack_seq[i]);
        }
    }
    FDY_CHECK_EQ(missing, 0);
    FDY_CHECK_EQ(pub->errors, 0);
    FDY_CHECK_EQ(pub->double_acks, 0);
    FDY_CHECK_EQ(state->bad_payloads, 0);
    FDY_CHECK_EQ(pub->acked, pub->sent);
    /* One producer, one stream: seqs 1..sent, none stored twice. */
    FDY_CHECK_EQ(pub->max_seq, pub->sent);
    /* Every acked message has its own seq, and each seq a single message. */
    for (size_t i = 0; i < pub->sent; i++) {
        uint64_t seq = pub->ack_seq[i];
        FDY_CHECK_MSG(state->index_of[seq] == i + 1,
                      "seq %" PRIu64 " acked for message %zu, "
                      "delivered as message %zu",
                      seq, i, state->index_of[seq] - 1);
    }

    /* The consumers' acks reach the broker and their cursors are durable. */
    deadline = fdy_clock_mono_ms() + PROGRESS_DEADLINE_MS;
    for (size_t c = 0; c < CONSUMERS; c++) {
        while (s_ack_floor(p, state->readers[c].name) != (int64_t) pub->max_seq) {
            FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline,
                          "%s: ack_floor %" PRId64 ", want %" PRIu64, state->readers[c].name,
                          s_ack_floor(p, state->readers[c].name), pub->max_seq);
            s_turn(state, false);
        }
    }
    for (size_t c = 0; c < CONSUMERS; c++) {
        foundry_sub_close(&state->readers[c].sub);
        size_t unacked = 1;
        FDY_CHECK_OK(foundry_client_close(&state->readers[c].client, 10000, &unacked));
        FDY_CHECK_EQ(unacked, 0);
    }
    size_t unacked = 1;
    FDY_CHECK_OK(foundry_client_close(&pub->client, 10000, &unacked));
    FDY_CHECK_EQ(unacked, 0);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    fdy_proc_check_stream_count(p, "crash", (int64_t) pub->max_seq);
    for (size_t c = 0; c < CONSUMERS; c++)
        FDY_CHECK_EQ(s_ack_floor(p, state->readers[c].name), (int64_t) pub->max_seq);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);

    for (size_t c = 0; c < CONSUMERS; c++)
        free(state->readers[c].seen);
    fdy_crash_pub_clear(pub);
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
