// SPDX-License-Identifier: Apache-2.0
// Drives Debian's Chromium (headless) through the step-up pages with a CDP virtual
// authenticator: enroll, answer challenges, and hand every answer to the C verifier.
// Run by tests/integration/t_webauthn_browser.sh, which sets the environment below.
import { execFileSync } from "node:child_process";
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
const KEY = env("RELAY_KEY");
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

const base = ["--key", KEY, "--user", "alice", "--host", "testhost", "--service", "sudo", "--rp-id", RP];

function newChallenge(credId, ttl = 120) {
  const r = run(RELAY_TOOL, ["challenge", ...base, "--cred", credId, "--ttl", String(ttl), "--reason", "CHG-42 browser"]);
  if (r.rc !== 0) throw new Error(`relay_tool challenge failed: ${r.out}`);
  return r.out;
}

function verify(answer, extra = []) {
  const args = ["verify", ...base, "--origin", ORIGIN, "--credential", `${T}/cred.json`, ...extra, answer];
  // later options win in getopt order for --host/--user: put overrides after base
  return run(RELAY_TOOL, args);
}

function vigild(req) {
  const r = run("python3", [RELAY_CTL, SOCKET, JSON.stringify(req)]);
  if (r.rc !== 0) throw new Error(`control socket: ${r.out}`);
  return JSON.parse(r.out);
}
const who = { user: "alice", service: "sudo", tty: "pts/3" };
const relayChallenge = () => vigild({ cmd: "elevation.relay_challenge", ...who, reason: "CHG-43 browser via vigild" });
const relayAnswer = (answer) => vigild({ cmd: "elevation.relay_answer", ...who, answer });

function expectRefused(r, code, what) {
  if (r.rc === 1 && r.out.startsWith(`refused ${code}:`)) ok(`${what} (${r.out})`);
  else fail(`${what}: expected refused ${code}, got rc=${r.rc} ${r.out}`);
}

// answer layout: "VA" 1 kind | u16 challenge | u16 cred | u16 authData | u16 sig | u16 cdj
function tamperAuthData(answer) {
  const bin = Buffer.from(answer, "base64url");
  let off = 4;
  const skip = () => { const n = bin.readUInt16BE(off); off += 2 + n; return off - n; };
  skip(); // challenge
  skip(); // credential id
  const ad = skip();
  bin[ad + 36] ^= 0x01; // signCount low byte: the signature no longer covers these bytes
  return bin.toString("base64url");
}

async function signOnPage(page, origin, code) {
  await page.goto(`${origin}/stepup/#c=${code}`);
  await page.waitForSelector("#details:not([hidden])", WAIT);
  const shown = await page.textContent("#user") + "@" + await page.textContent("#host") + " " +
    await page.textContent("#reason");
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
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
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

  // 2. vigild: the URL it issues, signed on the page, grants; replay and a foreign origin refused
  const pushed = run("sh", [PUSH]);
  if (pushed.rc !== 0) throw new Error(`bundle push failed: ${pushed.out}`);
  const ch = relayChallenge();
  if (!ch.ok) throw new Error(`relay challenge refused: ${JSON.stringify(ch)}`);
  if (ch.url === `${ORIGIN}/stepup/#c=${ch.code}`) ok("vigild issues the page URL on the bundle's origin");
  else fail(`unexpected URL ${ch.url}`);
  await page.goto(ch.url);
  await page.waitForSelector("#details:not([hidden])", WAIT);
  await page.click("#sign");
  await page.waitForSelector("#answer-box:not([hidden]), #error:not([hidden])", WAIT);
  const viaVigild = await page.inputValue("#answer");
  const granted = relayAnswer(viaVigild);
  if (granted.ok && granted.grant && granted.grant.user === "alice" && granted.grant.reason === "CHG-43 browser via vigild")
    ok(`vigild grants on the page's answer (grant ${granted.grant.id} until ${granted.grant.expires})`);
  else fail(`vigild refused the page's answer: ${JSON.stringify(granted)}`);
  const replayed = relayAnswer(viaVigild);
  if (!replayed.ok) ok(`vigild refuses the replayed answer (${replayed.error.code}: ${replayed.error.message})`);
  else fail("vigild accepted a replayed answer");
  const foreign = await signOnPage(page, OTHER_ORIGIN, relayChallenge().code);
  const refused = relayAnswer(foreign.answer);
  if (!refused.ok && refused.error.code === "origin_not_allowed")
    ok(`vigild refuses an answer made on another origin (${refused.error.message})`);
  else fail(`vigild on a foreign origin: ${JSON.stringify(refused)}`);

  // 3. answer a challenge through the page; the verifier alone accepts it
  const code = newChallenge(snippet.id);
  const { shown, answer } = await signOnPage(page, ORIGIN, code);
  if (shown === "alice@testhost CHG-42 browser") ok("the page shows user, host and reason of the challenge");
  else fail(`page shows ${shown}`);
  if (answer.length <= 1023) ok(`answer fits sudo's reply limit (${answer.length} chars)`);
  else fail(`answer is ${answer.length} chars`);
  const good = verify(answer);
  const m = /^ok counter=(\d+)$/.exec(good.out);
  if (good.rc === 0 && m) ok(`answer accepted (${good.out})`);
  else throw new Error(`answer refused: ${good.out}`);
  const counter = m[1];

  // 4. refusals
  expectRefused(verify(answer, ["--prev", counter]), "counter_not_increased", "replayed answer refused");
  expectRefused(verify(tamperAuthData(answer)), "signature_invalid", "tampered answer refused");
  expectRefused(verify(answer, ["--now-offset", "600"]), "challenge_expired", "expired answer refused");
  expectRefused(verify(answer, ["--host", "otherhost"]), "challenge_wrong_host", "answer for another host refused");
  expectRefused(verify(answer, ["--user", "bob"]), "challenge_wrong_user", "answer for another user refused");
  expectRefused(verify(code), "answer_is_challenge", "the challenge pasted as an answer refused");
  expectRefused(verify(answer.slice(0, 200)), "answer_malformed", "truncated answer refused");

  // 5. the same page served from another origin (same RP id): signed, but refused
  const other = await signOnPage(page, OTHER_ORIGIN, newChallenge(snippet.id));
  expectRefused(verify(other.answer), "origin_not_allowed", "answer made on an origin not allowed refused");
  const second = await signOnPage(page, ORIGIN, newChallenge(snippet.id));
  const again = verify(second.answer, ["--prev", counter]);
  if (again.rc === 0) ok(`a second challenge answered on the allowed origin is accepted (${again.out})`);
  else fail(`second answer refused: ${again.out}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
