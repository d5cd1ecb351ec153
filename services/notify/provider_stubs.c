/* PLACEHOLDER, replaced at merge: the real adapters (Aliyun, Tencent, WeChat, WeCom robot, WeCom
 * app) are written on branch n-adapters against provider.h, each in its own file with these
 * constructors; the coordinator deletes this file when that branch is merged. Until then every
 * real provider reports itself off (NULL, err empty), so every channel is served by the sandbox
 * (provider_sandbox.c) and nothing leaves the machine. */
#include "provider.h"

static provider_t *off(char *err, size_t errsz)
{
    if (errsz)
        err[0] = '\0';
    return NULL;
}

provider_t *provider_aliyun_new(const cfg_t *cfg, char *err, size_t errsz)
{
    (void)cfg;
    return off(err, errsz);
}

provider_t *provider_tencent_new(const cfg_t *cfg, char *err, size_t errsz)
{
    (void)cfg;
    return off(err, errsz);
}

provider_t *provider_wechat_new(const cfg_t *cfg, char *err, size_t errsz)
{
    (void)cfg;
    return off(err, errsz);
}

provider_t *provider_wecom_robot_new(const cfg_t *cfg, char *err, size_t errsz)
{
    (void)cfg;
    return off(err, errsz);
}

provider_t *provider_wecom_app_new(const cfg_t *cfg, char *err, size_t errsz)
{
    (void)cfg;
    return off(err, errsz);
}
