/*  start_check.h: the store check at broker start (check_store_at_start)
 *  and the clean-stop marker it relies on. A broker that stopped cleanly
 *  leaves <data_dir>/clean-stop naming data.mdb as it left it (transaction
 *  id, size, mtime); the next start removes it before opening the store, so
 *  a broker killed (SIGKILL, a crash, power loss) leaves none, and a file
 *  changed since (an offline foundryctl write, a restore, damage by hand)
 *  no longer matches. Either way "auto" checks the store before serving.
 */
#ifndef FDY_START_CHECK_H_INCLUDED
#define FDY_START_CHECK_H_INCLUDED

#include "reason.h"

#include <stdbool.h>

#define FDY_CLEAN_STOP_FILE "clean-stop"

/* Runs before the store is opened. mode is the option's value: "auto"
 * (check unless the marker matches data.mdb), "always" or "never". The
 * marker is removed in every mode. Logs STORE-CHECK-START and
 * STORE-CHECKED. Returns FOUNDRY_OK (no store yet, not needed, or clean),
 * FOUNDRY_ECORRUPT (damaged: the reason names the file, the finding and
 * what to do: the broker refuses to start), or FOUNDRY_EIO / FOUNDRY_EINVAL
 * (the marker could not be removed, the check could not run), with reason. */
foundry_err fdy_start_check_run(const char *data_dir, const char *mode, fdy_reason_t *reason);

/* Writes the marker for data.mdb as it is now (after the store was
 * closed). Returns FOUNDRY_OK or FOUNDRY_EIO with reason. */
foundry_err fdy_start_check_mark_clean(const char *data_dir, fdy_reason_t *reason);

#endif
