/*  temp_file.h: the input as a temporary file, for targets whose parser
 *  takes a path (config, key files). Shared by those harnesses only.
 */
#ifndef FUZZ_TEMP_FILE_H_INCLUDED
#define FUZZ_TEMP_FILE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FUZZ_PATH_MAX 4096

/* Writes data to a new file $TMPDIR/<prefix>.XXXXXX (or /tmp) with the
 * given mode and its name into path. Returns 0, or -1 when it could not
 * (the input is then skipped). The caller unlinks it. */
int fuzz_temp_file_write(const char *prefix, const uint8_t *data, size_t size, mode_t mode,
                         char path[FUZZ_PATH_MAX]);

#endif
