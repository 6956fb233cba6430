/*  ctl.h: declarations shared by foundryctl's files. main.c parses argv into
 *  an fdy_ctl_args_t and calls one command; commands talk to the broker
 *  through ctl_conn.c (or to the store directly, offline) and print through
 *  output.c. Commands return an exit status, having printed any error.
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
/* Most --subject filters per stream (the store's FDY_STREAM_FILTERS_MAX). */
#define FDY_CTL_SUBJECTS_MAX 16

/* The parsed command line. Strings are borrowed from argv (valid for the
 * whole run); NULL when the flag was not given. */
typedef struct {
    /* global flags (before or after the command) */
    const char *endpoint;        /* --endpoint, else env FOUNDRY_ENDPOINT */
    const char *key_file;        /* --key, else env FOUNDRY_KEY */
    const char *broker_key_file; /* --broker-key, else env FOUNDRY_BROKER_KEY */
    int timeout_ms;              /* --timeout, FDY_CTL_TIMEOUT_DEFAULT_MS */
    bool json;                   /* --json */
    /* command flags */
    const char *out_dir;              /* keygen --out */
    const char *role;                 /* key add --role */
    const char *site;                 /* key add --site */
    const char *tenant;               /* key add --tenant */
    const char *name;                 /* key add / bootstrap --name */
    const char *data_dir;             /* key add|ls|revoke, bootstrap: work offline on the store */
    const char *msg_id;               /* pub --id */
    const char *allow[FDY_ALLOW_MAX]; /* key add --allow-publish, repeatable */
    size_t allow_count;
    uint64_t from_seq; /* stream read --from; 1 when absent */
    uint64_t count;    /* stream read, sub --count; 0 = no limit */
    /* stream add|edit */
    const char *subjects[FDY_CTL_SUBJECTS_MAX]; /* --subject, repeatable */
    size_t subject_count;
    const char *max_age;   /* --max-age, a duration (checked) */
    const char *max_bytes; /* --max-bytes, a size (checked) */
    const char *max_msgs;  /* --max-msgs, a number (checked) */
    /* consumer add */
    const char *filter;          /* --filter */
    const char *start;           /* --start first|last|new|seq:N|time:NS */
    const char *ack_wait;        /* --ack-wait, a duration (checked) */
    const char *max_deliver;     /* --max-deliver, a number (checked) */
    const char *max_ack_pending; /* --max-ack-pending, a number (checked) */
    /* key add --allow-subscribe, repeatable */
    const char *allow_sub[FDY_ALLOW_MAX];
    size_t allow_sub_count;
    /* sub */
    const char *stream;   /* --stream (durable) */
    const char *consumer; /* --consumer (durable) */
    int64_t wait_ms;      /* --wait: stop after this long without a message; -1 = never */
    uint32_t credit;      /* --credit; 0 = the library's default */
    bool no_ack;          /* --no-ack */
    /* positional arguments after the command words */
    const char *const *pos;
    size_t pos_count;
} fdy_ctl_args_t;

typedef int(fdy_ctl_cmd_fn)(const fdy_ctl_args_t *args);

/* ---- commands: each returns an FDY_CTL_EXIT_* status ------------------- */

int fdy_cmd_keys_keygen(const fdy_ctl_args_t *args);    /* keygen NAME */
int fdy_cmd_keys_add(const fdy_ctl_args_t *args);       /* key add PUBFILE */
int fdy_cmd_keys_ls(const fdy_ctl_args_t *args);        /* key ls */
int fdy_cmd_keys_revoke(const fdy_ctl_args_t *args);    /* key revoke NAME */
int fdy_cmd_keys_bootstrap(const fdy_ctl_args_t *args); /* bootstrap ADMIN_PUBFILE */
int fdy_cmd_streams_ls(const fdy_ctl_args_t *args);     /* stream ls */
int fdy_cmd_streams_read(const fdy_ctl_args_t *args);   /* stream read STREAM */
int fdy_cmd_status_run(const fdy_ctl_args_t *args);     /* status */
int fdy_cmd_pub_run(const fdy_ctl_args_t *args);        /* pub SUBJECT [TEXT] */
int fdy_cmd_streams_add(const fdy_ctl_args_t *args);    /* stream add NAME */
int fdy_cmd_streams_info(const fdy_ctl_args_t *args);   /* stream info NAME */
int fdy_cmd_streams_edit(const fdy_ctl_args_t *args);   /* stream edit NAME */
int fdy_cmd_streams_rm(const fdy_ctl_args_t *args);     /* stream rm NAME */
int fdy_cmd_consumers_add(const fdy_ctl_args_t *args);  /* consumer add STREAM NAME */
int fdy_cmd_consumers_ls(const fdy_ctl_args_t *args);   /* consumer ls STREAM */
int fdy_cmd_consumers_info(const fdy_ctl_args_t *args); /* consumer info STREAM NAME */
int fdy_cmd_consumers_rm(const fdy_ctl_args_t *args);   /* consumer rm STREAM NAME */
int fdy_cmd_sub_run(const fdy_ctl_args_t *args);        /* sub [FILTER] */

/* ---- ctl_conn.c: where the broker is, and admin requests --------------- */

/* Where the broker is and who we are, from flags or the environment.
 * Strings borrowed from argv or environ. */
typedef struct {
    const char *endpoint;
    const char *key_file;
    const char *broker_key_file;
    int timeout_ms;
} fdy_ctl_conn_settings_t;

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

/* Connects, sends the admin command with argv and prints the reply: one
 * record (the reply must have exactly one row) or a table. ENOTFOUND
 * prints `not_found` (NULL: the broker's reason, which names what is
 * missing). Returns an
 * FDY_CTL_EXIT_* status, having printed any error. */
int fdy_ctl_conn_run(const fdy_ctl_args_t *args, const char *command, const fdy_ctl_argv_t *argv,
                     bool record, const char *not_found);

/* Prints the one-line message for an error of fdy_ctl_conn_admin() and
 * returns FDY_CTL_EXIT_FAIL. */
int fdy_ctl_conn_report(const fdy_ctl_conn_t *self, foundry_err err, const fdy_reason_t *reason);

/* The messages for the two errors every connecting command shares. */
int fdy_ctl_conn_report_timeout(const char *endpoint, int timeout_ms);
/* detail: the transport's reason (may be NULL). A ZAP refusal or a revoked
 * key prints "the broker refused our key (unknown or revoked)"; a handshake
 * that failed otherwise (typically a wrong --broker-key) says so. */
int fdy_ctl_conn_report_refused(const char *detail);

/* ---- output.c: everything foundryctl prints (formats: output.c) -------- */

/* "foundryctl: <message>" on stderr. Return FDY_CTL_EXIT_FAIL and
 * FDY_CTL_EXIT_USAGE respectively. */
int fdy_output_fail(const char *fmt, ...) FDY_PRINTF(1, 2);
int fdy_output_usage(const char *fmt, ...) FDY_PRINTF(1, 2);

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
