/*  broker.c: the foundry-broker daemon: start-up in a fail-closed order
 *  (store, registry, default streams, keys, ZAP handler, then the CURVE
 *  ROUTER), the table of services, the ready file, the event loop and a
 *  clean stop. Requests are router.c's; what they mean is each service's;
 *  the one write transaction per turn is commit.c's.
 */
#include "broker.h"

#include "clock.h"
#include "commit.h"
#include "keys.h"
#include "heap.h"
#include "log.h"
#include "peers.h"
#include "ready_file.h"
#include "refusals.h"
#include "registry.h"
#include "reply.h"
#include "router.h"
#include "service.h"
#include "start_check.h"
#include "store.h"
#include "zap.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
/* Outgoing messages queued per connection: deliveries are bounded by
 * credit, acks by the client's window. */
#define HWM 100000
#define LINGER_MS 2000
#define KEEPALIVE_IDLE_S 2
#define KEEPALIVE_INTVL_S 1
#define KEEPALIVE_COUNT 2
/* Unacknowledged data older than this ends the connection (TCP_USER_TIMEOUT). */
#define USER_TIMEOUT_MS 5000
#define BROKER_KEY_NAME "broker"
/* Sockets of the services' own (links, metrics), polled with ours. */
#define SERVICE_POLLERS_MAX 16

/* The one place that names services. Admin comes last: it dispatches
 * admin commands to, and builds status from, the ones before it. */
static const fdy_service_ops_t *const s_services[] = {
    &fdy_streams_service,
    &fdy_audit_service,
    &fdy_jobs_service,
    &fdy_models_service,
    &fdy_rollouts_service, /* after models: it registers hooks with it */
    &fdy_metrics_service,
    &fdy_admin_service,
};
#define SERVICE_COUNT (sizeof s_services / sizeof s_services[0])

struct fdy_broker {
    const fdy_broker_cfg_t *cfg;
    int lock_fd;
    fdy_store_t *store;
    fdy_registry_t *registry;
    fdy_peers_t *peers;
    fdy_refusals_t *refusals;    /* ZAP and the router fill it, the audit service drains it */
    fdy_reply_t *reply;
    fdy_service_t services[SERVICE_COUNT];
    size_t service_count;   /* created so far */
    void *ctx;
    fdy_zap_t *zap;
    void *socket;                /* the CURVE ROUTER */
    void *monitor;               /* PAIR receiving the ROUTER's events */
    fdy_router_t *router;
    char endpoint[256];
    char broker_key_path[PATH_MAX];
    char ready_path[PATH_MAX];
    bool ready_written;
    /* The store is ours (opened and locked): a stop leaves the clean-stop
     * marker. */
    bool owns_store;
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
        .dedupe_index_max = self->cfg->dedupe_index_max,
    };
    /* The lock comes first, so a second broker on the directory is refused
     * before it checks, opens (a read-write open may migrate) or loads the
     * store the first one serves. A directory that does not exist yet is
     * nobody's: it is locked once the open has created it. */
    struct stat dir_st;
    bool locked = stat(self->cfg->data_dir, &dir_st) == 0;
    foundry_err err = locked ? s_lock_data_dir(self, reason) : FOUNDRY_OK;
    /* Before the open: the check forks, and the child must not inherit an
     * open environment. */
    if (err == FOUNDRY_OK)
        err = fdy_start_check_run(self->cfg->data_dir, self->cfg->check_store_at_start, reason);
    if (err == FOUNDRY_OK)
        err = fdy_store_open(&opts, &self->store, reason);
    if (err == FOUNDRY_OK && !locked)
        err = s_lock_data_dir(self, reason);
    if (err != FOUNDRY_OK)
        return err;
    self->owns_store = true;
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
    int rcv_hwm = (int) self->cfg->max_queued_requests;
    int handshake_ms = (int) self->cfg->handshake_timeout_ms;
    int keepalive_idle = KEEPALIVE_IDLE_S, keepalive_intvl = KEEPALIVE_INTVL_S;
    int keepalive_count = KEEPALIVE_COUNT;
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
        err = s_set_option(s, ZMQ_RCVHWM, &rcv_hwm, sizeof rcv_hwm, "ZMQ_RCVHWM", reason);
    /* A silent or slow client holds a descriptor and CPU until its
     * handshake times out: keep that short. */
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_HANDSHAKE_IVL, &handshake_ms, sizeof handshake_ms,
                           "ZMQ_HANDSHAKE_IVL", reason);
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_LINGER, &linger, sizeof linger, "ZMQ_LINGER", reason);
    /* TCP keepalive, not ZMTP heartbeats: a peer that vanished without
     * closing (power loss, a cut cable) is noticed within about
     * KEEPALIVE_IDLE_S + KEEPALIVE_COUNT * KEEPALIVE_INTVL_S, and while
     * data is unacknowledged within TCP_USER_TIMEOUT (set per connection
     * when it is accepted). libzmq 4.3.4's heartbeat timer writes on a
     * connection whose input is stopped (queued requests at
     * max_queued_requests) after the peer reset it, and aborts the whole
     * process (assertion !_io_error, stream_engine_base.cpp:331). */
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_TCP_KEEPALIVE, &one, sizeof one, "ZMQ_TCP_KEEPALIVE", reason);
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_TCP_KEEPALIVE_IDLE, &keepalive_idle, sizeof keepalive_idle,
                           "ZMQ_TCP_KEEPALIVE_IDLE", reason);
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_TCP_KEEPALIVE_INTVL, &keepalive_intvl, sizeof keepalive_intvl,
                           "ZMQ_TCP_KEEPALIVE_INTVL", reason);
    if (err == FOUNDRY_OK)
        err = s_set_option(s, ZMQ_TCP_KEEPALIVE_CNT, &keepalive_count, sizeof keepalive_count,
                           "ZMQ_TCP_KEEPALIVE_CNT", reason);
    return err;
}

/* A peer that stops acknowledging what we sent (gone without a reset) is
 * cut off after USER_TIMEOUT_MS instead of the kernel's ~15 minutes of
 * retransmissions; keepalive covers the idle case. fd is libzmq's, and
 * only this option of it is touched. */
static void
s_set_user_timeout(int fd)
{
    unsigned int timeout = USER_TIMEOUT_MS;
    if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof timeout) != 0)
        fdy_log_warn_limited("TCP-USER-TIMEOUT", "cannot set TCP_USER_TIMEOUT on fd %d: %s", fd,
                             strerror(errno));
}

/* Every connection costs a descriptor: raise the soft limit to the hard
 * one, so a burst of connections does not starve new clients at 1,024. */
static void
s_raise_file_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max)
        return;
    rlim_t was = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) == 0)
        fdy_log_notice("FILE-LIMIT", "open-file limit raised from %llu to %llu",
                       (unsigned long long) was, (unsigned long long) limit.rlim_max);
    else
        fdy_log_warn("FILE-LIMIT", "cannot raise the open-file limit from %llu: %s",
                     (unsigned long long) was, strerror(errno));
}

/* The order is the security property: the ZAP handler is bound before the
 * ROUTER, so no connection is ever accepted without it. */
static foundry_err
s_bind(fdy_broker_t *self, fdy_reason_t *reason)
{
    s_raise_file_limit();
    fdy_heap_bound();
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
    /* More than one I/O thread: a connection that keeps its thread busy
     * decrypting 1 MiB requests does not delay the connections on the
     * other (libzmq gives each new connection the least loaded thread). */
    if (zmq_ctx_set(self->ctx, ZMQ_IO_THREADS, (int) self->cfg->io_threads) != 0) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "ZMQ_IO_THREADS %d: %s",
                             (int) self->cfg->io_threads, zmq_strerror(errno));
        goto out;
    }
    err = fdy_zap_new(self->ctx, self->registry, self->refusals, &self->zap, reason);
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

/* Written after binding, atomically and 0600 (ready_file.c): whoever sees
 * the file can connect at once. */
static foundry_err
s_write_ready(fdy_broker_t *self, fdy_reason_t *reason)
{
    char text[sizeof self->endpoint + sizeof self->broker_key_path + 64];
    snprintf(text, sizeof text, "endpoint %s\npid %ld\nbroker_key %s\n", self->endpoint,
             (long) getpid(), self->broker_key_path);
    foundry_err err = fdy_ready_file_write(self->ready_path, text, reason);
    if (err == FOUNDRY_OK)
        self->ready_written = true;
    return err;
}

/* Creates every service in table order and routes its kinds. */
static foundry_err
s_start_services(fdy_broker_t *self, fdy_reason_t *reason)
{
    self->peers = fdy_peers_new();
    fdy_zap_limit_connections(self->zap, self->peers,
                              (size_t) self->cfg->max_connections_per_principal);
    self->reply = fdy_reply_new(self->socket);
    self->router = fdy_router_new(self->socket, self->cfg, self->registry, self->peers,
                                  self->reply);
    fdy_router_audit(self->router, self->refusals);
    for (size_t i = 0; i < SERVICE_COUNT; i++) {
        const fdy_service_ops_t *ops = s_services[i];
        fdy_service_deps_t deps = {
            .cfg = self->cfg,
            .store = self->store,
            .registry = self->registry,
            .reply = self->reply,
            .peers = self->peers,
            .refusals = self->refusals,
            .services = self->services,
            .service_count = self->service_count,
        };
        fdy_service_t *service = &self->services[i];
        service->ops = ops;
        foundry_err err = ops->create(&deps, &service->self, reason);
        if (err != FOUNDRY_OK)
            return err;
        self->service_count++;
        for (size_t k = 0; k < ops->kind_count; k++) {
            err = fdy_router_route(self->router, ops->kinds[k], service);
            if (err != FOUNDRY_OK)
                return fdy_reason_set(reason, err, "service %s: kind %d is %s", ops->name,
                                      (int) ops->kinds[k],
                                      err == FOUNDRY_EEXIST ? "served twice" : "not a request");
        }
        if (ops->peer_seen)
            fdy_router_watch(self->router, service);
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_broker_new(const fdy_broker_cfg_t *cfg, fdy_broker_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    fdy_broker_t *self = fdy_xalloc(sizeof *self);
    self->cfg = cfg;
    self->lock_fd = -1;
    self->refusals = fdy_refusals_new(); /* before ZAP, which records into it */
    foundry_err err = s_open_store(self, reason);
    if (err == FOUNDRY_OK)
        err = s_ensure_streams(self, reason);
    if (err == FOUNDRY_OK)
        err = s_bind(self, reason);
    if (err == FOUNDRY_OK)
        err = s_start_services(self, reason);
    if (err == FOUNDRY_OK)
        err = s_write_ready(self, reason);
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
    /* Last created first: admin refers to the others. Services save what
     * must survive (consumer states) without sending anything. */
    while (self->service_count > 0) {
        fdy_service_t *service = &self->services[--self->service_count];
        service->ops->destroy(&service->self);
    }
    if (self->socket)
        zmq_socket_monitor(self->socket, NULL, 0);
    if (self->monitor)
        zmq_close(self->monitor);
    if (self->socket)
        zmq_close(self->socket);   /* queued acks get LINGER_MS to leave */
    fdy_zap_destroy(&self->zap);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    fdy_reply_destroy(&self->reply);
    fdy_peers_destroy(&self->peers);
    fdy_refusals_destroy(&self->refusals);
    fdy_registry_destroy(&self->registry);
    fdy_store_close(&self->store);
    fdy_reason_t reason;
    if (self->owns_store && fdy_start_check_mark_clean(self->cfg->data_dir, &reason) != FOUNDRY_OK)
        fdy_log_warn("STORE-CLEAN-STOP", "%s (the next start checks the store)", reason.text);
    if (self->lock_fd >= 0)
        close(self->lock_fd); /* after the marker: a successor waits for the lock */
    free(self);
    *self_p = NULL;
}

/* ---- the loop ------------------------------------------------------------- */

static uint64_t
s_stat(const fdy_stats_t *stats, const char *name)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < stats->count; i++)
        if (strcmp(stats->items[i].name, name) == 0)
            sum += stats->items[i].value;
    return sum;
}

static void
s_log_stop(const fdy_stats_t *stats, uint64_t error_replies)
{
    fdy_log_notice("BROKER-STOP", "stopping: %" PRIu64 " messages stored in %" PRIu64
                   " group commits, %" PRIu64 " duplicates, %" PRIu64 " error replies",
                   s_stat(stats, "published"), s_stat(stats, "commits"),
                   s_stat(stats, "duplicates"), error_replies);
}

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
        /* frame 1: event id (u16) and value (u32: the fd for ACCEPTED and
         * DISCONNECTED); frame 2: endpoint */
        uint16_t id = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&event) >= sizeof id + sizeof value) {
            memcpy(&id, zmq_msg_data(&event), sizeof id);
            memcpy(&value, (const uint8_t *) zmq_msg_data(&event) + sizeof id, sizeof value);
        }
        bool more = zmq_msg_more(&event);
        zmq_msg_close(&event);
        while (more) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            more = zmq_msg_recv(&part, self->monitor, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&part);
            zmq_msg_close(&part);
        }
        /* A closed connection's subscriptions, parked requests and (later)
         * leases end at once: peers.c tells every service. */
        if (id == ZMQ_EVENT_ACCEPTED) {
            s_set_user_timeout((int) value);
            fdy_peers_accepted(self->peers, (int) value);
        }
        else if (id == ZMQ_EVENT_DISCONNECTED)
            fdy_peers_disconnected(self->peers, (int) value);
        /* Refused keys are logged by the ZAP handler (AUTH-DENIED); these are
         * clients that got our key wrong or spoke something else. */
        else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
            fdy_log_warn_limited("HANDSHAKE-FAILED", "a client handshake failed: protocol error "
                                 "(wrong broker key?)");
        else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            fdy_log_info("HANDSHAKE-FAILED", "a client handshake failed without detail");
    }
}

/* The turn's one transaction from every service's parts; an empty one
 * costs nothing (no transaction, no fsync). */
static void
s_commit(fdy_broker_t *self, int64_t now_ms)
{
    fdy_commit_t commit;
    fdy_commit_init(&commit);
    for (size_t i = 0; i < self->service_count; i++) {
        const fdy_service_t *s = &self->services[i];
        if (s->ops->collect)
            s->ops->collect(s->self, &commit, now_ms);
    }
    if (!fdy_commit_empty(&commit)) {
        fdy_reason_t why;
        fdy_reason_clear(&why);
        foundry_err err = fdy_commit_run(&commit, self->store, &why);
        if (err == FOUNDRY_EFULL)
            fdy_log_warn_limited("STORE-FULL", "commit refused: %s", why.text);
        else if (err != FOUNDRY_OK)
            fdy_log_err("STORE-APPEND", "group commit failed: %s", why.text);
    }
    /* Acks leave only now, after the synchronous commit returned. */
    for (size_t i = 0; i < self->service_count; i++) {
        const fdy_service_t *s = &self->services[i];
        if (s->ops->committed)
            s->ops->committed(s->self, &commit, now_ms);
    }
}

/* One turn after poll: requests, the commit, acks, deliveries and parked
 * work, then upkeep. *busy_out: some service has more to do at once.
 * *wait_ms_out: when the next upkeep is due. */
static foundry_err
s_turn(fdy_broker_t *self, bool input, bool *busy_out, int64_t *wait_ms_out)
{
    int64_t now_ms = fdy_clock_mono_ms();
    foundry_err err = FOUNDRY_OK;
    if (input) {
        size_t drained = 0;
        err = fdy_router_drain(self->router, now_ms, &drained);
    }
    s_commit(self, now_ms);
    fdy_router_end_turn(self->router);
    bool busy = false;
    for (size_t i = 0; i < self->service_count; i++) {
        const fdy_service_t *s = &self->services[i];
        if (s->ops->run && s->ops->run(s->self, now_ms))
            busy = true;
    }
    if (fdy_registry_refresh(self->registry) != FOUNDRY_OK)
        fdy_log_warn_limited("REGISTRY-REFRESH", "cannot reload the key store; using the last one");
    /* Only now, with every lookup answering from the reloaded keys, may an
     * offline `key revoke` waiting on this confirmation return. */
    fdy_reason_t why;
    fdy_reason_clear(&why);
    if (fdy_registry_confirm(self->registry, &why) != FOUNDRY_OK)
        fdy_log_warn_limited("REGISTRY-CONFIRM", "cannot record the applied key generation: %s",
                             why.text);
    int64_t wait_ms = POLL_MS;
    now_ms = fdy_clock_mono_ms();
    for (size_t i = 0; i < self->service_count; i++) {
        const fdy_service_t *s = &self->services[i];
        if (!s->ops->tick)
            continue;
        int64_t due = s->ops->tick(s->self, now_ms);
        if (due < wait_ms)
            wait_ms = due < 0 ? 0 : due;
    }
    int64_t trim_due = fdy_heap_maintain(now_ms);
    if (trim_due >= 0 && trim_due < wait_ms)
        wait_ms = trim_due;
    *busy_out = busy;
    *wait_ms_out = wait_ms;
    return err;
}

/* The services' own sockets, after ours (items[0..2]). Returns the count. */
static size_t
s_service_pollers(fdy_broker_t *self, zmq_pollitem_t *items, size_t max, size_t *owner_of)
{
    size_t count = 0;
    for (size_t i = 0; i < self->service_count; i++) {
        const fdy_service_t *s = &self->services[i];
        if (!s->ops->pollers)
            continue;
        size_t n = s->ops->pollers(s->self, items + count, max - count);
        for (size_t k = 0; k < n; k++)
            owner_of[count + k] = i;
        count += n;
    }
    return count;
}

foundry_err
fdy_broker_run(fdy_broker_t *self, const volatile sig_atomic_t *stop)
{
    fdy_log_notice("BROKER-READY", "serving on %s", self->endpoint);
    foundry_err err = FOUNDRY_OK;
    bool busy = false;
    int64_t wait_ms = POLL_MS;
    while (!*stop) {
        zmq_pollitem_t items[3 + SERVICE_POLLERS_MAX] = {
            {.socket = self->socket, .events = ZMQ_POLLIN},
            {.socket = fdy_zap_socket(self->zap), .events = ZMQ_POLLIN},
            {.socket = self->monitor, .events = ZMQ_POLLIN},
        };
        size_t owner_of[SERVICE_POLLERS_MAX];
        size_t extra = s_service_pollers(self, items + 3, SERVICE_POLLERS_MAX, owner_of);
        if (zmq_poll(items, (int) (3 + extra), busy ? 0 : (long) wait_ms) < 0) {
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
        for (size_t k = 0; k < extra; k++) {
            const fdy_service_t *s = &self->services[owner_of[k]];
            if (items[3 + k].revents)
                s->ops->ready(s->self, &items[3 + k], fdy_clock_mono_ms());
        }
        /* Every turn, input or not: deliveries, redeliveries and saves run
         * on their own clock. */
        err = s_turn(self, items[0].revents & ZMQ_POLLIN, &busy, &wait_ms);
        if (err != FOUNDRY_OK)
            break;
    }
    fdy_stats_t stats = {.count = 0};
    for (size_t i = 0; i < self->service_count; i++) {
        const fdy_service_t *s = &self->services[i];
        if (s->ops->stats)
            s->ops->stats(s->self, &stats);
    }
    s_log_stop(&stats, fdy_reply_errors(self->reply));
    return err;
}
