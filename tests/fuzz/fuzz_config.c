/*  fuzz_config.c: fdy_config_load_file() on untrusted file contents, over a
 *  small table with one option of every type. The input is written to a
 *  temporary file because the parser's interface is a path.
 */
#include "config.h"
#include "temp_file.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    char *name;
    char *listen;
    char *data_dir;
    uint64_t count;
    uint64_t map_size;
    uint64_t window;
    bool sync;
    int log_level;
} s_cfg_t;

static const fdy_option_t s_options[] = {
    {"name", FDY_OPT_STRING, "foundry", 0, 0, FDY_OPT_RELOAD, offsetof(s_cfg_t, name), "A string"},
    {"listen", FDY_OPT_ENDPOINT, "tcp://127.0.0.1:7700", 0, 0, FDY_OPT_RESTART,
     offsetof(s_cfg_t, listen), "An endpoint"},
    {"data_dir", FDY_OPT_PATH, NULL, 0, 0, FDY_OPT_RESTART, offsetof(s_cfg_t, data_dir),
     "A path, unset by default"},
    {"count", FDY_OPT_UINT, "8", 1, 65536, FDY_OPT_RELOAD, offsetof(s_cfg_t, count),
     "A bounded integer"},
    {"map_size", FDY_OPT_SIZE, "64MiB", 0, 0, FDY_OPT_RESTART, offsetof(s_cfg_t, map_size),
     "A size"},
    {"window", FDY_OPT_DURATION, "2m", 0, 0, FDY_OPT_RELOAD, offsetof(s_cfg_t, window),
     "A duration"},
    {"sync", FDY_OPT_BOOL, "true", 0, 0, FDY_OPT_RELOAD, offsetof(s_cfg_t, sync), "A flag"},
    {"log_level", FDY_OPT_LOGLEVEL, "notice", 0, 0, FDY_OPT_RELOAD, offsetof(s_cfg_t, log_level),
     "A log level"},
};
#define OPTION_COUNT (sizeof s_options / sizeof s_options[0])

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX];
    if (fuzz_temp_file_write("fuzz_config", data, size, 0600, path) != 0)
        return 0;

    s_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    fdy_reason_t reason;
    if (fdy_config_defaults(s_options, OPTION_COUNT, &cfg, &reason) != FOUNDRY_OK)
        abort(); /* the defaults above are valid */
    foundry_err err = fdy_config_load_file(s_options, OPTION_COUNT, &cfg, path, &reason);
    if (err != FOUNDRY_OK && reason.text[0] == '\0')
        abort(); /* refusals name file:line and why */
    if (err == FOUNDRY_OK && (cfg.count < 1 || cfg.count > 65536))
        abort(); /* bounds hold for whatever was accepted */
    fdy_config_free(s_options, OPTION_COUNT, &cfg);
    unlink(path);
    return 0;
}
