/* placeholder: being written */
typedef int fdy_placeholder_crc32c;
