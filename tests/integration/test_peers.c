/*  test_peers.c: per-connection state belongs to the connection and the
 *  authenticated principal, never to the routing id a client picks. Raw
 *  CURVE DEALERs with ZMQ_ROUTING_ID set play the victim and the attacker
 *  against the real broker: subscriptions end when their connection
 *  closes, nothing is ever delivered to another principal that re-uses the
 *  routing id, a queue group hands a closed member's messages to the others
 *  at once, and reply kinds sent as requests get EKIND.
 */
#include "proc.h"
#include "raw.h"

#include "arena.h"
#include "clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})
/* Far below the 30 s liveness timeout and the 60 s ack wait used here: a
 * hand-over seen before it can only come from noticing the disconnect. */
#define HANDOVER_DEADLINE_MS 8000

static void
s_ctl_ok(fdy_proc_t *p, const char *const *argv)
{
    fdy_json_t *json = fdy_proc_ctl_json(p, argv);
    fdy_proc_json_destroy(&json);
}

static void
s_publish(foundry_client_t *client, const char *subject, int first, int count)
{
    for (int i = first; i < first + count; i++) {
        char id[32], payload[32];
        snprintf(id, sizeof id, "peer-msg-%d", i);
        snprintf(payload, sizeof payload, "m%d", i);
        foundry_ack_t ack;
        FDY_CHECK_OK(foundry_client_publish(client, subject, payload, strlen(payload), id,
                                            strlen(id), &ack));
    }
}

/* An ephemeral SUBSCRIBE on filter; returns the subscription. */
static uint64_t
s_tail(fdy_raw_t *raw, const char *filter)
{
    fdy_envelope_t env = {0};
    env.kind = FDY_KIND_SUBSCRIBE;
    env.sub_filter = filter;
    env.credit_msgs = 100;
    uint64_t id = fdy_raw_send(raw, &env);
    fdy_raw_msg_t *reply = calloc(1, sizeof *reply);
    FDY_CHECK(reply);
    fdy_raw_reply(raw, id, 0, reply, NULL);
    FDY_CHECK_MSG(reply->kind == FDY_KIND_SUBSCRIBED, "tail %s: kind %d error %s: %s", filter,
                  (int) reply->kind, foundry_strerror(reply->error_code), reply->reason);
    uint64_t subscription = reply->subscription;
    free(reply);
    return subscription;
}

static void
test_peers_routing_id_reuse_gets_nothing(void)
{
    fdy_proc_t *p = fdy_proc_new("hijack");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_ctl_ok(p, ARGV("stream", "add", "plans", "--subject", "plans.>"));
    s_ctl_ok(p, ARGV("consumer", "add", "plans", "reader", "--ack-wait", "60s"));
    fdy_proc_key_add(p, "mallory", "--role", "partner", "--tenant", "mallory", NULL);

    /* The victim, an admin, subscribes durably and ephemerally, then
     * closes its socket without UNSUBSCRIBE. */
    fdy_raw_t victim;
    fdy_raw_open(p, "admin", "shared-id", &victim);
    fdy_raw_seqs_t *got = calloc(1, sizeof *got);
    FDY_CHECK(got);
    fdy_raw_subscribe(&victim, "plans", "reader", 100, got);
    s_tail(&victim, "plans.>");
    FDY_CHECK_EQ(fdy_proc_status_int(p, "subscriptions"), 2);
    fdy_raw_close(&victim);

    /* Its subscriptions end with its connection, not 30 s later. */
    int64_t deadline = fdy_clock_mono_ms() + HANDOVER_DEADLINE_MS;
    while (fdy_proc_status_int(p, "subscriptions") != 0 && fdy_clock_mono_ms() < deadline)
        fdy_proc_nap_ms(50);
    FDY_CHECK_EQ(fdy_proc_status_int(p, "subscriptions"), 0);

    /* The attacker re-uses the routing id; its own SUBSCRIBE is denied. */
    fdy_raw_t mallory;
    fdy_raw_open(p, "mallory", "shared-id", &mallory);
    fdy_envelope_t env = {0};
    env.kind = FDY_KIND_SUBSCRIBE;
    env.sub_stream = "plans";
    env.sub_consumer = "reader";
    env.credit_msgs = 100;
    fdy_raw_expect_error(&mallory, &env, FOUNDRY_EDENIED, FOUNDRY_EDENIED, "mallory SUBSCRIBE");

    /* Messages arrive while it pings: it gets PONGs and nothing else. */
    foundry_client_t *admin = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &admin));
    s_publish(admin, "plans.secret", 1, 20);
    for (int round = 0; round < 5; round++) {
        fdy_envelope_t ping = {0};
        ping.kind = FDY_KIND_PING;
        uint64_t id = fdy_raw_send(&mallory, &ping);
        fdy_raw_msg_t *reply = calloc(1, sizeof *reply);
        FDY_CHECK(reply);
        FDY_CHECK_OK(fdy_raw_next(&mallory, FDY_RAW_REPLY_TIMEOUT_MS, reply));
        FDY_CHECK_MSG(reply->kind == FDY_KIND_PONG && reply->request_id == id,
                      "mallory got kind %d (subscription %" PRIu64 ") instead of its PONG",
                      (int) reply->kind, reply->subscription);
        free(reply);
        s_publish(admin, "plans.secret", 100 + round * 10, 10);
    }
    fdy_raw_msg_t *extra = calloc(1, sizeof *extra);
    FDY_CHECK(extra);
    FDY_CHECK_ERR(fdy_raw_next(&mallory, FDY_RAW_QUIET_MS, extra), FOUNDRY_ETIMEDOUT);
    free(extra);
    fdy_raw_close(&mallory);

    /* The messages are still there for the rightful reader. */
    fdy_raw_t again;
    fdy_raw_open(p, "admin", NULL, &again);
    got->count = 0;
    uint64_t sub = fdy_raw_subscribe(&again, "plans", "reader", 70, got);
    fdy_raw_collect(&again, sub, 70, got);
    fdy_raw_close(&again);
    free(got);
    FDY_CHECK_OK(foundry_client_close(&admin, 5000, NULL));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_peers_live_routing_id_not_taken_over(void)
{
    fdy_proc_t *p = fdy_proc_new("takeover");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_ctl_ok(p, ARGV("stream", "add", "ops", "--subject", "ops.>"));
    fdy_proc_key_add(p, "mallory", "--role", "partner", "--tenant", "mallory", NULL);
    /* The victim keeps its socket open; the attacker connects with the same
     * routing id and sends at once. libzmq refuses or hands over the id; in
     * no case may the victim's tail feed the attacker. */
    fdy_raw_t victim;
    fdy_raw_open(p, "admin", "live-id", &victim);
    s_tail(&victim, "ops.>");
    fdy_raw_t mallory;
    fdy_raw_open(p, "mallory", "live-id", &mallory);
    fdy_envelope_t ping = {0};
    ping.kind = FDY_KIND_PING;
    fdy_raw_send(&mallory, &ping);
    foundry_client_t *admin = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &admin));
    s_publish(admin, "ops.x", 1, 20);
    int64_t deadline = fdy_clock_mono_ms() + 2000;
    fdy_raw_msg_t *msg = calloc(1, sizeof *msg);
    FDY_CHECK(msg);
    while (fdy_clock_mono_ms() < deadline) {
        if (fdy_raw_next(&mallory, 200, msg) != FOUNDRY_OK)
            continue;
        FDY_CHECK_MSG(msg->kind != FDY_KIND_DELIVER,
                      "another principal's subscription delivered to mallory");
    }
    free(msg);
    fdy_raw_close(&mallory);
    fdy_raw_close(&victim);
    FDY_CHECK_OK(foundry_client_close(&admin, 5000, NULL));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_peers_queue_group_handover_on_close(void)
{
    fdy_proc_t *p = fdy_proc_new("handover");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_ctl_ok(p, ARGV("stream", "add", "jobsq", "--subject", "jobsq.>"));
    s_ctl_ok(p, ARGV("consumer", "add", "jobsq", "workers", "--ack-wait", "60s"));
    foundry_client_t *admin = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &admin));
    s_publish(admin, "jobsq.task", 1, 10);

    /* A takes all ten and never acks; B joins with credit and gets none. */
    fdy_raw_t a, b;
    fdy_raw_open(p, "admin", NULL, &a);
    fdy_raw_seqs_t *got_a = calloc(1, sizeof *got_a);
    fdy_raw_seqs_t *got_b = calloc(1, sizeof *got_b);
    FDY_CHECK(got_a && got_b);
    uint64_t sub_a = fdy_raw_subscribe(&a, "jobsq", "workers", 10, got_a);
    fdy_raw_collect(&a, sub_a, 10, got_a);
    fdy_raw_open(p, "admin", NULL, &b);
    uint64_t sub_b = fdy_raw_subscribe(&b, "jobsq", "workers", 100, got_b);
    FDY_CHECK_EQ(got_b->count, 0);

    /* A closes: B receives A's ten well before the 60 s ack wait or the
     * 30 s liveness timeout could explain it. */
    fdy_raw_close(&a);
    int64_t deadline = fdy_clock_mono_ms() + HANDOVER_DEADLINE_MS;
    fdy_raw_msg_t *msg = calloc(1, sizeof *msg);
    FDY_CHECK(msg);
    while (got_b->count < 10) {
        int64_t left = deadline - fdy_clock_mono_ms();
        FDY_CHECK_MSG(left > 0 && fdy_raw_next(&b, (int) left, msg) == FOUNDRY_OK,
                      "B has %zu of A's 10 messages after A closed", got_b->count);
        fdy_raw_take(msg, sub_b, got_b);
    }
    free(msg);
    /* They are A's: the stream holds only these ten. */
    for (size_t i = 0; i < got_b->count; i++)
        FDY_CHECK(got_b->seqs[i] >= 1 && got_b->seqs[i] <= 10);
    fdy_raw_close(&b);
    free(got_a);
    free(got_b);
    FDY_CHECK_OK(foundry_client_close(&admin, 5000, NULL));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A reply kind sent as a request is EKIND, with or without its body. */
static void
test_peers_reply_kinds_are_ekind(void)
{
    fdy_proc_t *p = fdy_proc_new("replykind");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_raw_t raw;
    fdy_raw_open(p, "admin", NULL, &raw);
    /* version 1, kind K, request_id 40 + K: no body at all */
    static const uint8_t kinds[] = {FDY_KIND_PUBLISH_ACK, FDY_KIND_ERROR, FDY_KIND_ADMIN_REPLY,
                                    FDY_KIND_PONG, FDY_KIND_SUBSCRIBED, FDY_KIND_DELIVER};
    for (size_t i = 0; i < sizeof kinds; i++) {
        uint8_t frame[] = {0x08, 0x01, 0x10, kinds[i], 0x18, (uint8_t) (40 + kinds[i])};
        fdy_raw_send_frame(&raw, frame, sizeof frame);
        fdy_raw_msg_t *reply = calloc(1, sizeof *reply);
        FDY_CHECK(reply);
        fdy_raw_reply(&raw, 40u + kinds[i], 0, reply, NULL);
        FDY_CHECK_MSG(reply->kind == FDY_KIND_ERROR && reply->error_code == FOUNDRY_EKIND,
                      "bodiless kind %d: error %s (%s)", kinds[i],
                      foundry_strerror(reply->error_code), reply->reason);
        free(reply);
    }
    /* With a body, and with an extra frame: still EKIND. */
    fdy_envelope_t pong = {0};
    pong.kind = FDY_KIND_PONG;
    uint64_t id = fdy_raw_send(&raw, &pong);
    fdy_raw_msg_t *reply = calloc(1, sizeof *reply);
    FDY_CHECK(reply);
    fdy_raw_reply(&raw, id, 0, reply, NULL);
    FDY_CHECK_EQ(reply->error_code, FOUNDRY_EKIND);
    pong.request_id = 99;
    uint8_t *buf = NULL;
    size_t len = 0;
    FDY_CHECK_OK(fdy_codec_encode_envelope(&pong, &buf, &len));
    fdy_slice_t frames[2] = {{buf, len}, {(const uint8_t *) "x", 1}};
    FDY_CHECK_OK(fdy_proc_dealer_send(raw.dealer, frames, 2));
    free(buf);
    fdy_raw_reply(&raw, 99, 0, reply, NULL);
    FDY_CHECK_MSG(reply->error_code == FOUNDRY_EKIND, "PONG with a frame: %s (%s)",
                  foundry_strerror(reply->error_code), reply->reason);
    free(reply);
    fdy_raw_close(&raw);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A connection and a key each hold a bounded number of subscriptions; the
 * refusal names the limit, and ending one makes room again. */
static void
test_peers_subscription_caps(void)
{
    fdy_proc_t *p = fdy_proc_new("subcaps");
    const char *extra[] = {"--set", "max_subs_per_connection=5", "--set",
                           "max_subs_per_principal=8", NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(p, extra));
    fdy_raw_t a, b;
    fdy_raw_open(p, "admin", NULL, &a);
    fdy_raw_open(p, "admin", NULL, &b);
    uint64_t first = 0;
    for (int i = 0; i < 5; i++) {
        uint64_t sub = s_tail(&a, "caps.>");
        if (i == 0)
            first = sub;
    }
    fdy_envelope_t env = {0};
    env.kind = FDY_KIND_SUBSCRIBE;
    env.sub_filter = "caps.>";
    env.credit_msgs = 10;
    fdy_raw_expect_error(&a, &env, FOUNDRY_EFULL, FOUNDRY_EFULL, "6th on one connection");
    for (int i = 0; i < 3; i++)
        s_tail(&b, "caps.>");
    /* 8 for the key over both connections: the 9th is refused on b too. */
    uint64_t id = fdy_raw_send(&b, &env);
    fdy_raw_msg_t *reply = calloc(1, sizeof *reply);
    FDY_CHECK(reply);
    fdy_raw_reply(&b, id, 0, reply, NULL);
    FDY_CHECK_MSG(reply->kind == FDY_KIND_ERROR && reply->error_code == FOUNDRY_EFULL &&
                      strstr(reply->reason, "max_subs_per_principal"),
                  "9th for the key: kind %d %s (%s)", (int) reply->kind,
                  foundry_strerror(reply->error_code), reply->reason);
    free(reply);
    fdy_raw_unsubscribe(&a, first);
    s_tail(&b, "caps.>");   /* room again */
    FDY_CHECK_EQ(fdy_proc_status_int(p, "subscriptions"), 8);
    fdy_raw_close(&a);
    fdy_raw_close(&b);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

#define SILENT_CONNECTIONS 200

/* Connections that never start a handshake are closed by the broker after
 * its default handshake_timeout (5 s), not the 30 s libzmq would wait,
 * while an authenticated client keeps being served. */
static void
test_peers_silent_connections_closed(void)
{
    fdy_proc_t *p = fdy_proc_new("silent");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    const char *colon = strrchr(fdy_proc_endpoint(p), ':');
    FDY_CHECK(colon);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) atoi(colon + 1))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fds[SILENT_CONNECTIONS];
    for (int i = 0; i < SILENT_CONNECTIONS; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        FDY_CHECK(fds[i] >= 0);
        FDY_CHECK_MSG(connect(fds[i], (struct sockaddr *) &addr, sizeof addr) == 0,
                      "connect %d: %s", i, strerror(errno));
    }
    foundry_client_t *admin = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &admin));
    s_publish(admin, "telemetry.hanam.x", 1, 10);   /* served meanwhile */

    /* Each silent socket sees the broker close it (EOF or a reset). */
    int closed = 0;
    int64_t deadline = fdy_clock_mono_ms() + 15000;   /* 5 s timeout, far below 30 s */
    bool done[SILENT_CONNECTIONS] = {false};
    while (closed < SILENT_CONNECTIONS && fdy_clock_mono_ms() < deadline) {
        struct pollfd items[SILENT_CONNECTIONS];
        for (int i = 0; i < SILENT_CONNECTIONS; i++)
            items[i] = (struct pollfd){.fd = done[i] ? -1 : fds[i], .events = POLLIN};
        if (poll(items, SILENT_CONNECTIONS, 200) <= 0)
            continue;
        for (int i = 0; i < SILENT_CONNECTIONS; i++) {
            if (done[i] || !(items[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[256];
            ssize_t n = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                done[i] = true;   /* the ZMTP greeting may come first: only EOF counts */
                closed++;
            }
        }
    }
    for (int i = 0; i < SILENT_CONNECTIONS; i++)
        close(fds[i]);
    FDY_CHECK_MSG(closed == SILENT_CONNECTIONS, "%d of %d silent connections closed in 15 s",
                  closed, SILENT_CONNECTIONS);
    s_publish(admin, "telemetry.hanam.x", 100, 10);
    FDY_CHECK_OK(foundry_client_close(&admin, 5000, NULL));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"routing_id_reuse_gets_nothing", test_peers_routing_id_reuse_gets_nothing},
        {"live_routing_id_not_taken_over", test_peers_live_routing_id_not_taken_over},
        {"queue_group_handover_on_close", test_peers_queue_group_handover_on_close},
        {"reply_kinds_are_ekind", test_peers_reply_kinds_are_ekind},
        {"subscription_caps", test_peers_subscription_caps},
        {"silent_connections_closed", test_peers_silent_connections_closed},
    };
    return fdy_proc_run_tests("peers", tests, sizeof tests / sizeof tests[0], argc, argv);
}
