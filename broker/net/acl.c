/*  acl.c: publish and read authorisation by role, site and allow-list
 *  filters.
 *  Identity is an input here (the caller resolved it from the ZAP User-Id);
 *  this module never looks at connections or message fields beyond the
 *  subject. Called per message, so it formats text only on refusal.
 */
#include "acl.h"

#include "subject.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
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

/* ---- reading ------------------------------------------------------------ */

/* Length of the token at text (up to '.' or the end). */
static size_t
s_token_len(const char *text)
{
    size_t len = 0;
    while (text[len] != '.' && text[len] != '\0')
        len++;
    return len;
}

bool
fdy_acl_filter_within(const char *inner, const char *outer)
{
    const char *i = inner, *o = outer;
    for (;;) {
        size_t il = s_token_len(i), ol = s_token_len(o);
        bool o_rest = ol == 1 && o[0] == '>' && o[1] == '\0';
        if (o_rest)
            return true; /* inner has a token here (it is not at its end) */
        bool i_rest = il == 1 && i[0] == '>' && i[1] == '\0';
        if (i_rest)
            return false; /* inner spans any number of tokens; outer does not */
        bool o_any = ol == 1 && o[0] == '*';
        bool i_any = il == 1 && i[0] == '*';
        if (!o_any && (i_any || il != ol || memcmp(i, o, il) != 0))
            return false;
        i += il;
        o += ol;
        if (*i == '\0' || *o == '\0')
            return *i == '\0' && *o == '\0';
        i++;
        o++;
    }
}

/* telemetry.<site>.> as a filter, compared without building it. */
static bool
s_node_default_covers(const char *site, const char *filter)
{
    size_t prefix_len = sizeof NODE_PREFIX - 1;
    size_t site_len = strlen(site);
    if (site_len == 0 || strncmp(filter, NODE_PREFIX, prefix_len) != 0)
        return false;
    filter += prefix_len;
    if (strncmp(filter, site, site_len) != 0)
        return false;
    filter += site_len;
    return filter[0] == '.' && filter[1] != '\0';
}

static bool
s_read_list_covers(const fdy_principal_t *p, const char *filter)
{
    for (size_t i = 0; i < p->allow_subscribe_count && i < FDY_ALLOW_MAX; i++) {
        if (p->allow_subscribe[i] && fdy_acl_filter_within(filter, p->allow_subscribe[i]))
            return true;
    }
    return false;
}

static bool
s_may_read(const fdy_principal_t *p, const char *filter)
{
    switch (p->role) {
    case FDY_ROLE_ADMIN:
    case FDY_ROLE_LINK: return true;
    case FDY_ROLE_NODE:
        return s_node_default_covers(p->site, filter) || s_read_list_covers(p, filter);
    case FDY_ROLE_PARTNER: return s_read_list_covers(p, filter);
    }
    return false;
}

foundry_err
fdy_acl_check_subscribe(const fdy_principal_t *p, const char *filter, fdy_reason_t *reason)
{
    if (p->revoked)
        return fdy_reason_set(reason, FOUNDRY_EAUTH, "key '%s' is revoked", p->name);
    if (s_may_read(p, filter))
        return FOUNDRY_OK;
    return fdy_reason_set(reason, FOUNDRY_EDENIED, "%s '%s' may not read '%s'",
                          fdy_role_name(p->role), p->name, filter);
}

foundry_err
fdy_acl_check_consumer(const fdy_principal_t *p, const char *const *stream_filters,
                       size_t stream_filter_count, const char *consumer_filter,
                       const char *stream, fdy_reason_t *reason)
{
    if (p->revoked)
        return fdy_reason_set(reason, FOUNDRY_EAUTH, "key '%s' is revoked", p->name);
    if (p->role == FDY_ROLE_ADMIN || p->role == FDY_ROLE_LINK)
        return FOUNDRY_OK;
    if (consumer_filter && consumer_filter[0] && s_may_read(p, consumer_filter))
        return FOUNDRY_OK;
    bool all = stream_filter_count > 0;
    for (size_t i = 0; i < stream_filter_count && all; i++)
        all = stream_filters[i] && s_may_read(p, stream_filters[i]);
    if (all)
        return FOUNDRY_OK;
    return fdy_reason_set(reason, FOUNDRY_EDENIED, "%s '%s' may not read stream '%s'%s%s%s",
                          fdy_role_name(p->role), p->name, stream,
                          consumer_filter && consumer_filter[0] ? " with filter '" : "",
                          consumer_filter && consumer_filter[0] ? consumer_filter : "",
                          consumer_filter && consumer_filter[0] ? "'" : "");
}

struct fdy_acl_grant {
    char site[FDY_NAME_MAX]; /* a node's own telemetry.<site>.>; "" for none */
    char **filters;          /* its allow-subscribe filters */
    size_t count;
};

fdy_acl_grant_t *
fdy_acl_grant_new(const fdy_principal_t *p)
{
    if (p->role == FDY_ROLE_ADMIN || p->role == FDY_ROLE_LINK)
        return NULL;
    fdy_acl_grant_t *self = fdy_xalloc(sizeof *self);
    if (p->role == FDY_ROLE_NODE)
        snprintf(self->site, sizeof self->site, "%s", p->site);
    size_t count = p->allow_subscribe_count < FDY_ALLOW_MAX ? p->allow_subscribe_count
                                                             : FDY_ALLOW_MAX;
    self->filters = fdy_xalloc((count ? count : 1) * sizeof *self->filters);
    for (size_t i = 0; i < count; i++)
        if (p->allow_subscribe[i])
            self->filters[self->count++] = fdy_xstrdup(p->allow_subscribe[i]);
    return self;
}

void
fdy_acl_grant_destroy(fdy_acl_grant_t **self_p)
{
    fdy_acl_grant_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        free(self->filters[i]);
    free(self->filters);
    free(self);
    *self_p = NULL;
}

bool
fdy_acl_grant_reads(const fdy_acl_grant_t *grant, const char *subject)
{
    if (!grant)
        return true;
    if (grant->site[0] && s_node_default_allows(grant->site, subject))
        return true;
    for (size_t i = 0; i < grant->count; i++)
        if (fdy_subject_matches(grant->filters[i], subject))
            return true;
    return false;
}
