/*  traffic.c: the four traffic families, described once so every service
 *  renders the same names and help; counting is two array increments.
 */
#include "traffic.h"

#include <string.h>

enum { MESSAGES_IN, MESSAGES_OUT, BYTES_IN, BYTES_OUT, FAMILIES };

static const fdy_labeled_family_t s_families[FAMILIES] = {
    {"foundry_messages_in_total", "counter",
     "Messages received from clients, by kind and the sending principal's site"},
    {"foundry_messages_out_total", "counter",
     "Messages sent to clients, by kind and the receiving principal's site"},
    {"foundry_bytes_in_total", "counter",
     "Bytes of the messages received (frames after the envelope), by kind and site"},
    {"foundry_bytes_out_total", "counter",
     "Bytes of the messages sent (frames after the envelope), by kind and site"},
};

const char *const fdy_traffic_telemetry[] = {"telemetry"};
const char *const fdy_traffic_jobs[] = {"jobs"};
const char *const fdy_traffic_models[] = {"models"};

/* For a service made without peers (unit tests): every site is "other". */
static const fdy_labeled_values_t s_no_sites;

void
fdy_traffic_init(fdy_labeled_t *t, const char *const *kind, const fdy_labeled_values_t *sites)
{
    fdy_labeled_init(t, s_families, FAMILIES, "kind", kind, 1, "site", sites ? sites : &s_no_sites);
}

void
fdy_traffic_in(fdy_labeled_t *t, uint32_t site, uint64_t messages, uint64_t bytes)
{
    fdy_labeled_add(t, MESSAGES_IN, 0, site, messages);
    fdy_labeled_add(t, BYTES_IN, 0, site, bytes);
}

void
fdy_traffic_out(fdy_labeled_t *t, uint32_t site, uint64_t messages, uint64_t bytes)
{
    fdy_labeled_add(t, MESSAGES_OUT, 0, site, messages);
    fdy_labeled_add(t, BYTES_OUT, 0, site, bytes);
}

bool
fdy_traffic_read(const fdy_labeled_t *t, const char *const *kind, const char *site,
                 fdy_traffic_site_t *sum)
{
    if (t->families != s_families || t->fixed_values != kind)
        return false;
    uint32_t index = fdy_labeled_values_find(t->values, site);
    if (index == FDY_LABELED_OTHER) /* never counted, or among "other" */
        return true;
    sum->messages_in += fdy_labeled_get(t, MESSAGES_IN, 0, index);
    sum->messages_out += fdy_labeled_get(t, MESSAGES_OUT, 0, index);
    sum->bytes_in += fdy_labeled_get(t, BYTES_IN, 0, index);
    sum->bytes_out += fdy_labeled_get(t, BYTES_OUT, 0, index);
    return true;
}
