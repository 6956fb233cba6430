/*  subs_table.c: foundry-bench-subs, a benchmark of the broker's
 *  subscription table in process (real subs.c, tail.c, a real store and a
 *  real, unconnected ROUTER for replies): the time to add N subscriptions
 *  on one connection, keep them alive and end them, for growing N. With an
 *  O(1) table the time per subscription stays flat; the ratio column
 *  compares each N with the smallest one measured in the same run.
 */
#include "clock.h"
#include "codec.h"
#include "registry.h"
#include "reply.h"
#include "store.h"
#include "subs.h"
#include "tail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static double
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static foundry_err
s_bind(void *owner, fdy_sub_t *sub, const fdy_principal_t *p, const fdy_envelope_t *env,
       fdy_reason_t *reason)
{
    (void) p, (void) env, (void) reason;
    fdy_tail_bind(owner, sub);
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

int
main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: foundry-bench-subs\n"
               "Adds, refreshes and ends 2,000 to 60,000 subscriptions on one connection in\n"
               "the broker's subscription table (in process) and prints the time per\n"
               "subscription and its ratio to the smallest run.\n");
        return 0;
    }
    char dir[] = "/tmp/foundry-bench-subs.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    fdy_store_opts_t opts = {.dir = dir, .map_size = 1u << 20, .map_size_max = 8u << 20,
                             .dedupe_window_ms = 1000};
    fdy_store_t *store = NULL;
    fdy_registry_t *registry = NULL;
    fdy_reason_t why;
    if (fdy_store_open(&opts, &store, &why) != FOUNDRY_OK ||
        fdy_registry_new(store, &registry, &why) != FOUNDRY_OK) {
        fprintf(stderr, "foundry-bench-subs: %s\n", why.text);
        return 1;
    }
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    fdy_reply_t *reply = fdy_reply_new(router);
    fdy_principal_t who;
    memset(&who, 0, sizeof who);
    snprintf(who.name, sizeof who.name, "bench");
    who.role = FDY_ROLE_ADMIN;
    static const size_t sizes[] = {2000, 5000, 10000, 20000, 60000};
    double base_us = 0;
    printf("subs-table  N        add ms   per sub us  touch x1000 ms  end ms  ratio per sub vs N=2000\n");
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        fdy_subs_limits_t limits = {.per_connection = n, .per_principal = n};
        fdy_subs_t *subs = fdy_subs_new(reply, store, registry, &limits);
        fdy_tail_t *tail = fdy_tail_new(store, subs);
        fdy_subs_add_owner(subs, false, &s_owner, tail);
        const uint8_t routing[] = {0, 1, 2, 3, 4};
        fdy_envelope_t env = {.version = FDY_PROTOCOL_VERSION, .kind = FDY_KIND_SUBSCRIBE,
                              .sub_filter = "bench.>", .credit_msgs = 10};
        double t0 = s_now_ms();
        for (size_t i = 0; i < n; i++) {
            env.request_id = i + 1;
            fdy_subs_handle(subs, routing, sizeof routing, &who, &env, 0);
        }
        double t1 = s_now_ms();
        for (int i = 0; i < 1000; i++)   /* every request refreshes its connection */
            fdy_subs_touch(subs, routing, sizeof routing, i);
        double t2 = s_now_ms();
        fdy_subs_stats_t stats;
        fdy_subs_stats(subs, &stats);
        fdy_subs_peer_gone(subs, routing, sizeof routing);
        fdy_subs_maintain(subs, 0);
        double t3 = s_now_ms();
        double per_us = (t1 - t0) * 1e3 / (double) n;
        if (k == 0)
            base_us = per_us;
        printf("subs-table  %-7zu  %7.1f  %10.3f  %14.3f  %6.1f  %.2f%s\n", n, t1 - t0, per_us,
               t2 - t1, t3 - t2, per_us / base_us,
               stats.subscriptions == n ? "" : "  (not all added!)");
        fdy_subs_destroy(&subs);
        fdy_tail_destroy(&tail);
    }
    fdy_reply_destroy(&reply);
    zmq_close(router);
    zmq_ctx_term(ctx);
    fdy_registry_destroy(&registry);
    fdy_store_close(&store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
