/* wx_xml, the bounded reader of WeChat's XML: what it takes (CDATA, plain text, nesting, a leading
 * declaration, newlines kept) and everything else it refuses with a reason (entities, DOCTYPE,
 * comments, attributes, duplicates, truncation, excess size, depth or count, non-UTF-8). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wx_xml.h"

static void takes_what_wechat_sends(void **state)
{
    (void)state;
    const char *x = "<?xml version=\"1.0\"?>\n<xml><ToUserName><![CDATA[gh_1]]></ToUserName>\n"
                    "<CreateTime>1348831860</CreateTime><Content><![CDATA[a]]b\n<not a tag>]]></Content>"
                    "<Split><![CDATA[x]]]]><![CDATA[>y]]></Split>"
                    "<SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum><![CDATA[abc]]></PicMd5Sum></item></PicList>"
                    "</SendPicsInfo><Empty></Empty></xml>\n";
    wxx_doc_t d;
    char err[200];
    if (!wxx_parse(x, strlen(x), &d, err, sizeof err))
        fail_msg("%s", err);
    assert_string_equal(wxx_get(&d, "ToUserName"), "gh_1");
    assert_string_equal(wxx_get(&d, "CreateTime"), "1348831860");
    assert_string_equal(wxx_get(&d, "Content"), "a]]b\n<not a tag>");
    assert_string_equal(wxx_get(&d, "Split"), "x]]>y");
    assert_string_equal(wxx_get(&d, "Empty"), "");
    assert_string_equal(wxx_get(&d, "SendPicsInfo"), "");
    assert_null(wxx_get(&d, "PicMd5Sum")); /* nested: not a child of <xml> */
    assert_null(wxx_get(&d, "Missing"));
    wxx_free(&d);
}

static void refuses_everything_else(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"<!DOCTYPE xml [<!ENTITY e \"x\">]><xml><A>&e;</A></xml>", "DOCTYPE"},
        {"<xml><A>&amp;</A></xml>", "entity"},
        {"<xml><A>&#60;</A></xml>", "entity"},
        {"<xml><!-- c --><A>1</A></xml>", "DOCTYPE, ENTITY or comment"},
        {"<xml><A><?pi x?></A></xml>", "processing instruction"},
        {"<xml><A x=\"1\">1</A></xml>", "attributes"},
        {"<xml><A>1</A><A>2</A></xml>", "twice"},
        {"<xml><A>1</A>", "truncated"},
        {"<xml><A><![CDATA[1</A></xml>", "truncated CDATA"},
        {"<xml><A>1</B></xml>", "closes"},
        {"<xml><A>1</A></xml>trailing", "after </xml>"},
        {"<root><A>1</A></root>", "not <xml>"},
        {"<xml><A>1<B>2</B></A></xml>", "mixes"},
        {"<xml><A>a>b</A></xml>", "stray"},
        {"<xml><a1><a2><a3><a4><a5>deep</a5></a4></a3></a2></a1></xml>", "deeper"},
        {"", "expected a tag"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wxx_doc_t d;
        char err[200] = "";
        if (wxx_parse(bad[i][0], strlen(bad[i][0]), &d, err, sizeof err))
            fail_msg("accepted %s", bad[i][0]);
        if (!strstr(err, bad[i][1]))
            fail_msg("%s: the reason \"%s\" does not say \"%s\"", bad[i][0], err, bad[i][1]);
        wxx_free(&d);
    }
    /* not UTF-8, a NUL byte */
    const char inv[] = "<xml><A>\xc3\x28</A></xml>", nul[] = "<xml><A>a\0b</A></xml>";
    wxx_doc_t d;
    char err[200];
    assert_false(wxx_parse(inv, sizeof inv - 1, &d, err, sizeof err));
    wxx_free(&d);
    assert_false(wxx_parse(nul, sizeof nul - 1, &d, err, sizeof err));
    wxx_free(&d);
}

static void bounded_in_size_and_count(void **state)
{
    (void)state;
    char *big = malloc(WXX_MAX_BODY + 64);
    size_t n = (size_t)snprintf(big, 64, "<xml><A><![CDATA[");
    while (n < WXX_MAX_BODY + 1)
        big[n++] = 'x';
    memcpy(big + n, "]]></A></xml>", 14);
    wxx_doc_t d;
    char err[200];
    assert_false(wxx_parse(big, strlen(big), &d, err, sizeof err));
    assert_non_null(strstr(err, "larger"));
    wxx_free(&d);
    free(big);
    char many[4096];
    n = (size_t)snprintf(many, sizeof many, "<xml>");
    for (int i = 0; i <= WXX_MAX_FIELDS; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "<F%d>1</F%d>", i, i);
    snprintf(many + n, sizeof many - n, "</xml>");
    assert_false(wxx_parse(many, strlen(many), &d, err, sizeof err));
    assert_non_null(strstr(err, "more than"));
    wxx_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(takes_what_wechat_sends),
        cmocka_unit_test(refuses_everything_else),
        cmocka_unit_test(bounded_in_size_and_count),
    };
    return cmocka_run_group_tests_name("wx_xml", tests, NULL, NULL);
}
