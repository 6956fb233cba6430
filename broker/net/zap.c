/*  zap.c: ZAP handler (RFC 27) for the broker's CURVE ROUTER. Maps a client
 *  public key to a principal name through the registry and hands it to
 *  libzmq as the User-Id, which is the only identity the broker trusts.
 *  Every refusal is also handed to the audit log's buffer (refusals.h).
 *  Not for per-message checks: router.c re-checks the User-Id every message.
 */
#include "zap.h"

#include "clock.h"
#include "keys.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_VERSION "1.0"
/* The metadata property carrying the proved public key (Z85); libzmq
 * attaches it to every message of the connection. */
#define ZAP_KEY_PROPERTY "X-Public-Key"
/* version, request id, domain, address, routing id, mechanism, credentials */
#define ZAP_FRAMES_MAX 7
#define CURVE_KEY_BYTES 32

struct fdy_zap {
    void *socket;
    fdy_registry_t *registry;
    fdy_refusals_t *refusals; /* may be NULL */
    const fdy_peers_t *peers; /* for the connection limit; may be NULL */
    size_t max_connections;   /* per key; 0: none */
    uint64_t accepted;
    uint64_t refused;
};

void
fdy_zap_limit_connections(fdy_zap_t *self, const fdy_peers_t *peers, size_t max)
{
    self->peers = peers;
    self->max_connections = max;
}

foundry_err
fdy_zap_new(void *zmq_ctx, fdy_registry_t *registry, fdy_refusals_t *refusals, fdy_zap_t **out,
            fdy_reason_t *reason)
{
    *out = NULL;
    fdy_zap_t *self = calloc(1, sizeof *self);
    if (!self)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    self->registry = registry;
    self->refusals = refusals;
    self->socket = zmq_socket(zmq_ctx, ZMQ_REP);
    if (!self->socket) {
        foundry_err err = fdy_reason_set(reason, FOUNDRY_EIO, "ZAP socket: %s",
                                         zmq_strerror(errno));
        free(self);
        return err;
    }
    int linger = 0;
    zmq_setsockopt(self->socket, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(self->socket, ZAP_ENDPOINT) != 0) {
        foundry_err err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot bind %s: %s",
                                         ZAP_ENDPOINT, zmq_strerror(errno));
        zmq_close(self->socket);
        free(self);
        return err;
    }
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_zap_destroy(fdy_zap_t **self_p)
{
    fdy_zap_t *self = *self_p;
    if (!self)
        return;
    zmq_close(self->socket);
    free(self);
    *self_p = NULL;
}

void *
fdy_zap_socket(fdy_zap_t *self)
{
    return self->socket;
}

uint64_t
fdy_zap_accepted(const fdy_zap_t *self)
{
    return self->accepted;
}

uint64_t
fdy_zap_refused(const fdy_zap_t *self)
{
    return self->refused;
}

static bool
s_frame_is(zmq_msg_t *frame, const char *text)
{
    size_t len = strlen(text);
    return zmq_msg_size(frame) == len && memcmp(zmq_msg_data(frame), text, len) == 0;
}

/* Copies a frame into a NUL-ended string for logging, truncated to fit. */
static void
s_frame_text(zmq_msg_t *frame, char *out, size_t out_size)
{
    size_t len = zmq_msg_size(frame);
    if (len >= out_size)
        len = out_size - 1;
    memcpy(out, zmq_msg_data(frame), len);
    out[len] = '\0';
}

/* The six reply frames. A REP socket must answer every request, even a
 * malformed one, or it stops serving. request_id may be NULL. */
static foundry_err
s_reply(fdy_zap_t *self, zmq_msg_t *request_id, const char *status, const char *text,
        const char *user_id, const char *public_z85)
{
    bool ok = zmq_send(self->socket, ZAP_VERSION, strlen(ZAP_VERSION), ZMQ_SNDMORE) >= 0;
    if (ok && request_id)
        ok = zmq_send(self->socket, zmq_msg_data(request_id), zmq_msg_size(request_id),
                      ZMQ_SNDMORE) >= 0;
    else if (ok)
        ok = zmq_send(self->socket, "", 0, ZMQ_SNDMORE) >= 0;
    ok = ok && zmq_send(self->socket, status, strlen(status), ZMQ_SNDMORE) >= 0;
    ok = ok && zmq_send(self->socket, text, strlen(text), ZMQ_SNDMORE) >= 0;
    ok = ok && zmq_send(self->socket, user_id, strlen(user_id), ZMQ_SNDMORE) >= 0;
    /* Metadata (ZMTP property list): the public key the peer proved, so the
     * router can tell a connection made with a key since rotated away. */
    uint8_t metadata[1 + sizeof ZAP_KEY_PROPERTY + 4 + FDY_Z85_KEY_LEN];
    size_t metadata_len = 0;
    if (public_z85 && strlen(public_z85) == FDY_Z85_KEY_LEN) {
        size_t name_len = sizeof ZAP_KEY_PROPERTY - 1;
        metadata[0] = (uint8_t) name_len;
        memcpy(metadata + 1, ZAP_KEY_PROPERTY, name_len);
        uint8_t *at = metadata + 1 + name_len;
        at[0] = 0, at[1] = 0, at[2] = 0, at[3] = FDY_Z85_KEY_LEN;
        memcpy(at + 4, public_z85, FDY_Z85_KEY_LEN);
        metadata_len = 1 + name_len + 4 + FDY_Z85_KEY_LEN;
    }
    ok = ok && zmq_send(self->socket, metadata, metadata_len, 0) >= 0;
    if (!ok) {
        fdy_log_err("ZAP-SOCKET", "ZAP reply failed: %s", zmq_strerror(errno));
        return FOUNDRY_EIO;
    }
    return FOUNDRY_OK;
}

/* Counts, audits and answers one refusal. address, principal and
 * fingerprint may be NULL (not known). */
static foundry_err
s_refuse(fdy_zap_t *self, zmq_msg_t *request_id, const char *status, const char *why,
         const char *address, const char *principal, const char *fingerprint)
{
    self->refused++;
    if (self->refusals) {
        fdy_refusal_t refusal = {.command = "handshake", .principal = principal,
                                 .key = fingerprint, .peer = address, .reason = why};
        fdy_refusals_add(self->refusals, &refusal, fdy_clock_mono_ms());
    }
    return s_reply(self, request_id, status, why, "", NULL);
}

static foundry_err
s_decide(fdy_zap_t *self, zmq_msg_t *frames, size_t count)
{
    if (count < 6 || !s_frame_is(&frames[0], ZAP_VERSION)) {
        fdy_log_warn_limited("ZAP-MALFORMED", "malformed ZAP request (%zu frames)", count);
        return s_refuse(self, count >= 2 ? &frames[1] : NULL, "500", "malformed ZAP request",
                        NULL, NULL, NULL);
    }
    char address[64];
    s_frame_text(&frames[3], address, sizeof address);
    if (!s_frame_is(&frames[2], FDY_ZAP_DOMAIN)) {
        fdy_log_warn_limited("AUTH-DENIED", "peer %s: wrong ZAP domain", address);
        return s_refuse(self, &frames[1], "400", "wrong domain", address, NULL, NULL);
    }
    if (!s_frame_is(&frames[5], "CURVE") || count != 7
        || zmq_msg_size(&frames[6]) != CURVE_KEY_BYTES) {
        fdy_log_warn_limited("AUTH-DENIED", "peer %s: mechanism is not CURVE", address);
        return s_refuse(self, &frames[1], "400", "CURVE required", address, NULL, NULL);
    }
    char public_z85[FDY_Z85_KEY_LEN + 1];
    if (!zmq_z85_encode(public_z85, zmq_msg_data(&frames[6]), CURVE_KEY_BYTES))
        return s_refuse(self, &frames[1], "400", "bad key", address, NULL, NULL);
    char fingerprint[9];
    fdy_keys_fingerprint(public_z85, fingerprint);
    const fdy_principal_t *p = fdy_registry_by_key(self->registry, public_z85);
    if (!p || p->revoked) {
        const char *why = p ? "key revoked" : "unknown key";
        fdy_log_warn_limited("AUTH-DENIED", "key %s from %s: %s", fingerprint, address, why);
        return s_refuse(self, &frames[1], "400", why, address, p ? p->name : NULL, fingerprint);
    }
    int64_t backoff_ms =
        self->peers ? fdy_peers_backoff_left_ms(self->peers, p->name, fdy_clock_mono_ms()) : 0;
    if (backoff_ms > 0) {
        /* Not 400 (a refused key): libfoundry takes 500 as "try again
         * later" and keeps what it has to send. Not 300 either, RFC 27's
         * temporary error: libzmq answers it by stalling the handshake
         * silently until handshake_timeout, so the client never learns. */
        char why[128];
        snprintf(why, sizeof why,
                 "flooded over its rate limit: handshakes refused for %lld ms more",
                 (long long) backoff_ms);
        fdy_log_warn_limited("AUTH-BACKOFF", "key %s ('%s') from %s: %s", fingerprint, p->name,
                             address, why);
        return s_refuse(self, &frames[1], "500", why, address, p->name, fingerprint);
    }
    if (self->peers && self->max_connections &&
        fdy_peers_principal_connections(self->peers, p->name) >= self->max_connections) {
        char why[96];
        snprintf(why, sizeof why, "too many connections for the key (max_connections_per_principal %zu)",
                 self->max_connections);
        fdy_log_warn_limited("AUTH-DENIED", "key %s ('%s') from %s: %s", fingerprint, p->name,
                             address, why);
        return s_refuse(self, &frames[1], "400", why, address, p->name, fingerprint);
    }
    self->accepted++;
    fdy_log_info("AUTH-OK", "key %s from %s is '%s' (%s)", fingerprint, address, p->name,
                 fdy_role_name(p->role));
    return s_reply(self, &frames[1], "200", "OK", p->name, public_z85);
}

/* Receives one request (all its frames) and answers it. *got_out is false
 * when nothing was pending. */
static foundry_err
s_handle_one(fdy_zap_t *self, bool *got_out)
{
    zmq_msg_t frames[ZAP_FRAMES_MAX];
    size_t count = 0;
    size_t extra = 0;
    foundry_err err = FOUNDRY_OK;
    *got_out = false;
    int more = 1;
    while (more) {
        zmq_msg_t spare; /* frames past the known ones are read and dropped */
        zmq_msg_t *frame = count < ZAP_FRAMES_MAX ? &frames[count] : &spare;
        zmq_msg_init(frame);
        bool first_part = count == 0 && extra == 0;
        int rc;
        do
            rc = zmq_msg_recv(frame, self->socket, ZMQ_DONTWAIT);
        while (rc < 0 && errno == EINTR && !first_part);
        if (rc < 0) {
            int error = errno;
            zmq_msg_close(frame);
            if (first_part && (error == EAGAIN || error == EINTR))
                goto out;
            fdy_log_err("ZAP-SOCKET", "ZAP receive failed: %s", zmq_strerror(error));
            err = FOUNDRY_EIO;
            goto out;
        }
        more = zmq_msg_more(frame);
        if (frame == &spare) {
            zmq_msg_close(&spare);
            extra++;
        }
        else
            count++;
    }
    *got_out = true;
    err = s_decide(self, frames, count + extra);
out:
    for (size_t i = 0; i < count; i++)
        zmq_msg_close(&frames[i]);
    return err;
}

foundry_err
fdy_zap_handle(fdy_zap_t *self)
{
    /* A key added by foundryctl's offline bootstrap must be known before
     * its first handshake; refresh is cheap when nothing changed. */
    if (fdy_registry_refresh(self->registry) != FOUNDRY_OK)
        fdy_log_warn_limited("REGISTRY-REFRESH", "cannot reload the key store; using the last one");
    for (;;) {
        bool got = false;
        foundry_err err = s_handle_one(self, &got);
        if (err != FOUNDRY_OK)
            return err;
        if (!got)
            return FOUNDRY_OK;
    }
}
