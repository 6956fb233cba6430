/*  test_bounds.c: one misbehaving connection costs the broker a bounded
 *  amount of memory, and the memory comes back when it goes. Raw CURVE
 *  DEALERs play the abuser against the real broker: one sends 1 MiB
 *  publishes and never reads its replies; one holds many subscriptions with
 *  full credit and never reads its deliveries. A well-behaved client keeps
 *  being served throughout (latency is the bench's business: foundry-bench
 *  --noisy).
 */
#include "proc.h"
#include "raw.h"

#include "arena.h"
#include "clock.h"

#include <inttypes.h>
#include <zmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

#define BIG_PAYLOAD (1024 * 1024)
#define FLOOD_REQUESTS 1500   /* 1.5 GiB offered, far over any bound */
#define FLOOD_DEADLINE_MS 60000
/* What the broker may hold for one abuser, counted from the RSS it had
 * before: its queued requests (max_queued_requests, 64 by default, of
 * 1 MiB here) or its send queue (max_send_queue_bytes, 8 MiB), with room
 * for the allocator. Before the bounds a flooder took it to 1.9 GB and
 * 32 unread tails to 1.0 GB. */
#define BROKER_GROWTH_MAX_KIB (160 * 1024)
/* What it may keep once the abuser is gone (pools, caches, the heap's
 * slack). */
#define BROKER_KEPT_MAX_KIB (64 * 1024)

/* Under AddressSanitizer the broker's RSS is ASan's (shadow memory, a
 * 256 MB quarantine of freed blocks): the bounds are checked in the normal
 * build, the behaviour in both. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_CHECKED false
#else
#define RSS_CHECKED true
#endif

/* VmRSS or VmHWM of pid in KiB (0 when unreadable). */
static uint64_t
s_proc_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    uint64_t kib = 0;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, flen) == 0 && line[flen] == ':')
            kib = strtoull(line + flen + 1, NULL, 10);
    fclose(f);
    return kib;
}

/* One window-1 publish through the library: the well-behaved client. */
static void
s_publish_one(foundry_client_t *client, const char *subject, int i)
{
    char id[32], payload[32];
    snprintf(id, sizeof id, "good-%d", i);
    snprintf(payload, sizeof payload, "g%d", i);
    foundry_ack_t ack;
    foundry_err err = foundry_client_publish(client, subject, payload, strlen(payload), id,
                                             strlen(id), &ack);
    FDY_CHECK_MSG(err == FOUNDRY_OK, "good client publish %d: %s (%s)", i, foundry_strerror(err),
                  ack.reason ? ack.reason : "");
}

/* Once the abuser is gone, the broker (still serving good) gives its
 * memory back: RSS within BROKER_KEPT_MAX_KIB of base_kib. */
static void
s_check_given_back(pid_t pid, foundry_client_t *good, uint64_t base_kib, const char *who)
{
    fdy_proc_nap_ms(1500);   /* past the heap trim, at most once a second */
    s_publish_one(good, "telemetry.siheung.good", 1000000);
    uint64_t after_kib = s_proc_kib(pid, "VmRSS");
    fprintf(stderr, "  broker RSS %" PRIu64 " KiB after the %s left\n", after_kib, who);
    FDY_CHECK_MSG(!RSS_CHECKED || after_kib < base_kib + BROKER_KEPT_MAX_KIB,
                  "broker kept %" PRIu64 " KiB after the %s left (had %" PRIu64 ")", after_kib,
                  who, base_kib);
}

/* A client that sends 1 MiB publishes without reading a single reply is
 * held to a bounded cost: libzmq stops reading it (queued requests), its
 * replies stop at its byte budget, and another client is served meanwhile.
 * When it goes, the broker gives the memory back. */
static void
test_bounds_flood_without_reading(void)
{
    fdy_proc_t *p = fdy_proc_new("flood");
    FDY_CHECK_OK(fdy_proc_broker_start(p, ARGV("--set", "rate_bytes_node=1GiB", "--set", "rate_msgs_node=1000000")));
    fdy_proc_key_add(p, "flooder", "--role", "node", "--site", "hanam", NULL);
    pid_t pid = fdy_proc_broker_pid(p);
    foundry_client_t *good = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &good));
    s_publish_one(good, "telemetry.siheung.good", 0);
    uint64_t base_kib = s_proc_kib(pid, "VmRSS");

    fdy_proc_dealer_t *flooder = NULL;
    FDY_CHECK_OK(fdy_proc_dealer_new(p, "flooder", &flooder));
    char *payload = malloc(BIG_PAYLOAD);
    FDY_CHECK(payload);
    memset(payload, 'x', BIG_PAYLOAD);
    int sent = 0, good_sent = 1;
    int64_t deadline = fdy_clock_mono_ms() + FLOOD_DEADLINE_MS;
    while (sent < FLOOD_REQUESTS && fdy_clock_mono_ms() < deadline) {
        char id[32];
        snprintf(id, sizeof id, "flood-%d", sent);
        size_t rec_len = 0;
        uint8_t *rec = fdy_proc_encode_msg("telemetry.hanam.flood", id, payload, BIG_PAYLOAD,
                                           &rec_len);
        fdy_slice_t record = {rec, rec_len};
        uint8_t *env = NULL, *batch = NULL;
        size_t env_len = 0, batch_len = 0;
        fdy_proc_encode_publish((uint64_t) sent + 1, 1, &record, 1, &env, &env_len, &batch,
                                &batch_len);
        fdy_slice_t frames[2] = {{env, env_len}, {batch, batch_len}};
        foundry_err err = fdy_proc_dealer_send(flooder, frames, 2);
        free(rec);
        free(env);
        free(batch);
        if (err != FOUNDRY_OK)
            break;   /* the broker stopped reading us: the bound at work */
        sent++;
        if (sent % 50 == 0)
            s_publish_one(good, "telemetry.siheung.good", good_sent++);
    }
    free(payload);
    for (int i = 0; i < 20; i++)
        s_publish_one(good, "telemetry.siheung.good", good_sent++);
    uint64_t peak_kib = s_proc_kib(pid, "VmHWM");
    fprintf(stderr, "  flooder sent %d of %d 1 MiB publishes; broker RSS %" PRIu64
                    " KiB before, peak %" PRIu64 " KiB\n",
            sent, FLOOD_REQUESTS, base_kib, peak_kib);
    FDY_CHECK_MSG(!RSS_CHECKED || peak_kib < base_kib + BROKER_GROWTH_MAX_KIB,
                  "broker peak RSS %" PRIu64 " KiB: grew by more than %d KiB", peak_kib,
                  BROKER_GROWTH_MAX_KIB);
    fdy_proc_dealer_destroy(&flooder);
    s_check_given_back(pid, good, base_kib, "flooder");
    FDY_CHECK_OK(foundry_client_close(&good, 5000, NULL));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

#define TAILS 32
#define TAIL_MESSAGES 200
#define TAIL_PAYLOAD (256 * 1024)

/* 32 tails with all the credit a connection may hold, on a connection
 * that never reads: what the broker queues for it stops at its send queue
 * (max_send_queue_bytes), the rest is dropped as for any tail without
 * room, and the memory comes back when the client goes. Before the send
 * queue, all 32 x 200 x 256 KiB (1.6 GB) was queued in libzmq: the broker
 * peaked at 1.0 GB. */
static void
test_bounds_subscriber_never_reads(void)
{
    fdy_proc_t *p = fdy_proc_new("noread");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    pid_t pid = fdy_proc_broker_pid(p);
    foundry_client_t *good = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &good));
    s_publish_one(good, "telemetry.siheung.good", 0);
    uint64_t base_kib = s_proc_kib(pid, "VmRSS");

    fdy_raw_t slow;
    fdy_raw_open_slow(p, "admin", &slow);
    for (int i = 0; i < TAILS; i++) {
        fdy_envelope_t env = {0};
        env.kind = FDY_KIND_SUBSCRIBE;
        env.sub_filter = "telemetry.hanam.>";
        env.credit_msgs = 4096; /* 32 x 4,096: all a connection may hold */
        uint64_t id = fdy_raw_send(&slow, &env);
        fdy_raw_msg_t *reply = calloc(1, sizeof *reply);
        FDY_CHECK(reply);
        fdy_raw_reply(&slow, id, 0, reply, NULL);
        FDY_CHECK_MSG(reply->kind == FDY_KIND_SUBSCRIBED, "tail %d: kind %d %s", i,
                      (int) reply->kind, reply->reason);
        free(reply);
    }
    char *payload = malloc(TAIL_PAYLOAD);
    FDY_CHECK(payload);
    memset(payload, 'y', TAIL_PAYLOAD);
    for (int i = 0; i < TAIL_MESSAGES; i++) {
        char id[32];
        snprintf(id, sizeof id, "big-%d", i);
        foundry_ack_t ack;
        FDY_CHECK_OK(foundry_client_publish(good, "telemetry.hanam.big", payload, TAIL_PAYLOAD,
                                            id, strlen(id), &ack));
    }
    free(payload);
    s_publish_one(good, "telemetry.siheung.good", 1);
    uint64_t peak_kib = s_proc_kib(pid, "VmHWM");
    uint64_t pauses = fdy_proc_status_int(p, "send_queue_pauses");
    uint64_t dropped = fdy_proc_status_int(p, "dropped");
    fprintf(stderr, "  broker RSS %" PRIu64 " KiB before, peak %" PRIu64 " KiB; %" PRIu64
                    " send-queue pauses, %" PRIu64 " tail deliveries dropped\n",
            base_kib, peak_kib, pauses, dropped);
    FDY_CHECK_MSG(!RSS_CHECKED || peak_kib < base_kib + BROKER_GROWTH_MAX_KIB,
                  "broker peak RSS %" PRIu64 " KiB: grew by more than %d KiB", peak_kib,
                  BROKER_GROWTH_MAX_KIB);
    FDY_CHECK(pauses > 0);
    FDY_CHECK(dropped > 0);
    fdy_raw_close(&slow);
    s_check_given_back(pid, good, base_kib, "reader");
    FDY_CHECK_OK(foundry_client_close(&good, 5000, NULL));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

#define KEY_CONNECTIONS 3
#define HANDSHAKE_EVENTS (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

/* A PING over raw that must be answered: binds its connection to the key. */
static void
s_ping(fdy_raw_t *raw)
{
    fdy_envelope_t ping = {0};
    ping.kind = FDY_KIND_PING;
    uint64_t id = fdy_raw_send(raw, &ping);
    fdy_raw_msg_t *reply = calloc(1, sizeof *reply);
    FDY_CHECK(reply);
    FDY_CHECK_OK(fdy_raw_next(raw, FDY_RAW_REPLY_TIMEOUT_MS, reply));
    FDY_CHECK_MSG(reply->kind == FDY_KIND_PONG && reply->request_id == id, "kind %d",
                  (int) reply->kind);
    free(reply);
}

/* One key holds at most max_connections_per_principal connections: the
 * handshake of one more is refused (400), another key is not affected,
 * and closing one makes room. */
static void
test_bounds_connections_per_key(void)
{
    fdy_proc_t *p = fdy_proc_new("conns");
    char limit[64];
    snprintf(limit, sizeof limit, "max_connections_per_principal=%d", KEY_CONNECTIONS);
    FDY_CHECK_OK(fdy_proc_broker_start(p, ARGV("--set", limit)));
    fdy_proc_key_add(p, "many", "--role", "node", "--site", "hanam", NULL);
    fdy_raw_t conns[KEY_CONNECTIONS];
    for (int i = 0; i < KEY_CONNECTIONS; i++) {
        fdy_raw_open(p, "many", NULL, &conns[i]);
        s_ping(&conns[i]);
    }
    fdy_raw_t extra;
    fdy_raw_open(p, "many", NULL, &extra);
    int value = 0;
    int event = fdy_proc_dealer_wait_event(extra.dealer, HANDSHAKE_EVENTS, 10000, &value);
    FDY_CHECK_MSG(event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == 400,
                  "connection %d of the key: event 0x%x (value %d), want a 400 refusal",
                  KEY_CONNECTIONS + 1, event, value);
    fdy_raw_close(&extra);
    FDY_CHECK(fdy_proc_log_count(p, "max_connections_per_principal") > 0);

    fdy_raw_t other;
    fdy_raw_open(p, "admin", NULL, &other);   /* another key: served */
    s_ping(&other);
    fdy_raw_close(&other);

    fdy_raw_close(&conns[0]);
    int64_t deadline = fdy_clock_mono_ms() + 10000;
    bool served = false;
    while (!served && fdy_clock_mono_ms() < deadline) {
        fdy_raw_open(p, "many", NULL, &extra);
        event = fdy_proc_dealer_wait_event(extra.dealer, HANDSHAKE_EVENTS, 10000, &value);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            s_ping(&extra);
            served = true;
        } else {
            fdy_proc_nap_ms(100);   /* the close may not have reached the broker yet */
        }
        fdy_raw_close(&extra);
    }
    FDY_CHECK_MSG(served, "no room for the key after one of its connections closed");
    for (int i = 1; i < KEY_CONNECTIONS; i++)
        fdy_raw_close(&conns[i]);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* One PUBLISH request of a single 1 MiB message on subject, made of
 * fill bytes: frames[0] the envelope, frames[1] the batch. */
typedef struct {
    uint8_t *record, *envelope, *batch;
    fdy_slice_t frames[2];
} big_request_t;

static void
s_big_request(big_request_t *self, const char *subject, char fill)
{
    char *payload = malloc(BIG_PAYLOAD);
    FDY_CHECK(payload);
    memset(payload, fill, BIG_PAYLOAD);
    size_t record_len = 0;
    self->record = fdy_proc_encode_msg(subject, "big", payload, BIG_PAYLOAD, &record_len);
    free(payload);
    fdy_slice_t record = {self->record, record_len};
    size_t envelope_len = 0, batch_len = 0;
    fdy_proc_encode_publish(1, 1, &record, 1, &self->envelope, &envelope_len, &self->batch,
                            &batch_len);
    self->frames[0] = (fdy_slice_t){self->envelope, envelope_len};
    self->frames[1] = (fdy_slice_t){self->batch, batch_len};
}

static void
s_big_request_free(big_request_t *self)
{
    free(self->record);
    free(self->envelope);
    free(self->batch);
}

#define RATE_FLOOD_REQUESTS 200

/* A key that goes on sending 1 MiB publishes far over its rate limit
 * (4 MiB/s here: past the 16 MiB floor within a second) floods: the
 * broker closes its connection and refuses its handshakes for
 * rate_flood_backoff with ZAP status 500, which libfoundry takes as "wait"
 * rather than "key refused" (400): it gets in once the backoff is over. Another
 * client is served throughout. */
static void
test_bounds_flood_over_rate_closed(void)
{
    fdy_proc_t *p = fdy_proc_new("rateflood");
    FDY_CHECK_OK(fdy_proc_broker_start(
        p, ARGV("--set", "rate_bytes_node=4MiB", "--set", "rate_flood_backoff=3s")));
    fdy_proc_key_add(p, "flooder", "--role", "node", "--site", "hanam", NULL);
    foundry_client_t *good = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &good));
    s_publish_one(good, "telemetry.siheung.good", 0);

    big_request_t request;
    s_big_request(&request, "telemetry.hanam.flood", 'f');
    const fdy_slice_t *frames = request.frames;
    fdy_proc_dealer_t *flooder = NULL;
    FDY_CHECK_OK(fdy_proc_dealer_new(p, "flooder", &flooder));
    int send_timeout = 200;   /* once closed, its sends block: not for the backoff's length */
    FDY_CHECK_EQ(zmq_setsockopt(flooder->socket, ZMQ_SNDTIMEO, &send_timeout, sizeof send_timeout),
                 0);
    int sent = 0, good_sent = 1;
    while (sent < RATE_FLOOD_REQUESTS && fdy_proc_dealer_send(flooder, frames, 2) == FOUNDRY_OK) {
        if (++sent % 20 == 0)
            s_publish_one(good, "telemetry.siheung.good", good_sent++);
    }
    s_big_request_free(&request);
    uint64_t floods = 0;
    for (int i = 0; i < 100 && floods == 0; i++) {
        floods = fdy_proc_status_int(p, "rate_floods");
        if (floods == 0)
            fdy_proc_nap_ms(100);
    }
    fprintf(stderr, "  flooder got %d 1 MiB publishes out; %" PRIu64 " flood(s) found\n", sent,
            floods);
    FDY_CHECK_EQ(floods, 1);
    FDY_CHECK_EQ(fdy_proc_log_count(p, "RATE-FLOOD"), 1);
    FDY_CHECK_MSG(fdy_proc_log_count(p, "1 connection(s) closed") == 1,
                  "the flood log line does not name the closed connection");
    for (int i = 0; i < 20; i++)
        s_publish_one(good, "telemetry.siheung.good", good_sent++);

    /* The same key, through the library, while the backoff lasts. */
    foundry_client_opts_t opts;
    foundry_client_opts_init(&opts);
    opts.connect_timeout_ms = 500;
    foundry_client_t *again = NULL;
    FDY_CHECK_EQ(fdy_proc_client_new(p, "flooder", &opts, &again), FOUNDRY_ETIMEDOUT);
    FDY_CHECK_MSG(strstr(foundry_client_last_error(NULL), "ZAP status 500") != NULL,
                  "while backing off: %s", foundry_client_last_error(NULL));
    FDY_CHECK(fdy_proc_log_count(p, "AUTH-BACKOFF") >= 1);
    /* It keeps trying and gets in when the backoff is over. */
    opts.connect_timeout_ms = 10000;
    FDY_CHECK_OK(fdy_proc_client_new(p, "flooder", &opts, &again));
    foundry_ack_t ack;
    FDY_CHECK_OK(foundry_client_publish(again, "telemetry.hanam.after", "ok", 2, "after-1", 7,
                                        &ack));
    FDY_CHECK_OK(foundry_client_close(&again, 5000, NULL));
    fdy_proc_dealer_destroy(&flooder);
    s_publish_one(good, "telemetry.siheung.good", good_sent++);
    FDY_CHECK_OK(foundry_client_close(&good, 5000, NULL));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

#define LIBRARY_FLOOD_MS 1500

/* A libfoundry client that ignores ERATE and goes on publishing 1 MiB
 * messages is closed like any flooder; the same client object then waits
 * out the backoff (its blocking publish returns ETIMEDOUT, or OK once the
 * resend is acknowledged), and goes on publishing once it is over. What
 * it was told was stored is stored, once. */
static void
test_bounds_library_flooder_recovers(void)
{
    fdy_proc_t *p = fdy_proc_new("libflood");
    FDY_CHECK_OK(fdy_proc_broker_start(
        p, ARGV("--set", "rate_bytes_node=4MiB", "--set", "rate_flood_backoff=2s")));
    fdy_proc_key_add(p, "hanam-1", "--role", "node", "--site", "hanam", NULL);
    foundry_client_opts_t opts;
    foundry_client_opts_init(&opts);
    opts.ack_timeout_ms = 1000;
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "hanam-1", &opts, &client));
    char *payload = malloc(BIG_PAYLOAD);
    FDY_CHECK(payload);
    memset(payload, 'l', BIG_PAYLOAD);
    int stored = 0, refused = 0, timed_out = 0, i = 0;
    int64_t end = fdy_clock_mono_ms() + LIBRARY_FLOOD_MS;
    while (fdy_clock_mono_ms() < end) {
        char id[32];
        snprintf(id, sizeof id, "lib-%d", i++);
        foundry_ack_t ack;
        foundry_err err = foundry_client_publish(client, "telemetry.hanam.lib", payload,
                                                 BIG_PAYLOAD, id, strlen(id), &ack);
        if (err == FOUNDRY_OK)
            stored += ack.duplicate ? 0 : 1;
        else if (err == FOUNDRY_ERATE)
            refused++;
        else if (err == FOUNDRY_ETIMEDOUT)
            timed_out++;
        else
            FDY_CHECK_MSG(false, "publish %d: %s: %s", i, foundry_strerror(err),
                          foundry_client_last_error(client));
    }
    free(payload);
    fprintf(stderr, "  %d publishes: %d stored, %d refused (ERATE), %d timed out\n", i, stored,
            refused, timed_out);
    FDY_CHECK_EQ(fdy_proc_status_int(p, "rate_floods"), 1);
    /* Past the backoff the same client is back and publishes. */
    fdy_proc_nap_ms(3000);   /* the 2 s backoff, and a reconnect after it */
    foundry_ack_t ack;
    FDY_CHECK_OK(foundry_client_publish(client, "telemetry.hanam.lib", "after", 5, "lib-after", 9,
                                        &ack));
    FDY_CHECK_OK(foundry_client_close(&client, 5000, NULL));
    /* Every acknowledged message once; a timed-out one may have been
     * stored before the close (its resend is then a duplicate). */
    int64_t count = (int64_t) fdy_proc_status_int(p, "messages");
    FDY_CHECK_MSG(count >= stored + 1 && count <= stored + 1 + timed_out,
                  "%" PRId64 " messages stored, %d acknowledged, %d timed out", count, stored + 1,
                  timed_out);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

#define RESET_ROUNDS 12
#define RESET_REQUESTS 150

/* Clients that fill their queued requests (max_queued_requests) with
 * 1 MiB publishes and then vanish with a reset, round after round: the
 * broker keeps serving. With ZMTP heartbeats on, libzmq 4.3.4 aborted the
 * broker here (assertion !_io_error in its heartbeat timer). */
static void
test_bounds_resets_while_input_stopped(void)
{
    fdy_proc_t *p = fdy_proc_new("resets");
    FDY_CHECK_OK(fdy_proc_broker_start(
        p, ARGV("--set", "rate_bytes_node=1GiB", "--set", "rate_msgs_node=1000000", "--set",
                "max_queued_requests=16")));
    fdy_proc_key_add(p, "resetter", "--role", "node", "--site", "hanam", NULL);
    big_request_t request;
    s_big_request(&request, "telemetry.hanam.reset", 'r');
    const fdy_slice_t *frames = request.frames;
    for (int round = 0; round < RESET_ROUNDS; round++) {
        fdy_proc_dealer_t *dealer = NULL;
        FDY_CHECK_OK(fdy_proc_dealer_new_slow(p, "resetter", &dealer));
        for (int i = 0; i < RESET_REQUESTS; i++)
            if (fdy_proc_dealer_send(dealer, frames, 2) != FOUNDRY_OK)
                break;
        fdy_proc_nap_ms(round % 4 * 250);   /* vanish at different points */
        fdy_proc_dealer_destroy(&dealer);    /* linger 0, replies unread: a reset */
        FDY_CHECK_MSG(fdy_proc_broker_alive(p), "the broker died in round %d", round);
    }
    s_big_request_free(&request);
    fdy_proc_nap_ms(2500);   /* past any timer of the last connection */
    FDY_CHECK_MSG(fdy_proc_broker_alive(p), "the broker died after the resets");
    foundry_client_t *good = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &good));
    s_publish_one(good, "telemetry.siheung.good", 0);
    FDY_CHECK_OK(foundry_client_close(&good, 5000, NULL));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"flood_without_reading", test_bounds_flood_without_reading},
        {"subscriber_never_reads", test_bounds_subscriber_never_reads},
        {"connections_per_key", test_bounds_connections_per_key},
        {"resets_while_input_stopped", test_bounds_resets_while_input_stopped},
        {"flood_over_rate_closed", test_bounds_flood_over_rate_closed},
        {"library_flooder_recovers", test_bounds_library_flooder_recovers},
    };
    return fdy_proc_run_tests("bounds", tests, sizeof tests / sizeof tests[0], argc, argv);
}
