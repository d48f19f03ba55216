// An independent, strict relying party from another ecosystem (npm openid-client 6, built on
// oauth4webapi): discovery, PAR + PKCE + code flow, RFC 9207 iss check, ID-token validation.
// The face check itself is driven over HTTP: this client is configured for ACTIVE_3D, and the
// responding test camera (`inherence-tools test-camera answer`) records the answer to the challenge
// from the recording of the real person.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as client from "openid-client";
import { bin, toolsBin, repo, shared, startServer, freePort, haveShared, devImage, SECRET } from "./harness.mjs";

/** The test camera's answer to challenge `c`: frames (JPEG) and their capture times. */
function answer(c) {
  const dir = mkdtempSync(join(tmpdir(), "inherence-answer-"));
  try {
    writeFileSync(join(dir, "challenge.json"), JSON.stringify(c));
    const r = spawnSync(toolsBin, ["test-camera", "answer", "--video", join(shared, "eval/video/real_face_lmm_640x480_30fps.mjpeg"),
      "--challenge", join(dir, "challenge.json"), "--out", join(dir, "frames")], { encoding: "utf8", cwd: repo });
    assert.equal(r.status, 0, r.stderr);
    const stamps = readFileSync(join(dir, "frames/timestamps.txt"), "utf8");
    const frames = stamps.split(",").map((_, i) => readFileSync(join(dir, "frames", String(i).padStart(3, "0") + ".jpg")));
    return { frames, stamps };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("openid-client completes PAR + PKCE + code flow and validates the ID token", { skip: !haveShared && "shared evaluation data is absent" }, async () => {
  const rpPort = await freePort();
  const server = await startServer(rpPort);
  try {
    await server.enrol("lmm", devImage("celeb_lin_manuel_miranda/facerec_lin-manuel-miranda.png"));
    const config = await client.discovery(
      new URL(server.issuer),
      "node-rp",
      { id_token_signed_response_alg: "ES256" },
      client.ClientSecretPost(SECRET),
      { execute: [client.allowInsecureRequests] },
    );
    const redirect_uri = `http://127.0.0.1:${rpPort}/node-callback`;
    const code_verifier = client.randomPKCECodeVerifier();
    const code_challenge = await client.calculatePKCECodeChallenge(code_verifier);
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri, scope: "openid", code_challenge, code_challenge_method: "S256", state, nonce,
      login_hint: "lmm", acr_values: "biometric", max_age: "0",
    });
    const started = Math.floor(Date.now() / 1000);

    // The "browser": authorize -> capture page (binding cookie) -> challenge -> frames -> finish.
    let r = await fetch(url, { redirect: "manual" });
    assert.equal(r.status, 303);
    const capture = r.headers.get("location");
    const cookie = r.headers.get("set-cookie").split(";")[0];
    const asked = Date.now();
    const c = await (await fetch(server.issuer + capture + "/challenge", { method: "POST", headers: { cookie } })).json();
    assert.equal(c.method, "ACTIVE_3D", "this client is configured for ACTIVE_3D");
    assert.equal(c.actions.length, 2);
    const { frames, stamps } = answer(c);
    // Uploaded once the sequence could have been recorded (an earlier upload is refused).
    await new Promise((r) => setTimeout(r, Math.max(0, c.duration_ms + 100 - (Date.now() - asked))));
    const form = new FormData();
    form.append("challenge", c.challenge);
    form.append("timestamps", stamps);
    for (const f of frames) form.append("frame", new Blob([f], { type: "image/jpeg" }), "f.jpg");
    const result = await (await fetch(server.issuer + capture + "/frames", { method: "POST", headers: { cookie }, body: form })).json();
    assert.equal(result.status, "approved", JSON.stringify(result));
    r = await fetch(server.issuer + capture + "/finish", { redirect: "manual", headers: { cookie } });
    assert.equal(r.status, 303);
    const callback = new URL(r.headers.get("location"));
    assert.equal(callback.searchParams.get("iss"), server.issuer);

    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: code_verifier, expectedState: state, expectedNonce: nonce, maxAge: 0,
    });
    const claims = tokens.claims();
    assert.equal(claims.sub, "lmm");
    assert.equal(claims.inherence_liveness_method, "ACTIVE_3D");
    assert.equal(claims.acr, "biometric");
    assert.deepEqual(claims.amr, ["face"]);
    assert.ok(claims.auth_time >= started - 1, "auth_time is the time the face check finished");
    assert.equal(claims.aud, "node-rp");

    const info = await client.fetchUserInfo(config, tokens.access_token, "lmm");
    assert.equal(info.sub, "lmm");

    // A tampered callback (wrong iss) is refused by the client library.
    const forged = new URL(callback);
    forged.searchParams.set("iss", "https://evil.example");
    await assert.rejects(client.authorizationCodeGrant(config, forged, { pkceCodeVerifier: code_verifier, expectedState: state, expectedNonce: nonce }));
  } finally {
    server.stop();
  }
});
