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
#include <signal.h>
#include <string.h>

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
s_print(const foundry_msg_t *msg, bool durable, bool json)
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
        printf(",\"timestamp_ns\":%" PRIu64 ",\"stored_ns\":%" PRIu64 "}\n", msg->timestamp_ns,
               msg->stored_ns);
        return;
    }
    if (durable)
        printf("%" PRIu64 " ", msg->seq);
    fputs(msg->subject, stdout);
    fputc(' ', stdout);
    fdy_output_payload(stdout, msg->data, msg->len);
    fputc('\n', stdout);
}

static int
s_check_args(const fdy_ctl_args_t *args, const char *filter, bool durable)
{
    if (filter && durable)
        return fdy_output_usage("give a FILTER (ephemeral) or --stream and --consumer "
                                "(durable), not both");
    if (!filter && !durable)
        return fdy_output_usage("sub needs a FILTER, or --stream STREAM --consumer NAME");
    if (durable && (!args->stream || !args->consumer))
        return fdy_output_usage("a durable sub needs both --stream and --consumer");
    if (args->no_ack && !durable)
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
    uint64_t received = 0;
    int64_t last_ms = fdy_clock_mono_ms();
    while (!s_stop && (args->count == 0 || received < args->count)) {
        const foundry_msg_t *msg;
        foundry_err err = foundry_sub_receive(sub, 0, &msg);
        if (err == FOUNDRY_ETIMEDOUT) {
            /* Caught up: show what we have before waiting. */
            fflush(stdout);
            int slice = SLICE_MS;
            if (args->wait_ms >= 0) {
                int64_t left = last_ms + args->wait_ms - fdy_clock_mono_ms();
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
        s_print(msg, durable, args->json);
        received++;
        last_ms = fdy_clock_mono_ms();
        if (durable && !args->no_ack) {
            err = foundry_sub_ack(sub, msg->seq);
            if (err != FOUNDRY_OK)
                return fdy_output_fail("cannot ack seq %" PRIu64 ": %s", msg->seq,
                                       foundry_client_last_error(client));
        }
    }
    return FDY_CTL_EXIT_OK;
}

int
fdy_cmd_sub_run(const fdy_ctl_args_t *args)
{
    const char *filter = args->pos_count > 0 ? args->pos[0] : NULL;
    bool durable = args->stream || args->consumer;
    int status = s_check_args(args, filter, durable);
    if (status != FDY_CTL_EXIT_OK)
        return status;

    fdy_ctl_conn_settings_t settings;
    foundry_client_t *client = NULL;
    status = fdy_ctl_conn_client(args, &settings, &client);
    if (status != FDY_CTL_EXIT_OK)
        return status;

    foundry_sub_opts_t opts;
    foundry_sub_opts_init(&opts);
    opts.stream = args->stream;
    opts.consumer = args->consumer;
    opts.filter = filter;
    if (args->credit)
        opts.credit_msgs = args->credit;
    /* Take no more than we will print: a durable message received and
     * not acked comes back with its delivery count raised. */
    opts.max_msgs = args->count;
    foundry_sub_t *sub = NULL;
    foundry_err err = foundry_client_subscribe(client, &opts, &sub);
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
