/*  test_dedupe.c: the dedupe index's scope end to end, over real CURVE
 *  connections to the real broker: two principals publishing the same ids
 *  each get their own seqs, a partner can neither suppress a node's samples
 *  nor learn whether it used an id, and a resend routed to another stream is
 *  acked with that stream and one of its seqs.
 */
#include "proc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* What an ack said, copied out (the library's strings are borrowed). */
typedef struct {
    char stream[80];
    uint64_t seq;
    int duplicate;
} s_ack_t;

/* Blocking publish of TEXT with id ID; returns the ack (fails on error). */
static s_ack_t
s_pub(foundry_client_t *client, const char *subject, const char *text, const char *id)
{
    foundry_ack_t ack;
    foundry_err err =
        foundry_client_publish(client, subject, text, strlen(text), id, strlen(id), &ack);
    FDY_CHECK_MSG(err == FOUNDRY_OK, "publish %s to %s: %s: %s", id, subject, foundry_strerror(err),
                  ack.reason ? ack.reason : "");
    s_ack_t out = {.seq = ack.seq, .duplicate = ack.duplicate};
    snprintf(out.stream, sizeof out.stream, "%s", ack.stream ? ack.stream : "");
    return out;
}

/* Evaluates ack once: stream, seq and duplicate flag as wanted. */
#define CHECK_ACK(ack, want_stream, want_seq, want_duplicate)                                      \
    do {                                                                                           \
        s_ack_t check_ack_ = (ack);                                                                \
        FDY_CHECK_STR(check_ack_.stream, (want_stream));                                           \
        FDY_CHECK_EQ(check_ack_.seq, (want_seq));                                                  \
        FDY_CHECK_EQ(check_ack_.duplicate, (want_duplicate));                                      \
    } while (0)

/* Row i of `stream read --json` must be id ID from PUBLISHER. */
static void
s_check_row(const fdy_json_t *rows, size_t i, const char *id, const char *publisher)
{
    const fdy_json_t *row = fdy_proc_json_at(rows, i);
    FDY_CHECK_MSG(row, "no row %zu", i);
    FDY_CHECK_STR(fdy_proc_json_str(fdy_proc_json_get(row, "publisher"), NULL), publisher);
    size_t len = 0;
    uint8_t *got = fdy_proc_json_bytes(fdy_proc_json_get(row, "id"), &len);
    bool same = got && len == strlen(id) && memcmp(got, id, len) == 0;
    FDY_CHECK_MSG(same, "row %zu: id \"%s\", want \"%s\"", i, got ? (char *) got : "?", id);
    free(got);
}

typedef struct {
    size_t acked;
    size_t failed;
    size_t duplicates;
    uint64_t seqs[10];
} s_acks_t;

static void
s_on_ack(const foundry_ack_t *ack, void *user)
{
    s_acks_t *acks = user;
    size_t i = (size_t) (uintptr_t) ack->user;
    if (ack->err != FOUNDRY_OK || i >= 10) {
        acks->failed++;
        return;
    }
    acks->seqs[i] = ack->seq;
    acks->duplicates += ack->duplicate ? 1 : 0;
    acks->acked++;
}

static void
test_dedupe_two_principals_same_ids_own_seqs(void)
{
    fdy_proc_t *p = fdy_proc_new("dedupe-two");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "siheung-a", "--role", "node", "--site", "siheung", NULL);
    fdy_proc_key_add(p, "siheung-b", "--role", "node", "--site", "siheung", NULL);
    foundry_client_t *a = NULL, *b = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "siheung-a", NULL, &a));
    FDY_CHECK_OK(fdy_proc_client_new(p, "siheung-b", NULL, &b));
    const char *subject = "telemetry.siheung.line1.temp";

    /* Alternating, one at a time: each gets the next seq, none a duplicate. */
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "s-%d", i);
        CHECK_ACK(s_pub(a, subject, "from a", id), "telemetry-siheung", 2 * i + 1, 0);
        CHECK_ACK(s_pub(b, subject, "from b", id), "telemetry-siheung", 2 * i + 2, 0);
    }
    /* Pipelined from both at once, so the same ids share broker turns. */
    s_acks_t got_a = {0}, got_b = {0};
    FDY_CHECK_OK(foundry_client_set_ack_handler(a, s_on_ack, &got_a));
    FDY_CHECK_OK(foundry_client_set_ack_handler(b, s_on_ack, &got_b));
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "t-%d", i);
        FDY_CHECK_OK(foundry_client_publish_async(a, subject, "a", 1, id, strlen(id),
                                                  (void *) (uintptr_t) i));
        FDY_CHECK_OK(foundry_client_publish_async(b, subject, "b", 1, id, strlen(id),
                                                  (void *) (uintptr_t) i));
    }
    FDY_CHECK_OK(foundry_client_flush(a, 20000));
    FDY_CHECK_OK(foundry_client_flush(b, 20000));
    FDY_CHECK_EQ(got_a.acked, 10);
    FDY_CHECK_EQ(got_b.acked, 10);
    FDY_CHECK_EQ(got_a.failed + got_b.failed, 0);
    FDY_CHECK_EQ(got_a.duplicates + got_b.duplicates, 0);
    for (int i = 0; i < 10; i++)
        FDY_CHECK_MSG(got_a.seqs[i] != got_b.seqs[i] && got_a.seqs[i] > 10 && got_b.seqs[i] > 10,
                      "t-%d: seq %" PRIu64 " and %" PRIu64, i, got_a.seqs[i], got_b.seqs[i]);
    fdy_proc_check_stream_count(p, "telemetry-siheung", 30);

    /* Each one's resend is its own duplicate, with its own original seq. */
    CHECK_ACK(s_pub(a, subject, "again", "s-3"), "telemetry-siheung", 7, 1);
    CHECK_ACK(s_pub(b, subject, "again", "s-3"), "telemetry-siheung", 8, 1);
    fdy_proc_check_stream_count(p, "telemetry-siheung", 30);
    FDY_CHECK_OK(foundry_client_close(&a, 5000, NULL));
    FDY_CHECK_OK(foundry_client_close(&b, 5000, NULL));

    fdy_json_t *rows = fdy_proc_ctl_json(
        p, ARGV("stream", "read", "telemetry-siheung", "--from", "7", "--count", "2"));
    FDY_CHECK_EQ(fdy_proc_json_count(rows), 2);
    s_check_row(rows, 0, "s-3", "siheung-a");
    s_check_row(rows, 1, "s-3", "siheung-b");
    fdy_proc_json_destroy(&rows);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* The reported attack: a partner that may read one of a node's subjects
 * sees its ids and publishes the next ones first, to its own subject and
 * to one inside the node's stream. */
static void
test_dedupe_partner_cannot_suppress_or_probe_node_ids(void)
{
    fdy_proc_t *p = fdy_proc_new("dedupe-partner");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "siheung-n", "--role", "node", "--site", "siheung", NULL);
    /* the stream first: key add refuses publish rights no stream captures */
    fdy_proc_run_t run;
    FDY_CHECK_OK(fdy_proc_ctl(p, &run, "stream", "add", "acme", "--subject", "acme.>", NULL));
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    fdy_proc_key_add(p, "acme", "--role", "partner", "--tenant", "acme", "--allow-publish",
                     "acme.>", "--allow-publish", "telemetry.siheung.acme.>", "--allow-subscribe",
                     "telemetry.siheung.robot1.>", NULL);
    foundry_client_t *node = NULL, *partner = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "siheung-n", NULL, &node));
    FDY_CHECK_OK(fdy_proc_client_new(p, "acme", NULL, &partner));
    const char *sample = "telemetry.siheung.robot1.temp";

    CHECK_ACK(s_pub(node, sample, "21.5", "n-1"), "telemetry-siheung", 1, 0);
    CHECK_ACK(s_pub(node, sample, "21.6", "n-2"), "telemetry-siheung", 2, 0);
    /* The node's next ids, taken first by the partner on its own subject. */
    CHECK_ACK(s_pub(partner, "acme.x", "x", "n-3"), "acme", 1, 0);
    CHECK_ACK(s_pub(partner, "acme.x", "x", "n-4"), "acme", 2, 0);
    /* Probing inside the node's stream: an id the node used and one it did
     * not get the same answer, a new message, never the node's seq 2. */
    s_ack_t used = s_pub(partner, "telemetry.siheung.acme.x", "probe", "n-2");
    s_ack_t unused = s_pub(partner, "telemetry.siheung.acme.x", "probe", "n-99");
    CHECK_ACK(used, "telemetry-siheung", 3, 0);
    CHECK_ACK(unused, "telemetry-siheung", 4, 0);
    CHECK_ACK(s_pub(partner, "telemetry.siheung.acme.x", "x", "n-5"), "telemetry-siheung", 5, 0);

    /* The node's next samples are stored, each with a seq of its own. */
    CHECK_ACK(s_pub(node, sample, "21.7", "n-3"), "telemetry-siheung", 6, 0);
    CHECK_ACK(s_pub(node, sample, "21.8", "n-4"), "telemetry-siheung", 7, 0);
    CHECK_ACK(s_pub(node, sample, "21.9", "n-5"), "telemetry-siheung", 8, 0);
    /* Its own resend is still recognised. */
    CHECK_ACK(s_pub(node, sample, "21.6", "n-2"), "telemetry-siheung", 2, 1);
    FDY_CHECK_OK(foundry_client_close(&node, 5000, NULL));
    FDY_CHECK_OK(foundry_client_close(&partner, 5000, NULL));

    fdy_proc_check_stream_count(p, "telemetry-siheung", 8);
    fdy_proc_check_stream_count(p, "acme", 2);
    fdy_json_t *rows = fdy_proc_ctl_json(
        p, ARGV("stream", "read", "telemetry-siheung", "--from", "6", "--count", "10"));
    FDY_CHECK_EQ(fdy_proc_json_count(rows), 3);
    s_check_row(rows, 0, "n-3", "siheung-n");
    s_check_row(rows, 1, "n-4", "siheung-n");
    s_check_row(rows, 2, "n-5", "siheung-n");
    fdy_proc_json_destroy(&rows);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_dedupe_resend_to_other_stream_acked_there(void)
{
    fdy_proc_t *p = fdy_proc_new("dedupe-route");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &client));

    CHECK_ACK(s_pub(client, "telemetry.pangyo.x", "p", "pre"), "telemetry-pangyo", 1, 0);
    CHECK_ACK(s_pub(client, "telemetry.siheung.x", "one", "r-1"), "telemetry-siheung", 1, 0);
    /* The same id by another subject: stored in the stream it routes to,
     * and acked with that stream's seq (2), not siheung's 1. */
    CHECK_ACK(s_pub(client, "telemetry.pangyo.x", "two", "r-1"), "telemetry-pangyo", 2, 0);
    CHECK_ACK(s_pub(client, "telemetry.siheung.x", "one", "r-1"), "telemetry-siheung", 1, 1);
    CHECK_ACK(s_pub(client, "telemetry.pangyo.y", "two", "r-1"), "telemetry-pangyo", 2, 1);
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));
    fdy_proc_check_stream_count(p, "telemetry-siheung", 1);
    fdy_proc_check_stream_count(p, "telemetry-pangyo", 2);

    /* Durable across a restart, with the same scope. */
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &client));
    CHECK_ACK(s_pub(client, "telemetry.pangyo.x", "two", "r-1"), "telemetry-pangyo", 2, 1);
    CHECK_ACK(s_pub(client, "telemetry.hanam.x", "three", "r-1"), "telemetry-hanam", 1, 0);
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"two_principals_same_ids_own_seqs", test_dedupe_two_principals_same_ids_own_seqs},
        {"partner_cannot_suppress_or_probe_node_ids",
         test_dedupe_partner_cannot_suppress_or_probe_node_ids},
        {"resend_to_other_stream_acked_there", test_dedupe_resend_to_other_stream_acked_there},
    };
    return fdy_proc_run_tests("dedupe", tests, sizeof tests / sizeof tests[0], argc, argv);
}
