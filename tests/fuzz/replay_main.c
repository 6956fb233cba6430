/* placeholder */
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int main(int argc, char **argv) { (void) argc; (void) argv; return LLVMFuzzerTestOneInput(NULL, 0); }
