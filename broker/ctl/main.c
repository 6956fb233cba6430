/*  main.c: foundryctl's command line. Parses argv (global flags may come
 *  before or after the command; "--flag value" or "--flag=value"; "--" ends
 *  the flags), prints --help, and runs one command from the table below.
 *  The commands themselves live in cmd_*.c; nothing here talks to a broker.
 */
#include "ctl.h"

#include "config.h"
#include "subject.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Flags a command may take, as bits; global flags have bit 0. */
enum {
    F_OUT = 1u << 0,
    F_ROLE = 1u << 1,
    F_SITE = 1u << 2,
    F_TENANT = 1u << 3,
    F_ALLOW = 1u << 4,
    F_NAME = 1u << 5,
    F_DATA_DIR = 1u << 6,
    F_FROM = 1u << 7,
    F_COUNT = 1u << 8,
    F_ID = 1u << 9,
    F_SUBJECT = 1u << 10,
    F_MAX_AGE = 1u << 11,
    F_MAX_BYTES = 1u << 12,
    F_MAX_MSGS = 1u << 13,
    F_FILTER = 1u << 14,
    F_START = 1u << 15,
    F_ACK_WAIT = 1u << 16,
    F_MAX_DELIVER = 1u << 17,
    F_MAX_ACK_PENDING = 1u << 18,
    F_ALLOW_SUB = 1u << 19,
    F_WAIT = 1u << 20,
    F_STREAM = 1u << 21,
    F_CONSUMER = 1u << 22,
    F_CREDIT = 1u << 23,
    F_NO_ACK = 1u << 24,
};
/* Flags that may be given more than once. */
#define F_REPEATABLE (F_ALLOW | F_ALLOW_SUB | F_SUBJECT)

/* Global flags' ids (negative: not command bits). */
enum { G_ENDPOINT = 1, G_KEY, G_BROKER_KEY, G_TIMEOUT, G_JSON, G_HELP, G_VERSION };

typedef struct {
    const char *name;
    const char *value; /* placeholder in help; NULL: takes no value */
    unsigned bit;      /* command flag bit, or 0 for a global flag */
    int global;        /* G_* for a global flag */
    const char *help;
} flag_t;

static const flag_t s_flags[] = {
    {"--endpoint", "ENDPOINT", 0, G_ENDPOINT,
     "broker endpoint, e.g. tcp://127.0.0.1:7700 (env FOUNDRY_ENDPOINT)"},
    {"--key", "SECRETFILE", 0, G_KEY,
     "our admin key pair, NAME.key_secret, mode 0600 (env FOUNDRY_KEY)"},
    {"--broker-key", "PUBFILE", 0, G_BROKER_KEY,
     "the broker's public key file, broker.key (env FOUNDRY_BROKER_KEY)"},
    {"--timeout", "MS", 0, G_TIMEOUT, "give up after MS ms without an answer (default 5000)"},
    {"--json", NULL, 0, G_JSON, "machine-readable output (see docs/cli.md)"},
    {"--help", NULL, 0, G_HELP, "show help (also -h) and exit"},
    {"--version", NULL, 0, G_VERSION, "show the version and exit"},
    {"--out", "DIR", F_OUT, 0, "directory for the key files (default: the current one)"},
    {"--role", "ROLE", F_ROLE, 0, "node, partner, admin or link (required)"},
    {"--site", "SITE", F_SITE, 0, "the site of a node key, e.g. pangyo"},
    {"--tenant", "TENANT", F_TENANT, 0, "the tenant (company) of a partner key"},
    {"--allow-publish", "FILTER", F_ALLOW, 0,
     "subject filter it may publish to (* a token, > the rest); repeatable"},
    {"--allow-subscribe", "FILTER", F_ALLOW_SUB, 0,
     "subject filter it may read (subscribe to); repeatable"},
    {"--name", "NAME", F_NAME, 0, "key name (default: the file name without .key)"},
    {"--data-dir", "DIR", F_DATA_DIR, 0, "offline: work on the store in DIR, no broker needed"},
    {"--from", "SEQ", F_FROM, 0, "first sequence to read (default 1)"},
    {"--count", "N", F_COUNT, 0,
     "at most N messages (stream read: default to the end; sub: default no limit)"},
    {"--id", "ID", F_ID, 0, "producer message id, 1-64 bytes, for dedupe (default: generated)"},
    {"--subject", "FILTER", F_SUBJECT, 0,
     "subjects the stream captures (* a token, > the rest); repeatable"},
    {"--max-age", "DURATION", F_MAX_AGE, 0,
     "drop messages older than this, e.g. 30s, 1h, 7d (0: no limit)"},
    {"--max-bytes", "SIZE", F_MAX_BYTES, 0,
     "keep at most this many bytes, oldest dropped first, e.g. 64MiB (0: no limit)"},
    {"--max-msgs", "N", F_MAX_MSGS, 0, "keep at most N messages, oldest dropped first (0: no limit)"},
    {"--filter", "FILTER", F_FILTER, 0, "only messages whose subject matches (default: all)"},
    {"--start", "POS", F_START, 0,
     "first (default), last, new, seq:N or time:NS (ns since the epoch)"},
    {"--ack-wait", "DURATION", F_ACK_WAIT, 0,
     "redeliver a message not acked within this, e.g. 30s (default 30s)"},
    {"--max-deliver", "N", F_MAX_DELIVER, 0,
     "after N deliveries without an ack, dead-letter it (default 5; 0: never)"},
    {"--max-ack-pending", "N", F_MAX_ACK_PENDING, 0,
     "at most N unacked messages out at once (default 1000; 0: no limit)"},
    {"--stream", "STREAM", F_STREAM, 0, "durable: the stream of the consumer"},
    {"--consumer", "NAME", F_CONSUMER, 0, "durable: the consumer to bind to"},
    {"--wait", "MS", F_WAIT, 0, "stop after MS ms without a message (default: never)"},
    {"--credit", "N", F_CREDIT, 0,
     "messages the broker may send ahead (durable: unacked) (default 1000)"},
    {"--no-ack", NULL, F_NO_ACK, 0,
     "durable: do not ack (redelivered after the consumer's ack wait)"},
};
#define FLAG_COUNT (sizeof s_flags / sizeof s_flags[0])

typedef struct {
    const char *words;    /* "key add" */
    const char *synopsis; /* what follows the words */
    const char *summary;  /* one line */
    const char *notes;    /* more, for `CMD --help`; may be NULL */
    const char *pos_names[2];
    size_t min_pos;
    size_t max_pos;
    unsigned flags;
    bool connects; /* uses --endpoint/--key/--broker-key */
    fdy_ctl_cmd_fn *fn;
} command_t;

static const command_t s_commands[] = {
    {
        .words = "keygen",
        .synopsis = "NAME [--out DIR]",
        .summary = "generate a CURVE key pair: DIR/NAME.key, DIR/NAME.key_secret",
        .notes = "Prints the two paths written. Refuses to overwrite existing files.\n"
                 "The secret file is created with mode 0600.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = F_OUT,
        .fn = fdy_cmd_keys_keygen,
    },
    {
        .words = "key add",
        .synopsis = "PUBFILE --role ROLE [--site SITE] [--tenant TENANT]\n"
                    "                          [--allow-publish FILTER]... "
                    "[--allow-subscribe FILTER]...\n"
                    "                          [--name NAME] [--data-dir DIR]",
        .summary = "register a public key (NAME.key) with a role",
        .notes = "The key's name is the file name without .key unless --name is given.\n"
                 "With --data-dir the key is written to the store directly (no broker needed).\n"
                 "Reading: admin and link keys may read everything, a node key\n"
                 "telemetry.<site>.> and its --allow-subscribe filters, a partner key only\n"
                 "its --allow-subscribe filters.\n"
                 "Prints the key's row, as key ls does.",
        .pos_names = {"PUBFILE"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = F_ROLE | F_SITE | F_TENANT | F_ALLOW | F_ALLOW_SUB | F_NAME | F_DATA_DIR,
        .connects = true,
        .fn = fdy_cmd_keys_add,
    },
    {
        .words = "key ls",
        .synopsis = "[--data-dir DIR]",
        .summary = "list registered keys, revoked ones included",
        .notes = "Columns: name role site tenant allow_publish allow_subscribe revoked\n"
                 "created_ns public_key.",
        .flags = F_DATA_DIR,
        .connects = true,
        .fn = fdy_cmd_keys_ls,
    },
    {
        .words = "key revoke",
        .synopsis = "NAME [--data-dir DIR]",
        .summary = "revoke a key: its next message is refused",
        .notes = "Prints the key's row (revoked 1). A running broker refuses the key at once.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = F_DATA_DIR,
        .connects = true,
        .fn = fdy_cmd_keys_revoke,
    },
    {
        .words = "bootstrap",
        .synopsis = "--data-dir DIR ADMIN_PUBFILE [--name NAME]",
        .summary = "register the first admin key in a broker's data directory, offline",
        .notes = "Same as: key add ADMIN_PUBFILE --role admin --data-dir DIR. Creates the\n"
                 "store if it does not exist yet; works while the broker runs, too.",
        .pos_names = {"ADMIN_PUBFILE"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = F_DATA_DIR | F_NAME,
        .fn = fdy_cmd_keys_bootstrap,
    },
    {
        .words = "status",
        .synopsis = "",
        .summary = "show the broker's status (uptime, messages, streams, principals, store)",
        .notes = "Human output: one \"name  value\" line per field. --json: one object.",
        .connects = true,
        .fn = fdy_cmd_status_run,
    },
    {
        .words = "pub",
        .synopsis = "SUBJECT [TEXT] [--id ID]",
        .summary = "publish TEXT, or one message per stdin line",
        .notes = "Prints \"STREAM SEQ\" for each acknowledged message, in input order\n"
                 "(\"STREAM SEQ duplicate\" when the broker had the id already; --json: one\n"
                 "object per line). A refused message is reported on stderr with its line\n"
                 "number and the exit status is 1. --id only with TEXT.",
        .pos_names = {"SUBJECT", "TEXT"},
        .min_pos = 1,
        .max_pos = 2,
        .flags = F_ID,
        .connects = true,
        .fn = fdy_cmd_pub_run,
    },
    {
        .words = "stream ls",
        .synopsis = "",
        .summary = "list streams with their filters, sequences and sizes",
        .notes = "Columns: name filters first_seq last_seq messages bytes.",
        .connects = true,
        .fn = fdy_cmd_streams_ls,
    },
    {
        .words = "stream read",
        .synopsis = "STREAM [--from SEQ] [--count N]",
        .summary = "print stored messages of a stream",
        .notes = "Human output: the header \"SEQ SUBJECT PAYLOAD\", then one line per\n"
                 "message (a payload that is not printable UTF-8 prints as <hex>).\n"
                 "--json: an array of objects with seq stored_ns timestamp_ns publisher\n"
                 "id subject payload. Without --count it reads to the end of the stream.",
        .pos_names = {"STREAM"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = F_FROM | F_COUNT,
        .connects = true,
        .fn = fdy_cmd_streams_read,
    },
    {
        .words = "stream info",
        .synopsis = "NAME",
        .summary = "show one stream: filters, sequences, size, limits, consumers",
        .notes = "Fields: name filters first_seq last_seq messages bytes max_age_ms max_bytes\n"
                 "max_msgs consumers created_ns (a limit of 0 means none).",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .connects = true,
        .fn = fdy_cmd_streams_info,
    },
    {
        .words = "stream add",
        .synopsis = "NAME [--subject FILTER]... [--max-age DURATION] [--max-bytes SIZE]\n"
                    "                          [--max-msgs N]",
        .summary = "create a stream capturing the subjects matching its filters",
        .notes = "A published message is stored in the first stream (by creation) whose\n"
                 "filters match its subject. Without --subject the stream is reachable only\n"
                 "by name, e.g. a dead-letter stream STREAM-dlq made ahead with its own\n"
                 "limits. Retention drops the oldest messages beyond any limit given.\n"
                 "Prints the stream, as stream info does.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = F_SUBJECT | F_MAX_AGE | F_MAX_BYTES | F_MAX_MSGS,
        .connects = true,
        .fn = fdy_cmd_streams_add,
    },
    {
        .words = "stream edit",
        .synopsis = "NAME [--subject FILTER]... [--max-age DURATION] [--max-bytes SIZE]\n"
                    "                          [--max-msgs N]",
        .summary = "change a stream's filters or retention limits",
        .notes = "--subject replaces all filters; a limit not given stays as it is, 0 removes\n"
                 "it. Prints the stream, as stream info does.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .flags = F_SUBJECT | F_MAX_AGE | F_MAX_BYTES | F_MAX_MSGS,
        .connects = true,
        .fn = fdy_cmd_streams_edit,
    },
    {
        .words = "stream rm",
        .synopsis = "NAME",
        .summary = "delete a stream, its messages and its consumers",
        .notes = "Subscriptions bound to its consumers end. Prints the stream as it was.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .connects = true,
        .fn = fdy_cmd_streams_rm,
    },
    {
        .words = "consumer add",
        .synopsis = "STREAM NAME [--filter FILTER] [--start POS] [--ack-wait DURATION]\n"
                    "                          [--max-deliver N] [--max-ack-pending N]",
        .summary = "create a durable consumer: a named cursor on a stream",
        .notes = "Each consumer of a stream gets every message (fan-out); clients bound to\n"
                 "the same consumer share them (a queue group). Its cursor and unacked set\n"
                 "survive broker restarts. A message not acked within --ack-wait is\n"
                 "redelivered; after --max-deliver deliveries it goes to STREAM-dlq.\n"
                 "Prints the consumer, as consumer info does.",
        .pos_names = {"STREAM", "NAME"},
        .min_pos = 2,
        .max_pos = 2,
        .flags = F_FILTER | F_START | F_ACK_WAIT | F_MAX_DELIVER | F_MAX_ACK_PENDING,
        .connects = true,
        .fn = fdy_cmd_consumers_add,
    },
    {
        .words = "consumer ls",
        .synopsis = "STREAM",
        .summary = "list the consumers of a stream",
        .notes = "Columns: stream name filter start ack_wait_ms max_deliver max_ack_pending\n"
                 "ack_floor delivered_seq pending bound.",
        .pos_names = {"STREAM"},
        .min_pos = 1,
        .max_pos = 1,
        .connects = true,
        .fn = fdy_cmd_consumers_ls,
    },
    {
        .words = "consumer info",
        .synopsis = "STREAM NAME",
        .summary = "show one consumer: config, cursor, pending acks, bound clients",
        .notes = "Fields as consumer ls: ack_floor is the seq up to which all is acked,\n"
                 "delivered_seq the last seq delivered, pending the unacked deliveries,\n"
                 "bound the clients subscribed to it now.",
        .pos_names = {"STREAM", "NAME"},
        .min_pos = 2,
        .max_pos = 2,
        .connects = true,
        .fn = fdy_cmd_consumers_info,
    },
    {
        .words = "consumer rm",
        .synopsis = "STREAM NAME",
        .summary = "delete a consumer and its cursor",
        .notes = "Clients bound to it are unsubscribed. Prints the consumer as it was.",
        .pos_names = {"STREAM", "NAME"},
        .min_pos = 2,
        .max_pos = 2,
        .connects = true,
        .fn = fdy_cmd_consumers_rm,
    },
    {
        .words = "sub",
        .synopsis = "FILTER [--count N] [--wait MS] [--credit N]\n"
                    "       foundryctl sub --stream STREAM --consumer NAME [--count N] [--wait MS]\n"
                    "                      [--credit N] [--no-ack]",
        .summary = "receive messages: a live tail of FILTER, or a durable consumer",
        .notes = "With FILTER: every new message whose subject matches, as it is stored\n"
                 "(no history, no acks); prints \"SUBJECT PAYLOAD\" per message. Messages\n"
                 "arriving while --credit are unread are dropped (counted on stderr at exit).\n"
                 "With --stream and --consumer: the consumer's messages from its cursor;\n"
                 "prints \"SEQ SUBJECT PAYLOAD\" and acks each once printed.\n"
                 "The payload prints as text when printable UTF-8, else as <hex>. --json:\n"
                 "one object per line with stream seq delivery_count subject payload\n"
                 "publisher timestamp_ns stored_ns. Runs until --count messages, --wait ms\n"
                 "without one, or SIGINT/SIGTERM (exit 0); the acks reach the broker first.\n"
                 "Any key may subscribe to what its ACL lets it read.",
        .pos_names = {"FILTER"},
        .min_pos = 0,
        .max_pos = 1,
        .flags = F_COUNT | F_WAIT | F_CREDIT | F_STREAM | F_CONSUMER | F_NO_ACK,
        .connects = true,
        .fn = fdy_cmd_sub_run,
    },
};
#define COMMAND_COUNT (sizeof s_commands / sizeof s_commands[0])

/* ---- help --------------------------------------------------------------- */

static void
s_print_flag(FILE *out, const flag_t *flag)
{
    char left[64];
    snprintf(left, sizeof left, "%s%s%s", flag->name, flag->value ? " " : "",
             flag->value ? flag->value : "");
    fprintf(out, "  %-24s %s\n", left, flag->help);
}

static void
s_print_globals(FILE *out)
{
    fputs("\nGlobal options (before or after the command):\n", out);
    for (size_t i = 0; i < FLAG_COUNT; i++)
        if (s_flags[i].global)
            s_print_flag(out, &s_flags[i]);
    fputs("\nEnvironment:\n"
          "  FOUNDRY_ENDPOINT         broker endpoint, when --endpoint is not given\n"
          "  FOUNDRY_KEY              our secret key file, when --key is not given\n"
          "  FOUNDRY_BROKER_KEY       broker's public key file, when --broker-key is not given\n"
          "\nExit status: 0 ok; 1 runtime error (broker unreachable, key refused, not found,\n"
          "message refused); 2 usage error. Errors are one line on stderr:\n"
          "\"foundryctl: <reason>\".\n",
          out);
}

static void
s_help_all(FILE *out, const char *group)
{
    fprintf(out, "Usage: foundryctl [OPTIONS] %s%sCOMMAND [ARGS]\n\nCommands:\n",
            group ? group : "", group ? " " : "");
    size_t group_len = group ? strlen(group) : 0;
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        const command_t *cmd = &s_commands[i];
        if (group && (strncmp(cmd->words, group, group_len) != 0 || cmd->words[group_len] != ' '))
            continue;
        fprintf(out, "  %-13s %s\n", cmd->words, cmd->summary);
    }
    fputs("\nRun \"foundryctl COMMAND --help\" for a command's arguments and options.\n", out);
    s_print_globals(out);
}

static void
s_help_command(FILE *out, const command_t *cmd)
{
    fprintf(out, "Usage: foundryctl %s %s\n\n%c%s.\n", cmd->words, cmd->synopsis,
            toupper((unsigned char) cmd->summary[0]), cmd->summary + 1);
    if (cmd->notes)
        fprintf(out, "%s\n", cmd->notes);
    if (cmd->flags) {
        fputs("\nOptions:\n", out);
        for (size_t i = 0; i < FLAG_COUNT; i++)
            if (s_flags[i].bit & cmd->flags)
                s_print_flag(out, &s_flags[i]);
    }
    if (!cmd->connects)
        fputs("\nThis command does not contact a broker.\n", out);
    else if (cmd->flags & F_DATA_DIR)
        fputs("\nWithout --data-dir it asks the broker, as an admin key.\n", out);
    s_print_globals(out);
}

/* ---- parsing ------------------------------------------------------------ */

static const flag_t *
s_find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < FLAG_COUNT; i++)
        if (strlen(s_flags[i].name) == len && strncmp(s_flags[i].name, name, len) == 0)
            return &s_flags[i];
    return NULL;
}

static const command_t *
s_find_command(const char *first, const char *second, size_t *words_out)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        const char *words = s_commands[i].words;
        const char *space = strchr(words, ' ');
        if (!space && strcmp(words, first) == 0) {
            *words_out = 1;
            return &s_commands[i];
        }
        if (space && second && strlen(first) == (size_t) (space - words) &&
            strncmp(words, first, (size_t) (space - words)) == 0 &&
            strcmp(space + 1, second) == 0) {
            *words_out = 2;
            return &s_commands[i];
        }
    }
    return NULL;
}

static bool
s_is_group(const char *word)
{
    return strcmp(word, "key") == 0 || strcmp(word, "stream") == 0 ||
           strcmp(word, "consumer") == 0;
}

static bool
s_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
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

/* A seen flag with its value, in order, checked against the command once
 * it is known (flags may precede the command words). */
typedef struct {
    const flag_t *flag;
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
s_split(int argc, char **argv, parsed_t *p)
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
        const flag_t *flag = s_find_flag(arg, name_len);
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
        if (flag->global == G_HELP)
            p->help = true;
        else if (flag->global == G_VERSION)
            p->version = true;
        p->seen[p->seen_count++] = (seen_t){flag, value};
    }
    return FDY_CTL_EXIT_OK;
}

static int
s_check_filter(const char *flag, const char *value)
{
    fdy_reason_t reason = {{0}};
    if (fdy_filter_validate(value, &reason) != FOUNDRY_OK)
        return fdy_output_usage("bad %s '%s': %s", flag, value,
                                reason.text[0] ? reason.text : "invalid filter");
    return FDY_CTL_EXIT_OK;
}

static int
s_check_duration(const char *flag, const char *value)
{
    uint64_t ms;
    fdy_reason_t reason = {{0}};
    if (fdy_config_parse_duration(value, &ms, &reason) != FOUNDRY_OK)
        return fdy_output_usage("%s: %s", flag, reason.text[0] ? reason.text : "bad duration");
    return FDY_CTL_EXIT_OK;
}

static int
s_check_count(const char *flag, const char *value)
{
    uint64_t n;
    if (!s_parse_u64(value, 0, UINT64_MAX, &n))
        return fdy_output_usage("%s needs a number >= 0, not %s", flag, value);
    return FDY_CTL_EXIT_OK;
}

/* "first", "last", "new", "seq:N" (N >= 1) or "time:NS". */
static int
s_check_start(const char *value)
{
    uint64_t n;
    if (strcmp(value, "first") == 0 || strcmp(value, "last") == 0 || strcmp(value, "new") == 0)
        return FDY_CTL_EXIT_OK;
    if (strncmp(value, "seq:", 4) == 0 && s_parse_u64(value + 4, 1, UINT64_MAX, &n))
        return FDY_CTL_EXIT_OK;
    if (strncmp(value, "time:", 5) == 0 && s_parse_u64(value + 5, 0, UINT64_MAX, &n))
        return FDY_CTL_EXIT_OK;
    return fdy_output_usage("--start needs first, last, new, seq:N or time:NS, not %s", value);
}

/* The flags of stream, consumer, key and sub commands added with streams:
 * each value is checked here so a typo is a usage error, then passed on
 * as given. */
static int
s_apply_stream_flag(const flag_t *flag, const char *value, fdy_ctl_args_t *args)
{
    uint64_t n;
    int status = FDY_CTL_EXIT_OK;
    switch (flag->bit) {
    case F_SUBJECT:
        if (args->subject_count == FDY_CTL_SUBJECTS_MAX)
            return fdy_output_usage("at most %d --subject filters", FDY_CTL_SUBJECTS_MAX);
        status = s_check_filter("--subject", value);
        args->subjects[args->subject_count++] = value;
        break;
    case F_ALLOW_SUB:
        if (args->allow_sub_count == FDY_ALLOW_MAX)
            return fdy_output_usage("at most %d --allow-subscribe filters", FDY_ALLOW_MAX);
        args->allow_sub[args->allow_sub_count++] = value;
        break;
    case F_FILTER:
        status = s_check_filter("--filter", value);
        args->filter = value;
        break;
    case F_MAX_AGE:
        status = s_check_duration("--max-age", value);
        args->max_age = value;
        break;
    case F_ACK_WAIT:
        status = s_check_duration("--ack-wait", value);
        args->ack_wait = value;
        break;
    case F_MAX_BYTES: {
        fdy_reason_t reason = {{0}};
        if (fdy_config_parse_size(value, &n, &reason) != FOUNDRY_OK)
            status = fdy_output_usage("--max-bytes: %s", reason.text[0] ? reason.text : "bad size");
        args->max_bytes = value;
        break;
    }
    case F_MAX_MSGS:
        status = s_check_count("--max-msgs", value);
        args->max_msgs = value;
        break;
    case F_MAX_DELIVER:
        status = s_check_count("--max-deliver", value);
        args->max_deliver = value;
        break;
    case F_MAX_ACK_PENDING:
        status = s_check_count("--max-ack-pending", value);
        args->max_ack_pending = value;
        break;
    case F_START:
        status = s_check_start(value);
        args->start = value;
        break;
    case F_STREAM: args->stream = value; break;
    case F_CONSUMER: args->consumer = value; break;
    case F_NO_ACK: args->no_ack = true; break;
    case F_WAIT:
        if (!s_parse_u64(value, 0, INT_MAX, &n))
            return fdy_output_usage("--wait needs a number of milliseconds, not %s", value);
        args->wait_ms = (int64_t) n;
        break;
    case F_CREDIT:
        if (!s_parse_u64(value, 1, UINT32_MAX, &n))
            return fdy_output_usage("--credit needs a number from 1 to %u, not %s", UINT32_MAX,
                                    value);
        args->credit = (uint32_t) n;
        break;
    default: break;
    }
    return status;
}

/* Applies the seen flags to args, checking each is allowed for cmd. */
static int
s_apply_flags(const parsed_t *p, const command_t *cmd, fdy_ctl_args_t *args)
{
    unsigned given = 0;
    int globals_given = 0;
    for (size_t i = 0; i < p->seen_count; i++) {
        const flag_t *flag = p->seen[i].flag;
        const char *value = p->seen[i].value;
        if (flag->global) {
            if (flag->global != G_JSON && (globals_given & (1 << flag->global)))
                return fdy_output_usage("%s given twice", flag->name);
            globals_given |= 1 << flag->global;
            uint64_t ms;
            switch (flag->global) {
            case G_ENDPOINT: args->endpoint = value; break;
            case G_KEY: args->key_file = value; break;
            case G_BROKER_KEY: args->broker_key_file = value; break;
            case G_JSON: args->json = true; break;
            case G_TIMEOUT:
                if (!s_parse_u64(value, 1, INT_MAX, &ms))
                    return fdy_output_usage("--timeout needs a number of milliseconds >= 1, "
                                            "not %s",
                                            value);
                args->timeout_ms = (int) ms;
                break;
            default: break;
            }
            continue;
        }
        if (!(flag->bit & cmd->flags))
            return fdy_output_usage("%s is not an option of %s (see foundryctl %s --help)",
                                    flag->name, cmd->words, cmd->words);
        if (!(flag->bit & F_REPEATABLE) && (given & flag->bit))
            return fdy_output_usage("%s given twice", flag->name);
        given |= flag->bit;
        switch (flag->bit) {
        case F_OUT: args->out_dir = value; break;
        case F_ROLE: args->role = value; break;
        case F_SITE: args->site = value; break;
        case F_TENANT: args->tenant = value; break;
        case F_NAME: args->name = value; break;
        case F_DATA_DIR: args->data_dir = value; break;
        case F_ID: args->msg_id = value; break;
        case F_ALLOW:
            if (args->allow_count == FDY_ALLOW_MAX)
                return fdy_output_usage("at most %d --allow-publish filters", FDY_ALLOW_MAX);
            args->allow[args->allow_count++] = value;
            break;
        case F_FROM:
            if (!s_parse_u64(value, 1, UINT64_MAX, &args->from_seq))
                return fdy_output_usage("--from needs a sequence number >= 1, not %s", value);
            break;
        case F_COUNT:
            if (!s_parse_u64(value, 1, UINT64_MAX, &args->count))
                return fdy_output_usage("--count needs a number >= 1, not %s", value);
            break;
        default: {
            int status = s_apply_stream_flag(flag, value, args);
            if (status != FDY_CTL_EXIT_OK)
                return status;
            break;
        }
        }
    }
    return FDY_CTL_EXIT_OK;
}

static int
s_run(int argc, char **argv)
{
    parsed_t p = {0};
    p.pos = calloc((size_t) argc + 1, sizeof *p.pos);
    p.seen = calloc((size_t) argc + 1, sizeof *p.seen);
    int status = FDY_CTL_EXIT_OK;
    if (!p.pos || !p.seen) {
        status = fdy_output_fail("out of memory");
        goto out;
    }
    status = s_split(argc, argv, &p);
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
    size_t words = 0;
    const command_t *cmd = first ? s_find_command(first, second, &words) : NULL;

    if (p.help) {
        if (cmd)
            s_help_command(stdout, cmd);
        else if (first && s_is_group(first) && !second)
            s_help_all(stdout, first);
        else if (!first)
            s_help_all(stdout, NULL);
        else
            status =
                fdy_output_usage("unknown command %s%s%s (see foundryctl --help)", first,
                                 s_is_group(first) ? " " : "", s_is_group(first) ? second : "");
        goto out;
    }
    if (!first) {
        status = fdy_output_usage("no command given (see foundryctl --help)");
        goto out;
    }
    if (!cmd) {
        if (s_is_group(first) && !second)
            status =
                fdy_output_usage("%s needs a subcommand (see foundryctl %s --help)", first, first);
        else
            status =
                fdy_output_usage("unknown command %s%s%s (see foundryctl --help)", first,
                                 s_is_group(first) ? " " : "", s_is_group(first) ? second : "");
        goto out;
    }

    fdy_ctl_args_t args;
    memset(&args, 0, sizeof args);
    args.timeout_ms = FDY_CTL_TIMEOUT_DEFAULT_MS;
    args.wait_ms = -1;
    args.pos = p.pos + words;
    args.pos_count = p.pos_count - words;
    status = s_apply_flags(&p, cmd, &args);
    if (status != FDY_CTL_EXIT_OK)
        goto out;
    if (args.pos_count < cmd->min_pos) {
        status = fdy_output_usage("%s: missing %s (see foundryctl %s --help)", cmd->words,
                                  cmd->pos_names[args.pos_count], cmd->words);
        goto out;
    }
    if (args.pos_count > cmd->max_pos) {
        status = fdy_output_usage("%s: unexpected argument %s (see foundryctl %s --help)",
                                  cmd->words, args.pos[cmd->max_pos], cmd->words);
        goto out;
    }
    status = cmd->fn(&args);
out:
    free(p.pos);
    free(p.seen);
    return status;
}

int
main(int argc, char **argv)
{
    int status = s_run(argc, argv);
    /* Output that did not reach its reader is a failure scripts must see. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "foundryctl: writing output failed: %s\n", strerror(errno));
        if (status == FDY_CTL_EXIT_OK)
            status = FDY_CTL_EXIT_FAIL;
    }
    return status;
}
