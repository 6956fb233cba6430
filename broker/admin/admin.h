/*  admin.h: the ADMIN commands (docs/protocol.md): status here; key.add,
 *  key.ls, key.revoke in admin_keys.c; stream.ls, stream.add, stream.info,
 *  stream.edit, stream.rm, stream.read, consumer.add, consumer.ls,
 *  consumer.info, consumer.rm in admin_streams.c. Every reply is a table.
 *  Only the admin role may run them; changes are logged as the audit trail.
 *  Knows nothing about sockets: the router decodes the request and encodes
 *  the reply.
 */
#ifndef FDY_ADMIN_H_INCLUDED
#define FDY_ADMIN_H_INCLUDED

#include "codec.h"
#include "registry.h"
#include "store.h"
#include "subs.h"

#include <stddef.h>
#include <stdint.h>

/* What only the broker knows, for the status command. */
typedef struct {
    uint64_t uptime_s;
    uint64_t connections;   /* current, from the ROUTER monitor */
    const char *principals; /* space-separated names active in the last 60 s; borrowed */
    uint64_t commits;       /* group commits */
    uint64_t published;     /* messages stored */
    uint64_t duplicates;    /* messages acked from the dedupe index */
    uint64_t errors;        /* error replies plus refused messages */
    uint64_t subscriptions; /* live now */
    uint64_t deliveries;    /* messages sent to subscriptions since start */
    uint64_t dropped;       /* ephemeral messages dropped for lack of credit */
} fdy_admin_status_t;

typedef struct fdy_admin fdy_admin_t;

/* Returns a new command handler over store, registry and subs (all
 * borrowed, must outlive it). Aborts on out-of-memory (daemon allocator).
 * Caller owns; fdy_admin_destroy(). */
fdy_admin_t *fdy_admin_new(fdy_store_t *store, fdy_registry_t *registry, fdy_subs_t *subs);
void fdy_admin_destroy(fdy_admin_t **self_p);

/* Runs `command` with "key=value" args for caller (borrowed for the call;
 * the registry may reload during the call, so the caller must not use
 * principals borrowed from it afterwards). status is read only by the
 * status command (NULL reports zeros).
 * Returns FOUNDRY_OK and *table_out (borrowed, valid until the next call),
 * or: FOUNDRY_EDENIED (caller is not an admin), FOUNDRY_EKIND (unknown
 * command), FOUNDRY_EINVAL (bad or missing arg, named in reason),
 * FOUNDRY_ENOTFOUND, FOUNDRY_EEXIST, FOUNDRY_ECORRUPT, FOUNDRY_EFULL,
 * FOUNDRY_ESTORE or FOUNDRY_ENOMEM (reply too large), with reason. */
foundry_err fdy_admin_handle(fdy_admin_t *self, const fdy_principal_t *caller,
                             const char *command, const char *const *args, size_t arg_count,
                             const fdy_admin_status_t *status, fdy_table_t *table_out,
                             fdy_reason_t *reason);

#endif
