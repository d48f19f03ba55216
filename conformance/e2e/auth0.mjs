// An Auth0 tenant's login pipeline for post-login Actions, as Auth0 documents it (see
// docs/integrations/auth0.md for the pages), running a real Action's code:
// - onExecutePostLogin(event, api) after the first factor; api.redirect.sendUserTo(url, {query})
//   redirects the browser and Auth0 adds `state`; api.redirect.encodeToken makes an HS256 JWT
//   with iss = the tenant's hostname, sub = user_id, iat, exp (default 900 s), ip and the
//   payload's claims beside them;
// - /continue (GET or POST) with `state` resumes the transaction and runs
//   onContinuePostLogin(event, api); api.redirect.validateToken({secret, tokenParameterName})
//   reads the token from the body or the query (default name session_token) and checks the
//   HS256 signature, expiry, the `state` claim against the state parameter, and (Auth0's
//   "Missing or invalid standard claims" error) iat, iss, and sub = the user's user_id;
// - api.authentication.recordMethod(url) only in onContinuePostLogin, with an http(s) URL;
//   api.access.deny(reason) ends the login.
import http from "node:http";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createRequire } from "node:module";

const b64u = (b) => Buffer.from(b).toString("base64url");

export function hs256(claims, secret) {
  const h = b64u(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const p = b64u(JSON.stringify(claims));
  return `${h}.${p}.${b64u(createHmac("sha256", secret).update(`${h}.${p}`).digest())}`;
}

/** validateToken's checks; returns the payload or throws as Auth0 does. */
export function validateToken(token, { secret, state, userId, now = Math.floor(Date.now() / 1000) }) {
  if (!token) throw new Error("The session token is missing");
  const [h, p, s] = String(token).split(".");
  let header, payload;
  try {
    header = JSON.parse(Buffer.from(h, "base64url"));
    payload = JSON.parse(Buffer.from(p, "base64url"));
  } catch {
    throw new Error("The session token is invalid: malformed");
  }
  if (header.alg !== "HS256") throw new Error("The session token is invalid: algorithm");
  const expected = createHmac("sha256", secret).update(`${h}.${p}`).digest();
  const given = Buffer.from(s || "", "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new Error("The session token is invalid: signature");
  }
  if (!(typeof payload.exp === "number" && payload.exp > now)) throw new Error("The session token is invalid: expired");
  if (payload.state !== state) throw new Error("The session token is invalid: State in the token does not match the /continue state.");
  if (typeof payload.iat !== "number" || !payload.iss || payload.sub !== userId) {
    throw new Error("Missing or invalid standard claims");
  }
  return payload;
}

/** Starts the tenant on a free loopback port, running the Action at `actionPath`. */
export async function startAuth0({ actionPath, secrets }) {
  const action = createRequire(import.meta.url)(actionPath);
  const txs = new Map();
  let base, hostname;
  const page = (res, title, detail, status = 200) => {
    res.writeHead(status, { "content-type": "text/html; charset=utf-8" });
    const esc = (s) => String(s).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
    res.end(`<!doctype html><title>${esc(title)}</title><h1 id="outcome">${esc(title)}</h1><pre id="detail">${esc(JSON.stringify(detail))}</pre>`);
  };
  const event = (tx, req, query, body) => ({
    user: { user_id: tx.userId },
    request: { ip: "127.0.0.1", hostname, query, body },
    transaction: { id: tx.id },
    authentication: { methods: tx.methods.slice() },
    secrets,
  });
  const api = (tx, phase) => ({
    access: { deny: (reason) => { tx.denied = String(reason); } },
    authentication: {
      recordMethod: (url) => {
        if (phase !== "continue") throw new Error("recordMethod is only available in onContinuePostLogin");
        if (!/^https?:\/\//.test(url)) throw new Error("recordMethod needs an http(s) URL");
        tx.methods.push({ name: url, timestamp: new Date().toISOString() });
      },
    },
    redirect: {
      encodeToken: ({ secret, expiresInSeconds = 900, payload = {} }) => {
        const now = Math.floor(Date.now() / 1000);
        return hs256({ ...payload, iss: hostname, sub: tx.userId, iat: now, exp: now + expiresInSeconds, ip: "127.0.0.1" }, secret);
      },
      sendUserTo: (url, { query = {} } = {}) => {
        if (phase !== "execute") throw new Error("sendUserTo is only available in onExecutePostLogin");
        const u = new URL(url);
        for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
        u.searchParams.set("state", tx.state);
        tx.redirect = u.href;
      },
      validateToken: ({ secret, tokenParameterName = "session_token" }) => {
        const token = tx.body?.[tokenParameterName] ?? tx.query?.[tokenParameterName];
        return validateToken(token, { secret, state: tx.state, userId: tx.userId });
      },
    },
  });
  const finish = (res, tx) => {
    txs.delete(tx.state);
    if (tx.denied) return page(res, "Access denied", { reason: tx.denied, methods: tx.methods });
    return page(res, "Logged in", { user_id: tx.userId, methods: tx.methods.map((m) => m.name) });
  };
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, base);
      const raw = await new Promise((r) => { let d = ""; req.on("data", (c) => { d += c; }); req.on("end", () => r(d)); });
      const body = req.method === "POST" ? Object.fromEntries(new URLSearchParams(raw)) : {};
      const query = Object.fromEntries(url.searchParams);
      if (url.pathname === "/authorize") {
        // The user has passed the first factor; the post-login trigger runs.
        const tx = { id: b64u(randomBytes(9)), state: b64u(randomBytes(18)), userId: query.user, methods: [] };
        txs.set(tx.state, tx);
        await action.onExecutePostLogin(event(tx, req, query, body), api(tx, "execute"));
        if (tx.redirect && !tx.denied) {
          res.writeHead(302, { location: tx.redirect });
          return res.end();
        }
        return finish(res, tx);
      }
      if (url.pathname === "/continue") {
        const state = body.state ?? query.state;
        const tx = txs.get(state);
        if (!tx) return page(res, "invalid_request", { reason: "the state is unknown: the login transaction is lost" }, 400);
        tx.query = query;
        tx.body = body;
        await action.onContinuePostLogin(event(tx, req, query, body), api(tx, "continue"));
        return finish(res, tx);
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
  hostname = "127.0.0.1";
  return { base, continueUrl: `${base}/continue`, stop: () => server.close() };
}
