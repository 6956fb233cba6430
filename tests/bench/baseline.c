/*  baseline.c: the bench's yardstick, raw libzmq with CURVE and nothing of
 *  Foundry: a DEALER (in its own thread) sends 256-byte frames to a ROUTER
 *  that counts them. No acks, no storage, no ZAP: what the transport alone
 *  costs on this machine, measured in the same run as the broker.
 */
#include "baseline.h"

#include "bench_env.h"

#include <zmq.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A receive waiting longer than this means the sender is gone. */
#define BASELINE_RECV_MS 10000

/* ---- the CURVE pair ------------------------------------------------------ */

foundry_err
fdy_curve_server_open(fdy_curve_server_t *self, const char *what)
{
    memset(self, 0, sizeof *self);
    char secret_key[41];
    size_t endpoint_len = sizeof self->endpoint;
    int one = 1, timeout = BASELINE_RECV_MS;
    self->ctx = zmq_ctx_new();
    self->router = self->ctx ? zmq_socket(self->ctx, ZMQ_ROUTER) : NULL;
    if (!self->router || zmq_curve_keypair(self->public_key, secret_key) != 0 ||
        zmq_setsockopt(self->router, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(self->router, ZMQ_CURVE_SECRETKEY, secret_key, 40) != 0 ||
        zmq_setsockopt(self->router, ZMQ_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
        zmq_bind(self->router, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(self->router, ZMQ_LAST_ENDPOINT, self->endpoint, &endpoint_len) != 0) {
        fdy_bench_env_fail("%s router: %s", what, zmq_strerror(zmq_errno()));
        return FOUNDRY_EIO;
    }
    return FOUNDRY_OK;
}

void *
fdy_curve_server_dealer(const fdy_curve_server_t *self)
{
    char public_key[41], secret_key[41];
    int timeout = BASELINE_RECV_MS;
    void *dealer = zmq_socket(self->ctx, ZMQ_DEALER);
    if (!dealer)
        return NULL;
    if (zmq_curve_keypair(public_key, secret_key) != 0 ||
        zmq_setsockopt(dealer, ZMQ_CURVE_SERVERKEY, self->public_key, 40) != 0 ||
        zmq_setsockopt(dealer, ZMQ_CURVE_PUBLICKEY, public_key, 40) != 0 ||
        zmq_setsockopt(dealer, ZMQ_CURVE_SECRETKEY, secret_key, 40) != 0 ||
        zmq_setsockopt(dealer, ZMQ_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
        zmq_connect(dealer, self->endpoint) != 0) {
        int err = zmq_errno();
        zmq_close(dealer);
        errno = err;
        return NULL;
    }
    return dealer;
}

void
fdy_curve_server_unblock(fdy_curve_server_t *self)
{
    if (self->router) {
        int zero = 0;
        zmq_setsockopt(self->router, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(self->router);
        self->router = NULL;
    }
    if (self->ctx)
        zmq_ctx_shutdown(self->ctx);
}

void
fdy_curve_server_close(fdy_curve_server_t *self)
{
    if (self->router)
        zmq_close(self->router);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    self->router = self->ctx = NULL;
}

/* ---- throughput --------------------------------------------------------- */

typedef struct {
    const fdy_curve_server_t *server;
    size_t count; /* messages after the warm-up one */
    size_t size;
    int rc;
} sender_t;

static void *
s_sender(void *arg)
{
    sender_t *self = arg;
    self->rc = -1;
    void *dealer = fdy_curve_server_dealer(self->server);
    uint8_t *buf = calloc(1, self->size ? self->size : 1);
    if (!dealer || !buf)
        goto out;
    memset(buf, 'b', self->size);
    /* One warm-up message (handshake), then the measured ones. A blocking
     * send waits at the high-water mark: the receiver sets the pace. */
    for (size_t i = 0; i < self->count + 1; i++) {
        if (zmq_send(dealer, buf, self->size, 0) < 0) {
            if (errno == EINTR) {
                i--;
                continue;
            }
            goto out;
        }
    }
    self->rc = 0;
out:
    if (self->rc != 0)
        fdy_bench_env_fail("baseline sender: %s", zmq_strerror(zmq_errno()));
    if (dealer)
        zmq_close(dealer); /* default linger: everything queued is delivered */
    free(buf);
    return NULL;
}

foundry_err
fdy_baseline_run(size_t count, size_t payload_size, double *seconds_out)
{
    int rc = -1;
    fdy_curve_server_t server;
    bool started = false;
    pthread_t thread;
    sender_t sender = {0};
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    if (fdy_curve_server_open(&server, "baseline") != FOUNDRY_OK)
        goto out;
    sender = (sender_t){&server, count, payload_size, -1};
    if (pthread_create(&thread, NULL, s_sender, &sender) != 0) {
        fdy_bench_env_fail("pthread_create failed");
        goto out;
    }
    started = true;
    uint64_t start = 0;
    size_t received = 0;
    /* ROUTER delivers [routing id][payload]; count the payload frames. */
    while (received < count + 1) {
        if (zmq_msg_recv(&frame, server.router, 0) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            fdy_bench_env_fail("baseline receive after %zu messages: %s", received,
                               zmq_strerror(zmq_errno()));
            goto out;
        }
        if (zmq_msg_more(&frame))
            continue;
        if (zmq_msg_size(&frame) != payload_size) {
            fdy_bench_env_fail("baseline: frame of %zu bytes", zmq_msg_size(&frame));
            goto out;
        }
        if (received++ == 0)
            start = fdy_bench_env_now_ns(); /* after the warm-up: the handshake is not timed */
    }
    *seconds_out = (double) (fdy_bench_env_now_ns() - start) / 1e9;
    rc = 0;
out:
    zmq_msg_close(&frame);
    if (started) {
        /* Close the router first so a sender blocked at the HWM returns. */
        if (rc != 0)
            fdy_curve_server_unblock(&server);
        pthread_join(thread, NULL);
        if (sender.rc != 0)
            rc = -1;
    }
    fdy_curve_server_close(&server);
    return rc == 0 ? FOUNDRY_OK : FOUNDRY_EIO;
}