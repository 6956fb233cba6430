/*  admin_streams.h: the stream.* and consumer.* admin commands (stream.ls,
 *  stream.add, stream.info, stream.edit, stream.rm, stream.read,
 *  consumer.add, consumer.ls, consumer.info, consumer.rm) as one command
 *  table for fdy_admin_dispatch(). admin.c authorises the caller and routes
 *  "stream." and "consumer." commands here; each answers with a table.
 */
#ifndef FDY_ADMIN_STREAMS_H_INCLUDED
#define FDY_ADMIN_STREAMS_H_INCLUDED

#include "admin_table.h"
#include "store.h"
#include "consumers.h"
#include "subs.h"

/* Most rows one stream.read returns; foundryctl pages for more. */
#define FDY_ADMIN_READ_MAX 1000

/* The context every row's fn takes as self. */
typedef struct {
    fdy_store_t *store; /* borrowed; must outlive every call */
    fdy_subs_t *subs;   /* borrowed; the run-time side of removed and edited
                         * streams and consumers */
    fdy_consumers_t *consumers; /* borrowed; live windows and forgetting removed ones */
} fdy_admin_streams_t;

/* Every stream.* and consumer.* command. Changes are audit NOTICE lines
 * naming call->caller. Besides the dispatcher's errors: FOUNDRY_EINVAL (a
 * bad value, named), FOUNDRY_ENOTFOUND, FOUNDRY_EEXIST, FOUNDRY_EFULL,
 * FOUNDRY_ECORRUPT, FOUNDRY_ESTORE or FOUNDRY_ENOMEM ("reply too large"),
 * with reason. */
extern const fdy_admin_command_t fdy_admin_streams_commands[];
extern const size_t fdy_admin_streams_command_count;

#endif
