/* Unit tests for hl/config.h: the option table loader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hl/config.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *host;
    long long port;
    bool verbose;
    char *secret;
    long long workers;
    char *level;
    char *token_secret;
    char *token_secret_previous;
    long long token_previous_until_s;
    long long wait_ms, max_wait_ms;
} test_cfg_t;

#define ENV_HOST    "HL_TEST_CFG_HOST"
#define ENV_PORT    "HL_TEST_CFG_PORT"
#define ENV_VERBOSE "HL_TEST_CFG_VERBOSE"
#define ENV_SECRET  "HL_TEST_CFG_SECRET"

#define HL_CONFIG_TYPE test_cfg_t
static const hl_config_option_t opts[] = {
    HL_CONFIG_STRING(host, "host", ENV_HOST, "localhost", "host"),
    HL_CONFIG_INT(port, "port", ENV_PORT, 8080, 1, 65535, "port"),
    HL_CONFIG_BOOL(verbose, "verbose", ENV_VERBOSE, false, "verbose"),
    HL_CONFIG_SECRET(secret, "secret", ENV_SECRET, NULL, "secret"),
    HL_CONFIG_INT(workers, "workers", NULL, 4, 1, 64, "workers"),
    HL_CONFIG_STRING_V(level, "level", NULL, "info", hl_config_valid_log_level, "log level"),
    HL_CONFIG_TOKEN_OPTIONS("token secret"),
    HL_CONFIG_INT(wait_ms, "wait-ms", NULL, 2000, 0, 10000, "default wait"),
    HL_CONFIG_INT(max_wait_ms, "max-wait-ms", NULL, 10000, 0, 60000, "largest wait"),
};
#define NOPTS (sizeof opts / sizeof opts[0])

static int clear_env(void **state)
{
    (void)state;
    unsetenv(ENV_HOST);
    unsetenv(ENV_PORT);
    unsetenv(ENV_VERBOSE);
    unsetenv(ENV_SECRET);
    return 0;
}

/* Load with argv given as a NULL-terminated list after the program name. */
static bool load(test_cfg_t *cfg, int *npos, char **argv, hl_error_t *err)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    memset(cfg, 0, sizeof *cfg);
    hl_error_clear(err);
    return hl_config_load(opts, NOPTS, cfg, argc, argv, npos, err);
}

static void test_defaults(void **state)
{
    (void)state;
    test_cfg_t cfg;
    hl_error_t err;
    char *argv[] = {"prog", NULL};
    assert_true(load(&cfg, NULL, argv, &err));
    assert_string_equal(cfg.host, "localhost");
    assert_int_equal(cfg.port, 8080);
    assert_false(cfg.verbose);
    assert_non_null(cfg.secret); /* NULL default = empty string */
    assert_string_equal(cfg.secret, "");
    assert_int_equal(cfg.workers, 4);
    hl_config_free(opts, NOPTS, &cfg);
    assert_null(cfg.host);
    assert_null(cfg.secret);
    hl_config_free(opts, NOPTS, &cfg); /* safe twice / on a zeroed struct */
}

static void test_env_override(void **state)
{
    (void)state;
    setenv(ENV_HOST, "db.internal", 1);
    setenv(ENV_PORT, "9090", 1);
    setenv(ENV_VERBOSE, "yes", 1);
    setenv(ENV_SECRET, "hunter2", 1);
    test_cfg_t cfg;
    hl_error_t err;
    char *argv[] = {"prog", NULL};
    assert_true(load(&cfg, NULL, argv, &err));
    assert_string_equal(cfg.host, "db.internal");
    assert_int_equal(cfg.port, 9090);
    assert_true(cfg.verbose);
    assert_string_equal(cfg.secret, "hunter2");
    assert_int_equal(cfg.workers, 4);
    hl_config_free(opts, NOPTS, &cfg);

    /* Bad environment values are errors naming the variable. */
    setenv(ENV_PORT, "http", 1);
    assert_false(load(&cfg, NULL, argv, &err));
    assert_int_equal(err.domain, HL_ERR_CONFIG);
    assert_non_null(strstr(err.message, ENV_PORT));
    hl_config_free(opts, NOPTS, &cfg);
    setenv(ENV_PORT, "9090", 1);
    setenv(ENV_VERBOSE, "maybe", 1);
    assert_false(load(&cfg, NULL, argv, &err));
    assert_int_equal(err.domain, HL_ERR_CONFIG);
    assert_non_null(strstr(err.message, ENV_VERBOSE));
    hl_config_free(opts, NOPTS, &cfg);
}

static void test_flag_override(void **state)
{
    (void)state;
    setenv(ENV_HOST, "from-env", 1);
    setenv(ENV_PORT, "9090", 1);
    test_cfg_t cfg;
    hl_error_t err;
    /* --name=value and --name value; flags beat the environment. */
    char *argv[] = {"prog", "--host=from-flag", "--port", "7000", "--workers=8", NULL};
    assert_true(load(&cfg, NULL, argv, &err));
    assert_string_equal(cfg.host, "from-flag");
    assert_int_equal(cfg.port, 7000);
    assert_int_equal(cfg.workers, 8);
    hl_config_free(opts, NOPTS, &cfg);

    /* The last occurrence wins; "=" values may contain "=" and be empty. */
    char *argv2[] = {"prog", "--host=a", "--host", "b=c", "--secret=", NULL};
    assert_true(load(&cfg, NULL, argv2, &err));
    assert_string_equal(cfg.host, "b=c");
    assert_string_equal(cfg.secret, "");
    assert_int_equal(cfg.port, 9090); /* env still applies to the rest */
    hl_config_free(opts, NOPTS, &cfg);
}

static void test_bool_flag(void **state)
{
    (void)state;
    test_cfg_t cfg;
    hl_error_t err;
    char *argv[] = {"prog", "--verbose", NULL};
    assert_true(load(&cfg, NULL, argv, &err));
    assert_true(cfg.verbose);
    hl_config_free(opts, NOPTS, &cfg);

    /* A bool flag without a value does not swallow the next argument. */
    char *argv2[] = {"prog", "--verbose", "--port=1", NULL};
    assert_true(load(&cfg, NULL, argv2, &err));
    assert_true(cfg.verbose);
    assert_int_equal(cfg.port, 1);
    hl_config_free(opts, NOPTS, &cfg);

    setenv(ENV_VERBOSE, "true", 1);
    char *argv3[] = {"prog", "--verbose=false", NULL};
    assert_true(load(&cfg, NULL, argv3, &err));
    assert_false(cfg.verbose);
    hl_config_free(opts, NOPTS, &cfg);

    char *argv4[] = {"prog", "--verbose=ON", NULL};
    unsetenv(ENV_VERBOSE);
    assert_true(load(&cfg, NULL, argv4, &err));
    assert_true(cfg.verbose);
    hl_config_free(opts, NOPTS, &cfg);

    char *argv5[] = {"prog", "--verbose=2", NULL};
    assert_false(load(&cfg, NULL, argv5, &err));
    assert_int_equal(err.domain, HL_ERR_CONFIG);
    assert_false(hl_config_is_help(&err));
    hl_config_free(opts, NOPTS, &cfg);
}

static void expect_config_error(char **argv, const char *needle)
{
    test_cfg_t cfg;
    hl_error_t err;
    int npos = -1;
    if (load(&cfg, &npos, argv, &err))
        fail_msg("load with %s succeeded", argv[1]);
    assert_int_equal(err.domain, HL_ERR_CONFIG);
    assert_false(hl_config_is_help(&err));
    assert_string_equal(err.reason, "bad-option");
    if (!strstr(err.message, needle))
        fail_msg("message \"%s\" does not mention \"%s\"", err.message, needle);
    hl_config_free(opts, NOPTS, &cfg);
}

static void test_int_errors(void **state)
{
    (void)state;
    char *a1[] = {"prog", "--port=0", NULL};
    expect_config_error(a1, "port");
    char *a2[] = {"prog", "--port=65536", NULL};
    expect_config_error(a2, "port");
    char *a3[] = {"prog", "--port", "-1", NULL};
    expect_config_error(a3, "port");
    char *a4[] = {"prog", "--port=80x", NULL};
    expect_config_error(a4, "port");
    char *a5[] = {"prog", "--workers=99999999999999999999", NULL};
    expect_config_error(a5, "workers");

    /* The bounds are inclusive. */
    test_cfg_t cfg;
    hl_error_t err;
    char *ok[] = {"prog", "--port=65535", "--workers=1", NULL};
    assert_true(load(&cfg, NULL, ok, &err));
    assert_int_equal(cfg.port, 65535);
    assert_int_equal(cfg.workers, 1);
    hl_config_free(opts, NOPTS, &cfg);
}

static void test_unknown_flag_and_missing_value(void **state)
{
    (void)state;
    char *a1[] = {"prog", "--nope=1", NULL};
    expect_config_error(a1, "nope");
    char *a2[] = {"prog", "--hos=x", NULL}; /* no prefix matching */
    expect_config_error(a2, "hos");
    char *a3[] = {"prog", "--hostname=x", NULL};
    expect_config_error(a3, "hostname");
    char *a4[] = {"prog", "--port", NULL};
    expect_config_error(a4, "port");
}

static void test_help(void **state)
{
    (void)state;
    test_cfg_t cfg;
    hl_error_t err;
    char *argv[] = {"prog", "--port=1", "--help", "--nope", NULL};
    assert_false(load(&cfg, NULL, argv, &err));
    assert_int_equal(err.domain, HL_ERR_CONFIG);
    assert_true(hl_config_is_help(&err));
    assert_string_equal(err.reason, "help");
    hl_config_free(opts, NOPTS, &cfg);

    /* Usage lists every flag, its variable, and hides the secret's default. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    hl_config_usage(f, "prog", opts, NOPTS);
    fclose(f);
    assert_non_null(strstr(text, "usage: prog"));
    assert_non_null(strstr(text, "--host"));
    assert_non_null(strstr(text, ENV_PORT));
    assert_non_null(strstr(text, "--workers"));
    assert_non_null(strstr(text, "8080"));
    free(text);
}

static void test_positional(void **state)
{
    (void)state;
    test_cfg_t cfg;
    hl_error_t err;
    int npos = -1;
    char *argv[] = {"prog", "migrate", "--port=1", "up", "--verbose", "now", NULL};
    assert_true(load(&cfg, &npos, argv, &err));
    assert_int_equal(npos, 3);
    assert_string_equal(argv[0], "prog");
    assert_string_equal(argv[1], "migrate");
    assert_string_equal(argv[2], "up");
    assert_string_equal(argv[3], "now");
    assert_int_equal(cfg.port, 1);
    assert_true(cfg.verbose);
    hl_config_free(opts, NOPTS, &cfg);

    char *none[] = {"prog", "--port=2", NULL};
    npos = -1;
    assert_true(load(&cfg, &npos, none, &err));
    assert_int_equal(npos, 0);
    hl_config_free(opts, NOPTS, &cfg);

    /* Without a positional_argc slot, a positional argument is an error. */
    char *argv2[] = {"prog", "stray", NULL};
    assert_false(load(&cfg, NULL, argv2, &err));
    assert_int_equal(err.domain, HL_ERR_CONFIG);
    assert_non_null(strstr(err.message, "stray"));
    hl_config_free(opts, NOPTS, &cfg);
}

/* A validate function refuses a value from any source, naming the option. */
static void test_validate(void **state)
{
    (void)state;
    char *a1[] = {"prog", "--level=loud", NULL};
    expect_config_error(a1, "level");
    test_cfg_t cfg;
    hl_error_t err;
    char *a2[] = {"prog", "--level=warn", NULL};
    assert_true(load(&cfg, NULL, a2, &err));
    assert_string_equal(cfg.level, "warn");
    hl_config_free(opts, NOPTS, &cfg);
}

static bool check_waits(const void *cfg, hl_error_t *err)
{
    const test_cfg_t *c = cfg;
    if (c->wait_ms > c->max_wait_ms)
        return hl_error_set_reason(err, HL_ERR_CONFIG, 0, "bad-option", "wait-ms above max");
    return true;
}
HL_CONFIG_TOKEN_CHECK(check_tokens)
static const hl_config_check_fn checks[] = {check_tokens, check_waits, NULL};

/* Load argv, then run the cross-field checks; true when both pass. */
static bool load_checked(char **argv, hl_error_t *err)
{
    test_cfg_t cfg;
    bool ok = load(&cfg, NULL, argv, err) && hl_config_check(checks, &cfg, err);
    hl_config_free(opts, NOPTS, &cfg);
    return ok;
}

/* Cross-field checks: the default wait under the largest; the rotation options together. */
static void test_cross_field_checks(void **state)
{
    (void)state;
    hl_error_t err;
    char *ok[] = {"prog", NULL};
    assert_true(load_checked(ok, &err));
    char *waits[] = {"prog", "--wait-ms=9000", "--max-wait-ms=5000", NULL};
    assert_false(load_checked(waits, &err));
    assert_non_null(strstr(err.message, "wait-ms"));
    char *equal[] = {"prog", "--wait-ms=5000", "--max-wait-ms=5000", NULL};
    assert_true(load_checked(equal, &err));
    char *no_until[] = {"prog", "--token-secret-previous=old", NULL};
    assert_false(load_checked(no_until, &err));
    assert_non_null(strstr(err.message, "token-previous-until"));
    char *no_previous[] = {"prog", "--token-previous-until=1900000000", NULL};
    assert_false(load_checked(no_previous, &err));
    char *same[] = {"prog", "--token-secret=s", "--token-secret-previous=s",
                    "--token-previous-until=1900000000", NULL};
    assert_false(load_checked(same, &err));
    char *rotation[] = {"prog", "--token-secret=new", "--token-secret-previous=old",
                        "--token-previous-until=1900000000", NULL};
    assert_true(load_checked(rotation, &err));
    assert_true(hl_config_check(NULL, NULL, &err)); /* no checks */
}

/* The validate functions for URLs. */
static void test_url_validators(void **state)
{
    (void)state;
    hl_config_option_t o = HL_CONFIG_STRING(host, "url", NULL, NULL, "url");
    hl_error_t err;
    const char *good[] = {"http://127.0.0.1:8085", "https://api.stripe.com", ""};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(hl_config_valid_http_url(&o, &good[i], "test", &err));
    const char *bad[] = {"ftp://x", "http://", "127.0.0.1:8085", "https:///path"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(hl_config_valid_http_url(&o, &bad[i], "test", &err));
    const char *mongo_good[] = {"mongodb://127.0.0.1:27017/", "mongodb://db/",
                                "mongodb+srv://cluster.example.net/"};
    for (size_t i = 0; i < sizeof mongo_good / sizeof mongo_good[0]; i++)
        assert_true(hl_config_valid_mongo_uri(&o, &mongo_good[i], "test", &err));
    const char *mongo_bad[] = {"mongodb://", "mongodb:///db", "mongodb+srv://", "",
                               "http://127.0.0.1:27017"};
    for (size_t i = 0; i < sizeof mongo_bad / sizeof mongo_bad[0]; i++)
        assert_false(hl_config_valid_mongo_uri(&o, &mongo_bad[i], "test", &err));
    assert_non_null(strstr(err.message, "mongodb://"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_env_override, clear_env),
        cmocka_unit_test_setup(test_flag_override, clear_env),
        cmocka_unit_test_setup(test_bool_flag, clear_env),
        cmocka_unit_test_setup(test_int_errors, clear_env),
        cmocka_unit_test_setup(test_unknown_flag_and_missing_value, clear_env),
        cmocka_unit_test_setup(test_help, clear_env),
        cmocka_unit_test_setup(test_validate, clear_env),
        cmocka_unit_test_setup(test_cross_field_checks, clear_env),
        cmocka_unit_test_setup(test_url_validators, clear_env),
        cmocka_unit_test_setup(test_positional, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
