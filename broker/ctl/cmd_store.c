/*  cmd_store.c: `foundryctl store check` and `store salvage`, offline
 *  commands on a broker's data directory. The work is the store's
 *  (broker/store/store_check.h, store_salvage.h), shared with
 *  foundry-broker --check-store and --salvage-to; here only the options and
 *  the exit status.
 */
#include "ctl.h"

#include "store_check.h"
#include "store_salvage.h"

#include <stdio.h>

typedef struct {
    const char *data_dir;
    const char *to;
} store_opts_t;

enum { STORE_DATA_DIR = 1, STORE_TO };

static int
s_check(const fdy_ctl_args_t *args)
{
    const store_opts_t *opts = args->opts;
    if (!opts->data_dir)
        return fdy_output_usage("store check needs --data-dir DIR (the broker's data directory)");
    fdy_store_check_opts_t check = {.dir = opts->data_dir, .report = stdout, .progress = true};
    fdy_store_check_result_t result;
    if (fdy_store_check(&check, &result) != FOUNDRY_OK)
        fdy_output_fail("%s", result.reason);
    return fdy_store_check_exit_status(&result);
}

static int
s_salvage(const fdy_ctl_args_t *args)
{
    const store_opts_t *opts = args->opts;
    if (!opts->data_dir || !opts->to)
        return fdy_output_usage("store salvage needs --data-dir DIR and --to NEWDIR");
    fdy_store_salvage_opts_t salvage = {.from = opts->data_dir, .to = opts->to, .report = stdout};
    fdy_store_salvage_result_t result;
    if (fdy_store_salvage(&salvage, &result) != FOUNDRY_OK)
        fdy_output_fail("%s", result.reason);
    return fdy_store_salvage_exit_status(&result);
}

static const fdy_ctl_flag_t s_flags[] = {
    {"--data-dir", "DIR", STORE_DATA_DIR, false, "the broker's data directory (read-only)"},
    {"--to", "NEWDIR", STORE_TO, false, "salvage: the new store's directory (must not exist)"},
};

static int
s_opts_set(void *opts, const fdy_ctl_flag_t *flag, const char *value)
{
    store_opts_t *self = opts;
    if (flag->id == STORE_DATA_DIR)
        self->data_dir = value;
    else if (flag->id == STORE_TO)
        self->to = value;
    return FDY_CTL_EXIT_OK;
}

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "store check",
        .synopsis = "--data-dir DIR",
        .summary = "check every page and record of a store (as foundry-broker --check-store)",
        .notes = "Walks LMDB's pages and every record of every table in a child process, so a\n"
                 "damaged page that crashes LMDB is reported, not fatal. Findings and a\n"
                 "summary on stdout, progress on stderr. Read-only: safe while a broker runs.\n"
                 "Exit 0 clean, 1 damaged, 2 no store in DIR or the check could not run.",
        .flags = (const int[]){STORE_DATA_DIR, 0},
        .reach = FDY_CTL_REACH_LOCAL,
        .run = s_check,
    },
    {
        .words = "store salvage",
        .synopsis = "--data-dir DIR --to NEWDIR",
        .summary = "copy every readable record of a damaged store into a new one",
        .notes = "As foundry-broker --salvage-to NEWDIR: the keys that pass their checksum,\n"
                 "streams with their filters and limits, each message that passes its\n"
                 "checksum (renumbered from 1, in order) and the consumers\n"
                 "(ack floor mapped) are copied; not the audit log.\n"
                 "What is skipped is listed. The old store is only read.\n"
                 "Exit 0 all copied, 1 some records skipped, 2 cannot run.",
        .flags = (const int[]){STORE_DATA_DIR, STORE_TO, 0},
        .reach = FDY_CTL_REACH_LOCAL,
        .run = s_salvage,
    },
};

const fdy_ctl_group_t fdy_cmd_store_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .opts_size = sizeof(store_opts_t),
    .opts_set = s_opts_set,
};
