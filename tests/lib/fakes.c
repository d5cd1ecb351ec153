#include "fakes.h"

#include "buf.h"
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The port the fake wrote to port_file once it listens, or 0 when it has not (yet). */
static int read_port_file(const char *path)
{
    FILE *pf = fopen(path, "r");
    int port = 0;
    if (pf) {
        if (fscanf(pf, "%d", &port) != 1)
            port = 0;
        fclose(pf);
    }
    return port;
}

static bool healthy(const h_fake_t *f)
{
    json_t *h = h_fake_get(f, "/_fake/health");
    bool ok = h && json_is_true(json_object_get(h, "ok"));
    json_decref(h);
    return ok;
}

void h_fake_start(h_fake_t *f, int port, const char *config_path, const char *clock_file)
{
    static int started;
    memset(f, 0, sizeof *f);
    const char *top = h_env("GRIDGOV_TOP"), *var = h_env("GRIDGOV_TEST_VAR");
    const char *py = getenv("GRIDGOV_PYTHON");
    char script[1100], config[1100], port_s[16], port_file[1100];
    snprintf(script, sizeof script, "%s/tests/fakes/providers.py", top);
    snprintf(config, sizeof config, "%s", config_path ? config_path : "");
    if (!config_path)
        snprintf(config, sizeof config, "%s/tests/fakes/default.json", top);
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(port_file, sizeof port_file, "%s/fake-%ld-%d.port", var, (long)getpid(), started);
    snprintf(f->log, sizeof f->log, "%s/fake-%ld-%d.log", var, (long)getpid(), started++);
    unlink(port_file);
    const char *argv[12] = {py && *py ? py : "/usr/bin/python3", script, "--port", port_s, "--port-file", port_file,
                            "--config", config};
    int n = 8;
    if (clock_file) {
        argv[n++] = "--clock-file";
        argv[n++] = clock_file;
    }
    argv[n] = NULL;
    f->pid = h_spawn(argv, NULL, f->log);
    for (int waited = 0; waited < 20000; waited += 50) {
        if (!f->port)
            f->port = read_port_file(port_file);
        if (f->port) {
            snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", f->port);
            if (healthy(f))
                return;
        }
        sleep_ms(50);
    }
    h_fake_stop(f);
    fprintf(stderr, "fakes: the fake providers did not start, see %s\n", f->log);
    exit(3);
}

void h_fake_stop(h_fake_t *f)
{
    if (f->pid > 0)
        h_stop(f->pid, SIGKILL);
    f->pid = 0;
}

const char *const *h_fake_notify_env(const h_fake_t *f)
{
    static char s[17][256];
    static const char *env[18];
    const char *const kv[][2] = {
        {"WECHAT_API_BASE", f->base},
        {"WECHAT_APPID", H_FAKE_WECHAT_APPID},
        {"WECHAT_SECRET", H_FAKE_WECHAT_SECRET},
        {"WECOM_API_BASE", f->base},
        {"WECOM_ROBOT_ENABLED", "1"},
        {"WECOM_CORP_ID", H_FAKE_WECOM_CORP_ID},
        {"WECOM_CORP_SECRET", H_FAKE_WECOM_CORP_SECRET},
        {"WECOM_AGENT_ID", H_FAKE_WECOM_AGENT_ID},
        {"ALIYUN_SMS_ENDPOINT", NULL},
        {"ALIYUN_ACCESS_KEY_ID", H_FAKE_ALIYUN_KEY_ID},
        {"ALIYUN_ACCESS_KEY_SECRET", H_FAKE_ALIYUN_KEY_SECRET},
        {"ALIYUN_SMS_SIGN_NAME", H_FAKE_SMS_SIGN_NAME},
        {"TENCENT_SMS_ENDPOINT", NULL},
        {"TENCENT_SECRET_ID", H_FAKE_TENCENT_SECRET_ID},
        {"TENCENT_SECRET_KEY", H_FAKE_TENCENT_SECRET_KEY},
        {"TENCENT_SMS_APP_ID", H_FAKE_TENCENT_APP_ID},
        {"TENCENT_SMS_SIGN_NAME", H_FAKE_SMS_SIGN_NAME},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        if (kv[i][1])
            snprintf(s[i], sizeof s[i], "GRIDGOV_%s=%s", kv[i][0], kv[i][1]);
        else /* the SMS endpoints: a path each, so a misrouted request shows at once */
            snprintf(s[i], sizeof s[i], "GRIDGOV_%s=%s/%s/", kv[i][0], f->base,
                     strncmp(kv[i][0], "ALIYUN", 6) == 0 ? "aliyun" : "tencent");
        env[i] = s[i];
    }
    env[17] = NULL;
    return env;
}

/* POST a JSON body to a control path; true on 200. */
static bool control(const h_fake_t *f, const char *name, const char *json)
{
    char url[256];
    snprintf(url, sizeof url, "%s/_fake/%s", f->base, name);
    const char *hdr[] = {"Content-Type: application/json", NULL};
    h_resp_t r;
    bool ok = h_http("POST", url, hdr, json, strlen(json), &r) && r.status == 200;
    if (!ok)
        fprintf(stderr, "fakes: POST /_fake/%s %s -> %ld %s\n", name, json, r.status, buf_str(&r.body));
    h_resp_free(&r);
    return ok;
}

bool h_fake_reset(const h_fake_t *f) { return control(f, "reset", "{}"); }

bool h_fake_fail(const h_fake_t *f, const char *provider, const char *mode, long arg, const char *code, int count)
{
    json_t *o = json_pack("{s:s, s:s}", "provider", provider, "mode", mode);
    if (strcmp(mode, "http") == 0)
        json_object_set_new(o, "status", json_integer(arg ? arg : 503));
    else if ((strcmp(mode, "slow") == 0 || strcmp(mode, "hang") == 0) && arg > 0)
        json_object_set_new(o, "ms", json_integer(arg));
    if (code)
        json_object_set_new(o, "code", json_string(code));
    if (count > 0)
        json_object_set_new(o, "count", json_integer(count));
    char *s = json_dumps(o, JSON_COMPACT);
    bool ok = s && control(f, "fail", s);
    free(s);
    json_decref(o);
    return ok;
}

bool h_fake_clear(const h_fake_t *f, const char *provider) { return h_fake_fail(f, provider, "clear", 0, NULL, 0); }

bool h_fake_config(const h_fake_t *f, const char *json) { return control(f, "config", json); }

bool h_fake_clock(const h_fake_t *f, double epoch_s)
{
    char body[64];
    if (epoch_s > 0)
        snprintf(body, sizeof body, "{\"now\":%.6f}", epoch_s);
    else
        snprintf(body, sizeof body, "{\"now\":null}");
    return control(f, "clock", body);
}

bool h_fake_expire_tokens(const h_fake_t *f, const char *provider)
{
    char body[64];
    snprintf(body, sizeof body, "{\"provider\":\"%s\"}", provider);
    return control(f, "expire_tokens", body);
}

json_t *h_fake_get(const h_fake_t *f, const char *path)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    h_resp_t r;
    json_t *j = NULL;
    if (h_http("GET", url, NULL, NULL, 0, &r) && r.status == 200)
        j = json_loads(buf_str(&r.body), 0, NULL);
    h_resp_free(&r);
    return j;
}

static json_t *records(const h_fake_t *f, const char *name, const char *provider)
{
    char path[128];
    snprintf(path, sizeof path, "/_fake/%s%s%s", name, provider ? "?provider=" : "", provider ? provider : "");
    json_t *j = h_fake_get(f, path);
    if (!json_is_array(j)) {
        json_decref(j);
        j = json_array();
    }
    return j;
}

json_t *h_fake_sent(const h_fake_t *f, const char *provider) { return records(f, "sent", provider); }

json_t *h_fake_calls(const h_fake_t *f, const char *provider) { return records(f, "calls", provider); }

long h_fake_count(const h_fake_t *f, const char *provider, const char *what)
{
    json_t *c = h_fake_get(f, "/_fake/counts");
    json_t *v = json_object_get(json_object_get(c, provider), what);
    long n = json_is_integer(v) ? (long)json_integer_value(v) : -1;
    json_decref(c);
    return n;
}

bool h_fake_wait_sent(const h_fake_t *f, const char *provider, size_t n, int timeout_ms)
{
    for (int waited = 0;; waited += 20) {
        long got = h_fake_count(f, provider, "sent");
        if (got >= 0 && (size_t)got >= n)
            return true;
        if (waited >= timeout_ms)
            return false;
        sleep_ms(20);
    }
}
