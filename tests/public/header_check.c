/*  header_check.c: compiled (never run) as strict C99 and as C++ by the
 *  public-header tests, to prove foundry.h stands alone in both languages.
 *  It touches every public type and function so a declaration one of them
 *  rejects cannot hide.
 */
#include <foundry.h>

static void
on_ack(const foundry_ack_t *ack, void *user)
{
    (void) ack;
    (void) user;
}

static void
on_log(foundry_log_level level, const char *id, const char *line, void *user)
{
    (void) level;
    (void) id;
    (void) line;
    (void) user;
}

int header_check(void);

int
header_check(void)
{
    foundry_client_opts_t opts;
    foundry_client_t *client = NULL;
    foundry_ack_t ack;
    size_t unacked = 0;
    foundry_err err;
    const char *text = foundry_strerror(FOUNDRY_EKIND);
    text = foundry_version();
    foundry_set_log_handler(on_log, FOUNDRY_LOG_DEBUG, NULL);
    foundry_client_opts_init(&opts);
    err = foundry_client_new(&opts, &client);
    text = foundry_client_last_error(client);
    err = foundry_client_set_ack_handler(client, on_ack, NULL);
    err = foundry_client_publish(client, "a.b", "x", 1, NULL, 0, &ack);
    err = foundry_client_publish_async(client, "a.b", "x", 1, "id", 2, NULL);
    err = foundry_client_poll(client, 0);
    err = foundry_client_flush(client, 0);
    unacked = foundry_client_unacked(client) + (size_t) foundry_client_reconnects(client);
    err = foundry_client_close(&client, 0, &unacked);
    (void) text;
    return (int) err + (int) unacked + FOUNDRY_MSG_ID_MAX + FOUNDRY_SUBJECT_MAX +
           FOUNDRY_STREAM_NAME_MAX + FOUNDRY_VERSION_MAJOR;
}
