/*  store_keys.h: the key store's table (private to broker/store/); its
 *  operations are public in store.h.
 */
#ifndef FDY_STORE_KEYS_H_INCLUDED
#define FDY_STORE_KEYS_H_INCLUDED

#include "store_table.h"

extern const fdy_store_table_t fdy_store_keys_table; /* "keys" */

#endif
