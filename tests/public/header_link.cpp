/*  header_link.cpp: a C++ program linked against libfoundry, proving the
 *  header's extern "C" block gives C++ callers the library's unmangled
 *  symbols. It calls only functions that need no broker.
 */
#include <foundry.h>

#include <cstdio>
#include <cstring>

int
main()
{
    foundry_client_opts_t opts;
    foundry_client_opts_init(&opts);
    foundry_client_t *client = nullptr;
    foundry_err err = foundry_client_new(&opts, &client); // no endpoint: refused
    if (err != FOUNDRY_EINVAL || client != nullptr) {
        std::fprintf(stderr, "foundry_client_new without options: %d\n", static_cast<int>(err));
        return 1;
    }
    if (std::strlen(foundry_client_last_error(nullptr)) == 0) {
        std::fprintf(stderr, "no error text after a failed foundry_client_new\n");
        return 1;
    }
    if (std::strcmp(foundry_strerror(FOUNDRY_OK), "success") != 0 || !foundry_version()) {
        std::fprintf(stderr, "foundry_strerror or foundry_version misbehaves\n");
        return 1;
    }
    return 0;
}
