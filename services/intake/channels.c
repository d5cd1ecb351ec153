/* The /channels/... routes (channels.h). */
#include "channels.h"

#include <string.h>

#include "intake.h"
#include "render.h"

bool channels_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    static const struct {
        const char *path, *provider, *what;
    } sms[] = {
        {"/channels/sms/aliyun/up", "aliyun", "up"},
        {"/channels/sms/aliyun/report", "aliyun", "report"},
        {"/channels/sms/tencent/up", "tencent", "up"},
        {"/channels/sms/tencent/report", "tencent", "report"},
    };
    if (strncmp(req->path, "/channels/", 10))
        return false;
    if (!strcmp(req->path, "/channels/wechat")) {
        channel_wechat_handle(app, req, resp);
        return true;
    }
    for (size_t i = 0; i < sizeof sms / sizeof sms[0]; i++)
        if (!strcmp(req->path, sms[i].path)) {
            channel_sms_handle(app, req, resp, sms[i].provider, sms[i].what);
            return true;
        }
    render_api_error(resp, 404, "not_found", NULL, "no such channel");
    return true;
}
