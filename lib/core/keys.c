/* placeholder: being written */
typedef int fdy_placeholder_keys;
