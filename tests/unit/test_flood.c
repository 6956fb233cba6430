/*  test_flood.c: flood protection. The rate limiter (rate.c) calls a key
 *  that goes on sending while refused a flood only past rate_flood_factor
 *  times its limit and past the floors, once a second; peers.c closes that
 *  key's connections (our reading side of a real loopback TCP pair), never
 *  a connection that took over the number of a closed one, and remembers
 *  how long the key's handshakes are refused.
 */
#include "peers.h"
#include "rate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* Refused messages of `bytes` each, all at now_ms; returns how many
 * reported a flood. */
static int
s_refuse_many(fdy_rate_t *rate, const fdy_principal_t *p, int count, uint64_t bytes,
              int64_t now_ms)
{
    int floods = 0;
    for (int i = 0; i < count; i++) {
        bool flooding = false;
        fdy_reason_t why;
        fdy_reason_clear(&why);
        foundry_err err = fdy_rate_take(rate, p, bytes, now_ms, &flooding, &why);
        if (err == FOUNDRY_OK)
            continue;
        assert_int_equal(err, FOUNDRY_ERATE);
        if (flooding)
            floods++;
    }
    return floods;
}

static void
test_flood_needs_factor_and_floor(void **state)
{
    (void) state;
    fdy_broker_cfg_t cfg = {.rate_msgs_node = 20, .rate_flood_factor = 4};
    fdy_rate_t *rate = fdy_rate_new(&cfg);
    fdy_principal_t node = {.name = "node-a", .role = FDY_ROLE_NODE};
    /* 20 pass, 9,980 refused in one second: 499x the limit but under the
     * 10,000-message floor: a small budget is not a flood. */
    assert_int_equal(s_refuse_many(rate, &node, 10000, 1, 1000), 0);
    assert_int_equal(fdy_rate_floods(rate), 0);
    /* Past the floor (and 4 x 20) within the same second: one flood. */
    assert_int_equal(s_refuse_many(rate, &node, 100, 1, 1500), 1);
    assert_int_equal(fdy_rate_floods(rate), 1);
    /* The count starts again: the next second needs as many again. */
    assert_int_equal(s_refuse_many(rate, &node, 9000, 1, 1600), 0);
    fdy_rate_destroy(&rate);
}

static void
test_flood_bytes_over_factor(void **state)
{
    (void) state;
    fdy_broker_cfg_t cfg = {.rate_bytes_node = 8u << 20, .rate_flood_factor = 4};
    fdy_rate_t *rate = fdy_rate_new(&cfg);
    fdy_principal_t node = {.name = "node-b", .role = FDY_ROLE_NODE};
    /* 1 MiB messages at 8 MiB/s: 8 pass; 32 refused MiB is 4x, not over. */
    assert_int_equal(s_refuse_many(rate, &node, 40, 1u << 20, 5000), 0);
    /* The 33rd refused MiB in that second is over 4 x 8 MiB. */
    assert_int_equal(s_refuse_many(rate, &node, 1, 1u << 20, 5001), 1);
    /* Refusals spread over seconds never add up to a flood. */
    for (int64_t second = 10; second < 20; second++)
        assert_int_equal(s_refuse_many(rate, &node, 30, 1u << 20, second * 1000), 0);
    fdy_rate_destroy(&rate);
}

static void
test_flood_factor_zero_never(void **state)
{
    (void) state;
    fdy_broker_cfg_t cfg = {.rate_msgs_node = 10, .rate_flood_factor = 0};
    fdy_rate_t *rate = fdy_rate_new(&cfg);
    fdy_principal_t node = {.name = "node-c", .role = FDY_ROLE_NODE};
    assert_int_equal(s_refuse_many(rate, &node, 50000, 1, 1000), 0);
    assert_int_equal(fdy_rate_refused(rate), 50000 - 10);
    fdy_rate_destroy(&rate);
    /* A key without limits (admin) is never refused, so never floods. */
    cfg.rate_flood_factor = 4;
    rate = fdy_rate_new(&cfg);
    fdy_principal_t admin = {.name = "ops", .role = FDY_ROLE_ADMIN};
    assert_int_equal(s_refuse_many(rate, &admin, 50000, 1 << 20, 1000), 0);
    assert_int_equal(fdy_rate_refused(rate), 0);
    fdy_rate_destroy(&rate);
}

/* A connected loopback pair: *server is the accepted end (the broker's). */
static void
s_tcp_pair(int listener, int *client, int *server)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(listener, (struct sockaddr *) &addr, &len), 0);
    *client = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*client >= 0);
    assert_int_equal(connect(*client, (struct sockaddr *) &addr, len), 0);
    *server = accept(listener, NULL, NULL);
    assert_true(*server >= 0);
}

static int
s_listener(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *) &addr, sizeof addr), 0);
    assert_int_equal(listen(fd, 8), 0);
    return fd;
}

/* Our reading side was shut: a read returns end-of-file at once, though
 * the peer sent nothing and is still connected. */
static bool
s_read_closed(int fd)
{
    char byte;
    return recv(fd, &byte, 1, MSG_DONTWAIT) == 0;
}

static void
test_close_principal_shuts_its_connections(void **state)
{
    (void) state;
    int listener = s_listener();
    int client_a, server_a, client_b, server_b;
    s_tcp_pair(listener, &client_a, &server_a);
    s_tcp_pair(listener, &client_b, &server_b);
    fdy_peers_t *peers = fdy_peers_new();
    fdy_peer_t flooder = {.id = (const uint8_t *) "rid-a", .len = 5};
    fdy_peer_t other = {.id = (const uint8_t *) "rid-b", .len = 5};
    fdy_peers_bind(peers, &flooder, server_a, "flooder", "hanam");
    fdy_peers_bind(peers, &other, server_b, "victim", "siheung");

    assert_int_equal(fdy_peers_backoff_left_ms(peers, "flooder", 1000), 0);
    assert_int_equal(fdy_peers_close_principal(peers, "flooder", 6000), 1);
    assert_true(s_read_closed(server_a));
    assert_false(s_read_closed(server_b));   /* would block: still open */
    assert_int_equal(fdy_peers_backoff_left_ms(peers, "flooder", 1000), 5000);
    assert_int_equal(fdy_peers_backoff_left_ms(peers, "flooder", 6000), 0);
    assert_int_equal(fdy_peers_backoff_left_ms(peers, "victim", 1000), 0);

    /* libzmq closed "flooder"'s connection and gave its number to a new
     * one before the monitor said so: the binding names a number that is
     * someone else's now, which is not closed. */
    int client_c, server_c;
    s_tcp_pair(listener, &client_c, &server_c);
    close(client_b);
    int reused = dup2(server_c, server_b);
    assert_int_equal(reused, server_b);
    assert_int_equal(fdy_peers_close_principal(peers, "victim", 2000), 0);
    assert_false(s_read_closed(server_b));

    fdy_peers_destroy(&peers);
    int fds[] = {listener, client_a, server_a, client_c, server_c, server_b};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        close(fds[i]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flood_needs_factor_and_floor),
        cmocka_unit_test(test_flood_bytes_over_factor),
        cmocka_unit_test(test_flood_factor_zero_never),
        cmocka_unit_test(test_close_principal_shuts_its_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
