/*  scrape.h: a tiny HTTP/1.1 client on a plain TCP socket (no library) for
 *  the tests of the metrics endpoint and the dashboard: where a daemon's
 *  endpoint is (its metrics_url file), one request with Connection: close,
 *  and the value of one sample in Prometheus text. Failures end the test
 *  through the harness's FDY_CHECK; replies wait at most
 *  FDY_SCRAPE_DEADLINE_MS.
 */
#ifndef FDY_SCRAPE_H_INCLUDED
#define FDY_SCRAPE_H_INCLUDED

#include "proc.h"

#include <stdbool.h>
#include <stddef.h>

#define FDY_SCRAPE_DEADLINE_MS 10000
#define FDY_SCRAPE_REPLY_MAX   (4u * 1024u * 1024u)

/* Reads host and port from a metrics_url file ("http://HOST:PORT/").
 * False when the file is missing or says something else. */
bool fdy_scrape_address(const char *url_file, char host_out[64], int *port_out);
/* "http://HOST:PORT/" + suffix of the broker's endpoint into out. */
void fdy_scrape_url(const fdy_proc_t *p, const char *suffix, char *out, size_t size);

/* A connected TCP socket to host:port, or to the broker's endpoint. */
int fdy_scrape_connect_to(const char *host, int port);
int fdy_scrape_connect(const fdy_proc_t *p);
/* Sends all of data; stops quietly when the server has closed (it may
 * close on an oversized request: read what it said). */
void fdy_scrape_send_all(int fd, const char *data, size_t len);
/* Reads until the server closes, then closes fd. Returns the HTTP status
 * (0 when the reply is not HTTP); *body_out is the body (caller frees). */
int fdy_scrape_read_reply(int fd, char **body_out);

/* One request (headers: extra lines, each ending in CRLF, or NULL) to
 * the broker's endpoint or to host:port. Returns the status and the body
 * in *body_out (caller frees). */
int fdy_scrape_request(const fdy_proc_t *p, const char *method, const char *path,
                       const char *headers, char **body_out);
int fdy_scrape_request_to(const char *host, int port, const char *method, const char *path,
                          const char *headers, char **body_out);

/* The value of the sample line that starts with `series ` (name and
 * labels exactly as rendered), or -1 when there is none. */
long long fdy_scrape_sample(const char *text, const char *series);
/* GET /metrics from the broker (status 200 checked), then that sample. */
long long fdy_scrape_value(const fdy_proc_t *p, const char *series);

#endif
