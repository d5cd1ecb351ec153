#!/usr/bin/env python3
"""providers.py: one loopback process that plays every outbound provider notify talks to.

WeChat Official Account (/cgi-bin/token, /cgi-bin/stable_token, /cgi-bin/message/template/send,
/cgi-bin/message/subscribe/bizsend), WeCom (/cgi-bin/gettoken, /cgi-bin/message/send,
/cgi-bin/webhook/send), Aliyun Dysmsapi SendSms (RPC, GET or POST form, at / or /aliyun/...) and
Tencent Cloud SMS SendSms (TC3-HMAC-SHA256, POST at / or /tencent/..., told apart at / by its
X-TC-* headers / TC3 Authorization). Each answers in its provider's real shapes, codes and HTTP
statuses (../../../shared/reference/providers.md, section 6), checks the signatures and the limits
the real one checks, and can be told to fail through the control API under /_fake/.

Standard library only (no pip here). Run:
    providers.py [--port N|0] [--port-file F] [--config F.json] [--clock-file F] [credentials...]
It prints the port it listens on (one line on stdout) once it accepts connections.

Time: --clock-file F holds epoch seconds (as the daemons' clock_file; re-read when it changes);
POST /_fake/clock {"now": s} fixes it in-process ({"now": null} returns to the file / real time).
Every limit window and every signature skew is judged on this clock.

Configuration (--config JSON, the command-line flags, or POST /_fake/config; the test credentials
are tests/fakes/default.json's, named in tests/lib/fakes.h):
  wechat:  appid, secret, templates {id: [field, …]} ({}: any id, any fields), followers (null: any
           well-formed openid), unfollowed [openid] (43004), blocked [openid] (43101),
           daily_quota 100000, token_daily_quota 2000
  wecom:   corpid, secret, agentid, robot_keys [key], users (null: any well-formed userid),
           parties, tags, member_per_minute 30, member_per_hour 1000, robot_per_minute 20
  aliyun:  access_key_id, access_key_secret, sign_names ([]: any), templates {code: [param, …] |
           {"params": [...], "text": "…${param}…"}} ({}: any), per_number_template_day 50
           (rolling 24 h, 0: off), param_max_chars 35 (0: off)
  tencent: secret_id, secret_key, app_id, sign_names, templates {id: N | {"params": N,
           "text": "…{1}…"}}, same_content_seconds 30, per_number_hour 0, per_number_day 10
           (a natural day, Asia/Shanghai; 0: off)
Paths: WeChat and WeCom at their real paths (wechat_api_base = wecom_api_base = http://127.0.0.1:P);
Aliyun at /aliyun/ (or /), Tencent at /tencent/ (or /, told apart by its TC3 Authorization and
X-TC-* headers). Both SMS signatures are checked as at the real path "/": Aliyun signs "%2F" and
Tencent's canonical URI is "/" whatever the mount.

Control API (JSON):
  GET  /_fake/health                    {"ok":true,"port":N,"now":s,"pid":P}
  POST /_fake/reset                     forget records, failures, tokens, nonces, limit counters
  POST /_fake/fail {provider, mode, status?, ms?, code?, message?, count?}
       provider: wechat | wechat_token | wecom_app | wecom_token | wecom_robot | aliyun | tencent | *
       mode: http (answer HTTP `status`, default 503) | hang (no answer until the client gives up,
             or `ms`, default 600000) | slow (answer normally after `ms`) | code (the provider
             error `code` in its real shape) | clear (drop the provider's rules)
       count: how many calls the rule takes (default: until cleared)
  GET  /_fake/fail                      the rules in force
  GET  /_fake/sent?provider=&since=     what providers accepted: [{seq,time,provider,to,key,
                                        template,params,text,id,...}] (one entry per SMS number)
  GET  /_fake/calls?provider=&since=    every call, refused ones included, with its outcome
  GET  /_fake/counts                    {provider:{calls,sent,refused,injected}} (injected: answered
                                        by a failure rule instead of the provider; slow ones are not)
  POST /_fake/config {…}                merge configuration (the --config file's shape)
  POST /_fake/clock {"now": s|null}
  POST /_fake/expire_tokens {"provider":"wechat"|"wecom"}   current tokens expire now (42001)
"""

import argparse
import base64
import collections
import datetime
import hashlib
import hmac
import json
import os
import re
import secrets
import select
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROVIDERS = ("wechat", "wechat_token", "wecom_app", "wecom_token", "wecom_robot", "aliyun", "tencent")

# ------------------------------------------------------------------------------------------------
# configuration


def default_config():
    return {
        "wechat": {"appid": "", "secret": "", "templates": {}, "followers": None, "unfollowed": [],
                   "blocked": [], "daily_quota": 100000, "token_daily_quota": 2000},
        "wecom": {"corpid": "", "secret": "", "agentid": "", "robot_keys": [], "users": None,
                  "parties": [], "tags": [], "member_per_minute": 30, "member_per_hour": 1000,
                  "robot_per_minute": 20},
        "aliyun": {"access_key_id": "", "access_key_secret": "", "sign_names": [], "templates": {},
                   "per_number_template_day": 50, "param_max_chars": 35},
        "tencent": {"secret_id": "", "secret_key": "", "app_id": "", "sign_names": [], "templates": {},
                    "same_content_seconds": 30, "per_number_hour": 0, "per_number_day": 10},
    }


def merge_config(cfg, extra):
    for section, values in extra.items():
        if section.startswith("_"):
            continue
        if section not in cfg or not isinstance(values, dict):
            raise ValueError("unknown configuration section %r" % section)
        for k, v in values.items():
            if k not in cfg[section]:
                raise ValueError("unknown configuration key %s.%s" % (section, k))
            cfg[section][k] = v
    return cfg


def template_spec(t):
    """A template's parameter names and text: ["a","b"] | {"params":[...]|N,"text":"..."}."""
    if isinstance(t, list):
        return list(t), None
    if isinstance(t, int):
        return [str(i + 1) for i in range(t)], None
    params = t.get("params", [])
    if isinstance(params, int):
        params = [str(i + 1) for i in range(params)]
    return list(params), t.get("text")


# ------------------------------------------------------------------------------------------------
# time


class Clock:
    def __init__(self, path):
        self.path = path
        self.fixed = None
        self._key = None
        self._value = None
        self._lock = threading.Lock()

    def now(self):
        if self.fixed is not None:
            return self.fixed
        if self.path:
            try:
                st = os.stat(self.path)
                key = (st.st_ino, st.st_mtime_ns, st.st_size)
                with self._lock:
                    if key != self._key:
                        with open(self.path) as f:
                            self._value = float(f.read().split()[0])
                        self._key = key
                    return self._value
            except (OSError, ValueError, IndexError):
                pass
        return time.time()


def iso_utc(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cst_date(t):
    return datetime.datetime.fromtimestamp(t + 8 * 3600, datetime.timezone.utc).strftime("%Y-%m-%d")


# ------------------------------------------------------------------------------------------------
# signatures (our own implementations, checked against the published vectors by test_fakes.py)


def aliyun_encode(s):
    return urllib.parse.quote(s, safe="-_.~")


def aliyun_string_to_sign(method, params):
    canon = "&".join("%s=%s" % (aliyun_encode(k), aliyun_encode(v))
                     for k, v in sorted(params.items()) if k != "Signature")
    return method + "&" + aliyun_encode("/") + "&" + aliyun_encode(canon)


def aliyun_signature(method, secret, params):
    sts = aliyun_string_to_sign(method, params)
    mac = hmac.new((secret + "&").encode(), sts.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def tc3_signature(secret_key, service, ts, canonical_request):
    date = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d")
    sts = "TC3-HMAC-SHA256\n%d\n%s/%s/tc3_request\n%s" % (
        ts, date, service, hashlib.sha256(canonical_request.encode()).hexdigest())

    def h(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()
    k = h(h(h(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()


def tc3_canonical_request(method, path, query, headers, signed, payload):
    """headers: lowercase name -> value; signed: the SignedHeaders names in their order."""
    canon_headers = "".join("%s:%s\n" % (n, headers.get(n, "").strip().lower()) for n in signed)
    return "%s\n%s\n%s\n%s\n%s\n%s" % (method, path, query, canon_headers, ";".join(signed),
                                       hashlib.sha256(payload).hexdigest())


# ------------------------------------------------------------------------------------------------
# answers in each provider's shape


def wx_rid():
    return "%08x-%08x-%08x" % (secrets.randbits(32), secrets.randbits(32), secrets.randbits(32))


WX_MESSAGES = {
    -1: "system error", 40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type", 40003: "invalid openid", 40013: "invalid appid",
    40014: "invalid access_token", 40037: "invalid template_id", 40125: "invalid appsecret",
    40164: "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist",
    41001: "access_token missing", 41002: "appid missing", 41004: "appsecret missing",
    42001: "access_token expired", 43002: "require POST method", 43004: "require subscribe",
    43101: "user refuse to accept the msg", 44002: "empty post data",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute", 47001: "data format error",
    47003: "argument invalid!", 48001: "api unauthorized",
}

WECOM_MESSAGES = {
    -1: "system busy", 40001: "invalid credential", 40008: "invalid message type",
    40013: "invalid corpid", 40014: "invalid access_token", 40056: "invalid agentid",
    40058: "invalid Request Parameter", 40091: "secret is invalid", 41001: "access_token missing",
    41002: "corpid missing", 41004: "corpsecret missing", 42001: "access_token expired",
    44002: "empty post data", 44004: "empty content", 45009: "api freq out of limit",
    60020: "not allow to access from your ip", 81013: "user & party & tag all invalid",
    93000: "invalid webhook url",
}

ALIYUN_MESSAGES = {
    "OK": "OK", "isv.BUSINESS_LIMIT_CONTROL": "触发天级流控Permits:50", "isv.MOBILE_NUMBER_ILLEGAL": "非法手机号",
    "isv.TEMPLATE_MISSING_PARAMETERS": "模版缺少变量", "isv.INVALID_JSON_PARAM": "JSON参数不合法，只接受字符串值",
    "isv.SMS_SIGNATURE_ILLEGAL": "该账号下找不到对应签名", "isv.SMS_TEMPLATE_ILLEGAL": "该账号下找不到对应模板",
    "isv.AMOUNT_NOT_ENOUGH": "账户余额不足", "isv.OUT_OF_SERVICE": "业务停机", "isv.DAY_LIMIT_CONTROL": "触发日发送限额",
    "isv.MONTH_LIMIT_CONTROL": "触发月发送限额", "isv.BLACK_KEY_CONTROL_LIMIT": "模板变量中存在黑名单关键字",
    "isv.PARAM_LENGTH_LIMIT": "参数超出长度限制", "isv.PARAM_NOT_SUPPORT_URL": "不支持URL",
    "isv.MOBILE_COUNT_OVER_LIMIT": "手机号码数量超过限制", "isp.SYSTEM_ERROR": "系统错误",
    "isp.RAM_PERMISSION_DENY": "RAM权限不足",
    "SignatureDoesNotMatch": "Specified signature is not matched with our calculation.",
    "InvalidTimeStamp.Expired": "Specified time stamp or date value is expired.",
    "InvalidTimeStamp.Format": "Specified time stamp or date value is not well formatted.",
    "SignatureNonceUsed": "Specified signature nonce was used already.",
    "InvalidAccessKeyId.NotFound": "Specified access key is not found.",
    "IncompleteSignature": "The request signature does not conform to Aliyun standards.",
    "InvalidVersion": "Specified parameter Version is not valid.",
    "InvalidAction.NotFound": "Specified api is not found, please check your url and method.",
    "Throttling.User": "Request was denied due to user flow control.",
    "Throttling.Api": "Request was denied due to api flow control.",
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
    "InternalError": "The request processing has failed due to some unknown error, exception or failure.",
}
# Aliyun's gateway (not the SMS business) answers these, with an HTTP error status.
ALIYUN_GATEWAY_STATUS = {
    "SignatureDoesNotMatch": 400, "InvalidTimeStamp.Expired": 400, "InvalidTimeStamp.Format": 400,
    "SignatureNonceUsed": 400, "IncompleteSignature": 400, "InvalidVersion": 400,
    "InvalidAccessKeyId.NotFound": 404, "InvalidAction.NotFound": 404, "Throttling.User": 400,
    "Throttling.Api": 400, "ServiceUnavailable": 503, "InternalError": 500,
}

TENCENT_MESSAGES = {
    "AuthFailure.SignatureFailure": "The provided credentials could not be validated. Please check your signature is correct.",
    "AuthFailure.SignatureExpire": "Signature expired.",
    "AuthFailure.SecretIdNotFound": "The SecretId is not found, please ensure that your SecretId is correct.",
    "AuthFailure.InvalidAuthorization": "The Authorization header is missing or malformed.",
    "InvalidAction": "The requested action does not exist.",
    "NoSuchVersion": "The requested version does not exist.",
    "MissingParameter": "The request is missing a required parameter.",
    "InvalidParameter": "The parameter is invalid.",
    "MissingParameter.EmptyPhoneNumberSet": "传入的号码列表为空，请确认您的参数中是否传入号码。",
    "LimitExceeded.PhoneNumberCountLimit": "单次提交号码数量超过200",
    "InvalidParameterValue.SdkAppIdNotExist": "SdkAppId不存在。",
    "FailedOperation.SignatureIncorrectOrUnapproved": "签名未审批或格式错误。",
    "FailedOperation.TemplateIncorrectOrUnapproved": "模板未审批或内容不匹配。",
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": "请求内容与审核通过的模板内容不匹配。",
    "FailedOperation.InsufficientBalanceInSmsPackage": "套餐包余量不足。",
    "InternalError.Timeout": "请求下发短信超时。",
    "RequestLimitExceeded": "请求的次数超过了频率限制。",
    "InvalidParameterValue.IncorrectPhoneNumber": "手机号格式错误",
    "LimitExceeded.PhoneNumberThirtySecondLimit": "单个手机号30秒内下发短信条数超过设定的上限",
    "LimitExceeded.PhoneNumberOneHourLimit": "单个手机号1小时内下发短信条数超过设定的上限",
    "LimitExceeded.PhoneNumberDailyLimit": "单个手机号日下发短信条数超过设定的上限",
    "LimitExceeded.PhoneNumberSameContentDailyLimit": "单个手机号下发相同内容超过设定的上限",
    "LimitExceeded.DeliveryFrequencyLimit": "下发短信命中了频率限制策略",
    "LimitExceeded.AppDailyLimit": "业务短信日下发条数超过设定的上限",
    "FailedOperation.PhoneNumberInBlacklist": "手机号在免打扰名单库中",
    "FailedOperation.ContainSensitiveWord": "短信内容中含有敏感词",
}
# Tencent says these per number (in SendStatusSet), the rest for the whole request.
TENCENT_PER_NUMBER = ("LimitExceeded.Phone", "LimitExceeded.DeliveryFrequencyLimit",
                      "InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberInBlacklist",
                      "FailedOperation.ContainSensitiveWord")

HTTP_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
                504: "Gateway Time-out", 429: "Too Many Requests"}

PHONE_RE = re.compile(r"^(?:\+86|0086|86)?(1[3-9]\d{9})$")
OPENID_RE = re.compile(r"^[A-Za-z0-9_-]{28}$")
WECOM_USERID_RE = re.compile(r"^[A-Za-z0-9_@.\-]{1,64}$")


class Answer:
    """What a handler answers: HTTP status, body bytes, content type, and what happened."""

    def __init__(self, status, body, ctype, outcome, code):
        self.status, self.body, self.ctype, self.outcome, self.code = status, body, ctype, outcome, str(code)


def jdump(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def wx_answer(errcode, errmsg=None, outcome="refused", **extra):
    msg = errmsg if errmsg is not None else WX_MESSAGES.get(errcode, "error")
    if errcode != 0:
        msg = "%s rid: %s" % (msg, wx_rid())
    body = {"errcode": errcode, "errmsg": msg}
    body.update(extra)
    return Answer(200, jdump(body), "application/json; encoding=utf-8", outcome if errcode else "sent", errcode)


def wecom_hint(code, msg):
    hint = "%d_%d_%s" % (int(time.time()), secrets.randbits(20), secrets.token_hex(16))
    return "%s, hint: [%s], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=%d" % (
        msg, hint, code)


def wecom_answer(errcode, errmsg=None, outcome="refused", **extra):
    msg = errmsg if errmsg is not None else WECOM_MESSAGES.get(errcode, "error")
    body = {"errcode": errcode, "errmsg": "ok" if errcode == 0 else wecom_hint(errcode, msg)}
    body.update(extra)
    return Answer(200, jdump(body), "application/json; charset=UTF-8", outcome if errcode else "sent", errcode)


def aliyun_request_id():
    return str(uuid.uuid4()).upper()


def xml_dump(root, fields):
    def esc(s):
        return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    inner = "".join("<%s>%s</%s>" % (k, esc(v), k) for k, v in fields)
    return ("<?xml version='1.0' encoding='UTF-8'?><%s>%s</%s>" % (root, inner, root)).encode()


def aliyun_answer(code, fmt, message=None, outcome="refused", biz_id=None):
    """SendSms' business answers are HTTP 200; the gateway's errors carry an error status."""
    msg = message if message is not None else ALIYUN_MESSAGES.get(code, code)
    rid = aliyun_request_id()
    status = ALIYUN_GATEWAY_STATUS.get(code, 400 if code.startswith("Missing") else 200)
    if status != 200:
        fields = [("RequestId", rid), ("HostId", "dysmsapi.aliyuncs.com"), ("Code", code), ("Message", msg),
                  ("Recommend", "https://api.aliyun.com/troubleshoot?q=%s&product=Dysmsapi" % code)]
        root = "Error"
    elif code == "OK":
        fields = [("Code", "OK"), ("Message", "OK"), ("BizId", biz_id), ("RequestId", rid)]
        root = "SendSmsResponse"
    else:
        fields = [("Message", msg), ("RequestId", rid), ("Code", code)]
        root = "SendSmsResponse"
    if fmt.upper() == "JSON":
        return Answer(status, jdump(dict(fields)), "application/json;charset=utf-8",
                      "sent" if code == "OK" else outcome, code)
    return Answer(status, xml_dump(root, fields), "text/xml;charset=utf-8", "sent" if code == "OK" else outcome, code)


def tencent_error(code, message=None, outcome="refused"):
    msg = message if message is not None else TENCENT_MESSAGES.get(code, code)
    body = {"Response": {"Error": {"Code": code, "Message": msg}, "RequestId": str(uuid.uuid4())}}
    return Answer(200, jdump(body), "application/json", outcome, code)


def http_error_page(status):
    reason = HTTP_REASONS.get(status, "Error")
    return ("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n"
            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n" % (status, reason, status, reason)).encode()


# ------------------------------------------------------------------------------------------------
# WeChat template fields: a category template's keys are typed by their name (thing2, time3 …)

CN_RE = re.compile(r"^[\u4e00-\u9fff]+$")
TIME_RE = re.compile(
    r"^(\d{4}(年|-|/|\.)\d{1,2}(月|-|/|\.)\d{1,2}日?)?\s*(\d{1,2}:\d{2}(:\d{2})?)?"
    r"(\s*[~至-]\s*(\d{4}(年|-|/|\.)\d{1,2}(月|-|/|\.)\d{1,2}日?)?\s*(\d{1,2}:\d{2}(:\d{2})?)?)?$")


def wx_field_ok(key, value):
    m = re.match(r"^([a-z_]+?)\d+$", key)
    kind = m.group(1) if m else ""
    n = len(value)
    if kind == "thing":
        return n <= 20
    if kind == "character_string":
        return n <= 32 and all(0x21 <= ord(c) < 0x7f for c in value)
    if kind == "number":
        return n <= 32 and re.match(r"^-?\d+(\.\d+)?$", value) is not None
    if kind == "letter":
        return n <= 32 and value.isascii() and value.isalpha()
    if kind == "symbol":
        return n <= 5 and all(not c.isalnum() for c in value)
    if kind in ("time", "date"):
        return n <= 64 and TIME_RE.match(value) is not None and re.search(r"\d", value) is not None
    if kind == "amount":
        return re.match(r"^[¥$€£]?\d{1,10}(\.\d{1,2})?元?$", value) is not None
    if kind == "phone_number":
        return n <= 17 and re.match(r"^[\d+\- ()]+$", value) is not None
    if kind == "car_number":
        return n <= 8
    if kind == "name":
        return n <= 10 or (n <= 20 and value.isascii() and value.isalpha())
    if kind == "phrase":
        return n <= 5 and CN_RE.match(value) is not None
    return n <= 200  # old-style keys (keyword1, first): free text


# ------------------------------------------------------------------------------------------------
# state


class State:
    def __init__(self, cfg, clock):
        self.cfg = cfg
        self.clock = clock
        self.lock = threading.Lock()
        self.release = threading.Event()  # set to end every hang at once (reset, clear)
        self.reset()

    def reset(self):
        with self.lock:
            self.seq = 0
            self.sent = []
            self.calls = []
            self.rules = []
            self.tokens = {}          # token -> {kind, expires, valid_until}
            self.oa_last = None       # the latest /cgi-bin/token token
            self.oa_stable = None     # the current stable token
            self.oa_token_days = collections.Counter()
            self.stable_force = []    # times of force refreshes
            self.wecom_token = None
            self.wx_dedup = {}        # (openid, client_msg_id) -> (time, msgid)
            self.wx_day = collections.Counter()
            self.robot_minute = collections.Counter()
            self.member_sends = collections.defaultdict(collections.deque)
            self.wecom_dups = {}      # body digest -> (time, msgid)
            self.ali_nonces = collections.OrderedDict()  # nonce -> time, oldest first
            self.ali_sends = collections.defaultdict(collections.deque)
            self.tc_content = {}      # (number, content) -> time
            self.tc_hour = collections.defaultdict(collections.deque)
            self.tc_day = collections.Counter()
            self.msgid = 2 * 10 ** 18 + secrets.randbelow(10 ** 18)
            self.bizid = 10 ** 17 * 7 + secrets.randbelow(10 ** 16)
            self.serial = secrets.randbelow(10 ** 20)
            old, self.release = self.release, threading.Event()
        old.set()

    def next_seq(self):
        self.seq += 1
        return self.seq

    def record_sent(self, provider, **fields):
        rec = {"seq": self.next_seq(), "time": self.clock.now(), "provider": provider}
        rec.update(fields)
        self.sent.append(rec)
        return rec

    def record_call(self, provider, method, path, answer, request, injected=None):
        body = answer.body[:600].decode("utf-8", "replace") if answer else ""  # bounded: benchmarks call often
        rec = {"seq": self.next_seq(), "time": self.clock.now(), "provider": provider, "method": method,
               "path": path, "status": answer.status if answer else 0,
               "outcome": answer.outcome if answer else "hang", "code": answer.code if answer else "",
               "response": body, "request": request[:600]}
        if injected:
            rec["injected"] = injected
        self.calls.append(rec)

    def take_rule(self, provider):
        with self.lock:
            for r in self.rules:
                if r["provider"] in (provider, "*") and (r["count"] is None or r["count"] > 0):
                    if r["count"] is not None:
                        r["count"] -= 1
                    rule = dict(r)
                    self.rules = [x for x in self.rules if x["count"] is None or x["count"] > 0]
                    return rule, self.release
        return None, self.release


# ------------------------------------------------------------------------------------------------
# WeChat Official Account

TOKEN_TTL = 7200
OVERLAP = 300


def new_token(prefix):
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(96)).decode().rstrip("=").replace("-", "_")


def wx_check_app(cfg, appid, secret, grant_type):
    if grant_type != "client_credential":
        return wx_answer(40002)
    if not appid:
        return wx_answer(41002)
    if appid != cfg["appid"]:
        return wx_answer(40013)
    if not secret:
        return wx_answer(41004)
    if secret != cfg["secret"]:
        return wx_answer(40125)
    return None


def wx_token(st, req):
    cfg = st.cfg["wechat"]
    q = req.query
    bad = wx_check_app(cfg, q.get("appid", ""), q.get("secret", ""), q.get("grant_type", ""))
    if bad:
        return bad
    now = st.clock.now()
    with st.lock:
        day = cst_date(now)
        if st.oa_token_days[day] >= cfg["token_daily_quota"]:
            return wx_answer(45009)
        st.oa_token_days[day] += 1
        # A new token leaves the one before it valid for five minutes more, and no other.
        for tok, t in st.tokens.items():
            if t["kind"] == "oa" and tok != st.oa_last:
                t["valid_until"] = min(t["valid_until"], now)
        if st.oa_last and st.oa_last in st.tokens:
            prev = st.tokens[st.oa_last]
            prev["valid_until"] = min(prev["valid_until"], now + OVERLAP)
        tok = new_token("89_")
        st.tokens[tok] = {"kind": "oa", "expires": now + TOKEN_TTL, "valid_until": now + TOKEN_TTL}
        st.oa_last = tok
    return Answer(200, jdump({"access_token": tok, "expires_in": TOKEN_TTL}), "application/json; encoding=utf-8",
                  "sent", 0)


def wx_stable_token(st, req):
    if req.method != "POST":
        return wx_answer(43002)
    try:
        body = json.loads(req.body or b"")
        if not isinstance(body, dict):
            raise ValueError
    except ValueError:
        return wx_answer(47001)
    cfg = st.cfg["wechat"]
    bad = wx_check_app(cfg, str(body.get("appid", "")), str(body.get("secret", "")), body.get("grant_type", ""))
    if bad:
        return bad
    now = st.clock.now()
    force = body.get("force_refresh") is True
    with st.lock:
        cur = st.tokens.get(st.oa_stable) if st.oa_stable else None
        if force:
            today = [t for t in st.stable_force if cst_date(t) == cst_date(now)]
            if len(today) >= 20:
                return wx_answer(45009)
            if st.stable_force and now - st.stable_force[-1] < 30:
                return wx_answer(45011)
            st.stable_force = today + [now]
        elif cur and cur["valid_until"] - now > OVERLAP:
            return Answer(200, jdump({"access_token": st.oa_stable, "expires_in": int(cur["valid_until"] - now)}),
                          "application/json; encoding=utf-8", "sent", 0)
        if cur:
            cur["valid_until"] = min(cur["valid_until"], now + OVERLAP)
        tok = new_token("89_")
        st.tokens[tok] = {"kind": "stable", "expires": now + TOKEN_TTL, "valid_until": now + TOKEN_TTL}
        st.oa_stable = tok
    return Answer(200, jdump({"access_token": tok, "expires_in": TOKEN_TTL}), "application/json; encoding=utf-8",
                  "sent", 0)


def check_token(st, token, kinds, answer):
    """None when token is valid now, else the refusal in answer's shape (wx_answer / wecom_answer)."""
    if not token:
        return answer(41001)
    if not re.match(r"^[A-Za-z0-9_\-]+$", token):
        return answer(40014)
    now = st.clock.now()
    with st.lock:
        t = st.tokens.get(token)
    if not t or t["kind"] not in kinds:
        return answer(40001 if answer is wx_answer else 40014)
    if now >= t["expires"]:
        return answer(42001)
    if now >= t["valid_until"]:
        return answer(40001 if answer is wx_answer else 42001)
    return None


def wx_send(st, req, subscribe):
    bad = check_token(st, req.query.get("access_token", ""), ("oa", "stable"), wx_answer)
    if bad:
        return bad
    if req.method != "POST":
        return wx_answer(43002)
    if not req.body:
        return wx_answer(44002)
    try:
        body = json.loads(req.body)
        if not isinstance(body, dict):
            raise ValueError
    except ValueError:
        return wx_answer(47001)
    cfg = st.cfg["wechat"]
    touser = body.get("touser")
    tid = body.get("template_id")
    data = body.get("data")
    if not isinstance(touser, str) or not OPENID_RE.match(touser):
        return wx_answer(40003)
    followers = cfg["followers"]
    if followers is not None and touser not in followers and touser not in cfg["unfollowed"] \
            and touser not in cfg["blocked"]:
        return wx_answer(40003)
    templates = cfg["templates"]
    if not isinstance(tid, str) or not tid or (templates and tid not in templates):
        return wx_answer(40037)
    if not isinstance(data, dict):
        return wx_answer(47001)
    values = {}
    for k, v in data.items():
        if not isinstance(v, dict) or not isinstance(v.get("value"), str):
            return wx_answer(47001)
        values[k] = v["value"]
    for k in (template_spec(templates[tid])[0] if templates else []):
        if not values.get(k):
            return wx_answer(47003, "argument invalid! data.%s.value is empty" % k)
    for k, v in values.items():
        if not wx_field_ok(k, v):
            return wx_answer(47003, "argument invalid! data.%s.value invalid" % k)
    if touser in cfg["unfollowed"]:
        return wx_answer(43004)
    if touser in cfg["blocked"]:
        return wx_answer(43101)
    cmid = body.get("client_msg_id")
    now = st.clock.now()
    provider = "wechat"
    with st.lock:
        if cmid and not subscribe:
            seen = st.wx_dedup.get((touser, cmid))
            if seen and now - seen[0] < 600:
                # one message per openid + client_msg_id for ten minutes: the resend is answered as
                # the first one was, and nothing more reaches the user
                ans = wx_answer(0, "ok", msgid=seen[1])
                ans.outcome = "dedup"
                return ans
        day = cst_date(now)
        if st.wx_day[day] >= cfg["daily_quota"]:
            return wx_answer(45009)
        st.wx_day[day] += 1
        st.msgid += 1
        msgid = st.msgid
        if cmid and not subscribe:
            st.wx_dedup[(touser, cmid)] = (now, msgid)
        st.record_sent(provider, api="subscribe/bizsend" if subscribe else "template/send", to=[touser],
                       openid=touser, template=tid, params=values, text=None, key=cmid, id=str(msgid),
                       url=body.get("url") or body.get("page"))
    return wx_answer(0, "ok", msgid=msgid)


# ------------------------------------------------------------------------------------------------
# WeCom


def wecom_gettoken(st, req):
    cfg = st.cfg["wecom"]
    corpid, secret = req.query.get("corpid", ""), req.query.get("corpsecret", "")
    if not corpid:
        return wecom_answer(41002)
    if corpid != cfg["corpid"]:
        return wecom_answer(40013)
    if not secret:
        return wecom_answer(41004)
    if secret != cfg["secret"]:
        return wecom_answer(40091)
    now = st.clock.now()
    with st.lock:
        cur = st.tokens.get(st.wecom_token) if st.wecom_token else None
        if cur and now < cur["expires"]:  # WeCom gives the same token while it is valid
            return wecom_answer(0, access_token=st.wecom_token, expires_in=int(cur["expires"] - now))
        tok = new_token("")
        st.tokens[tok] = {"kind": "wecom", "expires": now + TOKEN_TTL, "valid_until": now + TOKEN_TTL}
        st.wecom_token = tok
    return wecom_answer(0, access_token=tok, expires_in=TOKEN_TTL)


def wecom_content(body, limits):
    """(msgtype, content) or an answer refusing the body."""
    mtype = body.get("msgtype")
    if mtype not in limits:
        return wecom_answer(40008)
    part = body.get(mtype)
    content = part.get("content") if isinstance(part, dict) else None
    if not isinstance(content, str) or not content:
        return wecom_answer(44004)
    n = len(content.encode())
    if n > limits[mtype]:
        return wecom_answer(40058, "%s.content exceed max length %d. invalid Request Parameter" % (mtype, limits[mtype]))
    return mtype, content


def parse_json_body(req, answer):
    if req.method != "POST":
        return answer(43002 if answer is wx_answer else 44002)
    if not req.body:
        return answer(44002)
    try:
        body = json.loads(req.body)
        if isinstance(body, dict):
            return body
    except ValueError:
        pass
    return answer(47001 if answer is wx_answer else 40058, None if answer is wx_answer else "invalid json")


def wecom_robot(st, req):
    cfg = st.cfg["wecom"]
    key = req.query.get("key", "")
    if not key or key not in cfg["robot_keys"]:
        return wecom_answer(93000)
    body = parse_json_body(req, wecom_answer)
    if isinstance(body, Answer):
        return body
    got = wecom_content(body, {"text": 2048, "markdown": 4096})
    if isinstance(got, Answer):
        return got
    mtype, content = got
    now = st.clock.now()
    with st.lock:
        minute = (key, int(now // 60))
        if st.robot_minute[minute] >= cfg["robot_per_minute"]:
            return wecom_answer(45009)
        st.robot_minute[minute] += 1
        part = body[mtype]
        st.record_sent("wecom_robot", to=[key], robot_key=key, msgtype=mtype, template=None, params=None,
                       text=content, key=None, id=None, mentioned_list=part.get("mentioned_list"),
                       mentioned_mobile_list=part.get("mentioned_mobile_list"))
    return wecom_answer(0)


def wecom_app_send(st, req):
    cfg = st.cfg["wecom"]
    bad = check_token(st, req.query.get("access_token", ""), ("wecom",), wecom_answer)
    if bad:
        return bad
    body = parse_json_body(req, wecom_answer)
    if isinstance(body, Answer):
        return body
    if str(body.get("agentid", "")) != str(cfg["agentid"]):
        return wecom_answer(40056)
    got = wecom_content(body, {"text": 2048, "markdown": 4096})
    if isinstance(got, Answer):
        return got
    mtype, content = got

    def split(field):
        v = body.get(field) or ""
        return [x for x in str(v).split("|") if x]
    users, parties, tags = split("touser"), split("toparty"), split("totag")
    known = cfg["users"]
    if users == ["@all"]:
        users = list(known or [])
    valid_users = [u for u in users if WECOM_USERID_RE.match(u) and (known is None or u in known)]
    invalid_users = [u for u in users if u not in valid_users]
    invalid_parties = [p for p in parties if p not in [str(x) for x in cfg["parties"]]]
    invalid_tags = [t for t in tags if t not in [str(x) for x in cfg["tags"]]]
    if not valid_users and len(invalid_parties) == len(parties) and len(invalid_tags) == len(tags):
        return wecom_answer(81013)
    now = st.clock.now()
    with st.lock:
        if body.get("enable_duplicate_check") in (1, "1", True):
            interval = min(int(body.get("duplicate_check_interval") or 1800), 14400)
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            seen = st.wecom_dups.get(digest)
            if seen and now - seen[0] < interval:
                return wecom_answer(0, invaliduser="|".join(invalid_users), invalidparty="|".join(invalid_parties),
                                    invalidtag="|".join(invalid_tags), msgid=seen[1])
        msgid = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
        if body.get("enable_duplicate_check") in (1, "1", True):
            st.wecom_dups[digest] = (now, msgid)
        delivered, dropped = [], []
        # per member 30 a minute and 1000 an hour: the excess is dropped without a word
        for u in valid_users:
            q = st.member_sends[u]
            while q and now - q[0] >= 3600:
                q.popleft()
            last_minute = sum(1 for t in q if now - t < 60)
            if last_minute >= cfg["member_per_minute"] or len(q) >= cfg["member_per_hour"]:
                dropped.append(u)
            else:
                q.append(now)
                delivered.append(u)
        if delivered or parties or tags:
            st.record_sent("wecom_app", to=delivered, userid=delivered, dropped=dropped, msgtype=mtype,
                           template=None, params=None, text=content, key=None, id=msgid,
                           toparty=[p for p in parties if p not in invalid_parties],
                           totag=[t for t in tags if t not in invalid_tags])
    ans = wecom_answer(0, invaliduser="|".join(invalid_users), invalidparty="|".join(invalid_parties),
                       invalidtag="|".join(invalid_tags), msgid=msgid)
    if dropped:
        ans.outcome = "sent (dropped: %s)" % "|".join(dropped)
    return ans


# ------------------------------------------------------------------------------------------------
# Aliyun SendSms

ALI_TS_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?Z$")


def render(text, params, style):
    if text is None:
        return None
    if style == "aliyun":
        return re.sub(r"\$\{(\w+)\}", lambda m: str(params.get(m.group(1), "")), text)
    return re.sub(r"\{(\d+)\}", lambda m: params[int(m.group(1)) - 1] if int(m.group(1)) <= len(params) else "", text)


def aliyun_send(st, req):
    params = dict(req.query)
    if req.method == "POST" and req.body:
        params.update(urllib.parse.parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
    fmt = params.get("Format", "XML")
    cfg = st.cfg["aliyun"]
    for name in ("Signature", "SignatureNonce", "Timestamp", "AccessKeyId", "SignatureMethod", "Action", "Version"):
        if not params.get(name):
            return aliyun_answer("Missing" + name, fmt, "%s is mandatory for this action." % name)
    if params["Action"] != "SendSms":
        return aliyun_answer("InvalidAction.NotFound", fmt)
    if params["Version"] != "2017-05-25":
        return aliyun_answer("InvalidVersion", fmt)
    if params["SignatureMethod"] != "HMAC-SHA1" or params.get("SignatureVersion", "1.0") != "1.0":
        return aliyun_answer("IncompleteSignature", fmt)
    if params["AccessKeyId"] != cfg["access_key_id"]:
        return aliyun_answer("InvalidAccessKeyId.NotFound", fmt)
    m = ALI_TS_RE.match(params["Timestamp"])
    try:
        ts = datetime.datetime(*map(int, m.groups()[:6]), tzinfo=datetime.timezone.utc).timestamp() if m else None
    except ValueError:
        ts = None
    if ts is None:
        return aliyun_answer("InvalidTimeStamp.Format", fmt)
    now = st.clock.now()
    if abs(now - ts) > 900:
        return aliyun_answer("InvalidTimeStamp.Expired", fmt)
    want = aliyun_signature(req.method, cfg["access_key_secret"], params)
    if not hmac.compare_digest(want.encode(), params["Signature"].encode()):
        return aliyun_answer("SignatureDoesNotMatch", fmt, ALIYUN_MESSAGES["SignatureDoesNotMatch"]
                             + " server string to sign is:" + aliyun_string_to_sign(req.method, params))
    with st.lock:
        # forget the nonces older than 15 minutes from the oldest end: a scan of all of them at
        # every call made a long run quadratic (20,000 SMS: 2 ms of the fake's CPU per call)
        while st.ali_nonces:
            t = next(iter(st.ali_nonces.values()))
            if now - t <= 900:
                break
            st.ali_nonces.popitem(last=False)
        if params["SignatureNonce"] in st.ali_nonces:
            return aliyun_answer("SignatureNonceUsed", fmt)
        st.ali_nonces[params["SignatureNonce"]] = now
    for name in ("PhoneNumbers", "SignName", "TemplateCode"):
        if not params.get(name):
            return aliyun_answer("Missing" + name, fmt, "%s is mandatory for this action." % name)
    sign, code = params["SignName"], params["TemplateCode"]
    if cfg["sign_names"] and sign not in cfg["sign_names"]:
        return aliyun_answer("isv.SMS_SIGNATURE_ILLEGAL", fmt)
    templates = cfg["templates"]
    if templates and code not in templates:
        return aliyun_answer("isv.SMS_TEMPLATE_ILLEGAL", fmt)
    numbers = [x.strip() for x in params["PhoneNumbers"].split(",")]
    if len(numbers) > 1000:
        return aliyun_answer("isv.MOBILE_COUNT_OVER_LIMIT", fmt)
    normal = []
    for x in numbers:
        pm = PHONE_RE.match(x)
        if not pm:
            return aliyun_answer("isv.MOBILE_NUMBER_ILLEGAL", fmt)
        normal.append(pm.group(1))
    names, text = template_spec(templates[code]) if templates else ([], None)
    tp = {}
    if "TemplateParam" in params:
        try:
            tp = json.loads(params["TemplateParam"])
        except ValueError:
            tp = None
        if not isinstance(tp, dict) or not all(isinstance(v, str) for v in tp.values()):
            return aliyun_answer("isv.INVALID_JSON_PARAM", fmt)
    if any(not tp.get(n) for n in names):
        return aliyun_answer("isv.TEMPLATE_MISSING_PARAMETERS", fmt)
    if cfg["param_max_chars"] and any(len(v) > cfg["param_max_chars"] for v in tp.values()):
        return aliyun_answer("isv.PARAM_LENGTH_LIMIT", fmt)
    limit = cfg["per_number_template_day"]
    with st.lock:
        if limit:
            for n in normal:
                q = st.ali_sends[(n, sign, code)]
                while q and now - q[0] >= 86400:
                    q.popleft()
                if len(q) >= limit:
                    return aliyun_answer("isv.BUSINESS_LIMIT_CONTROL", fmt, "触发天级流控Permits:%d" % limit)
        for n in normal:
            st.ali_sends[(n, sign, code)].append(now)
        st.bizid += 1
        biz = "%d^0" % st.bizid
        body = render(text, tp, "aliyun")
        for n in normal:
            st.record_sent("aliyun", to=[n], number=n, sign_name=sign, template=code, params=tp,
                           text=("【%s】%s" % (sign, body)) if body is not None else None,
                           key=params.get("OutId"), id=biz, method=req.method)
    return aliyun_answer("OK", fmt, biz_id=biz)


# ------------------------------------------------------------------------------------------------
# Tencent SendSms

AUTH_RE = re.compile(r"^TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([a-z]+)/tc3_request, "
                     r"SignedHeaders=([a-z0-9;\-]+), Signature=([0-9a-f]{64})$")


def tencent_send(st, req):
    cfg = st.cfg["tencent"]
    h = req.headers
    m = AUTH_RE.match(h.get("authorization", ""))
    if not m:
        return tencent_error("AuthFailure.InvalidAuthorization")
    secret_id, date, service, signed, sig = m.groups()
    if secret_id != cfg["secret_id"]:
        return tencent_error("AuthFailure.SecretIdNotFound")
    try:
        ts = int(h.get("x-tc-timestamp", ""))
    except ValueError:
        return tencent_error("MissingParameter", "The request is missing a required parameter `Timestamp`.")
    now = st.clock.now()
    if abs(now - ts) > 300:
        return tencent_error("AuthFailure.SignatureExpire",
                             "Signature expired. Timestamp: %d, current server time: %d" % (ts, int(now)))
    signed_list = signed.split(";")
    if "host" not in signed_list or "content-type" not in signed_list or service != "sms" or \
            date != datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d"):
        return tencent_error("AuthFailure.SignatureFailure")
    # the real endpoint's path is "/", which is what a client signs; the fake's /tencent/ prefix is
    # only where it is mounted here
    canon = tc3_canonical_request(req.method, "/", "", h, signed_list, req.body or b"")
    if not hmac.compare_digest(tc3_signature(cfg["secret_key"], service, ts, canon), sig):
        return tencent_error("AuthFailure.SignatureFailure")
    if req.method != "POST":
        return tencent_error("InvalidParameter", "Only POST is supported for the JSON body.")
    if h.get("x-tc-action", "") != "SendSms":
        return tencent_error("InvalidAction", "The requested action `%s` does not exist." % h.get("x-tc-action", ""))
    if h.get("x-tc-version", "") != "2021-01-11":
        return tencent_error("NoSuchVersion", "The requested version `%s` of service `sms` does not exist."
                             % h.get("x-tc-version", ""))
    if not h.get("x-tc-region"):
        return tencent_error("MissingParameter", "The request is missing a required parameter `Region`.")
    try:
        body = json.loads(req.body)
        if not isinstance(body, dict):
            raise ValueError
    except ValueError:
        return tencent_error("InvalidParameter", "The request body is not valid JSON.")
    numbers = body.get("PhoneNumberSet")
    if not isinstance(numbers, list) or not numbers:
        return tencent_error("MissingParameter.EmptyPhoneNumberSet")
    if len(numbers) > 200:
        return tencent_error("LimitExceeded.PhoneNumberCountLimit")
    if str(body.get("SmsSdkAppId", "")) != str(cfg["app_id"]):
        return tencent_error("InvalidParameterValue.SdkAppIdNotExist")
    sign, tid = body.get("SignName", ""), str(body.get("TemplateId", ""))
    if cfg["sign_names"] and sign not in cfg["sign_names"]:
        return tencent_error("FailedOperation.SignatureIncorrectOrUnapproved")
    templates = cfg["templates"]
    if not tid or (templates and tid not in templates):
        return tencent_error("FailedOperation.TemplateIncorrectOrUnapproved")
    tps = body.get("TemplateParamSet") or []
    if not isinstance(tps, list) or not all(isinstance(x, str) for x in tps):
        return tencent_error("InvalidParameter", "TemplateParamSet must be an array of strings.")
    names, text = template_spec(templates[tid]) if templates else (None, None)
    if names is not None and len(tps) != len(names):
        return tencent_error("FailedOperation.TemplateParamSetNotMatchApprovedTemplate")
    ctx = body.get("SessionContext", "")
    rendered = render(text, tps, "tencent")
    content = json.dumps([sign, tid, tps], ensure_ascii=False)
    fee = 1
    if rendered is not None:
        full = len("【%s】%s" % (sign, rendered))
        fee = 1 if full <= 70 else -(-full // 67)
    statuses = []
    with st.lock:
        for x in numbers:
            pm = PHONE_RE.match(str(x))
            shown = "+86" + pm.group(1) if pm else str(x)
            code = "Ok"
            if not pm:
                code = "InvalidParameterValue.IncorrectPhoneNumber"
            else:
                n = pm.group(1)
                last = st.tc_content.get((n, content))
                hq = st.tc_hour[n]
                while hq and now - hq[0] >= 3600:
                    hq.popleft()
                if cfg["same_content_seconds"] and last is not None and now - last < cfg["same_content_seconds"]:
                    code = "LimitExceeded.PhoneNumberThirtySecondLimit"
                elif cfg["per_number_hour"] and len(hq) >= cfg["per_number_hour"]:
                    code = "LimitExceeded.PhoneNumberOneHourLimit"
                elif cfg["per_number_day"] and st.tc_day[(n, cst_date(now))] >= cfg["per_number_day"]:
                    code = "LimitExceeded.PhoneNumberDailyLimit"
            if code != "Ok":
                statuses.append({"SerialNo": "", "PhoneNumber": shown, "Fee": 0, "SessionContext": ctx,
                                 "Code": code, "Message": TENCENT_MESSAGES[code], "IsoCode": "CN" if pm else ""})
                continue
            st.tc_content[(n, content)] = now
            hq.append(now)
            st.tc_day[(n, cst_date(now))] += 1
            st.serial += 1
            serial = "2433:%028d" % st.serial
            statuses.append({"SerialNo": serial, "PhoneNumber": shown, "Fee": fee, "SessionContext": ctx,
                             "Code": "Ok", "Message": "send success", "IsoCode": "CN"})
            st.record_sent("tencent", to=[n], number=n, sign_name=sign, template=tid, params=tps,
                           text=("【%s】%s" % (sign, rendered)) if rendered is not None else None,
                           key=ctx, id=serial)
    ans = Answer(200, jdump({"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}}),
                 "application/json", "sent", "Ok")
    bad = [s["Code"] for s in statuses if s["Code"] != "Ok"]
    if bad:
        ans.outcome = "sent" if len(bad) < len(statuses) else "refused"
        ans.code = ",".join(sorted(set(bad)))
    return ans


def tencent_injected(code, message, req):
    """An injected Tencent code: per number when Tencent says it per number, else for the request."""
    if not code.startswith(TENCENT_PER_NUMBER):
        return tencent_error(code, message, "injected")
    try:
        body = json.loads(req.body)
        numbers = [str(x) for x in body["PhoneNumberSet"]]
        ctx = body.get("SessionContext", "")
    except (ValueError, KeyError, TypeError):
        return tencent_error(code, message, "injected")
    sset = [{"SerialNo": "", "PhoneNumber": ("+86" + PHONE_RE.match(x).group(1)) if PHONE_RE.match(x) else x,
             "Fee": 0, "SessionContext": ctx, "Code": code,
             "Message": message or TENCENT_MESSAGES.get(code, code), "IsoCode": "CN"} for x in numbers]
    return Answer(200, jdump({"Response": {"SendStatusSet": sset, "RequestId": str(uuid.uuid4())}}),
                  "application/json", "injected", code)


def injected_code(provider, rule, req):
    code, message = str(rule.get("code", "")), rule.get("message")
    if provider == "aliyun":
        params = dict(req.query)
        if req.method == "POST" and req.body:
            params.update(urllib.parse.parse_qsl(req.body.decode("utf-8", "replace")))
        return aliyun_answer(code, params.get("Format", "XML"), message, "injected")
    if provider == "tencent":
        return tencent_injected(code, message, req)
    try:
        n = int(code)
    except ValueError:
        n = -1
    return (wx_answer if provider.startswith("wechat") else wecom_answer)(n, message, "injected")


# ------------------------------------------------------------------------------------------------
# HTTP


class Request:
    def __init__(self, method, path, query, headers, body):
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body


def route(req):
    """(provider name, handler) for a provider path; None for anything else."""
    p = req.path
    i = p.find("/cgi-bin/")
    if i >= 0:
        tail = p[i:]
        return {
            "/cgi-bin/token": ("wechat_token", wx_token),
            "/cgi-bin/stable_token": ("wechat_token", wx_stable_token),
            "/cgi-bin/message/template/send": ("wechat", lambda st, r: wx_send(st, r, False)),
            "/cgi-bin/message/subscribe/bizsend": ("wechat", lambda st, r: wx_send(st, r, True)),
            "/cgi-bin/gettoken": ("wecom_token", wecom_gettoken),
            "/cgi-bin/message/send": ("wecom_app", wecom_app_send),
            "/cgi-bin/webhook/send": ("wecom_robot", wecom_robot),
        }.get(tail)
    if p.startswith("/tencent"):
        return ("tencent", tencent_send)
    if p.startswith("/aliyun"):
        return ("aliyun", aliyun_send)
    if p == "/":
        if req.headers.get("authorization", "").startswith("TC3-") or "x-tc-action" in req.headers:
            return ("tencent", tencent_send)
        return ("aliyun", aliyun_send)
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart
    server_version = "fake-providers"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet: the calls are in /_fake/calls
        pass

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def reply(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n" + body)  # one write for the whole answer
        self.flush_headers()

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def handle_any(self):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        body = self.read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        req = Request(self.command, url.path, query, headers, body)
        if url.path.startswith("/_fake/"):
            try:
                status, obj = control(self.server, req)
            except (ValueError, TypeError, KeyError) as e:
                status, obj = 400, {"error": "bad control request: %s" % e}
            self.reply(status, jdump(obj), "application/json")
            return
        r = route(req)
        if not r:
            self.reply(404, b'{"error":"no such provider path"}', "application/json")
            return
        provider, fn = r
        rule, release = st.take_rule(provider)
        described = self.describe(req)
        if rule and rule["mode"] == "hang":
            self.hang(rule, release)
            with st.lock:
                st.record_call(provider, req.method, req.path, None, described, "hang")
            self.close_connection = True
            return
        if rule and rule["mode"] == "slow":
            release.wait(rule.get("ms", 1000) / 1000.0)
        if rule and rule["mode"] == "http":
            status = int(rule.get("status", 503))
            ans = Answer(status, http_error_page(status), "text/html", "injected", "http %d" % status)
        elif rule and rule["mode"] == "code":
            ans = injected_code(provider, rule, req)
        else:
            try:
                ans = fn(st, req)
            except Exception as e:  # a bug in the fake must show, not hang the client
                ans = Answer(500, ("fake error: %r" % e).encode(), "text/plain", "fake-bug", "500")
        with st.lock:
            st.record_call(provider, req.method, req.path, ans, described,
                           rule["mode"] if rule and rule["mode"] != "slow" else ("slow" if rule else None))
        self.reply(ans.status, ans.body, ans.ctype)

    @staticmethod
    def describe(req):
        q = "&".join("%s=%s" % (k, v) for k, v in req.query.items()
                     if k not in ("secret", "corpsecret", "access_token"))
        return (q + (" " if q and req.body else "") + req.body.decode("utf-8", "replace"))

    def hang(self, rule, release):
        """No answer until the client gives up (its socket closes), the rule is cleared, or ms pass."""
        deadline = time.monotonic() + rule.get("ms", 600000) / 1000.0
        sock = self.connection
        while time.monotonic() < deadline and not release.is_set():
            r, _, _ = select.select([sock], [], [], 0.1)
            if r:
                try:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        return
                except OSError:
                    return


def control(server, req):
    st = server.state
    name = req.path[len("/_fake/"):]
    if name == "health":
        return 200, {"ok": True, "port": server.server_address[1], "now": st.clock.now(), "pid": os.getpid()}
    if name == "reset" and req.method == "POST":
        st.reset()
        return 200, {"ok": True}
    if name in ("sent", "calls") and req.method == "GET":
        prov = req.query.get("provider")
        since = int(req.query.get("since", 0) or 0)
        with st.lock:
            rows = [r for r in (st.sent if name == "sent" else st.calls)
                    if (not prov or r["provider"] == prov) and r["seq"] > since]
        return 200, rows
    if name == "counts":
        out = {p: {"calls": 0, "sent": 0, "refused": 0, "injected": 0} for p in PROVIDERS}
        with st.lock:
            for r in st.calls:
                c = out[r["provider"]]
                c["calls"] += 1
                if r.get("injected") and r["injected"] != "slow":  # answered by a rule, not the provider
                    c["injected"] += 1
                elif r["outcome"] == "refused":
                    c["refused"] += 1
            for r in st.sent:
                out[r["provider"]]["sent"] += 1
        return 200, out
    try:
        body = json.loads(req.body or b"{}")
    except ValueError:
        return 400, {"error": "the body is not JSON"}
    if name == "fail":
        if req.method == "GET":
            with st.lock:
                return 200, {"rules": list(st.rules)}
        prov = body.get("provider") or req.query.get("provider")
        mode = body.get("mode", "clear" if req.method == "DELETE" else None)
        if prov not in PROVIDERS + ("*",):
            return 400, {"error": "provider must be one of %s or *" % ", ".join(PROVIDERS)}
        if mode == "clear":
            with st.lock:
                st.rules = [r for r in st.rules if prov != "*" and r["provider"] != prov]
                old, st.release = st.release, threading.Event()
            old.set()
            return 200, {"ok": True}
        if mode not in ("http", "hang", "slow", "code"):
            return 400, {"error": "mode must be http, hang, slow, code or clear"}
        if mode == "code" and "code" not in body:
            return 400, {"error": "mode code needs a code"}
        count = body.get("count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            return 400, {"error": "count must be a positive integer (or absent: until cleared)"}
        rule = {"provider": prov, "mode": mode, "count": count}
        for k in ("status", "ms", "code", "message"):
            if k in body:
                rule[k] = body[k]
        with st.lock:
            st.rules.append(rule)
        return 200, {"ok": True, "rule": rule}
    if name == "config" and req.method == "POST":
        try:
            with st.lock:
                merge_config(st.cfg, body)
        except ValueError as e:
            return 400, {"error": str(e)}
        return 200, {"ok": True}
    if name == "clock" and req.method == "POST":
        st.clock.fixed = None if body.get("now") is None else float(body["now"])
        return 200, {"ok": True, "now": st.clock.now()}
    if name == "expire_tokens" and req.method == "POST":
        kinds = {"wechat": ("oa", "stable"), "wecom": ("wecom",)}.get(body.get("provider"))
        if not kinds:
            return 400, {"error": "provider must be wechat or wecom"}
        now = st.clock.now()
        with st.lock:
            for t in st.tokens.values():
                if t["kind"] in kinds:
                    t["expires"] = min(t["expires"], now)
        return 200, {"ok": True}
    return 404, {"error": "no such control path"}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


# ------------------------------------------------------------------------------------------------
# command line


def parse_args(argv):
    a = argparse.ArgumentParser(description="Fake outbound providers for gridgov's tests.")
    a.add_argument("--host", default="127.0.0.1")
    a.add_argument("--port", type=int, default=0, help="0: any free port (printed on stdout)")
    a.add_argument("--port-file", help="also write the port here once listening")
    a.add_argument("--config", help="JSON file: {wechat:{…}, wecom:{…}, aliyun:{…}, tencent:{…}}")
    a.add_argument("--clock-file", help="epoch seconds, as the daemons' clock_file")
    a.add_argument("--wechat-appid")
    a.add_argument("--wechat-secret")
    a.add_argument("--wechat-template", action="append", default=[], metavar="ID=field,field")
    a.add_argument("--wecom-corpid")
    a.add_argument("--wecom-secret")
    a.add_argument("--wecom-agentid")
    a.add_argument("--robot-key", action="append", default=[])
    a.add_argument("--aliyun-key-id")
    a.add_argument("--aliyun-key-secret")
    a.add_argument("--aliyun-sign-name", action="append", default=[])
    a.add_argument("--aliyun-template", action="append", default=[], metavar="CODE=param,param")
    a.add_argument("--tencent-secret-id")
    a.add_argument("--tencent-secret-key")
    a.add_argument("--tencent-app-id")
    a.add_argument("--tencent-sign-name", action="append", default=[])
    a.add_argument("--tencent-template", action="append", default=[], metavar="ID=N")
    return a.parse_args(argv)


def config_from_args(args):
    cfg = default_config()
    if args.config:
        with open(args.config) as f:
            merge_config(cfg, json.load(f))

    def put(section, key, value):
        if value is not None:
            cfg[section][key] = value
    put("wechat", "appid", args.wechat_appid)
    put("wechat", "secret", args.wechat_secret)
    put("wecom", "corpid", args.wecom_corpid)
    put("wecom", "secret", args.wecom_secret)
    put("wecom", "agentid", args.wecom_agentid)
    put("aliyun", "access_key_id", args.aliyun_key_id)
    put("aliyun", "access_key_secret", args.aliyun_key_secret)
    put("tencent", "secret_id", args.tencent_secret_id)
    put("tencent", "secret_key", args.tencent_secret_key)
    put("tencent", "app_id", args.tencent_app_id)
    cfg["wecom"]["robot_keys"] = list(cfg["wecom"]["robot_keys"]) + args.robot_key
    cfg["aliyun"]["sign_names"] = list(cfg["aliyun"]["sign_names"]) + args.aliyun_sign_name
    cfg["tencent"]["sign_names"] = list(cfg["tencent"]["sign_names"]) + args.tencent_sign_name
    for spec in args.wechat_template:
        tid, _, fields = spec.partition("=")
        cfg["wechat"]["templates"][tid] = [x for x in fields.split(",") if x]
    for spec in args.aliyun_template:
        code, _, names = spec.partition("=")
        cfg["aliyun"]["templates"][code] = [x for x in names.split(",") if x]
    for spec in args.tencent_template:
        tid, _, n = spec.partition("=")
        cfg["tencent"]["templates"][tid] = int(n or 0)
    return cfg


def make_server(cfg, clock, host="127.0.0.1", port=0):
    srv = Server((host, port), Handler)
    srv.state = State(cfg, clock)
    return srv


def main(argv):
    args = parse_args(argv)
    try:
        cfg = config_from_args(args)
    except (OSError, ValueError) as e:
        print("providers.py: %s" % e, file=sys.stderr)
        return 2
    srv = make_server(cfg, Clock(args.clock_file), args.host, args.port)
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    print(port, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
