/*  ctl_file.c: reading a whole input file (pub --file) with a size cap, so
 *  a file too big for one message is refused by name before anything is
 *  sent. "-" is stdin. Not for line-by-line input (cmd_pub.c reads that).
 */
#include "ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
fdy_ctl_file_read(const char *path, size_t max_len, char **data_out, size_t *len_out)
{
    *data_out = NULL;
    *len_out = 0;
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *file = is_stdin ? stdin : fopen(path, "rb");
    if (!file)
        return fdy_output_fail("%s: %s", path, strerror(errno));
    size_t cap = 65536, len = 0;
    char *data = malloc(cap);
    int status = FDY_CTL_EXIT_OK;
    while (data) {
        size_t n = fread(data + len, 1, cap - len, file);
        len += n;
        if (len > max_len) {
            status = fdy_output_fail("%s is larger than %zu bytes, the most one message holds",
                                     is_stdin ? "stdin" : path, max_len);
            break;
        }
        if (n == 0)
            break;
        if (len == cap) {
            char *grown = realloc(data, cap * 2);
            if (!grown) {
                free(data);
                data = NULL;
                break;
            }
            data = grown;
            cap *= 2;
        }
    }
    if (status == FDY_CTL_EXIT_OK && !data)
        status = fdy_output_fail("out of memory");
    else if (status == FDY_CTL_EXIT_OK && ferror(file))
        status = fdy_output_fail("reading %s: %s", path, strerror(errno));
    if (!is_stdin)
        fclose(file);
    if (status != FDY_CTL_EXIT_OK) {
        free(data);
        return status;
    }
    *data_out = data;
    *len_out = len;
    return FDY_CTL_EXIT_OK;
}
