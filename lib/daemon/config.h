/*  config.h: table-driven configuration. Each binary declares one
 *  fdy_option_t table, the only place its keys are spelled; the table drives
 *  the file parser, command-line overrides, --help-config, the docs, and
 *  the test that every option appears in deploy/ with its default.
 *
 *  File format: one `key = value` per line; '#' starts a comment line;
 *  blank lines are ignored; values may be wrapped in double quotes.
 *  Precedence: defaults, then the file, then the command line.
 *
 *  Values: sizes are bytes or B/KiB/MiB/GiB/TiB (powers of 1024; KB, MB, GB
 *  and K, M, G are refused as ambiguous). Durations need a unit, ms/s/m/h/d
 *  (only 0 may be bare). In an unquoted value, '#' after whitespace starts a
 *  comment; inside double quotes \" and \\ are escapes. A key set twice in
 *  one file is an error. Bounds: min 0 = no lower bound, max 0 = no upper.
 */
#ifndef FDY_CONFIG_H_INCLUDED
#define FDY_CONFIG_H_INCLUDED

#include "reason.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    FDY_OPT_STRING,   /* char * (malloc'd) */
    FDY_OPT_ENDPOINT, /* char *, a ZeroMQ endpoint "tcp://host:port" or ipc:// */
    FDY_OPT_PATH,     /* char *, a file or directory path */
    FDY_OPT_UINT,     /* uint64_t, within [min, max] */
    FDY_OPT_SIZE,     /* uint64_t bytes; accepts 512, 64KiB, 64MiB, 2GiB */
    FDY_OPT_DURATION, /* uint64_t milliseconds; accepts 250ms, 30s, 2m, 1h */
    FDY_OPT_BOOL,     /* bool; true/false, yes/no, on/off, 1/0 */
    FDY_OPT_LOGLEVEL, /* int; err, warn, notice, info, debug */
    FDY_OPT_LOGFORMAT, /* int; text or json (FDY_LOG_FORMAT_*) */
} fdy_opt_type_t;

/* Option flags. */
#define FDY_OPT_RESTART 0u /* takes effect at the next start */
#define FDY_OPT_RELOAD  1u /* may change on reload */

typedef struct {
    const char *key;
    fdy_opt_type_t type;
    const char *default_value; /* as text, parsed like a file value; NULL = unset */
    uint64_t min, max;         /* UINT, SIZE, DURATION bounds; 0,0 = unbounded */
    unsigned flags;
    size_t offset;             /* offsetof(the config struct, field) */
    const char *help;
} fdy_option_t;

/* A command-line flag that sets one option: "--data-dir DIR" sets data_dir.
 * metavar NULL: a switch that sets a bool option to true ("--stdin"). */
typedef struct {
    const char *flag;
    const char *metavar;
    const char *key;
} fdy_flag_t;

/* Everything a binary's configuration is: its option table, the flags that
 * alias options, the size of the struct the options land in, and the
 * checks that span options. Each binary exports one, as a constant. */
typedef struct {
    const fdy_option_t *options;
    size_t option_count;
    const fdy_flag_t *flags;
    size_t flag_count;
    size_t cfg_size; /* sizeof the config struct */
    /* Checks what spans options and fills derived fields, after the file
     * and flags. Returns FOUNDRY_OK, or an error with reason. NULL: none. */
    foundry_err (*finish)(void *cfg, fdy_reason_t *reason);
} fdy_config_schema_t;

/* Zeroes cfg (schema->cfg_size bytes) and sets every option to its default.
 * Returns FOUNDRY_OK, or FOUNDRY_EINVAL (a default that does not parse: a
 * bug) or FOUNDRY_ENOMEM, with reason; free cfg with fdy_config_fini()
 * either way. */
foundry_err fdy_config_init(const fdy_config_schema_t *schema, void *cfg, fdy_reason_t *reason);

/* Runs schema->finish over cfg, if there is one. Returns what it returns. */
foundry_err fdy_config_finish(const fdy_config_schema_t *schema, void *cfg, fdy_reason_t *reason);

/* Prints the schema's options as a commented config file that parses back
 * to the defaults (--help-config; deploy/<binary>.conf ends with it). Not
 * named _print: fdy_config_print() is the same for a bare table. */
void fdy_config_describe(const fdy_config_schema_t *schema, FILE *out);

/* Frees the strings of cfg (not cfg itself) and zeroes it. cfg is zeroed
 * or has been through fdy_config_init(); a second fini does nothing. */
void fdy_config_fini(const fdy_config_schema_t *schema, void *cfg);

/* The bare-table functions below are what the schema ones call; tests and
 * fuzz targets use them on small tables without a schema. */

/* Sets every option of cfg to its default. cfg must be zeroed first.
 * Returns FOUNDRY_OK, or FOUNDRY_EINVAL if a default does not parse (a bug)
 * or FOUNDRY_ENOMEM. */
foundry_err fdy_config_defaults(const fdy_option_t *opts, size_t count, void *cfg,
                                fdy_reason_t *reason);

/* Parses the file at path over cfg. Returns FOUNDRY_OK, FOUNDRY_EIO (cannot
 * open: reason names the path and errno text), or FOUNDRY_EINVAL with
 * reason "path:line: unknown option 'x'" / "path:line: option 'x': why". */
foundry_err fdy_config_load_file(const fdy_option_t *opts, size_t count, void *cfg,
                                 const char *path, fdy_reason_t *reason);

/* Sets one option from text (command line). Returns FOUNDRY_OK or
 * FOUNDRY_EINVAL with reason "option 'x': why" / "unknown option 'x'". */
foundry_err fdy_config_set(const fdy_option_t *opts, size_t count, void *cfg, const char *key,
                           const char *value, fdy_reason_t *reason);

/* Prints every option, its type, default and help, as a commented config
 * file that parses back to the defaults (--help-config). */
void fdy_config_print(const fdy_option_t *opts, size_t count, FILE *out);

/* Frees the strings of cfg (not cfg itself). */
void fdy_config_free(const fdy_option_t *opts, size_t count, void *cfg);

/* Parsers shared with command-line flags. Return FOUNDRY_OK or
 * FOUNDRY_EINVAL with reason. */
foundry_err fdy_config_parse_size(const char *text, uint64_t *bytes_out, fdy_reason_t *reason);
foundry_err fdy_config_parse_duration(const char *text, uint64_t *ms_out, fdy_reason_t *reason);
foundry_err fdy_config_parse_uint(const char *text, uint64_t *value_out, fdy_reason_t *reason);

#endif
