/*  scrape.c: the tests' HTTP client (scrape.h). Every request asks for
 *  Connection: close, so a reply ends where the stream ends and no
 *  response parsing beyond the status line and the blank line is needed.
 */
#include "scrape.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

bool
fdy_scrape_address(const char *url_file, char host_out[64], int *port_out)
{
    FILE *f = fopen(url_file, "r");
    if (!f)
        return false;
    bool ok = fscanf(f, "http://%63[0-9.]:%d/", host_out, port_out) == 2;
    fclose(f);
    return ok;
}

void
fdy_scrape_url(const fdy_proc_t *p, const char *suffix, char *out, size_t size)
{
    char host[64];
    int port = 0;
    FDY_CHECK_MSG(fdy_proc_metrics_address(p, host, &port), "no data/metrics_url");
    snprintf(out, size, "http://%s:%d/%s", host, port, suffix);
}

int
fdy_scrape_connect_to(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FDY_CHECK(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    FDY_CHECK(inet_pton(AF_INET, host, &addr.sin_addr) == 1);
    FDY_CHECK_MSG(connect(fd, (struct sockaddr *) &addr, sizeof addr) == 0, "connect: %s",
                  strerror(errno));
    return fd;
}

int
fdy_scrape_connect(const fdy_proc_t *p)
{
    char host[64];
    int port = 0;
    FDY_CHECK_MSG(fdy_proc_metrics_address(p, host, &port), "no data/metrics_url");
    return fdy_scrape_connect_to(host, port);
}

void
fdy_scrape_send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        data += n;
        len -= (size_t) n;
    }
}

int
fdy_scrape_read_reply(int fd, char **body_out)
{
    char *buf = malloc(FDY_SCRAPE_REPLY_MAX + 1);
    FDY_CHECK(buf != NULL);
    size_t len = 0;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, FDY_SCRAPE_DEADLINE_MS);
        if (ready <= 0) {
            free(buf);
            close(fd);
            FDY_CHECK_MSG(false, "no HTTP reply within %d ms", FDY_SCRAPE_DEADLINE_MS);
        }
        ssize_t n = recv(fd, buf + len, FDY_SCRAPE_REPLY_MAX - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || len + (size_t) n >= FDY_SCRAPE_REPLY_MAX) {
            if (n > 0)
                len += (size_t) n;
            break;
        }
        len += (size_t) n;
    }
    buf[len] = '\0';
    close(fd);
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    const char *body = strstr(buf, "\r\n\r\n");
    *body_out = strdup(body ? body + 4 : "");
    free(buf);
    FDY_CHECK(*body_out != NULL);
    return status;
}

static int
s_request_on(int fd, const char *method, const char *path, const char *headers, char **body_out)
{
    char req[1024];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n",
             method, path, headers ? headers : "");
    fdy_scrape_send_all(fd, req, strlen(req));
    return fdy_scrape_read_reply(fd, body_out);
}

int
fdy_scrape_request(const fdy_proc_t *p, const char *method, const char *path, const char *headers,
                   char **body_out)
{
    return s_request_on(fdy_scrape_connect(p), method, path, headers, body_out);
}

int
fdy_scrape_request_to(const char *host, int port, const char *method, const char *path,
                      const char *headers, char **body_out)
{
    return s_request_on(fdy_scrape_connect_to(host, port), method, path, headers, body_out);
}

long long
fdy_scrape_sample(const char *text, const char *series)
{
    size_t len = strlen(series);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, series, len) == 0 && line[len] == ' ')
            return strtoll(line + len + 1, NULL, 10);
        const char *end = strchr(line, '\n');
        line = end ? end + 1 : NULL;
    }
    return -1;
}

long long
fdy_scrape_value(const fdy_proc_t *p, const char *series)
{
    char *body = NULL;
    int status = fdy_scrape_request(p, "GET", "/metrics", NULL, &body);
    long long value = fdy_scrape_sample(body, series);
    free(body);
    FDY_CHECK_EQ(status, 200);
    return value;
}
