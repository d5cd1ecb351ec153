'use strict';
// Cross-check of common/wxcrypt (through wxcrypt_cli) against two independent npm implementations
// of WeChat's message crypto, @wecom/crypto (WeCom's own) and wechat-crypto (node-webot):
//   - our ciphertexts decrypt with both libraries to the same message and appid, and hold the
//     layout random(16) || msg_len || msg || appid || pad with WeChat's 32-byte pad (checked here
//     with node's crypto: both libraries would also accept a 16-byte pad);
//   - both libraries' ciphertexts decrypt with ours;
//   - with the same fixed random, ours and @wecom/crypto's are the same text;
//   - signatures (three and four parts) agree;
//   - a 16-byte-padded ciphertext, which both libraries accept, and a wrong appid are refused.
// Messages are random: every length 0..70 bytes and longer ones, ASCII, 2-, 3- and 4-byte UTF-8.
// Run by tests/xcheck/run.sh, which installs the libraries: XCHECK_CLI, XCHECK_MODULES, GRIDGOV_TOP.
process.noDeprecation = true; // wechat-crypto 0.0.2 uses new Buffer()
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const cli = process.env.XCHECK_CLI;
const mods = process.env.XCHECK_MODULES;
const top = process.env.GRIDGOV_TOP || path.join(__dirname, '..', '..');
const wecom = require(path.join(mods, '@wecom/crypto'));
const WXBizMsgCrypt = require(path.join(mods, 'wechat-crypto'));

let checks = 0;
let failures = 0;
function fail(what, detail) {
  failures++;
  console.log(`FAIL ${what}\n  ${JSON.stringify(detail)}`);
}
function check(ok, what, detail) {
  checks++;
  if (!ok) fail(what, detail);
  return ok;
}

function run(args, input) {
  const r = spawnSync(cli, args, { input: input === undefined ? Buffer.alloc(0) : input, maxBuffer: 1 << 26 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function randomAlnum(n) {
  const b = crypto.randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += ALNUM[b[i] % ALNUM.length];
  return s;
}
function randomInt(n) { return crypto.randomInt(n); }

// A string of exactly `bytes` UTF-8 bytes drawn from `kind`.
const POOLS = {
  ascii: ['a', 'Z', '0', ' ', '<', '>', '&', '"', '\n', '/', '='],
  two: ['é', 'ü', 'ñ', 'Ω'],
  three: ['我', '是', '中', '文', '路', '灯', '满', '意', '，', '。'],
  four: ['😀', '🚧', '𠀀'],
};
function randomText(bytes, kind) {
  const pool = kind === 'mixed' ? [].concat(POOLS.ascii, POOLS.two, POOLS.three, POOLS.four) : POOLS[kind];
  let s = '';
  let n = 0;
  for (;;) {
    const c = pool[randomInt(pool.length)];
    const cl = Buffer.byteLength(c);
    if (n + cl > bytes) break;
    s += c;
    n += cl;
    if (n === bytes) break;
  }
  while (n < bytes) { s += 'x'; n++; } // fill up with ASCII to the exact byte length
  return s;
}

function keyBytes(encodingAESKey) { return Buffer.from(encodingAESKey + '=', 'base64'); }

function rawDecrypt(encodingAESKey, b64) {
  const key = keyBytes(encodingAESKey);
  const d = crypto.createDecipheriv('aes-256-cbc', key, key.subarray(0, 16));
  d.setAutoPadding(false);
  return Buffer.concat([d.update(Buffer.from(b64, 'base64')), d.final()]);
}
function rawEncrypt(encodingAESKey, plain) {
  const key = keyBytes(encodingAESKey);
  const c = crypto.createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  c.setAutoPadding(false);
  return Buffer.concat([c.update(plain), c.final()]).toString('base64');
}

// Our encryption's inside, byte by byte, with the 32-byte pad WeChat uses.
function checkLayout(tag, encodingAESKey, b64, msg, appid) {
  const ct = Buffer.from(b64, 'base64');
  if (!check(ct.toString('base64') === b64, `${tag}: canonical base64`, { b64 })) return;
  const m = Buffer.from(msg);
  const id = Buffer.from(appid);
  const body = 20 + m.length + id.length;
  const pad = 32 - (body % 32);
  if (!check(ct.length === body + pad && ct.length % 32 === 0, `${tag}: length is body + 32-byte pad`,
             { len: ct.length, body, pad })) return;
  const p = rawDecrypt(encodingAESKey, b64);
  check(p.readUInt32BE(16) === m.length, `${tag}: msg_len`, { got: p.readUInt32BE(16), want: m.length });
  check(p.subarray(20, 20 + m.length).equals(m), `${tag}: msg bytes`, {});
  check(p.subarray(20 + m.length, body).equals(id), `${tag}: appid bytes`, {});
  check(p.subarray(body).every((b) => b === pad), `${tag}: pad bytes all ${pad}`,
        { pad: p.subarray(body).toString('hex') });
}

function ourEncrypt(key, appid, msg, random) {
  const args = ['encrypt', key, appid];
  if (random) args.push(random);
  const r = run(args, Buffer.from(msg));
  if (r.status !== 0) throw new Error(`wxcrypt_cli encrypt failed: ${r.stderr}`);
  return r.stdout.toString().replace(/\n$/, '');
}

function oneCase(key, appid, msg) {
  const tag = `key ${key} appid ${appid} msg(${Buffer.byteLength(msg)} bytes) ${JSON.stringify(msg).slice(0, 60)}`;
  const webot = new WXBizMsgCrypt('tok', key, appid);

  // ours → theirs
  const ours = ourEncrypt(key, appid, msg);
  checkLayout(tag, key, ours, msg, appid);
  const a = wecom.decrypt(key, ours);
  check(a.message === msg && a.id === appid, `${tag}: @wecom/crypto decrypts ours`, { got: a.message, id: a.id });
  const b = webot.decrypt(ours);
  check(b.message === msg && b.id === appid, `${tag}: wechat-crypto decrypts ours`, { got: b.message, id: b.id });
  check(ourEncrypt(key, appid, msg) !== ours, `${tag}: a fresh random each time`, {});

  // theirs → ours
  for (const [name, theirs] of [['@wecom/crypto', wecom.encrypt(key, msg, appid)], ['wechat-crypto', webot.encrypt(msg)]]) {
    const r = run(['decrypt', key, appid], Buffer.from(theirs));
    check(r.status === 0 && r.stdout.equals(Buffer.from(msg)), `${tag}: ours decrypts ${name}'s`,
          { status: r.status, stderr: r.stderr, got: r.stdout.toString() });
    const r2 = run(['decrypt', key, '-'], Buffer.from(theirs));
    check(r2.status === 0 && r2.stderr === `appid ${appid}\n`, `${tag}: ours reads the appid in ${name}'s`,
          { stderr: r2.stderr });
    const r3 = run(['decrypt', key, appid + 'x'], Buffer.from(theirs));
    check(r3.status === 3 && r3.stderr.startsWith('wxc -40005 '), `${tag}: ours refuses another appid`,
          { status: r3.status, stderr: r3.stderr });
  }

  // the same fixed random gives the same text
  const random = randomAlnum(16);
  const fixed = ourEncrypt(key, appid, msg, random);
  check(fixed === wecom.encrypt(key, msg, appid, Buffer.from(random)), `${tag}: same random, same text`, { random });

  // signatures, four parts and three
  const token = randomAlnum(3 + randomInt(30));
  const ts = String(1400000000 + randomInt(400000000));
  const nonce = String(randomInt(2147483647));
  const s4 = run(['sign', token, ts, nonce, ours]).stdout.toString().trim();
  check(s4 === wecom.getSignature(token, ts, nonce, ours), `${tag}: msg_signature as @wecom/crypto's`, { token, ts, nonce });
  check(s4 === new WXBizMsgCrypt(token, key, appid).getSignature(ts, nonce, ours),
        `${tag}: msg_signature as wechat-crypto's`, { token, ts, nonce });
  const s3 = run(['sign', token, ts, nonce]).stdout.toString().trim();
  const want3 = crypto.createHash('sha1').update([token, ts, nonce].sort().join('')).digest('hex');
  check(s3 === want3 && s3 === wecom.getSignature(token, ts, nonce, ''), `${tag}: URL signature`, { token, ts, nonce });
}

// A ciphertext padded to 16 bytes only, as the libraries would accept: ours must refuse it.
function sixteenBytePadIsRefused(key, appid) {
  let msg = 'x';
  while ((20 + msg.length + appid.length) % 32 >= 16) msg += 'x'; // so 16 bytes of pad end mid-block
  const m = Buffer.from(msg);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(m.length);
  const body = Buffer.concat([crypto.randomBytes(16), len, m, Buffer.from(appid)]);
  const pad = 16 - (body.length % 16);
  const b64 = rawEncrypt(key, Buffer.concat([body, Buffer.alloc(pad, pad)]));
  check(Buffer.from(b64, 'base64').length % 32 === 16, '16-byte pad: built as meant', {});
  check(wecom.decrypt(key, b64).message === msg, '16-byte pad: @wecom/crypto accepts it (why we check)', {});
  check(new WXBizMsgCrypt('t', key, appid).decrypt(b64).message === msg, '16-byte pad: wechat-crypto accepts it', {});
  const r = run(['decrypt', key, appid], Buffer.from(b64));
  check(r.status === 3 && r.stderr.startsWith('wxc -40007 '), '16-byte pad: ours refuses it',
        { status: r.status, stderr: r.stderr });
}

// The published vectors: ours and both libraries read each the same way.
function vectors() {
  const v = JSON.parse(fs.readFileSync(path.join(top, 'tests/vectors/provider-vectors.json'), 'utf8'));
  for (const e of v.wechat_aes) {
    const appid = e.appid || e.receive_id;
    const r = run(['decrypt', e.encoding_aes_key, appid], Buffer.from(e.encrypt));
    check(r.status === 0 && r.stdout.toString() === e.plaintext, `vector ${e.name}: ours`, { stderr: r.stderr });
    check(wecom.decrypt(e.encoding_aes_key, e.encrypt).message === e.plaintext, `vector ${e.name}: @wecom/crypto`, {});
    if (e.msg_signature) {
      const s = run(['sign', e.token, e.timestamp, e.nonce, e.encrypt]).stdout.toString().trim();
      check(s === e.msg_signature && s === wecom.getSignature(e.token, e.timestamp, e.nonce, e.encrypt),
            `vector ${e.name}: msg_signature`, { s });
    }
  }
}

function main() {
  vectors();
  const keys = ['abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG', 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
                'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'];
  for (let i = 0; i < 5; i++) keys.push(randomAlnum(43));
  const kinds = ['ascii', 'two', 'three', 'four', 'mixed'];
  const lengths = [];
  for (let n = 0; n <= 70; n++) lengths.push(n);
  lengths.push(95, 96, 97, 127, 128, 129, 1000, 2048, 4096 + randomInt(4096));
  let cases = 0;
  for (const n of lengths) {
    const key = keys[randomInt(keys.length)];
    const appid = randomInt(4) === 0 ? 'ww' + crypto.randomBytes(8).toString('hex') : 'wx' + crypto.randomBytes(8).toString('hex');
    oneCase(key, appid, randomText(n, kinds[cases % kinds.length]));
    cases++;
  }
  for (const key of keys.slice(0, 3)) sixteenBytePadIsRefused(key, 'wx' + crypto.randomBytes(8).toString('hex'));
  console.log(`xcheck: ${cases} random messages, ${checks} checks, ${failures} failed`);
  process.exit(failures === 0 && checks > 0 ? 0 : 1);
}

main();
