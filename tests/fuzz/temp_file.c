/*  temp_file.c: see temp_file.h. */
#include "temp_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int
fuzz_temp_file_write(const char *prefix, const uint8_t *data, size_t size, mode_t mode,
                     char path[FUZZ_PATH_MAX])
{
    const char *tmp = getenv("TMPDIR");
    if (snprintf(path, FUZZ_PATH_MAX, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix) >=
        FUZZ_PATH_MAX)
        return -1;
    int fd = mkstemp(path); /* mode 0600 */
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0)
            break;
        done += (size_t) n;
    }
    int rc = done == size && fchmod(fd, mode) == 0 ? 0 : -1;
    close(fd);
    if (rc != 0)
        unlink(path);
    return rc;
}
