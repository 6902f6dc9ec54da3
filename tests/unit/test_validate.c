/* Unit tests for command-server/src/validate.h: POST /v1/users body validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hl/json.h"
#include "validate.h"

#include <stdio.h>
#include <string.h>

#define GOOD_EMAIL    "ada@example.com"
#define GOOD_PASSWORD "correct horse"
#define GOOD_NAME     "Ada Lovelace"

/* Build a register body from three optional strings (NULL = field omitted). */
static void make_body(bson_t *doc, const char *email, const char *password, const char *name)
{
    bson_init(doc);
    if (email)
        BSON_APPEND_UTF8(doc, "email", email);
    if (password)
        BSON_APPEND_UTF8(doc, "password", password);
    if (name)
        BSON_APPEND_UTF8(doc, "display_name", name);
}

static bool run(const char *email, const char *password, const char *name, hl_error_t *err,
                cs_register_cmd_t *cmd)
{
    bson_t doc;
    make_body(&doc, email, password, name);
    hl_error_clear(err);
    memset(cmd, 0, sizeof *cmd);
    bool ok = cs_validate_register(&doc, cmd, err);
    bson_destroy(&doc);
    return ok;
}

static void expect_rejected(const char *email, const char *password, const char *name,
                            const char *needle)
{
    hl_error_t err;
    cs_register_cmd_t cmd;
    if (run(email, password, name, &err, &cmd))
        fail_msg("accepted email=%s password=%s name=%s", email ? email : "(none)",
                 password ? password : "(none)", name ? name : "(none)");
    assert_int_equal(err.domain, HL_ERR_INPUT);
    assert_int_equal(err.code, 422);
    assert_string_equal(err.reason, "validation-failed");
    if (!strstr(err.message, needle))
        fail_msg("message \"%s\" does not name \"%s\"", err.message, needle);
}

static void expect_accepted(const char *email, const char *password, const char *name)
{
    hl_error_t err;
    cs_register_cmd_t cmd;
    if (!run(email, password, name, &err, &cmd))
        fail_msg("rejected email=%s name=%s: %s", email, name, err.message);
}

static void test_register_good(void **state)
{
    (void)state;
    bson_t doc;
    make_body(&doc, GOOD_EMAIL, GOOD_PASSWORD, GOOD_NAME);
    hl_error_t err;
    cs_register_cmd_t cmd = {0};
    hl_error_clear(&err);
    assert_true(cs_validate_register(&doc, &cmd, &err));
    assert_string_equal(cmd.email, GOOD_EMAIL);
    assert_string_equal(cmd.password, GOOD_PASSWORD);
    assert_string_equal(cmd.display_name, GOOD_NAME);
    bson_destroy(&doc);

    /* From a real JSON body, with a multi-byte display name. */
    const char *body = "{\"display_name\":\"Ada \\u2713\",\"password\":\"12345678\","
                       "\"email\":\"a@x.io\"}";
    assert_true(hl_json_parse_object(body, strlen(body), &doc, &err));
    assert_true(cs_validate_register(&doc, &cmd, &err));
    assert_string_equal(cmd.display_name, "Ada \xe2\x9c\x93");
    assert_string_equal(cmd.email, "a@x.io");
    bson_destroy(&doc);
}

static void test_register_missing_fields(void **state)
{
    (void)state;
    expect_rejected(NULL, GOOD_PASSWORD, GOOD_NAME, "email");
    expect_rejected(GOOD_EMAIL, NULL, GOOD_NAME, "password");
    expect_rejected(GOOD_EMAIL, GOOD_PASSWORD, NULL, "display_name");
    expect_rejected(NULL, NULL, NULL, "email");
}

static void test_register_unknown_field(void **state)
{
    (void)state;
    bson_t doc;
    make_body(&doc, GOOD_EMAIL, GOOD_PASSWORD, GOOD_NAME);
    BSON_APPEND_BOOL(&doc, "admin", true);
    hl_error_t err;
    cs_register_cmd_t cmd;
    hl_error_clear(&err);
    assert_false(cs_validate_register(&doc, &cmd, &err));
    assert_int_equal(err.code, 422);
    assert_string_equal(err.reason, "unknown-field");
    bson_destroy(&doc);
}

static void test_register_wrong_type(void **state)
{
    (void)state;
    bson_t doc;
    make_body(&doc, GOOD_EMAIL, GOOD_PASSWORD, NULL);
    BSON_APPEND_INT32(&doc, "display_name", 7);
    hl_error_t err;
    cs_register_cmd_t cmd;
    hl_error_clear(&err);
    assert_false(cs_validate_register(&doc, &cmd, &err));
    assert_int_equal(err.code, 422);
    assert_string_equal(err.reason, "validation-failed");
    assert_non_null(strstr(err.message, "display_name"));
    bson_destroy(&doc);
}

static void test_register_display_name_length(void **state)
{
    (void)state;
    char name[256];
    memset(name, 'x', 64);
    name[64] = '\0';
    expect_accepted(GOOD_EMAIL, GOOD_PASSWORD, name); /* exactly 64 */
    memset(name, 'x', 65);
    name[65] = '\0';
    expect_rejected(GOOD_EMAIL, GOOD_PASSWORD, name, "display_name"); /* 65 */
    expect_rejected(GOOD_EMAIL, GOOD_PASSWORD, "", "display_name");

    /* 64 two-byte characters are 128 bytes but 64 characters: accepted. */
    for (int i = 0; i < 64; i++)
        memcpy(name + 2 * i, "\xc3\xa9", 2);
    name[128] = '\0';
    expect_accepted(GOOD_EMAIL, GOOD_PASSWORD, name);
}

static void test_register_display_name_whitespace(void **state)
{
    (void)state;
    expect_rejected(GOOD_EMAIL, GOOD_PASSWORD, " Ada", "display_name");
    expect_rejected(GOOD_EMAIL, GOOD_PASSWORD, "Ada ", "display_name");
    expect_rejected(GOOD_EMAIL, GOOD_PASSWORD, "\tAda", "display_name");
    expect_rejected(GOOD_EMAIL, GOOD_PASSWORD, "Ada\n", "display_name");
    expect_rejected(GOOD_EMAIL, GOOD_PASSWORD, " ", "display_name");
    expect_accepted(GOOD_EMAIL, GOOD_PASSWORD, "Ada  Lovelace"); /* inner spaces are fine */
}

static void test_register_password_length(void **state)
{
    (void)state;
    char pw[256];
    expect_rejected(GOOD_EMAIL, "1234567", GOOD_NAME, "password"); /* 7 */
    expect_rejected(GOOD_EMAIL, "", GOOD_NAME, "password");
    expect_accepted(GOOD_EMAIL, "12345678", GOOD_NAME); /* 8 */
    memset(pw, 'p', 128);
    pw[128] = '\0';
    expect_accepted(GOOD_EMAIL, pw, GOOD_NAME); /* 128 */
    memset(pw, 'p', 129);
    pw[129] = '\0';
    expect_rejected(GOOD_EMAIL, pw, GOOD_NAME, "password"); /* 129 */
}

static void test_register_bad_email(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "a", "a@b", "@x.com", "a@@x.com", "a b@x.com", "a@x..com", "a@.x.com", "a@x.com.", "a@xcom",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_rejected(bad[i], GOOD_PASSWORD, GOOD_NAME, "email");
    /* Over 254 characters. */
    char email[300];
    memset(email, 'a', 250);
    snprintf(email + 250, sizeof email - 250, "@x.com");
    expect_rejected(email, GOOD_PASSWORD, GOOD_NAME, "email");
}

static void test_email_plausible(void **state)
{
    (void)state;
    assert_true(cs_email_plausible("ada@example.com"));
    assert_true(cs_email_plausible("a@x.io"));
    assert_true(cs_email_plausible("first.last+tag@mail.example.co.uk"));
    assert_true(cs_email_plausible("\xc3\xa9@x.com")); /* non-ASCII local part */

    assert_false(cs_email_plausible(""));
    assert_false(cs_email_plausible("a"));
    assert_false(cs_email_plausible("a@b"));
    assert_false(cs_email_plausible("@x.com"));
    assert_false(cs_email_plausible("a@@x.com"));
    assert_false(cs_email_plausible("a@x@y.com"));
    assert_false(cs_email_plausible("a b@x.com"));
    assert_false(cs_email_plausible("a@x .com"));
    assert_false(cs_email_plausible("a\t@x.com"));
    assert_false(cs_email_plausible("a\x7f@x.com"));
    assert_false(cs_email_plausible("a@x..com"));
    assert_false(cs_email_plausible("a@.x.com"));
    assert_false(cs_email_plausible("a@x.com."));
    assert_false(cs_email_plausible("a@"));
    assert_false(cs_email_plausible("a@xcom"));

    /* Local part: 64 bytes allowed, 65 not. */
    char email[128];
    memset(email, 'l', 64);
    snprintf(email + 64, sizeof email - 64, "@x.com");
    assert_true(cs_email_plausible(email));
    memset(email, 'l', 65);
    snprintf(email + 65, sizeof email - 65, "@x.com");
    assert_false(cs_email_plausible(email));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_good),
        cmocka_unit_test(test_register_missing_fields),
        cmocka_unit_test(test_register_unknown_field),
        cmocka_unit_test(test_register_wrong_type),
        cmocka_unit_test(test_register_display_name_length),
        cmocka_unit_test(test_register_display_name_whitespace),
        cmocka_unit_test(test_register_password_length),
        cmocka_unit_test(test_register_bad_email),
        cmocka_unit_test(test_email_plausible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
