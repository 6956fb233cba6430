/*  http_server.h: a small read-only HTTP server for the daemons' metrics
 *  and dashboard, on libmicrohttpd in external epoll mode: the daemon's own
 *  loop polls one descriptor and calls fdy_http_server_run(), so requests
 *  are answered on the loop's thread and may read its state without locks.
 *  It never blocks: a slow or partial request just waits in libmicrohttpd's
 *  buffers until it completes or times out.
 */
#ifndef FDY_HTTP_SERVER_H_INCLUDED
#define FDY_HTTP_SERVER_H_INCLUDED

#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fdy_http_server fdy_http_server_t;

/* A response a handler fills: body is malloc'd and owned by the server
 * once the handler returns (it frees it). content_type is a static string. */
typedef struct {
    unsigned status;
    const char *content_type;
    char *body;
    size_t len;
} fdy_http_response_t;

/* Answers one complete, authorised GET or HEAD request for path (without
 * the query string). path is borrowed, during the call. */
typedef void(fdy_http_handler_fn)(void *user, const char *path, fdy_http_response_t *out);

typedef struct {
    const char *listen;   /* "HOST:PORT" (IPv4 literal; port 0 picks one) */
    /* "" or NULL: none; otherwise every request needs it, as
     * "Authorization: Bearer TOKEN" or "?token=TOKEN" (for a browser) */
    const char *token;
    fdy_http_handler_fn *handler;
    void *user;
    unsigned max_connections;   /* 0: 32 */
    unsigned timeout_s;         /* idle or partial requests are closed after it; 0: 10 */
} fdy_http_server_opts_t;

/* Parses "HOST:PORT" into a dotted IPv4 host and port. loopback_out: the
 * host is in 127.0.0.0/8. Returns FOUNDRY_OK or FOUNDRY_EINVAL with a
 * reason naming what is wrong. */
foundry_err fdy_http_listen_parse(const char *listen, char host_out[16], uint16_t *port_out,
                                  bool *loopback_out, fdy_reason_t *reason);

/* Binds and starts serving. A listen address off loopback without a token
 * is refused (FOUNDRY_EINVAL): the pages are read-only but show the whole
 * network. Returns FOUNDRY_OK and *out (caller owns; destroy with
 * fdy_http_server_destroy), FOUNDRY_EINVAL (address, token) or FOUNDRY_EIO
 * (bind), with reason. opts is copied. */
foundry_err fdy_http_server_new(const fdy_http_server_opts_t *opts, fdy_http_server_t **out,
                                fdy_reason_t *reason);
void fdy_http_server_destroy(fdy_http_server_t **self_p);

/* The descriptor to poll for input (libmicrohttpd's epoll set). */
int fdy_http_server_fd(const fdy_http_server_t *self);
/* The bound port. */
uint16_t fdy_http_server_port(const fdy_http_server_t *self);
/* Does whatever is ready without blocking (accepts, reads, answers,
 * closes timed-out connections). */
void fdy_http_server_run(fdy_http_server_t *self);
/* Milliseconds until fdy_http_server_run() must be called again even
 * without input; -1 when nothing is due. */
int64_t fdy_http_server_due_ms(fdy_http_server_t *self);

/* Requests answered, and refused (bad method, bad token, not found). */
uint64_t fdy_http_server_requests(const fdy_http_server_t *self);
uint64_t fdy_http_server_refused(const fdy_http_server_t *self);

#endif
