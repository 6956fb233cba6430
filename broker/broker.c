/*  broker.c: the foundry-broker daemon: start-up in a fail-closed order
 *  (store, registry, default streams, keys, ZAP handler, then the CURVE
 *  ROUTER), the ready file, the event loop with its maintenance, and a clean
 *  stop. Request handling is router.c's; the group commit publish.c's.
 */
#include "broker.h"

#include "admin.h"
#include "clock.h"
#include "keys.h"
#include "log.h"
#include "publish.h"
#include "registry.h"
#include "router.h"
#include "store.h"
#include "subs.h"
#include "zap.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <zmq.h>

/* libzmq 4.3.4 implements it but declares it only in its draft API. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define MONITOR_ENDPOINT "inproc://foundry-router-monitor"
#define MONITOR_EVENTS                                                                            \
    (ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL          \
     | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
#define POLL_MS 100
#define HWM 100000
#define LINGER_MS 2000
#define READER_CHECK_MS 10000
/* How often the store's mapped pages are released: bounds the resident set
 * that reads of long streams would otherwise grow (fdy_store_release_pages). */
#define RELEASE_PAGES_MS 200
#define PRUNE_EVERY_MS 100
#define PRUNE_WORK 16384
/* Retention: records removed per trim (one transaction), and how often a
 * trim runs when the last one left nothing behind. */
#define TRIM_WORK 4096
#define TRIM_EVERY_MS 100
#define BROKER_KEY_NAME "broker"

struct fdy_broker {
    const fdy_broker_cfg_t *cfg;
    int lock_fd;
    fdy_store_t *store;
    fdy_registry_t *registry;
    fdy_publish_t *publish;
    fdy_admin_t *admin;
    fdy_subs_t *subs;
    void *ctx;
    fdy_zap_t *zap;
    void *socket;                /* the CURVE ROUTER */
    void *monitor;               /* PAIR receiving the ROUTER's events */
    fdy_router_t *router;
    char endpoint[256];
    char broker_key_path[PATH_MAX];
    char ready_path[PATH_MAX];
    bool ready_written;
    uint64_t accepted;
    uint64_t disconnected;
    int64_t next_reader_check_ms;
    int64_t next_release_pages_ms;
    int64_t next_prune_ms;
    bool prune_backlog;
    int64_t next_trim_ms;
    bool trim_backlog;
};

/* ---- start-up ------------------------------------------------------------ */

/* Two brokers on one data directory would interleave sequences: refuse. The
 * lock dies with the process, so a SIGKILLed broker restarts at once. */
static foundry_err
s_lock_data_dir(fdy_broker_t *self, fdy_reason_t *reason)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/broker.lock", self->cfg->data_dir) >= (int) sizeof path)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "data_dir is too long");
    self->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "%s: %s", path, strerror(errno));
    if (flock(self->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "%s: another broker uses %s", path,
                              self->cfg->data_dir);
    return FOUNDRY_OK;
}

static foundry_err
s_open_store(fdy_broker_t *self, fdy_reason_t *reason)
{
    fdy_store_opts_t opts = {
        .dir = self->cfg->data_dir,
        .map_size = self->cfg->map_size,
        .map_size_max = self->cfg->map_size_max,
        .dedupe_window_ms = self->cfg->dedupe_window_ms,
    };
    foundry_err err = fdy_store_open(&opts, &self->store, reason);
    if (err == FOUNDRY_OK)
        err = s_lock_data_dir(self, reason);
    if (err != FOUNDRY_OK)
        return err;
    /* A ready file left by a killed broker must not announce us before we
     * are bound. */
    if (snprintf(self->ready_path, sizeof self->ready_path, "%s/ready", self->cfg->data_dir)
        >= (int) sizeof self->ready_path - 4)   /* room for ".tmp" */
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "data_dir is too long");
    if (unlink(self->ready_path) != 0 && errno != ENOENT)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot remove stale %s: %s",
                              self->ready_path, strerror(errno));
    return fdy_registry_new(self->store, &self->registry, reason);
}

/* Stream telemetry-<site> capturing telemetry.<site>.> for every site. */
static foundry_err
s_ensure_streams(fdy_broker_t *self, fdy_reason_t *reason)
{
    const char *cursor = self->cfg->sites ? self->cfg->sites : "";
    while (*cursor) {
        size_t skip = strspn(cursor, " \t");
        cursor += skip;
        size_t len = strcspn(cursor, " \t");
        if (len == 0)
            break;
        char name[FOUNDRY_STREAM_NAME_MAX + 1];
        char filter[FOUNDRY_SUBJECT_MAX + 1];
        snprintf(name, sizeof name, "telemetry-%.*s", (int) len, cursor);
        snprintf(filter, sizeof filter, "telemetry.%.*s.>", (int) len, cursor);
        const char *filters[] = {filter};
        foundry_err err = fdy_store_stream_create(self->store, name, filters, 1, reason);
        if (err == FOUNDRY_OK)
            fdy_log_notice("STREAM-CREATED", "stream %s captures %s", name, filter);
        else if (err != FOUNDRY_EEXIST)
            return err;
        cursor += len;
    }
    fdy_reason_clear(reason);
    return FOUNDRY_OK;
}

/* keys_dir/broker.key_secret, generated on first start. */
static foundry_err
s_load_keys(fdy_broker_t *self, fdy_keypair_t **keypair_out, fdy_reason_t *reason)
{
    const char *dir = self->cfg->keys_dir;
    char secret_path[PATH_MAX];
    if (snprintf(secret_path, sizeof secret_path, "%s/%s.key_secret", dir, BROKER_KEY_NAME)
        >= (int) sizeof secret_path)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "keys_dir is too long");
    if (access(secret_path, F_OK) != 0 && errno == ENOENT) {
        foundry_err err = fdy_keys_generate(dir, BROKER_KEY_NAME, reason);
        if (err != FOUNDRY_OK)
            return err;
        fdy_log_notice("KEYS-GENERATED", "generated the broker key pair in %s", dir);
    }
    foundry_err err = fdy_keys_load_secret(secret_path, keypair_out, reason);
    if (err != FOUNDRY_OK)
        return err;
    char real_dir[PATH_MAX];
    if (!realpath(dir, real_dir))
        return fdy_reason_set(reason, FOUNDRY_EIO, "%s: %s", dir, strerror(errno));
    if (snprintf(self->broker_key_path, sizeof self->broker_key_path, "%s/%s.key", real_dir,
                 BROKER_KEY_NAME) >= (int) sizeof self->broker_key_path)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "keys_dir is too long");
    if (access(self->broker_key_path, R_OK) != 0)
        fdy_log_warn("KEYS-PUBLIC-MISSING", "%s is missing: clients need the broker's public key",
                     self->broker_key_path);
    return FOUNDRY_OK;
}

static foundry_err
s_set_option(void *socket, int option, const void *value, size_t len, const char *name,
             fdy_reason_t *reason)
{
    if (zmq_setsockopt(socket, option, value, len) != 0)
        return fdy_reason_set(reason, FOUNDRY_EIO, "setting %s: %s", name, zmq_strerror(errno));
    return FOUNDRY_OK;
}

static foundry_err
s_configure_router(fdy_broker_t *self, const fdy_keypair_t *keypair, fdy_reason_t *reason)
{
    const char *secret = fdy_keypair_secret(keypair);
    const char *public_key = fdy_keypair_public(keypair);
    int one = 1, zero = 0, hwm = HWM, linger = LINGER_MS;
    int64_t max_msg_size = (int64_t) self->cfg->zmq_max_msg_size;
    void *s = self->socket;
    foundry_err err = s_set_option(s, ZMQ_CURVE_SERVER, &one, sizeof one, "ZMQ_CURVE_SERVER",
                                   reason);
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_CURVE_SECRETKEY, secret, FDY_Z85_KEY_LEN,
                           "ZMQ_CURVE_SECRETKEY", reason);
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_CURVE_PUBLICKEY, public_key, FDY_Z85_KEY_LEN,
                           "ZMQ_CURVE_PUBLICKEY", reason);
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_ZAP_DOMAIN, FDY_ZAP_DOMAIN, strlen(FDY_ZAP_DOMAIN),
                           "ZMQ_ZAP_DOMAIN", reason);
    /* Without it libzmq 4.3 lets every CURVE client in when no ZAP handler
     * answers. czmq 4.2.1's setter for it does nothing, hence zmq_setsockopt;
     * failing to set it is fatal. */
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one,
                           "ZMQ_ZAP_ENFORCE_DOMAIN", reason);
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_MAXMSGSIZE, &max_msg_size, sizeof max_msg_size,
                           "ZMQ_MAXMSGSIZE", reason);
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_ROUTER_MANDATORY, &zero, sizeof zero, "ZMQ_ROUTER_MANDATORY",
                           reason);
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_SNDHWM, &hwm, sizeof hwm, "ZMQ_SNDHWM", reason);
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_RCVHWM, &hwm, sizeof hwm, "ZMQ_RCVHWM", reason);
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_LINGER, &linger, sizeof linger, "ZMQ_LINGER", reason);
    return err;
}

/* The order is the security property: the ZAP handler is bound before the
 * ROUTER, so no connection is ever accepted without it. */
static foundry_err
s_bind(fdy_broker_t *self, fdy_reason_t *reason)
{
    fdy_keypair_t *keypair = NULL;
    foundry_err err = s_load_keys(self, &keypair, reason);
    if (err != FOUNDRY_OK)
        return err;
    char fingerprint[9];
    fdy_keys_fingerprint(fdy_keypair_public(keypair), fingerprint);
    self->ctx = zmq_ctx_new();
    if (!self->ctx) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "zmq_ctx_new: %s", zmq_strerror(errno));
        goto out;
    }
    err = fdy_zap_new(self->ctx, self->registry, &self->zap, reason);
    if (err != FOUNDRY_OK)
        goto out;
    self->socket = zmq_socket(self->ctx, ZMQ_ROUTER);
    if (!self->socket) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "ROUTER socket: %s", zmq_strerror(errno));
        goto out;
    }
    err = s_configure_router(self, keypair, reason);
    if (err != FOUNDRY_OK)
        goto out;
    /* Monitor before bind, so no accepted connection goes uncounted. */
    if (zmq_socket_monitor(self->socket, MONITOR_ENDPOINT, MONITOR_EVENTS) != 0) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "socket monitor: %s", zmq_strerror(errno));
        goto out;
    }
    self->monitor = zmq_socket(self->ctx, ZMQ_PAIR);
    if (!self->monitor || zmq_connect(self->monitor, MONITOR_ENDPOINT) != 0) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "socket monitor: %s", zmq_strerror(errno));
        goto out;
    }
    if (zmq_bind(self->socket, self->cfg->listen) != 0) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot bind %s: %s", self->cfg->listen,
                             zmq_strerror(errno));
        goto out;
    }
    size_t len = sizeof self->endpoint;
    if (zmq_getsockopt(self->socket, ZMQ_LAST_ENDPOINT, self->endpoint, &len) != 0)
        snprintf(self->endpoint, sizeof self->endpoint, "%s", self->cfg->listen);
    fdy_log_notice("BROKER-START", "foundry-broker %s, data %s, broker key %s",
                   foundry_version(), self->cfg->data_dir, fingerprint);
out:
    fdy_keypair_destroy(&keypair);
    return err;
}

/* Written after binding, atomically (tmp + rename): whoever sees the file
 * can connect at once. */
static foundry_err
s_write_ready(fdy_broker_t *self, fdy_reason_t *reason)
{
    char tmp_path[PATH_MAX + 8];
    if (snprintf(tmp_path, sizeof tmp_path, "%s.tmp", self->ready_path) >= (int) sizeof tmp_path)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "data_dir is too long");
    FILE *file = fopen(tmp_path, "w");
    if (!file)
        return fdy_reason_set(reason, FOUNDRY_EIO, "%s: %s", tmp_path, strerror(errno));
    fprintf(file, "endpoint %s\npid %ld\nbroker_key %s\n", self->endpoint, (long) getpid(),
            self->broker_key_path);
    bool ok = fflush(file) == 0 && fsync(fileno(file)) == 0;
    ok = fclose(file) == 0 && ok;
    if (!ok || rename(tmp_path, self->ready_path) != 0) {
        foundry_err err = fdy_reason_set(reason, FOUNDRY_EIO, "writing %s: %s",
                                         self->ready_path, strerror(errno));
        unlink(tmp_path);
        return err;
    }
    self->ready_written = true;
    return FOUNDRY_OK;
}

foundry_err
fdy_broker_new(const fdy_broker_cfg_t *cfg, fdy_broker_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    fdy_broker_t *self = fdy_xalloc(sizeof *self);
    self->cfg = cfg;
    self->lock_fd = -1;
    foundry_err err = s_open_store(self, reason);
    if (err == FOUNDRY_OK)
        err = s_ensure_streams(self, reason);
    if (err == FOUNDRY_OK)
        err = s_bind(self, reason);
    if (err == FOUNDRY_OK) {
        self->publish = fdy_publish_new(cfg, self->store);
        self->subs = fdy_subs_new(self->socket, self->store, self->registry);
        self->admin = fdy_admin_new(self->store, self->registry, self->subs);
        self->router = fdy_router_new(self->socket, cfg, self->registry, self->publish,
                                      self->admin, self->subs);
        err = s_write_ready(self, reason);
    }
    if (err != FOUNDRY_OK) {
        fdy_broker_destroy(&self);
        return err;
    }
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_broker_destroy(fdy_broker_t **self_p)
{
    fdy_broker_t *self = *self_p;
    if (!self)
        return;
    /* Nobody should connect to a broker on its way out. */
    if (self->ready_written)
        unlink(self->ready_path);
    fdy_router_destroy(&self->router);
    /* Saves the consumer states (no message is sent). */
    fdy_subs_destroy(&self->subs);
    if (self->socket)
        zmq_socket_monitor(self->socket, NULL, 0);
    if (self->monitor)
        zmq_close(self->monitor);
    if (self->socket)
        zmq_close(self->socket);   /* queued acks get LINGER_MS to leave */
    fdy_zap_destroy(&self->zap);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    fdy_admin_destroy(&self->admin);
    fdy_publish_destroy(&self->publish);
    fdy_registry_destroy(&self->registry);
    fdy_store_close(&self->store);
    if (self->lock_fd >= 0)
        close(self->lock_fd);
    free(self);
    *self_p = NULL;
}

/* ---- the loop ------------------------------------------------------------- */

static void
s_drain_monitor(fdy_broker_t *self)
{
    for (;;) {
        zmq_msg_t event;
        zmq_msg_init(&event);
        if (zmq_msg_recv(&event, self->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&event);
            return;
        }
        /* frame 1: event id (u16) and value (u32); frame 2: endpoint */
        uint16_t id = 0;
        if (zmq_msg_size(&event) >= sizeof id)
            memcpy(&id, zmq_msg_data(&event), sizeof id);
        bool more = zmq_msg_more(&event);
        zmq_msg_close(&event);
        while (more) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            more = zmq_msg_recv(&part, self->monitor, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&part);
            zmq_msg_close(&part);
        }
        if (id == ZMQ_EVENT_ACCEPTED)
            self->accepted++;
        else if (id == ZMQ_EVENT_DISCONNECTED)
            self->disconnected++;
        /* Refused keys are logged by the ZAP handler (AUTH-DENIED); these are
         * clients that got our key wrong or spoke something else. */
        else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
            fdy_log_warn_limited("HANDSHAKE-FAILED", "a client handshake failed: protocol error "
                                 "(wrong broker key?)");
        else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            fdy_log_info("HANDSHAKE-FAILED", "a client handshake failed without detail");
    }
}

/* Bounded work between turns: none of it may stall acks for long. */
static void
s_maintain(fdy_broker_t *self)
{
    int64_t now = fdy_clock_mono_ms();
    if (fdy_registry_refresh(self->registry) != FOUNDRY_OK)
        fdy_log_warn_limited("REGISTRY-REFRESH", "cannot reload the key store; using the last one");
    if (self->prune_backlog || now >= self->next_prune_ms) {
        size_t pruned = 0;
        foundry_err err = fdy_store_prune_dedupe(self->store, fdy_clock_wall_ns(), PRUNE_WORK,
                                                 &pruned);
        if (err != FOUNDRY_OK && err != FOUNDRY_EFULL)
            fdy_log_warn_limited("DEDUPE-PRUNE", "pruning dedupe ids failed: %s",
                                 foundry_strerror(err));
        /* A full page means more are due: keep going next turn. */
        self->prune_backlog = err == FOUNDRY_OK && pruned == PRUNE_WORK;
        self->next_prune_ms = now + PRUNE_EVERY_MS;
    }
    fdy_subs_maintain(self->subs, now);
    if (self->trim_backlog || now >= self->next_trim_ms) {
        size_t trimmed = 0;
        foundry_err err = fdy_store_trim(self->store, fdy_clock_wall_ns(), TRIM_WORK, &trimmed);
        /* A full batch means more is due: keep trimming next turn, with
         * the turn's publishes in between. Failures are logged by the store. */
        self->trim_backlog = err == FOUNDRY_OK && trimmed == TRIM_WORK;
        self->next_trim_ms = now + TRIM_EVERY_MS;
    }
    if (now >= self->next_release_pages_ms) {
        fdy_store_release_pages(self->store);
        self->next_release_pages_ms = now + RELEASE_PAGES_MS;
    }
    if (now >= self->next_reader_check_ms) {
        fdy_store_check_readers(self->store);
        self->next_reader_check_ms = now + READER_CHECK_MS;
    }
}

foundry_err
fdy_broker_run(fdy_broker_t *self, const volatile sig_atomic_t *stop)
{
    fdy_log_notice("BROKER-READY", "serving on %s", self->endpoint);
    foundry_err err = FOUNDRY_OK;
    bool busy = false;
    while (!*stop) {
        zmq_pollitem_t items[] = {
            {.socket = self->socket, .events = ZMQ_POLLIN},
            {.socket = fdy_zap_socket(self->zap), .events = ZMQ_POLLIN},
            {.socket = self->monitor, .events = ZMQ_POLLIN},
        };
        if (zmq_poll(items, 3, busy ? 0 : POLL_MS) < 0) {
            if (errno == EINTR)
                continue;
            fdy_log_err("SOCKET-ERROR", "zmq_poll failed: %s", zmq_strerror(errno));
            err = FOUNDRY_EIO;
            break;
        }
        if (items[2].revents & ZMQ_POLLIN)
            s_drain_monitor(self);
        /* Handshakes first: clients wait on them, and ZAP may reload the
         * registry, which is only safe between turns. */
        if (items[1].revents & ZMQ_POLLIN) {
            err = fdy_zap_handle(self->zap);
            if (err != FOUNDRY_OK)
                break;
        }
        /* Every turn, input or not: deliveries, redeliveries and saves run
         * on their own clock. */
        uint64_t connections =
            self->accepted > self->disconnected ? self->accepted - self->disconnected : 0;
        err = fdy_router_turn(self->router, connections, items[0].revents & ZMQ_POLLIN, &busy);
        if (err != FOUNDRY_OK)
            break;
        s_maintain(self);
    }
    fdy_publish_stats_t stats;
    fdy_publish_stats(self->publish, &stats);
    fdy_log_notice("BROKER-STOP", "stopping: %" PRIu64 " messages stored in %" PRIu64
                   " group commits, %" PRIu64 " duplicates, %" PRIu64 " error replies",
                   stats.published, stats.commits, stats.duplicates,
                   fdy_router_error_replies(self->router));
    return err;
}
