/*  acl.h: who may publish which subject, and who may read which. Decided from the authenticated
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

/* True when every subject matching `inner` also matches `outer` (both
 * valid filters): "a.b.c" within "a.*.c", "a.*.>" within "a.>", but "a.>"
 * not within "a.*". Touches no heap. */
bool fdy_acl_filter_within(const char *inner, const char *outer);

/* Decides whether p may read every subject that matches filter (a valid
 * filter): an ephemeral subscription's filter, or a durable consumer's.
 *   admin, link: anything;
 *   node:        within telemetry.<its site>.> or its allow_subscribe list;
 *   partner:     within its allow_subscribe list only.
 * Returns FOUNDRY_OK, FOUNDRY_EAUTH (revoked) or FOUNDRY_EDENIED, with
 * reason. p is borrowed for the call. */
foundry_err fdy_acl_check_subscribe(const fdy_principal_t *p, const char *filter,
                                    fdy_reason_t *reason);

/* Decides whether p may bind to a durable consumer of a stream: what it
 * can receive is the stream's messages (those matching one of
 * stream_filters) narrowed by consumer_filter ("" = none). Allowed when
 * the consumer filter passes fdy_acl_check_subscribe(), or when every
 * stream filter does. A stream without filters (a dead-letter stream)
 * holds subjects from elsewhere: only a consumer filter can allow it
 * (admin and link may read it anyway). Returns as fdy_acl_check_subscribe(). */
foundry_err fdy_acl_check_consumer(const fdy_principal_t *p, const char *const *stream_filters,
                                   size_t stream_filter_count, const char *consumer_filter,
                                   const char *stream, fdy_reason_t *reason);

/* What a principal may read, copied out of the registry (whose principals
 * a reload frees) so deliveries can check each stored message's own
 * subject: a stream's filters can change after messages were stored. */
typedef struct fdy_acl_grant fdy_acl_grant_t;

/* The read grant of p (borrowed for the call). NULL when p reads
 * everything (admin, link): no check is needed. Aborts on out-of-memory.
 * Caller owns; fdy_acl_grant_destroy(). */
fdy_acl_grant_t *fdy_acl_grant_new(const fdy_principal_t *p);
void fdy_acl_grant_destroy(fdy_acl_grant_t **self_p);

/* True when grant (NULL: everything) allows reading a message stored
 * under subject. */
bool fdy_acl_grant_reads(const fdy_acl_grant_t *grant, const char *subject);

#endif
