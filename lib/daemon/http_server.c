/*  http_server.c: libmicrohttpd in external epoll mode for the daemons'
 *  read-only pages. Why external and not MHD's own thread: the handlers
 *  then run on the daemon's loop thread and read its state directly, with
 *  no snapshot and no lock. libmicrohttpd parses HTTP; this file only
 *  binds, checks method and token, and turns handler output into replies.
 */
#include "http_server.h"

#include "log.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A request's headers and line must fit in this: a bigger one gets 431
 * (or the connection closes) and costs no more memory. */
#define CONNECTION_MEMORY 32768
#define DEFAULT_CONNECTIONS 32
#define DEFAULT_TIMEOUT_S 10

struct fdy_http_server {
    struct MHD_Daemon *daemon;
    fdy_http_handler_fn *handler;
    void *user;
    char *token;
    uint16_t port;
    uint64_t requests;
    uint64_t refused;
};

foundry_err
fdy_http_listen_parse(const char *listen, char host_out[16], uint16_t *port_out,
                      bool *loopback_out, fdy_reason_t *reason)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon || colon == listen || (size_t) (colon - listen) > 15)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "'%s' is not HOST:PORT (an IPv4 address and a port, or off)",
                              listen ? listen : "");
    char host[16];
    memcpy(host, listen, (size_t) (colon - listen));
    host[colon - listen] = '\0';
    struct in_addr addr;
    if (inet_pton(AF_INET, host, &addr) != 1)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "'%s': '%s' is not an IPv4 address",
                              listen, host);
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || port > 65535)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "'%s': '%s' is not a port (0..65535)",
                              listen, colon + 1);
    memcpy(host_out, host, sizeof host);
    *port_out = (uint16_t) port;
    *loopback_out = (ntohl(addr.s_addr) >> 24) == 127;
    return FOUNDRY_OK;
}

static void
s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void) cls;
    char text[256];
    vsnprintf(text, sizeof text, fmt, ap);
    text[strcspn(text, "\n")] = '\0';
    fdy_log_limited(FDY_LOG_INFO, "HTTP-LOG", "%s", text);
}

static enum MHD_Result
s_reply(struct MHD_Connection *connection, unsigned status, const char *content_type,
        char *body, size_t len)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result
s_error(fdy_http_server_t *self, struct MHD_Connection *connection, unsigned status,
        const char *text)
{
    self->refused++;
    char *body = fdy_xstrdup(text);
    return s_reply(connection, status, "text/plain; charset=utf-8", body, strlen(body));
}

/* Constant time: the token is a secret. */
static bool
s_token_ok(const fdy_http_server_t *self, struct MHD_Connection *connection)
{
    if (!self->token)
        return true;
    const char *given = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "token");
    const char *auth = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_AUTHORIZATION);
    if (!given && auth && strncmp(auth, "Bearer ", 7) == 0)
        given = auth + 7;
    size_t want_len = strlen(self->token);
    return given && strlen(given) == want_len
           && sodium_memcmp(given, self->token, want_len) == 0;
}

static enum MHD_Result
s_access(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
         const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    (void) upload_data;
    fdy_http_server_t *self = cls;
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    /* The first call only announces the headers; a body (which a GET should
     * not have) is drained and ignored, then the answer goes on the last. */
    if (!*con_cls) {
        *con_cls = self;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!get && !head)
        return s_error(self, connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                       "method not allowed: this server is read-only (GET, HEAD)\n");
    if (!s_token_ok(self, connection))
        return s_error(self, connection, MHD_HTTP_UNAUTHORIZED,
                       "a valid token is required (Authorization: Bearer TOKEN or ?token=)\n");
    fdy_http_response_t out = {.status = 404, .content_type = "text/plain; charset=utf-8"};
    self->handler(self->user, url, &out);
    if (!out.body)
        return s_error(self, connection, MHD_HTTP_NOT_FOUND, "not found\n");
    if (out.status >= 400)
        self->refused++;
    else
        self->requests++;
    return s_reply(connection, out.status, out.content_type, out.body, out.len);
}

foundry_err
fdy_http_server_new(const fdy_http_server_opts_t *opts, fdy_http_server_t **out,
                    fdy_reason_t *reason)
{
    *out = NULL;
    char host[16];
    uint16_t port = 0;
    bool loopback = false;
    foundry_err err = fdy_http_listen_parse(opts->listen, host, &port, &loopback, reason);
    if (err != FOUNDRY_OK)
        return err;
    bool has_token = opts->token && opts->token[0];
    if (!loopback && !has_token)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "'%s' is not loopback: set a token (metrics_token) to serve there",
                              opts->listen);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    inet_pton(AF_INET, host, &addr.sin_addr);

    fdy_http_server_t *self = fdy_xalloc(sizeof *self);
    self->handler = opts->handler;
    self->user = opts->user;
    self->token = has_token ? fdy_xstrdup(opts->token) : NULL;
    unsigned connections = opts->max_connections ? opts->max_connections : DEFAULT_CONNECTIONS;
    unsigned timeout_s = opts->timeout_s ? opts->timeout_s : DEFAULT_TIMEOUT_S;
    /* No MHD thread: the caller's loop polls the epoll descriptor. */
    self->daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG, port, NULL, NULL, s_access, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_CONNECTION_LIMIT, connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, connections,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) CONNECTION_MEMORY,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL,
        MHD_OPTION_END);
    if (!self->daemon) {
        err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot serve HTTP on %s: %s", opts->listen,
                             errno ? strerror(errno) : "libmicrohttpd refused to start");
        fdy_http_server_destroy(&self);
        return err;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon,
                                                           MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : port;
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_http_server_destroy(fdy_http_server_t **self_p)
{
    fdy_http_server_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon)
        MHD_stop_daemon(self->daemon);
    if (self->token) {
        sodium_memzero(self->token, strlen(self->token));
        free(self->token);
    }
    free(self);
    *self_p = NULL;
}

int
fdy_http_server_fd(const fdy_http_server_t *self)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon,
                                                           MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

uint16_t
fdy_http_server_port(const fdy_http_server_t *self)
{
    return self->port;
}

void
fdy_http_server_run(fdy_http_server_t *self)
{
    MHD_run(self->daemon);
}

int64_t
fdy_http_server_due_ms(fdy_http_server_t *self)
{
    MHD_UNSIGNED_LONG_LONG timeout = 0;
    if (MHD_get_timeout(self->daemon, &timeout) != MHD_YES)
        return -1;
    return timeout > INT64_MAX ? INT64_MAX : (int64_t) timeout;
}

uint64_t
fdy_http_server_requests(const fdy_http_server_t *self)
{
    return self->requests;
}

uint64_t
fdy_http_server_refused(const fdy_http_server_t *self)
{
    return self->refused;
}
