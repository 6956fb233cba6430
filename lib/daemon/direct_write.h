/*  direct_write.h: writing large buffers to a file past the page cache.
 *
 *  On the virtual machines we run on, a buffered write of a fresh file
 *  pays the kernel for a new page every 4 KiB (about 1.5 ms per MiB,
 *  more than the copy itself), and the later fsync() waits for all of it.
 *  A direct writer sends the 4 KiB-aligned part of each write with
 *  O_DIRECT through one reused aligned buffer, and the rest buffered. A
 *  filesystem without O_DIRECT (tmpfs) or a device that refuses the
 *  alignment turns the writer plain from then on: slower, never wrong.
 *  Nothing here makes data durable: callers still fsync.
 */
#ifndef FDY_DIRECT_WRITE_H
#define FDY_DIRECT_WRITE_H

#include <stddef.h>
#include <sys/types.h>

typedef struct fdy_direct_writer fdy_direct_writer_t;

fdy_direct_writer_t *fdy_direct_writer_new(void);
void fdy_direct_writer_destroy(fdy_direct_writer_t **self_p);

/* Writes len bytes of data at offset of fd, all of them: 0, or an errno.
 * Only the part from an aligned offset goes direct; fd's flags are the
 * same afterwards as before. */
int fdy_direct_pwrite(fdy_direct_writer_t *self, int fd, const void *data, size_t len,
                      off_t offset);

#endif
