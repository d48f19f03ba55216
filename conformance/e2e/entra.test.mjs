// Microsoft Entra ID external authentication method, end to end in Chromium: the Entra
// simulator (conformance/src/entra/, run as `entra-sim`) sends the browser to Inherence with
// a signed id_token_hint, the person in the recording passes the face check on the capture page
// in front of the responding test camera, and Inherence's form post lands back at the simulator,
// which validates the ID token as Microsoft documents (see docs/integrations/entra-eam.md).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { randomUUID } from "node:crypto";
import { startServer, freePort, haveShared, devImage, entraSimBin } from "./harness.mjs";
import { liveFootage, pressStart, withTestCamera } from "./testcam.mjs";

const skip = !haveShared && "shared evaluation data (videos, photos) is absent";
const tenant = randomUUID();
const appId = randomUUID();
let server, sim, simProc;

/** Starts the simulator; resolves with its first output line (base URL, users). */
function startSim(discoveryUrl) {
  const args = ["--discovery-url", discoveryUrl, "--client-id", "entra-eam", "--app-id", appId,
    "--tenant-id", tenant, "--user", "alice@contoso.example", "--user", "bob@contoso.example"];
  simProc = spawn(entraSimBin, args, { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    simProc.on("exit", (c) => reject(new Error(`entra-sim exited with ${c}`)));
    createInterface({ input: simProc.stdout }).once("line", (l) => resolve(JSON.parse(l)));
  });
}

before(async () => {
  if (skip) return;
  const port = await freePort();
  sim = await startSim(`http://127.0.0.1:${port}/.well-known/openid-configuration`);
  const extra = `
[[oidc.trusted_issuers]]
issuer = "https://login.microsoftonline.com/${tenant}/v2.0"
jwks_uri = "${sim.jwks_uri}"
subject_claim = "oid"
audiences = ["${appId}"]
max_age_secs = 600
echo_claims = ["sub", "oid", "tid"]
[[clients]]
client_id = "entra-eam"
name = "Microsoft sign-in"
redirect_uris = ["${sim.redirect_uri}"]
response_types = ["id_token"]
auth_method = "none"
id_token_alg = "RS256"
`;
  server = await startServer(await freePort(), extra, {
    port,
    oidc: `acr_values_supported = ["biometric", "possessionorinherence"]`,
  });
  const [alice, bob] = sim.users;
  // alice is the person in the recording; bob is enrolled with someone else's photo.
  await server.enrol(alice.oid, devImage("celeb_lin_manuel_miranda/facerec_lin-manuel-miranda.png"));
  await server.enrol(bob.oid, devImage("lfw_Tony_Blair/Tony_Blair_0005.jpg"));
});

after(() => {
  simProc?.kill("SIGTERM");
  server?.stop();
});

/** Signs `upn` in at the simulator and does the face check; returns what Entra concluded. */
async function signIn(page, upn) {
  await page.goto(`${sim.base}/start?upn=${encodeURIComponent(upn)}`);
  await page.waitForURL((u) => u.pathname.startsWith("/capture/"), { timeout: 15000 });
  const stop = pressStart(page);
  try {
    await page.waitForURL((u) => u.href === sim.redirect_uri, { timeout: 120000 });
  } finally {
    await stop();
  }
  return { title: await page.textContent("#outcome"), detail: JSON.parse(await page.textContent("#detail")) };
}

test("Entra's MFA is satisfied by the face check, and the ID token passes Entra's rules", { skip }, async () => {
  const [alice] = sim.users;
  const r = await withTestCamera(liveFootage(), (page) => signIn(page, alice.upn));
  assert.equal(r.title, "MFA satisfied", JSON.stringify(r.detail));
  assert.deepEqual(r.detail, {
    outcome: "satisfied", acr: "possessionorinherence", amr: "face", sub: alice.sub, oid: alice.oid, tid: tenant,
  });
});

test("a user who cancels on the capture page fails the Entra sign-in with access_denied", { skip }, async () => {
  const [, bob] = sim.users;
  const r = await withTestCamera(liveFootage(), async (page) => {
    await page.goto(`${sim.base}/start?upn=${encodeURIComponent(bob.upn)}`);
    await page.waitForURL((u) => u.pathname.startsWith("/capture/"), { timeout: 15000 });
    await page.click("#cancel");
    await page.waitForURL((u) => u.href === sim.redirect_uri, { timeout: 15000 });
    return { title: await page.textContent("#outcome"), detail: JSON.parse(await page.textContent("#detail")) };
  });
  assert.equal(r.title, "Sign-in failed");
  assert.equal(r.detail.outcome, "provider_error");
  assert.equal(r.detail.error, "access_denied");
});
