/*  partner.c: a partner's first program with libfoundry. Publishes three
 *  readings pipelined (one ack each), then reads its tenant's stream back
 *  through its durable consumer and acks what it printed.
 *
 *  Settings as foundryctl's: FOUNDRY_ENDPOINT, FOUNDRY_KEY (our
 *  NAME.key_secret), FOUNDRY_BROKER_KEY (the broker's public key).
 *  Usage: partner SUBJECT STREAM CONSUMER    e.g. partner acme.robot1.temp tenant-acme acme
 *  Build: cc partner.c $(pkg-config --cflags --libs foundry)
 */
#include <foundry.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_acked;

static void
s_on_ack(const foundry_ack_t *ack, void *user)
{
    (void) user;
    if (ack->err != FOUNDRY_OK)
        fprintf(stderr, "partner: refused: %s\n", ack->reason);
    else
        printf("stored %s %" PRIu64 "\n", ack->stream, ack->seq);
    s_acked++;
}

static int
s_fail(const char *what, foundry_err err, foundry_client_t *client)
{
    fprintf(stderr, "partner: %s: %s: %s\n", what, foundry_strerror(err),
            foundry_client_last_error(client));
    return 1;
}

int
main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: partner SUBJECT STREAM CONSUMER\n");
        return 2;
    }
    foundry_client_opts_t opts;
    foundry_client_opts_init(&opts);
    opts.endpoint = getenv("FOUNDRY_ENDPOINT");
    opts.secret_key_file = getenv("FOUNDRY_KEY");
    opts.broker_key_file = getenv("FOUNDRY_BROKER_KEY");
    foundry_client_t *client = NULL;
    foundry_err err = foundry_client_new(&opts, &client);
    if (err != FOUNDRY_OK)
        return s_fail("connect", err, NULL);
    int status = 0;
    if ((err = foundry_client_set_ack_handler(client, s_on_ack, NULL)) != FOUNDRY_OK)
        status = s_fail("ack handler", err, client);
    const char *readings[] = {"21.5", "21.7", "22.0"};
    for (int i = 0; status == 0 && i < 3; i++) {
        err = foundry_client_publish_async(client, argv[1], readings[i], strlen(readings[i]), NULL,
                                           0, NULL);
        if (err != FOUNDRY_OK)
            status = s_fail("publish", err, client);
    }
    if (status == 0 && (err = foundry_client_flush(client, 10000)) != FOUNDRY_OK)
        status = s_fail("flush", err, client);

    foundry_sub_opts_t sub_opts;
    foundry_sub_opts_init(&sub_opts);
    sub_opts.stream = argv[2];
    sub_opts.consumer = argv[3];
    sub_opts.max_msgs = 3;
    foundry_sub_t *sub = NULL;
    if (status == 0 && (err = foundry_client_subscribe(client, &sub_opts, &sub)) != FOUNDRY_OK)
        status = s_fail("subscribe", err, client);
    const foundry_msg_t *msg = NULL;
    while (status == 0 && (err = foundry_sub_receive(sub, 10000, &msg)) == FOUNDRY_OK) {
        printf("read %" PRIu64 " %s %.*s\n", msg->seq, msg->subject, (int) msg->len,
               (const char *) msg->data);
        if ((err = foundry_sub_ack(sub, msg->seq)) != FOUNDRY_OK)
            status = s_fail("ack", err, client);
    }
    if (status == 0 && err != FOUNDRY_ECLOSED) /* ECLOSED: max_msgs reached */
        status = s_fail("receive", err, client);
    foundry_sub_close(&sub);
    (void) foundry_client_close(&client, 5000, NULL);
    return status == 0 && s_acked == 3 ? 0 : 1;
}
