/*  replay_main.c: runs a fuzz target's LLVMFuzzerTestOneInput over every file
 *  of a corpus directory, so the corpus is an ordinary test when the build
 *  has no libFuzzer (libzmq's pattern). Not a fuzzer: it only replays.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads the whole file; *data_out is malloc'd (never NULL on success). */
static int
s_read_file(const char *path, uint8_t **data_out, size_t *size_out)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return -1;
    size_t cap = 4096, size = 0;
    uint8_t *data = malloc(cap);
    while (data) {
        size += fread(data + size, 1, cap - size, file);
        if (size < cap)
            break;
        uint8_t *bigger = realloc(data, cap * 2);
        if (!bigger)
            free(data);
        data = bigger;
        cap *= 2;
    }
    int failed = ferror(file) || !data;
    fclose(file);
    if (failed) {
        free(data);
        return -1;
    }
    *data_out = data;
    *size_out = size;
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *dir = opendir(argv[1]);
    if (!dir) {
        fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    size_t count = 0;
    int rc = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", argv[1], entry->d_name) >= (int) sizeof path)
            continue;
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        uint8_t *data;
        size_t size;
        if (s_read_file(path, &data, &size) != 0) {
            fprintf(stderr, "%s: cannot read\n", path);
            rc = 1;
            continue;
        }
        /* An exact-size copy, so ASan sees reads past the input's end. */
        uint8_t *exact = malloc(size ? size : 1);
        if (exact && size)
            memcpy(exact, data, size);
        free(data);
        if (!exact) {
            rc = 1;
            continue;
        }
        LLVMFuzzerTestOneInput(exact, size);
        free(exact);
        count++;
    }
    closedir(dir);
    printf("replayed %zu inputs from %s\n", count, argv[1]);
    if (count == 0) {
        fprintf(stderr, "%s: no inputs\n", argv[1]);
        return 1;
    }
    return rc;
}
