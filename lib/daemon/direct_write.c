/*  direct_write.c: O_DIRECT writes through an aligned bounce buffer
 *  (direct_write.h).
 */
#define _GNU_SOURCE /* O_DIRECT */
#include "direct_write.h"

#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DIRECT_ALIGN 4096u           /* O_DIRECT: buffer, offset and length */
#define BOUNCE_LEN   (1024u * 1024u) /* the aligned copy a direct write goes through */

struct fdy_direct_writer {
    uint8_t *bounce; /* BOUNCE_LEN, DIRECT_ALIGN-aligned; NULL until the first write */
    bool plain;      /* O_DIRECT was refused once: buffered writes from then on */
};

fdy_direct_writer_t *
fdy_direct_writer_new(void)
{
    fdy_direct_writer_t *self = calloc(1, sizeof *self);
    return self;
}

void
fdy_direct_writer_destroy(fdy_direct_writer_t **self_p)
{
    if (!*self_p)
        return;
    free((*self_p)->bounce);
    free(*self_p);
    *self_p = NULL;
}

/* Writes [0, len) of data at offset with O_DIRECT; returns how much went. */
static size_t
s_write_direct(fdy_direct_writer_t *self, int fd, const uint8_t *data, size_t len, off_t offset,
               int *errnum)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_DIRECT) != 0) {
        self->plain = true; /* a filesystem without O_DIRECT (tmpfs) */
        return 0;
    }
    size_t done = 0;
    while (done < len) {
        size_t n = len - done < BOUNCE_LEN ? len - done : BOUNCE_LEN;
        memcpy(self->bounce, data + done, n);
        if (fdy_pwrite_all(fd, self->bounce, n, offset + (off_t) done) != FOUNDRY_OK) {
            if (errno == EINVAL)
                self->plain = true; /* alignment the device refuses: stay plain */
            else
                *errnum = errno ? errno : EIO;
            break;
        }
        done += n;
    }
    if (fcntl(fd, F_SETFL, flags) != 0 && *errnum == 0)
        *errnum = errno;
    return done;
}

int
fdy_direct_pwrite(fdy_direct_writer_t *self, int fd, const void *data, size_t len, off_t offset)
{
    const uint8_t *bytes = data;
    size_t aligned = len - len % DIRECT_ALIGN, done = 0;
    bool direct = self && !self->plain && aligned > 0 && offset % DIRECT_ALIGN == 0;
    if (direct && !self->bounce &&
        posix_memalign((void **) &self->bounce, DIRECT_ALIGN, BOUNCE_LEN) != 0) {
        self->bounce = NULL;
        direct = false;
    }
    int errnum = 0;
    if (direct)
        done = s_write_direct(self, fd, bytes, aligned, offset, &errnum);
    if (errnum != 0)
        return errnum;
    if (done < len && fdy_pwrite_all(fd, bytes + done, len - done, offset + (off_t) done) !=
                          FOUNDRY_OK)
        return errno ? errno : EIO;
    return 0;
}
