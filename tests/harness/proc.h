/*  proc.h: the integration-test harness. It runs the real foundry-broker and
 *  foundryctl binaries (found through FOUNDRY_BROKER and FOUNDRY_CTL) in a
 *  fresh temporary directory per test, with generated CURVE keys, and gives
 *  tests a raw CURVE DEALER, a small JSON reader for `foundryctl --json`, and
 *  a tiny test runner. It is test code: it never mocks a component.
 *
 *  Why its own runner instead of cmocka: a failing check must know which
 *  environment it failed in, so that environment keeps its directory and
 *  prints its broker log while passing ones are removed.
 */
#ifndef FDY_PROC_H_INCLUDED
#define FDY_PROC_H_INCLUDED

#include "codec.h"
#include "foundry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* ---- test runner -------------------------------------------------------- */

typedef struct {
    const char *name;
    void (*fn)(void);
} fdy_proc_test_t;

/* Runs each test in order (argv[1], when given, selects tests whose name
 * contains it). A failing check ends its test; the runner then kills the
 * brokers of environments the test did not destroy and prints their
 * directory and broker log tail. Returns the process exit code: 0 all
 * passed, 1 a test failed, 77 (skip) when FOUNDRY_BROKER or FOUNDRY_CTL is
 * not set. */
int fdy_proc_run_tests(const char *group, const fdy_proc_test_t *tests, size_t count, int argc,
                       char **argv);

/* Records a failed check and ends the current test (longjmp to the runner).
 * Use the FDY_CHECK macros instead of calling it. */
_Noreturn void fdy_proc_fail(const char *file, int line, const char *fmt, ...) FDY_PRINTF(3, 4);

#define FDY_CHECK(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fdy_proc_fail(__FILE__, __LINE__, "check failed: %s", #cond);                          \
    } while (0)
#define FDY_CHECK_MSG(cond, ...)                                                                   \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fdy_proc_fail(__FILE__, __LINE__, __VA_ARGS__);                                        \
    } while (0)
#define FDY_CHECK_EQ(a, b)                                                                         \
    do {                                                                                           \
        long long fdy_check_a_ = (long long) (a), fdy_check_b_ = (long long) (b);                  \
        if (fdy_check_a_ != fdy_check_b_)                                                          \
            fdy_proc_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, fdy_check_a_,      \
                          fdy_check_b_);                                                           \
    } while (0)
#define FDY_CHECK_STR(a, b)                                                                        \
    do {                                                                                           \
        const char *fdy_check_a_ = (a), *fdy_check_b_ = (b);                                       \
        if (!fdy_check_a_ || !fdy_check_b_ || strcmp(fdy_check_a_, fdy_check_b_) != 0)             \
            fdy_proc_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,                \
                          fdy_check_a_ ? fdy_check_a_ : "(null)",                                  \
                          fdy_check_b_ ? fdy_check_b_ : "(null)");                                 \
    } while (0)
/* Expects `expr` to return `want` (a foundry_err), printing both names. */
#define FDY_CHECK_ERR(expr, want)                                                                  \
    do {                                                                                           \
        foundry_err fdy_check_e_ = (expr), fdy_check_w_ = (want);                                  \
        if (fdy_check_e_ != fdy_check_w_)                                                          \
            fdy_proc_fail(__FILE__, __LINE__, "%s: got %d (%s), want %d (%s)", #expr,              \
                          (int) fdy_check_e_, foundry_strerror(fdy_check_e_), (int) fdy_check_w_,  \
                          foundry_strerror(fdy_check_w_));                                         \
    } while (0)
#define FDY_CHECK_OK(expr) FDY_CHECK_ERR(expr, FOUNDRY_OK)

/* ---- environments: temp dir, keys, broker ------------------------------- */

typedef struct fdy_proc fdy_proc_t;

/* Makes a temporary directory ($TMPDIR or /tmp, "foundry-<name>-XXXXXX")
 * with data/, keys/ (the broker's key pair, broker.key[_secret]) and
 * clients/ (an admin key pair, admin.key[_secret]), and registers the admin
 * offline with `foundryctl bootstrap --data-dir`. Fails the test on error.
 * Caller owns; fdy_proc_destroy() when the test passed. */
fdy_proc_t *fdy_proc_new(const char *name);

/* Stops a running broker (SIGKILL: a passing test stops it first with
 * fdy_proc_broker_stop), removes the directory (kept when FOUNDRY_KEEP_TMP
 * is set) and frees. Accepts NULL. */
void fdy_proc_destroy(fdy_proc_t **self_p);

/* Starts `$FOUNDRY_BROKER --data-dir D --keys K --bind BIND --log-level info`
 * plus `extra` (NULL-ended, may be NULL; kept for restarts), stdout and
 * stderr appended to DIR/broker.log, and waits (deadline) for D/ready
 * naming its pid. BIND is tcp://127.0.0.1:* on the first start and the
 * endpoint it bound afterwards, so clients reconnect to a restarted broker.
 * Returns FOUNDRY_OK, FOUNDRY_ETIMEDOUT, or FOUNDRY_EIO (it exited: the log
 * tail is printed). */
foundry_err fdy_proc_broker_start(fdy_proc_t *self, const char *const *extra);

/* The exit status of the broker when the last start failed because it
 * exited (128+N: killed by signal N), -1 otherwise. */
int fdy_proc_broker_last_exit(const fdy_proc_t *self);

/* SIGTERM, then waits (deadline). Returns the exit status (0 is a clean
 * stop), 128+N if killed by signal N, or -1 if it did not exit in time (it
 * is then SIGKILLed) or was not running. */
int fdy_proc_broker_stop(fdy_proc_t *self);

/* SIGKILL and reap. Returns FOUNDRY_OK, or FOUNDRY_EINVAL if not running. */
foundry_err fdy_proc_broker_kill(fdy_proc_t *self);

/* Starts the broker again with the arguments of the last start, on the same
 * endpoint. */
foundry_err fdy_proc_broker_restart(fdy_proc_t *self);

/* True while the broker process has not exited (reaps it if it did). */
bool fdy_proc_broker_alive(fdy_proc_t *self);
/* The running broker's pid (0 when none). */
pid_t fdy_proc_broker_pid(const fdy_proc_t *self);

/* The endpoint from the ready file, "" before the first start. Borrowed. */
const char *fdy_proc_endpoint(const fdy_proc_t *self);
/* Paths inside the environment. Borrowed, valid until destroy. */
const char *fdy_proc_dir(const fdy_proc_t *self);
const char *fdy_proc_data_dir(const fdy_proc_t *self);
const char *fdy_proc_broker_key(const fdy_proc_t *self); /* keys/broker.key */
const char *fdy_proc_log_path(const fdy_proc_t *self);
/* The running broker's metrics endpoint, from data/metrics_url (the
 * harness starts every broker with metrics_listen=127.0.0.1:0). False when
 * the file is missing (metrics off). */
bool fdy_proc_metrics_address(const fdy_proc_t *self, char host_out[64], int *port_out);
/* Lines of the file at path that contain needle (0 when unreadable). */
size_t fdy_proc_file_count(const char *path, const char *needle);
/* Lines of the broker's log that contain needle. */
size_t fdy_proc_log_count(const fdy_proc_t *self, const char *needle);

/* Writes the paths of principal NAME's key files in clients/. */
void fdy_proc_key_paths(const fdy_proc_t *self, const char *name, char public_out[512],
                        char secret_out[512]);

/* Generates NAME's key pair in clients/ with fdy_keys_generate (not
 * registered with the broker). */
foundry_err fdy_proc_key_generate(fdy_proc_t *self, const char *name);

/* Generates NAME's key pair and registers it through the running broker:
 * `foundryctl key add clients/NAME.key ARGS...` (NULL-ended, e.g. "--role",
 * "node", "--site", "siheung", NULL). Fails the test if foundryctl does not
 * exit 0. */
void fdy_proc_key_add(fdy_proc_t *self, const char *name, ...) __attribute__((sentinel));

/* ---- foundryctl ----------------------------------------------------------- */

typedef struct {
    int status; /* exit code; 128+N when killed by signal N; -1 timed out */
    char *out;  /* stdout, NUL-ended (caller frees via fdy_proc_run_clear) */
    size_t out_len;
    char *err; /* stderr, NUL-ended */
    size_t err_len;
    int64_t elapsed_ms;
} fdy_proc_run_t;

typedef struct {
    bool no_auth;           /* do not add --endpoint/--key/--broker-key */
    const char *stdin_data; /* fed to its stdin (NULL: /dev/null) */
    size_t stdin_len;
    const char *const *env; /* extra "NAME=value" strings (NULL-ended), or NULL */
    int deadline_ms;        /* killed after this; 0 = 60000 */
    const char *program;    /* what to run instead of $FOUNDRY_CTL (e.g. the broker), or NULL */
} fdy_proc_ctl_opts_t;

/* Runs `$FOUNDRY_CTL [--endpoint E --key clients/admin.key_secret
 * --broker-key keys/broker.key] ARGV...` (argv NULL-ended) and captures its
 * output. FOUNDRY_ENDPOINT, FOUNDRY_KEY and FOUNDRY_BROKER_KEY are removed
 * from its environment unless opts->env sets them. opts may be NULL.
 * Returns FOUNDRY_OK (whatever its exit status) or FOUNDRY_EIO. */
foundry_err fdy_proc_ctlv(fdy_proc_t *self, const fdy_proc_ctl_opts_t *opts,
                          const char *const *argv, fdy_proc_run_t *run_out);

/* The same with the arguments inline (NULL-ended) and default options. */
foundry_err fdy_proc_ctl(fdy_proc_t *self, fdy_proc_run_t *run_out, ...) __attribute__((sentinel));

void fdy_proc_run_clear(fdy_proc_run_t *run);

/* Prints a run (status, stdout and stderr heads) to stderr, for failures. */
void fdy_proc_run_print(const char *what, const fdy_proc_run_t *run);

/* Fails the test unless the run exited `status`. Prints the run if not. */
#define FDY_CHECK_RUN(run, want)                                                                   \
    do {                                                                                           \
        if ((run)->status != (want)) {                                                             \
            fdy_proc_run_print(#run, (run));                                                       \
            fdy_proc_fail(__FILE__, __LINE__, "foundryctl exit %d, want %d", (run)->status,        \
                          (int) (want));                                                           \
        }                                                                                          \
    } while (0)

/* ---- libfoundry clients ----------------------------------------------------- */

/* foundry_client_new() for principal NAME (clients/NAME.key_secret), the
 * broker's key and endpoint; the other options come from base (NULL:
 * defaults). */
foundry_err fdy_proc_client_new(fdy_proc_t *self, const char *name,
                                const foundry_client_opts_t *base, foundry_client_t **out);

/* ---- raw CURVE DEALER (protocol-level tests) -------------------------------- */

typedef struct {
    void *socket;  /* DEALER, CURVE client, connected to the broker */
    void *monitor; /* PAIR receiving its monitor events */
} fdy_proc_dealer_t;

/* A raw DEALER authenticated as NAME (clients/NAME.key_secret), with
 * ZMQ_LINGER 0 and a monitor. Does not wait for the handshake. */
foundry_err fdy_proc_dealer_new(fdy_proc_t *self, const char *name, fdy_proc_dealer_t **out);
/* The same with ZMQ_ROUTING_ID set to routing_id (NULL: libzmq's own), as
 * an attacker re-using another client's routing id would. */
foundry_err fdy_proc_dealer_new_id(fdy_proc_t *self, const char *name, const char *routing_id,
                                   fdy_proc_dealer_t **out);
/* A dealer that reads as little as it can (ZMQ_RCVHWM 1, a 64 KiB kernel
 * receive buffer): plays a client that stops reading. */
foundry_err fdy_proc_dealer_new_slow(fdy_proc_t *self, const char *name, fdy_proc_dealer_t **out);
void fdy_proc_dealer_destroy(fdy_proc_dealer_t **self_p);

/* Waits up to timeout_ms for a monitor event in `mask` (ZMQ_EVENT_*).
 * Returns the event (value in *value_out, may be NULL) or 0 on timeout. */
int fdy_proc_dealer_wait_event(fdy_proc_dealer_t *self, int mask, int timeout_ms, int *value_out);

/* Sends frames as one multipart message (blocking up to 5 s). */
foundry_err fdy_proc_dealer_send(fdy_proc_dealer_t *self, const fdy_slice_t *frames, size_t count);

/* Receives one reply frame within timeout_ms and decodes it into arena
 * (reset first). Returns FOUNDRY_OK, FOUNDRY_ETIMEDOUT, or the decode error. */
foundry_err fdy_proc_dealer_recv(fdy_proc_dealer_t *self, int timeout_ms, fdy_arena_t *arena,
                                 fdy_envelope_t *env_out);

/* Encodes one valid Message record with fdy_codec_encode_msg (fails the
 * test if the codec refuses). Caller frees the result. */
uint8_t *fdy_proc_encode_msg(const char *subject, const char *id, const void *payload,
                             size_t payload_len, size_t *len_out);

/* Encodes a PUBLISH request: *env_out the envelope claiming `count`
 * records, *batch_out a batch frame of the given records, each prefixed with
 * its varint length (count may differ from record_count, to lie). Caller
 * frees both. */
void fdy_proc_encode_publish(uint64_t request_id, uint32_t count, const fdy_slice_t *records,
                             size_t record_count, uint8_t **env_out, size_t *env_len,
                             uint8_t **batch_out, size_t *batch_len);

/* ---- JSON (for foundryctl --json) ------------------------------------------- */

typedef enum {
    FDY_JSON_NULL = 0,
    FDY_JSON_BOOL,
    FDY_JSON_NUMBER,
    FDY_JSON_STRING,
    FDY_JSON_ARRAY,
    FDY_JSON_OBJECT,
} fdy_json_type_t;

typedef struct fdy_json fdy_json_t;

/* Parses a whole JSON text (trailing white space allowed). Returns NULL on
 * a syntax error. Caller owns; fdy_proc_json_destroy(). */
fdy_json_t *fdy_proc_json_parse(const char *text, size_t len);
void fdy_proc_json_destroy(fdy_json_t **self_p);

/* Accessors; v may be NULL (then they return NULL/0/false). Borrowed. */
fdy_json_type_t fdy_proc_json_type(const fdy_json_t *v);
/* Elements of an array or members of an object. */
size_t fdy_proc_json_count(const fdy_json_t *v);
const fdy_json_t *fdy_proc_json_at(const fdy_json_t *v, size_t index);
/* Member of an object, or NULL. */
const fdy_json_t *fdy_proc_json_get(const fdy_json_t *v, const char *key);
/* The decoded string (NUL-ended; *len_out its length), or NULL. */
const char *fdy_proc_json_str(const fdy_json_t *v, size_t *len_out);
/* True for a number that is an integer that fits int64 (written to out). */
bool fdy_proc_json_int(const fdy_json_t *v, int64_t *out);
/* A BYTES cell: a string, or {"base64": "..."}. Returns a malloc'd copy
 * (caller frees; NUL added) or NULL. */
uint8_t *fdy_proc_json_bytes(const fdy_json_t *v, size_t *len_out);

/* ---- JSON replies of foundryctl ---------------------------------------------- */

/* Runs `foundryctl --json ARGV...` (argv NULL-ended, at most 46 used) with
 * the default options: fails the test unless it exits 0 and prints JSON.
 * Caller owns; fdy_proc_json_destroy(). */
fdy_json_t *fdy_proc_ctl_json(fdy_proc_t *self, const char *const *argv);

/* The row of a one-row reply: json itself when it is an object, else the
 * only element of an array. Fails the test on any other shape. Borrowed
 * from json. */
const fdy_json_t *fdy_proc_one_row(const fdy_json_t *json);

/* Integer column key of row; fails the test when it is missing or not an
 * integer. */
int64_t fdy_proc_row_int(const fdy_json_t *row, const char *key);

/* Integer field key of `foundryctl status` as the admin key; fails the
 * test when it is missing. */
int64_t fdy_proc_status_int(fdy_proc_t *self, const char *key);

/* Copies text column key of row into out (size bytes, truncated); a list
 * column (a JSON array of strings) is joined with single spaces. Fails the
 * test when it is missing or not a string or list. */
void fdy_proc_row_str(const fdy_json_t *row, const char *key, char *out, size_t size);

/* ---- misc ------------------------------------------------------------------- */

/* Sleeps ms: the poll interval of a deadline-bounded loop, never a
 * synchronisation. */
void fdy_proc_nap_ms(int ms);

/* True when text (len bytes) is exactly one line: non-empty, one '\n' at
 * the end (or none). */
bool fdy_proc_one_line(const char *text, size_t len);

/* A TCP port on 127.0.0.1 that nothing listens on (bound, then closed). */
int fdy_proc_closed_port(void);

/* Fails the test when stream NAME does not hold exactly `messages`
 * (foundryctl --json stream ls). */
void fdy_proc_check_stream_count(fdy_proc_t *self, const char *stream, int64_t messages);

#endif
