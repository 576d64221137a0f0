// SPDX-License-Identifier: Apache-2.0
// vigil remote step-up page: no build step, no external resources.
// Code formats: docs/remote-stepup.md (and include/vigil/relay.h).
"use strict";

const ANSWER_MAX = 400; // longest answer any prompt path carries (sudo drops 512 and more)
const VERSION = 2;
// clientDataJSON after "origin":"...", as browsers write it (layout numbers 0..2; 3 = carried)
const CD_TAILS = [
  ',"crossOrigin":false}',
  "}",
  ',"crossOrigin":false,"other_keys_can_be_added_here":"do not compare clientDataJSON against a template. See https://goo.gl/yabPex"}',
];

function b64urlEncode(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function b64urlDecode(text) {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) throw new Error("not base64url");
  const s = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

const utf8 = (s) => new TextEncoder().encode(s);

// Bounded reader over the challenge bytes; any overrun is a malformed code.
function reader(bytes) {
  let off = 0;
  const take = (n) => {
    if (off + n > bytes.length) throw new Error("truncated");
    const v = bytes.subarray(off, off + n);
    off += n;
    return v;
  };
  return {
    bytes: take,
    u8: () => take(1)[0],
    u32: () => { const b = take(4); return ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3]; },
    str8: () => new TextDecoder("utf-8", { fatal: true }).decode(take(take(1)[0])),
    left: () => bytes.length - off,
  };
}

function u32(n) {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function str8(s) {
  const b = utf8(s);
  if (b.length > 255) throw new Error("field too long");
  return [b.length, ...b];
}

function printable(s) {
  return !/[\u0000-\u001f\u007f]/.test(s);
}

// "VC" 2 | nonce[16] | expires u32 | user | host | service | reason | rp_id | flags | creds
function parseChallenge(code) {
  const r = reader(b64urlDecode(code));
  const magic = r.bytes(3);
  if (magic[0] !== 0x56 || magic[1] !== 0x43) throw new Error("this is not a vigil challenge code");
  if (magic[2] !== VERSION) throw new Error("challenge version " + magic[2] + " is not supported by this page");
  const c = {};
  c.nonce = r.bytes(16);
  c.expiresAt = r.u32();
  c.expires = new Date(c.expiresAt * 1000);
  c.user = r.str8();
  c.host = r.str8();
  c.service = r.str8();
  c.reason = r.str8();
  c.rpId = r.str8();
  for (const f of [c.user, c.host, c.service, c.reason, c.rpId])
    if (!printable(f)) throw new Error("a field holds control characters");
  c.flags = r.u8();
  const n = r.u8();
  if (n > 4) throw new Error("too many credentials");
  c.creds = [];
  for (let i = 0; i < n; i++) c.creds.push(r.bytes(r.u8()));
  if (r.left() !== 0) throw new Error("trailing bytes");
  return c;
}

// What the key signs: SHA-256 of the context, re-encoded from the fields this page shows.
async function challengeHash(c) {
  return sha256(concat([[0x56, 0x43, VERSION], c.nonce, u32(c.expiresAt), str8(c.user), str8(c.host),
    str8(c.service), str8(c.reason)]));
}

function concat(parts) {
  const out = [];
  for (const p of parts) for (const b of p) out.push(b);
  return new Uint8Array(out);
}

function u16(n) {
  if (n > 0xffff) throw new Error("field too large");
  return [n >> 8, n & 0xff];
}

// "VA" 2 | kind 2 | challenge tag | credential tag | flags | signCount | [ext] | origin tag |
// client data layout [| tail] | signature: only what vigild cannot rebuild (docs/remote-stepup.md)
async function encodeAnswer(c, hash, cred) {
  const r = cred.response;
  const ad = new Uint8Array(r.authenticatorData);
  if (ad.length < 37 || ad[32] & 0x40 || (!(ad[32] & 0x80) && ad.length !== 37) || ad.length - 37 > 255)
    throw new Error("the browser returned authenticator data of an unexpected shape");
  const cdj = new TextDecoder().decode(r.clientDataJSON);
  const origin = JSON.parse(cdj).origin;
  const prefix = '{"type":"webauthn.get","challenge":"' + b64urlEncode(hash) + '","origin":"' + origin + '"';
  if (!cdj.startsWith(prefix))
    throw new Error("this browser writes its client data in an order vigil cannot rebuild; use vigil-stepup");
  const tail = cdj.slice(prefix.length);
  let layout = CD_TAILS.indexOf(tail);
  const extra = [];
  if (layout < 0) {
    layout = CD_TAILS.length;
    extra.push(...str8(tail));
  }
  const parts = [[0x56, 0x41, VERSION, 2], c.nonce.subarray(0, 4), (await sha256(new Uint8Array(cred.rawId))).subarray(0, 4),
    ad.subarray(32, 37)];
  if (ad[32] & 0x80) parts.push([ad.length - 37], ad.subarray(37));
  parts.push((await sha256(utf8(origin))).subarray(0, 4), [layout], extra, new Uint8Array(r.signature));
  const answer = b64urlEncode(concat(parts));
  if (answer.length > ANSWER_MAX)
    throw new Error("the answer would be " + answer.length + " characters, more than the " + ANSWER_MAX +
      " a prompt accepts: the key's signature is " + r.signature.byteLength + " bytes" +
      (extra.length ? " and the browser added client data vigil cannot rebuild (" + tail.length + " characters)" : "") +
      ". An RS256 key above 2048 bits cannot answer through a prompt: enroll an ES256 or EdDSA key");
  return answer;
}

function $(id) { return document.getElementById(id); }

function show(id, text) {
  $(id).textContent = text;
  $(id).hidden = false;
}

function fragmentParams() {
  const p = {};
  for (const kv of location.hash.replace(/^#/, "").split("&")) {
    const i = kv.indexOf("=");
    if (i > 0) p[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1));
  }
  return p;
}

async function sign(c) {
  const hash = await challengeHash(c);
  const cred = await navigator.credentials.get({
    publicKey: {
      challenge: hash,
      rpId: c.rpId,
      allowCredentials: c.creds.map((id) => ({ type: "public-key", id })),
      userVerification: c.flags & 1 ? "required" : "preferred",
      timeout: 120000,
    },
  });
  const answer = await encodeAnswer(c, hash, cred);
  $("answer").value = answer;
  $("answer-box").hidden = false;
  $("status").textContent = "Signed. Paste this answer (" + answer.length + " characters) at the prompt on " +
    c.host + ".";
}

function stepupPage() {
  let c;
  try {
    const code = fragmentParams().c;
    if (!code) throw new Error("no challenge in the address: open the URL shown at the prompt");
    c = parseChallenge(code);
  } catch (e) {
    show("error", "Cannot read the challenge: " + e.message);
    return;
  }
  $("user").textContent = c.user;
  $("host").textContent = c.host;
  $("service").textContent = c.service;
  $("reason").textContent = c.reason || "(none)";
  $("expires").textContent = c.expires.toISOString();
  $("rp").textContent = c.rpId;
  $("details").hidden = false;
  $("sign").disabled = false;
  $("sign").addEventListener("click", () => {
    $("sign").disabled = true;
    $("status").textContent = "Touch your security key...";
    sign(c).catch((e) => {
      show("error", "Signing failed: " + e.name + ": " + e.message);
      $("sign").disabled = false;
    });
  });
}

function pem(der) {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  return "-----BEGIN PUBLIC KEY-----\n" + b64.match(/.{1,64}/g).join("\n") + "\n-----END PUBLIC KEY-----\n";
}

const ALGS = { "-7": "es256", "-8": "eddsa", "-257": "rs256" };

async function enroll() {
  const user = $("enroll-user").value.trim();
  const rpId = $("enroll-rp").value.trim();
  if (!user || !rpId) throw new Error("user and relying party id are required");
  const cred = await navigator.credentials.create({
    publicKey: {
      rp: { id: rpId, name: "vigil" },
      user: { id: crypto.getRandomValues(new Uint8Array(16)), name: user, displayName: user },
      // the page has no server: trust in the result comes from the security team reviewing
      // the snippet and signing the bundle, not from this challenge
      challenge: crypto.getRandomValues(new Uint8Array(32)),
      pubKeyCredParams: [{ type: "public-key", alg: -7 }, { type: "public-key", alg: -8 },
        { type: "public-key", alg: -257 }],
      attestation: "none",
      authenticatorSelection: { userVerification: "preferred" },
      timeout: 120000,
    },
  });
  const r = cred.response;
  const flags = new Uint8Array(r.getAuthenticatorData())[32];
  const snippet = {
    id: b64urlEncode(new Uint8Array(cred.rawId)),
    alg: ALGS[String(r.getPublicKeyAlgorithm())] || "unsupported",
    public_key: pem(r.getPublicKey()),
    uv: (flags & 4) !== 0,
  };
  const att = new Uint8Array(r.attestationObject);
  const cdj = new Uint8Array(r.clientDataJSON);
  const code = b64urlEncode(concat([[0x56, 0x45, 1], u16(att.length), att, u16(cdj.length), cdj]));
  $("snippet").textContent = JSON.stringify(snippet, null, 2);
  $("enrollment").value = code;
  $("enroll-result").hidden = false;
  $("status").textContent = "Enrolled. Send the snippet (or the enrollment code) to your security team.";
}

function enrollPage() {
  const p = fragmentParams();
  $("enroll-rp").value = p.rp || location.hostname;
  if (p.user) $("enroll-user").value = p.user;
  $("create").addEventListener("click", () => {
    $("create").disabled = true;
    $("status").textContent = "Touch your security key...";
    enroll().catch((e) => {
      show("error", "Enrollment failed: " + e.name + ": " + e.message);
      $("create").disabled = false;
    });
  });
  $("create").disabled = false;
}

// a new challenge URL opened in the same tab changes only the fragment: start afresh
window.addEventListener("hashchange", () => location.reload());

document.addEventListener("DOMContentLoaded", () => {
  if (!window.PublicKeyCredential) {
    show("error", "This browser has no WebAuthn (or the page is not on HTTPS).");
    return;
  }
  if (document.body.dataset.page === "enroll") enrollPage();
  else stepupPage();
});
