/*  test_model_wire.c: lib/client/model_wire.c, the node's MODEL requests
 *  and their answers, with the client and connection it sits on replaced
 *  at link time by the small fakes below (STYLE §7): what is sent, which
 *  replies it claims, a FETCH reply's frame handed on, a REPORT's refusal
 *  surfaced though nothing waits for it, late answers dropped, and pending
 *  requests failed by a timeout or a reconnect.
 */
#include "model_wire.h"

#include "client.h"
#include "clock.h"
#include "codec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- fakes for what model_wire.c calls ------------------------------------ */

static fdy_model_wire_t *s_wire;
static foundry_err s_send_result;
static size_t s_sent;
static uint64_t s_last_request_id;
static uint8_t s_last_body[64];
static size_t s_last_body_len;

fdy_model_wire_t *
fdy_client_model_wire(foundry_client_t *self)
{
    (void) self;
    return s_wire;
}

fdy_conn_t *
fdy_client_conn(foundry_client_t *self)
{
    (void) self;
    return NULL;
}

foundry_err
fdy_client_fail(foundry_client_t *self, foundry_err err, const char *fmt, ...)
{
    (void) self;
    (void) fmt;
    return err;
}

foundry_err
fdy_conn_send(fdy_conn_t *self, const fdy_slice_t *frames, size_t frame_count)
{
    (void) self;
    if (s_send_result != FOUNDRY_OK)
        return s_send_result;
    assert_int_equal(frame_count, 2);
    fdy_arena_t *arena = fdy_arena_new(1u << 16);
    fdy_envelope_t env;
    fdy_reason_t why;
    assert_int_equal(fdy_codec_decode_envelope(frames[0].data, frames[0].len, arena, &env, &why),
                     FOUNDRY_OK);
    assert_int_equal(env.kind, FDY_KIND_MODEL);
    s_last_request_id = env.request_id;
    fdy_arena_destroy(&arena);
    assert_true(frames[1].len <= sizeof s_last_body);
    memcpy(s_last_body, frames[1].data, frames[1].len);
    s_last_body_len = frames[1].len;
    s_sent++;
    return FOUNDRY_OK;
}

/* ---- fixture ------------------------------------------------------------------ */

static foundry_client_t *const CLIENT = (foundry_client_t *) 0x1;

static int
setup(void **state)
{
    (void) state;
    s_wire = fdy_model_wire_new(CLIENT);
    assert_non_null(s_wire);
    s_send_result = FOUNDRY_OK;
    s_sent = 0;
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    fdy_model_wire_destroy(&s_wire);
    return 0;
}

static fdy_envelope_t
s_env(fdy_kind_t kind, uint64_t request_id)
{
    fdy_envelope_t env;
    memset(&env, 0, sizeof env);
    env.kind = kind;
    env.request_id = request_id;
    return env;
}

static const uint8_t BODY[] = {0x08, 0x04, 0x42, 0x06, 'v', 'i', 's', 'i', 'o', 'n'};

/* ---- tests -------------------------------------------------------------------- */

static void
test_model_wire_sends_a_model_request(void **state)
{
    (void) state;
    uint64_t id = 0;
    assert_int_equal(foundry_model_wire_send(CLIENT, BODY, sizeof BODY, true, 1000, &id),
                     FOUNDRY_OK);
    assert_int_equal(s_sent, 1);
    assert_int_equal(s_last_request_id, id);
    assert_true(id & FDY_MODEL_WIRE_BIT);
    assert_false(id & FDY_MODEL_WIRE_OTHER_BITS);
    assert_memory_equal(s_last_body, BODY, sizeof BODY);
    assert_int_equal(foundry_model_wire_pending(CLIENT), 1);
    /* not connected: nothing kept */
    s_send_result = FOUNDRY_ETIMEDOUT;
    assert_int_equal(foundry_model_wire_send(CLIENT, BODY, sizeof BODY, true, 1000, &id),
                     FOUNDRY_ETIMEDOUT);
    assert_int_equal(id, 0);
    assert_int_equal(foundry_model_wire_pending(CLIENT), 1);
}

static void
test_model_wire_claims_only_its_replies(void **state)
{
    (void) state;
    fdy_envelope_t env = s_env(FDY_KIND_MODEL_NOTICE, 0);
    assert_true(fdy_model_wire_owns(&env));
    env = s_env(FDY_KIND_MODEL_REPLY, FDY_MODEL_WIRE_BIT | 5);
    assert_true(fdy_model_wire_owns(&env));
    env = s_env(FDY_KIND_ERROR, FDY_MODEL_WIRE_BIT | 5);
    assert_true(fdy_model_wire_owns(&env));
    env = s_env(FDY_KIND_MODEL_REPLY, 5);
    assert_false(fdy_model_wire_owns(&env));
    env = s_env(FDY_KIND_MODEL_REPLY, (1ull << 61) | FDY_MODEL_WIRE_BIT | 5); /* publisher API */
    assert_false(fdy_model_wire_owns(&env));
    env = s_env(FDY_KIND_ERROR, (1ull << 62) | FDY_MODEL_WIRE_BIT | 5); /* jobs' */
    assert_false(fdy_model_wire_owns(&env));
    env = s_env(FDY_KIND_PUBLISH_ACK, FDY_MODEL_WIRE_BIT | 5);
    assert_false(fdy_model_wire_owns(&env));
}

static void
test_model_wire_hands_on_a_fetch_reply_with_its_chunk(void **state)
{
    (void) state;
    uint64_t id = 0;
    assert_int_equal(foundry_model_wire_send(CLIENT, BODY, sizeof BODY, true, 1000, &id),
                     FOUNDRY_OK);
    fdy_envelope_t env = s_env(FDY_KIND_MODEL_REPLY, id);
    env.model = BODY;
    env.model_len = 4;
    zmq_msg_t frame;
    assert_int_equal(zmq_msg_init_size(&frame, 3000), 0);
    memset(zmq_msg_data(&frame), 0x5c, 3000);
    fdy_model_wire_on_message(s_wire, &env, &frame);
    zmq_msg_close(&frame); /* as client.c does: its content was moved out */
    assert_int_equal(foundry_model_wire_pending(CLIENT), 0);
    foundry_model_wire_event_t e;
    assert_true(foundry_model_wire_next(CLIENT, &e));
    assert_int_equal(e.kind, FOUNDRY_MODEL_WIRE_REPLY);
    assert_int_equal(e.request_id, id);
    assert_int_equal(e.err, FOUNDRY_OK);
    assert_int_equal(e.body_len, 4);
    assert_memory_equal(e.body, BODY, 4);
    assert_int_equal(e.frame_len, 3000);
    assert_int_equal(e.frame[0], 0x5c);
    assert_int_equal(e.frame[2999], 0x5c);
    assert_false(foundry_model_wire_next(CLIENT, &e));
    /* a second answer to the same request (a resend's) is dropped */
    fdy_model_wire_on_message(s_wire, &env, NULL);
    assert_false(foundry_model_wire_next(CLIENT, &e));
}

static void
test_model_wire_surfaces_refusals_and_notices(void **state)
{
    (void) state;
    uint64_t report = 0;
    assert_int_equal(foundry_model_wire_send(CLIENT, BODY, sizeof BODY, false, 0, &report),
                     FOUNDRY_OK);
    assert_int_equal(foundry_model_wire_pending(CLIENT), 0); /* a REPORT waits for nothing */
    fdy_envelope_t env = s_env(FDY_KIND_ERROR, report);
    env.error_code = FOUNDRY_EDENIED;
    env.error_reason = "report about another node";
    fdy_model_wire_on_message(s_wire, &env, NULL);
    fdy_envelope_t notice = s_env(FDY_KIND_MODEL_NOTICE, 0);
    notice.model = BODY;
    notice.model_len = sizeof BODY;
    fdy_model_wire_on_message(s_wire, &notice, NULL);
    foundry_model_wire_event_t e;
    assert_true(foundry_model_wire_next(CLIENT, &e));
    assert_int_equal(e.kind, FOUNDRY_MODEL_WIRE_FAILED);
    assert_int_equal(e.request_id, report);
    assert_int_equal(e.err, FOUNDRY_EDENIED);
    assert_string_equal(e.reason, "report about another node");
    assert_true(foundry_model_wire_next(CLIENT, &e));
    assert_int_equal(e.kind, FOUNDRY_MODEL_WIRE_NOTICE);
    assert_int_equal(e.body_len, sizeof BODY);
    assert_memory_equal(e.body, BODY, sizeof BODY);
    assert_null(e.frame);
}

static void
test_model_wire_fails_what_a_timeout_or_reconnect_cut_off(void **state)
{
    (void) state;
    uint64_t slow = 0, lost = 0;
    assert_int_equal(foundry_model_wire_send(CLIENT, BODY, sizeof BODY, true, 1, &slow),
                     FOUNDRY_OK);
    assert_int_equal(foundry_model_wire_send(CLIENT, BODY, sizeof BODY, true, 3600000, &lost),
                     FOUNDRY_OK);
    /* ten seconds later: only the short one is overdue */
    fdy_model_wire_service(s_wire, fdy_clock_mono_ms() + 10000, false);
    foundry_model_wire_event_t e;
    assert_true(foundry_model_wire_next(CLIENT, &e));
    assert_int_equal(e.request_id, slow);
    assert_int_equal(e.err, FOUNDRY_ETIMEDOUT);
    assert_false(foundry_model_wire_next(CLIENT, &e));
    assert_int_equal(foundry_model_wire_pending(CLIENT), 1);
    fdy_model_wire_service(s_wire, 0, true);
    assert_true(foundry_model_wire_next(CLIENT, &e));
    assert_int_equal(e.request_id, lost);
    assert_int_equal(e.err, FOUNDRY_ECLOSED);
    assert_int_equal(foundry_model_wire_pending(CLIENT), 0);
    /* the late answer to the timed-out request finds nobody */
    fdy_envelope_t env = s_env(FDY_KIND_MODEL_REPLY, slow);
    fdy_model_wire_on_message(s_wire, &env, NULL);
    assert_false(foundry_model_wire_next(CLIENT, &e));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_model_wire_sends_a_model_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_wire_claims_only_its_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_wire_hands_on_a_fetch_reply_with_its_chunk,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_wire_surfaces_refusals_and_notices, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_model_wire_fails_what_a_timeout_or_reconnect_cut_off,
                                        setup, teardown),
    };
    return cmocka_run_group_tests_name("model_wire", tests, NULL, NULL);
}
