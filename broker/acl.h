/*  acl.h: who may publish which subject. Decided from the authenticated
 *  principal only (its role, site and allow list), never from anything in
 *  the message but the subject itself.
 */
#ifndef FDY_ACL_H_INCLUDED
#define FDY_ACL_H_INCLUDED

#include "codec.h"
#include "reason.h"

/* Decides whether principal p may publish to subject (a valid subject).
 *   admin, link: any subject;
 *   node:        telemetry.<its site>.> plus its allow list;
 *   partner:     its allow list only.
 * Allow entries are subject filters ('*' one token, '>' the rest).
 * Returns FOUNDRY_OK, FOUNDRY_EAUTH (p is revoked) or FOUNDRY_EDENIED, with
 * reason naming the subject. Touches no heap: called for every message.
 * p is borrowed for the call. Thread-safe. */
foundry_err fdy_acl_check_publish(const fdy_principal_t *p, const char *subject,
                                  fdy_reason_t *reason);

#endif
