/*  crash_publish.c: a pipelined libfoundry publisher keeps publishing while
 *  the broker is SIGKILLed and restarted at random moments. Afterwards every
 *  message the publisher saw acknowledged is stored exactly once, where its
 *  ack said, and every message it sent (unacked ones resent by the library
 *  with their original ids) is stored exactly once too.
 *  FOUNDRY_CRASH_SEED=N replays the kill schedule of a failed run.
 */
#include "proc.h"

#include "clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KILLS                6
#define MAX_MESSAGES         80000
#define BURST                20
#define PROGRESS_DEADLINE_MS 30000

static const char *const s_streams[2] = {"telemetry-siheung", "telemetry-bucheon"};

typedef struct {
    size_t sent;           /* ids 0..sent-1 were queued */
    size_t acked;          /* distinct ids acknowledged OK */
    size_t errors;         /* acks with an error */
    size_t double_acks;    /* an id acknowledged twice */
    size_t duplicate_acks; /* acks flagged duplicate (resent after a crash) */
    uint8_t *ack_count;    /* per id */
    uint64_t *ack_seq;     /* per id */
    uint8_t *ack_stream;   /* per id: index into s_streams */
    uint8_t *stored;       /* per id: times found in the store */
} s_state_t;

static uint64_t s_rng;

static uint32_t
s_random(uint32_t bound)
{
    /* xorshift64: reproducible from the printed seed. */
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (uint32_t) (s_rng % bound);
}

static void
s_msg_id(size_t i, char *out, size_t size)
{
    snprintf(out, size, "crash-%07zu", i);
}

static size_t
s_stream_of(size_t i)
{
    return i % 3 == 0 ? 1 : 0;
}

static void
s_subject(size_t i, char *out, size_t size)
{
    snprintf(out, size, "telemetry.%s.crash.robot%zu", s_stream_of(i) ? "bucheon" : "siheung",
             i % 5);
}

static size_t
s_payload(size_t i, char *out, size_t size)
{
    int n = snprintf(out, size, "c%zu:", i);
    size_t len = (size_t) n;
    for (size_t k = 0; k < i % 100 && len + 1 < size; k++)
        out[len++] = (char) ('0' + (i + k) % 10);
    out[len] = '\0';
    return len;
}

static void
s_on_ack(const foundry_ack_t *ack, void *user)
{
    s_state_t *state = user;
    size_t i = (size_t) (uintptr_t) ack->user - 1;
    if (i >= state->sent) {
        state->errors++;
        fprintf(stderr, "  ack for a tag never used: %zu\n", i);
        return;
    }
    if (ack->err != FOUNDRY_OK) {
        if (state->errors++ < 10)
            fprintf(stderr, "  message %zu refused: %s: %s\n", i, foundry_strerror(ack->err),
                    ack->reason);
        return;
    }
    if (state->ack_count[i]++ > 0) {
        state->double_acks++;
        return;
    }
    state->acked++;
    state->duplicate_acks += ack->duplicate ? 1 : 0;
    state->ack_seq[i] = ack->seq;
    state->ack_stream[i] = strcmp(ack->stream, s_streams[1]) == 0 ? 1 : 0;
    if (strcmp(ack->stream, s_streams[s_stream_of(i)]) != 0) {
        state->errors++;
        fprintf(stderr, "  message %zu acked in stream %s\n", i, ack->stream);
    }
}

/* Queues up to BURST more messages (a full window is not an error: the
 * library is still waiting for acks) and lets the client work for 1 ms. */
static void
s_publish_some(foundry_client_t *client, s_state_t *state)
{
    char id[32], subject[96], payload[160];
    for (int k = 0; k < BURST && state->sent < MAX_MESSAGES; k++) {
        size_t i = state->sent;
        s_msg_id(i, id, sizeof id);
        s_subject(i, subject, sizeof subject);
        size_t len = s_payload(i, payload, sizeof payload);
        /* sent first: an ack may arrive inside the call. */
        state->sent++;
        foundry_err err = foundry_client_publish_async(client, subject, payload, len, id,
                                                       strlen(id), (void *) (uintptr_t) (i + 1));
        if (err == FOUNDRY_ETIMEDOUT) {
            state->sent--;
            break;
        }
        FDY_CHECK_OK(err);
    }
    FDY_CHECK_OK(foundry_client_poll(client, 1));
}

/* Publishes until `ms` have passed and at least one new ack arrived, so the
 * next kill lands while messages are flowing. */
static void
s_run_phase(foundry_client_t *client, s_state_t *state, int ms)
{
    int64_t start = fdy_clock_mono_ms();
    size_t acked_before = state->acked;
    while (fdy_clock_mono_ms() - start < ms ||
           (state->acked == acked_before && state->acked < state->sent)) {
        FDY_CHECK_MSG(fdy_clock_mono_ms() - start < PROGRESS_DEADLINE_MS,
                      "no ack for %d ms after a restart (acked %zu of %zu sent)",
                      PROGRESS_DEADLINE_MS, state->acked, state->sent);
        s_publish_some(client, state);
    }
}

/* Reads stream `index` back and counts every id found; checks the ack of
 * each acknowledged id named this very stream and seq, and that the
 * stream's seqs have no gap. */
static void
s_read_back(fdy_proc_t *p, s_state_t *state, size_t index)
{
    char count[32];
    snprintf(count, sizeof count, "%zu", state->sent + 10);
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "--json", "stream", "read", s_streams[index], "--from", "1",
                              "--count", count, NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_json_t *rows = fdy_proc_json_parse(run.out, run.out_len);
    FDY_CHECK_MSG(rows && fdy_proc_json_type(rows) == FDY_JSON_ARRAY,
                  "stream read --json: not an array: %.300s", run.out);
    fdy_proc_run_clear(&run);
    char payload[160];
    for (size_t r = 0; r < fdy_proc_json_count(rows); r++) {
        const fdy_json_t *row = fdy_proc_json_at(rows, r);
        int64_t seq = 0;
        FDY_CHECK(fdy_proc_json_int(fdy_proc_json_get(row, "seq"), &seq));
        FDY_CHECK_MSG(seq == (int64_t) r + 1, "%s: row %zu has seq %" PRId64 " (gap)",
                      s_streams[index], r, seq);
        size_t id_len = 0;
        uint8_t *id = fdy_proc_json_bytes(fdy_proc_json_get(row, "id"), &id_len);
        FDY_CHECK(id);
        size_t i = 0;
        char tail = 0;
        int parsed = sscanf((char *) id, "crash-%zu%c", &i, &tail);
        FDY_CHECK_MSG(parsed == 1 && i < state->sent, "%s seq %" PRId64 ": unexpected id %s",
                      s_streams[index], seq, (char *) id);
        free(id);
        FDY_CHECK_MSG(s_stream_of(i) == index, "message %zu stored in %s", i, s_streams[index]);
        state->stored[i]++;
        if (state->ack_count[i]) {
            FDY_CHECK_MSG(state->ack_seq[i] == (uint64_t) seq && state->ack_stream[i] == index,
                          "message %zu acked as %s/%" PRIu64 ", stored as %s/%" PRId64, i,
                          s_streams[state->ack_stream[i]], state->ack_seq[i], s_streams[index],
                          seq);
        }
        size_t len = 0, want_len = s_payload(i, payload, sizeof payload);
        uint8_t *data = fdy_proc_json_bytes(fdy_proc_json_get(row, "payload"), &len);
        bool same = data && len == want_len && memcmp(data, payload, len) == 0;
        free(data);
        FDY_CHECK_MSG(same, "message %zu: stored payload differs", i);
    }
    fdy_proc_json_destroy(&rows);
}

static void
test_crash_publish_survives_sigkill(void)
{
    const char *seed_text = getenv("FOUNDRY_CRASH_SEED");
    uint64_t seed = seed_text ? strtoull(seed_text, NULL, 10)
                              : (fdy_clock_wall_ns() ^ ((uint64_t) getpid() << 32));
    s_rng = seed ? seed : 1;
    fprintf(stderr, "  FOUNDRY_CRASH_SEED=%" PRIu64 "\n", seed);

    s_state_t state = {0};
    state.ack_count = calloc(MAX_MESSAGES, 1);
    state.ack_seq = calloc(MAX_MESSAGES, sizeof *state.ack_seq);
    state.ack_stream = calloc(MAX_MESSAGES, 1);
    state.stored = calloc(MAX_MESSAGES, 1);
    FDY_CHECK(state.ack_count && state.ack_seq && state.ack_stream && state.stored);

    fdy_proc_t *p = fdy_proc_new("crash");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "siheung-c", "--role", "node", "--site", "siheung", "--allow-publish",
                     "telemetry.bucheon.crash.>", NULL);
    foundry_client_opts_t opts;
    foundry_client_opts_init(&opts);
    opts.resend_after_ms = 1000;
    opts.ack_timeout_ms = 2000;
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "siheung-c", &opts, &client));
    FDY_CHECK_OK(foundry_client_set_ack_handler(client, s_on_ack, &state));

    for (int kill_no = 0; kill_no < KILLS; kill_no++) {
        s_run_phase(client, &state, 100 + (int) s_random(601));
        size_t acked_at_kill = state.acked, sent_at_kill = state.sent;
        FDY_CHECK_OK(fdy_proc_broker_kill(p));
        /* The publisher goes on while the broker is down: its messages
         * queue in the library. */
        int down_ms = (int) s_random(301);
        int64_t down_start = fdy_clock_mono_ms();
        while (fdy_clock_mono_ms() - down_start < down_ms)
            s_publish_some(client, &state);
        fprintf(stderr, "  kill %d: %zu acked of %zu sent at the kill; down %d ms\n", kill_no + 1,
                acked_at_kill, sent_at_kill, down_ms);
        FDY_CHECK_OK(fdy_proc_broker_restart(p));
    }
    s_run_phase(client, &state, 200);

    FDY_CHECK_OK(foundry_client_flush(client, 60000));
    FDY_CHECK_EQ(foundry_client_unacked(client), 0);
    uint64_t reconnects = foundry_client_reconnects(client);
    size_t unacked = 1;
    FDY_CHECK_OK(foundry_client_close(&client, 10000, &unacked));
    FDY_CHECK_EQ(unacked, 0);
    fprintf(stderr, "  sent %zu, acked %zu (%zu as duplicates), %" PRIu64 " reconnects\n",
            state.sent, state.acked, state.duplicate_acks, reconnects);
    FDY_CHECK_EQ(state.errors, 0);
    FDY_CHECK_EQ(state.double_acks, 0);
    FDY_CHECK_EQ(state.acked, state.sent);
    FDY_CHECK_MSG(reconnects >= KILLS, "%" PRIu64 " reconnects after %d kills", reconnects, KILLS);

    /* A clean stop, then read everything back from a fresh broker. */
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    s_read_back(p, &state, 0);
    s_read_back(p, &state, 1);
    size_t missing = 0, doubled = 0;
    for (size_t i = 0; i < state.sent; i++) {
        if (state.stored[i] == 0 && missing++ < 10)
            fprintf(stderr, "  message %zu (%s) not stored\n", i,
                    state.ack_count[i] ? "acked" : "never acked");
        if (state.stored[i] > 1 && doubled++ < 10)
            fprintf(stderr, "  message %zu stored %u times\n", i, state.stored[i]);
    }
    FDY_CHECK_EQ(missing, 0);
    FDY_CHECK_EQ(doubled, 0);
    fdy_proc_check_stream_count(p, s_streams[0], (int64_t) (state.sent - (state.sent + 2) / 3));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
    free(state.ack_count);
    free(state.ack_seq);
    free(state.ack_stream);
    free(state.stored);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"publish_survives_sigkill", test_crash_publish_survives_sigkill},
    };
    return fdy_proc_run_tests("crash", tests, sizeof tests / sizeof tests[0], argc, argv);
}
