/* placeholder: being written */
typedef int fdy_placeholder_cmd_streams;
