/* placeholder: being written */
typedef int fdy_placeholder_store_keys;
