/*  test_streams.c: stream administration through the real broker and
 *  foundryctl (add, info, ls, edit, rm, human and --json), what `bytes`
 *  counts, retention trimming by each limit (max_msgs, max_bytes,
 *  max_age), and bad input:
 *  malformed subjects, filters and names, unknown streams and consumers.
 *  Each bad request gets a clear one-line error and harms nothing.
 */
#include "proc.h"
#include "raw.h"

#include "arena.h"
#include "clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define POLL_DEADLINE_MS 20000
#define REPLY_TIMEOUT_MS 10000

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- helpers ----------------------------------------------------------------- */

/* Case-insensitive strstr (strcasestr is a GNU extension). */
static bool
s_contains_ci(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *at = haystack; at && *at; at++)
        if (strncasecmp(at, needle, n) == 0)
            return true;
    return false;
}

static void
s_ctl(fdy_proc_t *p, const char *const *argv, fdy_proc_run_t *run)
{
    FDY_CHECK_OK(fdy_proc_ctlv(p, NULL, argv, run));
}

/* True when the space-separated words of a and b are the same set. */
static bool
s_same_words(const char *a, const char *b)
{
    char y[1024];
    snprintf(y, sizeof y, " %s ", b);
    size_t words_a = 0, words_b = 0;
    char copy[1024], *save = NULL;
    snprintf(copy, sizeof copy, "%s", a);
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        char needle[300];
        snprintf(needle, sizeof needle, " %s ", w);
        if (!strstr(y, needle))
            return false;
        words_a++;
    }
    snprintf(copy, sizeof copy, "%s", b);
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
        words_b++;
    return words_a == words_b;
}

typedef struct {
    char name[80];
    char filters[1024];
    int64_t first_seq, last_seq, messages, bytes;
    int64_t max_age_ms, max_bytes, max_msgs, created_ns;
    char consumers[1024];
} s_stream_t;

static void
s_stream_row(const fdy_json_t *row, s_stream_t *out)
{
    memset(out, 0, sizeof *out);
    fdy_proc_row_str(row, "name", out->name, sizeof out->name);
    fdy_proc_row_str(row, "filters", out->filters, sizeof out->filters);
    out->first_seq = fdy_proc_row_int(row, "first_seq");
    out->last_seq = fdy_proc_row_int(row, "last_seq");
    out->messages = fdy_proc_row_int(row, "messages");
    out->bytes = fdy_proc_row_int(row, "bytes");
    out->max_age_ms = fdy_proc_row_int(row, "max_age_ms");
    out->max_bytes = fdy_proc_row_int(row, "max_bytes");
    out->max_msgs = fdy_proc_row_int(row, "max_msgs");
    out->created_ns = fdy_proc_row_int(row, "created_ns");
    fdy_proc_row_str(row, "consumers", out->consumers, sizeof out->consumers);
}

/* `foundryctl --json ARGV` answering one stream.info row. */
static void
s_stream_cmd(fdy_proc_t *p, const char *const *argv, s_stream_t *out)
{
    fdy_json_t *json = fdy_proc_ctl_json(p, argv);
    s_stream_row(fdy_proc_one_row(json), out);
    fdy_proc_json_destroy(&json);
}

static void
s_stream_info(fdy_proc_t *p, const char *name, s_stream_t *out)
{
    s_stream_cmd(p, ARGV("stream", "info", name), out);
    FDY_CHECK_STR(out->name, name);
}

/* True when `stream ls --json` lists name. */
static bool
s_stream_listed(fdy_proc_t *p, const char *name)
{
    fdy_json_t *rows = fdy_proc_ctl_json(p, ARGV("stream", "ls"));
    FDY_CHECK(fdy_proc_json_type(rows) == FDY_JSON_ARRAY);
    bool found = false;
    for (size_t i = 0; i < fdy_proc_json_count(rows); i++) {
        const char *n =
            fdy_proc_json_str(fdy_proc_json_get(fdy_proc_json_at(rows, i), "name"), NULL);
        found = found || (n && strcmp(n, name) == 0);
    }
    fdy_proc_json_destroy(&rows);
    return found;
}

/* The command must fail: exit `want` (or 1 or 2 when want is -2: usage or
 * refusal are both clear answers to malformed input), nothing on stdout, one
 * line on stderr starting "foundryctl: " and containing `mention` (one of
 * the '|'-separated words, case-insensitive; NULL: anything). */
static void
s_ctl_refused(fdy_proc_t *p, int want, const char *mention, const char *const *argv)
{
    fdy_proc_run_t run;
    s_ctl(p, argv, &run);
    bool status_ok = want == -2 ? (run.status == 1 || run.status == 2) : run.status == want;
    bool mentioned = mention == NULL;
    if (mention) {
        char words[256], *save = NULL;
        snprintf(words, sizeof words, "%s", mention);
        for (char *w = strtok_r(words, "|", &save); w; w = strtok_r(NULL, "|", &save))
            mentioned = mentioned || s_contains_ci(run.err, w);
    }
    bool ok = status_ok && run.out_len == 0 && fdy_proc_one_line(run.err, run.err_len) &&
              strncmp(run.err, "foundryctl: ", 12) == 0 && mentioned;
    if (!ok) {
        char line[512] = "";
        for (size_t i = 0; argv[i]; i++) {
            strncat(line, argv[i], sizeof line - strlen(line) - 2);
            strncat(line, " ", sizeof line - strlen(line) - 1);
        }
        fdy_proc_run_print(line, &run);
        fdy_proc_fail(__FILE__, __LINE__,
                      "foundryctl %s: want exit %s, no stdout, one stderr line mentioning %s", line,
                      want == -2 ? "1 or 2" : (want == 1 ? "1" : "2"),
                      mention ? mention : "anything");
    }
    fdy_proc_run_clear(&run);
}

/* `foundryctl pub SUBJECT TEXT`: must store it in `stream` (returns the seq). */
static uint64_t
s_pub(fdy_proc_t *p, const char *subject, const char *text, const char *stream)
{
    fdy_proc_run_t run;
    s_ctl(p, ARGV("pub", subject, text), &run);
    FDY_CHECK_RUN(&run, 0);
    char got[80] = "";
    unsigned long long seq = 0;
    FDY_CHECK_MSG(sscanf(run.out, "%79s %llu", got, &seq) == 2, "pub printed \"%s\"", run.out);
    FDY_CHECK_STR(got, stream);
    fdy_proc_run_clear(&run);
    return seq;
}

/* Publishes `count` messages (payload `payload_len` bytes, ids prefix-i)
 * with an admin libfoundry client, pipelined, and waits for every ack. */
static void
s_publish_many(fdy_proc_t *p, const char *subject, const char *prefix, size_t first, size_t count,
               size_t payload_len)
{
    foundry_client_t *client = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &client));
    char *payload = malloc(payload_len + 32);
    FDY_CHECK(payload);
    for (size_t i = first; i < first + count; i++) {
        int n = snprintf(payload, payload_len + 32, "%s-%06zu-", prefix, i);
        for (size_t k = (size_t) n; k < payload_len; k++)
            payload[k] = (char) ('a' + (i + k) % 26);
        char id[64];
        snprintf(id, sizeof id, "%s-%06zu", prefix, i);
        foundry_err err;
        size_t len = payload_len > (size_t) n ? payload_len : (size_t) n;
        while ((err = foundry_client_publish_async(client, subject, payload, len, id, strlen(id),
                                                   NULL)) == FOUNDRY_ETIMEDOUT)
            FDY_CHECK_OK(foundry_client_poll(client, 100));
        FDY_CHECK_OK(err);
    }
    FDY_CHECK_OK(foundry_client_flush(client, 60000));
    FDY_CHECK_EQ(foundry_client_unacked(client), 0);
    size_t unacked = 1;
    FDY_CHECK_OK(foundry_client_close(&client, 5000, &unacked));
    FDY_CHECK_EQ(unacked, 0);
    free(payload);
}

/* `foundryctl --json stream read` from seq 1: returns the parsed rows. */
static fdy_json_t *
s_read(fdy_proc_t *p, const char *stream)
{
    fdy_json_t *rows =
        fdy_proc_ctl_json(p, ARGV("stream", "read", stream, "--from", "1", "--count", "100000"));
    FDY_CHECK(fdy_proc_json_type(rows) == FDY_JSON_ARRAY);
    return rows;
}

/* ---- admin: add, info, ls, edit, rm ----------------------------------------- */

static void
test_streams_add_info_edit_rm(void)
{
    fdy_proc_t *p = fdy_proc_new("streams-admin");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_stream_t info;

    /* add: answers the new stream's info row. */
    uint64_t before_ns = fdy_clock_wall_ns();
    s_stream_cmd(p,
                 ARGV("stream", "add", "plant", "--subject", "plant.line1.>", "--subject",
                      "plant.*.alarm", "--max-msgs", "1000", "--max-bytes", "64MiB", "--max-age",
                      "1h"),
                 &info);
    FDY_CHECK_STR(info.name, "plant");
    FDY_CHECK_MSG(s_same_words(info.filters, "plant.line1.> plant.*.alarm"), "filters \"%s\"",
                  info.filters);
    FDY_CHECK_EQ(info.messages, 0);
    FDY_CHECK_EQ(info.bytes, 0);
    FDY_CHECK_EQ(info.last_seq, 0);
    FDY_CHECK_EQ(info.max_msgs, 1000);
    FDY_CHECK_EQ(info.max_bytes, 64 * 1024 * 1024);
    FDY_CHECK_EQ(info.max_age_ms, 3600 * 1000);
    FDY_CHECK_STR(info.consumers, "");
    FDY_CHECK_MSG(info.created_ns >= (int64_t) before_ns - 5000000000LL,
                  "created_ns %" PRId64 " is before the add (%" PRIu64 ")", info.created_ns,
                  before_ns);

    /* info says the same. */
    s_stream_info(p, "plant", &info);
    FDY_CHECK_EQ(info.max_msgs, 1000);
    FDY_CHECK_EQ(info.max_age_ms, 3600 * 1000);
    FDY_CHECK(s_stream_listed(p, "plant"));

    /* The same name twice: refused, the first one intact. */
    s_ctl_refused(p, 1, "plant|exist",
                  ARGV("stream", "add", "plant", "--subject", "plant.other.>"));
    s_stream_info(p, "plant", &info);
    FDY_CHECK_MSG(s_same_words(info.filters, "plant.line1.> plant.*.alarm"), "filters \"%s\"",
                  info.filters);

    /* Both filters capture; the stream counts what it holds. */
    FDY_CHECK_EQ(s_pub(p, "plant.line1.robot1.temp", "21.5", "plant"), 1);
    FDY_CHECK_EQ(s_pub(p, "plant.line7.alarm", "overheat", "plant"), 2);
    FDY_CHECK_EQ(s_pub(p, "plant.line1.robot2", "22.0", "plant"), 3);
    s_stream_info(p, "plant", &info);
    FDY_CHECK_EQ(info.first_seq, 1);
    FDY_CHECK_EQ(info.last_seq, 3);
    FDY_CHECK_EQ(info.messages, 3);
    FDY_CHECK_MSG(info.bytes >= 4 + 8 + 4, "bytes %" PRId64 " below the payloads' size",
                  info.bytes);
    /* Not captured: another line's non-alarm subject. */
    s_ctl_refused(p, 1, NULL, ARGV("pub", "plant.line7.temp", "x"));

    /* The human form: a header row and the stream. */
    fdy_proc_run_t run;
    s_ctl(p, ARGV("stream", "info", "plant"), &run);
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(strstr(run.out, "plant.line1.>") && strstr(run.out, "plant.*.alarm") &&
                      s_contains_ci(run.out, "max_msgs") && strstr(run.out, "1000"),
                  "human stream info lacks filters or limits:\n%s", run.out);
    fdy_proc_run_clear(&run);
    s_ctl(p, ARGV("stream", "ls"), &run);
    FDY_CHECK_RUN(&run, 0);
    FDY_CHECK_MSG(strstr(run.out, "plant") && strstr(run.out, "telemetry-siheung"),
                  "human stream ls:\n%s", run.out);
    fdy_proc_run_clear(&run);

    /* info names its consumers. */
    fdy_json_t *json =
        fdy_proc_ctl_json(p, ARGV("consumer", "add", "plant", "c2", "--start", "first"));
    fdy_proc_json_destroy(&json);
    json = fdy_proc_ctl_json(p, ARGV("consumer", "add", "plant", "c1", "--start", "first"));
    fdy_proc_json_destroy(&json);
    s_stream_info(p, "plant", &info);
    FDY_CHECK_MSG(s_same_words(info.consumers, "c1 c2"), "consumers \"%s\"", info.consumers);

    /* edit a limit: the others and the filters stay. */
    s_stream_cmd(p, ARGV("stream", "edit", "plant", "--max-msgs", "2"), &info);
    FDY_CHECK_EQ(info.max_msgs, 2);
    FDY_CHECK_EQ(info.max_bytes, 64 * 1024 * 1024);
    FDY_CHECK_EQ(info.max_age_ms, 3600 * 1000);
    FDY_CHECK_MSG(s_same_words(info.filters, "plant.line1.> plant.*.alarm"), "filters \"%s\"",
                  info.filters);
    /* ... and the trimmer applies it. */
    int64_t deadline = fdy_clock_mono_ms() + POLL_DEADLINE_MS;
    for (;;) {
        s_stream_info(p, "plant", &info);
        if (info.messages == 2)
            break;
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "max_msgs 2: still %" PRId64 " messages",
                      info.messages);
        fdy_proc_nap_ms(20);
    }
    FDY_CHECK_EQ(info.first_seq, 2);
    FDY_CHECK_EQ(info.last_seq, 3);

    /* edit the filters: routing follows, stored messages stay. */
    s_stream_cmd(p, ARGV("stream", "edit", "plant", "--subject", "plant.line2.>"), &info);
    FDY_CHECK_STR(info.filters, "plant.line2.>");
    FDY_CHECK_EQ(info.max_msgs, 2);
    FDY_CHECK_EQ(info.messages, 2);
    s_ctl_refused(p, 1, NULL, ARGV("pub", "plant.line1.robot1.temp", "x"));
    FDY_CHECK_EQ(s_pub(p, "plant.line2.robot1.temp", "23.0", "plant"), 4);
    /* Removing every limit: 0 means unlimited. */
    s_stream_cmd(
        p, ARGV("stream", "edit", "plant", "--max-msgs", "0", "--max-bytes", "0", "--max-age", "0"),
        &info);
    FDY_CHECK_EQ(info.max_msgs, 0);
    FDY_CHECK_EQ(info.max_bytes, 0);
    FDY_CHECK_EQ(info.max_age_ms, 0);

    /* rm: gone from info, ls and routing; its consumers with it. */
    s_stream_cmd(p, ARGV("stream", "rm", "plant"), &info);
    FDY_CHECK_STR(info.name, "plant");
    s_ctl_refused(p, 1, "plant", ARGV("stream", "info", "plant"));
    s_ctl_refused(p, 1, "plant", ARGV("stream", "rm", "plant"));
    s_ctl_refused(p, 1, "plant", ARGV("consumer", "ls", "plant"));
    FDY_CHECK(!s_stream_listed(p, "plant"));
    s_ctl_refused(p, 1, NULL, ARGV("pub", "plant.line2.robot1.temp", "x"));

    /* The name can be used again: a new, empty stream without consumers. */
    s_stream_cmd(p, ARGV("stream", "add", "plant", "--subject", "plant.>"), &info);
    FDY_CHECK_EQ(info.messages, 0);
    FDY_CHECK_STR(info.consumers, "");
    FDY_CHECK_EQ(info.max_msgs, 0);
    FDY_CHECK_EQ(s_pub(p, "plant.line1.robot1.temp", "again", "plant"), 1);
    s_ctl_refused(p, 1, "c1", ARGV("consumer", "info", "plant", "c1"));

    /* The site streams were never touched. */
    s_stream_info(p, "telemetry-siheung", &info);
    FDY_CHECK_STR(info.filters, "telemetry.siheung.>");

    /* Everything survives a restart. */
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    s_stream_info(p, "plant", &info);
    FDY_CHECK_EQ(info.messages, 1);
    FDY_CHECK_STR(info.filters, "plant.>");
    FDY_CHECK_EQ(s_pub(p, "plant.line1.robot1.temp", "after", "plant"), 2);

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* ---- retention ----------------------------------------------------------------- */

/* Polls `stream info` until it holds `messages` (deadline-bounded). */
static void
s_wait_messages(fdy_proc_t *p, const char *stream, int64_t messages, s_stream_t *info)
{
    int64_t deadline = fdy_clock_mono_ms() + POLL_DEADLINE_MS;
    for (;;) {
        s_stream_info(p, stream, info);
        if (info->messages == messages)
            return;
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline,
                      "%s: %" PRId64 " messages (first %" PRId64 ", last %" PRId64
                      ") after %d ms, want %" PRId64,
                      stream, info->messages, info->first_seq, info->last_seq, POLL_DEADLINE_MS,
                      messages);
        fdy_proc_nap_ms(20);
    }
}

/* Encodes a Message record (payload inline, or in frame 1 when payload is
 * NULL) into out; returns its length. */
static size_t
s_record(const char *subject, const char *id, const char *payload, uint8_t *out, size_t size)
{
    fdy_msg_t msg = {.id = (const uint8_t *) id, .id_len = strlen(id), .subject = subject,
                     .timestamp_ns = 1700000000000000000ull};
    if (payload) {
        msg.payload = (const uint8_t *) payload;
        msg.payload_len = strlen(payload);
    } else {
        msg.payload_frame = 1;
    }
    fdy_reason_t why;
    FDY_CHECK_OK(fdy_codec_check_msg(&msg, &why));
    size_t len = fdy_codec_msg_size(&msg);
    FDY_CHECK(len <= size);
    FDY_CHECK_EQ(fdy_codec_msg_write(&msg, out), len);
    return len;
}

/* `bytes` (stream info, and what max_bytes limits) is defined in
 * docs/streams.md: each message counts its encoded Message record as the
 * producer sent it, plus its payload frame; not the broker's own record
 * header, publisher name or LMDB pages. Checked over a raw connection, so
 * the test knows every byte that was sent. */
static void
test_streams_bytes_counts_messages_as_sent(void)
{
    fdy_proc_t *p = fdy_proc_new("bytes");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_stream_t info;
    s_stream_cmd(p, ARGV("stream", "add", "sized", "--subject", "sized.>"), &info);
    FDY_CHECK_EQ(info.bytes, 0);
    fdy_proc_dealer_t *dealer = NULL;
    FDY_CHECK_OK(fdy_proc_dealer_new(p, "admin", &dealer));
    fdy_arena_t *arena = fdy_arena_new(1 << 20);
    FDY_CHECK(arena);

    enum { EXT_LEN = 70000 };
    static uint8_t recs[4][512], ext[EXT_LEN];
    memset(ext, 'x', sizeof ext);
    char long_payload[401];
    memset(long_payload, 'p', 400);
    long_payload[400] = '\0';
    fdy_slice_t records[4] = {
        {recs[0], s_record("sized.a", "b-1", "1", recs[0], sizeof recs[0])},
        {recs[1], s_record("sized.a.b.c", "b-2-with-a-longer-id", "twenty bytes payload",
                           recs[1], sizeof recs[1])},
        {recs[2], s_record("sized.a", "b-3", long_payload, recs[2], sizeof recs[2])},
        {recs[3], s_record("sized.frame", "b-4", NULL, recs[3], sizeof recs[3])},
    };
    int64_t want = (int64_t) (records[0].len + records[1].len + records[2].len + records[3].len) +
                   EXT_LEN;
    /* Request 1: three inline messages; request 2: one with its payload
     * frame; then request 1 again, whose duplicates add nothing. */
    for (int r = 0; r < 3; r++) {
        uint8_t *env = NULL, *batch = NULL;
        size_t env_len = 0, batch_len = 0;
        bool framed = r == 1;
        fdy_proc_encode_publish((uint64_t) r + 1, framed ? 1 : 3, framed ? &records[3] : records,
                                framed ? 1 : 3, &env, &env_len, &batch, &batch_len);
        fdy_slice_t frames[3] = {{env, env_len}, {batch, batch_len}, {ext, sizeof ext}};
        FDY_CHECK_OK(fdy_proc_dealer_send(dealer, frames, framed ? 3 : 2));
        free(env);
        free(batch);
        fdy_envelope_t reply;
        FDY_CHECK_OK(fdy_proc_dealer_recv(dealer, REPLY_TIMEOUT_MS, arena, &reply));
        FDY_CHECK_EQ(reply.kind, FDY_KIND_PUBLISH_ACK);
        FDY_CHECK_EQ(reply.ack.error_count, 0);
        FDY_CHECK_EQ(reply.ack.duplicate_count, r == 2 ? 3 : 0);
    }
    fdy_proc_dealer_destroy(&dealer);
    fdy_arena_destroy(&arena);

    s_stream_info(p, "sized", &info);
    FDY_CHECK_EQ(info.messages, 4);
    FDY_CHECK_MSG(info.bytes == want,
                  "bytes %" PRId64 ", want %" PRId64 " (records %zu+%zu+%zu+%zu, frame %d)",
                  info.bytes, want, records[0].len, records[1].len, records[2].len,
                  records[3].len, EXT_LEN);
    fdy_json_t *rows = fdy_proc_ctl_json(p, ARGV("stream", "ls"));
    bool listed = false;
    for (size_t i = 0; i < fdy_proc_json_count(rows); i++) {
        const fdy_json_t *row = fdy_proc_json_at(rows, i);
        const char *name = fdy_proc_json_str(fdy_proc_json_get(row, "name"), NULL);
        if (name && strcmp(name, "sized") == 0) {
            FDY_CHECK_EQ(fdy_proc_row_int(row, "bytes"), want);
            listed = true;
        }
    }
    FDY_CHECK(listed);
    fdy_proc_json_destroy(&rows);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_streams_retention_max_msgs(void)
{
    fdy_proc_t *p = fdy_proc_new("retention-msgs");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_stream_t info;
    s_stream_cmd(p, ARGV("stream", "add", "capped", "--subject", "capped.>", "--max-msgs", "100"),
                 &info);
    FDY_CHECK_EQ(info.max_msgs, 100);

    s_publish_many(p, "capped.sensor", "m", 0, 250, 40);
    s_wait_messages(p, "capped", 100, &info);
    FDY_CHECK_EQ(info.first_seq, 151);
    FDY_CHECK_EQ(info.last_seq, 250);

    /* Reading from the start gives the oldest kept message onwards. */
    fdy_json_t *rows = s_read(p, "capped");
    FDY_CHECK_EQ(fdy_proc_json_count(rows), 100);
    for (size_t r = 0; r < 100; r++) {
        const fdy_json_t *row = fdy_proc_json_at(rows, r);
        FDY_CHECK_EQ(fdy_proc_row_int(row, "seq"), (int64_t) (151 + r));
        size_t len = 0;
        uint8_t *payload = fdy_proc_json_bytes(fdy_proc_json_get(row, "payload"), &len);
        char want[32];
        snprintf(want, sizeof want, "m-%06zu-", 150 + r);
        FDY_CHECK_MSG(payload && len == 40 && memcmp(payload, want, strlen(want)) == 0,
                      "seq %zu: payload %.40s", 151 + r, payload ? (char *) payload : "?");
        free(payload);
    }
    fdy_proc_json_destroy(&rows);

    /* It keeps trimming as new messages come; seqs go on. */
    s_publish_many(p, "capped.sensor", "n", 0, 30, 40);
    s_wait_messages(p, "capped", 100, &info);
    int64_t deadline = fdy_clock_mono_ms() + POLL_DEADLINE_MS;
    while (info.first_seq != 181) {
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "first_seq %" PRId64 ", want 181",
                      info.first_seq);
        fdy_proc_nap_ms(20);
        s_stream_info(p, "capped", &info);
    }
    FDY_CHECK_EQ(info.last_seq, 280);
    FDY_CHECK_EQ(info.messages, 100);
    /* Other streams are not trimmed by this one's limit. */
    s_publish_many(p, "telemetry.siheung.retention", "t", 0, 150, 40);
    fdy_proc_check_stream_count(p, "telemetry-siheung", 150);

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_streams_retention_max_bytes(void)
{
    fdy_proc_t *p = fdy_proc_new("retention-bytes");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_stream_t info;
    s_stream_cmd(p, ARGV("stream", "add", "small", "--subject", "small.>", "--max-bytes", "4KiB"),
                 &info);
    FDY_CHECK_EQ(info.max_bytes, 4096);
    FDY_CHECK_EQ(info.max_msgs, 0);
    FDY_CHECK_EQ(info.max_age_ms, 0);

    /* 100 x 200 B = 20,000 payload bytes into a 4 KiB stream. */
    s_publish_many(p, "small.sensor", "b", 0, 100, 200);
    int64_t deadline = fdy_clock_mono_ms() + POLL_DEADLINE_MS;
    for (;;) {
        s_stream_info(p, "small", &info);
        if (info.bytes <= 4096 && info.last_seq == 100)
            break;
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline,
                      "max_bytes 4KiB: still %" PRId64 " bytes in %" PRId64 " messages", info.bytes,
                      info.messages);
        fdy_proc_nap_ms(20);
    }
    /* Trimmed from the head, down to the limit and not much further: each
     * record is a few hundred bytes, so at least 10 fit. */
    FDY_CHECK_MSG(info.messages >= 10 && info.messages < 100, "%" PRId64 " messages kept",
                  info.messages);
    FDY_CHECK_EQ(info.first_seq, info.last_seq - info.messages + 1);
    FDY_CHECK_MSG(info.bytes >= info.messages * 200, "%" PRId64 " bytes for %" PRId64 " messages",
                  info.bytes, info.messages);
    fdy_json_t *rows = s_read(p, "small");
    FDY_CHECK_EQ((int64_t) fdy_proc_json_count(rows), info.messages);
    FDY_CHECK_EQ(fdy_proc_row_int(fdy_proc_json_at(rows, 0), "seq"), info.first_seq);
    FDY_CHECK_EQ(fdy_proc_row_int(fdy_proc_json_at(rows, fdy_proc_json_count(rows) - 1), "seq"),
                 100);
    fdy_proc_json_destroy(&rows);

    /* The trimmed state is durable. */
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    s_stream_info(p, "small", &info);
    FDY_CHECK_MSG(info.bytes <= 4096 && info.last_seq == 100,
                  "after a restart: %" PRId64 " bytes, last %" PRId64, info.bytes, info.last_seq);

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_streams_retention_max_age(void)
{
    fdy_proc_t *p = fdy_proc_new("retention-age");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_stream_t info;
    /* Unlimited first, so that what was stored is known to be there. */
    s_stream_cmd(p, ARGV("stream", "add", "aging", "--subject", "aging.>"), &info);
    s_publish_many(p, "aging.sensor", "a", 0, 50, 64);
    s_stream_info(p, "aging", &info);
    FDY_CHECK_EQ(info.messages, 50);

    /* max_age 1s: everything older goes, without new traffic. */
    s_stream_cmd(p, ARGV("stream", "edit", "aging", "--max-age", "1s"), &info);
    FDY_CHECK_EQ(info.max_age_ms, 1000);
    s_wait_messages(p, "aging", 0, &info);
    FDY_CHECK_EQ(info.last_seq, 50);
    FDY_CHECK_EQ(info.bytes, 0);
    fdy_json_t *rows = s_read(p, "aging");
    FDY_CHECK_EQ(fdy_proc_json_count(rows), 0);
    fdy_proc_json_destroy(&rows);

    /* With a long max_age, fresh messages stay: once a max_msgs trim has
     * run (so the trimmer has seen this stream), 3 are left, not 0. */
    s_stream_cmd(p, ARGV("stream", "edit", "aging", "--max-age", "1h"), &info);
    s_publish_many(p, "aging.sensor", "b", 0, 10, 64);
    s_stream_cmd(p, ARGV("stream", "edit", "aging", "--max-msgs", "3"), &info);
    s_wait_messages(p, "aging", 3, &info);
    FDY_CHECK_EQ(info.first_seq, 58);
    FDY_CHECK_EQ(info.last_seq, 60);
    /* And a new max_age trims them too, seqs going on from 60. */
    s_stream_cmd(p, ARGV("stream", "edit", "aging", "--max-age", "1s"), &info);
    s_wait_messages(p, "aging", 0, &info);
    FDY_CHECK_EQ(info.last_seq, 60);
    FDY_CHECK_EQ(s_pub(p, "aging.sensor", "late", "aging"), 61);

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* ---- bad input ---------------------------------------------------------------------- */

static const char *const s_bad_filters[] = {
    "a..b", ".a", "a.", "a.>.b", "a.b*", "a.*b", ">x", "a b", "a/b", "plant.\xc3\xbc", "*.", "..",
};

/* A raw admin request (bypassing foundryctl's own checks): the broker must
 * answer ERROR `code` with a reason. */
static void
s_raw_admin_error(fdy_proc_dealer_t *dealer, fdy_arena_t *arena, const char *command,
                  const char *const *args, size_t arg_count, foundry_err code)
{
    static uint64_t request_id = 1000;
    fdy_envelope_t env = {0};
    env.kind = FDY_KIND_ADMIN;
    env.request_id = ++request_id;
    env.command = command;
    env.args = args;
    env.arg_count = arg_count;
    uint8_t *buf = NULL;
    size_t len = 0;
    FDY_CHECK_OK(fdy_codec_encode_envelope(&env, &buf, &len));
    fdy_slice_t frame = {buf, len};
    FDY_CHECK_OK(fdy_proc_dealer_send(dealer, &frame, 1));
    free(buf);
    fdy_envelope_t reply;
    FDY_CHECK_OK(fdy_proc_dealer_recv(dealer, REPLY_TIMEOUT_MS, arena, &reply));
    FDY_CHECK_MSG(reply.kind == FDY_KIND_ERROR && reply.error_code == code &&
                      reply.request_id == request_id && reply.error_reason && reply.error_reason[0],
                  "%s %s: reply kind %d error %d (%s) \"%s\", want ERROR %s", command,
                  arg_count ? args[arg_count - 1] : "", (int) reply.kind, (int) reply.error_code,
                  foundry_strerror(reply.error_code), reply.error_reason ? reply.error_reason : "",
                  foundry_strerror(code));
}

static void
test_streams_bad_subjects_filters_names(void)
{
    fdy_proc_t *p = fdy_proc_new("streams-bad");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    s_stream_t info;
    s_stream_cmd(p, ARGV("stream", "add", "good", "--subject", "good.>", "--max-msgs", "500"),
                 &info);
    FDY_CHECK_EQ(s_pub(p, "good.one", "1", "good"), 1);
    FDY_CHECK_EQ(s_pub(p, "good.two", "2", "good"), 2);
    fdy_json_t *json =
        fdy_proc_ctl_json(p, ARGV("consumer", "add", "good", "reader", "--start", "first",
                                  "--ack-wait", "7s", "--max-deliver", "4"));
    fdy_proc_json_destroy(&json);

    char long_filter[400];
    memset(long_filter, 'x', sizeof long_filter - 1);
    long_filter[sizeof long_filter - 1] = '\0';
    char many_tokens[200] = "t";
    for (int i = 0; i < 40; i++)
        strcat(many_tokens, ".t");

    /* Malformed filters: stream add, stream edit, consumer add, sub. */
    for (size_t i = 0; i < sizeof s_bad_filters / sizeof s_bad_filters[0]; i++) {
        const char *bad = s_bad_filters[i];
        s_ctl_refused(p, -2, "filter|subject", ARGV("stream", "add", "bad", "--subject", bad));
        s_ctl_refused(p, -2, "filter|subject",
                      ARGV("stream", "add", "bad", "--subject", "ok.>", "--subject", bad));
        s_ctl_refused(p, -2, "filter|subject", ARGV("stream", "edit", "good", "--subject", bad));
        s_ctl_refused(p, -2, "filter", ARGV("consumer", "add", "good", "bad", "--filter", bad));
        s_ctl_refused(p, -2, "filter|subject", ARGV("sub", bad, "--count", "1", "--wait", "100"));
    }
    s_ctl_refused(p, -2, "filter|subject", ARGV("stream", "add", "bad", "--subject", ""));
    s_ctl_refused(p, -2, "filter|subject|long",
                  ARGV("stream", "add", "bad", "--subject", long_filter));
    s_ctl_refused(p, -2, "filter|subject|token",
                  ARGV("stream", "add", "bad", "--subject", many_tokens));
    /* Malformed subjects to publish. */
    s_ctl_refused(p, -2, "subject", ARGV("pub", "good..one", "x"));
    s_ctl_refused(p, -2, "subject", ARGV("pub", "good.*", "x"));
    s_ctl_refused(p, -2, "subject", ARGV("pub", "good.>", "x"));
    /* Malformed names and limits. */
    s_ctl_refused(p, -2, "name", ARGV("stream", "add", "bad name", "--subject", "bad.>"));
    s_ctl_refused(p, -2, "name", ARGV("stream", "add", "bad/name", "--subject", "bad.>"));
    s_ctl_refused(p, -2, "name",
                  ARGV("stream", "add",
                       "a234567890123456789012345678901234567890123456789012345678901234",
                       "--subject", "bad.>"));
    /* a bare number is milliseconds (docs/cli.md); an unknown unit is not */
    s_ctl_refused(p, -2, "age|duration|unit",
                  ARGV("stream", "add", "bad", "--subject", "bad.>", "--max-age", "5 weeks"));
    s_ctl_refused(p, -2, "bytes|size",
                  ARGV("stream", "add", "bad", "--subject", "bad.>", "--max-bytes", "lots"));
    s_ctl_refused(p, -2, "msgs|number",
                  ARGV("stream", "add", "bad", "--subject", "bad.>", "--max-msgs", "many"));
    s_ctl_refused(p, -2, "start", ARGV("consumer", "add", "good", "bad", "--start", "sideways"));
    s_ctl_refused(p, -2, "start", ARGV("consumer", "add", "good", "bad", "--start", "seq:x"));
    s_ctl_refused(p, -2, "wait|duration|unit",
                  ARGV("consumer", "add", "good", "bad", "--ack-wait", "10 ages"));
    s_ctl_refused(p, -2, "name", ARGV("consumer", "add", "good", "bad name"));

    /* Unknown streams and consumers: a runtime error naming them. */
    s_ctl_refused(p, 1, "nosuch", ARGV("stream", "info", "nosuch"));
    s_ctl_refused(p, 1, "nosuch", ARGV("stream", "edit", "nosuch", "--max-msgs", "5"));
    s_ctl_refused(p, 1, "nosuch", ARGV("stream", "rm", "nosuch"));
    s_ctl_refused(p, 1, "nosuch", ARGV("consumer", "ls", "nosuch"));
    s_ctl_refused(p, 1, "nosuch", ARGV("consumer", "add", "nosuch", "c"));
    s_ctl_refused(p, 1, "nosuch", ARGV("consumer", "info", "good", "nosuch"));
    s_ctl_refused(p, 1, "nosuch", ARGV("consumer", "info", "nosuch", "reader"));
    s_ctl_refused(p, 1, "nosuch", ARGV("consumer", "rm", "good", "nosuch"));
    s_ctl_refused(p, 1, "nosuch",
                  ARGV("sub", "--stream", "good", "--consumer", "nosuch", "--count", "1"));
    s_ctl_refused(p, 1, "nosuch",
                  ARGV("sub", "--stream", "nosuch", "--consumer", "reader", "--count", "1"));
    s_ctl_refused(p, 1, "reader|exist", ARGV("consumer", "add", "good", "reader"));

    /* The broker checks too, whatever foundryctl does: raw admin requests. */
    fdy_proc_dealer_t *dealer = NULL;
    FDY_CHECK_OK(fdy_proc_dealer_new(p, "admin", &dealer));
    fdy_arena_t *arena = fdy_arena_new(1 << 20);
    FDY_CHECK(arena);
    for (size_t i = 0; i < sizeof s_bad_filters / sizeof s_bad_filters[0]; i++) {
        char filter_arg[64];
        snprintf(filter_arg, sizeof filter_arg, "filter=%s", s_bad_filters[i]);
        const char *add[] = {"name=bad", filter_arg};
        s_raw_admin_error(dealer, arena, "stream.add", add, 2, FOUNDRY_EINVAL);
        const char *edit[] = {"name=good", filter_arg};
        s_raw_admin_error(dealer, arena, "stream.edit", edit, 2, FOUNDRY_EINVAL);
        const char *cons[] = {"stream=good", "name=bad", filter_arg};
        s_raw_admin_error(dealer, arena, "consumer.add", cons, 3, FOUNDRY_EINVAL);
    }
    const char *bad_name[] = {"name=bad name", "filter=bad.>"};
    s_raw_admin_error(dealer, arena, "stream.add", bad_name, 2, FOUNDRY_EINVAL);
    const char *no_filter_value[] = {"name=bad", "filter="};
    s_raw_admin_error(dealer, arena, "stream.add", no_filter_value, 2, FOUNDRY_EINVAL);
    const char *bad_age[] = {"name=bad", "filter=bad.>", "max_age=soon"};
    s_raw_admin_error(dealer, arena, "stream.add", bad_age, 3, FOUNDRY_EINVAL);
    const char *missing_name[] = {"filter=bad.>"};
    s_raw_admin_error(dealer, arena, "stream.add", missing_name, 1, FOUNDRY_EINVAL);
    const char *unknown_stream[] = {"name=nosuch"};
    s_raw_admin_error(dealer, arena, "stream.info", unknown_stream, 1, FOUNDRY_ENOTFOUND);
    s_raw_admin_error(dealer, arena, "stream.rm", unknown_stream, 1, FOUNDRY_ENOTFOUND);
    const char *unknown_consumer[] = {"stream=good", "name=nosuch"};
    s_raw_admin_error(dealer, arena, "consumer.info", unknown_consumer, 2, FOUNDRY_ENOTFOUND);
    s_raw_admin_error(dealer, arena, "consumer.rm", unknown_consumer, 2, FOUNDRY_ENOTFOUND);
    const char *bad_start[] = {"stream=good", "name=bad", "start=seq:0"};
    s_raw_admin_error(dealer, arena, "consumer.add", bad_start, 3, FOUNDRY_EINVAL);
    fdy_arena_destroy(&arena);
    fdy_proc_dealer_destroy(&dealer);

    /* Nothing harmed: no stream or consumer "bad", "good" as it was, and
     * the broker still serves. */
    FDY_CHECK(!s_stream_listed(p, "bad"));
    s_stream_info(p, "good", &info);
    FDY_CHECK_STR(info.filters, "good.>");
    FDY_CHECK_EQ(info.max_msgs, 500);
    FDY_CHECK_EQ(info.messages, 2);
    FDY_CHECK_STR(info.consumers, "reader");
    json = fdy_proc_ctl_json(p, ARGV("consumer", "info", "good", "reader"));
    const fdy_json_t *row = fdy_proc_one_row(json);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "ack_wait_ms"), 7000);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "max_deliver"), 4);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "ack_floor"), 0);
    FDY_CHECK_EQ(fdy_proc_row_int(row, "pending"), 0);
    fdy_proc_json_destroy(&json);
    FDY_CHECK_EQ(s_pub(p, "good.three", "3", "good"), 3);
    FDY_CHECK(fdy_proc_broker_alive(p));

    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* A stream's filters can change after messages were stored under others:
 * reads are authorised against each stored message's own subject, so an
 * edit into a node's grant never exposes the older messages. */
static void
test_streams_edit_does_not_expose_history(void)
{
    fdy_proc_t *p = fdy_proc_new("history");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_json_t *json = fdy_proc_ctl_json(p, ARGV("stream", "add", "plans", "--subject", "plans.secret.>"));
    fdy_proc_json_destroy(&json);
    fdy_proc_key_add(p, "siheung-n", "--role", "node", "--site", "siheung", "--allow-subscribe",
                     "plans.open.>", NULL);
    foundry_client_t *admin = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &admin));
    foundry_ack_t ack;
    FDY_CHECK_OK(foundry_client_publish(admin, "plans.secret.x", "s1", 2, "h-1", 3, &ack));
    FDY_CHECK_OK(foundry_client_publish(admin, "plans.secret.y", "s2", 2, "h-2", 3, &ack));
    json = fdy_proc_ctl_json(p, ARGV("stream", "edit", "plans", "--subject", "plans.open.>"));
    fdy_proc_json_destroy(&json);
    FDY_CHECK_OK(foundry_client_publish(admin, "plans.open.t", "ok", 2, "h-3", 3, &ack));
    FDY_CHECK_EQ(ack.seq, 3);
    json = fdy_proc_ctl_json(p, ARGV("consumer", "add", "plans", "ops", "--start", "first"));
    fdy_proc_json_destroy(&json);

    /* The node may bind (the stream's filter is inside its grant) and gets
     * seq 3 only; the two secret messages are passed over. */
    fdy_raw_t raw;
    fdy_raw_open(p, "siheung-n", NULL, &raw);
    fdy_raw_seqs_t *got = calloc(1, sizeof *got);
    FDY_CHECK(got);
    uint64_t sub = fdy_raw_subscribe(&raw, "plans", "ops", 100, got);
    fdy_raw_collect(&raw, sub, 1, got);
    FDY_CHECK_EQ(got->count, 1);
    FDY_CHECK_EQ(got->seqs[0], 3);
    fdy_raw_close(&raw);

    /* An admin reading the same kind of consumer still sees everything. */
    json = fdy_proc_ctl_json(p, ARGV("consumer", "add", "plans", "all", "--start", "first"));
    fdy_proc_json_destroy(&json);
    fdy_raw_open(p, "admin", NULL, &raw);
    got->count = 0;
    sub = fdy_raw_subscribe(&raw, "plans", "all", 100, got);
    fdy_raw_collect(&raw, sub, 3, got);
    fdy_raw_close(&raw);
    free(got);
    FDY_CHECK_OK(foundry_client_close(&admin, 5000, NULL));
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    static const fdy_proc_test_t tests[] = {
        {"add_info_edit_rm", test_streams_add_info_edit_rm},
        {"bytes_counts_messages_as_sent", test_streams_bytes_counts_messages_as_sent},
        {"retention_max_msgs", test_streams_retention_max_msgs},
        {"retention_max_bytes", test_streams_retention_max_bytes},
        {"retention_max_age", test_streams_retention_max_age},
        {"bad_subjects_filters_names", test_streams_bad_subjects_filters_names},
        {"edit_does_not_expose_history", test_streams_edit_does_not_expose_history},
    };
    return fdy_proc_run_tests("streams", tests, sizeof tests / sizeof tests[0], argc, argv);
}
