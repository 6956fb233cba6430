/*  cmd_sub.c: `foundryctl sub FILTER` (an ephemeral live tail) and `sub
 *  --stream S --consumer C` (a durable consumer; each message is acked once
 *  printed, unless --no-ack). Receives through libfoundry, as a partner
 *  would. Stops after --count messages, after --wait ms without one, or on
 *  SIGINT/SIGTERM; acks reach the broker before it exits. Not a benchmark.
 */
#include "ctl.h"

#include "clock.h"
#include "subject.h"

#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <string.h>

/* sub's options. */
typedef struct {
    const char *stream;   /* --stream (durable) */
    const char *consumer; /* --consumer (durable) */
    uint64_t count;       /* --count; 0 = no limit */
    int64_t wait_ms;      /* --wait: stop after this long without a message; -1 = never */
    uint32_t credit;      /* --credit; 0 = the library's default */
    bool no_ack;          /* --no-ack */
    fdy_ctl_decode_t decode; /* --decode */
} sub_opts_t;

/* Receive in slices this long so a signal or --wait is noticed promptly. */
#define SLICE_MS 200

/* Set by SIGINT/SIGTERM: finish the current message, ack, close. */
static volatile sig_atomic_t s_stop;

static void
s_on_signal(int signo)
{
    (void) signo;
    s_stop = 1;
}

static void
s_print(const foundry_msg_t *msg, bool durable, bool json, fdy_ctl_decode_t decode)
{
    if (json) {
        fputs("{\"stream\":", stdout);
        fdy_output_json_string(stdout, msg->stream, strlen(msg->stream));
        printf(",\"seq\":%" PRIu64 ",\"delivery_count\":%" PRIu32 ",\"subject\":", msg->seq,
               msg->delivery_count);
        fdy_output_json_string(stdout, msg->subject, strlen(msg->subject));
        fputs(",\"payload\":", stdout);
        fdy_output_json_bytes(stdout, msg->data, msg->len);
        fputs(",\"publisher\":", stdout);
        fdy_output_json_string(stdout, msg->publisher, strlen(msg->publisher));
        printf(",\"timestamp_ns\":%" PRIu64 ",\"stored_ns\":%" PRIu64, msg->timestamp_ns,
               msg->stored_ns);
        fdy_ctl_payload_json_samples(stdout, decode, msg->subject, strlen(msg->subject),
                                     msg->data, msg->len);
        fputs("}\n", stdout);
        return;
    }
    if (durable)
        printf("%" PRIu64 " ", msg->seq);
    fputs(msg->subject, stdout);
    fputc(' ', stdout);
    fdy_ctl_payload_human(stdout, decode, msg->subject, strlen(msg->subject), msg->data,
                          msg->len);
    fputc('\n', stdout);
}

static int
s_check_args(const sub_opts_t *opts, const char *filter, bool durable)
{
    if (filter && durable)
        return fdy_output_usage("give a FILTER (ephemeral) or --stream and --consumer "
                                "(durable), not both");
    if (!filter && !durable)
        return fdy_output_usage("sub needs a FILTER, or --stream STREAM --consumer NAME");
    if (durable && (!opts->stream || !opts->consumer))
        return fdy_output_usage("a durable sub needs both --stream and --consumer");
    if (opts->no_ack && !durable)
        return fdy_output_usage("--no-ack is for durable subs (ephemeral ones have no acks)");
    fdy_reason_t reason = {{0}};
    if (filter && fdy_filter_validate(filter, &reason) != FOUNDRY_OK)
        return fdy_output_usage("bad filter '%s': %s", filter,
                                reason.text[0] ? reason.text : "invalid");
    return FDY_CTL_EXIT_OK;
}

static int
s_subscribe_failed(foundry_client_t *client, const fdy_ctl_conn_settings_t *settings,
                   foundry_err err)
{
    const char *why = foundry_client_last_error(client);
    switch (err) {
    case FOUNDRY_ETIMEDOUT:
        return fdy_ctl_conn_report_timeout(settings->endpoint, settings->timeout_ms);
    case FOUNDRY_EAUTH: return fdy_ctl_conn_report_refused(why);
    case FOUNDRY_EDENIED: return fdy_output_fail("not allowed to subscribe: %s", why);
    case FOUNDRY_ENOTFOUND: return fdy_output_fail("%s", why);
    default: return fdy_output_fail("cannot subscribe: %s", why);
    }
}

/* Receives and prints until done. Returns an exit status. */
static int
s_loop(const fdy_ctl_args_t *args, foundry_client_t *client, foundry_sub_t *sub, bool durable)
{
    const sub_opts_t *opts = args->opts;
    uint64_t received = 0;
    int64_t last_ms = fdy_clock_mono_ms();
    while (!s_stop && (opts->count == 0 || received < opts->count)) {
        const foundry_msg_t *msg;
        foundry_err err = foundry_sub_receive(sub, 0, &msg);
        if (err == FOUNDRY_ETIMEDOUT) {
            /* Caught up: show what we have before waiting. */
            fflush(stdout);
            int slice = SLICE_MS;
            if (opts->wait_ms >= 0) {
                int64_t left = last_ms + opts->wait_ms - fdy_clock_mono_ms();
                if (left <= 0)
                    break;
                if (left < slice)
                    slice = (int) left;
            }
            err = foundry_sub_receive(sub, slice, &msg);
        }
        if (err == FOUNDRY_ETIMEDOUT)
            continue;
        if (err == FOUNDRY_EAUTH)
            return fdy_ctl_conn_report_refused(foundry_client_last_error(client));
        if (err != FOUNDRY_OK)
            return fdy_output_fail("%s", foundry_client_last_error(client));
        s_print(msg, durable, args->json, opts->decode);
        received++;
        last_ms = fdy_clock_mono_ms();
        if (durable && !opts->no_ack) {
            err = foundry_sub_ack(sub, msg->seq);
            if (err != FOUNDRY_OK)
                return fdy_output_fail("cannot ack seq %" PRIu64 ": %s", msg->seq,
                                       foundry_client_last_error(client));
        }
    }
    return FDY_CTL_EXIT_OK;
}

static int
s_sub(const fdy_ctl_args_t *args)
{
    const sub_opts_t *opts = args->opts;
    const char *filter = args->pos_count > 0 ? args->pos[0] : NULL;
    bool durable = opts->stream || opts->consumer;
    int status = s_check_args(opts, filter, durable);
    if (status != FDY_CTL_EXIT_OK)
        return status;

    fdy_ctl_conn_settings_t settings;
    foundry_client_t *client = NULL;
    status = fdy_ctl_conn_client(args, &settings, &client);
    if (status != FDY_CTL_EXIT_OK)
        return status;

    foundry_sub_opts_t sub_opts;
    foundry_sub_opts_init(&sub_opts);
    sub_opts.stream = opts->stream;
    sub_opts.consumer = opts->consumer;
    sub_opts.filter = filter;
    if (opts->credit)
        sub_opts.credit_msgs = opts->credit;
    /* Take no more than we will print: a durable message received and
     * not acked comes back with its delivery count raised. */
    sub_opts.max_msgs = opts->count;
    foundry_sub_t *sub = NULL;
    foundry_err err = foundry_client_subscribe(client, &sub_opts, &sub);
    if (err != FOUNDRY_OK) {
        status = s_subscribe_failed(client, &settings, err);
        goto out;
    }

    /* No SA_RESTART: a signal interrupts the wait at once. */
    struct sigaction action, old_int, old_term;
    memset(&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int);
    sigaction(SIGTERM, &action, &old_term);
    status = s_loop(args, client, sub, durable);
    fflush(stdout);
    uint64_t dropped = foundry_sub_dropped(sub);
    /* Closing sends the last acks and waits for the broker to have them. */
    foundry_sub_close(&sub);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (dropped > 0 && status == FDY_CTL_EXIT_OK)
        fprintf(stderr,
                "foundryctl: note: the broker dropped %" PRIu64
                " messages for this tail (more than --credit behind)\n",
                dropped);
out:
    (void) foundry_client_close(&client, 0, NULL);
    return status;
}

/* ---- the group ---------------------------------------------------------- */

enum { SUB_COUNT = 1, SUB_STREAM, SUB_CONSUMER, SUB_WAIT, SUB_CREDIT, SUB_NO_ACK, SUB_DECODE };

static const fdy_ctl_flag_t s_flags[] = {
    /* The same text as stream read's --count (cmd_streams.c): docs/cli.md
     * and scripts know them as one option. */
    {"--count", "N", SUB_COUNT, false,
     "at most N messages (stream read: default to the end; sub: default no limit)"},
    {"--stream", "STREAM", SUB_STREAM, false, "durable: the stream of the consumer"},
    {"--consumer", "NAME", SUB_CONSUMER, false, "durable: the consumer to bind to"},
    {"--wait", "DURATION", SUB_WAIT, false,
     "stop after DURATION (5s; a bare number is ms) without a message (default: never)"},
    {"--credit", "N", SUB_CREDIT, false,
     "messages the broker may send ahead (durable: unacked) (default 1000)"},
    {"--decode", "KIND", SUB_DECODE, false,
     "telemetry: show telemetry batches as samples; auto (default): binary payloads under "
     "telemetry.>; none: never"},
    {"--no-ack", NULL, SUB_NO_ACK, false,
     "durable: do not ack (redelivered after the consumer's ack wait)"},
};

static void
s_opts_init(void *opts)
{
    sub_opts_t *self = opts;
    self->wait_ms = -1;
}

static int
s_opts_set(void *opts, const fdy_ctl_flag_t *flag, const char *value)
{
    sub_opts_t *self = opts;
    uint64_t n;
    switch (flag->id) {
    case SUB_COUNT:
        if (!fdy_ctl_args_parse_u64(value, 1, UINT64_MAX, &self->count))
            return fdy_output_usage("--count needs a number >= 1, not %s", value);
        break;
    case SUB_STREAM: self->stream = value; break;
    case SUB_CONSUMER: self->consumer = value; break;
    case SUB_NO_ACK: self->no_ack = true; break;
    case SUB_DECODE: return fdy_ctl_decode_parse(value, &self->decode);
    case SUB_WAIT:
    {
        int status = fdy_ctl_args_parse_ms("--wait", value, 0, INT_MAX, &n);
        if (status != FDY_CTL_EXIT_OK)
            return status;
        self->wait_ms = (int64_t) n;
        break;
    }
    case SUB_CREDIT:
        if (!fdy_ctl_args_parse_u64(value, 1, UINT32_MAX, &n))
            return fdy_output_usage("--credit needs a number from 1 to %u, not %s", UINT32_MAX,
                                    value);
        self->credit = (uint32_t) n;
        break;
    default: break;
    }
    return FDY_CTL_EXIT_OK;
}

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "sub",
        .synopsis =
            "FILTER [--count N] [--wait MS] [--credit N]\n"
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
        .flags =
            (const int[]){SUB_COUNT, SUB_WAIT, SUB_CREDIT, SUB_STREAM, SUB_CONSUMER, SUB_NO_ACK,
                          SUB_DECODE, 0},
        .reach = FDY_CTL_REACH_BROKER,
        .run = s_sub,
    },
};

const fdy_ctl_group_t fdy_cmd_sub_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
    .flags = s_flags,
    .flag_count = sizeof s_flags / sizeof s_flags[0],
    .opts_size = sizeof(sub_opts_t),
    .opts_init = s_opts_init,
    .opts_set = s_opts_set,
};
