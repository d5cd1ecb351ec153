#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

/* ---- capturing stderr ------------------------------------------------------------------- */

typedef struct {
    char path[128];
    int saved;
} capture_t;

static void capture_begin(capture_t *c)
{
    snprintf(c->path, sizeof c->path, "/tmp/gridgov_test_log_%d_XXXXXX", (int)getpid());
    int fd = mkstemp(c->path);
    assert_true(fd >= 0);
    fflush(stderr);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

/* Restores stderr and returns what was written (caller frees). */
static char *capture_end(capture_t *c)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    FILE *f = fopen(c->path, "rb");
    assert_non_null(f);
    buf_t b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    unlink(c->path);
    return buf_detach(&b);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Parses one complete line (must end with exactly one newline) as a JSON object. */
static json_t *parse_line(const char *text)
{
    size_t len = strlen(text);
    assert_true(len > 0);
    assert_int_equal(text[len - 1], '\n');
    assert_int_equal(count_lines(text), 1);
    json_error_t je;
    json_t *o = json_loadb(text, len - 1, 0, &je);
    if (!o)
        fail_msg("log line is not JSON (%s at %d): %s", je.text, je.position, text);
    assert_true(json_is_object(o));
    return o;
}

static int reset_log(void **state)
{
    (void)state;
    log_init("unit", LOG_INFO);
    return 0;
}

/* ---- log_mask_phone --------------------------------------------------------------------- */

static void mask_phone_keeps_first_three_and_last_four_digits(void **state)
{
    (void)state;
    char out[32];
    assert_string_equal(log_mask_phone("13812340000", out, sizeof out), "138****0000");
    assert_ptr_equal(log_mask_phone("13812340000", out, sizeof out), out);
    assert_string_equal(log_mask_phone("1234567", out, sizeof out), "123****4567");
}

static void mask_phone_masks_short_numbers_whole(void **state)
{
    (void)state;
    char out[32];
    assert_string_equal(log_mask_phone("123456", out, sizeof out), "****");
    assert_string_equal(log_mask_phone("1", out, sizeof out), "****");
    assert_string_equal(log_mask_phone("", out, sizeof out), "****");
}

static void mask_phone_masks_non_digits_whole(void **state)
{
    (void)state;
    char out[32];
    assert_string_equal(log_mask_phone("+8613812340000", out, sizeof out), "****");
    assert_string_equal(log_mask_phone("138-1234-0000", out, sizeof out), "****");
    assert_string_equal(log_mask_phone("1381234000a", out, sizeof out), "****");
    assert_string_equal(log_mask_phone("一三八一二三四〇〇〇〇", out, sizeof out), "****");
}

static void mask_phone_masks_very_long_digit_strings_whole(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(log_mask_phone("12345678901234567890123456789012345", out, sizeof out), "****");
}

static void mask_phone_of_null_is_masked(void **state)
{
    (void)state;
    char out[32] = "untouched";
    assert_string_equal(log_mask_phone(NULL, out, sizeof out), "****");
}

static void mask_phone_respects_output_size(void **state)
{
    (void)state;
    char out[6];
    memset(out, 'x', sizeof out);
    log_mask_phone("13812340000", out, sizeof out);
    assert_string_equal(out, "138**");
}

/* ---- log_mask_phones -------------------------------------------------------------------- */

static void mask_phones_masks_every_mobile_number_in_text(void **state)
{
    (void)state;
    char t[] = "居民13812340000报修，另一个 15900001111; phone=19912345678&x, \"18600002222\", +8613700003333.";
    assert_int_equal(log_mask_phones(t), 5);
    assert_string_equal(t, "居民138****0000报修，另一个 159****1111; phone=199****5678&x, \"186****2222\", +86137****3333.");
}

static void mask_phones_leaves_numbers_that_are_no_phones(void **state)
{
    (void)state;
    /* a ticket code (13 digits), epoch seconds and microseconds, a longitude's fraction, a uuid
     * whose last group has 11 digits, 12345678901 (no 1[3-9]), a landline, 10 and 12 digits */
    const char *keep = "2611290000001 1764400000 1764400000123456 113.13812340000 "
                       "5e1f7e57-0000-4000-8000-a13812340000 12345678901 0731-84011234 1381234000 138123400001";
    char t[256];
    snprintf(t, sizeof t, "%s", keep);
    assert_int_equal(log_mask_phones(t), 0);
    assert_string_equal(t, keep);
    char e[] = "";
    assert_int_equal(log_mask_phones(e), 0);
}

static void write_masks_a_phone_in_any_message(void **state)
{
    (void)state;
    capture_t c;
    capture_begin(&c);
    log_warn("ticket not stored: value \"%s\" of reporter %s", "13812340000", "13900004444");
    char *text = capture_end(&c);
    json_t *o = parse_line(text);
    assert_string_equal(json_string_value(json_object_get(o, "msg")),
                        "ticket not stored: value \"138****0000\" of reporter 139****4444");
    assert_null(strstr(text, "13812340000"));
    json_decref(o);
    free(text);
}

/* ---- log_level_parse -------------------------------------------------------------------- */

static void level_parse_accepts_the_four_names(void **state)
{
    (void)state;
    log_level_t l = LOG_ERROR;
    assert_true(log_level_parse("debug", &l));
    assert_int_equal(l, LOG_DEBUG);
    assert_true(log_level_parse("info", &l));
    assert_int_equal(l, LOG_INFO);
    assert_true(log_level_parse("warn", &l));
    assert_int_equal(l, LOG_WARN);
    assert_true(log_level_parse("error", &l));
    assert_int_equal(l, LOG_ERROR);
}

static void level_parse_rejects_others_and_leaves_output(void **state)
{
    (void)state;
    log_level_t l = LOG_WARN;
    const char *bad[] = {"", "DEBUG", "Info", "warning", "err", "fatal", "info "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (log_level_parse(bad[i], &l))
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(l, LOG_WARN);
    }
}

/* ---- log_write -------------------------------------------------------------------------- */

static void write_emits_one_json_line_with_ts_level_svc_msg(void **state)
{
    (void)state;
    log_init("intake", LOG_DEBUG);
    capture_t c;
    capture_begin(&c);
    log_info("listening on :%d", 8080);
    char *text = capture_end(&c);
    json_t *o = parse_line(text);
    assert_int_equal(json_object_size(o), 4);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "svc")), "intake");
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "listening on :8080");
    /* keys in the documented order */
    assert_true(strncmp(text, "{\"ts\":\"", 7) == 0);
    assert_true(strstr(text, "\"level\"") < strstr(text, "\"svc\""));
    assert_true(strstr(text, "\"svc\"") < strstr(text, "\"msg\""));
    json_decref(o);
    free(text);
}

static void write_timestamp_is_utc_with_milliseconds_and_current(void **state)
{
    (void)state;
    capture_t c;
    time_t before = time(NULL);
    capture_begin(&c);
    log_warn("tick");
    char *text = capture_end(&c);
    time_t after = time(NULL);
    json_t *o = parse_line(text);
    const char *ts = json_string_value(json_object_get(o, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 24); /* YYYY-MM-DDTHH:MM:SS.mmmZ */
    int Y, M, D, h, m, s, ms;
    char z = 0;
    assert_int_equal(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &Y, &M, &D, &h, &m, &s, &ms, &z), 8);
    assert_int_equal(z, 'Z');
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = s};
    time_t t = timegm(&tm);
    assert_true(t >= before && t <= after);
    assert_in_range(ms, 0, 999);
    json_decref(o);
    free(text);
}

static void write_names_each_level(void **state)
{
    (void)state;
    log_init("unit", LOG_DEBUG);
    const char *names[] = {"debug", "info", "warn", "error"};
    for (int lv = LOG_DEBUG; lv <= LOG_ERROR; lv++) {
        capture_t c;
        capture_begin(&c);
        log_write((log_level_t)lv, "level %d", lv);
        char *text = capture_end(&c);
        json_t *o = parse_line(text);
        assert_string_equal(json_string_value(json_object_get(o, "level")), names[lv]);
        json_decref(o);
        free(text);
    }
}

static void write_escapes_quotes_backslashes_and_newlines(void **state)
{
    (void)state;
    const char *msg = "he said \"stop\"\\path\nsecond line\r\ttab";
    capture_t c;
    capture_begin(&c);
    log_error("%s", msg);
    char *text = capture_end(&c);
    json_t *o = parse_line(text); /* one line: the newline in msg did not break it */
    assert_string_equal(json_string_value(json_object_get(o, "msg")), msg);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "error");
    assert_non_null(strstr(text, "\\\"stop\\\""));
    assert_non_null(strstr(text, "\\n"));
    json_decref(o);
    free(text);
}

static void write_escapes_other_control_characters(void **state)
{
    (void)state;
    const char *msg = "bell\x07 esc\x1b unit\x1f del\x7f";
    capture_t c;
    capture_begin(&c);
    log_info("%s", msg);
    char *text = capture_end(&c);
    json_t *o = parse_line(text);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), msg);
    assert_non_null(strstr(text, "\\u0007"));
    assert_non_null(strstr(text, "\\u001b"));
    json_decref(o);
    free(text);
}

static void write_keeps_chinese_text(void **state)
{
    (void)state;
    const char *msg = "工单已受理：路灯不亮（九木村安全组12号）";
    capture_t c;
    capture_begin(&c);
    log_info("%s", msg);
    char *text = capture_end(&c);
    json_t *o = parse_line(text);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), msg);
    assert_non_null(strstr(text, msg)); /* UTF-8 passes through, not \u-escaped */
    json_decref(o);
    free(text);
}

static void write_escapes_service_name(void **state)
{
    (void)state;
    log_init("svc \"q\"\n网格", LOG_INFO);
    capture_t c;
    capture_begin(&c);
    log_info("x");
    char *text = capture_end(&c);
    json_t *o = parse_line(text);
    assert_string_equal(json_string_value(json_object_get(o, "svc")), "svc \"q\"\n网格");
    json_decref(o);
    free(text);
}

static void write_long_message_is_truncated_but_stays_valid_json(void **state)
{
    (void)state;
    buf_t m = BUF_INIT;
    for (int i = 0; i < 700; i++)
        buf_puts(&m, "\"路"); /* 4 bytes each: 2800 bytes, longer than a line may carry */
    capture_t c;
    capture_begin(&c);
    log_info("%s", buf_str(&m));
    char *text = capture_end(&c);
    json_t *o = parse_line(text);
    const char *got = json_string_value(json_object_get(o, "msg"));
    assert_non_null(got);
    assert_true(strlen(got) > 1000);
    assert_true(strlen(got) < m.len);
    assert_memory_equal(got, buf_str(&m), strlen(got)); /* a prefix of what was logged */
    json_decref(o);
    free(text);
    buf_free(&m);
}

static void write_below_minimum_level_writes_nothing(void **state)
{
    (void)state;
    log_init("unit", LOG_WARN);
    capture_t c;
    capture_begin(&c);
    log_debug("hidden debug");
    log_info("hidden info");
    log_warn("shown warn");
    log_error("shown error");
    char *text = capture_end(&c);
    assert_int_equal(count_lines(text), 2);
    assert_null(strstr(text, "hidden"));
    char *nl = strchr(text, '\n');
    json_t *a = json_loadb(text, (size_t)(nl - text), 0, NULL);
    json_t *b = json_loads(nl + 1, 0, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(a, "msg")), "shown warn");
    assert_string_equal(json_string_value(json_object_get(b, "msg")), "shown error");
    json_decref(a);
    json_decref(b);
    free(text);
}

static void write_at_error_minimum_drops_everything_else(void **state)
{
    (void)state;
    log_init("unit", LOG_ERROR);
    capture_t c;
    capture_begin(&c);
    log_debug("a");
    log_info("b");
    log_warn("c");
    char *text = capture_end(&c);
    assert_string_equal(text, "");
    free(text);
}

#define T(f) cmocka_unit_test_setup_teardown(f, reset_log, reset_log)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(mask_phone_keeps_first_three_and_last_four_digits),
        T(mask_phone_masks_short_numbers_whole),
        T(mask_phone_masks_non_digits_whole),
        T(mask_phone_masks_very_long_digit_strings_whole),
        T(mask_phone_of_null_is_masked),
        T(mask_phone_respects_output_size),
        T(mask_phones_masks_every_mobile_number_in_text),
        T(mask_phones_leaves_numbers_that_are_no_phones),
        T(write_masks_a_phone_in_any_message),
        T(level_parse_accepts_the_four_names),
        T(level_parse_rejects_others_and_leaves_output),
        T(write_emits_one_json_line_with_ts_level_svc_msg),
        T(write_timestamp_is_utc_with_milliseconds_and_current),
        T(write_names_each_level),
        T(write_escapes_quotes_backslashes_and_newlines),
        T(write_escapes_other_control_characters),
        T(write_keeps_chinese_text),
        T(write_escapes_service_name),
        T(write_long_message_is_truncated_but_stays_valid_json),
        T(write_below_minimum_level_writes_nothing),
        T(write_at_error_minimum_drops_everything_else),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
