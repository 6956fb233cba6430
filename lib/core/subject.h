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

/* True when the valid subject matches the valid filter. */
bool fdy_subject_matches(const char *filter, const char *subject);

#endif
