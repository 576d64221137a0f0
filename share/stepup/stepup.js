// SPDX-License-Identifier: Apache-2.0
// vigil remote step-up page: no build step, no external resources.
// Code formats: docs/remote-stepup.md (and include/vigil/relay.h).
"use strict";

const SUDO_MAX = 1023; // longest reply sudo passes to a PAM conversation

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

function parseChallenge(code) {
  const raw = b64urlDecode(code);
  const r = reader(raw);
  const magic = r.bytes(3);
  if (magic[0] !== 0x56 || magic[1] !== 0x43) throw new Error("this is not a vigil challenge code");
  if (magic[2] !== 1) throw new Error("challenge version " + magic[2] + " is not supported by this page");
  const c = { raw };
  c.flags = r.u8();
  c.expires = new Date(r.u32() * 1000);
  r.bytes(16); // nonce: vigild's challenge id
  c.cdh = r.bytes(32);
  c.user = r.str8();
  c.host = r.str8();
  c.service = r.str8();
  c.rpId = r.str8();
  c.reason = r.str8();
  const n = r.u8();
  if (n > 4) throw new Error("too many credentials");
  c.creds = [];
  for (let i = 0; i < n; i++) c.creds.push(r.bytes(r.u8()));
  r.bytes(16); // MAC, checked by vigild
  if (r.left() !== 0) throw new Error("trailing bytes");
  return c;
}

function u16(n) {
  if (n > 0xffff) throw new Error("field too large");
  return [n >> 8, n & 0xff];
}

function concat(parts) {
  const out = [];
  for (const p of parts) for (const b of p) out.push(b);
  return new Uint8Array(out);
}

// "VA" 1 | kind 2 | challenge | credential id | authenticatorData | signature | clientDataJSON
function encodeAnswer(c, cred) {
  const r = cred.response;
  const fields = [c.raw, new Uint8Array(cred.rawId), new Uint8Array(r.authenticatorData),
    new Uint8Array(r.signature), new Uint8Array(r.clientDataJSON)];
  const parts = [[0x56, 0x41, 1, 2]];
  for (const f of fields) parts.push(u16(f.length), f);
  return b64urlEncode(concat(parts));
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
  const cred = await navigator.credentials.get({
    publicKey: {
      challenge: c.cdh,
      rpId: c.rpId,
      allowCredentials: c.creds.map((id) => ({ type: "public-key", id })),
      userVerification: c.flags & 1 ? "required" : "preferred",
      timeout: 120000,
    },
  });
  const answer = encodeAnswer(c, cred);
  $("answer").value = answer;
  $("answer-box").hidden = false;
  $("status").textContent = "Signed. Paste this answer at the prompt on " + c.host + ".";
  if (answer.length > SUDO_MAX)
    show("error", "This answer is " + answer.length + " characters; sudo accepts at most " + SUDO_MAX + ".");
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

document.addEventListener("DOMContentLoaded", () => {
  if (!window.PublicKeyCredential) {
    show("error", "This browser has no WebAuthn (or the page is not on HTTPS).");
    return;
  }
  if (document.body.dataset.page === "enroll") enrollPage();
  else stepupPage();
});
