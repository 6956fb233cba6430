/*  subject.h: subject and filter grammar (docs/protocol.md).
 *  subject = token *("." token); token = 1*[A-Za-z0-9_-]; at most
 *  FOUNDRY_SUBJECT_MAX bytes and FDY_SUBJECT_TOKENS_MAX tokens.
 *  A filter is a subject whose tokens may also be "*" (exactly one token)
 *  or, as the last token only, ">" (one or more tokens).
 */
#ifndef FDY_SUBJECT_H_INCLUDED
#define FDY_SUBJECT_H_INCLUDED

#include "reason.h"

#include <stdbool.h>

#define FDY_SUBJECT_TOKENS_MAX 32

/* Returns FOUNDRY_OK or FOUNDRY_EINVAL with the reason (which token, why). */
foundry_err fdy_subject_validate(const char *subject, fdy_reason_t *reason);
foundry_err fdy_filter_validate(const char *filter, fdy_reason_t *reason);

/* A site id is one subject token (telemetry.<site>.<metric>) and names the
 * broker's stream "telemetry-<site>", which must fit FOUNDRY_STREAM_NAME_MAX:
 * 1..FDY_SITE_MAX bytes of [A-Za-z0-9_-], so no '.', '*' or '>'. */
#define FDY_SITE_STREAM_PREFIX "telemetry-"
#define FDY_SITE_MAX           (FOUNDRY_STREAM_NAME_MAX - (int) (sizeof FDY_SITE_STREAM_PREFIX - 1))

/* Checks one site id, for the broker's sites and the node's site alike.
 * Returns FOUNDRY_OK or FOUNDRY_EINVAL with a reason that names the id
 * (non-printable bytes shown as '?') and the rule it broke. */
foundry_err fdy_site_validate(const char *site, fdy_reason_t *reason);

/* True when the valid subject matches the valid filter. */
bool fdy_subject_matches(const char *filter, const char *subject);

#endif
