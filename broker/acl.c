/*  acl.c: publish authorisation by role, site and allow-list filters.
 *  Identity is an input here (the caller resolved it from the ZAP User-Id);
 *  this module never looks at connections or message fields beyond the
 *  subject. Called per message, so it formats text only on refusal.
 */
#include "acl.h"

#include "subject.h"

#include <string.h>

#define NODE_PREFIX "telemetry."

/* telemetry.<site>.> : the subject must continue with at least one token
 * after the site. Compared in place: no filter string is built per message. */
static bool
s_node_default_allows(const char *site, const char *subject)
{
    size_t prefix_len = sizeof NODE_PREFIX - 1;
    size_t site_len = strlen(site);
    if (site_len == 0 || strncmp(subject, NODE_PREFIX, prefix_len) != 0)
        return false;
    subject += prefix_len;
    if (strncmp(subject, site, site_len) != 0)
        return false;
    subject += site_len;
    return subject[0] == '.' && subject[1] != '\0';
}

static bool
s_allow_list_allows(const fdy_principal_t *p, const char *subject)
{
    for (size_t i = 0; i < p->allow_count && i < FDY_ALLOW_MAX; i++) {
        if (p->allow_publish[i] && fdy_subject_matches(p->allow_publish[i], subject))
            return true;
    }
    return false;
}

foundry_err
fdy_acl_check_publish(const fdy_principal_t *p, const char *subject, fdy_reason_t *reason)
{
    if (p->revoked)
        return fdy_reason_set(reason, FOUNDRY_EAUTH, "key '%s' is revoked", p->name);
    switch (p->role) {
    case FDY_ROLE_ADMIN:
    case FDY_ROLE_LINK:
        return FOUNDRY_OK;
    case FDY_ROLE_NODE:
        if (s_node_default_allows(p->site, subject) || s_allow_list_allows(p, subject))
            return FOUNDRY_OK;
        break;
    case FDY_ROLE_PARTNER:
        if (s_allow_list_allows(p, subject))
            return FOUNDRY_OK;
        break;
    }
    return fdy_reason_set(reason, FOUNDRY_EDENIED, "%s '%s' may not publish to '%s'",
                          fdy_role_name(p->role), p->name, subject);
}
