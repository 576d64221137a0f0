// SPDX-License-Identifier: Apache-2.0
// The administrator's workstation, for tests: Debian's Chromium (headless) with a CDP virtual
// authenticator holding one given credential opens a step-up URL, checks what the page shows,
// clicks "Sign" and prints the page's answer on stdout (or the page's error on stderr, exit 1).
//
//   node sign.mjs URL   with KEY (PKCS#8 DER, base64), CRED_ID (base64url), RP_ID, COUNT
//                       (the credential's sign counter before this use) in the environment;
//                       SHOWN=1 prints "user@host service: reason" the page showed on stderr
import { chromium } from "playwright-core";

const env = (k) => {
  if (!process.env[k]) throw new Error(`${k} is not set`);
  return process.env[k];
};
const url = process.argv[2];
const WAIT = { timeout: 20000 };

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
let rc = 1;
try {
  const page = await browser.newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "usb", hasResidentKey: false, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true },
  });
  await cdp.send("WebAuthn.addCredential", {
    authenticatorId,
    credential: { credentialId: Buffer.from(env("CRED_ID"), "base64url").toString("base64"), isResidentCredential: false,
      rpId: env("RP_ID"), privateKey: env("KEY"), signCount: Number(env("COUNT")) },
  });
  await page.goto(url);
  await page.waitForSelector("#details:not([hidden]), #error:not([hidden])", WAIT);
  if (process.env.SHOWN)
    console.error(`${await page.textContent("#user")}@${await page.textContent("#host")} ` +
      `${await page.textContent("#service")}: ${await page.textContent("#reason")}`);
  if (await page.$("#details:not([hidden])")) {
    await page.click("#sign");
    await page.waitForSelector("#answer-box:not([hidden]), #error:not([hidden])", WAIT);
  }
  const err = await page.$eval("#error", (e) => (e.hidden ? "" : e.textContent));
  if (err) {
    console.error(`page: ${err}`);
  } else {
    console.log(await page.inputValue("#answer"));
    rc = 0;
  }
} finally {
  await browser.close();
}
process.exit(rc);
