#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* Key names carry the pid-free prefix "unit_cfg_" so that the GRIDGOV_UNIT_CFG_* variables
 * the tests set cannot collide with anything the runner exports. */
static const cfg_key_t KEYS[] = {
    {"unit_cfg_name", CFG_STR, "intake", 0, 0, "a string"},
    {"unit_cfg_port", CFG_INT, "8080", 1, 65535, "a port"},
    {"unit_cfg_verbose", CFG_BOOL, "false", 0, 0, "a flag"},
    {"unit_cfg_unset", CFG_STR, NULL, 0, 0, "no default"},
    {"unit_cfg_neg", CFG_INT, "-5", -10, 10, "a signed number"},
};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

static const char *ENV_NAMES[] = {"GRIDGOV_UNIT_CFG_NAME", "GRIDGOV_UNIT_CFG_PORT", "GRIDGOV_UNIT_CFG_VERBOSE",
                                  "GRIDGOV_UNIT_CFG_UNSET", "GRIDGOV_UNIT_CFG_NEG", "GRIDGOV_CONFIG"};

static int setup(void **state)
{
    for (size_t i = 0; i < sizeof ENV_NAMES / sizeof ENV_NAMES[0]; i++)
        unsetenv(ENV_NAMES[i]);
    *state = cfg_new(KEYS, NKEYS);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    cfg_t *c = *state;
    cfg_destroy(&c);
    for (size_t i = 0; i < sizeof ENV_NAMES / sizeof ENV_NAMES[0]; i++)
        unsetenv(ENV_NAMES[i]);
    return 0;
}

/* A temporary file holding text; the path is written into path (caller unlinks). */
static void temp_file(char *path, size_t n, const char *text)
{
    snprintf(path, n, "/tmp/gridgov_test_config_%d_XXXXXX", (int)getpid());
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* Runs cfg_from_args with stdout and stderr sent to /dev/null (help text, usage errors). */
static int from_args(cfg_t *c, int argc, char **argv, int *rest)
{
    fflush(stdout);
    fflush(stderr);
    int out = dup(1), err = dup(2);
    int null = open("/dev/null", O_WRONLY);
    assert_true(out >= 0 && err >= 0 && null >= 0);
    dup2(null, 1);
    dup2(null, 2);
    close(null);
    int rc = cfg_from_args(c, "unit", "unit test", argc, argv, rest);
    fflush(stdout);
    fflush(stderr);
    dup2(out, 1);
    dup2(err, 2);
    close(out);
    close(err);
    return rc;
}

static void defaults_are_in_effect_before_anything_is_loaded(void **state)
{
    cfg_t *c = *state;
    assert_string_equal(cfg_str(c, "unit_cfg_name"), "intake");
    assert_int_equal(cfg_int(c, "unit_cfg_port"), 8080);
    assert_false(cfg_bool(c, "unit_cfg_verbose"));
    assert_null(cfg_str(c, "unit_cfg_unset"));
    assert_int_equal(cfg_int(c, "unit_cfg_unset"), 0);
    assert_false(cfg_bool(c, "unit_cfg_unset"));
    assert_int_equal(cfg_int(c, "unit_cfg_neg"), -5);
}

static void set_string_replaces_value(void **state)
{
    cfg_t *c = *state;
    char err[256] = "";
    assert_true(cfg_set(c, "unit_cfg_name", "网格 intake", err, sizeof err));
    assert_string_equal(cfg_str(c, "unit_cfg_name"), "网格 intake");
    assert_true(cfg_set(c, "unit_cfg_unset", "now set", err, sizeof err));
    assert_string_equal(cfg_str(c, "unit_cfg_unset"), "now set");
}

static void set_int_accepts_range_bounds(void **state)
{
    cfg_t *c = *state;
    char err[256] = "";
    assert_true(cfg_set(c, "unit_cfg_port", "1", err, sizeof err));
    assert_int_equal(cfg_int(c, "unit_cfg_port"), 1);
    assert_true(cfg_set(c, "unit_cfg_port", "65535", err, sizeof err));
    assert_int_equal(cfg_int(c, "unit_cfg_port"), 65535);
    assert_true(cfg_set(c, "unit_cfg_neg", "-10", err, sizeof err));
    assert_int_equal(cfg_int(c, "unit_cfg_neg"), -10);
}

static void set_int_rejects_out_of_range_and_keeps_old_value(void **state)
{
    cfg_t *c = *state;
    char err[256] = "";
    assert_false(cfg_set(c, "unit_cfg_port", "0", err, sizeof err));
    assert_string_equal(err, "unit_cfg_port must be a whole number from 1 to 65535, got '0'");
    assert_false(cfg_set(c, "unit_cfg_port", "65536", err, sizeof err));
    assert_non_null(strstr(err, "got '65536'"));
    assert_false(cfg_set(c, "unit_cfg_neg", "-11", err, sizeof err));
    assert_non_null(strstr(err, "from -10 to 10"));
    assert_int_equal(cfg_int(c, "unit_cfg_port"), 8080);
    assert_int_equal(cfg_int(c, "unit_cfg_neg"), -5);
}

static void set_int_rejects_non_numbers(void **state)
{
    cfg_t *c = *state;
    char err[256] = "";
    const char *bad[] = {"", "abc", "80x", "8 0", "1.5", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (cfg_set(c, "unit_cfg_port", bad[i], err, sizeof err))
            fail_msg("'%s' was accepted as an int", bad[i]);
        assert_non_null(strstr(err, "must be a whole number"));
    }
    assert_int_equal(cfg_int(c, "unit_cfg_port"), 8080);
}

static void set_bool_accepts_all_spellings(void **state)
{
    cfg_t *c = *state;
    char err[256] = "";
    const char *yes[] = {"1", "true", "TRUE", "True", "yes", "YES", "on", "On"};
    const char *no[] = {"0", "false", "FALSE", "no", "No", "off", "OFF"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        assert_true(cfg_set(c, "unit_cfg_verbose", "false", err, sizeof err));
        if (!cfg_set(c, "unit_cfg_verbose", yes[i], err, sizeof err))
            fail_msg("'%s' rejected: %s", yes[i], err);
        if (!cfg_bool(c, "unit_cfg_verbose"))
            fail_msg("'%s' did not read as true", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        assert_true(cfg_set(c, "unit_cfg_verbose", "true", err, sizeof err));
        if (!cfg_set(c, "unit_cfg_verbose", no[i], err, sizeof err))
            fail_msg("'%s' rejected: %s", no[i], err);
        if (cfg_bool(c, "unit_cfg_verbose"))
            fail_msg("'%s' did not read as false", no[i]);
    }
}

static void set_bool_rejects_other_words(void **state)
{
    cfg_t *c = *state;
    char err[256] = "";
    const char *bad[] = {"", "2", "y", "n", "enable", "truee", " true"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cfg_set(c, "unit_cfg_verbose", bad[i], err, sizeof err))
            fail_msg("'%s' was accepted as a bool", bad[i]);
    }
    assert_false(cfg_set(c, "unit_cfg_verbose", "maybe", err, sizeof err));
    assert_string_equal(err, "unit_cfg_verbose must be true or false, got 'maybe'");
    assert_false(cfg_bool(c, "unit_cfg_verbose"));
}

static void set_unknown_key_names_it(void **state)
{
    cfg_t *c = *state;
    char err[256] = "";
    assert_false(cfg_set(c, "no_such_key", "1", err, sizeof err));
    assert_string_equal(err, "unknown configuration key 'no_such_key'");
}

static void load_file_skips_comments_and_blank_lines_and_trims(void **state)
{
    cfg_t *c = *state;
    char path[128], err[512] = "";
    temp_file(path, sizeof path,
              "# a comment\n"
              "\n"
              "   \t\n"
              "; another comment\n"
              "  unit_cfg_name   =   from file  \n"
              "unit_cfg_port=9090\n"
              "\t# indented comment\n"
              "unit_cfg_verbose = yes\n"
              "unit_cfg_unset = a=b=c\n");
    bool ok = cfg_load_file(c, path, err, sizeof err);
    unlink(path);
    assert_true(ok);
    assert_string_equal(cfg_str(c, "unit_cfg_name"), "from file");
    assert_int_equal(cfg_int(c, "unit_cfg_port"), 9090);
    assert_true(cfg_bool(c, "unit_cfg_verbose"));
    assert_string_equal(cfg_str(c, "unit_cfg_unset"), "a=b=c");
}

static void one_file_serves_every_program_by_section(void **state)
{
    cfg_t *c = *state;
    char path[128], err[512] = "";
    temp_file(path, sizeof path,
              "unit_cfg_name = shared\n"
              "[router]\n"
              "unit_cfg_port = 1111\n"
              "router_only_key = not ours\n"
              "[unit]\n"
              "unit_cfg_port = 2222\n"
              "[ intake ]\n"
              "unit_cfg_verbose = yes\n");
    cfg_set_section(c, "unit");
    bool ok = cfg_load_file(c, path, err, sizeof err);
    unlink(path);
    assert_true(ok); /* another program's keys are not "unknown" to us */
    assert_string_equal(cfg_str(c, "unit_cfg_name"), "shared");
    assert_int_equal(cfg_int(c, "unit_cfg_port"), 2222);
    assert_false(cfg_bool(c, "unit_cfg_verbose"));
}

static void unknown_key_in_our_own_section_fails(void **state)
{
    cfg_t *c = *state;
    char path[128], err[512] = "";
    temp_file(path, sizeof path, "[unit]\nno_such_key = 1\n[broken\n");
    cfg_set_section(c, "unit");
    bool ok = cfg_load_file(c, path, err, sizeof err);
    unlink(path);
    assert_false(ok);
    assert_non_null(strstr(err, ":2: unknown configuration key 'no_such_key'"));
}

static void load_file_line_without_equals_fails_with_file_and_line(void **state)
{
    cfg_t *c = *state;
    char path[128], err[512] = "", want[256];
    temp_file(path, sizeof path, "# header\nunit_cfg_port = 9000\n\nthis line is wrong\nunit_cfg_name = x\n");
    bool ok = cfg_load_file(c, path, err, sizeof err);
    unlink(path);
    assert_false(ok);
    snprintf(want, sizeof want, "%s:4: expected key = value", path);
    assert_string_equal(err, want);
    assert_string_equal(cfg_str(c, "unit_cfg_name"), "intake"); /* lines after the error are not applied */
}

static void load_file_unknown_key_fails_with_file_line_and_key(void **state)
{
    cfg_t *c = *state;
    char path[128], err[512] = "", want[256];
    temp_file(path, sizeof path, "unit_cfg_port = 9000\nbogus_key = 1\n");
    bool ok = cfg_load_file(c, path, err, sizeof err);
    unlink(path);
    assert_false(ok);
    snprintf(want, sizeof want, "%s:2: unknown configuration key 'bogus_key'", path);
    assert_string_equal(err, want);
}

static void load_file_bad_value_fails_with_file_and_line(void **state)
{
    cfg_t *c = *state;
    char path[128], err[512] = "", want[256];
    temp_file(path, sizeof path, "\n\nunit_cfg_port = lots\n");
    bool ok = cfg_load_file(c, path, err, sizeof err);
    unlink(path);
    assert_false(ok);
    snprintf(want, sizeof want, "%s:3: unit_cfg_port must be a whole number from 1 to 65535, got 'lots'", path);
    assert_string_equal(err, want);
    assert_int_equal(cfg_int(c, "unit_cfg_port"), 8080);
}

static void load_missing_file_fails_naming_it(void **state)
{
    cfg_t *c = *state;
    char err[512] = "";
    assert_false(cfg_load_file(c, "/nonexistent/gridgov.conf", err, sizeof err));
    assert_non_null(strstr(err, "cannot open config file /nonexistent/gridgov.conf"));
}

static void environment_overrides_file(void **state)
{
    cfg_t *c = *state;
    char path[128], err[512] = "";
    temp_file(path, sizeof path, "unit_cfg_port = 9090\nunit_cfg_name = file\n");
    setenv("GRIDGOV_UNIT_CFG_PORT", "7070", 1);
    bool ok = cfg_load_file(c, path, err, sizeof err);
    unlink(path);
    assert_true(ok);
    assert_true(cfg_load_env(c, err, sizeof err));
    assert_int_equal(cfg_int(c, "unit_cfg_port"), 7070);
    assert_string_equal(cfg_str(c, "unit_cfg_name"), "file"); /* no env: the file stays */
}

static void environment_bad_value_is_an_error(void **state)
{
    cfg_t *c = *state;
    char err[512] = "";
    setenv("GRIDGOV_UNIT_CFG_VERBOSE", "perhaps", 1);
    assert_false(cfg_load_env(c, err, sizeof err));
    assert_string_equal(err, "unit_cfg_verbose must be true or false, got 'perhaps'");
}

static void from_args_environment_beats_file_and_set_beats_both(void **state)
{
    cfg_t *c = *state;
    char path[128];
    temp_file(path, sizeof path, "unit_cfg_port = 9090\nunit_cfg_name = file\nunit_cfg_neg = 3\n");
    setenv("GRIDGOV_UNIT_CFG_PORT", "7070", 1);
    setenv("GRIDGOV_UNIT_CFG_NAME", "env", 1);
    char *argv[] = {"unit", "--config", path, "--set", "unit_cfg_name=cli", NULL};
    int rest = -1;
    int rc = from_args(c, 5, argv, &rest);
    unlink(path);
    assert_int_equal(rc, 0);
    assert_int_equal(rest, 5);
    assert_int_equal(cfg_int(c, "unit_cfg_neg"), 3);     /* file */
    assert_int_equal(cfg_int(c, "unit_cfg_port"), 7070); /* env beats file */
    assert_string_equal(cfg_str(c, "unit_cfg_name"), "cli"); /* --set beats env */
}

static void from_args_reads_config_path_from_environment(void **state)
{
    cfg_t *c = *state;
    char path[128];
    temp_file(path, sizeof path, "unit_cfg_neg = 7\n");
    setenv("GRIDGOV_CONFIG", path, 1);
    char *argv[] = {"unit", NULL};
    int rc = from_args(c, 1, argv, NULL);
    unlink(path);
    assert_int_equal(rc, 0);
    assert_int_equal(cfg_int(c, "unit_cfg_neg"), 7);
}

static void from_args_help_asks_to_exit(void **state)
{
    cfg_t *c = *state;
    char *argv[] = {"unit", "--help", NULL};
    assert_int_equal(from_args(c, 2, argv, NULL), 1);
    char *argv2[] = {"unit", "-h", NULL};
    assert_int_equal(from_args(c, 2, argv2, NULL), 1);
}

/* The value of --set is not a positional argument: options after it still count. */
static void from_args_help_after_set_asks_to_exit(void **state)
{
    cfg_t *c = *state;
    char *argv[] = {"unit", "--set", "unit_cfg_port=1", "--help", NULL};
    assert_int_equal(from_args(c, 4, argv, NULL), 1);
    char *argv2[] = {"unit", "--set", "unit_cfg_port=1", "--version", NULL};
    assert_int_equal(from_args(c, 4, argv2, NULL), 1);
}

static void from_args_config_after_set_is_loaded(void **state)
{
    cfg_t *c = *state;
    char path[128];
    temp_file(path, sizeof path, "unit_cfg_neg = 4\nunit_cfg_port = 9090\n");
    char *argv[] = {"unit", "--set", "unit_cfg_port=1234", "--config", path, "run", NULL};
    int rest = -1;
    int rc = from_args(c, 6, argv, &rest);
    unlink(path);
    assert_int_equal(rc, 0);
    assert_int_equal(rest, 5);
    assert_int_equal(cfg_int(c, "unit_cfg_neg"), 4);     /* the file was read */
    assert_int_equal(cfg_int(c, "unit_cfg_port"), 1234); /* and --set still wins */
}

static void from_args_help_prints_keys_and_env_names(void **state)
{
    cfg_t *c = *state;
    char path[128];
    temp_file(path, sizeof path, "");
    fflush(stdout);
    int out = dup(1);
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(out >= 0 && fd >= 0);
    dup2(fd, 1);
    close(fd);
    char *argv[] = {"unit", "--help", NULL};
    int rc = cfg_from_args(c, "unit", "unit test", 2, argv, NULL);
    fflush(stdout);
    dup2(out, 1);
    close(out);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(text, "Usage: unit"));
    assert_non_null(strstr(text, "unit_cfg_port"));
    assert_non_null(strstr(text, "GRIDGOV_UNIT_CFG_PORT"));
    assert_non_null(strstr(text, "[8080]"));
}

static void from_args_version_asks_to_exit(void **state)
{
    cfg_t *c = *state;
    char *argv[] = {"unit", "--version", NULL};
    assert_int_equal(from_args(c, 2, argv, NULL), 1);
}

static void from_args_set_applies_value(void **state)
{
    cfg_t *c = *state;
    char *argv[] = {"unit", "--set", "unit_cfg_port=1234", "--set", "unit_cfg_verbose=on", "--set",
                    "unit_cfg_name=a=b", NULL};
    int rest = -1;
    assert_int_equal(from_args(c, 7, argv, &rest), 0);
    assert_int_equal(rest, 7);
    assert_int_equal(cfg_int(c, "unit_cfg_port"), 1234);
    assert_true(cfg_bool(c, "unit_cfg_verbose"));
    assert_string_equal(cfg_str(c, "unit_cfg_name"), "a=b");
}

static void from_args_set_without_equals_is_usage_error(void **state)
{
    cfg_t *c = *state;
    char *argv[] = {"unit", "--set", "unit_cfg_port", NULL};
    assert_int_equal(from_args(c, 3, argv, NULL), -1);
    char *argv2[] = {"unit", "--set", NULL};
    assert_int_equal(from_args(c, 2, argv2, NULL), -1);
    assert_int_equal(cfg_int(c, "unit_cfg_port"), 8080);
}

static void from_args_set_bad_value_or_key_is_usage_error(void **state)
{
    cfg_t *c = *state;
    char *argv[] = {"unit", "--set", "unit_cfg_port=0", NULL};
    assert_int_equal(from_args(c, 3, argv, NULL), -1);
    char *argv2[] = {"unit", "--set", "nope=1", NULL};
    assert_int_equal(from_args(c, 3, argv2, NULL), -1);
}

static void from_args_unknown_option_is_usage_error(void **state)
{
    cfg_t *c = *state;
    char *argv[] = {"unit", "--frobnicate", NULL};
    assert_int_equal(from_args(c, 2, argv, NULL), -1);
}

static void from_args_config_without_file_is_usage_error(void **state)
{
    cfg_t *c = *state;
    char *argv[] = {"unit", "--config", NULL};
    assert_int_equal(from_args(c, 2, argv, NULL), -1);
}

static void from_args_bad_config_file_is_usage_error(void **state)
{
    cfg_t *c = *state;
    char *argv[] = {"unit", "--config", "/nonexistent/gridgov.conf", NULL};
    assert_int_equal(from_args(c, 3, argv, NULL), -1);
}

static void from_args_options_stop_at_first_positional(void **state)
{
    cfg_t *c = *state;
    char *argv[] = {"unit", "--set", "unit_cfg_port=1111", "migrate", "--set", "unit_cfg_port=2222", "--bogus", NULL};
    int rest = -1;
    assert_int_equal(from_args(c, 7, argv, &rest), 0);
    assert_int_equal(rest, 3);
    assert_string_equal(argv[rest], "migrate");
    assert_int_equal(cfg_int(c, "unit_cfg_port"), 1111); /* the subcommand's --set is not ours */
}

static void from_args_with_no_arguments_rests_at_argc(void **state)
{
    cfg_t *c = *state;
    char *argv[] = {"unit", NULL};
    int rest = -1;
    assert_int_equal(from_args(c, 1, argv, &rest), 0);
    assert_int_equal(rest, 1);
    char *argv2[] = {"unit", "seed", NULL};
    assert_int_equal(from_args(c, 2, argv2, &rest), 0);
    assert_int_equal(rest, 1);
}

static void destroy_twice_is_safe(void **state)
{
    (void)state;
    cfg_t *c = cfg_new(KEYS, NKEYS);
    char err[64];
    assert_true(cfg_set(c, "unit_cfg_name", "x", err, sizeof err));
    cfg_destroy(&c);
    assert_null(c);
    cfg_destroy(&c);
    assert_null(c);
    cfg_destroy(NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(one_file_serves_every_program_by_section),
        T(unknown_key_in_our_own_section_fails),
        T(defaults_are_in_effect_before_anything_is_loaded),
        T(set_string_replaces_value),
        T(set_int_accepts_range_bounds),
        T(set_int_rejects_out_of_range_and_keeps_old_value),
        T(set_int_rejects_non_numbers),
        T(set_bool_accepts_all_spellings),
        T(set_bool_rejects_other_words),
        T(set_unknown_key_names_it),
        T(load_file_skips_comments_and_blank_lines_and_trims),
        T(load_file_line_without_equals_fails_with_file_and_line),
        T(load_file_unknown_key_fails_with_file_line_and_key),
        T(load_file_bad_value_fails_with_file_and_line),
        T(load_missing_file_fails_naming_it),
        T(environment_overrides_file),
        T(environment_bad_value_is_an_error),
        T(from_args_environment_beats_file_and_set_beats_both),
        T(from_args_reads_config_path_from_environment),
        T(from_args_help_asks_to_exit),
        T(from_args_help_after_set_asks_to_exit),
        T(from_args_config_after_set_is_loaded),
        T(from_args_help_prints_keys_and_env_names),
        T(from_args_version_asks_to_exit),
        T(from_args_set_applies_value),
        T(from_args_set_without_equals_is_usage_error),
        T(from_args_set_bad_value_or_key_is_usage_error),
        T(from_args_unknown_option_is_usage_error),
        T(from_args_config_without_file_is_usage_error),
        T(from_args_bad_config_file_is_usage_error),
        T(from_args_options_stop_at_first_positional),
        T(from_args_with_no_arguments_rests_at_argc),
        T(destroy_twice_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
