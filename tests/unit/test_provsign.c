/* common/provsign against the Aliyun RPC and Tencent TC3 vectors in
 * tests/vectors/provider-vectors.json, read at test time; and what must change the signature. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provsign.h"
#include "vectors.h"

/* The vector's params as ps_param_t, in the file's order or reversed. */
static ps_param_t *aliyun_params(const json_t *v, bool reversed, size_t *n)
{
    json_t *p = h_vobject(v, "params");
    *n = json_object_size(p);
    ps_param_t *out = calloc(*n + 1, sizeof *out);
    size_t i = 0;
    const char *k;
    json_t *val;
    json_object_foreach(p, k, val) {
        size_t at = reversed ? *n - 1 - i : i;
        out[at].name = k;
        out[at].value = json_string_value(val);
        assert_non_null(out[at].value);
        i++;
    }
    return out;
}

static void aliyun_signature_is_the_published_one(void **state)
{
    (void)state;
    json_t *v = h_vobject(h_vectors(), "aliyun_rpc_signature");
    const char *method = h_vstr(v, "method"), *secret = h_vstr(v, "access_key_secret");
    const char *want = h_vstr(v, "signature");
    size_t n;
    for (int rev = 0; rev <= 1; rev++) {
        ps_param_t *p = aliyun_params(v, rev, &n);
        assert_int_equal(n, 14);
        char *sig = ps_aliyun_signature(method, secret, p, n);
        assert_string_equal(sig, want);
        free(sig);
        /* a received Signature parameter is not part of what is signed */
        p[n].name = "Signature";
        p[n].value = want;
        sig = ps_aliyun_signature(method, secret, p, n + 1);
        assert_string_equal(sig, want);
        free(sig);
        free(p);
    }
}

static void aliyun_signature_changes_with_every_input(void **state)
{
    (void)state;
    json_t *v = h_vobject(h_vectors(), "aliyun_rpc_signature");
    const char *want = h_vstr(v, "signature");
    size_t n;
    ps_param_t *p = aliyun_params(v, false, &n);
    char *sig = ps_aliyun_signature("POST", h_vstr(v, "access_key_secret"), p, n);
    assert_string_not_equal(sig, want);
    free(sig);
    sig = ps_aliyun_signature(h_vstr(v, "method"), "testSecreT", p, n);
    assert_string_not_equal(sig, want);
    free(sig);
    for (size_t i = 0; i < n; i++) {
        const char *keep = p[i].value;
        p[i].value = "15300000002";
        sig = ps_aliyun_signature(h_vstr(v, "method"), h_vstr(v, "access_key_secret"), p, n);
        assert_string_not_equal(sig, want);
        free(sig);
        p[i].value = keep;
    }
    /* one parameter fewer */
    sig = ps_aliyun_signature(h_vstr(v, "method"), h_vstr(v, "access_key_secret"), p + 1, n - 1);
    assert_string_not_equal(sig, want);
    free(sig);
    free(p);
}

static void aliyun_encoding_is_rfc3986(void **state)
{
    (void)state;
    struct {
        const char *in, *out;
    } cases[] = {
        {"AZaz09-_.~", "AZaz09-_.~"},
        {"a b", "a%20b"},
        {"*", "%2A"},
        {"+", "%2B"},
        {"/", "%2F"},
        {"=&", "%3D%26"},
        {"{\"customer\":\"test\"}", "%7B%22customer%22%3A%22test%22%7D"},
        {"阿", "%E9%98%BF"},
        {"2017-07-12T02:42:19Z", "2017-07-12T02%3A42%3A19Z"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *e = ps_aliyun_encode(cases[i].in);
        assert_string_equal(e, cases[i].out);
        free(e);
    }
}

static void aliyun_canonical_query_is_sorted_by_name(void **state)
{
    (void)state;
    ps_param_t p[] = {{"b", "2"}, {"A", "x y"}, {"a", "1"}, {"Signature", "dropped"}, {"aa", NULL}};
    char *q = ps_aliyun_canonical(p, 5);
    assert_string_equal(q, "A=x%20y&a=1&aa=&b=2");
    free(q);
    q = ps_aliyun_canonical(NULL, 0);
    assert_string_equal(q, "");
    free(q);
}

static void tc3_hashes_and_signature_are_the_published_ones(void **state)
{
    (void)state;
    json_t *v = h_vobject(h_vectors(), "tencent_tc3_signature");
    const char *payload = h_vstr(v, "payload"), *host = h_vstr(v, "host"), *ct = h_vstr(v, "content_type");
    json_int_t ts = json_integer_value(json_object_get(v, "timestamp"));
    assert_true(ts > 0);
    char hashed[65];
    ps_sha256_hex(payload, strlen(payload), hashed);
    assert_string_equal(hashed, h_vstr(v, "hashed_payload"));
    char *canonical = ps_tc3_canonical_request(host, ct, payload, strlen(payload));
    ps_sha256_hex(canonical, strlen(canonical), hashed);
    assert_string_equal(hashed, h_vstr(v, "hashed_canonical_request"));
    free(canonical);
    char date[11];
    assert_true(ps_tc3_date(ts, date));
    assert_string_equal(date, h_vstr(v, "date"));
    char *sig = ps_tc3_signature(h_vstr(v, "secret_key"), h_vstr(v, "service"), host, ct, payload, strlen(payload), ts);
    assert_string_equal(sig, h_vstr(v, "signature"));

    char *auth = ps_tc3_authorization("AKIDEXAMPLE", h_vstr(v, "secret_key"), h_vstr(v, "service"), host, ct, payload,
                                      strlen(payload), ts);
    char want[512];
    snprintf(want, sizeof want,
             "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/%s/%s/tc3_request, SignedHeaders=content-type;host, Signature=%s",
             h_vstr(v, "date"), h_vstr(v, "service"), sig);
    assert_string_equal(auth, want);
    free(auth);
    free(sig);
}

static void tc3_signature_changes_with_every_input(void **state)
{
    (void)state;
    json_t *v = h_vobject(h_vectors(), "tencent_tc3_signature");
    const char *payload = h_vstr(v, "payload"), *host = h_vstr(v, "host"), *ct = h_vstr(v, "content_type");
    const char *key = h_vstr(v, "secret_key"), *svc = h_vstr(v, "service"), *want = h_vstr(v, "signature");
    int64_t ts = json_integer_value(json_object_get(v, "timestamp"));
    size_t len = strlen(payload);
    char *s[] = {
        ps_tc3_signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLf", svc, host, ct, payload, len, ts),
        ps_tc3_signature(key, "sms", host, ct, payload, len, ts),
        ps_tc3_signature(key, svc, "sms.tencentcloudapi.com", ct, payload, len, ts),
        ps_tc3_signature(key, svc, host, "application/json", payload, len, ts),
        ps_tc3_signature(key, svc, host, ct, payload, len - 1, ts),
        ps_tc3_signature(key, svc, host, ct, payload, len, ts + 1),
        ps_tc3_signature(key, svc, host, ct, payload, len, ts + 86400), /* another date too */
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        assert_non_null(s[i]);
        assert_int_equal(strlen(s[i]), 64);
        assert_string_not_equal(s[i], want);
        free(s[i]);
    }
}

static void tc3_date_is_utc_and_bounded(void **state)
{
    (void)state;
    char d[11] = "unchanged";
    assert_true(ps_tc3_date(0, d));
    assert_string_equal(d, "1970-01-01");
    /* 2019-02-25 23:59:59 UTC is 2019-02-26 07:59:59 in China: still the 25th */
    assert_true(ps_tc3_date(1551139199, d));
    assert_string_equal(d, "2019-02-25");
    assert_true(ps_tc3_date(1551139200, d));
    assert_string_equal(d, "2019-02-26");
    assert_false(ps_tc3_date(INT64_MAX, d));
    assert_null(ps_tc3_signature("k", "sms", "h", "ct", "", 0, INT64_MAX));
    assert_null(ps_tc3_authorization("id", "k", "sms", "h", "ct", "", 0, INT64_MAX));
}

static void sha256_of_nothing_is_the_known_one(void **state)
{
    (void)state;
    char h[65];
    ps_sha256_hex("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ps_sha256_hex(NULL, 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ps_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(aliyun_signature_is_the_published_one),
        cmocka_unit_test(aliyun_signature_changes_with_every_input),
        cmocka_unit_test(aliyun_encoding_is_rfc3986),
        cmocka_unit_test(aliyun_canonical_query_is_sorted_by_name),
        cmocka_unit_test(tc3_hashes_and_signature_are_the_published_ones),
        cmocka_unit_test(tc3_signature_changes_with_every_input),
        cmocka_unit_test(tc3_date_is_utc_and_bounded),
        cmocka_unit_test(sha256_of_nothing_is_the_known_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
