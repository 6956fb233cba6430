/*  test_publish.c: the publish half of the streams service over a fake send
 *  path (fake_reply.c linked in place of broker/net/reply.c) and a real
 *  LMDB store: acks leave only after the commit, carry the stored seqs,
 *  flag duplicates (per principal and stream: the ack's stream and seq name
 *  one message), and a full store answers every request with EFULL.
 */
#include "commit.h"
#include "fake_reply.h"
#include "publish.h"
#include "store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define assert_foundry_ok(expr)                                                                   \
    do {                                                                                          \
        foundry_err err_ = (expr);                                                                \
        if (err_ != FOUNDRY_OK)                                                                   \
            fail_msg("%s: %s", #expr, foundry_strerror(err_));                                  \
    } while (0)

typedef struct {
    char dir[64];
    fdy_store_t *store;
    fdy_reply_t *reply;
    fdy_publish_t *publish;
    fdy_broker_cfg_t cfg;
    fdy_principal_t node;
    fdy_principal_t partner; /* may publish telemetry.siheung.partner.> */
    /* request frames, kept alive until committed as the router does */
    uint8_t *batch[8];
    size_t batch_len[8];
    size_t batch_count;
} fx_t;

static int
s_setup_sized(void **state, uint64_t map_size, uint64_t map_size_max, uint64_t index_max)
{
    fx_t *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/foundry-test-publish.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fdy_store_opts_t opts = {.dir = fx->dir, .map_size = map_size, .map_size_max = map_size_max,
                             .dedupe_window_ms = 60000, .dedupe_index_max = index_max};
    fdy_reason_t why;
    assert_foundry_ok(fdy_store_open(&opts, &fx->store, &why));
    const char *filters[] = {"telemetry.siheung.>"};
    assert_foundry_ok(fdy_store_stream_create(fx->store, "telemetry-siheung", filters, 1, &why));
    fx->cfg.commit_max_msgs = 256;
    fx->cfg.commit_max_bytes = 8u << 20;
    fx->cfg.max_payload = 1u << 20;
    fx->cfg.max_batch_bytes = 8u << 20;
    fx->reply = fdy_reply_new(NULL);
    fx->publish = fdy_publish_new(&fx->cfg, fx->store, fx->reply, NULL);
    snprintf(fx->node.name, sizeof fx->node.name, "siheung-node-1");
    fx->node.role = FDY_ROLE_NODE;
    snprintf(fx->node.site, sizeof fx->node.site, "siheung");
    snprintf(fx->partner.name, sizeof fx->partner.name, "acme");
    fx->partner.role = FDY_ROLE_PARTNER;
    fx->partner.allow_publish[0] = "telemetry.siheung.partner.>";
    fx->partner.allow_count = 1;
    fake_reply_clear();
    *state = fx;
    return 0;
}

static int
s_setup(void **state)
{
    return s_setup_sized(state, 1u << 20, 64u << 20, 0);
}

static int
s_setup_tiny(void **state)
{
    /* A map that cannot grow: the first big commit is refused with EFULL. */
    return s_setup_sized(state, 1u << 20, 1u << 20, 0);
}

static int
s_setup_capped(void **state)
{
    /* A dedupe index of 10 ids at most. */
    return s_setup_sized(state, 1u << 20, 64u << 20, 10);
}

static int
s_teardown(void **state)
{
    fx_t *fx = *state;
    fdy_publish_destroy(&fx->publish);
    fdy_reply_destroy(&fx->reply);
    fdy_store_close(&fx->store);
    for (size_t i = 0; i < fx->batch_count; i++)
        free(fx->batch[i]);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

/* Adds one PUBLISH request of `count` messages (ids id_base..) on subject,
 * with payload_len bytes each, from peer "p<peer>" authenticated as who. */
static foundry_err
s_add_as(fx_t *fx, const fdy_principal_t *principal, char peer, uint64_t request_id,
         const char *subject, unsigned id_base, unsigned count, size_t payload_len)
{
    uint8_t *payload = calloc(1, payload_len + 1);
    size_t cap = count * (payload_len + 256);
    uint8_t *frame = malloc(cap);
    size_t used = 0;
    for (unsigned i = 0; i < count; i++) {
        char id[32];
        snprintf(id, sizeof id, "id-%u", id_base + i);
        fdy_msg_t msg = {.id = (const uint8_t *) id, .id_len = strlen(id), .subject = subject,
                         .payload = payload, .payload_len = payload_len};
        fdy_reason_t why;
        assert_foundry_ok(fdy_codec_check_msg(&msg, &why));
        size_t size = fdy_codec_msg_size(&msg);
        used += fdy_codec_batch_put_prefix(size, frame + used);
        used += fdy_codec_msg_write(&msg, frame + used);
        assert_true(used <= cap);
    }
    free(payload);
    fx->batch[fx->batch_count] = frame;
    fx->batch_len[fx->batch_count] = used;
    fx->batch_count++;
    static const uint8_t envelope[] = {0};
    fdy_slice_t frames[2] = {{envelope, sizeof envelope}, {frame, used}};
    static char peers[8][2];
    size_t slot = fx->batch_count - 1;
    peers[slot][0] = peer;
    fdy_peer_t who = {.id = (const uint8_t *) peers[slot], .len = 1};
    fdy_reason_t why;
    return fdy_publish_add(fx->publish, &who, principal, request_id, count, frames, 2, &why);
}

/* s_add_as for the node principal. */
static foundry_err
s_add(fx_t *fx, char peer, uint64_t request_id, const char *subject, unsigned id_base,
      unsigned count, size_t payload_len)
{
    return s_add_as(fx, &fx->node, peer, request_id, subject, id_base, count, payload_len);
}

/* One turn's commit, as the broker loop runs it. */
static foundry_err
s_commit_turn(fx_t *fx)
{
    fdy_commit_t commit;
    fdy_commit_init(&commit);
    fdy_publish_collect(fx->publish, &commit);
    fdy_reason_t why;
    if (!fdy_commit_empty(&commit))
        (void) fdy_commit_run(&commit, fx->store, &why);
    return fdy_publish_committed(fx->publish, &commit, NULL, NULL);
}

static void
test_publish_acks_only_after_commit(void **state)
{
    fx_t *fx = *state;
    assert_foundry_ok(s_add(fx, 'a', 7, "telemetry.siheung.line1.temp", 1, 3, 16));
    assert_foundry_ok(s_add(fx, 'b', 8, "telemetry.siheung.line2.temp", 10, 2, 16));
    /* Added, not committed: nothing may have been sent. */
    assert_int_equal(fake_sent_count, 0);
    assert_int_equal(fdy_publish_turn_msgs(fx->publish), 5);
    assert_foundry_ok(s_commit_turn(fx));
    assert_int_equal(fake_sent_count, 2);
    assert_int_equal(fake_sent[0].kind, FDY_KIND_PUBLISH_ACK);
    assert_int_equal(fake_sent[0].request_id, 7);
    assert_int_equal(fake_sent[0].peer[0], 'a');
    assert_int_equal(fake_sent[0].ack_count, 3);
    assert_int_equal(fake_sent[0].seqs[0], 1);
    assert_int_equal(fake_sent[0].seqs[2], 3);
    assert_string_equal(fake_sent[0].stream, "telemetry-siheung");
    assert_int_equal(fake_sent[1].request_id, 8);
    assert_int_equal(fake_sent[1].peer[0], 'b');
    assert_int_equal(fake_sent[1].seqs[0], 4);
    assert_int_equal(fake_sent[1].seqs[1], 5);
    fdy_publish_stats_t stats;
    fdy_publish_stats(fx->publish, &stats);
    assert_int_equal(stats.published, 5);
    assert_int_equal(stats.commits, 1);
}

static void
test_publish_duplicate_acked_with_original_seq(void **state)
{
    fx_t *fx = *state;
    assert_foundry_ok(s_add(fx, 'a', 1, "telemetry.siheung.x", 1, 2, 8));
    assert_foundry_ok(s_commit_turn(fx));
    fake_reply_clear();
    assert_foundry_ok(s_add(fx, 'a', 2, "telemetry.siheung.x", 2, 1, 8));   /* id-2 again */
    assert_foundry_ok(s_commit_turn(fx));
    assert_int_equal(fake_sent_count, 1);
    assert_int_equal(fake_sent[0].kind, FDY_KIND_PUBLISH_ACK);
    assert_int_equal(fake_sent[0].seqs[0], 2);
    assert_int_equal(fake_sent[0].duplicate_count, 1);
    fdy_publish_stats_t stats;
    fdy_publish_stats(fx->publish, &stats);
    assert_int_equal(stats.published, 2);
    assert_int_equal(stats.duplicates, 1);
}

static void
test_publish_dedupe_scoped_per_principal_and_stream(void **state)
{
    fx_t *fx = *state;
    /* A partner publishes the ids the node is about to use, in the same
     * stream, first in its own turn, then in the node's turn: none of the
     * node's messages is taken for a duplicate. */
    assert_foundry_ok(s_add_as(fx, &fx->partner, 'p', 1, "telemetry.siheung.partner.x", 1, 2, 8));
    assert_foundry_ok(s_commit_turn(fx));
    fake_reply_clear();
    assert_foundry_ok(s_add(fx, 'n', 2, "telemetry.siheung.robot.temp", 1, 3, 8));
    assert_foundry_ok(s_add_as(fx, &fx->partner, 'p', 3, "telemetry.siheung.partner.x", 3, 1, 8));
    assert_foundry_ok(s_commit_turn(fx));
    assert_int_equal(fake_sent_count, 2);
    assert_int_equal(fake_sent[0].duplicate_count, 0);
    assert_int_equal(fake_sent[0].seqs[0], 3);
    assert_int_equal(fake_sent[0].seqs[2], 5);
    assert_int_equal(fake_sent[1].duplicate_count, 0);
    assert_int_equal(fake_sent[1].seqs[0], 6);

    /* A resend routed to another stream is new there: the ack names that
     * stream and a seq of it, never the first stream's seq. */
    const char *a[] = {"telemetry.siheung.robot.>"}, *b[] = {"telemetry.siheung.arm.>"};
    fdy_reason_t why;
    assert_foundry_ok(fdy_store_stream_update(fx->store, "telemetry-siheung", a, 1, NULL, &why));
    assert_foundry_ok(fdy_store_stream_create(fx->store, "arms", b, 1, &why));
    fake_reply_clear();
    assert_foundry_ok(s_add(fx, 'n', 4, "telemetry.siheung.arm.temp", 2, 1, 8)); /* id-2 */
    assert_foundry_ok(s_add(fx, 'n', 5, "telemetry.siheung.robot.temp", 2, 1, 8));
    assert_foundry_ok(s_commit_turn(fx));
    assert_int_equal(fake_sent_count, 2);
    assert_string_equal(fake_sent[0].stream, "arms");
    assert_int_equal(fake_sent[0].seqs[0], 1);
    assert_int_equal(fake_sent[0].duplicate_count, 0);
    assert_string_equal(fake_sent[1].stream, "telemetry-siheung");
    assert_int_equal(fake_sent[1].seqs[0], 4);
    assert_int_equal(fake_sent[1].duplicate_count, 1);
}

static void
test_publish_refusals_inside_the_ack(void **state)
{
    fx_t *fx = *state;
    /* No stream captures it, and a node may not publish outside its site. */
    assert_foundry_ok(s_add(fx, 'a', 3, "telemetry.bucheon.x", 1, 1, 8));
    assert_foundry_ok(s_commit_turn(fx));
    assert_int_equal(fake_sent_count, 1);
    assert_int_equal(fake_sent[0].kind, FDY_KIND_PUBLISH_ACK);
    assert_int_equal(fake_sent[0].error_count, 1);
    assert_int_equal(fake_sent[0].seqs[0], 0);
}

static void
test_publish_bad_batch_refused_whole(void **state)
{
    fx_t *fx = *state;
    static const uint8_t envelope[] = {0};
    static const uint8_t garbage[] = {0xff, 0xff, 0xff};
    fdy_slice_t frames[2] = {{envelope, 1}, {garbage, sizeof garbage}};
    fdy_peer_t who = {.id = (const uint8_t *) "z", .len = 1};
    fdy_reason_t why;
    assert_int_equal(fdy_publish_add(fx->publish, &who, &fx->node, 9, 1, frames, 2, &why),
                     FOUNDRY_EPROTO);
    assert_int_equal(fdy_publish_add(fx->publish, &who, &fx->node, 9, 0, frames, 2, &why),
                     FOUNDRY_EPROTO);
    assert_int_equal(fdy_publish_add(fx->publish, &who, &fx->node, 9, 1, frames, 1, &why),
                     FOUNDRY_EPROTO);
    assert_int_equal(fdy_publish_turn_msgs(fx->publish), 0);
    assert_foundry_ok(s_commit_turn(fx));
    assert_int_equal(fake_sent_count, 0);   /* the router answers whole-request refusals */
}

static void
test_publish_full_store_answers_efull(void **state)
{
    fx_t *fx = *state;
    /* 16 x 128 KiB cannot fit in a 1 MiB map that may not grow. */
    assert_foundry_ok(s_add(fx, 'a', 11, "telemetry.siheung.big", 1, 8, 131072));
    assert_foundry_ok(s_add(fx, 'b', 12, "telemetry.siheung.big", 100, 8, 131072));
    assert_int_equal(s_commit_turn(fx), FOUNDRY_EFULL);
    assert_int_equal(fake_sent_count, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(fake_sent[i].kind, FDY_KIND_ERROR);
        assert_int_equal(fake_sent[i].error_code, FOUNDRY_EFULL);
        assert_non_null(strstr(fake_sent[i].error_reason, "nothing stored"));
    }
    fdy_stream_info_t info;
    fdy_reason_t why;
    assert_foundry_ok(fdy_store_stream_info(fx->store, "telemetry-siheung", &info, &why));
    assert_int_equal(info.messages, 0);
    fdy_store_stream_info_clear(&info);
}

static void
test_publish_dedupe_index_full_answers_efull(void **state)
{
    fx_t *fx = *state;
    assert_foundry_ok(s_add(fx, 'a', 11, "telemetry.siheung.x", 1, 8, 16));
    assert_foundry_ok(s_commit_turn(fx));
    fake_reply_clear();
    /* 8 more would make 16 ids within the window: the turn is refused. */
    assert_foundry_ok(s_add(fx, 'a', 12, "telemetry.siheung.x", 100, 8, 16));
    assert_int_equal(s_commit_turn(fx), FOUNDRY_EFULL);
    assert_int_equal(fake_sent_count, 1);
    assert_int_equal(fake_sent[0].kind, FDY_KIND_ERROR);
    assert_int_equal(fake_sent[0].error_code, FOUNDRY_EFULL);
    assert_non_null(strstr(fake_sent[0].error_reason, "dedupe index full"));
    assert_non_null(strstr(fake_sent[0].error_reason, "nothing stored"));
    fdy_stream_info_t info;
    fdy_reason_t why;
    assert_foundry_ok(fdy_store_stream_info(fx->store, "telemetry-siheung", &info, &why));
    assert_int_equal(info.messages, 8);
    fdy_store_stream_info_clear(&info);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publish_acks_only_after_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_publish_duplicate_acked_with_original_seq, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_publish_dedupe_scoped_per_principal_and_stream,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_publish_refusals_inside_the_ack, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_publish_bad_batch_refused_whole, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_publish_dedupe_index_full_answers_efull,
                                        s_setup_capped, s_teardown),
        cmocka_unit_test_setup_teardown(test_publish_full_store_answers_efull, s_setup_tiny,
                                        s_teardown),
    };
    return cmocka_run_group_tests_name("publish", tests, NULL, NULL);
}
