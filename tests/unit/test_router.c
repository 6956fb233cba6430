/*  test_router.c: the router's kind table and identity over a real inproc
 *  ROUTER/DEALER pair, a real registry in LMDB and the real reply.c. The
 *  ZAP User-Id libzmq would attach is supplied through a link-time wrap of
 *  zmq_msg_gets (-Wl,--wrap=zmq_msg_gets), so no CURVE handshake is needed.
 */
#include "codec.h"
#include "peers.h"
#include "registry.h"
#include "reply.h"
#include "router.h"
#include "service.h"
#include "store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#define assert_foundry_ok(expr)                                                                   \
    do {                                                                                          \
        foundry_err err_ = (expr);                                                                \
        if (err_ != FOUNDRY_OK)                                                                   \
            fail_msg("%s: %s", #expr, foundry_strerror(err_));                                  \
    } while (0)

/* What the wrapped zmq_msg_gets answers for "User-Id". */
static const char *s_user_id = "ops";

const char *__real_zmq_msg_gets(const zmq_msg_t *msg, const char *property);
const char *
__wrap_zmq_msg_gets(const zmq_msg_t *msg, const char *property)
{
    if (strcmp(property, "User-Id") == 0)
        return s_user_id;
    return __real_zmq_msg_gets(msg, property);
}

/* A service that records what reached it. */
typedef struct {
    int handled;
    char who[FDY_NAME_MAX];
    fdy_kind_t kind;
    foundry_err answer;
} fake_service_t;

static foundry_err
s_fake_handle(void *self_, const fdy_request_t *req, fdy_reason_t *reason)
{
    fake_service_t *self = self_;
    self->handled++;
    snprintf(self->who, sizeof self->who, "%s", req->who->name);
    self->kind = req->env->kind;
    if (self->answer != FOUNDRY_OK)
        return fdy_reason_set(reason, self->answer, "fake refuses");
    return FOUNDRY_OK;
}

static const fdy_service_ops_t s_fake_ops = {.name = "fake", .handle = s_fake_handle};

typedef struct {
    char dir[64];
    fdy_store_t *store;
    fdy_registry_t *registry;
    void *ctx;
    void *router_socket;
    void *dealer;
    fdy_broker_cfg_t cfg;
    fdy_peers_t *peers;
    fdy_reply_t *reply;
    fdy_router_t *router;
    fake_service_t fake;
    fdy_service_t service;
} fx_t;

static int
s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/foundry-test-router.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fdy_store_opts_t opts = {.dir = fx->dir, .map_size = 1u << 20, .map_size_max = 8u << 20,
                             .dedupe_window_ms = 1000};
    fdy_reason_t why;
    assert_foundry_ok(fdy_store_open(&opts, &fx->store, &why));
    assert_foundry_ok(fdy_registry_new(fx->store, &fx->registry, &why));
    fdy_principal_t admin;
    memset(&admin, 0, sizeof admin);
    snprintf(admin.name, sizeof admin.name, "ops");
    memset(admin.public_key, 'A', FDY_Z85_KEY_LEN);
    admin.role = FDY_ROLE_ADMIN;
    assert_foundry_ok(fdy_registry_add(fx->registry, &admin, &why));
    s_user_id = "ops";

    fx->ctx = zmq_ctx_new();
    fx->router_socket = zmq_socket(fx->ctx, ZMQ_ROUTER);
    fx->dealer = zmq_socket(fx->ctx, ZMQ_DEALER);
    assert_int_equal(zmq_bind(fx->router_socket, "inproc://test-router"), 0);
    assert_int_equal(zmq_connect(fx->dealer, "inproc://test-router"), 0);

    fx->cfg.commit_max_msgs = 64;
    fx->peers = fdy_peers_new();
    fx->reply = fdy_reply_new(fx->router_socket);
    fx->router = fdy_router_new(fx->router_socket, &fx->cfg, fx->registry, fx->peers, fx->reply);
    fx->service = (fdy_service_t){.ops = &s_fake_ops, .self = &fx->fake};
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fx_t *fx = *state;
    fdy_router_destroy(&fx->router);
    fdy_reply_destroy(&fx->reply);
    fdy_peers_destroy(&fx->peers);
    zmq_close(fx->dealer);
    zmq_close(fx->router_socket);
    zmq_ctx_term(fx->ctx);
    fdy_registry_destroy(&fx->registry);
    fdy_store_close(&fx->store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static void
s_send(fx_t *fx, const fdy_envelope_t *env)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_foundry_ok(fdy_codec_encode_envelope(env, &buf, &len));
    assert_int_equal(zmq_send(fx->dealer, buf, len, 0), (int) len);
    free(buf);
}

/* Drains until the one request is handled (inproc delivery is not
 * instant), then the turn ends. */
static void
s_drain_one(fx_t *fx)
{
    zmq_pollitem_t item = {.socket = fx->router_socket, .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&item, 1, 5000), 1);
    size_t drained = 0;
    assert_foundry_ok(fdy_router_drain(fx->router, 0, &drained));
    assert_int_equal(drained, 1);
    fdy_router_end_turn(fx->router);
}

/* Receives one reply on the DEALER (5 s deadline) and decodes it. */
static void
s_recv(fx_t *fx, fdy_arena_t *arena, fdy_envelope_t *env)
{
    zmq_pollitem_t item = {.socket = fx->dealer, .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&item, 1, 5000), 1);
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    assert_true(zmq_msg_recv(&msg, fx->dealer, 0) >= 0);
    fdy_reason_t why;
    fdy_arena_reset(arena, FDY_DECODE_BUDGET(zmq_msg_size(&msg)));
    assert_foundry_ok(
        fdy_codec_decode_envelope(zmq_msg_data(&msg), zmq_msg_size(&msg), arena, env, &why));
    zmq_msg_close(&msg);
}

static void
test_router_second_route_is_eexist(void **state)
{
    fx_t *fx = *state;
    assert_foundry_ok(fdy_router_route(fx->router, FDY_KIND_ADMIN, &fx->service));
    fdy_service_t other = {.ops = &s_fake_ops, .self = NULL};
    assert_int_equal(fdy_router_route(fx->router, FDY_KIND_ADMIN, &other), FOUNDRY_EEXIST);
    /* PING is the router's own, replies are never requests. */
    assert_int_equal(fdy_router_route(fx->router, FDY_KIND_PING, &other), FOUNDRY_EINVAL);
    assert_int_equal(fdy_router_route(fx->router, FDY_KIND_PUBLISH_ACK, &other), FOUNDRY_EINVAL);
    assert_int_equal(fdy_router_route(fx->router, (fdy_kind_t) 999, &other), FOUNDRY_EINVAL);
}

static void
test_router_unrouted_kind_gives_ekind(void **state)
{
    fx_t *fx = *state;
    assert_foundry_ok(fdy_router_route(fx->router, FDY_KIND_ADMIN, &fx->service));
    fdy_envelope_t env = {.version = FDY_PROTOCOL_VERSION, .kind = FDY_KIND_UNSUBSCRIBE,
                          .request_id = 42, .subscription = 1};
    s_send(fx, &env);
    s_drain_one(fx);
    assert_int_equal(fx->fake.handled, 0);
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(FDY_REPLY_MAX));
    fdy_envelope_t reply;
    s_recv(fx, arena, &reply);
    assert_int_equal(reply.kind, FDY_KIND_ERROR);
    assert_int_equal(reply.request_id, 42);
    assert_int_equal(reply.error_code, FOUNDRY_EKIND);
    fdy_arena_destroy(&arena);
    assert_int_equal(fdy_reply_errors(fx->reply), 1);
}

static void
test_router_routes_with_identity_from_zap(void **state)
{
    fx_t *fx = *state;
    assert_foundry_ok(fdy_router_route(fx->router, FDY_KIND_ADMIN, &fx->service));
    const char *args[] = {NULL};
    fdy_envelope_t env = {.version = FDY_PROTOCOL_VERSION, .kind = FDY_KIND_ADMIN,
                          .request_id = 5, .command = "status", .args = args, .arg_count = 0};
    s_send(fx, &env);
    s_drain_one(fx);
    assert_int_equal(fx->fake.handled, 1);
    assert_string_equal(fx->fake.who, "ops");
    assert_int_equal(fx->fake.kind, FDY_KIND_ADMIN);
    /* A refusal from the service becomes an ERROR with its code. */
    fx->fake.answer = FOUNDRY_EDENIED;
    s_send(fx, &env);
    s_drain_one(fx);
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(FDY_REPLY_MAX));
    fdy_envelope_t reply;
    s_recv(fx, arena, &reply);
    assert_int_equal(reply.kind, FDY_KIND_ERROR);
    assert_int_equal(reply.error_code, FOUNDRY_EDENIED);
    assert_string_equal(reply.error_reason, "fake refuses");
    fdy_arena_destroy(&arena);
}

static void
test_router_unknown_principal_gives_eauth(void **state)
{
    fx_t *fx = *state;
    assert_foundry_ok(fdy_router_route(fx->router, FDY_KIND_ADMIN, &fx->service));
    s_user_id = "nobody";
    fdy_envelope_t env = {.version = FDY_PROTOCOL_VERSION, .kind = FDY_KIND_ADMIN,
                          .request_id = 6, .command = "status"};
    s_send(fx, &env);
    s_drain_one(fx);
    assert_int_equal(fx->fake.handled, 0);
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(FDY_REPLY_MAX));
    fdy_envelope_t reply;
    s_recv(fx, arena, &reply);
    assert_int_equal(reply.error_code, FOUNDRY_EAUTH);
    assert_int_equal(reply.request_id, 6);
    fdy_arena_destroy(&arena);
}

static void
test_router_answers_ping(void **state)
{
    fx_t *fx = *state;
    fdy_envelope_t env = {.version = FDY_PROTOCOL_VERSION, .kind = FDY_KIND_PING,
                          .request_id = 77};
    s_send(fx, &env);
    s_drain_one(fx);
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(FDY_REPLY_MAX));
    fdy_envelope_t reply;
    s_recv(fx, arena, &reply);
    assert_int_equal(reply.kind, FDY_KIND_PONG);
    assert_int_equal(reply.request_id, 77);
    fdy_arena_destroy(&arena);
    /* The principal counts as active for status. */
    assert_non_null(strstr(fdy_peers_active_names(fx->peers, 0), "ops"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_router_second_route_is_eexist, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_router_unrouted_kind_gives_ekind, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_router_routes_with_identity_from_zap, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_router_unknown_principal_gives_eauth, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_router_answers_ping, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
