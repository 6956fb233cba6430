/*  ctl_args.c: foundryctl's command line engine. Splits argv into flags and
 *  positionals, finds the command among the groups main.c lists, hands each
 *  flag to the global setter or to the command's group, checks the
 *  positionals, prints --help from the groups' tables, and runs the command.
 *  It knows no command and no flag but --help and --version.
 */
#include "ctl.h"

#include "config.h"
#include "subject.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- lookups ------------------------------------------------------------ */

static bool
s_name_is(const char *name, const char *text, size_t len)
{
    return strlen(name) == len && strncmp(name, text, len) == 0;
}

static const fdy_ctl_flag_t *
s_table_flag(const fdy_ctl_flag_t *flags, size_t count, const char *name, size_t len)
{
    for (size_t i = 0; i < count; i++)
        if (s_name_is(flags[i].name, name, len))
            return &flags[i];
    return NULL;
}

/* Any flag of that name, globals first: argv is split before the command
 * is known, and all that matters then is whether it takes a value, which
 * s_check_tables() made the same for every flag of one name. */
static const fdy_ctl_flag_t *
s_find_flag(const fdy_ctl_cli_t *cli, const char *name, size_t len, bool *global_out)
{
    const fdy_ctl_flag_t *flag = s_table_flag(cli->globals, cli->global_count, name, len);
    *global_out = flag != NULL;
    for (size_t g = 0; !flag && g < cli->group_count; g++)
        flag = s_table_flag(cli->groups[g]->flags, cli->groups[g]->flag_count, name, len);
    return flag;
}

static bool
s_cmd_takes(const fdy_ctl_cmd_t *cmd, int id)
{
    for (const int *f = cmd->flags; f && *f; f++)
        if (*f == id)
            return true;
    return false;
}

/* The command cmd's group defines flag name for, or NULL. */
static const fdy_ctl_flag_t *
s_cmd_flag(const fdy_ctl_group_t *group, const fdy_ctl_cmd_t *cmd, const char *name)
{
    const fdy_ctl_flag_t *flag = s_table_flag(group->flags, group->flag_count, name, strlen(name));
    return flag && s_cmd_takes(cmd, flag->id) ? flag : NULL;
}

/* A flag that two tables spell alike but one with a value and one without,
 * or a group flag that a global hides, would misparse argv: a programmer's
 * error, reported on every run so that no test can miss it. */
static int
s_check_tables(const fdy_ctl_cli_t *cli)
{
    for (size_t g = 0; g < cli->group_count; g++) {
        const fdy_ctl_group_t *group = cli->groups[g];
        for (size_t i = 0; i < group->flag_count; i++) {
            const fdy_ctl_flag_t *flag = &group->flags[i];
            bool global;
            const fdy_ctl_flag_t *first = s_find_flag(cli, flag->name, strlen(flag->name), &global);
            if (global)
                return fdy_output_fail("bug: a command group redefines %s", flag->name);
            if (!first->value != !flag->value)
                return fdy_output_fail("bug: %s takes a value in one group, none in another",
                                       flag->name);
        }
    }
    return FDY_CTL_EXIT_OK;
}

/* A word that begins two-word commands ("key" of "key add"). */
static bool
s_is_family(const fdy_ctl_cli_t *cli, const char *word)
{
    size_t len = strlen(word);
    for (size_t g = 0; g < cli->group_count; g++)
        for (size_t i = 0; i < cli->groups[g]->command_count; i++) {
            const char *words = cli->groups[g]->commands[i].words;
            if (strncmp(words, word, len) == 0 && words[len] == ' ')
                return true;
        }
    return false;
}

static const fdy_ctl_cmd_t *
s_find_command(const fdy_ctl_cli_t *cli, const char *first, const char *second,
               const fdy_ctl_group_t **group_out, size_t *words_out)
{
    for (size_t g = 0; g < cli->group_count; g++) {
        const fdy_ctl_group_t *group = cli->groups[g];
        for (size_t i = 0; i < group->command_count; i++) {
            const char *words = group->commands[i].words;
            const char *space = strchr(words, ' ');
            bool one = !space && strcmp(words, first) == 0;
            bool two = space && second && s_name_is(first, words, (size_t) (space - words)) &&
                       strcmp(space + 1, second) == 0;
            if (one || two) {
                *group_out = group;
                *words_out = one ? 1 : 2;
                return &group->commands[i];
            }
        }
    }
    *group_out = NULL;
    return NULL;
}

/* ---- help --------------------------------------------------------------- */

static void
s_print_flag(FILE *out, const fdy_ctl_flag_t *flag)
{
    char left[64];
    snprintf(left, sizeof left, "%s%s%s", flag->name, flag->value ? " " : "",
             flag->value ? flag->value : "");
    fprintf(out, "  %-24s %s\n", left, flag->help);
}

static void
s_print_globals(FILE *out, const fdy_ctl_cli_t *cli)
{
    fputs("\nGlobal options (before or after the command):\n", out);
    for (size_t i = 0; i < cli->global_count; i++)
        s_print_flag(out, &cli->globals[i]);
    fputs(cli->global_notes, out);
}

/* Every command, or those of one family (`foundryctl key --help`). */
static void
s_help_all(FILE *out, const fdy_ctl_cli_t *cli, const char *family)
{
    fprintf(out, "Usage: foundryctl [OPTIONS] %s%sCOMMAND [ARGS]\n\nCommands:\n",
            family ? family : "", family ? " " : "");
    size_t family_len = family ? strlen(family) : 0;
    int width = 13; /* the summaries line up after the longest command */
    for (size_t g = 0; g < cli->group_count; g++)
        for (size_t i = 0; i < cli->groups[g]->command_count; i++)
            if ((int) strlen(cli->groups[g]->commands[i].words) > width)
                width = (int) strlen(cli->groups[g]->commands[i].words);
    for (size_t g = 0; g < cli->group_count; g++) {
        for (size_t i = 0; i < cli->groups[g]->command_count; i++) {
            const fdy_ctl_cmd_t *cmd = &cli->groups[g]->commands[i];
            if (family &&
                (strncmp(cmd->words, family, family_len) != 0 || cmd->words[family_len] != ' '))
                continue;
            fprintf(out, "  %-*s %s\n", width, cmd->words, cmd->summary);
        }
    }
    fputs("\nRun \"foundryctl COMMAND --help\" for a command's arguments and options.\n", out);
    s_print_globals(out, cli);
}

static void
s_help_command(FILE *out, const fdy_ctl_cli_t *cli, const fdy_ctl_group_t *group,
               const fdy_ctl_cmd_t *cmd)
{
    fprintf(out, "Usage: foundryctl %s %s\n\n%c%s.\n", cmd->words, cmd->synopsis,
            toupper((unsigned char) cmd->summary[0]), cmd->summary + 1);
    if (cmd->notes)
        fprintf(out, "%s\n", cmd->notes);
    if (cmd->flags && cmd->flags[0]) {
        fputs("\nOptions:\n", out);
        /* In the group's table order, not the command's list order. */
        for (size_t i = 0; i < group->flag_count; i++)
            if (s_cmd_takes(cmd, group->flags[i].id))
                s_print_flag(out, &group->flags[i]);
    }
    if (cmd->reach == FDY_CTL_REACH_LOCAL)
        fputs("\nThis command does not contact a broker.\n", out);
    else if (cmd->reach == FDY_CTL_REACH_DATA_DIR)
        fputs("\nWithout --data-dir it asks the broker, as an admin key.\n", out);
    s_print_globals(out, cli);
}

/* ---- value checks shared by the groups ---------------------------------- */

bool
fdy_ctl_args_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!*text || *text == '-' || *text == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || *end || value < min || value > max)
        return false;
    *out = value;
    return true;
}

int
fdy_ctl_args_check_filter(const char *flag, const char *value)
{
    fdy_reason_t reason = {{0}};
    if (fdy_filter_validate(value, &reason) != FOUNDRY_OK)
        return fdy_output_usage("bad %s '%s': %s", flag, value,
                                reason.text[0] ? reason.text : "invalid filter");
    return FDY_CTL_EXIT_OK;
}

int
fdy_ctl_args_parse_ms(const char *flag, const char *value, uint64_t min_ms, uint64_t max_ms,
                      uint64_t *ms_out)
{
    uint64_t ms = 0;
    fdy_reason_t reason = {{0}};
    /* A bare number is milliseconds, as --timeout always took. */
    if (!fdy_ctl_args_parse_u64(value, 0, UINT64_MAX, &ms) &&
        fdy_config_parse_duration(value, &ms, &reason) != FOUNDRY_OK)
        return fdy_output_usage("%s: %s", flag,
                                reason.text[0] ? reason.text : "not a duration (250ms, 5s, 2m)");
    if (ms < min_ms || ms > max_ms)
        return fdy_output_usage("%s: %s is out of range (%llu ms to %llu ms)", flag, value,
                                (unsigned long long) min_ms, (unsigned long long) max_ms);
    *ms_out = ms;
    return FDY_CTL_EXIT_OK;
}

int
fdy_ctl_args_check_duration(const char *flag, const char *value)
{
    uint64_t ms;
    fdy_reason_t reason = {{0}};
    if (fdy_config_parse_duration(value, &ms, &reason) != FOUNDRY_OK)
        return fdy_output_usage("%s: %s", flag, reason.text[0] ? reason.text : "bad duration");
    return FDY_CTL_EXIT_OK;
}

int
fdy_ctl_args_duration_text(const char *flag, const char *value,
                           char text_out[FDY_CTL_DURATION_TEXT_MAX])
{
    uint64_t ms = 0;
    int status = fdy_ctl_args_parse_ms(flag, value, 0, UINT64_MAX, &ms);
    if (status == FDY_CTL_EXIT_OK)
        snprintf(text_out, FDY_CTL_DURATION_TEXT_MAX, "%llums", (unsigned long long) ms);
    return status;
}

int
fdy_ctl_args_check_count(const char *flag, const char *value)
{
    uint64_t n;
    if (!fdy_ctl_args_parse_u64(value, 0, UINT64_MAX, &n))
        return fdy_output_usage("%s needs a number >= 0, not %s", flag, value);
    return FDY_CTL_EXIT_OK;
}

int
fdy_ctl_args_list_add(const char **list, size_t *count, size_t max, const char *flag,
                      const char *value)
{
    if (*count >= max)
        return fdy_output_usage("at most %zu %s", max, flag);
    list[(*count)++] = value;
    return FDY_CTL_EXIT_OK;
}

/* ---- parsing ------------------------------------------------------------ */

/* A flag as seen in argv, with its value, kept in order until the command
 * is known (flags may precede the command words). */
typedef struct {
    const fdy_ctl_flag_t *flag; /* the first of its name: globals, then groups */
    bool global;
    const char *value;
} seen_t;

typedef struct {
    const char **pos;
    size_t pos_count;
    seen_t *seen;
    size_t seen_count;
    bool help;
    bool version;
} parsed_t;

/* Splits argv into flags and positionals. Returns FDY_CTL_EXIT_OK or a
 * usage error (printed). */
static int
s_split(const fdy_ctl_cli_t *cli, int argc, char **argv, parsed_t *p)
{
    bool flags_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        /* "-" is stdin by convention and "-5" a number: both positional */
        bool positional =
            flags_done || arg[0] != '-' || arg[1] == '\0' || (arg[1] >= '0' && arg[1] <= '9');
        if (positional) {
            p->pos[p->pos_count++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            flags_done = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0) {
            p->help = true;
            continue;
        }
        if (arg[1] != '-')
            return fdy_output_usage("unknown option %s (see foundryctl --help)", arg);
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t) (eq - arg) : strlen(arg);
        bool global;
        const fdy_ctl_flag_t *flag = s_find_flag(cli, arg, name_len, &global);
        if (!flag)
            return fdy_output_usage("unknown option %.*s (see foundryctl --help)", (int) name_len,
                                    arg);
        const char *value = NULL;
        if (!flag->value) {
            if (eq)
                return fdy_output_usage("%s takes no value", flag->name);
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return fdy_output_usage("%s needs a value (%s)", flag->name, flag->value);
        }
        if (flag->value && value[0] == '\0')
            return fdy_output_usage("%s needs a non-empty value", flag->name);
        if (global && flag->id == FDY_CTL_FLAG_HELP)
            p->help = true;
        else if (global && flag->id == FDY_CTL_FLAG_VERSION)
            p->version = true;
        p->seen[p->seen_count++] = (seen_t){flag, global, value};
    }
    return FDY_CTL_EXIT_OK;
}

/* Whether a flag of that name was seen before index i. Names resolve to
 * one table entry in s_split, so comparing entries compares names. */
static bool
s_seen_before(const parsed_t *p, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (p->seen[j].flag == p->seen[i].flag)
            return true;
    return false;
}

/* Applies the seen flags in argv order: globals to args, the others to
 * the group's opts once each is known to be one of cmd's. */
static int
s_apply_flags(const fdy_ctl_cli_t *cli, const parsed_t *p, const fdy_ctl_group_t *group,
              const fdy_ctl_cmd_t *cmd, fdy_ctl_args_t *args)
{
    for (size_t i = 0; i < p->seen_count; i++) {
        const fdy_ctl_flag_t *flag = p->seen[i].flag;
        const char *value = p->seen[i].value;
        int status;
        if (p->seen[i].global) {
            if (!flag->repeatable && s_seen_before(p, i))
                return fdy_output_usage("%s given twice", flag->name);
            status = cli->global_set(args, flag, value);
        } else {
            const fdy_ctl_flag_t *own = s_cmd_flag(group, cmd, flag->name);
            if (!own)
                return fdy_output_usage("%s is not an option of %s (see foundryctl %s --help)",
                                        flag->name, cmd->words, cmd->words);
            if (!own->repeatable && s_seen_before(p, i))
                return fdy_output_usage("%s given twice", flag->name);
            status = group->opts_set(args->opts, own, value);
        }
        if (status != FDY_CTL_EXIT_OK)
            return status;
    }
    return FDY_CTL_EXIT_OK;
}

/* "unknown command", naming the second word too after a family word. */
static int
s_unknown_command(const fdy_ctl_cli_t *cli, const char *first, const char *second)
{
    bool family = s_is_family(cli, first);
    return fdy_output_usage("unknown command %s%s%s (see foundryctl --help)", first,
                            family ? " " : "", family ? second : "");
}

/* The command's flags and positionals applied, runs it. */
static int
s_run_command(const fdy_ctl_cli_t *cli, const parsed_t *p, const fdy_ctl_group_t *group,
              const fdy_ctl_cmd_t *cmd, size_t words, fdy_ctl_args_t *args)
{
    args->pos = p->pos + words;
    args->pos_count = p->pos_count - words;
    args->opts = calloc(1, group->opts_size ? group->opts_size : 1);
    if (!args->opts)
        return fdy_output_fail("out of memory");
    if (group->opts_init)
        group->opts_init(args->opts);
    int status = s_apply_flags(cli, p, group, cmd, args);
    if (status != FDY_CTL_EXIT_OK)
        goto out;
    if (args->pos_count < cmd->min_pos) {
        status = fdy_output_usage("%s: missing %s (see foundryctl %s --help)", cmd->words,
                                  cmd->pos_names[args->pos_count], cmd->words);
        goto out;
    }
    if (args->pos_count > cmd->max_pos) {
        status = fdy_output_usage("%s: unexpected argument %s (see foundryctl %s --help)",
                                  cmd->words, args->pos[cmd->max_pos], cmd->words);
        goto out;
    }
    status = cmd->run(args);
out:
    free(args->opts);
    args->opts = NULL;
    return status;
}

int
fdy_ctl_args_run(const fdy_ctl_cli_t *cli, int argc, char **argv, fdy_ctl_args_t *args)
{
    int status = s_check_tables(cli);
    if (status != FDY_CTL_EXIT_OK)
        return status;
    parsed_t p = {0};
    p.pos = calloc((size_t) argc + 1, sizeof *p.pos);
    p.seen = calloc((size_t) argc + 1, sizeof *p.seen);
    if (!p.pos || !p.seen) {
        status = fdy_output_fail("out of memory");
        goto out;
    }
    status = s_split(cli, argc, argv, &p);
    if (status != FDY_CTL_EXIT_OK)
        goto out;

    if (p.version) {
        printf("foundryctl %s\n", foundry_version());
        goto out;
    }
    /* `help [COMMAND]` is --help spelled as a command. */
    size_t skip = 0;
    if (p.pos_count > 0 && strcmp(p.pos[0], "help") == 0) {
        p.help = true;
        skip = 1;
    }
    const char *first = p.pos_count > skip ? p.pos[skip] : NULL;
    const char *second = p.pos_count > skip + 1 ? p.pos[skip + 1] : NULL;
    const fdy_ctl_group_t *group = NULL;
    size_t words = 0;
    const fdy_ctl_cmd_t *cmd = first ? s_find_command(cli, first, second, &group, &words) : NULL;

    if (p.help) {
        if (cmd)
            s_help_command(stdout, cli, group, cmd);
        else if (first && s_is_family(cli, first) && !second)
            s_help_all(stdout, cli, first);
        else if (!first)
            s_help_all(stdout, cli, NULL);
        else
            status = s_unknown_command(cli, first, second);
        goto out;
    }
    if (!first)
        status = fdy_output_usage("no command given (see foundryctl --help)");
    else if (!cmd && s_is_family(cli, first) && !second)
        status = fdy_output_usage("%s needs a subcommand (see foundryctl %s --help)", first, first);
    else if (!cmd)
        status = s_unknown_command(cli, first, second);
    else
        status = s_run_command(cli, &p, group, cmd, words, args);
out:
    free(p.pos);
    free(p.seen);
    return status;
}
