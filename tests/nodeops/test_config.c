/*
 * Unit tests of the node's configuration layers (src/node/config.c): defaults, config file,
 * environment and flags, their precedence, list replacement, file errors with FILE:LINE, and
 * `--help` naming every option with its variable.
 * Owns: nothing. May call: config.h, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char conf_path[64];

/* Every variable the table reads, so a test starts from a clean environment. */
static void clear_env(void)
{
    for (int o = 0; o < NO_COUNT; o++)
        unsetenv(node_option_env((enum node_option)o));
}

static void write_conf(const char *text)
{
    FILE *f = fopen(conf_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Loads with argv given as a NULL-terminated list after "node". */
static int load(struct node_config *c, char *err, size_t errlen, ...)
{
    char *argv[32] = {"node"};
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    err[0] = '\0';
    return node_config_load(c, argc, argv, err, errlen);
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    snprintf(conf_path, sizeof conf_path, "/tmp/tfuse-nodeops-%d.conf", (int)getpid());
    setenv("TFUSE_NODE_CONFIG", "", 1);   /* never the machine's /etc/tfuse/node.conf */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(conf_path);
    clear_env();
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    struct node_config c;
    char err[512];
    assert_int_equal(load(&c, err, sizeof err, "--listen", "unix:/tmp/x.sock", NULL), 0);
    assert_string_equal(c.backend, "auto");
    assert_true(c.drain_timeout == 30.0);
    assert_int_equal(c.log_level, 2 /* info */);
    assert_int_equal(c.nlisten, 1);
    assert_null(c.api_token);
    assert_null(c.config);
    assert_int_equal(c.origin[NO_BACKEND], NC_FROM_DEFAULT);
    assert_int_equal(c.origin[NO_LISTEN], NC_FROM_FLAG);
    node_config_free(&c);
}

static void test_precedence(void **state)
{
    (void)state;
    struct node_config c;
    char err[512];
    write_conf("# a node\n"
               "backend = soft\n"
               "drain-timeout = 5\n"
               "log-level = warn   # trailing comment\n"
               "api-token = \"from-file\"\n"
               "listen = unix:/tmp/a.sock\n"
               "listen = tcp:127.0.0.1:7071\n"
               "\n"
               "oversubscribe = yes\n");
    setenv("TFUSE_NODE_CONFIG", conf_path, 1);
    setenv("TFUSE_NODE_DRAIN_TIMEOUT", "7", 1);
    setenv("TFUSE_LOG", "debug", 1);
    setenv("TFUSE_NODE_TOKEN", "from-env", 1);
    assert_int_equal(load(&c, err, sizeof err, "--drain-timeout", "9", NULL), 0);
    assert_string_equal(c.config, conf_path);
    assert_int_equal(c.origin[NO_CONFIG], NC_FROM_ENV);
    assert_string_equal(c.backend, "soft");              /* file over default */
    assert_true(c.drain_timeout == 9.0);                 /* flag over env over file */
    assert_int_equal(c.origin[NO_DRAIN_TIMEOUT], NC_FROM_FLAG);
    assert_int_equal(c.log_level, 3);                    /* env (TFUSE_LOG) over file */
    assert_int_equal(c.origin[NO_LOG_LEVEL], NC_FROM_ENV);
    assert_string_equal(c.api_token, "from-env");        /* TFUSE_NODE_TOKEN is --api-token */
    assert_int_equal(c.oversubscribe, 1);
    assert_int_equal(c.nlisten, 2);                      /* repeated key: a list */
    assert_string_equal(c.listen[1], "tcp:127.0.0.1:7071");
    node_config_free(&c);

    /* A higher layer replaces a list instead of extending it. */
    setenv("TFUSE_NODE_LISTEN", "unix:/tmp/e1.sock, unix:/tmp/e2.sock", 1);
    assert_int_equal(load(&c, err, sizeof err, NULL), 0);
    assert_int_equal(c.nlisten, 2);
    assert_string_equal(c.listen[0], "unix:/tmp/e1.sock");
    node_config_free(&c);
    assert_int_equal(load(&c, err, sizeof err, "-l", "unix:/tmp/f.sock", NULL), 0);
    assert_int_equal(c.nlisten, 1);
    assert_string_equal(c.listen[0], "unix:/tmp/f.sock");
    node_config_free(&c);
}

static void expect_file_error(const char *text, int line, const char *fragment)
{
    struct node_config c;
    char err[512], where[128];
    write_conf(text);
    setenv("TFUSE_NODE_CONFIG", conf_path, 1);
    assert_int_equal(load(&c, err, sizeof err, "--listen", "unix:/tmp/x.sock", NULL), -1);
    snprintf(where, sizeof where, "%s:%d: ", conf_path, line);
    if (!strstr(err, where) || !strstr(err, fragment))
        fail_msg("error '%s' lacks '%s' or '%s'", err, where, fragment);
    node_config_free(&c);
}

static void test_file_errors(void **state)
{
    (void)state;
    expect_file_error("backend = soft\nbogus = 1\n", 2, "unknown key 'bogus'");
    expect_file_error("# x\n\ndrain-timeout = soon\n", 3, "drain-timeout");
    expect_file_error("log-level = loud\n", 1, "not a log level");
    expect_file_error("oversubscribe = maybe\n", 1, "not a boolean");
    expect_file_error("listen unix:/tmp/x\n", 1, "key = value");
    expect_file_error("config = /etc/other.conf\n", 1, "cannot name another");
    expect_file_error("ctx-overhead = lots\n", 1, "ctx-overhead");

    struct node_config c;
    char err[512];
    setenv("TFUSE_NODE_CONFIG", "/nonexistent/tfuse-node.conf", 1);
    assert_int_equal(load(&c, err, sizeof err, "--listen", "unix:/tmp/x.sock", NULL), -1);
    assert_non_null(strstr(err, "/nonexistent/tfuse-node.conf"));
    node_config_free(&c);
}

static void test_flag_and_env_errors(void **state)
{
    (void)state;
    struct node_config c;
    char err[512];
    assert_int_equal(load(&c, err, sizeof err, "--listen", "unix:/x", "--bogus", NULL), -1);
    assert_non_null(strstr(err, "--bogus"));
    node_config_free(&c);
    assert_int_equal(load(&c, err, sizeof err, "--listen", "unix:/x", "--drain-timeout", "-1",
                          NULL), -1);
    assert_non_null(strstr(err, "--drain-timeout"));
    node_config_free(&c);
    assert_int_equal(load(&c, err, sizeof err, "--listen", "unix:/x", "stray", NULL), -1);
    assert_non_null(strstr(err, "stray"));
    node_config_free(&c);
    setenv("TFUSE_NODE_HEARTBEAT_INTERVAL", "0.001", 1);
    assert_int_equal(load(&c, err, sizeof err, "--listen", "unix:/x", NULL), -1);
    assert_non_null(strstr(err, "$TFUSE_NODE_HEARTBEAT_INTERVAL"));
    node_config_free(&c);
    unsetenv("TFUSE_NODE_HEARTBEAT_INTERVAL");
    /* Combinations. */
    assert_int_equal(load(&c, err, sizeof err, NULL), -1);
    assert_non_null(strstr(err, "--listen"));
    node_config_free(&c);
    assert_int_equal(load(&c, err, sizeof err, "-l", "unix:/x", "--pool", "http://p:1", NULL), -1);
    assert_non_null(strstr(err, "needs --api"));
    node_config_free(&c);
    assert_int_equal(load(&c, err, sizeof err, "-l", "unix:/x", "--node-name", "n1", NULL), -1);
    assert_non_null(strstr(err, "go with --pool"));
    node_config_free(&c);
    assert_int_equal(load(&c, err, sizeof err, "-l", "unix:/x", "--help", NULL), 1);
    node_config_free(&c);
}

static void test_every_existing_flag(void **state)
{
    (void)state;
    struct node_config c;
    char err[512], text[256];
    assert_int_equal(load(&c, err, sizeof err, "--backend", "soft", "--listen", "unix:/a",
                          "-l", "tcp:127.0.0.1:1", "--token", "t", "--state", "/tmp/s",
                          "--api", "unix:/b", "--oversubscribe", "--allow-unlimited",
                          "--ctx-overhead", "64MiB", "--pool", "http://p:1", "--node-name",
                          "n", "--advertise", "tcp:h:1", "--heartbeat-interval", "0.5",
                          "--api-token", "secret", "--log-level", "debug", "--log-syslog",
                          NULL), 0);
    assert_int_equal(c.nlisten, 2);
    assert_string_equal(c.token, "t");
    assert_string_equal(c.state, "/tmp/s");
    assert_int_equal(c.napi, 1);
    assert_true(c.oversubscribe && c.allow_unlimited && c.log_syslog);
    assert_true(c.ctx_overhead == 64ull << 20 && c.ctx_overhead_set);
    assert_true(c.heartbeat_interval == 0.5);
    assert_string_equal(c.api_token, "secret");
    node_config_format(&c, NO_LISTEN, text, sizeof text);
    assert_string_equal(text, "unix:/a tcp:127.0.0.1:1");
    node_config_format(&c, NO_LOG_LEVEL, text, sizeof text);
    assert_string_equal(text, "debug");
    node_config_free(&c);
    assert_int_equal(load(&c, err, sizeof err, "--listen", "unix:/a", "--ctx-overhead", "0",
                          NULL), 0);
    assert_true(c.ctx_overhead == 0 && c.ctx_overhead_set);
    node_config_free(&c);
}

static void test_swap_option(void **state)
{
    (void)state;
    struct node_config a, b;
    char err[512], text[256];
    assert_int_equal(load(&a, err, sizeof err, "-l", "unix:/a", "--state", "/s1", NULL), 0);
    assert_int_equal(load(&b, err, sizeof err, "-l", "unix:/b", "-l", "unix:/c", NULL), 0);
    node_config_swap_option(&a, &b, NO_LISTEN);
    node_config_swap_option(&a, &b, NO_STATE);
    node_config_format(&a, NO_LISTEN, text, sizeof text);
    assert_string_equal(text, "unix:/b unix:/c");
    assert_null(a.state);
    assert_string_equal(b.state, "/s1");
    node_config_free(&a);
    node_config_free(&b);
}

static void test_help_lists_every_option(void **state)
{
    (void)state;
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/tmp/tfuse-nodeops-help-%d", (int)getpid());
    FILE *f = fopen(path, "w+");
    assert_non_null(f);
    node_config_usage(f);
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
    for (int o = 0; o < NO_COUNT; o++) {
        char flag[64], env[64];
        snprintf(flag, sizeof flag, "--%s", node_option_name((enum node_option)o));
        snprintf(env, sizeof env, "$%s", node_option_env((enum node_option)o));
        if (!strstr(buf, flag) || !strstr(buf, env))
            fail_msg("--help lacks %s or %s", flag, env);
    }
    assert_non_null(strstr(buf, "default 30"));
    assert_non_null(strstr(buf, "default auto"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_and_env_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_existing_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_option, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help_lists_every_option, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
