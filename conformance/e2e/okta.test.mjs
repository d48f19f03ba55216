// Okta Identity Engine's IdP authenticator, end to end in Chromium: an Okta-shaped relying
// party (okta.mjs) sends the browser to Inherence as Okta does (code flow, PKCE, no hint),
// the user types their Okta username on Inherence's page, passes the face check in front of
// the responding test camera, and the org validates the ID token and matches its
// preferred_username with the Okta user (docs/integrations/okta.md).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { startServer, freePort, haveShared, devImage } from "./harness.mjs";
import { liveFootage, pressStart, withTestCamera } from "./testcam.mjs";
import { startOkta, judge, signRs256 } from "./okta.mjs";

const skip = !haveShared && "shared evaluation data (videos, photos) is absent";
const CLIENT = "okta-idp";
let server, okta;

before(async () => {
  if (skip) return;
  const port = await freePort();
  okta = await startOkta({ issuer: `http://127.0.0.1:${port}`, clientId: CLIENT });
  const k = okta.publicJwk;
  const extra = `
[[clients]]
client_id = "${CLIENT}"
name = "Corp Okta"
redirect_uris = ["${okta.redirectUri}"]
auth_method = "private_key_jwt"
jwks = { keys = [{ kty = "RSA", n = "${k.n}", e = "${k.e}", kid = "${k.kid}", alg = "RS256", use = "sig" }] }
front_channel_subject = true
id_token_alg = "RS256"
`;
  server = await startServer(await freePort(), extra, { port });
  // alice is the person in the recording; bob is enrolled with someone else's photo.
  await server.enrol("alice@corp.example", devImage("celeb_lin_manuel_miranda/facerec_lin-manuel-miranda.png"));
  await server.enrol("bob@corp.example", devImage("lfw_Tony_Blair/Tony_Blair_0005.jpg"));
});

after(() => {
  okta?.stop();
  server?.stop();
});

/** The Okta user `login` reaches the IdP factor; `typed` is the name entered at Inherence, or
 * `{ hint }` the login_hint the browser carries (nothing is asked). Returns the org's verdict. */
async function verify(page, login, typed) {
  const hint = typeof typed === "object" ? `&hint=${encodeURIComponent(typed.hint)}` : "";
  await page.goto(`${okta.base}/start?login=${encodeURIComponent(login)}${hint}`);
  if (!hint) {
    await page.waitForSelector("#login_hint", { timeout: 15000 });
    await page.fill("#login_hint", typed);
    await page.click("button[type=submit]");
  }
  await page.waitForURL((u) => u.pathname.startsWith("/capture/"), { timeout: 15000 });
  const stop = pressStart(page);
  try {
    await page.waitForURL((u) => u.href.startsWith(okta.redirectUri), { timeout: 120000 });
  } finally {
    await stop();
  }
  return { title: await page.textContent("#outcome"), detail: JSON.parse(await page.textContent("#detail")) };
}

test("Okta's IdP factor is verified: the typed username's face passes and preferred_username matches", { skip }, async () => {
  const r = await withTestCamera(liveFootage(), (page) => verify(page, "alice@corp.example", "alice@corp.example"));
  assert.equal(r.title, "Factor verified", JSON.stringify(r.detail));
  assert.deepEqual(r.detail, {
    login: "alice@corp.example", sub: "alice@corp.example", preferred_username: "alice@corp.example",
    amr: ["face"], acr: "biometric",
  });
  assert.equal(okta.links.get("alice@corp.example"), "alice@corp.example", "the IdP user is linked");
});

test("a password thief who names another enrolled user gets an ID token Okta refuses", { skip }, async () => {
  // bob's Okta password is stolen; the thief's face is alice's (the recording), so the thief
  // edits the login_hint in the URL to alice and passes her face check.
  const r = await withTestCamera(liveFootage(), (page) => verify(page, "bob@corp.example", { hint: "alice@corp.example" }));
  assert.equal(r.title, "Verification failed");
  assert.deepEqual(r.detail.reasons, [
    "the IdP Username alice@corp.example does not match the user being verified (bob@corp.example)",
  ]);
});

test("the org's checks each refuse a token that breaks one rule", () => {
  // The judge alone, on tokens signed here: every rule it applies can fail.
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = randomUUID();
  const jwks = { keys: [{ ...publicKey.export({ format: "jwk" }), kid }] };
  const now = Math.floor(Date.now() / 1000);
  const good = { iss: "https://idp.example", aud: CLIENT, sub: "alice", preferred_username: "Alice", exp: now + 300, iat: now, nonce: "n" };
  const ctx = { jwks, issuer: "https://idp.example", clientId: CLIENT, nonce: "n", login: "alice", links: new Map(), now };
  assert.deepEqual(judge(signRs256(privateKey, kid, good), ctx), [], "the control passes");
  const edits = [
    { iss: "https://other.example" }, { aud: "someone-else" }, { aud: [CLIENT, "x"] }, { exp: now - 121 },
    { iat: now + 121 }, { nonce: "m" }, { sub: "" }, { preferred_username: undefined }, { preferred_username: "bob" },
  ];
  for (const e of edits) {
    assert.notDeepEqual(judge(signRs256(privateKey, kid, { ...good, ...e }), ctx), [], JSON.stringify(e));
  }
  const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  assert.notDeepEqual(judge(signRs256(other, kid, good), ctx), [], "another key");
  assert.notDeepEqual(judge(signRs256(privateKey, "unknown", good), ctx), [], "an unknown kid");
  const [h, p] = signRs256(privateKey, kid, good).split(".");
  const none = `${Buffer.from(JSON.stringify({ alg: "none", kid })).toString("base64url")}.${p}.`;
  assert.notDeepEqual(judge(none, ctx), [], "alg none");
  assert.notDeepEqual(judge(`${h}.${Buffer.from(JSON.stringify({ ...good, sub: "x" })).toString("base64url")}.AAAA`, ctx), [], "a changed payload");
  assert.notDeepEqual(judge(signRs256(privateKey, kid, good), { ...ctx, links: new Map([["alice", "another-sub"]]) }), [], "another linked sub");
});
