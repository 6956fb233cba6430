/*  test_acl.c: publish and read (subscribe) authorisation by role, site and
 *  allow filters (broker/acl.c). Real subject matching from lib/core, no
 *  mocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "acl.h"

#include <stdio.h>
#include <string.h>

#define assert_acl(expected, p, subject)                                                          \
    do {                                                                                          \
        fdy_reason_t reason_;                                                                     \
        fdy_reason_clear(&reason_);                                                               \
        foundry_err got_ = fdy_acl_check_publish((p), (subject), &reason_);                       \
        if (got_ != (expected))                                                                   \
            fail_msg("%s: expected %s, got %s (%s)", (subject), foundry_strerror(expected),       \
                     foundry_strerror(got_), reason_.text);                                       \
    } while (0)

static void
s_principal(fdy_principal_t *p, const char *name, fdy_role_t role, const char *site)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->role = role;
    snprintf(p->site, sizeof p->site, "%s", site);
}

/* Filters point at string literals: the ACL only reads them. */
static void
s_allow(fdy_principal_t *p, const char *filter)
{
    p->allow_publish[p->allow_count++] = (char *) filter;
}

static void
test_acl_admin_and_link_publish_anything(void **state)
{
    (void) state;
    fdy_principal_t admin, link;
    s_principal(&admin, "ops", FDY_ROLE_ADMIN, "");
    s_principal(&link, "hub", FDY_ROLE_LINK, "pangyo");
    assert_acl(FOUNDRY_OK, &admin, "telemetry.siheung.press1.temp");
    assert_acl(FOUNDRY_OK, &admin, "jobs.anything");
    assert_acl(FOUNDRY_OK, &link, "telemetry.hanam.x");
    assert_acl(FOUNDRY_OK, &link, "models.vision");
}

static void
test_acl_node_publishes_own_site_telemetry(void **state)
{
    (void) state;
    fdy_principal_t node;
    s_principal(&node, "pangyo-node-1", FDY_ROLE_NODE, "pangyo");
    assert_acl(FOUNDRY_OK, &node, "telemetry.pangyo.robot1");
    assert_acl(FOUNDRY_OK, &node, "telemetry.pangyo.robot1.arm.temp");
    /* '>' needs at least one token after the site */
    assert_acl(FOUNDRY_EDENIED, &node, "telemetry.pangyo");
    /* a site that merely starts with ours is another site */
    assert_acl(FOUNDRY_EDENIED, &node, "telemetry.pangyo2.robot1");
    assert_acl(FOUNDRY_EDENIED, &node, "jobs.pangyo.done");
}

static void
test_acl_denies_foreign_site(void **state)
{
    (void) state;
    fdy_principal_t node;
    s_principal(&node, "siheung-node-1", FDY_ROLE_NODE, "siheung");
    assert_acl(FOUNDRY_EDENIED, &node, "telemetry.bucheon.press1.temp");
    assert_acl(FOUNDRY_EDENIED, &node, "telemetry.seongnam-lab.arm");
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    assert_int_equal(fdy_acl_check_publish(&node, "telemetry.bucheon.x", &reason),
                     FOUNDRY_EDENIED);
    assert_non_null(strstr(reason.text, "telemetry.bucheon.x"));
}

static void
test_acl_node_without_site_has_no_default(void **state)
{
    (void) state;
    fdy_principal_t node;
    s_principal(&node, "lost-node", FDY_ROLE_NODE, "");
    assert_acl(FOUNDRY_EDENIED, &node, "telemetry.x.y");
}

static void
test_acl_node_allow_list_extends_default(void **state)
{
    (void) state;
    fdy_principal_t node;
    s_principal(&node, "hanam-node-1", FDY_ROLE_NODE, "hanam");
    s_allow(&node, "status.hanam.*");
    assert_acl(FOUNDRY_OK, &node, "telemetry.hanam.sensor");
    assert_acl(FOUNDRY_OK, &node, "status.hanam.node1");
    /* '*' is exactly one token */
    assert_acl(FOUNDRY_EDENIED, &node, "status.hanam.node1.extra");
    assert_acl(FOUNDRY_EDENIED, &node, "status.hanam");
}

static void
test_acl_partner_allow_filters(void **state)
{
    (void) state;
    fdy_principal_t partner;
    s_principal(&partner, "acme", FDY_ROLE_PARTNER, "");
    snprintf(partner.tenant, sizeof partner.tenant, "acme");
    s_allow(&partner, "telemetry.pangyo.acme.>");
    s_allow(&partner, "models.*.acme");
    assert_acl(FOUNDRY_OK, &partner, "telemetry.pangyo.acme.line1");
    assert_acl(FOUNDRY_OK, &partner, "telemetry.pangyo.acme.line1.temp.max");
    assert_acl(FOUNDRY_EDENIED, &partner, "telemetry.pangyo.acme");
    assert_acl(FOUNDRY_EDENIED, &partner, "telemetry.pangyo.other.line1");
    assert_acl(FOUNDRY_OK, &partner, "models.vision.acme");
    assert_acl(FOUNDRY_EDENIED, &partner, "models.vision.other");
    assert_acl(FOUNDRY_EDENIED, &partner, "models.vision.v2.acme");
}

static void
test_acl_partner_without_grant_denied(void **state)
{
    (void) state;
    fdy_principal_t partner;
    s_principal(&partner, "newco", FDY_ROLE_PARTNER, "pangyo");
    /* a site on a partner's record grants nothing by itself */
    assert_acl(FOUNDRY_EDENIED, &partner, "telemetry.pangyo.newco.x");
    assert_acl(FOUNDRY_EDENIED, &partner, "telemetry.pangyo.robot1");
}

static void
test_acl_revoked_principal_refused(void **state)
{
    (void) state;
    fdy_principal_t admin, node, partner;
    s_principal(&admin, "ops", FDY_ROLE_ADMIN, "");
    s_principal(&node, "pangyo-node-1", FDY_ROLE_NODE, "pangyo");
    s_principal(&partner, "acme", FDY_ROLE_PARTNER, "");
    s_allow(&partner, ">");
    admin.revoked = node.revoked = partner.revoked = true;
    assert_acl(FOUNDRY_EAUTH, &admin, "telemetry.pangyo.x");
    assert_acl(FOUNDRY_EAUTH, &node, "telemetry.pangyo.x");
    assert_acl(FOUNDRY_EAUTH, &partner, "anything.at.all");
}

/* ---- reading (subscribe) ------------------------------------------------- */

#define assert_read(expected, p, filter)                                                          \
    do {                                                                                          \
        fdy_reason_t reason_;                                                                     \
        fdy_reason_clear(&reason_);                                                               \
        foundry_err got_ = fdy_acl_check_subscribe((p), (filter), &reason_);                      \
        if (got_ != (expected))                                                                   \
            fail_msg("read %s: expected %s, got %s (%s)", (filter), foundry_strerror(expected),   \
                     foundry_strerror(got_), reason_.text);                                       \
        if (got_ != FOUNDRY_OK && !strstr(reason_.text, (filter)))                                \
            fail_msg("read %s: reason does not name the filter: %s", (filter), reason_.text);     \
    } while (0)

static void
s_allow_read(fdy_principal_t *p, const char *filter)
{
    p->allow_subscribe[p->allow_subscribe_count++] = (char *) filter;
}

static void
test_acl_filter_within(void **state)
{
    (void) state;
    static const struct {
        const char *inner, *outer;
        bool within;
    } cases[] = {
        {"a.b.c", "a.b.c", true},     {"a.b.c", "a.*.c", true},     {"a.*.c", "a.*.c", true},
        {"a.*.c", "a.b.c", false},    {"a.b", "a.>", true},         {"a.b.c.d", "a.>", true},
        {"a.>", "a.>", true},         {"a.*.>", "a.>", true},       {"a.>", "a.*", false},
        {"a.>", "a.*.>", false},      {"a", "a.>", false},          {"a.b", "a.b.>", false},
        {"a.b.c", "a.b", false},      {"a.b", "a.b.c", false},      {">", ">", true},
        {"x.y", ">", true},           {">", "x.>", false},          {"*", "*", true},
        {"*", ">", true},             {"*.*", "*", false},          {"ab.c", "a.>", false},
        {"a.bc", "a.b", false},       {"telemetry.siheung.x", "telemetry.siheung.>", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (fdy_acl_filter_within(cases[i].inner, cases[i].outer) != cases[i].within)
            fail_msg("%s within %s: expected %d", cases[i].inner, cases[i].outer,
                     (int) cases[i].within);
}

static void
test_acl_read_by_role(void **state)
{
    (void) state;
    fdy_principal_t admin, link, node, partner;
    s_principal(&admin, "ops", FDY_ROLE_ADMIN, "");
    s_principal(&link, "hub", FDY_ROLE_LINK, "");
    s_principal(&node, "pangyo-node-1", FDY_ROLE_NODE, "pangyo");
    s_principal(&partner, "acme", FDY_ROLE_PARTNER, "");
    assert_read(FOUNDRY_OK, &admin, ">");
    assert_read(FOUNDRY_OK, &link, "telemetry.*.x");
    /* node: its site's telemetry, nothing wider */
    assert_read(FOUNDRY_OK, &node, "telemetry.pangyo.>");
    assert_read(FOUNDRY_OK, &node, "telemetry.pangyo.robot42.*");
    assert_read(FOUNDRY_EDENIED, &node, "telemetry.*.robot42");
    assert_read(FOUNDRY_EDENIED, &node, "telemetry.>");
    assert_read(FOUNDRY_EDENIED, &node, "telemetry.pangyo");
    assert_read(FOUNDRY_EDENIED, &node, "telemetry.hanam.x");
    assert_read(FOUNDRY_EDENIED, &node, "telemetry.pangyox.a");
    /* publish grants do not grant reading */
    s_allow(&node, "jobs.pangyo.>");
    assert_read(FOUNDRY_EDENIED, &node, "jobs.pangyo.x");
    s_allow_read(&node, "models.*.status");
    assert_read(FOUNDRY_OK, &node, "models.vision.status");
    assert_read(FOUNDRY_EDENIED, &node, "models.>");
    /* partner: its read list only */
    assert_read(FOUNDRY_EDENIED, &partner, "telemetry.pangyo.acme.x");
    s_allow_read(&partner, "telemetry.*.acme.>");
    assert_read(FOUNDRY_OK, &partner, "telemetry.pangyo.acme.x");
    assert_read(FOUNDRY_OK, &partner, "telemetry.*.acme.>");
    assert_read(FOUNDRY_EDENIED, &partner, "telemetry.*.*.>");
    partner.revoked = true;
    fdy_reason_t reason;
    assert_int_equal(fdy_acl_check_subscribe(&partner, "telemetry.pangyo.acme.x", &reason),
                     FOUNDRY_EAUTH);
}

static void
test_acl_read_consumer(void **state)
{
    (void) state;
    fdy_principal_t admin, node, partner;
    s_principal(&admin, "ops", FDY_ROLE_ADMIN, "");
    s_principal(&node, "siheung-node", FDY_ROLE_NODE, "siheung");
    s_principal(&partner, "acme", FDY_ROLE_PARTNER, "");
    s_allow_read(&partner, "telemetry.siheung.acme.>");
    fdy_reason_t reason;
    const char *site[] = {"telemetry.siheung.>"};
    const char *two[] = {"telemetry.siheung.>", "jobs.siheung.>"};
    /* every stream filter readable, or the consumer filter narrows it */
    assert_int_equal(fdy_acl_check_consumer(&node, site, 1, "", "s", &reason), FOUNDRY_OK);
    assert_int_equal(fdy_acl_check_consumer(&node, two, 2, "", "s", &reason), FOUNDRY_EDENIED);
    assert_int_equal(fdy_acl_check_consumer(&node, two, 2, "telemetry.siheung.a.>", "s",
                                            &reason),
                     FOUNDRY_OK);
    assert_int_equal(fdy_acl_check_consumer(&partner, site, 1, "", "s", &reason),
                     FOUNDRY_EDENIED);
    assert_non_null(strstr(reason.text, "'s'"));
    assert_int_equal(fdy_acl_check_consumer(&partner, site, 1, "telemetry.siheung.acme.>", "s",
                                            &reason),
                     FOUNDRY_OK);
    assert_int_equal(fdy_acl_check_consumer(&partner, site, 1, "telemetry.siheung.*", "s",
                                            &reason),
                     FOUNDRY_EDENIED);
    /* a stream without filters (a dead-letter stream): a consumer filter or
     * admin/link only */
    assert_int_equal(fdy_acl_check_consumer(&node, NULL, 0, "", "s-dlq", &reason),
                     FOUNDRY_EDENIED);
    assert_int_equal(fdy_acl_check_consumer(&node, NULL, 0, "telemetry.siheung.>", "s-dlq",
                                            &reason),
                     FOUNDRY_OK);
    assert_int_equal(fdy_acl_check_consumer(&admin, NULL, 0, "", "s-dlq", &reason), FOUNDRY_OK);
    node.revoked = true;
    assert_int_equal(fdy_acl_check_consumer(&node, site, 1, "", "s", &reason), FOUNDRY_EAUTH);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acl_admin_and_link_publish_anything),
        cmocka_unit_test(test_acl_node_publishes_own_site_telemetry),
        cmocka_unit_test(test_acl_denies_foreign_site),
        cmocka_unit_test(test_acl_node_without_site_has_no_default),
        cmocka_unit_test(test_acl_node_allow_list_extends_default),
        cmocka_unit_test(test_acl_partner_allow_filters),
        cmocka_unit_test(test_acl_partner_without_grant_denied),
        cmocka_unit_test(test_acl_revoked_principal_refused),
        cmocka_unit_test(test_acl_filter_within),
        cmocka_unit_test(test_acl_read_by_role),
        cmocka_unit_test(test_acl_read_consumer),
    };
    return cmocka_run_group_tests_name("acl", tests, NULL, NULL);
}
