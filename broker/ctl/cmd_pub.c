/*  cmd_pub.c: `foundryctl pub SUBJECT [TEXT | --file F [--lines]]`.
 *  Publishes through the public client library, as a partner would: TEXT or
 *  a whole file is one message; without them every stdin line (with
 *  --lines, every line of F) is one message, pipelined (publish_async), and
 *  each ack is printed in input order, "STREAM SEQ", whatever order acks
 *  arrive in.
 *  Not a load generator: it takes the library's default window and batching.
 */
#include "ctl.h"

#include "codec.h"
#include "subject.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* pub's options. */
typedef struct {
    const char *msg_id; /* --id, only for one message (TEXT or --file) */
    const char *file;   /* --file F: F is the message ("-": stdin) */
    bool lines;         /* --lines: each line of F is a message */
} pub_opts_t;

/* The outcome of one input line, kept until every earlier line is printed. */
typedef struct {
    bool done;
    foundry_err err;
    size_t stream; /* index into pub_t.streams */
    uint64_t seq;
    bool duplicate;
    char *reason; /* refusals only */
} pub_result_t;

typedef struct {
    const fdy_ctl_conn_settings_t *settings;
    bool json;
    foundry_client_t *client;
    /* Results of lines [base, next), in a ring of cap (a power of two) slots
     * indexed by line number: memory follows what is unprinted, not the
     * length of the input. */
    pub_result_t *ring;
    size_t cap;
    uint64_t base;
    uint64_t next;
    char **streams; /* distinct stream names seen in acks: there are few */
    size_t stream_count;
    bool refused; /* some message was refused: exit 1 at the end */
    bool out_of_memory;
} pub_t;

static void
s_pub_free(pub_t *self)
{
    for (uint64_t i = self->base; i < self->next; i++)
        free(self->ring[i & (self->cap - 1)].reason);
    free(self->ring);
    for (size_t i = 0; i < self->stream_count; i++)
        free(self->streams[i]);
    free(self->streams);
}

static void
s_print_ack(const pub_t *self, const char *stream, uint64_t seq, bool duplicate)
{
    if (self->json) {
        fputs("{\"stream\":", stdout);
        fdy_output_json_string(stdout, stream, strlen(stream));
        printf(",\"seq\":%" PRIu64 ",\"duplicate\":%s}\n", seq, duplicate ? "true" : "false");
    } else {
        printf("%s %" PRIu64 "%s\n", stream, seq, duplicate ? " duplicate" : "");
    }
}

static void
s_print_refusal(uint64_t line, foundry_err err, const char *reason)
{
    if (line)
        fdy_output_fail("line %" PRIu64 ": refused (%s): %s", line, foundry_strerror(err),
                        reason && *reason ? reason : foundry_strerror(err));
    else
        fdy_output_fail("refused (%s): %s", foundry_strerror(err),
                        reason && *reason ? reason : foundry_strerror(err));
}

/* Prints every finished result at the head of the ring. */
static void
s_drain(pub_t *self)
{
    while (self->base < self->next) {
        pub_result_t *r = &self->ring[self->base & (self->cap - 1)];
        if (!r->done)
            break;
        if (r->err == FOUNDRY_OK)
            s_print_ack(self, self->streams[r->stream], r->seq, r->duplicate);
        else
            s_print_refusal(self->base + 1, r->err, r->reason);
        free(r->reason);
        memset(r, 0, sizeof *r);
        self->base++;
    }
}

static bool
s_intern_stream(pub_t *self, const char *name, size_t *index_out)
{
    for (size_t i = 0; i < self->stream_count; i++) {
        if (strcmp(self->streams[i], name) == 0) {
            *index_out = i;
            return true;
        }
    }
    char **grown = realloc(self->streams, (self->stream_count + 1) * sizeof *grown);
    if (!grown)
        return false;
    self->streams = grown;
    self->streams[self->stream_count] = strdup(name);
    if (!self->streams[self->stream_count])
        return false;
    *index_out = self->stream_count++;
    return true;
}

static void
s_record(pub_t *self, uint64_t line, foundry_err err, const char *stream, uint64_t seq,
         bool duplicate, const char *reason)
{
    if (line < self->base || line >= self->next)
        return; /* not ours, or reported twice */
    pub_result_t *r = &self->ring[line & (self->cap - 1)];
    if (r->done)
        return;
    r->done = true;
    r->err = err;
    r->seq = seq;
    r->duplicate = duplicate;
    if (err == FOUNDRY_OK) {
        if (!s_intern_stream(self, stream ? stream : "", &r->stream))
            self->out_of_memory = true;
    } else {
        self->refused = true;
        r->reason = strdup(reason ? reason : "");
        if (!r->reason)
            self->out_of_memory = true;
    }
    if (!self->out_of_memory)
        s_drain(self);
}

static void
s_on_ack(const foundry_ack_t *ack, void *user)
{
    pub_t *self = user;
    s_record(self, (uint64_t) (uintptr_t) ack->user, ack->err, ack->stream, ack->seq,
             ack->duplicate != 0, ack->reason);
}

/* Makes room for one more line in the ring. */
static bool
s_reserve(pub_t *self)
{
    if (self->next - self->base < self->cap)
        return true;
    size_t cap = self->cap ? self->cap * 2 : 1024;
    pub_result_t *ring = calloc(cap, sizeof *ring);
    if (!ring)
        return false;
    for (uint64_t i = self->base; i < self->next; i++)
        ring[i & (cap - 1)] = self->ring[i & (self->cap - 1)];
    free(self->ring);
    self->ring = ring;
    self->cap = cap;
    return true;
}

/* Waits until everything sent is acknowledged, as long as acks keep
 * coming: the timeout bounds a silent broker, not a long input. */
static int
s_settle(pub_t *self)
{
    for (;;) {
        size_t before = foundry_client_unacked(self->client);
        if (before == 0)
            break;
        foundry_err err = foundry_client_flush(self->client, self->settings->timeout_ms);
        if (err == FOUNDRY_EAUTH)
            return fdy_ctl_conn_report_refused(foundry_client_last_error(self->client));
        if (err != FOUNDRY_OK && err != FOUNDRY_ETIMEDOUT)
            return fdy_output_fail("%s", foundry_client_last_error(self->client));
        size_t after = foundry_client_unacked(self->client);
        if (err == FOUNDRY_ETIMEDOUT && after >= before)
            return fdy_output_fail("broker at %s did not acknowledge %zu message%s within %d ms",
                                   self->settings->endpoint, after, after == 1 ? "" : "s",
                                   self->settings->timeout_ms);
    }
    if (self->out_of_memory)
        return fdy_output_fail("out of memory");
    fflush(stdout);
    return FDY_CTL_EXIT_OK;
}

/* ---- stdin lines -------------------------------------------------------- */

typedef struct {
    int fd;
    char *buf;
    size_t cap;
    size_t start; /* first unconsumed byte */
    size_t end;   /* one past the last byte read */
    bool eof;
} line_reader_t;

/* Returns 1 with the next line (without its newline) in *line and *len, 0 at
 * the end of input, or -1 (errno set). Before it would block on stdin it
 * settles the client, so a slow writer (tail -f) sees each ack promptly. */
static int
s_next_line(line_reader_t *in, pub_t *pub, int *status, char **line, size_t *len)
{
    for (;;) {
        char *nl =
            in->end > in->start ? memchr(in->buf + in->start, '\n', in->end - in->start) : NULL;
        if (nl || (in->eof && in->start < in->end)) {
            size_t n = nl ? (size_t) (nl - (in->buf + in->start)) : in->end - in->start;
            *line = in->buf + in->start;
            in->start += n + (nl ? 1 : 0);
            if (n > 0 && (*line)[n - 1] == '\r')
                n--;
            *len = n;
            return 1;
        }
        if (in->eof)
            return 0;
        if (in->start > 0) {
            memmove(in->buf, in->buf + in->start, in->end - in->start);
            in->end -= in->start;
            in->start = 0;
        }
        if (in->end == in->cap) {
            size_t cap = in->cap ? in->cap * 2 : 65536;
            char *grown = realloc(in->buf, cap);
            if (!grown) {
                errno = ENOMEM;
                return -1;
            }
            in->buf = grown;
            in->cap = cap;
        }
        struct pollfd pfd = {.fd = in->fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) == 0) {
            *status = s_settle(pub);
            if (*status != FDY_CTL_EXIT_OK)
                return 0;
        }
        ssize_t got = read(in->fd, in->buf + in->end, in->cap - in->end);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got == 0)
            in->eof = true;
        in->end += (size_t) got;
    }
}

static int
s_publish_lines(pub_t *pub, const char *subject, int fd, const char *source)
{
    line_reader_t in = {.fd = fd};
    int status = FDY_CTL_EXIT_OK;
    for (;;) {
        char *line;
        size_t len;
        int got = s_next_line(&in, pub, &status, &line, &len);
        if (status != FDY_CTL_EXIT_OK)
            break;
        if (got < 0) {
            status = fdy_output_fail("reading %s: %s", source, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        if (!s_reserve(pub)) {
            status = fdy_output_fail("out of memory");
            break;
        }
        uint64_t index = pub->next++;
        foundry_err err = foundry_client_publish_async(pub->client, subject, line, len, NULL, 0,
                                                       (void *) (uintptr_t) index);
        if (err == FOUNDRY_EINVAL || err == FOUNDRY_ETOOBIG) {
            /* This line only (too long for a payload): say so in its turn. */
            s_record(pub, index, err, NULL, 0, false, foundry_client_last_error(pub->client));
            continue;
        }
        if (err == FOUNDRY_EAUTH) {
            status = fdy_ctl_conn_report_refused(foundry_client_last_error(pub->client));
            break;
        }
        if (err == FOUNDRY_ETIMEDOUT) {
            status = fdy_output_fail("broker at %s did not acknowledge within %d ms",
                                     pub->settings->endpoint, pub->settings->timeout_ms);
            break;
        }
        if (err != FOUNDRY_OK) {
            status = fdy_output_fail("%s", foundry_client_last_error(pub->client));
            break;
        }
        if (pub->out_of_memory) {
            status = fdy_output_fail("out of memory");
            break;
        }
    }
    if (status == FDY_CTL_EXIT_OK)
        status = s_settle(pub);
    if (status == FDY_CTL_EXIT_OK && pub->base != pub->next)
        status = fdy_output_fail("the client library did not report %" PRIu64 " messages",
                                 pub->next - pub->base);
    free(in.buf);
    if (status == FDY_CTL_EXIT_OK && pub->refused)
        status = FDY_CTL_EXIT_FAIL; /* each refusal was printed in its turn */
    return status;
}

/* ---- one message -------------------------------------------------------- */

static int
s_publish_one(pub_t *pub, const char *subject, const char *data, size_t len, const char *msg_id)
{
    foundry_ack_t ack;
    memset(&ack, 0, sizeof ack);
    foundry_err err = foundry_client_publish(pub->client, subject, data, len, msg_id,
                                             msg_id ? strlen(msg_id) : 0, &ack);
    if (err == FOUNDRY_OK) {
        s_print_ack(pub, ack.stream ? ack.stream : "", ack.seq, ack.duplicate != 0);
        return FDY_CTL_EXIT_OK;
    }
    if (err == FOUNDRY_EAUTH)
        return fdy_ctl_conn_report_refused(foundry_client_last_error(pub->client));
    if (err == FOUNDRY_ETIMEDOUT)
        return fdy_output_fail("broker at %s did not acknowledge within %d ms",
                               pub->settings->endpoint, pub->settings->timeout_ms);
    const char *reason = ack.err != FOUNDRY_OK && ack.reason && *ack.reason
                             ? ack.reason
                             : foundry_client_last_error(pub->client);
    s_print_refusal(0, err, reason);
    return FDY_CTL_EXIT_FAIL;
}

static int
s_pub(const fdy_ctl_args_t *args)
{
    const pub_opts_t *opts = args->opts;
    const char *subject = args->pos[0];
    const char *text = args->pos_count > 1 ? args->pos[1] : NULL;
    fdy_reason_t reason = {{0}};
    if (fdy_subject_validate(subject, &reason) != FOUNDRY_OK)
        return fdy_output_usage("bad subject '%s': %s", subject,
                                reason.text[0] ? reason.text : "invalid");
    if (text && opts->file)
        return fdy_output_usage("give TEXT or --file, not both");
    if (opts->lines && !opts->file)
        return fdy_output_usage("--lines needs --file (stdin is read one message per line "
                                "already)");
    bool one_message = text || (opts->file && !opts->lines);
    if (opts->msg_id && !one_message)
        return fdy_output_usage("--id needs TEXT or --file: it names one message, lines are many");
    if (opts->msg_id && (strlen(opts->msg_id) == 0 || strlen(opts->msg_id) > FOUNDRY_MSG_ID_MAX))
        return fdy_output_usage("--id must be 1 to %d bytes", FOUNDRY_MSG_ID_MAX);

    /* Read before connecting: a missing or oversized file costs no
     * connection and is reported as what it is. */
    char *file_data = NULL;
    size_t file_len = 0;
    int line_fd = STDIN_FILENO;
    if (opts->file && !opts->lines) {
        int status = fdy_ctl_file_read(opts->file, FDY_PAYLOAD_MAX, &file_data, &file_len);
        if (status != FDY_CTL_EXIT_OK)
            return status;
    } else if (opts->file && strcmp(opts->file, "-") != 0) {
        line_fd = open(opts->file, O_RDONLY | O_CLOEXEC);
        if (line_fd < 0)
            return fdy_output_fail("%s: %s", opts->file, strerror(errno));
    }
    if (!one_message && line_fd == STDIN_FILENO && isatty(STDIN_FILENO))
        fdy_output_note("reading messages from stdin, one per line; end with Ctrl-D");

    fdy_ctl_conn_settings_t settings;
    pub_t pub = {.settings = &settings, .json = args->json};
    int status = fdy_ctl_conn_client(args, &settings, &pub.client);
    if (status != FDY_CTL_EXIT_OK)
        goto out;

    if (text) {
        status = s_publish_one(&pub, subject, text, strlen(text), opts->msg_id);
    } else if (file_data || one_message) {
        status = s_publish_one(&pub, subject, file_data ? file_data : "", file_len, opts->msg_id);
    } else if (foundry_client_set_ack_handler(pub.client, s_on_ack, &pub) != FOUNDRY_OK) {
        status = fdy_output_fail("%s", foundry_client_last_error(pub.client));
    } else {
        status = s_publish_lines(&pub, subject, line_fd,
                                 line_fd == STDIN_FILENO ? "stdin" : opts->file);
    }
    /* Everything that matters was flushed above; on an error path waiting
     * longer would only delay the exit. */
    if (pub.client && foundry_client_set_ack_handler(pub.client, NULL, NULL) != FOUNDRY_OK)
        status = status ? status : FDY_CTL_EXIT_FAIL;
    (void) foundry_client_close(&pub.client, 0, NULL);
    s_pub_free(&pub);
out:
    free(file_data);
    if (line_fd != STDIN_FILENO)
        close(line_fd);
    return status;
}

/* ---- the group ---------------------------------------------------------- */

enum { PUB_ID = 1, PUB_FILE, PUB_LINES };

static const fdy_ctl_flag_t s_flags[] = {
    {"--id", "ID", PUB_ID, false,
     "producer message id, 1-64 bytes, for dedupe (default: generated)"},
    {"--file", "FILE", PUB_FILE, false,
     "publish the whole of FILE as one message (\"-\": stdin), up to 4 MiB"},
    {"--lines", NULL, PUB_LINES, false, "with --file: each line of FILE is one message"},
};

static int
s_opts_set(void *opts, const fdy_ctl_flag_t *flag, const char *value)
{
    pub_opts_t *self = opts;
    switch (flag->id) {
    case PUB_ID: self->msg_id = value; break;
    case PUB_FILE: self->file = value; break;
    case PUB_LINES: self->lines = true; break;
    default: break;
    }
    return FDY_CTL_EXIT_OK;
}

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "pub",
        .synopsis = "SUBJECT [TEXT | --file FILE [--lines]] [--id ID]",
        .summary = "publish TEXT or a file, or one message per stdin line",
        .notes = "TEXT, or --file FILE, is one message (a file's bytes as they are, binary\n"
                 "too). Without either, each line of stdin is one message (on a terminal it\n"
                 "says so; end with Ctrl-D); --file FILE --lines reads the lines of FILE.\n"
                 "Prints \"STREAM SEQ\" for each acknowledged message, in input order\n"
                 "(\"STREAM SEQ duplicate\" when the broker had the id already; --json: one\n"
                 "object per line). A refused message is reported on stderr with its line\n"
                 "number and the exit status is 1. --id only for one message.",
        .pos_names = {"SUBJECT", "TEXT"},
        .min_pos = 1,
        .max_pos = 2,
        .flags = (const int[]){PUB_ID, PUB_FILE, PUB_LINES, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_pub,
    },
};

const fdy_ctl_group_t fdy_cmd_pub_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .opts_size = sizeof(pub_opts_t),
    .opts_set = s_opts_set,
};
