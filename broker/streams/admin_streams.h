/*  admin_streams.h: the stream.* and consumer.* admin commands (stream.add,
 *  stream.info, stream.edit, stream.rm, consumer.add, consumer.ls,
 *  consumer.info, consumer.rm). admin.c authorises the caller and
 *  dispatches here; each answers with a table like the other commands.
 */
#ifndef FDY_ADMIN_STREAMS_H_INCLUDED
#define FDY_ADMIN_STREAMS_H_INCLUDED

#include "admin_table.h"
#include "store.h"
#include "subs.h"

/* Runs command (one of the above) for caller (an admin's name, for the
 * audit log) with "key=value" args, building the reply in table (cells in
 * arena). Returns FOUNDRY_OK, FOUNDRY_EKIND (unknown command),
 * FOUNDRY_EINVAL (bad or missing arg, named), FOUNDRY_ENOTFOUND,
 * FOUNDRY_EEXIST, FOUNDRY_EFULL, FOUNDRY_ECORRUPT, FOUNDRY_ESTORE or
 * FOUNDRY_ENOMEM, with reason. */
foundry_err fdy_admin_streams_handle(fdy_store_t *store, fdy_subs_t *subs, fdy_arena_t *arena,
                                     const char *caller, const char *command,
                                     const char *const *args, size_t arg_count,
                                     fdy_admin_table_t *table, fdy_reason_t *reason);

#endif
