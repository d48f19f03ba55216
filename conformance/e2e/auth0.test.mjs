// Auth0's post-login Action redirect, end to end: the Action shipped in
// idp-adapters/auth0/inherence-action.js runs in Node inside an Auth0-shaped login pipeline
// (auth0.mjs, with Auth0's token formats), sends Chromium to Inherence, the person in the
// recording passes the face check in front of the responding test camera, and the signed
// result posted to /continue lets the login through (docs/integrations/auth0.md).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer, freePort, haveShared, devImage, repo } from "./harness.mjs";
import { liveFootage, pressStart, withTestCamera } from "./testcam.mjs";
import { startAuth0, hs256 } from "./auth0.mjs";

const skip = !haveShared && "shared evaluation data (videos, photos) is absent";
const CLIENT = "auth0-tenant";
const SECRET = "auth0-action-secret-0123456789abcdef-e2e";
let server, auth0, issuer;

before(async () => {
  if (skip) return;
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  auth0 = await startAuth0({
    actionPath: join(repo, "idp-adapters/auth0/inherence-action.js"),
    secrets: { INHERENCE_ISSUER: issuer, INHERENCE_CLIENT_ID: CLIENT, INHERENCE_SECRET: SECRET },
  });
  const extra = `
[[clients]]
client_id = "${CLIENT}"
name = "Corp (Auth0)"
redirect_uris = ["${auth0.continueUrl}"]
response_types = ["auth0_continue"]
auth_method = "none"
client_secret = "${SECRET}"
`;
  server = await startServer(await freePort(), extra, { port });
  await server.enrol("auth0|alice", devImage("celeb_lin_manuel_miranda/facerec_lin-manuel-miranda.png"));
});

after(() => {
  auth0?.stop();
  server?.stop();
});

const verdict = async (page) => ({ title: await page.textContent("#outcome"), detail: JSON.parse(await page.textContent("#detail")) });

test("the Action sends the user to the face check and lets the login through on Inherence's signed result", { skip }, async () => {
  const r = await withTestCamera(liveFootage(), async (page) => {
    await page.goto(`${auth0.base}/authorize?user=${encodeURIComponent("auth0|alice")}`);
    await page.waitForURL((u) => u.pathname.startsWith("/capture/"), { timeout: 15000 });
    const stop = pressStart(page);
    try {
      await page.waitForURL((u) => u.href.startsWith(auth0.continueUrl), { timeout: 120000 });
    } finally {
      await stop();
    }
    return verdict(page);
  });
  assert.equal(r.title, "Logged in", JSON.stringify(r.detail));
  assert.deepEqual(r.detail, { user_id: "auth0|alice", methods: [`${issuer}/auth0/face`] });
});

test("a cancelled face check denies the login", { skip }, async () => {
  const r = await withTestCamera(liveFootage(), async (page) => {
    await page.goto(`${auth0.base}/authorize?user=${encodeURIComponent("auth0|alice")}`);
    await page.waitForURL((u) => u.pathname.startsWith("/capture/"), { timeout: 15000 });
    await page.click("#cancel");
    await page.waitForURL((u) => u.href.startsWith(auth0.continueUrl), { timeout: 15000 });
    return verdict(page);
  });
  assert.equal(r.title, "Access denied");
  assert.equal(r.detail.reason, "Face check not completed: the face check was cancelled or declined");
});

test("the Action refuses every answer that is not Inherence's approval for this user and login", { skip }, async () => {
  /** Starts a login without a browser: the state and Auth0's own session token. */
  const login = async (user) => {
    const r = await fetch(`${auth0.base}/authorize?user=${encodeURIComponent(user)}`, { redirect: "manual" });
    assert.equal(r.status, 302);
    const to = new URL(r.headers.get("location"));
    assert.equal(to.origin + to.pathname, `${issuer}/auth0/start`);
    return { state: to.searchParams.get("state"), sessionToken: to.searchParams.get("session_token") };
  };
  const answer = async (fields) => {
    const r = await fetch(auth0.continueUrl, { method: "POST", body: new URLSearchParams(fields) });
    const html = await r.text();
    return html.match(/<h1 id="outcome">([^<]*)</)[1];
  };
  const now = Math.floor(Date.now() / 1000);
  const result = (state, edit = {}) => hs256({
    iss: issuer, aud: "127.0.0.1", sub: "auth0|alice", state, iat: now, exp: now + 120, jti: "j",
    result: "approved", acr: "biometric", amr: ["face"], auth_time: now, ...edit,
  }, SECRET);
  // The control: a result as Inherence signs it is accepted.
  let { state } = await login("auth0|alice");
  assert.equal(await answer({ state, session_token: result(state) }), "Logged in");
  const refused = [
    (s) => ({ state: s, session_token: result(s, { sub: "auth0|bob" }) }),
    (s) => ({ state: s, session_token: result(s, { iss: "https://evil.example" }) }),
    (s) => ({ state: s, session_token: result(s, { aud: "other-tenant.auth0.com" }) }),
    (s) => ({ state: s, session_token: result(s, { result: "declined" }) }),
    (s) => ({ state: s, session_token: result(s, { amr: ["pwd"] }) }),
    (s) => ({ state: s, session_token: result("another-login") }),
    (s) => ({ state: s, session_token: result(s, { exp: now - 1 }) }),
    (s) => ({ state: s, session_token: hs256({ iss: issuer, sub: "auth0|alice", state: s, iat: now, exp: now + 60, result: "approved", amr: ["face"] }, "a-guessed-secret-0123456789abcdef0123") }),
    (s) => ({ state: s, error: "access_denied", error_description: "forged" }),
    (s) => ({ state: s }),
  ];
  for (const [i, make] of refused.entries()) {
    ({ state } = await login("auth0|alice"));
    assert.equal(await answer(make(state)), "Access denied", `case ${i}`);
  }
  // Auth0's own session token sent straight back (the Action signs both with one secret).
  const l = await login("auth0|alice");
  assert.equal(await answer({ state: l.state, session_token: l.sessionToken }), "Access denied");
});
