/*  conn_probe.h: why a connection attempt failed. libzmq retries a failed
 *  connect silently and its monitor says only that it will retry, not why;
 *  conn.c asks this module, after such a retry, whether nothing listens at
 *  the endpoint, so a stopped broker is reported at once while an
 *  unreachable host still waits for the caller's timeout.
 */
#ifndef FDY_CONN_PROBE_H_INCLUDED
#define FDY_CONN_PROBE_H_INCLUDED

#include <stdbool.h>

/* Tries one plain connect to endpoint (tcp://HOST:PORT or ipc://PATH),
 * waiting at most timeout_ms for the answer, and closes it at once.
 * Returns true only when the peer actively refused (ECONNREFUSED, or an
 * ipc path with nothing behind it); false when it connected, timed out, or
 * failed otherwise (unreachable network, unresolvable name, other
 * transports). */
bool fdy_conn_probe_refused(const char *endpoint, int timeout_ms);

#endif
