#!/usr/bin/env python3
"""The fake providers' self-test (tests/run.sh: fakes/self-test).

The fake runs as a process, as the suite starts it. The published vectors
(tests/vectors/provider-vectors.json) show its verifiers are the providers' algorithms: the Aliyun
example request is accepted at its own Timestamp (the fake's clock file set to it) and refused
with one parameter changed; the TC3 example signature is reproduced. Then each limit and each
failure mode answers in the real shape."""

import datetime
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import providers  # noqa: E402

VECTORS = json.load(open(os.path.join(TOP, "tests", "vectors", "provider-vectors.json"), encoding="utf-8"))
DEFAULT = json.load(open(os.path.join(HERE, "default.json"), encoding="utf-8"))

ALI = VECTORS["aliyun_rpc_signature"]
TC3 = VECTORS["tencent_tc3_signature"]
OPENID = "oia2TjuEGTNoeX76QEjQNrcURxG8"
T0 = 1796601600.0  # 2026-12-07T00:00:00Z


class Fake:
    """The fake as a process on a free port, with its clock in a file."""

    def __init__(self, extra_config):
        self.dir = tempfile.mkdtemp(prefix="fakes-")
        self.clock = os.path.join(self.dir, "clock")
        self.set_clock(T0)
        cfg = json.loads(json.dumps(DEFAULT))
        for section, values in extra_config.items():
            cfg.setdefault(section, {}).update(values)
        path = os.path.join(self.dir, "config.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cfg, f, ensure_ascii=False)
        self.cfg = cfg
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "providers.py"), "--port", "0",
                                      "--config", path, "--clock-file", self.clock],
                                     stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        self.port = int(self.proc.stdout.readline())
        self.base = "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()

    def set_clock(self, t):
        tmp = self.clock + ".tmp"
        with open(tmp, "w") as f:
            f.write("%.6f\n" % t)
        os.rename(tmp, self.clock)

    def call(self, method, path, body=None, headers=None, timeout=10):
        """(status, body bytes, headers) of one request."""
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers

    def json(self, method, path, body=None, headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False)
            headers = dict(headers or {}, **{"Content-Type": "application/json"})
        status, raw, _ = self.call(method, path, body, headers)
        return status, json.loads(raw)

    def control(self, name, body=None):
        return self.json("POST", "/_fake/" + name, body or {})[1]

    def sent(self, provider):
        return self.json("GET", "/_fake/sent?provider=" + provider)[1]

    def calls(self, provider):
        return self.json("GET", "/_fake/calls?provider=" + provider)[1]


# ------------------------------------------------------------------------------------------------
# clients as the adapters will be, written from the providers' documentation


def aliyun_params(fake, now, phone="13800138000", template="SMS_1001", tparam='{"code":"A1B2"}', **over):
    p = {"AccessKeyId": fake.cfg["aliyun"]["access_key_id"], "Action": "SendSms", "Format": "JSON",
         "OutId": "msg-1", "PhoneNumbers": phone, "RegionId": "cn-hangzhou", "SignName": "网格通",
         "SignatureMethod": "HMAC-SHA1", "SignatureNonce": str(uuid.uuid4()), "SignatureVersion": "1.0",
         "TemplateCode": template, "TemplateParam": tparam,
         "Timestamp": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "Version": "2017-05-25"}
    p.update(over)
    return p


def aliyun_send(fake, params, method="GET", secret=None, path="/aliyun/"):
    p = dict(params)
    if "Signature" not in p:
        p["Signature"] = providers.aliyun_signature(method, secret or fake.cfg["aliyun"]["access_key_secret"], p)
    q = "&".join("%s=%s" % (providers.aliyun_encode(k), providers.aliyun_encode(v)) for k, v in p.items())
    if method == "GET":
        return fake.call("GET", path + "?" + q)
    return fake.call("POST", path, q, {"Content-Type": "application/x-www-form-urlencoded"})


def tencent_send(fake, body, ts, secret_key=None, action="SendSms", version="2021-01-11", region="ap-guangzhou",
                 secret_id=None, path="/tencent/"):
    payload = json.dumps(body, ensure_ascii=False).encode()
    host = "127.0.0.1:%d" % fake.port
    ct = "application/json; charset=utf-8"
    canon = providers.tc3_canonical_request("POST", "/", "", {"content-type": ct, "host": host},
                                            ["content-type", "host"], payload)
    sig = providers.tc3_signature(secret_key or fake.cfg["tencent"]["secret_key"], "sms", ts, canon)
    date = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d")
    h = {"Content-Type": ct, "Host": host, "X-TC-Action": action, "X-TC-Version": version,
         "X-TC-Timestamp": str(ts),
         "Authorization": "TC3-HMAC-SHA256 Credential=%s/%s/sms/tc3_request, SignedHeaders=content-type;host, "
                          "Signature=%s" % (secret_id or fake.cfg["tencent"]["secret_id"], date, sig)}
    if region:
        h["X-TC-Region"] = region
    status, raw, _ = fake.call("POST", path, payload, h)
    return status, json.loads(raw)


def tencent_body(numbers, params=("1234",), ctx="msg-1", template="1110"):
    return {"PhoneNumberSet": list(numbers), "SmsSdkAppId": DEFAULT["tencent"]["app_id"], "SignName": "网格通",
            "TemplateId": template, "TemplateParamSet": list(params), "SessionContext": ctx}


def wx_token(fake):
    w = fake.cfg["wechat"]
    return fake.json("GET", "/cgi-bin/token?grant_type=client_credential&appid=%s&secret=%s"
                     % (w["appid"], w["secret"]))[1]["access_token"]


def wx_send(fake, token, data, openid=OPENID, template="TPL_RECEIVED", cmid=None):
    body = {"touser": openid, "template_id": template, "data": {k: {"value": v} for k, v in data.items()}}
    if cmid:
        body["client_msg_id"] = cmid
    return fake.json("POST", "/cgi-bin/message/template/send?access_token=" + token, body)


def robot(fake, content, key=None, mtype="text"):
    key = key or fake.cfg["wecom"]["robot_keys"][0]
    return fake.json("POST", "/cgi-bin/webhook/send?key=" + key, {"msgtype": mtype, mtype: {"content": content}})


GOOD_DATA = {"character_string1": "GG-2026-000123", "thing2": "路灯不亮", "time3": "2026年12月7日 08:00"}


class Base(unittest.TestCase):
    extra = {}

    @classmethod
    def setUpClass(cls):
        cls.fake = Fake(cls.extra)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.control("reset")
        self.fake.control("clock", {"now": None})
        self.fake.set_clock(T0)


# ------------------------------------------------------------------------------------------------


class Vectors(Base):
    extra = {"aliyun": {"access_key_id": ALI["params"]["AccessKeyId"], "access_key_secret": ALI["access_key_secret"],
                        "templates": {"SMS_71390007": ["customer"]}, "sign_names": [ALI["params"]["SignName"]]}}

    def vector_ts(self):
        return datetime.datetime.strptime(ALI["params"]["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()

    def test_aliyun_signature_function_reproduces_the_vector(self):
        self.assertEqual(providers.aliyun_signature(ALI["method"], ALI["access_key_secret"], ALI["params"]),
                         ALI["signature"])

    def test_aliyun_published_request_is_accepted_at_its_timestamp(self):
        self.fake.set_clock(self.vector_ts() + 60)
        status, raw, headers = aliyun_send(self.fake, dict(ALI["params"], Signature=ALI["signature"]))
        self.assertEqual(status, 200, raw)
        self.assertIn("xml", headers["Content-Type"])  # the vector asks Format=XML
        text = raw.decode()
        self.assertRegex(text, r"^<\?xml version='1.0' encoding='UTF-8'\?><SendSmsResponse><Code>OK</Code>"
                               r"<Message>OK</Message><BizId>\d+\^0</BizId><RequestId>[0-9A-F-]{36}</RequestId>"
                               r"</SendSmsResponse>$")
        sent = self.fake.sent("aliyun")
        self.assertEqual([s["number"] for s in sent], ["15300000001"])
        self.assertEqual(sent[0]["key"], "123")  # OutId
        self.assertEqual(sent[0]["params"], {"customer": "test"})
        # the same request again: its nonce was used
        status, raw, _ = aliyun_send(self.fake, dict(ALI["params"], Signature=ALI["signature"]))
        self.assertEqual(status, 400)
        self.assertIn("<Code>SignatureNonceUsed</Code>", raw.decode())

    def test_aliyun_published_request_with_a_changed_parameter_is_refused(self):
        self.fake.set_clock(self.vector_ts())
        for k, v in (("PhoneNumbers", "15300000002"), ("TemplateParam", '{"customer":"tesT"}'), ("OutId", "124")):
            status, raw, _ = aliyun_send(self.fake, dict(ALI["params"], Signature=ALI["signature"], **{k: v}))
            self.assertEqual(status, 400, k)
            self.assertIn("<Code>SignatureDoesNotMatch</Code>", raw.decode(), k)
            self.assertIn("server string to sign is:GET&amp;%2F&amp;AccessKeyId%3DtestId", raw.decode())
        # signed as GET but sent as POST: the method is part of what is signed
        status, raw, _ = aliyun_send(self.fake, dict(ALI["params"], Signature=ALI["signature"]), method="POST")
        self.assertEqual(status, 400)
        self.assertIn("SignatureDoesNotMatch", raw.decode())
        self.assertEqual(self.fake.sent("aliyun"), [])

    def test_aliyun_published_request_outside_fifteen_minutes_is_expired(self):
        for skew in (901, -901):
            self.fake.set_clock(self.vector_ts() + skew)
            status, raw, _ = aliyun_send(self.fake, dict(ALI["params"], Signature=ALI["signature"]))
            self.assertEqual(status, 400)
            self.assertIn("<Code>InvalidTimeStamp.Expired</Code>", raw.decode())

    def test_tc3_reproduces_the_vector(self):
        payload = TC3["payload"].encode()
        self.assertEqual(hashlib.sha256(payload).hexdigest(), TC3["hashed_payload"])
        canon = providers.tc3_canonical_request("POST", "/", "", {"content-type": TC3["content_type"],
                                                                 "host": TC3["host"]},
                                                ["content-type", "host"], payload)
        self.assertEqual(hashlib.sha256(canon.encode()).hexdigest(), TC3["hashed_canonical_request"])
        self.assertEqual(providers.tc3_signature(TC3["secret_key"], TC3["service"], TC3["timestamp"], canon),
                         TC3["signature"])
        self.assertNotEqual(providers.tc3_signature(TC3["secret_key"], TC3["service"], TC3["timestamp"] + 1, canon),
                            TC3["signature"])


class Aliyun(Base):
    extra = {"aliyun": {"templates": {"SMS_1001": {"params": ["code"], "text": "您的诉求${code}已受理"}},
                        "sign_names": ["网格通"]}}

    def ok(self, **kw):
        status, raw, _ = aliyun_send(self.fake, aliyun_params(self.fake, self.now, **kw))
        return status, json.loads(raw)

    def setUp(self):
        super().setUp()
        self.now = T0

    def test_json_success_shape_and_record(self):
        status, body = self.ok(OutId="4c0ffee0-0000-4000-8000-000000000001")
        self.assertEqual(status, 200)
        self.assertEqual(list(body), ["Code", "Message", "BizId", "RequestId"])
        self.assertEqual((body["Code"], body["Message"]), ("OK", "OK"))
        self.assertRegex(body["BizId"], r"^\d{15,20}\^0$")
        s = self.fake.sent("aliyun")[0]
        self.assertEqual((s["number"], s["template"], s["key"], s["id"]),
                         ("13800138000", "SMS_1001", "4c0ffee0-0000-4000-8000-000000000001", body["BizId"]))
        self.assertEqual(s["text"], "【网格通】您的诉求A1B2已受理")

    def test_post_form_is_signed_as_post(self):
        p = aliyun_params(self.fake, T0, phone="+8613800138001")
        status, raw, _ = aliyun_send(self.fake, p, method="POST")
        self.assertEqual((status, json.loads(raw)["Code"]), (200, "OK"))
        self.assertEqual(self.fake.sent("aliyun")[0]["number"], "13800138001")
        # a POST signed as GET
        p = aliyun_params(self.fake, T0)
        p["Signature"] = providers.aliyun_signature("GET", self.fake.cfg["aliyun"]["access_key_secret"], p)
        status, raw, _ = aliyun_send(self.fake, p, method="POST")
        self.assertEqual((status, json.loads(raw)["Code"]), (400, "SignatureDoesNotMatch"))

    def test_gateway_refusals(self):
        f = self.fake
        cases = [
            (aliyun_params(f, T0 + 16 * 60), None, 400, "InvalidTimeStamp.Expired"),
            (aliyun_params(f, T0, Timestamp="2026-12-07 00:00:00"), None, 400, "InvalidTimeStamp.Format"),
            (aliyun_params(f, T0), "wrong-secret", 400, "SignatureDoesNotMatch"),
            (aliyun_params(f, T0, AccessKeyId="LTAInobody"), None, 404, "InvalidAccessKeyId.NotFound"),
        ]
        for params, secret, want_status, want_code in cases:
            status, raw, _ = aliyun_send(f, params, secret=secret)
            body = json.loads(raw)
            self.assertEqual((status, body["Code"]), (want_status, want_code), raw)
            self.assertEqual(list(body), ["RequestId", "HostId", "Code", "Message", "Recommend"])
        p = aliyun_params(f, T0)
        self.assertEqual(aliyun_send(f, p)[0], 200)
        status, raw, _ = aliyun_send(f, dict(p, PhoneNumbers="13800138009"))  # same nonce, signed anew
        self.assertEqual((status, json.loads(raw)["Code"]), (400, "SignatureNonceUsed"))
        self.assertEqual(len(f.sent("aliyun")), 1)

    def test_business_refusals_are_http_200(self):
        cases = [
            (dict(phone="1380013800"), "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"),
            (dict(phone="13800138000,2380013800"), "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"),
            (dict(tparam='{"other":"x"}'), "isv.TEMPLATE_MISSING_PARAMETERS", None),
            (dict(tparam='{"code":1234}'), "isv.INVALID_JSON_PARAM", None),
            (dict(tparam='code=1234'), "isv.INVALID_JSON_PARAM", None),
            (dict(template="SMS_9999"), "isv.SMS_TEMPLATE_ILLEGAL", None),
            (dict(SignName="别的签名"), "isv.SMS_SIGNATURE_ILLEGAL", None),
            (dict(tparam=json.dumps({"code": "x" * 36})), "isv.PARAM_LENGTH_LIMIT", None),
        ]
        for kw, code, msg in cases:
            status, body = self.ok(**kw)
            self.assertEqual((status, body["Code"]), (200, code), kw)
            self.assertEqual(list(body), ["Message", "RequestId", "Code"])
            if msg:
                self.assertEqual(body["Message"], msg)
        self.assertEqual(self.fake.sent("aliyun"), [])

    def test_fifty_a_day_per_number_and_template(self):
        for i in range(50):
            self.fake.set_clock(T0 + i * 60)
            self.now = T0 + i * 60
            self.assertEqual(self.ok()[1]["Code"], "OK", i)
        status, body = self.ok()
        self.assertEqual((status, body["Code"], body["Message"]),
                         (200, "isv.BUSINESS_LIMIT_CONTROL", "触发天级流控Permits:50"))
        self.assertEqual(self.ok(phone="13800138001")[1]["Code"], "OK")  # another number is not limited
        # a rolling day: 24 h after the first send one more goes
        self.fake.set_clock(T0 + 86400)
        self.now = T0 + 86400
        self.assertEqual(self.ok()[1]["Code"], "OK")
        self.assertEqual(self.ok()[1]["Code"], "isv.BUSINESS_LIMIT_CONTROL")


class Tencent(Base):
    extra = {"tencent": {"templates": {"1110": {"params": 1, "text": "您的诉求{1}已受理"}}, "sign_names": ["网格通"]}}

    def test_per_number_status_and_record(self):
        status, body = tencent_send(self.fake, tencent_body(["+8613800138000", "13800138001"], ctx="m-42"), int(T0))
        self.assertEqual(status, 200)
        sset = body["Response"]["SendStatusSet"]
        self.assertEqual([s["Code"] for s in sset], ["Ok", "Ok"])
        self.assertEqual(list(sset[0]), ["SerialNo", "PhoneNumber", "Fee", "SessionContext", "Code", "Message",
                                         "IsoCode"])
        self.assertEqual((sset[1]["PhoneNumber"], sset[1]["Message"], sset[1]["SessionContext"], sset[1]["Fee"]),
                         ("+8613800138001", "send success", "m-42", 1))
        self.assertRegex(body["Response"]["RequestId"], r"^[0-9a-f-]{36}$")
        sent = self.fake.sent("tencent")
        self.assertEqual([(s["number"], s["key"], s["id"]) for s in sent],
                         [("13800138000", "m-42", sset[0]["SerialNo"]), ("13800138001", "m-42", sset[1]["SerialNo"])])
        self.assertEqual(sent[0]["text"], "【网格通】您的诉求1234已受理")

    def test_signature_and_header_refusals(self):
        f = self.fake
        cases = [
            (dict(ts=int(T0) + 301), "AuthFailure.SignatureExpire"),
            (dict(ts=int(T0) - 301), "AuthFailure.SignatureExpire"),
            (dict(ts=int(T0), secret_key="not-the-key"), "AuthFailure.SignatureFailure"),
            (dict(ts=int(T0), secret_id="AKIDnobody"), "AuthFailure.SecretIdNotFound"),
            (dict(ts=int(T0), action="SendStatusStatistics"), "InvalidAction"),
            (dict(ts=int(T0), version="2019-07-11"), "NoSuchVersion"),
            (dict(ts=int(T0), region=None), "MissingParameter"),
        ]
        for kw, code in cases:
            status, body = tencent_send(f, tencent_body(["13800138000"]), **kw)
            self.assertEqual(status, 200)
            self.assertEqual(list(body["Response"]), ["Error", "RequestId"], kw)
            self.assertEqual(body["Response"]["Error"]["Code"], code, kw)
        # a body changed after signing
        payload = json.dumps(tencent_body(["13800138000"])).encode()
        canon = providers.tc3_canonical_request("POST", "/", "", {"content-type": "application/json",
                                                                 "host": "127.0.0.1:%d" % f.port},
                                                ["content-type", "host"], payload)
        sig = providers.tc3_signature(f.cfg["tencent"]["secret_key"], "sms", int(T0), canon)
        h = {"Content-Type": "application/json", "X-TC-Action": "SendSms", "X-TC-Version": "2021-01-11",
             "X-TC-Region": "ap-guangzhou", "X-TC-Timestamp": str(int(T0)),
             "Authorization": "TC3-HMAC-SHA256 Credential=%s/2026-12-07/sms/tc3_request, "
                              "SignedHeaders=content-type;host, Signature=%s" % (f.cfg["tencent"]["secret_id"], sig)}
        status, raw, _ = f.call("POST", "/tencent/", payload.replace(b"138000", b"138009"), h)
        self.assertEqual(json.loads(raw)["Response"]["Error"]["Code"], "AuthFailure.SignatureFailure")
        status, raw, _ = f.call("POST", "/tencent/", payload, h)  # the untouched one goes
        self.assertEqual(json.loads(raw)["Response"]["SendStatusSet"][0]["Code"], "Ok")
        # unsigned
        status, raw, _ = f.call("POST", "/tencent/", payload, {"Content-Type": "application/json"})
        self.assertEqual(json.loads(raw)["Response"]["Error"]["Code"], "AuthFailure.InvalidAuthorization")
        self.assertEqual(len(f.sent("tencent")), 1)

    def test_request_refusals(self):
        cases = [
            (tencent_body([]), "MissingParameter.EmptyPhoneNumberSet"),
            (tencent_body(["1380013%04d" % i for i in range(201)]), "LimitExceeded.PhoneNumberCountLimit"),
            (tencent_body(["13800138000"], params=()), "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"),
            (tencent_body(["13800138000"], template="9"), "FailedOperation.TemplateIncorrectOrUnapproved"),
            (dict(tencent_body(["13800138000"]), SignName="x"), "FailedOperation.SignatureIncorrectOrUnapproved"),
            (dict(tencent_body(["13800138000"]), SmsSdkAppId="1400999999"), "InvalidParameterValue.SdkAppIdNotExist"),
        ]
        for body, code in cases:
            _, ans = tencent_send(self.fake, body, int(T0))
            self.assertEqual(ans["Response"]["Error"]["Code"], code)
        _, ans = tencent_send(self.fake, tencent_body(["1380013%04d" % i for i in range(200)]), int(T0))
        self.assertEqual(len(ans["Response"]["SendStatusSet"]), 200)

    def test_thirty_seconds_same_content_and_bad_number_are_per_number(self):
        ts = int(T0)
        tencent_send(self.fake, tencent_body(["13800138000"]), ts)
        self.fake.set_clock(T0 + 29)
        _, ans = tencent_send(self.fake, tencent_body(["13800138000", "13800138001", "12345"]), ts + 29)
        sset = ans["Response"]["SendStatusSet"]
        self.assertEqual([s["Code"] for s in sset],
                         ["LimitExceeded.PhoneNumberThirtySecondLimit", "Ok", "InvalidParameterValue.IncorrectPhoneNumber"])
        self.assertEqual((sset[0]["SerialNo"], sset[0]["Fee"]), ("", 0))
        # other content to the same number is not held back; the same after 30 s goes
        _, ans = tencent_send(self.fake, tencent_body(["13800138000"], params=("9999",)), ts + 29)
        self.assertEqual(ans["Response"]["SendStatusSet"][0]["Code"], "Ok")
        self.fake.set_clock(T0 + 30)
        _, ans = tencent_send(self.fake, tencent_body(["13800138000"]), ts + 30)
        self.assertEqual(ans["Response"]["SendStatusSet"][0]["Code"], "Ok")
        self.assertEqual([s["number"] for s in self.fake.sent("tencent")],
                         ["13800138000", "13800138001", "13800138000", "13800138000"])

    def test_daily_limit_per_number(self):
        for i in range(10):
            self.fake.set_clock(T0 + i * 40)
            _, ans = tencent_send(self.fake, tencent_body(["13800138000"]), int(T0) + i * 40)
            self.assertEqual(ans["Response"]["SendStatusSet"][0]["Code"], "Ok")
        self.fake.set_clock(T0 + 400)
        _, ans = tencent_send(self.fake, tencent_body(["13800138000"]), int(T0) + 400)
        self.assertEqual(ans["Response"]["SendStatusSet"][0]["Code"], "LimitExceeded.PhoneNumberDailyLimit")

    def test_root_path_routes_by_headers(self):
        _, ans = tencent_send(self.fake, tencent_body(["13800138000"]), int(T0), path="/")
        self.assertEqual(ans["Response"]["SendStatusSet"][0]["Code"], "Ok")


class WeChat(Base):
    extra = {"wechat": {"templates": {"TPL_RECEIVED": ["character_string1", "thing2", "time3"],
                                      "TPL_RATE": ["phrase1", "thing2"]},
                        "unfollowed": ["oUNFOLLOWED00000000000000001"], "blocked": ["oBLOCKED0000000000000000000001"[:28]]}}

    def test_token_errors(self):
        w = self.fake.cfg["wechat"]
        for q, code in (("appid=%s&secret=x" % w["appid"], 40125), ("appid=wxnobody&secret=x", 40013),
                        ("appid=%s&secret=%s" % (w["appid"], w["secret"]), 40002)):
            gt = "" if code == 40002 else "grant_type=client_credential&"
            status, body = self.fake.json("GET", "/cgi-bin/token?" + gt + q)
            self.assertEqual((status, body["errcode"]), (200, code))
            self.assertEqual(list(body), ["errcode", "errmsg"])

    def test_new_token_invalidates_the_old_after_five_minutes(self):
        old = wx_token(self.fake)
        self.fake.set_clock(T0 + 3600)
        new = wx_token(self.fake)
        self.assertNotEqual(old, new)
        self.assertEqual(wx_send(self.fake, old, GOOD_DATA)[1]["errcode"], 0)  # the overlap
        self.fake.set_clock(T0 + 3600 + 299)
        self.assertEqual(wx_send(self.fake, old, GOOD_DATA)[1]["errcode"], 0)
        self.fake.set_clock(T0 + 3600 + 300)
        body = wx_send(self.fake, old, GOOD_DATA)[1]
        self.assertEqual(body["errcode"], 40001)
        self.assertTrue(body["errmsg"].startswith("invalid credential, access_token is invalid or not latest"))
        self.assertEqual(wx_send(self.fake, new, GOOD_DATA)[1]["errcode"], 0)
        self.fake.set_clock(T0 + 3600 + 7200)
        self.assertEqual(wx_send(self.fake, new, GOOD_DATA)[1]["errcode"], 42001)
        self.assertEqual(wx_send(self.fake, "", GOOD_DATA)[1]["errcode"], 41001)
        self.assertEqual(wx_send(self.fake, "not%20a%20token%21", GOOD_DATA)[1]["errcode"], 40014)

    def test_stable_token_is_the_same_until_near_expiry(self):
        w = self.fake.cfg["wechat"]
        req = {"grant_type": "client_credential", "appid": w["appid"], "secret": w["secret"]}
        a = self.fake.json("POST", "/cgi-bin/stable_token", req)[1]
        self.fake.set_clock(T0 + 1000)
        b = self.fake.json("POST", "/cgi-bin/stable_token", req)[1]
        self.assertEqual(a["access_token"], b["access_token"])
        self.assertEqual(b["expires_in"], 6200)
        self.fake.set_clock(T0 + 7200 - 299)
        c = self.fake.json("POST", "/cgi-bin/stable_token", req)[1]
        self.assertNotEqual(c["access_token"], a["access_token"])
        d = self.fake.json("POST", "/cgi-bin/stable_token", dict(req, force_refresh=True))[1]
        self.assertNotEqual(d["access_token"], c["access_token"])
        self.assertEqual(self.fake.json("POST", "/cgi-bin/stable_token", dict(req, force_refresh=True))[1]["errcode"],
                         45011)
        self.assertEqual(wx_send(self.fake, d["access_token"], GOOD_DATA)[1]["errcode"], 0)

    def test_send_shape_and_client_msg_id_dedup(self):
        tok = wx_token(self.fake)
        status, body = wx_send(self.fake, tok, GOOD_DATA, cmid="4c0ffee0-0000-4000-8000-000000000001")
        self.assertEqual((status, list(body), body["errcode"], body["errmsg"]), (200, ["errcode", "errmsg", "msgid"], 0, "ok"))
        self.assertIsInstance(body["msgid"], int)
        self.assertGreater(body["msgid"], 2 ** 32)  # int64 on the wire
        self.fake.set_clock(T0 + 599)
        again = wx_send(self.fake, tok, GOOD_DATA, cmid="4c0ffee0-0000-4000-8000-000000000001")[1]
        self.assertEqual(again["msgid"], body["msgid"])
        sent = self.fake.sent("wechat")
        self.assertEqual(len(sent), 1)
        self.assertEqual((sent[0]["openid"], sent[0]["key"], sent[0]["id"], sent[0]["params"]["thing2"]),
                         (OPENID, "4c0ffee0-0000-4000-8000-000000000001", str(body["msgid"]), "路灯不亮"))
        self.assertEqual(self.fake.calls("wechat")[-1]["outcome"], "dedup")
        self.fake.set_clock(T0 + 600)
        third = wx_send(self.fake, tok, GOOD_DATA, cmid="4c0ffee0-0000-4000-8000-000000000001")[1]
        self.assertNotEqual(third["msgid"], body["msgid"])
        self.assertEqual(len(self.fake.sent("wechat")), 2)

    def test_typed_fields(self):
        tok = wx_token(self.fake)
        cases = [
            (dict(GOOD_DATA, thing2="一" * 21), "thing2", "invalid"),
            (dict(GOOD_DATA, character_string1="A" * 33), "character_string1", "invalid"),
            (dict(GOOD_DATA, character_string1="编号12"), "character_string1", "invalid"),
            (dict(GOOD_DATA, time3="明天上午"), "time3", "invalid"),
            ({"character_string1": "GG-1", "time3": "2026-12-07 08:00"}, "thing2", "is empty"),
        ]
        for data, key, what in cases:
            body = wx_send(self.fake, tok, data)[1]
            self.assertEqual(body["errcode"], 47003, data)
            self.assertTrue(body["errmsg"].startswith("argument invalid! data.%s.value %s" % (key, what)), body)
        self.assertEqual(wx_send(self.fake, tok, dict(GOOD_DATA, thing2="一" * 20))[1]["errcode"], 0)
        self.assertEqual(wx_send(self.fake, tok, {"phrase1": "满意了吗啊", "thing2": "x"}, template="TPL_RATE")[1]["errcode"], 0)
        self.assertEqual(wx_send(self.fake, tok, {"phrase1": "非常非常满意", "thing2": "x"}, template="TPL_RATE")[1]["errcode"],
                         47003)
        self.assertEqual(wx_send(self.fake, tok, {"phrase1": "good", "thing2": "x"}, template="TPL_RATE")[1]["errcode"], 47003)

    def test_recipients_and_template(self):
        tok = wx_token(self.fake)
        cfg = self.fake.cfg["wechat"]
        self.assertEqual(wx_send(self.fake, tok, GOOD_DATA, openid="short")[1]["errcode"], 40003)
        self.assertEqual(wx_send(self.fake, tok, GOOD_DATA, openid=cfg["unfollowed"][0])[1]["errcode"], 43004)
        self.assertEqual(wx_send(self.fake, tok, GOOD_DATA, openid=cfg["blocked"][0])[1]["errcode"], 43101)
        self.assertEqual(wx_send(self.fake, tok, GOOD_DATA, template="TPL_NONE")[1]["errcode"], 40037)
        status, raw, _ = self.fake.call("POST", "/cgi-bin/message/template/send?access_token=" + tok, "{not json")
        self.assertEqual(json.loads(raw)["errcode"], 47001)
        self.assertEqual(self.fake.sent("wechat"), [])


    def test_daily_quota_and_subscribe_bizsend(self):
        tok = wx_token(self.fake)
        self.fake.control("config", {"wechat": {"daily_quota": 2}})
        try:
            body = {"touser": OPENID, "template_id": "TPL_RATE", "page": "pages/t",
                    "data": {"phrase1": {"value": "满意"}, "thing2": {"value": "x"}}}
            ans = self.fake.json("POST", "/cgi-bin/message/subscribe/bizsend?access_token=" + tok, body)[1]
            self.assertEqual(ans["errcode"], 0)
            self.assertEqual(wx_send(self.fake, tok, GOOD_DATA)[1]["errcode"], 0)
            ans = wx_send(self.fake, tok, GOOD_DATA)[1]
            self.assertEqual(ans["errcode"], 45009)
            self.assertTrue(ans["errmsg"].startswith("reach max api daily quota limit rid: "))
            self.fake.set_clock(T0 + 86400)  # the next day (with a token of that day)
            self.assertEqual(wx_send(self.fake, wx_token(self.fake), GOOD_DATA)[1]["errcode"], 0)
        finally:
            self.fake.control("config", {"wechat": {"daily_quota": 100000}})
        self.assertEqual([s["api"] for s in self.fake.sent("wechat")],
                         ["subscribe/bizsend", "template/send", "template/send"])


class WeCom(Base):
    extra = {"wecom": {"users": ["zhangsan", "lisi"]}}

    def token(self):
        w = self.fake.cfg["wecom"]
        return self.fake.json("GET", "/cgi-bin/gettoken?corpid=%s&corpsecret=%s" % (w["corpid"], w["secret"]))[1]

    def app(self, tok, touser, content="新的派单", **extra):
        body = {"touser": touser, "msgtype": "text", "agentid": int(self.fake.cfg["wecom"]["agentid"]),
                "text": {"content": content}, "safe": 0}
        body.update(extra)
        return self.fake.json("POST", "/cgi-bin/message/send?access_token=" + tok, body)[1]

    def test_robot_limits_and_errors(self):
        for i in range(20):
            self.assertEqual(robot(self.fake, "第%d条" % i), (200, {"errcode": 0, "errmsg": "ok"}))
        status, body = robot(self.fake, "第21条")
        self.assertEqual((status, body["errcode"]), (200, 45009))
        self.assertTrue(body["errmsg"].startswith("api freq out of limit, hint: ["))
        self.assertEqual(robot(self.fake, "另一个机器人", key=self.fake.cfg["wecom"]["robot_keys"][1])[1]["errcode"], 0)
        self.fake.set_clock(T0 + 60)  # the next minute
        self.assertEqual(robot(self.fake, "下一分钟")[1]["errcode"], 0)
        body = robot(self.fake, "x", key="no-such-key")[1]
        self.assertEqual(body["errcode"], 93000)
        self.assertTrue(body["errmsg"].startswith("invalid webhook url, hint: ["))
        self.assertEqual(robot(self.fake, "字" * 682)[1]["errcode"], 0)  # 2046 bytes
        self.assertEqual(robot(self.fake, "字" * 683)[1]["errcode"], 40058)  # 2049 bytes
        body = robot(self.fake, "#" * 4097, mtype="markdown")[1]
        self.assertEqual(body["errcode"], 40058)
        self.assertTrue(body["errmsg"].startswith("markdown.content exceed max length 4096. invalid Request Parameter, "
                                                  "hint: ["))
        self.assertIn("more info at https://open.work.weixin.qq.com/devtool/query?e=40058", body["errmsg"])
        self.assertEqual(robot(self.fake, "#" * 4096, mtype="markdown")[1]["errcode"], 0)
        sent = self.fake.sent("wecom_robot")
        self.assertEqual(len(sent), 20 + 1 + 1 + 1 + 1)
        self.assertEqual(sent[0]["text"], "第0条")

    def test_app_token_and_send(self):
        a = self.token()
        self.fake.set_clock(T0 + 100)
        b = self.token()
        self.assertEqual((a["errcode"], a["access_token"]), (0, b["access_token"]))  # the same while valid
        self.assertEqual(b["expires_in"], 7100)
        w = self.fake.cfg["wecom"]
        bad = self.fake.json("GET", "/cgi-bin/gettoken?corpid=%s&corpsecret=wrong" % w["corpid"])[1]
        self.assertEqual(bad["errcode"], 40091)
        body = self.app(a["access_token"], "zhangsan|wangwu")
        self.assertEqual(list(body), ["errcode", "errmsg", "invaliduser", "invalidparty", "invalidtag", "msgid"])
        self.assertEqual((body["errcode"], body["invaliduser"]), (0, "wangwu"))
        self.assertIsInstance(body["msgid"], str)
        self.assertEqual(self.app(a["access_token"], "wangwu|zhaoliu")["errcode"], 81013)
        self.assertEqual(self.app(a["access_token"], "lisi", agentid=9)["errcode"], 40056)
        self.assertEqual(self.app("bogus", "lisi")["errcode"], 40014)
        self.fake.control("expire_tokens", {"provider": "wecom"})
        self.assertEqual(self.app(a["access_token"], "lisi")["errcode"], 42001)
        self.assertNotEqual(self.token()["access_token"], a["access_token"])
        sent = self.fake.sent("wecom_app")
        self.assertEqual([(s["userid"], s["text"]) for s in sent], [(["zhangsan"], "新的派单")])

    def test_app_member_limit_drops_silently(self):
        tok = self.token()["access_token"]
        for i in range(30):
            self.assertEqual(self.app(tok, "zhangsan", content="第%d条" % i)["errcode"], 0)
        body = self.app(tok, "zhangsan|lisi", content="第31条")
        self.assertEqual((body["errcode"], body["invaliduser"]), (0, ""))
        sent = self.fake.sent("wecom_app")
        self.assertEqual(len(sent), 31)
        self.assertEqual((sent[-1]["userid"], sent[-1]["dropped"]), (["lisi"], ["zhangsan"]))
        self.fake.set_clock(T0 + 60)
        self.app(tok, "zhangsan")
        self.assertEqual(self.fake.sent("wecom_app")[-1]["userid"], ["zhangsan"])

    def test_app_duplicate_check(self):
        tok = self.token()["access_token"]
        a = self.app(tok, "lisi", enable_duplicate_check=1, duplicate_check_interval=600)
        b = self.app(tok, "lisi", enable_duplicate_check=1, duplicate_check_interval=600)
        self.assertEqual((a["errcode"], b["errcode"], a["msgid"]), (0, 0, b["msgid"]))
        self.assertEqual(len(self.fake.sent("wecom_app")), 1)


class Failures(Base):
    def test_http_status_for_n_calls(self):
        self.fake.control("fail", {"provider": "wecom_robot", "mode": "http", "status": 502, "count": 2})
        for _ in range(2):
            status, raw, headers = self.fake.call("POST", "/cgi-bin/webhook/send?key=k", "{}")
            self.assertEqual(status, 502)
            self.assertIn(b"502 Bad Gateway", raw)
        self.assertEqual(robot(self.fake, "x")[1]["errcode"], 0)
        self.assertEqual([c["status"] for c in self.fake.calls("wecom_robot")], [502, 502, 200])
        self.assertEqual(self.fake.json("GET", "/_fake/counts")[1]["wecom_robot"],
                         {"calls": 3, "sent": 1, "refused": 0, "injected": 2})

    def test_until_cleared_and_per_provider(self):
        self.fake.control("fail", {"provider": "aliyun", "mode": "http"})
        for _ in range(3):
            self.assertEqual(aliyun_send(self.fake, aliyun_params(self.fake, T0))[0], 503)
        self.assertEqual(robot(self.fake, "x")[1]["errcode"], 0)  # other providers unaffected
        self.fake.control("fail", {"provider": "aliyun", "mode": "clear"})
        self.assertEqual(aliyun_send(self.fake, aliyun_params(self.fake, T0))[0], 200)

    def test_hang_until_the_client_gives_up(self):
        self.fake.control("fail", {"provider": "tencent", "mode": "hang", "count": 1})
        t = time.monotonic()
        with self.assertRaises((socket.timeout, urllib.error.URLError, TimeoutError)):
            self.fake.call("POST", "/tencent/", "{}", timeout=0.8)
        self.assertGreaterEqual(time.monotonic() - t, 0.7)
        for _ in range(40):  # recorded once the fake sees the client gone
            calls = self.fake.calls("tencent")
            if calls:
                break
            time.sleep(0.05)
        self.assertEqual(calls[0]["outcome"], "hang")
        # the rule was for one call
        status, body = tencent_send(self.fake, tencent_body(["13800138000"]), int(T0))
        self.assertEqual(body["Response"]["SendStatusSet"][0]["Code"], "Ok")

    def test_hang_released_by_clear(self):
        self.fake.control("fail", {"provider": "wechat_token", "mode": "hang"})
        import threading
        out = {}

        def call():
            try:
                out["r"] = self.fake.call("GET", "/cgi-bin/token", timeout=10)
            except Exception as e:  # the connection closes without an answer
                out["e"] = e
        th = threading.Thread(target=call)
        th.start()
        time.sleep(0.3)
        self.fake.control("fail", {"provider": "wechat_token", "mode": "clear"})
        th.join(5)
        self.assertFalse(th.is_alive())
        self.assertIn("e", out)

    def test_slow(self):
        self.fake.control("fail", {"provider": "wecom_robot", "mode": "slow", "ms": 400, "count": 1})
        t = time.monotonic()
        self.assertEqual(robot(self.fake, "x")[1]["errcode"], 0)
        self.assertGreaterEqual(time.monotonic() - t, 0.4)
        t = time.monotonic()
        robot(self.fake, "y")
        self.assertLess(time.monotonic() - t, 0.3)
        self.assertEqual(len(self.fake.sent("wecom_robot")), 2)

    def test_codes_in_each_providers_shape(self):
        f = self.fake
        f.control("fail", {"provider": "wechat", "mode": "code", "code": 45009, "count": 1})
        body = wx_send(f, wx_token(f), GOOD_DATA)[1]
        self.assertEqual((body["errcode"], list(body)), (45009, ["errcode", "errmsg"]))
        self.assertTrue(body["errmsg"].startswith("reach max api daily quota limit rid: "))

        f.control("fail", {"provider": "aliyun", "mode": "code", "code": "isv.BUSINESS_LIMIT_CONTROL", "count": 1})
        status, raw, _ = aliyun_send(f, aliyun_params(f, T0))
        self.assertEqual((status, json.loads(raw)["Code"], list(json.loads(raw))),
                         (200, "isv.BUSINESS_LIMIT_CONTROL", ["Message", "RequestId", "Code"]))
        f.control("fail", {"provider": "aliyun", "mode": "code", "code": "isp.SYSTEM_ERROR", "count": 1})
        status, raw, _ = aliyun_send(f, aliyun_params(f, T0, Format="XML"))
        self.assertEqual(status, 200)
        self.assertIn("<Code>isp.SYSTEM_ERROR</Code>", raw.decode())
        f.control("fail", {"provider": "aliyun", "mode": "code", "code": "ServiceUnavailable", "count": 1})
        status, raw, _ = aliyun_send(f, aliyun_params(f, T0))
        self.assertEqual((status, json.loads(raw)["Code"]), (503, "ServiceUnavailable"))

        f.control("fail", {"provider": "tencent", "mode": "code", "code": "LimitExceeded.PhoneNumberDailyLimit",
                           "count": 1})
        _, body = tencent_send(f, tencent_body(["13800138000", "13800138001"], ctx="c1"), int(T0))
        sset = body["Response"]["SendStatusSet"]
        self.assertEqual([(s["Code"], s["PhoneNumber"], s["SessionContext"]) for s in sset],
                         [("LimitExceeded.PhoneNumberDailyLimit", "+8613800138000", "c1"),
                          ("LimitExceeded.PhoneNumberDailyLimit", "+8613800138001", "c1")])
        f.control("fail", {"provider": "tencent", "mode": "code", "code": "InternalError.Timeout", "count": 1})
        _, body = tencent_send(f, tencent_body(["13800138000"]), int(T0))
        self.assertEqual(body["Response"]["Error"]["Code"], "InternalError.Timeout")

        f.control("fail", {"provider": "wecom_robot", "mode": "code", "code": 45009, "count": 1})
        body = robot(f, "x")[1]
        self.assertEqual(body["errcode"], 45009)
        self.assertTrue(body["errmsg"].startswith("api freq out of limit, hint: ["))
        f.control("fail", {"provider": "wecom_token", "mode": "code", "code": -1, "count": 1})
        self.assertEqual(f.json("GET", "/cgi-bin/gettoken?corpid=x&corpsecret=y")[1]["errcode"], -1)
        self.assertEqual(f.sent("aliyun") + f.sent("tencent") + f.sent("wechat") + f.sent("wecom_robot"), [])

    def test_control_refuses_nonsense(self):
        status, body = self.fake.json("POST", "/_fake/fail", {"provider": "nobody", "mode": "http"})
        self.assertEqual(status, 400)
        status, body = self.fake.json("POST", "/_fake/fail", {"provider": "aliyun", "mode": "explode"})
        self.assertEqual(status, 400)
        status, body = self.fake.json("POST", "/_fake/config", {"aliyun": {"no_such_key": 1}})
        self.assertEqual(status, 400)
        status, body = self.fake.json("POST", "/_fake/fail", {"provider": "aliyun", "mode": "http", "count": 0})
        self.assertEqual(status, 400)
        self.assertEqual(self.fake.json("GET", "/_fake/nothing")[0], 404)

    def test_reset_forgets_records_and_rules(self):
        robot(self.fake, "x")
        self.fake.control("fail", {"provider": "wecom_robot", "mode": "http"})
        self.fake.control("reset")
        self.assertEqual(self.fake.sent("wecom_robot"), [])
        self.assertEqual(self.fake.json("GET", "/_fake/calls")[1], [])
        self.assertEqual(robot(self.fake, "y")[1]["errcode"], 0)
        health = self.fake.json("GET", "/_fake/health")[1]
        self.assertEqual((health["ok"], health["port"], health["now"]), (True, self.fake.port, T0))


class CommandLine(unittest.TestCase):
    """Credentials and templates from the command line alone, no config file."""

    def test_flags(self):
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "providers.py"), "--port", "0", "--wechat-appid", "wxcli",
             "--wechat-secret", "s1", "--wechat-template", "TPL=thing2", "--robot-key", "k1",
             "--wecom-corpid", "wwcli", "--wecom-secret", "s2", "--wecom-agentid", "7",
             "--aliyun-key-id", "id1", "--aliyun-key-secret", "sec1", "--aliyun-sign-name", "签名",
             "--aliyun-template", "SMS_1=code,name", "--tencent-secret-id", "AKIDcli", "--tencent-secret-key", "k3",
             "--tencent-app-id", "1400000001", "--tencent-sign-name", "签名", "--tencent-template", "1110=2"],
            stdout=subprocess.PIPE, text=True)
        try:
            port = int(proc.stdout.readline())
            fake = Fake.__new__(Fake)
            fake.port, fake.base = port, "http://127.0.0.1:%d" % port
            fake.cfg = {"aliyun": {"access_key_id": "id1", "access_key_secret": "sec1"},
                        "tencent": {"secret_id": "AKIDcli", "secret_key": "k3"}}
            tok = fake.json("GET", "/cgi-bin/token?grant_type=client_credential&appid=wxcli&secret=s1")[1]
            self.assertEqual(wx_send(fake, tok["access_token"], {"thing2": "x"}, template="TPL")[1]["errcode"], 0)
            self.assertEqual(wx_send(fake, tok["access_token"], {"thing2": "x"}, template="TPL2")[1]["errcode"], 40037)
            self.assertEqual(robot(fake, "x", key="k1")[1]["errcode"], 0)
            self.assertEqual(fake.json("GET", "/cgi-bin/gettoken?corpid=wwcli&corpsecret=s2")[1]["errcode"], 0)
            now = time.time()
            p = aliyun_params(fake, now, template="SMS_1", tparam='{"code":"1","name":"张"}', SignName="签名")
            self.assertEqual(json.loads(aliyun_send(fake, p)[1])["Code"], "OK")
            p = aliyun_params(fake, now, template="SMS_1", tparam='{"code":"1"}', SignName="签名")
            self.assertEqual(json.loads(aliyun_send(fake, p)[1])["Code"], "isv.TEMPLATE_MISSING_PARAMETERS")
            body = dict(tencent_body(["13800138000"], params=("1", "2")), SmsSdkAppId="1400000001", SignName="签名")
            _, ans = tencent_send(fake, body, int(now))
            self.assertEqual(ans["Response"]["SendStatusSet"][0]["Code"], "Ok")
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()


if __name__ == "__main__":
    unittest.main(verbosity=1)
