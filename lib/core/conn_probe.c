/*  conn_probe.c: one plain, non-blocking connect to learn whether a broker
 *  endpoint refuses connections (nothing listening). Used only after
 *  libzmq's own attempt failed, so a running broker never sees it. Not a
 *  health check: it sends nothing and proves nothing about CURVE.
 */
#include "conn_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define HOST_MAX 256

/* Waits for a non-blocking connect on fd to finish; returns its errno (0:
 * connected, ETIMEDOUT: no answer in time). */
static int
s_finish(int fd, int timeout_ms)
{
    struct pollfd item = {.fd = fd, .events = POLLOUT};
    int rc;
    do {
        rc = poll(&item, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    if (rc <= 0)
        return ETIMEDOUT;
    int error = 0;
    socklen_t len = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0)
        return errno;
    return error;
}

static int
s_connect(const struct sockaddr *addr, socklen_t addr_len, int timeout_ms)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int error = 0;
    if (connect(fd, addr, addr_len) != 0)
        error = errno == EINPROGRESS ? s_finish(fd, timeout_ms) : errno;
    close(fd);
    return error;
}

/* "HOST:PORT" with HOST maybe "[v6]"; "*" or an interface name is not
 * something a client connects to, getaddrinfo refuses those. */
static bool
s_split_tcp(const char *address, char host[HOST_MAX], const char **port_out)
{
    const char *colon = strrchr(address, ':');
    if (!colon || colon == address || !colon[1])
        return false;
    const char *start = address;
    size_t len = (size_t) (colon - address);
    if (*start == '[' && len >= 2 && start[len - 1] == ']') {
        start++;
        len -= 2;
    }
    if (len >= HOST_MAX)
        return false;
    memcpy(host, start, len);
    host[len] = '\0';
    *port_out = colon + 1;
    return true;
}

static bool
s_tcp_refused(const char *address, int timeout_ms)
{
    char host[HOST_MAX];
    const char *port = NULL;
    if (!s_split_tcp(address, host, &port))
        return false;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    if (getaddrinfo(host, port, &hints, &found) != 0)
        return false;
    /* Refused only if every address refuses: libzmq may use any of them. */
    bool refused = found != NULL;
    for (const struct addrinfo *at = found; at && refused; at = at->ai_next)
        refused = s_connect(at->ai_addr, at->ai_addrlen, timeout_ms) == ECONNREFUSED;
    freeaddrinfo(found);
    return refused;
}

static bool
s_ipc_refused(const char *path, int timeout_ms)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (!*path || strlen(path) >= sizeof addr.sun_path)
        return false;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int error = s_connect((const struct sockaddr *) &addr, sizeof addr, timeout_ms);
    return error == ECONNREFUSED || error == ENOENT;
}

bool
fdy_conn_probe_refused(const char *endpoint, int timeout_ms)
{
    if (!endpoint)
        return false;
    if (strncmp(endpoint, "tcp://", 6) == 0)
        return s_tcp_refused(endpoint + 6, timeout_ms);
    if (strncmp(endpoint, "ipc://", 6) == 0)
        return s_ipc_refused(endpoint + 6, timeout_ms);
    return false;
}
