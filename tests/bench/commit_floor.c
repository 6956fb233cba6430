/*  commit_floor.c: the window-1 floor (commit_floor.h). An LMDB commit in
 *  its safe mode (no NOSYNC, no NOMETASYNC) writes the dirty pages, calls
 *  fdatasync, then writes the meta page through a descriptor opened with
 *  O_DSYNC: two device flushes before the broker may acknowledge. The
 *  ROUTER here does the same disk work and nothing else, so its round trip
 *  is what no broker on LMDB can beat on this machine.
 */
#include "commit_floor.h"

#include "baseline.h"
#include "bench_env.h"

#include <zmq.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLOOR_PAGE       4096
#define FLOOR_FILE_PAGES 2048 /* 8 MiB: writes land on allocated blocks */
#define FLOOR_META_BYTES 120  /* what LMDB writes of a meta page */

typedef struct {
    const fdy_curve_server_t *server;
    size_t count;
    size_t size;
    uint64_t *lat_ns; /* count round trips */
    int rc;
} s_pinger_t;

static void *
s_pinger(void *arg)
{
    s_pinger_t *self = arg;
    self->rc = -1;
    void *dealer = fdy_curve_server_dealer(self->server);
    uint8_t *buf = calloc(1, self->size ? self->size : 1);
    if (!dealer || !buf)
        goto out;
    memset(buf, 'f', self->size);
    for (size_t i = 0; i < self->count + 1; i++) {
        uint64_t t0 = fdy_bench_env_now_ns();
        if (zmq_send(dealer, buf, self->size, 0) < 0 || zmq_recv(dealer, buf, self->size, 0) < 0)
            goto out;
        if (i > 0) /* the first one carried the handshake */
            self->lat_ns[i - 1] = fdy_bench_env_now_ns() - t0;
    }
    self->rc = 0;
out:
    if (self->rc != 0)
        fdy_bench_env_fail("floor pinger: %s", zmq_strerror(zmq_errno()));
    if (dealer)
        zmq_close(dealer);
    free(buf);
    return NULL;
}

typedef struct {
    int fd;      /* pages and fdatasync */
    int meta_fd; /* O_DSYNC, as LMDB's meta descriptor */
    uint64_t turn;
    uint8_t page[FLOOR_PAGE];
} s_disk_t;

static int
s_disk_open(s_disk_t *d, const char *path)
{
    memset(d, 0, sizeof *d);
    memset(d->page, 0x5a, sizeof d->page);
    d->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    d->meta_fd = -1;
    if (d->fd < 0)
        return -1;
    for (size_t i = 0; i < FLOOR_FILE_PAGES; i++)
        if (pwrite(d->fd, d->page, FLOOR_PAGE, (off_t) (i * FLOOR_PAGE)) != FLOOR_PAGE)
            return -1;
    if (fsync(d->fd) != 0)
        return -1;
    d->meta_fd = open(path, O_WRONLY | O_DSYNC | O_CLOEXEC);
    return d->meta_fd < 0 ? -1 : 0;
}

/* One commit's disk work: pages spread over the file (a B-tree path is
 * not contiguous), then the flushes. */
static int
s_disk_commit(s_disk_t *d, fdy_floor_disk_t disk)
{
    d->turn++;
    for (size_t k = 0; k < FDY_FLOOR_PAGES; k++) {
        size_t page = 2 + (d->turn * 97 + k * 293) % (FLOOR_FILE_PAGES - 2);
        d->page[0] = (uint8_t) d->turn;
        if (pwrite(d->fd, d->page, FLOOR_PAGE, (off_t) (page * FLOOR_PAGE)) != FLOOR_PAGE)
            return -1;
    }
    if (fdatasync(d->fd) != 0)
        return -1;
    if (disk == FDY_FLOOR_COMMIT) {
        /* Two meta pages, written in turn. */
        off_t at = (off_t) ((d->turn % 2) * FLOOR_PAGE + 32);
        if (pwrite(d->meta_fd, d->page, FLOOR_META_BYTES, at) != FLOOR_META_BYTES)
            return -1;
    }
    return 0;
}

foundry_err
fdy_commit_floor_run(const char *dir, size_t count, size_t payload_size, fdy_floor_disk_t disk,
                     fdy_floor_figures_t *out)
{
    int rc = -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/commit-floor.dat", dir);
    s_disk_t *d = calloc(1, sizeof *d);
    uint64_t *lat = calloc(count ? count : 1, sizeof *lat);
    uint8_t *buf = malloc(payload_size ? payload_size : 1);
    fdy_curve_server_t server = {0};
    bool started = false;
    pthread_t thread;
    s_pinger_t pinger = {0};
    if (!d || !lat || !buf) {
        fdy_bench_env_fail("floor: out of memory");
        goto out;
    }
    d->fd = d->meta_fd = -1;
    if (disk != FDY_FLOOR_NONE && s_disk_open(d, path) != 0) {
        fdy_bench_env_fail("floor: %s: %s", path, strerror(errno));
        goto out;
    }
    if (fdy_curve_server_open(&server, "floor") != FOUNDRY_OK)
        goto out;
    pinger = (s_pinger_t){&server, count, payload_size, lat, -1};
    if (pthread_create(&thread, NULL, s_pinger, &pinger) != 0) {
        fdy_bench_env_fail("floor: pthread_create failed");
        goto out;
    }
    started = true;
    for (size_t i = 0; i < count + 1; i++) {
        uint8_t id[256];
        int id_len = zmq_recv(server.router, id, sizeof id, 0);
        if (id_len < 0 || zmq_recv(server.router, buf, payload_size, 0) < 0) {
            fdy_bench_env_fail("floor receive after %zu round trips: %s", i,
                               zmq_strerror(zmq_errno()));
            goto out;
        }
        if (disk != FDY_FLOOR_NONE && s_disk_commit(d, disk) != 0) {
            fdy_bench_env_fail("floor: %s: %s", path, strerror(errno));
            goto out;
        }
        if (zmq_send(server.router, id, (size_t) id_len, ZMQ_SNDMORE) < 0 ||
            zmq_send(server.router, buf, payload_size, 0) < 0) {
            fdy_bench_env_fail("floor send: %s", zmq_strerror(zmq_errno()));
            goto out;
        }
    }
    rc = 0;
out:
    if (started) {
        if (rc != 0)
            fdy_curve_server_unblock(&server);
        pthread_join(thread, NULL);
        if (pinger.rc != 0)
            rc = -1;
    }
    fdy_curve_server_close(&server);
    if (rc == 0) {
        out->p50_ms = fdy_bench_env_quantile_ms(lat, count, 0.50);
        out->p99_ms = fdy_bench_env_quantile_ms(lat, count, 0.99);
    }
    if (d) {
        if (d->fd >= 0)
            close(d->fd);
        if (d->meta_fd >= 0)
            close(d->meta_fd);
        if (disk != FDY_FLOOR_NONE)
            unlink(path);
    }
    free(d);
    free(lat);
    free(buf);
    return rc == 0 ? FOUNDRY_OK : FOUNDRY_EIO;
}
