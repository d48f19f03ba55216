// An Okta-shaped relying party: what an Okta Identity Engine org does with an OpenID Connect
// identity provider used as an "IdP authenticator" (IdP usage "Factor only"), as Okta's
// documentation describes it (see docs/integrations/okta.md for the pages):
// - the authorization code flow, redirect URI {org}/oauth2/v1/authorize/callback, the default
//   scopes "openid profile email", state and nonce, PKCE S256 ("Require PKCE" on);
// - client authentication "Public key/private key": private_key_jwt signed RS256;
// - the ID token validated against the provider's JWKS (signature, kid, iss, aud, exp and iat
//   within Okta's default clock skew of 2 minutes, nonce);
// - "IdP Username" idpuser.preferred_username matched against the Okta username of the user
//   being verified, and the IdP's `sub` linked to that user at the first success (a later
//   answer must carry the same sub).
// Okta does not document sending a login_hint to the IdP authenticator; `hint: true` sends one
// the way Okta forwards an app's login_hint to an IdP (community reports); the browser
// carries it, so whoever holds the browser may change it.
import http from "node:http";
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign, verify } from "node:crypto";

const b64u = (b) => Buffer.from(b).toString("base64url");
const SKEW_S = 120;

/** Signs `claims` as RS256 with `key` (a KeyObject) under `kid`. */
export function signRs256(key, kid, claims, header = {}) {
  const h = b64u(JSON.stringify({ alg: "RS256", typ: "JWT", kid, ...header }));
  const p = b64u(JSON.stringify(claims));
  const s = sign("sha256", Buffer.from(`${h}.${p}`), key);
  return `${h}.${p}.${b64u(s)}`;
}

/**
 * Okta's checks of the provider's ID token for the user `login` it is verifying. Returns the
 * reasons it fails (empty: the factor is verified). `links` maps an Okta username to the
 * IdP `sub` linked to it.
 */
export function judge(idToken, { jwks, issuer, clientId, nonce, login, links, now = Math.floor(Date.now() / 1000) }) {
  const why = [];
  const parts = String(idToken || "").split(".");
  if (parts.length !== 3) return ["the ID token is not a JWS"];
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url"));
    claims = JSON.parse(Buffer.from(parts[1], "base64url"));
  } catch {
    return ["the ID token does not decode"];
  }
  if (header.alg !== "RS256") return [`alg ${header.alg} is not the RS256 the IdP's keys verify`];
  const jwk = (jwks.keys || []).find((k) => k.kid === header.kid && k.kty === "RSA");
  if (!jwk) return [`no key ${header.kid} in the IdP's JWKS`];
  const ok = verify("sha256", Buffer.from(`${parts[0]}.${parts[1]}`), createPublicKey({ key: jwk, format: "jwk" }),
    Buffer.from(parts[2], "base64url"));
  if (!ok) return ["the signature does not verify"];
  if (claims.iss !== issuer) why.push(`iss ${claims.iss} is not the configured Issuer ${issuer}`);
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(clientId)) why.push(`aud ${JSON.stringify(claims.aud)} does not name the Client ID`);
  if (aud.length > 1 && claims.azp !== clientId) why.push("azp is not the Client ID");
  if (!(typeof claims.exp === "number" && claims.exp + SKEW_S > now)) why.push("the ID token has expired");
  if (!(typeof claims.iat === "number" && claims.iat - SKEW_S <= now)) why.push("iat is in the future");
  if (claims.nonce !== nonce) why.push("nonce does not match the request");
  if (typeof claims.sub !== "string" || !claims.sub) why.push("sub is missing");
  // IdP Username = idpuser.preferred_username, Match against = Okta username.
  const username = claims.preferred_username;
  if (typeof username !== "string" || !username) {
    why.push("preferred_username (the IdP Username) is missing");
  } else if (username.toLowerCase() !== login.toLowerCase()) {
    why.push(`the IdP Username ${username} does not match the user being verified (${login})`);
  }
  const linked = links.get(login.toLowerCase());
  if (why.length === 0 && linked && linked !== claims.sub) why.push("sub is not the IdP user linked to this Okta user");
  return why;
}

/** Starts the org on a free loopback port; `issuer` is the provider's (Inherence's) issuer. */
export async function startOkta({ issuer, clientId }) {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = randomUUID();
  const publicJwk = { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" };
  const pending = new Map();
  const links = new Map();
  const outcomes = new Map();
  let meta;
  const discover = async () => {
    meta ??= await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
    return meta;
  };
  const page = (res, title, detail) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    const esc = (s) => String(s).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
    res.end(`<!doctype html><title>${esc(title)}</title><h1 id="outcome">${esc(title)}</h1><pre id="detail">${esc(JSON.stringify(detail))}</pre>`);
  };
  let base;
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, base);
      if (url.pathname === "/start") {
        // The user has signed in to Okta; the authentication policy asks for the IdP factor.
        const m = await discover();
        const login = url.searchParams.get("login");
        const state = b64u(randomBytes(24));
        const nonce = b64u(randomBytes(24));
        const verifier = b64u(randomBytes(48));
        pending.set(state, { login, nonce, verifier });
        const to = new URL(m.authorization_endpoint);
        const q = {
          client_id: clientId, response_type: "code", scope: "openid profile email",
          redirect_uri: `${base}/oauth2/v1/authorize/callback`, state, nonce,
          code_challenge: createHash("sha256").update(verifier).digest("base64url"), code_challenge_method: "S256",
        };
        // `hint`: the login_hint the browser carries (a thief may edit it in the URL).
        if (url.searchParams.has("hint")) q.login_hint = url.searchParams.get("hint");
        for (const [k, v] of Object.entries(q)) to.searchParams.set(k, v);
        res.writeHead(302, { location: to.href });
        return res.end();
      }
      if (url.pathname === "/oauth2/v1/authorize/callback") {
        const state = url.searchParams.get("state");
        const tx = pending.get(state);
        pending.delete(state);
        if (!tx) return page(res, "Verification failed", { reasons: ["unknown or already used state"] });
        const error = url.searchParams.get("error");
        const done = (title, detail) => {
          outcomes.set(state, detail);
          page(res, title, detail);
        };
        if (error) return done("Verification failed", { error, description: url.searchParams.get("error_description") });
        const m = await discover();
        const now = Math.floor(Date.now() / 1000);
        const assertion = signRs256(privateKey, kid, {
          iss: clientId, sub: clientId, aud: m.token_endpoint, iat: now, exp: now + 300, jti: randomUUID(),
        });
        const t = await fetch(m.token_endpoint, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "authorization_code", code: url.searchParams.get("code") || "",
            redirect_uri: `${base}/oauth2/v1/authorize/callback`, code_verifier: tx.verifier, client_id: clientId,
            client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: assertion,
          }),
        });
        const tokens = await t.json();
        if (!t.ok) return done("Verification failed", { reasons: [`token endpoint: ${tokens.error}`] });
        const jwks = await (await fetch(m.jwks_uri)).json();
        const reasons = judge(tokens.id_token, { jwks, issuer, clientId, nonce: tx.nonce, login: tx.login, links });
        if (reasons.length) return done("Verification failed", { reasons });
        const claims = JSON.parse(Buffer.from(tokens.id_token.split(".")[1], "base64url"));
        links.set(tx.login.toLowerCase(), claims.sub);
        return done("Factor verified", { login: tx.login, sub: claims.sub, preferred_username: claims.preferred_username, amr: claims.amr, acr: claims.acr });
      }
      res.writeHead(404);
      res.end();
    } catch (e) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(e && e.stack || e));
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${server.address().port}`;
  return {
    base, publicJwk, links, outcomes,
    redirectUri: `${base}/oauth2/v1/authorize/callback`,
    stop: () => server.close(),
  };
}
