// An independent, strict relying party from another ecosystem (npm openid-client 6, built on
// oauth4webapi): discovery, PAR + PKCE + code flow, RFC 9207 iss check, ID-token validation.
// The face check itself is driven over HTTP with frames from the dev set.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as client from "openid-client";
import { startServer, freePort, haveShared, devImage, SECRET } from "./harness.mjs";

test("openid-client completes PAR + PKCE + code flow and validates the ID token", { skip: !haveShared && "shared evaluation data is absent" }, async () => {
  const rpPort = await freePort();
  const server = await startServer(rpPort);
  try {
    await server.enrol("rumsfeld", devImage("lfw_Donald_Rumsfeld/Donald_Rumsfeld_0001.jpg"));
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
      login_hint: "rumsfeld", acr_values: "biometric", max_age: "0",
    });
    const started = Math.floor(Date.now() / 1000);

    // The "browser": authorize -> capture page (binding cookie) -> challenge -> frames -> finish.
    let r = await fetch(url, { redirect: "manual" });
    assert.equal(r.status, 303);
    const capture = r.headers.get("location");
    const cookie = r.headers.get("set-cookie").split(";")[0];
    const c = await (await fetch(server.issuer + capture + "/challenge", { method: "POST", headers: { cookie } })).json();
    const form = new FormData();
    form.append("challenge", c.challenge);
    for (const f of ["0009", "0010", "0004"]) {
      form.append("frame", new Blob([readFileSync(devImage(`lfw_Donald_Rumsfeld/Donald_Rumsfeld_${f}.jpg`))], { type: "image/jpeg" }), "f.jpg");
    }
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
    assert.equal(claims.sub, "rumsfeld");
    assert.equal(claims.acr, "biometric");
    assert.deepEqual(claims.amr, ["face"]);
    assert.ok(claims.auth_time >= started - 1, "auth_time is the time the face check finished");
    assert.equal(claims.aud, "node-rp");

    const info = await client.fetchUserInfo(config, tokens.access_token, "rumsfeld");
    assert.equal(info.sub, "rumsfeld");

    // A tampered callback (wrong iss) is refused by the client library.
    const forged = new URL(callback);
    forged.searchParams.set("iss", "https://evil.example");
    await assert.rejects(client.authorizationCodeGrant(config, forged, { pkceCodeVerifier: code_verifier, expectedState: state, expectedNonce: nonce }));
  } finally {
    server.stop();
  }
});
