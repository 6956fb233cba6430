/*  test_subs.c: the subscription table over a fake send path: what one
 *  connection may be owed in credit is bounded over all its subscriptions
 *  (FDY_SUBS_CONN_CREDIT_MAX), credit comes back when a subscription ends,
 *  ending a connection's subscriptions sends nothing, and a record encoded
 *  once for several subscriptions makes the frames its own encoding makes.
 */
#include "fake_reply.h"
#include "registry.h"
#include "store.h"
#include "subs.h"
#include "tail.h"

#include "fixture_store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The subscriptions bound, in order, to look at their credit. */
static fdy_sub_t *s_bound[8];
static size_t s_bound_count;

static foundry_err
s_bind(void *owner, fdy_sub_t *sub, const fdy_principal_t *p, const fdy_envelope_t *env,
       fdy_reason_t *reason)
{
    (void) p, (void) env, (void) reason;
    fdy_tail_bind(owner, sub);
    if (s_bound_count < 8)
        s_bound[s_bound_count++] = sub;
    return FOUNDRY_OK;
}

static void
s_unbind(void *owner, fdy_sub_t *sub)
{
    fdy_tail_unbind(owner, sub);
}

static foundry_err
s_recheck(void *owner, fdy_sub_t *sub, const fdy_principal_t *p, fdy_reason_t *reason)
{
    (void) owner, (void) sub, (void) p, (void) reason;
    return FOUNDRY_OK;
}

static const fdy_sub_owner_ops_t s_owner = {.bind = s_bind, .unbind = s_unbind,
                                            .recheck = s_recheck};

typedef struct {
    char dir[FX_STORE_DIR_LEN];
    fdy_store_t *store;
    fdy_registry_t *registry;
    fdy_reply_t *reply;
    fdy_subs_t *subs;
    fdy_tail_t *tail;
    fdy_principal_t who;
} fx_t;

static int
s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    fdy_reason_t why;
    fdy_store_opts_t opts = {.map_size = 1u << 20, .map_size_max = 8u << 20,
                             .dedupe_window_ms = 1000};
    fx_store_open_tmp(fx->dir, "test_subs", &opts, &fx->store, &why);
    assert_int_equal(fdy_registry_new(fx->store, &fx->registry, &why), FOUNDRY_OK);
    fx->reply = fdy_reply_new(NULL);
    fdy_subs_limits_t limits = {.per_connection = 100, .per_principal = 100};
    fx->subs = fdy_subs_new(fx->reply, fx->store, fx->registry, &limits);
    fx->tail = fdy_tail_new(fx->store, fx->subs);
    fdy_subs_add_owner(fx->subs, false, &s_owner, fx->tail);
    snprintf(fx->who.name, sizeof fx->who.name, "ops");
    fx->who.role = FDY_ROLE_ADMIN;
    fake_reply_clear();
    s_bound_count = 0;
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fx_t *fx = *state;
    fdy_subs_destroy(&fx->subs);
    fdy_tail_destroy(&fx->tail);
    fdy_reply_destroy(&fx->reply);
    fdy_registry_destroy(&fx->registry);
    fx_store_rm(fx->dir, &fx->store);
    free(fx);
    return 0;
}

static const uint8_t s_routing[] = {9, 9, 9};

/* Subscribes a tail with credit; returns it. */
static fdy_sub_t *
s_tail(fx_t *fx, uint32_t credit)
{
    size_t before = fake_sent_count;
    fdy_envelope_t env = {.version = FDY_PROTOCOL_VERSION, .kind = FDY_KIND_SUBSCRIBE,
                          .request_id = 1, .sub_filter = "a.>", .credit_msgs = credit};
    fdy_subs_handle(fx->subs, s_routing, sizeof s_routing, &fx->who, &env, 0);
    assert_int_equal(fake_sent_count, before + 1);
    assert_int_equal(fake_sent[before].kind, FDY_KIND_SUBSCRIBED);
    return s_bound[s_bound_count - 1];
}

static void
s_credit(fx_t *fx, const fdy_sub_t *sub, uint32_t msgs)
{
    fdy_envelope_t env = {.version = FDY_PROTOCOL_VERSION, .kind = FDY_KIND_CREDIT,
                          .subscription = sub->id, .credit_msgs = msgs};
    fdy_subs_handle(fx->subs, s_routing, sizeof s_routing, &fx->who, &env, 0);
}

static void
test_subs_connection_credit_is_bounded(void **state)
{
    fx_t *fx = *state;
    fdy_sub_t *a = s_tail(fx, FDY_SUBS_CREDIT_MAX);
    fdy_sub_t *b = s_tail(fx, FDY_SUBS_CREDIT_MAX - 100);
    fdy_sub_t *c = s_tail(fx, FDY_SUBS_CREDIT_MAX);
    assert_int_equal(a->credit_msgs, FDY_SUBS_CREDIT_MAX);
    assert_int_equal(b->credit_msgs, FDY_SUBS_CREDIT_MAX - 100);
    /* Only what is left under the connection's cap. */
    assert_int_equal(c->credit_msgs, FDY_SUBS_CONN_CREDIT_MAX - 2u * FDY_SUBS_CREDIT_MAX + 100u);
    s_credit(fx, c, 1000);
    assert_int_equal(c->credit_msgs, 100);
    /* Ending one gives its credit back to the connection. */
    fdy_envelope_t unsub = {.version = FDY_PROTOCOL_VERSION, .kind = FDY_KIND_UNSUBSCRIBE,
                            .request_id = 7, .subscription = a->id};
    fdy_subs_handle(fx->subs, s_routing, sizeof s_routing, &fx->who, &unsub, 0);
    s_credit(fx, c, 1000);
    assert_int_equal(c->credit_msgs, 1100);
    fdy_subs_stats_t stats;
    fdy_subs_stats(fx->subs, &stats);
    assert_int_equal(stats.subscriptions, 2);
    /* Ending the connection's subscriptions sends nothing to it. */
    size_t before = fake_sent_count;
    fdy_subs_peer_gone(fx->subs, s_routing, sizeof s_routing);
    assert_int_equal(fake_sent_count, before);
    fdy_subs_stats(fx->subs, &stats);
    assert_int_equal(stats.subscriptions, 0);
}

/* Puts d to a and b through one shared encoding and to c on its own. */
static void
s_put_three(fx_t *fx, fdy_sub_t *a, fdy_sub_t *b, fdy_sub_t *c, const fdy_delivery_t *d,
            fdy_subs_shared_t *shared)
{
    shared->ready = false;
    fdy_subs_put_shared(fx->subs, a, d, shared);
    fdy_subs_put_shared(fx->subs, b, d, shared);
    fdy_subs_put(fx->subs, c, d);
}

static void
test_subs_shared_record_is_its_own_encoding(void **state)
{
    fx_t *fx = *state;
    fdy_sub_t *a = s_tail(fx, 100);
    fdy_sub_t *b = s_tail(fx, 100);
    fdy_sub_t *c = s_tail(fx, 100);
    static uint8_t big[20000]; /* over the size encoded once: written directly */
    memset(big, 'b', sizeof big);
    const uint8_t small[] = "\x0a\x02id\x12\x03a.b";
    fdy_subs_shared_t shared = {0};
    size_t before = fake_sent_count;
    fdy_delivery_t d = {.stream = "s",
                        .seq = 1,
                        .delivery_count = 1,
                        .stored_ns = 77,
                        .publisher = "ops",
                        .message = small,
                        .message_len = sizeof small - 1};
    s_put_three(fx, a, b, c, &d, &shared);
    /* The next record must not reuse the last one's bytes, nor a count
     * that changed between subscriptions. */
    d.seq = 2;
    d.publisher = "other";
    s_put_three(fx, a, b, c, &d, &shared);
    d.seq = 3; /* each gets it with count 1, then count 2 */
    shared.ready = false;
    fdy_subs_put_shared(fx->subs, a, &d, &shared);
    fdy_subs_put(fx->subs, b, &d);
    fdy_subs_put(fx->subs, c, &d);
    d.delivery_count = 2;
    fdy_subs_put(fx->subs, a, &d);
    fdy_subs_put_shared(fx->subs, b, &d, &shared); /* encoded again: count 2 */
    fdy_subs_put(fx->subs, c, &d);
    d.delivery_count = 1;
    d.seq = 4;
    d.message = big;
    d.message_len = sizeof big;
    s_put_three(fx, a, b, c, &d, &shared);
    fdy_subs_flush(fx->subs);
    /* Frames go out a, b, c in turn (when one fills up, then the flush):
     * each turn's three are the same bytes, and each got every record. */
    size_t sent = fake_sent_count - before;
    assert_true(sent >= 3 && sent % 3 == 0);
    uint32_t records = 0;
    for (size_t i = before; i < fake_sent_count; i++) {
        size_t first = i - (i - before) % 3;
        assert_int_equal(fake_sent[i].kind, FDY_KIND_DELIVER);
        assert_int_equal(fake_sent[i].count, fake_sent[first].count);
        assert_int_equal(fake_sent[i].frame_len, fake_sent[first].frame_len);
        assert_true(fake_sent[i].frame_hash == fake_sent[first].frame_hash);
        records += fake_sent[i].count;
    }
    assert_int_equal(records, 3 * 5);
    fdy_subs_shared_free(&shared);
    assert_null(shared.buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_subs_connection_credit_is_bounded, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_subs_shared_record_is_its_own_encoding, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests_name("subs", tests, NULL, NULL);
}
