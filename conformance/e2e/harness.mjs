// Starts a real Inherence server (and the demo relying party) for the end-to-end tests.
// Inputs (set by `make test`): INHERENCE_BIN, INHERENCE_TOOLS_BIN, RP_BIN, INHERENCE_REPO_ROOT, INHERENCE_SHARED_DIR.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const repo = process.env.INHERENCE_REPO_ROOT || new URL("../..", import.meta.url).pathname;
export const shared = process.env.INHERENCE_SHARED_DIR || join(repo, "..", "shared");
export const bin = process.env.INHERENCE_BIN || join(process.env.HOME, ".cache/inherence/target/release/inherence");
// The test camera (`inherence-tools test-camera`) ships apart from the server.
export const toolsBin = process.env.INHERENCE_TOOLS_BIN || join(process.env.HOME, ".cache/inherence/target/release/inherence-tools");
export const rpBin = process.env.RP_BIN || join(process.env.HOME, ".cache/inherence/target/release/examples/rp_web");
// The identity-provider simulators (conformance/src/bin).
export const entraSimBin = process.env.ENTRA_SIM_BIN || join(process.env.HOME, ".cache/inherence/target/release/entra-sim");
// Absent shared data fails the run, unless skipping was asked for explicitly.
export const haveShared = existsSync(join(shared, "eval/dev")) && existsSync(join(shared, "eval/video"));
if (!haveShared && process.env.INHERENCE_SKIP_SHARED !== "1") {
  throw new Error(`${shared}/eval is absent: set INHERENCE_SHARED_DIR, or INHERENCE_SKIP_SHARED=1 to skip the tests that need it`);
}
export const SECRET = "e2e-secret-0123456789abcdef0123456789abcdef";
export const devImage = (rel) => join(shared, "eval/dev/images", rel);

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

async function waitFor(url, proc, what) {
  for (let i = 0; i < 120; i++) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch (_) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not start (${url})`);
}

/** Starts Inherence with test clients; returns { issuer, stop, token(), enrol(), apiKey }.
 * `extraConfig` is appended; `opts.oidc` adds keys to [oidc]; `opts.port` picks the port. */
export async function startServer(rpPort, extraConfig = "", opts = {}) {
  const port = opts.port || await freePort();
  const adminPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "inherence-e2e-"));
  const issuer = `http://127.0.0.1:${port}`;
  const config = `
[server]
listen = "127.0.0.1:${port}"
admin_listen = "127.0.0.1:${adminPort}"
[oidc]
issuer = "${issuer}"
require_par = true
${opts.oidc || ""}
[store]
path = "${join(dir, "store")}"
[models]
dir = "${join(repo, "models")}"
manifest = "${join(repo, "models/manifest.toml")}"
[audit]
# The production setting: checkpoints signed with a key outside the store, and witnessed.
signing_key_file = "${join(dir, "audit-signing.json")}"
witness_file = "${join(dir, "audit-witness.jsonl")}"
[[clients]]
client_id = "demo-bank"
name = "Demo Bank"
redirect_uris = ["http://127.0.0.1:${rpPort}/callback"]
auth_method = "client_secret_basic"
client_secret = "${SECRET}"
require_par = true
[[clients]]
client_id = "node-rp"
name = "openid-client"
redirect_uris = ["http://127.0.0.1:${rpPort}/node-callback"]
auth_method = "client_secret_post"
client_secret = "${SECRET}"
id_token_alg = "ES256"
liveness_method = "ACTIVE_3D"
[[clients]]
client_id = "admin"
auth_method = "client_secret_basic"
client_secret = "${SECRET}"
enrolment_api = true
${extraConfig}
`;
  const cfgPath = join(dir, "inherence.toml");
  writeFileSync(cfgPath, config);
  // An x-api-key for the v3 API, created before the server holds the store.
  const created = spawnSync(bin, ["--config", cfgPath, "api-keys", "create", "e2e"], { encoding: "utf8" });
  if (created.status !== 0) throw new Error(`api-keys create failed: ${created.stderr}`);
  const apiKey = JSON.parse(created.stdout).api_key;
  const proc = spawn(bin, ["--config", cfgPath, "serve"], { stdio: ["ignore", "inherit", "inherit"], env: process.env });
  await waitFor(`${issuer}/healthz`, proc, "inherence serve");
  const token = async () => {
    const r = await fetch(`${issuer}/token`, {
      method: "POST",
      headers: { authorization: "Basic " + Buffer.from(`admin:${SECRET}`).toString("base64"), "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=client_credentials&scope=enrolment",
    });
    return (await r.json()).access_token;
  };
  const enrol = async (subject, imagePath) => {
    const r = await fetch(`${issuer}/api/v1/subjects/${encodeURIComponent(subject)}/face`, {
      method: "PUT",
      headers: { authorization: "Bearer " + (await token()) },
      body: readFileSync(imagePath),
    });
    if (r.status !== 201) throw new Error(`enrolment of ${subject} failed: ${r.status} ${await r.text()}`);
  };
  const stop = () => {
    proc.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  return { issuer, port, admin: `http://127.0.0.1:${adminPort}`, stop, enrol, token, apiKey };
}

/** Starts the demo relying party (examples/rp_web.rs). */
export async function startRp(issuer, rpPort, users) {
  const args = ["--issuer", issuer, "--client-id", "demo-bank", "--client-secret", SECRET, "--listen", `127.0.0.1:${rpPort}`];
  for (const u of users) args.push("--user", u);
  const proc = spawn(rpBin, args, { stdio: ["ignore", "inherit", "inherit"] });
  await waitFor(`http://127.0.0.1:${rpPort}/`, proc, "rp_web");
  return { url: `http://127.0.0.1:${rpPort}`, stop: () => proc.kill("SIGTERM") };
}
