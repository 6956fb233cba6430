/*  crash_publish.c: a pipelined libfoundry publisher keeps publishing while
 *  the broker is SIGKILLed and restarted at random moments. Afterwards every
 *  message the publisher saw acknowledged is stored exactly once, where its
 *  ack said, and every message it sent (unacked ones resent by the library
 *  with their original ids) is stored exactly once too.
 *  FOUNDRY_CRASH_SEED=N replays the kill schedule of a failed run.
 */
#include "crash_common.h"

#include "clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KILLS                6
#define MAX_MESSAGES         80000
#define BURST                20
#define PROGRESS_DEADLINE_MS 30000

static const char *const s_streams[2] = {"telemetry-siheung", "telemetry-bucheon"};

typedef struct {
    fdy_crash_pub_t pub;
    uint8_t *ack_stream; /* per id: index into s_streams */
    uint8_t *stored;     /* per id: times found in the store */
} s_state_t;

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
s_make(size_t i, fdy_crash_msg_t *out)
{
    snprintf(out->id, sizeof out->id, "crash-%07zu", i);
    s_subject(i, out->subject, sizeof out->subject);
    out->payload_len = s_payload(i, out->payload, sizeof out->payload);
}

/* Each ack must name the stream the subject belongs to. */
static void
s_on_acked(void *user, size_t i, const foundry_ack_t *ack)
{
    s_state_t *state = user;
    state->ack_stream[i] = strcmp(ack->stream, s_streams[1]) == 0 ? 1 : 0;
    if (strcmp(ack->stream, s_streams[s_stream_of(i)]) != 0) {
        state->pub.errors++;
        fprintf(stderr, "  message %zu acked in stream %s\n", i, ack->stream);
    }
}

/* Queues up to BURST more messages and lets the client work for 1 ms. */
static void
s_publish_some(s_state_t *state)
{
    fdy_crash_pub_some(&state->pub, MAX_MESSAGES, 1);
}

/* Publishes until `ms` have passed and at least one new ack arrived, so the
 * next kill lands while messages are flowing. */
static void
s_run_phase(s_state_t *state, int ms)
{
    const fdy_crash_pub_t *pub = &state->pub;
    int64_t start = fdy_clock_mono_ms();
    size_t acked_before = pub->acked;
    while (fdy_clock_mono_ms() - start < ms ||
           (pub->acked == acked_before && pub->acked < pub->sent)) {
        FDY_CHECK_MSG(fdy_clock_mono_ms() - start < PROGRESS_DEADLINE_MS,
                      "no ack for %d ms after a restart (acked %zu of %zu sent)",
                      PROGRESS_DEADLINE_MS, pub->acked, pub->sent);
        s_publish_some(state);
    }
}

/* Reads stream `index` back and counts every id found; checks the ack of
 * each acknowledged id named this very stream and seq, and that the
 * stream's seqs have no gap. */
static void
s_read_back(fdy_proc_t *p, s_state_t *state, size_t index)
{
    char count[32];
    snprintf(count, sizeof count, "%zu", state->pub.sent + 10);
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
        FDY_CHECK_MSG(parsed == 1 && i < state->pub.sent, "%s seq %" PRId64 ": unexpected id %s",
                      s_streams[index], seq, (char *) id);
        free(id);
        FDY_CHECK_MSG(s_stream_of(i) == index, "message %zu stored in %s", i, s_streams[index]);
        state->stored[i]++;
        if (state->pub.ack_count[i]) {
            FDY_CHECK_MSG(state->pub.ack_seq[i] == (uint64_t) seq && state->ack_stream[i] == index,
                          "message %zu acked as %s/%" PRIu64 ", stored as %s/%" PRId64, i,
                          s_streams[state->ack_stream[i]], state->pub.ack_seq[i], s_streams[index],
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
    fdy_crash_rng_t rng;
    fdy_crash_rng_init(&rng);

    s_state_t state = {0};
    state.ack_stream = calloc(MAX_MESSAGES, 1);
    state.stored = calloc(MAX_MESSAGES, 1);
    FDY_CHECK(state.ack_stream && state.stored);

    fdy_proc_t *p = fdy_proc_new("crash");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "siheung-c", "--role", "node", "--site", "siheung", "--allow-publish",
                     "telemetry.bucheon.crash.>", NULL);
    const fdy_crash_pub_cfg_t cfg = {.max_messages = MAX_MESSAGES,
                                     .burst = BURST,
                                     .make = s_make,
                                     .acked = s_on_acked,
                                     .user = &state};
    fdy_crash_pub_init(&state.pub, p, "siheung-c", &cfg);
    fdy_crash_pub_t *pub = &state.pub;

    for (int kill_no = 0; kill_no < KILLS; kill_no++) {
        s_run_phase(&state, 100 + (int) fdy_crash_random(&rng, 601));
        size_t acked_at_kill = pub->acked, sent_at_kill = pub->sent;
        FDY_CHECK_OK(fdy_proc_broker_kill(p));
        /* The publisher goes on while the broker is down: its messages
         * queue in the library. */
        int down_ms = (int) fdy_crash_random(&rng, 301);
        int64_t down_start = fdy_clock_mono_ms();
        while (fdy_clock_mono_ms() - down_start < down_ms)
            s_publish_some(&state);
        fprintf(stderr, "  kill %d: %zu acked of %zu sent at the kill; down %d ms\n", kill_no + 1,
                acked_at_kill, sent_at_kill, down_ms);
        FDY_CHECK_OK(fdy_proc_broker_restart(p));
    }
    s_run_phase(&state, 200);

    FDY_CHECK_OK(foundry_client_flush(pub->client, 60000));
    FDY_CHECK_EQ(foundry_client_unacked(pub->client), 0);
    uint64_t reconnects = foundry_client_reconnects(pub->client);
    size_t unacked = 1;
    FDY_CHECK_OK(foundry_client_close(&pub->client, 10000, &unacked));
    FDY_CHECK_EQ(unacked, 0);
    fprintf(stderr, "  sent %zu, acked %zu (%zu as duplicates), %" PRIu64 " reconnects\n",
            pub->sent, pub->acked, pub->duplicate_acks, reconnects);
    FDY_CHECK_EQ(pub->errors, 0);
    FDY_CHECK_EQ(pub->double_acks, 0);
    FDY_CHECK_EQ(pub->acked, pub->sent);
    FDY_CHECK_MSG(reconnects >= KILLS, "%" PRIu64 " reconnects after %d kills", reconnects, KILLS);

    /* A clean stop, then read everything back from a fresh broker. */
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    s_read_back(p, &state, 0);
    s_read_back(p, &state, 1);
    size_t missing = 0, doubled = 0;
    for (size_t i = 0; i < pub->sent; i++) {
        if (state.stored[i] == 0 && missing++ < 10)
            fprintf(stderr, "  message %zu (%s) not stored\n", i,
                    pub->ack_count[i] ? "acked" : "never acked");
        if (state.stored[i] > 1 && doubled++ < 10)
            fprintf(stderr, "  message %zu stored %u times\n", i, state.stored[i]);
    }
    FDY_CHECK_EQ(missing, 0);
    FDY_CHECK_EQ(doubled, 0);
    fdy_proc_check_stream_count(p, s_streams[0], (int64_t) (pub->sent - (pub->sent + 2) / 3));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
    fdy_crash_pub_clear(pub);
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
