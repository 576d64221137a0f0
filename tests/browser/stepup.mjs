// SPDX-License-Identifier: Apache-2.0
// Drives Debian's Chromium (headless) through the step-up pages with a CDP virtual
// authenticator: enroll, answer challenges through vigild and the C verifier, relabelled
// codes refused, and answer lengths measured for ES256, EdDSA and RS256 credentials.
// Run by tests/integration/t_webauthn_browser.sh, which sets the environment below.
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const env = (k) => {
  if (!process.env[k]) throw new Error(`${k} is not set`);
  return process.env[k];
};
const ORIGIN = env("ORIGIN");           // allowed by the policy
const OTHER_ORIGIN = env("OTHER_ORIGIN"); // same RP id, not allowed
const RELAY_TOOL = env("RELAY_TOOL");
const STEPUP = env("STEPUP");
const T = env("T");
const PUSH = env("PUSH");           // pushes a bundle holding ${T}/cred.json to vigild
const RELAY_CTL = env("RELAY_CTL"); // one control-socket request, as pam_vigil.so sends it
const SOCKET = env("SOCKET");
const RP = "localhost";
const WAIT = { timeout: 20000 };

let failed = false;
const ok = (what) => console.log(`  ok: ${what}`);
const fail = (what) => {
  console.log(`FAIL: ${what}`);
  failed = true;
};

function run(cmd, args) {
  try {
    return { rc: 0, out: execFileSync(cmd, args, { encoding: "utf8" }).trim() };
  } catch (e) {
    return { rc: e.status ?? -1, out: `${e.stdout ?? ""}${e.stderr ?? ""}`.trim() };
  }
}

const LONG_REASON = "CHG-42 " + "r".repeat(193);
const LONG_HOST = "db-7.a-rather-long-datacenter-name.eu-central.example.com";

function newChallenge(credId, { host = "testhost", reason = "CHG-42 browser" } = {}) {
  const r = run(RELAY_TOOL, ["challenge", "--user", "alice", "--host", host, "--service", "sudo", "--rp-id", RP,
    "--cred", credId, "--reason", reason]);
  if (r.rc !== 0) throw new Error(`relay_tool challenge failed: ${r.out}`);
  return r.out;
}

function relabel(code, host, service) {
  const r = run(RELAY_TOOL, ["relabel", "--host", host, "--service", service, code]);
  if (r.rc !== 0) throw new Error(`relay_tool relabel failed: ${r.out}`);
  return r.out;
}

function verify(code, answer, extra = [], cred = `${T}/cred.json`) {
  return run(RELAY_TOOL, ["verify", "--code", code, "--rp-id", RP, "--origin", ORIGIN, "--credential", cred, ...extra,
    answer]);
}

function vigild(req) {
  const r = run("python3", [RELAY_CTL, SOCKET, JSON.stringify(req)]);
  if (r.rc !== 0) throw new Error(`control socket: ${r.out}`);
  return JSON.parse(r.out);
}
const who = { user: "alice", service: "sudo", tty: "pts/3" };
const relayChallenge = () => vigild({ cmd: "elevation.relay_challenge", ...who, reason: "CHG-43 browser via vigild" });
const relayAnswer = (code, answer) => vigild({ cmd: "elevation.relay_answer", ...who, code, answer });

function expectRefused(r, code, what) {
  if (r.rc === 1 && r.out.startsWith(`refused ${code}:`)) ok(`${what} (${r.out})`);
  else fail(`${what}: expected refused ${code}, got rc=${r.rc} ${r.out}`);
}

// flip a bit of the signature (the answer's last bytes)
function tamperSignature(answer) {
  const bin = Buffer.from(answer, "base64url");
  bin[bin.length - 3] ^= 0x01;
  return bin.toString("base64url");
}

// the client data layout byte of a webauthn answer without extensions (docs/remote-stepup.md)
const layoutOf = (answer) => Buffer.from(answer, "base64url")[21];

async function signOnPage(page, origin, code) {
  await page.goto(`${origin}/stepup/#c=${code}`);
  await page.waitForSelector("#details:not([hidden])", WAIT);
  const shown = await page.textContent("#user") + "@" + await page.textContent("#host") + " " +
    await page.textContent("#service") + " " + await page.textContent("#reason");
  await page.click("#sign");
  await page.waitForSelector("#answer-box:not([hidden]), #error:not([hidden])", WAIT);
  const err = await page.$eval("#error", (e) => (e.hidden ? "" : e.textContent));
  if (err) throw new Error(`page error: ${err}`);
  return { shown, answer: await page.inputValue("#answer") };
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
try {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true },
  });

  // 1. enroll through the page; vigil-stepup enroll-check verifies the attestation in C
  await page.goto(`${ORIGIN}/stepup/enroll.html#rp=${RP}&user=alice`);
  await page.click("#create");
  await page.waitForSelector("#enroll-result:not([hidden]), #error:not([hidden])", WAIT);
  const enrollErr = await page.$eval("#error", (e) => (e.hidden ? "" : e.textContent));
  if (enrollErr) throw new Error(`enrollment page: ${enrollErr}`);
  const pageSnippet = JSON.parse(await page.textContent("#snippet"));
  const enrollment = await page.inputValue("#enrollment");
  const checked = run(STEPUP, ["enroll-check", "--rp-id", RP, "--origin", ORIGIN, enrollment]);
  if (checked.rc !== 0) throw new Error(`vigil-stepup enroll-check refused the page's enrollment: ${checked.out}`);
  const snippet = JSON.parse(checked.out);
  if (snippet.id === pageSnippet.id && snippet.alg === "es256" && pageSnippet.alg === "es256" &&
      snippet.public_key === pageSnippet.public_key && snippet.uv === true)
    ok("enrolled through the page; enroll-check prints the same snippet (es256, uv)");
  else fail(`snippets differ: page ${JSON.stringify(pageSnippet)} vs C ${checked.out}`);
  writeFileSync(`${T}/cred.json`, checked.out);
  const wrongOrigin = run(STEPUP, ["enroll-check", "--rp-id", RP, "--origin", "https://vigil.example.com", enrollment]);
  if (wrongOrigin.rc !== 0 && wrongOrigin.out.includes("origin_not_allowed")) ok("enrollment from an origin not allowed is refused");
  else fail(`enroll-check accepted a foreign origin: ${wrongOrigin.out}`);

  // 2. vigild: the URL it issues, signed on the page, grants; replay, a foreign origin and a
  // relabelled code refused
  const pushed = run("sh", [PUSH]);
  if (pushed.rc !== 0) throw new Error(`bundle push failed: ${pushed.out}`);
  const ch = relayChallenge();
  if (!ch.ok) throw new Error(`relay challenge refused: ${JSON.stringify(ch)}`);
  if (ch.url === `${ORIGIN}/stepup/#c=${ch.code}`) ok("vigild issues the page URL on the bundle's origin");
  else fail(`unexpected URL ${ch.url}`);
  const viaVigild = (await signOnPage(page, ORIGIN, ch.code)).answer;
  const granted = relayAnswer(ch.code, viaVigild);
  if (granted.ok && granted.grant && granted.grant.user === "alice" && granted.grant.reason === "CHG-43 browser via vigild")
    ok(`vigild grants on the page's answer of ${viaVigild.length} characters (grant ${granted.grant.id})`);
  else fail(`vigild refused the page's answer: ${JSON.stringify(granted)}`);
  const replayed = relayAnswer(ch.code, viaVigild);
  if (!replayed.ok) ok(`vigild refuses the replayed answer (${replayed.error.code}: ${replayed.error.message})`);
  else fail("vigild accepted a replayed answer");
  const ch2 = relayChallenge();
  const foreign = await signOnPage(page, OTHER_ORIGIN, ch2.code);
  const refused = relayAnswer(ch2.code, foreign.answer);
  if (!refused.ok && refused.error.code === "origin_not_allowed")
    ok(`vigild refuses an answer made on another origin (${refused.error.message})`);
  else fail(`vigild on a foreign origin: ${JSON.stringify(refused)}`);
  const ch3 = relayChallenge();
  const relabelled = await signOnPage(page, ORIGIN, relabel(ch3.code, "dev-box", "su"));
  if (relabelled.shown.startsWith("alice@dev-box su ")) ok("the page shows the relabelled host and service it signs");
  else fail(`page shows ${relabelled.shown}`);
  const refusedRelabel = relayAnswer(ch3.code, relabelled.answer);
  if (!refusedRelabel.ok && refusedRelabel.error.code === "wrong_key")
    ok(`vigild refuses the page's answer to a relabelled code (${refusedRelabel.error.message})`);
  else fail(`vigild on a relabelled code: ${JSON.stringify(refusedRelabel)}`);

  // 3. answer a challenge through the page; the verifier alone accepts it
  const code = newChallenge(snippet.id);
  const { shown, answer } = await signOnPage(page, ORIGIN, code);
  if (shown === "alice@testhost sudo CHG-42 browser") ok("the page shows user, host, service and reason of the challenge");
  else fail(`page shows ${shown}`);
  const good = verify(code, answer);
  const m = /^ok counter=(\d+) /.exec(good.out);
  if (good.rc === 0 && m) ok(`answer accepted (${good.out})`);
  else throw new Error(`answer refused: ${good.out}`);
  const counter = m[1];

  // 4. refusals
  expectRefused(verify(code, answer, ["--prev", counter]), "counter_not_increased", "replayed answer refused");
  expectRefused(verify(code, tamperSignature(answer)), "signature_invalid", "tampered answer refused");
  expectRefused(verify(code, code), "answer_is_challenge", "the challenge pasted as an answer refused");
  expectRefused(verify(code, answer.slice(0, 20)), "answer_malformed", "truncated answer refused");
  expectRefused(verify(code, ""), "answer_empty", "empty answer refused");
  const fake = relabel(code, "dev-box", "su");
  expectRefused(verify(code, (await signOnPage(page, ORIGIN, fake)).answer), "signature_invalid",
    "answer to a relabelled code refused");

  // 5. the same page served from another origin (same RP id): signed, but refused
  const otherCode = newChallenge(snippet.id);
  const other = await signOnPage(page, OTHER_ORIGIN, otherCode);
  expectRefused(verify(otherCode, other.answer), "origin_not_allowed", "answer made on an origin not allowed refused");
  // a new URL in the same tab (only the fragment changes): the page answers the new challenge
  const first = newChallenge(snippet.id);
  await signOnPage(page, ORIGIN, first);
  const secondCode = newChallenge(snippet.id);
  const second = await signOnPage(page, ORIGIN, secondCode);
  const again = verify(secondCode, second.answer);
  if (again.rc === 0) ok(`a second challenge opened in the same tab is answered, not the first (${again.out})`);
  else fail(`second answer refused: ${again.out}`);

  // 6. answer lengths: ES256, EdDSA and RS256-2048 credentials, reason of 200 characters and a
  // long host name; every answer verified, every one within 400 characters
  const lengths = [];
  const layouts = [0, 0, 0, 0];
  for (const [alg, type, opts] of [["es256", "ec", { namedCurve: "P-256" }], ["eddsa", "ed25519", {}],
    ["rs256", "rsa", { modulusLength: 2048 }]]) {
    const { publicKey, privateKey } = generateKeyPairSync(type, opts);
    const id = Buffer.from(`measure-${alg}-0123456789`).toString("base64url");
    await cdp.send("WebAuthn.addCredential", {
      authenticatorId,
      credential: { credentialId: Buffer.from(id, "base64url").toString("base64"), isResidentCredential: false,
        rpId: RP, privateKey: privateKey.export({ type: "pkcs8", format: "der" }).toString("base64"), signCount: 0 },
    });
    const file = `${T}/${alg}.json`;
    writeFileSync(file, JSON.stringify({ id, alg, public_key: publicKey.export({ type: "spki", format: "pem" }), uv: true }));
    let min = Infinity, max = 0;
    for (let i = 0; i < 8; i++) {
      const c = newChallenge(id, { host: LONG_HOST, reason: LONG_REASON });
      const { answer: a } = await signOnPage(page, ORIGIN, c);
      const r = verify(c, a, [], file);
      if (r.rc !== 0) fail(`${alg} answer refused: ${r.out}`);
      min = Math.min(min, a.length);
      max = Math.max(max, a.length);
      layouts[layoutOf(a)]++;
    }
    lengths.push(`${alg} ${min}..${max}`);
    if (max <= 400) ok(`${alg}: 8 page answers verified, ${min}..${max} characters (reason 200, host ${LONG_HOST.length})`);
    else fail(`${alg}: answers up to ${max} characters`);
  }
  console.log(`  measured: page answer lengths ${lengths.join(", ")}; client data layouts seen ${JSON.stringify(layouts)}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
