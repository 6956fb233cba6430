/*  test_publish.c: end-to-end publishing through the real broker. 10,000
 *  pipelined messages through libfoundry read back in order with foundryctl,
 *  a duplicate id acked with the original seq (also after a restart), large
 *  payloads in their own frame, and `foundryctl pub` from stdin.
 */
#include "proc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MESSAGES 10000

/* Message i: a payload whose length and content vary with i, so a record
 * served for the wrong seq or truncated cannot pass. */
static size_t
s_payload(size_t i, char *out, size_t size)
{
    int n = snprintf(out, size, "payload-%05zu-", i);
    size_t len = (size_t) n;
    size_t fill = i % 200;
    for (size_t k = 0; k < fill && len + 1 < size; k++)
        out[len++] = (char) ('a' + (i + k) % 26);
    out[len] = '\0';
    return len;
}

static void
s_subject(size_t i, char *out, size_t size)
{
    snprintf(out, size, "telemetry.siheung.robot%zu.temp", i % 7);
}

static void
s_msg_id(size_t i, char *out, size_t size)
{
    snprintf(out, size, "pub-%05zu", i);
}

typedef struct {
    size_t acked;
    size_t failed;
    size_t duplicates;
    uint64_t seqs[MESSAGES];
    bool seen[MESSAGES];
    bool wrong_stream;
    bool wrong_id;
} s_acks_t;

static void
s_on_ack(const foundry_ack_t *ack, void *user)
{
    s_acks_t *acks = user;
    size_t index = (size_t) (uintptr_t) ack->user - 1;
    if (index >= MESSAGES || acks->seen[index]) {
        acks->failed++; /* an ack for a tag we never used, or twice */
        return;
    }
    acks->seen[index] = true;
    if (ack->err != FOUNDRY_OK) {
        fprintf(stderr, "  message %zu refused: %s: %s\n", index, foundry_strerror(ack->err),
                ack->reason);
        acks->failed++;
        return;
    }
    char id[32];
    s_msg_id(index, id, sizeof id);
    if (ack->msg_id_len != strlen(id) || memcmp(ack->msg_id, id, ack->msg_id_len) != 0)
        acks->wrong_id = true;
    if (strcmp(ack->stream, "telemetry-siheung") != 0)
        acks->wrong_stream = true;
    acks->seqs[index] = ack->seq;
    acks->duplicates += ack->duplicate ? 1 : 0;
    acks->acked++;
}

/* `foundryctl --json stream read STREAM --from F --count N`, parsed. */
static fdy_json_t *
s_read_stream(fdy_proc_t *p, const char *stream, const char *from, const char *count)
{
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "--json", "stream", "read", stream, "--from", from,
                              "--count", count, NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_json_t *rows = fdy_proc_json_parse(run.out, run.out_len);
    FDY_CHECK_MSG(rows && fdy_proc_json_type(rows) == FDY_JSON_ARRAY,
                  "stream read --json: not a JSON array: %.300s", run.out);
    fdy_proc_run_clear(&run);
    return rows;
}

static void
s_check_row(const fdy_json_t *row, int64_t seq, const char *subject, const void *payload,
            size_t payload_len, const char *id, const char *publisher)
{
    int64_t value = 0;
    FDY_CHECK(fdy_proc_json_int(fdy_proc_json_get(row, "seq"), &value));
    FDY_CHECK_EQ(value, seq);
    FDY_CHECK(fdy_proc_json_int(fdy_proc_json_get(row, "stored_ns"), &value));
    FDY_CHECK(value > 0);
    FDY_CHECK(fdy_proc_json_int(fdy_proc_json_get(row, "timestamp_ns"), &value));
    FDY_CHECK_STR(fdy_proc_json_str(fdy_proc_json_get(row, "subject"), NULL), subject);
    FDY_CHECK_STR(fdy_proc_json_str(fdy_proc_json_get(row, "publisher"), NULL), publisher);
    size_t len = 0;
    uint8_t *bytes = fdy_proc_json_bytes(fdy_proc_json_get(row, "id"), &len);
    FDY_CHECK_MSG(bytes && len == strlen(id) && memcmp(bytes, id, len) == 0,
                  "seq %" PRId64 ": id \"%s\", want \"%s\"", seq, bytes ? (char *) bytes : "?", id);
    free(bytes);
    bytes = fdy_proc_json_bytes(fdy_proc_json_get(row, "payload"), &len);
    bool same = bytes && len == payload_len && memcmp(bytes, payload, len) == 0;
    size_t got = bytes ? len : 0;
    free(bytes);
    FDY_CHECK_MSG(same, "seq %" PRId64 ": payload differs (%zu bytes, want %zu)", seq, got,
                  payload_len);
}

static void
test_publish_10000_pipelined_read_back(void)
{
    fdy_proc_t *p = fdy_proc_new("publish");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "siheung-1", "--role", "node", "--site", "siheung", NULL);

    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "siheung-1", NULL, &client));
    s_acks_t *acks = calloc(1, sizeof *acks);
    FDY_CHECK(acks);
    FDY_CHECK_OK(foundry_client_set_ack_handler(client, s_on_ack, acks));

    char payload[512], subject[128], id[32];
    for (size_t i = 0; i < MESSAGES; i++) {
        size_t len = s_payload(i, payload, sizeof payload);
        s_subject(i, subject, sizeof subject);
        s_msg_id(i, id, sizeof id);
        foundry_err err;
        /* A full window is not an error: let acks drain and retry. */
        while ((err = foundry_client_publish_async(client, subject, payload, len, id, strlen(id),
                                                   (void *) (uintptr_t) (i + 1))) ==
               FOUNDRY_ETIMEDOUT)
            FDY_CHECK_OK(foundry_client_poll(client, 100));
        FDY_CHECK_OK(err);
    }
    FDY_CHECK_OK(foundry_client_flush(client, 60000));
    FDY_CHECK_EQ(foundry_client_unacked(client), 0);
    FDY_CHECK_EQ(acks->failed, 0);
    FDY_CHECK_EQ(acks->acked, MESSAGES);
    FDY_CHECK_EQ(acks->duplicates, 0);
    FDY_CHECK(!acks->wrong_stream);
    FDY_CHECK(!acks->wrong_id);
    /* One connection, never lost: the broker stores in arrival order. */
    FDY_CHECK_EQ(foundry_client_reconnects(client), 0);
    for (size_t i = 0; i < MESSAGES; i++)
        FDY_CHECK_MSG(acks->seqs[i] == i + 1, "message %zu acked with seq %" PRIu64, i,
                      acks->seqs[i]);
    size_t unacked = 99;
    FDY_CHECK_OK(foundry_client_close(&client, 5000, &unacked));
    FDY_CHECK_EQ(unacked, 0);

    /* Everything back, in order, through foundryctl's paging. */
    fdy_json_t *rows = s_read_stream(p, "telemetry-siheung", "1", "10000");
    FDY_CHECK_EQ(fdy_proc_json_count(rows), MESSAGES);
    for (size_t i = 0; i < MESSAGES; i++) {
        size_t len = s_payload(i, payload, sizeof payload);
        s_subject(i, subject, sizeof subject);
        s_msg_id(i, id, sizeof id);
        s_check_row(fdy_proc_json_at(rows, i), (int64_t) i + 1, subject, payload, len, id,
                    "siheung-1");
    }
    fdy_proc_json_destroy(&rows);

    /* Reading past the end returns only what exists. */
    rows = s_read_stream(p, "telemetry-siheung", "9999", "50");
    FDY_CHECK_EQ(fdy_proc_json_count(rows), 2);
    fdy_proc_json_destroy(&rows);
    fdy_proc_check_stream_count(p, "telemetry-siheung", MESSAGES);

    /* The human form shows the last message's seq, subject and payload. */
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "read", "telemetry-siheung", "--from", "10000",
                              "--count", "1", NULL));
    FDY_CHECK_RUN(&run, 0);
    s_payload(MESSAGES - 1, payload, sizeof payload);
    s_subject(MESSAGES - 1, subject, sizeof subject);
    FDY_CHECK_MSG(strstr(run.out, "SEQ") && strstr(run.out, "10000") && strstr(run.out, subject) &&
                      strstr(run.out, payload),
                  "human stream read lacks header/seq/subject/payload:\n%s", run.out);
    fdy_proc_run_clear(&run);

    free(acks);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

typedef struct {
    int calls;
    foundry_ack_t last;
    char stream[64];
} s_one_ack_t;

static void
s_on_one_ack(const foundry_ack_t *ack, void *user)
{
    s_one_ack_t *one = user;
    one->calls++;
    one->last = *ack;
    snprintf(one->stream, sizeof one->stream, "%s", ack->stream);
}

static void
test_publish_duplicate_id_acked_with_original_seq(void)
{
    fdy_proc_t *p = fdy_proc_new("duplicate");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "siheung-2", "--role", "node", "--site", "siheung", NULL);
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "siheung-2", NULL, &client));

    const char *subject = "telemetry.siheung.robot1.temp";
    foundry_ack_t ack;
    FDY_CHECK_OK(foundry_client_publish(client, subject, "first", 5, "dup-1", 5, &ack));
    FDY_CHECK_EQ(ack.seq, 1);
    FDY_CHECK_EQ(ack.duplicate, 0);
    FDY_CHECK_OK(foundry_client_publish(client, subject, "other", 5, "other-1", 7, &ack));
    FDY_CHECK_EQ(ack.seq, 2);

    /* Blocking resend: acked with the original seq, flagged duplicate. */
    FDY_CHECK_OK(foundry_client_publish(client, subject, "second", 6, "dup-1", 5, &ack));
    FDY_CHECK_EQ(ack.duplicate, 1);
    FDY_CHECK_EQ(ack.seq, 1);
    FDY_CHECK_STR(ack.stream, "telemetry-siheung");

    /* Pipelined resend: the same through the ack handler. */
    s_one_ack_t one = {0};
    FDY_CHECK_OK(foundry_client_set_ack_handler(client, s_on_one_ack, &one));
    FDY_CHECK_OK(foundry_client_publish_async(client, subject, "third", 5, "other-1", 7, NULL));
    FDY_CHECK_OK(foundry_client_flush(client, 20000));
    FDY_CHECK_EQ(one.calls, 1);
    FDY_CHECK_OK(one.last.err);
    FDY_CHECK_EQ(one.last.duplicate, 1);
    FDY_CHECK_EQ(one.last.seq, 2);
    FDY_CHECK_STR(one.stream, "telemetry-siheung");
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));
    fdy_proc_check_stream_count(p, "telemetry-siheung", 2);

    /* The dedupe index is durable: still a duplicate after a clean restart. */
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    FDY_CHECK_OK(fdy_proc_client_new(p, "siheung-2", NULL, &client));
    FDY_CHECK_OK(foundry_client_publish(client, subject, "fourth", 6, "dup-1", 5, &ack));
    FDY_CHECK_EQ(ack.duplicate, 1);
    FDY_CHECK_EQ(ack.seq, 1);
    FDY_CHECK_OK(foundry_client_publish(client, subject, "new", 3, "new-1", 5, &ack));
    FDY_CHECK_EQ(ack.duplicate, 0);
    FDY_CHECK_EQ(ack.seq, 3);
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));

    fdy_json_t *rows = s_read_stream(p, "telemetry-siheung", "1", "100");
    FDY_CHECK_EQ(fdy_proc_json_count(rows), 3);
    s_check_row(fdy_proc_json_at(rows, 0), 1, subject, "first", 5, "dup-1", "siheung-2");
    s_check_row(fdy_proc_json_at(rows, 1), 2, subject, "other", 5, "other-1", "siheung-2");
    s_check_row(fdy_proc_json_at(rows, 2), 3, subject, "new", 3, "new-1", "siheung-2");
    fdy_proc_json_destroy(&rows);

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_publish_large_payload_own_frame(void)
{
    fdy_proc_t *p = fdy_proc_new("large");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "pangyo-1", "--role", "node", "--site", "pangyo", NULL);
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "pangyo-1", NULL, &client));

    /* Over 64 KiB: the library sends it in its own frame. */
    size_t big_len = 300 * 1024;
    char *big = malloc(big_len);
    FDY_CHECK(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char) ('A' + (i * 7) % 26);
    foundry_ack_t ack;
    FDY_CHECK_OK(foundry_client_publish(client, "telemetry.pangyo.camera.frame", "small", 5,
                                        "small-1", 7, &ack));
    FDY_CHECK_EQ(ack.seq, 1);
    FDY_CHECK_OK(foundry_client_publish(client, "telemetry.pangyo.camera.frame", big, big_len,
                                        "big-1", 5, &ack));
    FDY_CHECK_EQ(ack.seq, 2);

    /* Over the broker's max_payload (1 MiB): refused for that message. */
    size_t huge_len = 1024 * 1024 + 1;
    char *huge = calloc(1, huge_len);
    FDY_CHECK(huge);
    FDY_CHECK_ERR(foundry_client_publish(client, "telemetry.pangyo.camera.frame", huge, huge_len,
                                         "huge-1", 6, &ack),
                  FOUNDRY_ETOOBIG);
    free(huge);
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));

    fdy_json_t *rows = s_read_stream(p, "telemetry-pangyo", "1", "10");
    FDY_CHECK_EQ(fdy_proc_json_count(rows), 2);
    s_check_row(fdy_proc_json_at(rows, 0), 1, "telemetry.pangyo.camera.frame", "small", 5,
                "small-1", "pangyo-1");
    s_check_row(fdy_proc_json_at(rows, 1), 2, "telemetry.pangyo.camera.frame", big, big_len,
                "big-1", "pangyo-1");
    fdy_proc_json_destroy(&rows);
    free(big);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_publish_ctl_pub_stdin_and_text(void)
{
    fdy_proc_t *p = fdy_proc_new("ctlpub");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));

    const char *lines = "alpha\nbeta\ngamma with spaces\n";
    fdy_proc_ctl_opts_t opts = {.stdin_data = lines, .stdin_len = strlen(lines)};
    const char *argv[] = {"pub", "telemetry.bucheon.line", NULL};
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, argv, &run));
    FDY_CHECK_RUN(&run, 0);
    /* One "stream seq" line per message, in order. */
    char *save = NULL;
    int count = 0;
    for (char *line = strtok_r(run.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char stream[64];
        unsigned long long seq = 0;
        FDY_CHECK_MSG(sscanf(line, "%63s %llu", stream, &seq) == 2, "pub printed \"%s\"", line);
        FDY_CHECK_STR(stream, "telemetry-bucheon");
        FDY_CHECK_EQ(seq, count + 1);
        count++;
    }
    FDY_CHECK_EQ(count, 3);
    fdy_proc_run_clear(&run);

    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "telemetry.bucheon.line", "delta", NULL));
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(strstr(run.out, "telemetry-bucheon 4") != NULL, "pub TEXT printed \"%s\"",
                  run.out);
    fdy_proc_run_clear(&run);

    /* No stream captures this subject: a one-line runtime error. */
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "pub", "nowhere.at.all", "x", NULL));
    FDY_CHECK_RUN(&run, 1);
    FDY_CHECK_MSG(fdy_proc_one_line(run.err, run.err_len), "stderr: %s", run.err);
    fdy_proc_run_clear(&run);

    fdy_json_t *rows = s_read_stream(p, "telemetry-bucheon", "1", "100");
    FDY_CHECK_EQ(fdy_proc_json_count(rows), 4);
    const char *want[] = {"alpha", "beta", "gamma with spaces", "delta"};
    for (size_t i = 0; i < 4; i++) {
        const fdy_json_t *row = fdy_proc_json_at(rows, i);
        int64_t seq = 0;
        FDY_CHECK(fdy_proc_json_int(fdy_proc_json_get(row, "seq"), &seq));
        FDY_CHECK_EQ(seq, (int64_t) i + 1);
        FDY_CHECK_STR(fdy_proc_json_str(fdy_proc_json_get(row, "subject"), NULL),
                      "telemetry.bucheon.line");
        FDY_CHECK_STR(fdy_proc_json_str(fdy_proc_json_get(row, "publisher"), NULL), "admin");
        size_t len = 0;
        uint8_t *payload = fdy_proc_json_bytes(fdy_proc_json_get(row, "payload"), &len);
        FDY_CHECK(payload);
        bool same = len == strlen(want[i]) && memcmp(payload, want[i], len) == 0;
        FDY_CHECK_MSG(same, "row %zu payload \"%s\", want \"%s\"", i, (char *) payload, want[i]);
        free(payload);
    }
    fdy_proc_json_destroy(&rows);
    fdy_proc_check_stream_count(p, "telemetry-bucheon", 4);

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A partner over its role's rate limit gets ERATE for the messages over
 * budget, which are not stored; a key's own limit replaces its role's. */
static void
test_publish_rate_limit(void)
{
    fdy_proc_t *p = fdy_proc_new("rate");
    const char *extra[] = {"--set", "rate_msgs_partner=20", NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(p, extra));
    fdy_json_t *json = fdy_proc_ctl_json(p, (const char *const[]){"stream", "add", "acme",
                                                                  "--subject", "acme.>", NULL});
    fdy_proc_json_destroy(&json);
    fdy_proc_key_add(p, "acme", "--role", "partner", "--tenant", "acme", "--allow-publish",
                     "acme.>", NULL);
    fdy_proc_key_add(p, "acme-bulk", "--role", "partner", "--tenant", "acme", "--allow-publish",
                     "acme.>", "--rate-msgs", "100000", NULL);
    const char *names[] = {"acme", "acme-bulk"};
    int accepted[2] = {0, 0}, refused[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        foundry_client_t *client = NULL;
        FDY_CHECK_OK(fdy_proc_client_new(p, names[k], NULL, &client));
        for (int i = 0; i < 200; i++) {
            char id[32];
            snprintf(id, sizeof id, "%s-%d", names[k], i);
            foundry_ack_t ack;
            foundry_err err =
                foundry_client_publish(client, "acme.line", "x", 1, id, strlen(id), &ack);
            FDY_CHECK_MSG(err == FOUNDRY_OK || err == FOUNDRY_ERATE, "publish %d: %s", i,
                          foundry_strerror(err));
            if (err == FOUNDRY_OK)
                accepted[k]++;
            else
                refused[k]++;
        }
        FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));
    }
    /* A burst of one second's worth passes, then ERATE (a little refills
     * while the 200 round trips run). */
    FDY_CHECK_MSG(accepted[0] >= 20 && accepted[0] < 120 && refused[0] > 0,
                  "acme: %d accepted, %d refused at 20 msgs/s", accepted[0], refused[0]);
    FDY_CHECK_EQ(accepted[1], 200);
    fdy_proc_check_stream_count(p, "acme", accepted[0] + accepted[1]);
    json = fdy_proc_ctl_json(p, (const char *const[]){"status", NULL});
    int64_t rate_refused = -1;
    FDY_CHECK(fdy_proc_json_int(fdy_proc_json_get(json, "rate_refused"), &rate_refused));
    FDY_CHECK_EQ(rate_refused, refused[0]);
    fdy_proc_json_destroy(&json);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"publish_10000_pipelined_read_back", test_publish_10000_pipelined_read_back},
        {"duplicate_id_acked_with_original_seq", test_publish_duplicate_id_acked_with_original_seq},
        {"large_payload_own_frame", test_publish_large_payload_own_frame},
        {"ctl_pub_stdin_and_text", test_publish_ctl_pub_stdin_and_text},
        {"rate_limit", test_publish_rate_limit},
    };
    return fdy_proc_run_tests("publish", tests, sizeof tests / sizeof tests[0], argc, argv);
}
