/*  ctl.h: declarations shared by foundryctl's files. Each cmd_*.c exports
 *  one group (its commands and the options they take); main.c lists the
 *  groups and the global flags, and ctl_args.c parses argv against them
 *  and runs one command. Commands talk to the broker through ctl_conn.c (or
 *  to the store directly, offline) and print through output.c; they return
 *  an exit status, having printed any error.
 *  Not a library: nothing here is thread-safe or meant for other binaries.
 */
#ifndef FDY_CTL_H_INCLUDED
#define FDY_CTL_H_INCLUDED

#include "codec.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses (docs/cli.md). */
#define FDY_CTL_EXIT_OK    0
#define FDY_CTL_EXIT_FAIL  1 /* runtime: unreachable, refused, not found, I/O */
#define FDY_CTL_EXIT_USAGE 2 /* bad or missing arguments */

#define FDY_CTL_TIMEOUT_DEFAULT_MS 5000

/* The parsed command line: the global flags, which every command shares,
 * and the command's own options, which only its group knows. Strings are
 * borrowed from argv (valid for the whole run); NULL when the flag was not
 * given. */
typedef struct {
    const char *endpoint;        /* --endpoint, else env FOUNDRY_ENDPOINT */
    const char *key_file;        /* --key, else env FOUNDRY_KEY */
    const char *broker_key_file; /* --broker-key, else env FOUNDRY_BROKER_KEY */
    int timeout_ms;              /* --timeout, FDY_CTL_TIMEOUT_DEFAULT_MS */
    bool json;                   /* --json */
    bool yes;                    /* --yes: destructive commands do not ask */
    const char *context;         /* --context, else env FOUNDRY_CONTEXT */
    /* Borrowed, valid for the run: the option struct of the command's
     * group (its own type, private to its cmd_*.c), filled by its
     * opts_set(). */
    void *opts;
    /* positional arguments after the command words */
    const char *const *pos;
    size_t pos_count;
} fdy_ctl_args_t;

/* ---- command groups: one per cmd_*.c ------------------------------------ */

/* One option: a global one (main.c) or one of a group's. A name that
 * several groups define (--count) must take a value in all or in none,
 * since argv is split before the command is known; fdy_ctl_args_run()
 * checks that. */
typedef struct {
    const char *name;  /* "--role" */
    const char *value; /* placeholder in help, "ROLE"; NULL: takes no value */
    int id;            /* the table owner's number for it, > 0 */
    bool repeatable;   /* may be given more than once */
    const char *help;  /* one line for --help */
} fdy_ctl_flag_t;

/* Global flag ids that fdy_ctl_args_run() acts on itself; main.c's table
 * uses them for --help and --version, its other ids are its own. */
#define FDY_CTL_FLAG_HELP    1000
#define FDY_CTL_FLAG_VERSION 1001

/* A command: returns an FDY_CTL_EXIT_* status, having printed any error. */
typedef int(fdy_ctl_cmd_fn)(const fdy_ctl_args_t *args);

/* Where a command goes for its data, for the last line of its --help. */
typedef enum {
    FDY_CTL_REACH_BROKER,   /* asks the broker */
    FDY_CTL_REACH_LOCAL,    /* never contacts a broker */
    FDY_CTL_REACH_DATA_DIR, /* the broker, or the store with --data-dir */
} fdy_ctl_reach_t;

#define FDY_CTL_POS_MAX 4

typedef struct {
    const char *words;    /* "key add": one word, or two (the first shared by a family) */
    const char *synopsis; /* what follows the words in "Usage:" */
    const char *summary;  /* one line, lower case, no full stop */
    const char *notes;    /* more for `COMMAND --help`; may be NULL */
    const char *pos_names[FDY_CTL_POS_MAX]; /* for "missing NAME" */
    size_t min_pos;
    size_t max_pos;
    const int *flags; /* ids of its group's flags it takes, 0-terminated; NULL: none */
    fdy_ctl_reach_t reach;
    fdy_ctl_cmd_fn *run;
} fdy_ctl_cmd_t;

/* What a cmd_*.c exports: its commands, in --help order, and the options
 * they take. The options live in a struct of the group's own, opts_size
 * bytes, zeroed then given defaults by opts_init (may be NULL); opts_set
 * stores one flag given to one of its commands, in argv order, checking
 * its value, and returns an FDY_CTL_EXIT_* status, having printed any
 * error. The generic checks (is it the command's option, given twice) are
 * done before. */
typedef struct {
    const fdy_ctl_cmd_t *commands;
    size_t command_count;
    const fdy_ctl_flag_t *flags; /* may be NULL when flag_count is 0 */
    size_t flag_count;
    size_t opts_size;
    void (*opts_init)(void *opts);
    int (*opts_set)(void *opts, const fdy_ctl_flag_t *flag, const char *value);
} fdy_ctl_group_t;

/* The groups, one per cmd_*.c; main.c lists them. */
extern const fdy_ctl_group_t fdy_cmd_keys_group;      /* keygen, key add|ls|revoke, bootstrap */
extern const fdy_ctl_group_t fdy_cmd_key_changes_group; /* key edit|rotate|rm */
extern const fdy_ctl_group_t fdy_cmd_status_group;    /* status */
extern const fdy_ctl_group_t fdy_cmd_pub_group;       /* pub */
extern const fdy_ctl_group_t fdy_cmd_streams_group;   /* stream ls|read|info|add|edit|rm */
extern const fdy_ctl_group_t fdy_cmd_consumers_group; /* consumer add|ls|info|rm */
extern const fdy_ctl_group_t fdy_cmd_sub_group;       /* sub */
extern const fdy_ctl_group_t fdy_cmd_audit_group;     /* audit ls|verify */
extern const fdy_ctl_group_t fdy_cmd_store_group;     /* store check|salvage */
extern const fdy_ctl_group_t fdy_cmd_jobs_group;      /* job ..., dlq ls|requeue, node ls */
extern const fdy_ctl_group_t fdy_cmd_models_group;    /* model keygen|trust|push|ls|show|log|rollback ... */
extern const fdy_ctl_group_t fdy_cmd_rollouts_group;  /* rollout start|pause|resume|abort|status|ls */
extern const fdy_ctl_group_t fdy_cmd_backup_group;    /* backup */
extern const fdy_ctl_group_t fdy_cmd_top_group;       /* top, metrics sites */

/* ---- ctl_args.c: the command line engine -------------------------------- */

/* The whole command line: main.c's global flags and its groups. */
typedef struct {
    const fdy_ctl_flag_t *globals;
    size_t global_count;
    /* Stores one global flag other than --help and --version; same
     * contract as fdy_ctl_group_t.opts_set. */
    int (*global_set)(fdy_ctl_args_t *args, const fdy_ctl_flag_t *flag, const char *value);
    const char *global_notes; /* printed after the global options in every --help */
    const fdy_ctl_group_t *const *groups;
    size_t group_count;
} fdy_ctl_cli_t;

/* Splits argv (flags may come before or after the command words; "--flag
 * value" or "--flag=value"; "--" ends the flags), then prints --help or
 * --version, or finds the command, applies the flags to *args (which holds
 * the global defaults) and a new option struct of the command's group, and
 * runs it. Returns an FDY_CTL_EXIT_* status, having printed any error. */
int fdy_ctl_args_run(const fdy_ctl_cli_t *cli, int argc, char **argv, fdy_ctl_args_t *args);

/* Value checks that several groups share. fdy_ctl_args_parse_u64 parses a
 * decimal in [min, max] (no sign) and returns whether it could. The
 * others print a usage error naming flag and return FDY_CTL_EXIT_USAGE, or
 * return FDY_CTL_EXIT_OK; the value is passed on as given. */
bool fdy_ctl_args_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out);
int fdy_ctl_args_check_filter(const char *flag, const char *value); /* a subject filter */
int fdy_ctl_args_check_count(const char *flag, const char *value);  /* a number >= 0 */
/* Appends value to a repeatable flag's list of at most max (a usage error
 * naming flag beyond it). */
int fdy_ctl_args_list_add(const char **list, size_t *count, size_t max, const char *flag,
                          const char *value);

/* Durations everywhere: 250ms, 5s, 2m, 1h, 7d, or a bare number of
 * milliseconds. parse_ms stores the value in [min_ms, max_ms] in *ms_out;
 * duration_text writes it as "<N>ms" into text_out for the broker, which
 * wants a unit. check_duration (passed on as given, so it needs a unit, as
 * the broker does) only checks. All print a usage error naming flag and
 * return FDY_CTL_EXIT_USAGE, or return FDY_CTL_EXIT_OK. */
#define FDY_CTL_DURATION_TEXT_MAX 24
int fdy_ctl_args_parse_ms(const char *flag, const char *value, uint64_t min_ms, uint64_t max_ms,
                          uint64_t *ms_out);
int fdy_ctl_args_duration_text(const char *flag, const char *value,
                               char text_out[FDY_CTL_DURATION_TEXT_MAX]);
int fdy_ctl_args_check_duration(const char *flag, const char *value); /* 30s, 1h, 7d */

/* ---- ctl_conn.c: where the broker is, and admin requests --------------- */

#define FDY_CTL_SETTING_MAX 1024

/* Where the broker is and who we are, from flags, the FOUNDRY_* variables
 * or a stored context (ctl_context.c), in that order. Strings borrowed
 * from argv or environ, or the context_* buffers here: copy the struct
 * only with fdy_ctl_conn_settings_copy(). */
typedef struct {
    const char *endpoint;
    const char *key_file;
    const char *broker_key_file;
    int timeout_ms;
    char context_name[64];                     /* "" when no context was used */
    char context_endpoint[FDY_CTL_SETTING_MAX]; /* also the expanded host:port */
    char context_key[FDY_CTL_SETTING_MAX];
    char context_broker_key[FDY_CTL_SETTING_MAX];
} fdy_ctl_conn_settings_t;

/* Copies settings, re-pointing strings that live in src's buffers. */
void fdy_ctl_conn_settings_copy(fdy_ctl_conn_settings_t *dst, const fdy_ctl_conn_settings_t *src);

/* "host:port" -> "tcp://host:port" into out; an endpoint with a scheme as
 * it is. Returns FDY_CTL_EXIT_OK, or a usage error when too long. */
int fdy_ctl_endpoint_expand(const char *endpoint, char out[FDY_CTL_SETTING_MAX]);

/* ---- ctl_context.c: stored contexts --------------------------------------- */

/* Fills the settings flags and variables left NULL from context `chosen`
 * (NULL: the one `context use` chose, if any). Returns FDY_CTL_EXIT_OK
 * (also when no context is in use), or a usage error for a missing one. */
int fdy_ctl_context_fill(const char *chosen, fdy_ctl_conn_settings_t *settings);
extern const fdy_ctl_group_t fdy_cmd_context_group; /* context add|use|ls|rm */

/* Fills *out from the flags, falling back on FOUNDRY_ENDPOINT, FOUNDRY_KEY
 * and FOUNDRY_BROKER_KEY. Returns FDY_CTL_EXIT_OK, or prints a usage error
 * naming the first missing setting and returns FDY_CTL_EXIT_USAGE. */
int fdy_ctl_conn_settings(const fdy_ctl_args_t *args, fdy_ctl_conn_settings_t *out);

/* Checks that the key files of settings can be read (our secret key with
 * safe permissions, the broker's public key), so file problems are reported
 * as such rather than as a refused connection. Prints the error. */
int fdy_ctl_conn_check_keys(const fdy_ctl_conn_settings_t *settings);

typedef struct fdy_ctl_conn fdy_ctl_conn_t;

/* Resolves the settings, loads the keys, connects and waits (up to the
 * timeout) for the CURVE handshake. Returns FDY_CTL_EXIT_OK and *out
 * (caller owns; fdy_ctl_conn_destroy()), or prints why and returns
 * FDY_CTL_EXIT_USAGE or FDY_CTL_EXIT_FAIL. */
int fdy_ctl_conn_open(const fdy_ctl_args_t *args, fdy_ctl_conn_t **out);
void fdy_ctl_conn_destroy(fdy_ctl_conn_t **self_p);

/* Sends ADMIN {command, argv} and waits up to the timeout for the reply.
 * Returns FOUNDRY_OK with the reply table in *table_out (borrowed, valid
 * until the next request or destroy), or the broker's error code (ERROR
 * reply) or a transport error, with reason. Prints nothing: callers that
 * want a special message for a code (ENOTFOUND) check it, the others hand
 * it to fdy_ctl_conn_report(). */
foundry_err fdy_ctl_conn_admin(fdy_ctl_conn_t *self, const char *command, const char *const *argv,
                               size_t argc, fdy_table_t *table_out, fdy_reason_t *reason);

/* Connects through libfoundry, as a partner would (pub, sub): settings
 * from flags or the environment, key files checked first, handshake
 * within the timeout (also used as the library's ack_timeout_ms). Returns
 * FDY_CTL_EXIT_OK with *client_out (caller closes it) and *settings_out,
 * or prints why and returns FDY_CTL_EXIT_USAGE or FDY_CTL_EXIT_FAIL. */
int fdy_ctl_conn_client(const fdy_ctl_args_t *args, fdy_ctl_conn_settings_t *settings_out,
                        foundry_client_t **client_out);

/* Admin arguments being built: "key=value" strings, owned. */
typedef struct {
    char **argv;
    size_t argc;
    size_t cap;
} fdy_ctl_argv_t;

/* Appends "key=value" (value NULL: nothing is appended). Returns
 * FOUNDRY_OK or FOUNDRY_ENOMEM. */
foundry_err fdy_ctl_argv_add(fdy_ctl_argv_t *self, const char *key, const char *value);
void fdy_ctl_argv_free(fdy_ctl_argv_t *self);

/* How fdy_ctl_conn_run() prints a reply. RECORD and ROW need a reply of
 * exactly one row. */
typedef enum {
    FDY_CTL_SHOW_TABLE,  /* every row (stream ls, key ls) */
    FDY_CTL_SHOW_RECORD, /* "name  value" lines (status, stream info) */
    FDY_CTL_SHOW_ROW,    /* a table of the one row (key add, key revoke) */
} fdy_ctl_show_t;

/* Connects, sends the admin command with argv (NULL: none) and prints the
 * reply as show says. ENOTFOUND prints `not_found` (NULL: the broker's
 * reason, which names what is missing), EEXIST the broker's reason.
 * Returns an FDY_CTL_EXIT_* status, having printed any error. */
int fdy_ctl_conn_run(const fdy_ctl_args_t *args, const char *command, const fdy_ctl_argv_t *argv,
                     fdy_ctl_show_t show, const char *not_found);

/* Prints the one-line message for an error of fdy_ctl_conn_admin() and
 * returns FDY_CTL_EXIT_FAIL. */
int fdy_ctl_conn_report(const fdy_ctl_conn_t *self, foundry_err err, const fdy_reason_t *reason);

/* The messages for the two errors every connecting command shares. */
int fdy_ctl_conn_report_timeout(const char *endpoint, int timeout_ms);
/* A connect that failed with FOUNDRY_EIO: "connection refused at E (is the
 * broker running?)" when nothing listens, else detail. */
int fdy_ctl_conn_report_io(const char *endpoint, const char *detail);
/* detail: the transport's reason (may be NULL). A ZAP refusal or a revoked
 * key prints "the broker refused our key (unknown or revoked)"; a handshake
 * that failed otherwise (typically a wrong --broker-key) says so. */
int fdy_ctl_conn_report_refused(const char *detail);

/* ---- ctl_confirm.c: an offline key change and the running broker ------ */

typedef struct fdy_store fdy_store_t; /* store.h */

/* After an offline key change that left the store at key generation
 * `generation`, waits until the broker running on data_dir (its ready file
 * names a live pid) confirms it holds that generation in memory
 * (fdy_store_key_applied_get), polling until timeout_ms have passed.
 * store is borrowed. `done` says what is in the store ("key n1 is revoked
 * in the store"), `pending` what the broker does without a confirmation
 * ("it refuses the key at its next key store refresh"); both go into the
 * messages. Returns FDY_CTL_EXIT_OK when the broker confirmed, and also,
 * with a note on stderr, when no broker runs on data_dir or it stopped
 * while we waited (a broker started later loads the store); or
 * FDY_CTL_EXIT_FAIL, having printed why, when it did not confirm within
 * the timeout or the store could not be read. */
int fdy_ctl_confirm_wait(fdy_store_t *store, const char *data_dir, uint64_t generation,
                         int timeout_ms, const char *done, const char *pending);

/* ---- ctl_streams_check.c: what existing streams capture ----------------- */

/* True when every subject filter `inner` matches is matched by `outer`
 * (both valid filters): "a.>" covers "a.b.*", "*.b" covers "x.b". */
bool fdy_ctl_filter_covers(const char *outer, const char *inner);

/* Finds a stream with a filter covering `filter` (stream.ls on conn):
 * *found, its name and that filter. Returns an FDY_CTL_EXIT_* status,
 * having printed any error. */
int fdy_ctl_streams_capturing(fdy_ctl_conn_t *conn, const char *filter, char *stream_out,
                              size_t stream_size, char *filter_out, size_t filter_size,
                              bool *found);

/* ---- cmd_key_changes.c: checks around key add -------------------------- */

/* Before a partner key with publish rights is added: each filter must be
 * captured by a stream, else the stream tenant-<tenant> is created for the
 * missing ones (create_stream) or the change is refused with the exact
 * `stream add` to run, followed by alternative (", or ...", may be NULL).
 * Returns an FDY_CTL_EXIT_* status, having printed any error. Used by key
 * add and key edit. */
int fdy_ctl_key_publish_check(const fdy_ctl_args_t *args, const fdy_principal_t *p,
                              bool create_stream, const char *alternative);
/* A partner reads back what it publishes: each --allow-publish filter not
 * within its allow-subscribe list is added to that list (copied). Returns
 * an FDY_CTL_EXIT_* status, having printed any error. */
int fdy_ctl_key_read_back(fdy_principal_t *p);
/* key rotate|rm --data-dir (cmd_keys.c): the change made on the store in
 * data_dir, printed as the broker's row, then waited for as key revoke
 * --data-dir waits (a running broker applies it before we return). */
int fdy_ctl_key_rotate_offline(const fdy_ctl_args_t *args, const char *data_dir, const char *name,
                               const char *public_key);
int fdy_ctl_key_rm_offline(const fdy_ctl_args_t *args, const char *data_dir, const char *name);
/* After a key was added: notes (stderr) for a partner key without grants
 * and a node key for a site no stream holds. Never fails. */
void fdy_ctl_key_added_notes(const fdy_ctl_args_t *args, const fdy_principal_t *p);

/* ---- ctl_telemetry.c: typed telemetry for readers ---------------------- */

typedef enum {
    FDY_CTL_DECODE_AUTO = 0,  /* binary payloads under telemetry.> that decode */
    FDY_CTL_DECODE_TELEMETRY, /* every payload that decodes as a Batch */
    FDY_CTL_DECODE_NONE,      /* never: payloads as they are */
} fdy_ctl_decode_t;

/* --decode telemetry|auto|none. Usage error otherwise. */
int fdy_ctl_decode_parse(const char *value, fdy_ctl_decode_t *out);
/* A payload for a human: its samples in the node's text format ("metric
 * value [unit] [ts_ns] [k=v]...", "; " between samples) when it decodes
 * under mode, else as fdy_output_payload(). */
void fdy_ctl_payload_human(FILE *out, fdy_ctl_decode_t mode, const char *subject,
                           size_t subject_len, const uint8_t *data, size_t len);
/* JSON: `,"samples":[{"metric":..,"value":..,"unit":..,"timestamp_ns":..,
 * "labels":{..}}]` when it decodes under mode, else nothing. */
void fdy_ctl_payload_json_samples(FILE *out, fdy_ctl_decode_t mode, const char *subject,
                                  size_t subject_len, const uint8_t *data, size_t len);

/* ---- ctl_prompt.c: confirming destructive commands --------------------- */

/* Asks the question (printf format, "Delete stream S?") on stderr and
 * reads the answer from the terminal, when stdin is one and --yes was not
 * given; otherwise returns FDY_CTL_EXIT_OK at once. Returns
 * FDY_CTL_EXIT_OK for y/yes, else prints "not confirmed" and returns
 * FDY_CTL_EXIT_FAIL. */
int fdy_ctl_prompt_confirm(const fdy_ctl_args_t *args, const char *fmt, ...) FDY_PRINTF(2, 3);

/* ---- ctl_file.c: whole input files ---------------------------------------- */

/* Reads all of path ("-": stdin) into *data_out (caller frees; NULL-safe
 * length *len_out). A file over max_len bytes is refused by name. Returns
 * an FDY_CTL_EXIT_* status, having printed any error. */
int fdy_ctl_file_read(const char *path, size_t max_len, char **data_out, size_t *len_out);

/* ---- output.c: everything foundryctl prints (formats: output.c) -------- */

/* "foundryctl: <message>" on stderr. Return FDY_CTL_EXIT_FAIL and
 * FDY_CTL_EXIT_USAGE respectively. */
int fdy_output_fail(const char *fmt, ...) FDY_PRINTF(1, 2);
int fdy_output_usage(const char *fmt, ...) FDY_PRINTF(1, 2);
/* "foundryctl: note: <message>" on stderr: something the user should know
 * about a command that succeeded. */
void fdy_output_note(const char *fmt, ...) FDY_PRINTF(1, 2);

/* Index of the column called name, or -1. */
long fdy_output_column(const fdy_table_t *table, const char *name);

/* Checks a table from the wire: cells present for every row and column,
 * known types. Returns FOUNDRY_OK or FOUNDRY_EPROTO with reason. */
foundry_err fdy_output_check_table(const fdy_table_t *table, fdy_reason_t *reason);

/* A table: human (header + aligned columns) or a JSON array of objects. */
foundry_err fdy_output_table(FILE *out, const fdy_table_t *table, bool json);

/* One row as a single item: human "name  value" lines (status) or a table
 * with one row (key add), or one JSON object. */
foundry_err fdy_output_record(FILE *out, const fdy_table_t *table, size_t row, bool vertical,
                              bool json);

/* Messages read page by page (stream read): begin (human: the header
 * line), then rows of each page (a stream.read table), then end (JSON: the
 * closing bracket). Human: one line per message. */
typedef struct {
    bool json;
    size_t printed;
    int decode; /* an fdy_ctl_decode_t: typed telemetry shown as samples */
} fdy_output_msgs_t;

void fdy_output_msgs_begin(FILE *out, fdy_output_msgs_t *msgs, bool json);
foundry_err fdy_output_msgs_rows(FILE *out, fdy_output_msgs_t *msgs, const fdy_table_t *table,
                                 fdy_reason_t *reason);
void fdy_output_msgs_end(FILE *out, fdy_output_msgs_t *msgs);

/* JSON pieces for commands that print their own objects (pub, keygen,
 * sub). json_bytes: a string when valid UTF-8, else {"base64":"..."}, as
 * BYTES cells. */
void fdy_output_json_string(FILE *out, const char *text, size_t len);
void fdy_output_json_bytes(FILE *out, const uint8_t *data, size_t len);

/* A payload for a human reader, as stream read prints it: the text when
 * printable UTF-8, else "<hex>" ("<>" when empty). */
void fdy_output_payload(FILE *out, const uint8_t *data, size_t len);

/* Parses a decimal unsigned integer cell. Returns FOUNDRY_OK or
 * FOUNDRY_EINVAL. */
foundry_err fdy_output_parse_u64(const uint8_t *text, size_t len, uint64_t *out);

#endif
