// Starts a real Keycloak (keycloak-quarkus-dist from Maven Central, unpacked by `make`) with the
// Inherence adapter in providers/ and the demo realm imported. Inputs (set by `make test`):
// KEYCLOAK_HOME (the unpacked distribution), KEYCLOAK_ADAPTER_JAR, KEYCLOAK_JAVA_HOME.
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, mkdirSync, readFileSync, rmSync, openSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, repo } from "./harness.mjs";

export const KC_REALM = "inherence-demo";

export function keycloakInputs() {
  const home = process.env.KEYCLOAK_HOME;
  const jar = process.env.KEYCLOAK_ADAPTER_JAR;
  if (!home || !existsSync(join(home, "bin/kc.sh"))) throw new Error(`KEYCLOAK_HOME (${home}) is not an unpacked Keycloak distribution: run the tests through make`);
  if (!jar || !existsSync(jar)) throw new Error(`KEYCLOAK_ADAPTER_JAR (${jar}) is missing: run the tests through make`);
  return { home, jar };
}

/** Copies the distribution, deploys the adapter and the realm, starts `kc.sh start-dev`. */
export async function startKeycloak(env, port) {
  const { home, jar } = keycloakInputs();
  const dir = mkdtempSync(join(tmpdir(), "inherence-kc-"));
  const kc = join(dir, "keycloak");
  cpSync(home, kc, { recursive: true });
  cpSync(jar, join(kc, "providers", "inherence-keycloak.jar"));
  mkdirSync(join(kc, "data", "import"), { recursive: true });
  cpSync(join(repo, "idp-adapters/keycloak/realm/inherence-demo-realm.json"), join(kc, "data/import/inherence-demo-realm.json"));
  const mgmt = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logPath = join(dir, "keycloak.log");
  const log = openSync(logPath, "w");
  const started = Date.now();
  const proc = spawn(join(kc, "bin/kc.sh"), [
    "start-dev", "--import-realm", "--http-host=127.0.0.1", `--http-port=${port}`,
    `--http-management-port=${mgmt}`, "--hostname-strict=false", "--log-level=INFO,dev.inherence:debug",
  ], {
    stdio: ["ignore", log, log],
    env: {
      ...process.env,
      ...env,
      JAVA_HOME: process.env.KEYCLOAK_JAVA_HOME || process.env.JAVA_HOME || "",
      KC_BOOTSTRAP_ADMIN_USERNAME: "admin",
      KC_BOOTSTRAP_ADMIN_PASSWORD: env.ADMIN_PASSWORD,
    },
    detached: true,
  });
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`Keycloak exited with ${proc.exitCode}:\n${readFileSync(logPath, "utf8").slice(-4000)}`);
    try {
      const r = await fetch(`${base}/realms/${KC_REALM}/.well-known/openid-configuration`);
      if (r.ok) break;
    } catch (_) { /* not yet */ }
    if (i > 600) throw new Error(`Keycloak did not start in 5 minutes:\n${readFileSync(logPath, "utf8").slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const startup = (Date.now() - started) / 1000;
  const stop = () => {
    try { process.kill(-proc.pid, "SIGKILL"); } catch (_) { /* gone */ }
    rmSync(dir, { recursive: true, force: true });
  };
  const adminToken = async () => {
    const r = await fetch(`${base}/realms/master/protocol/openid-connect/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "password", client_id: "admin-cli", username: "admin", password: env.ADMIN_PASSWORD }),
    });
    return (await r.json()).access_token;
  };
  const admin = async (method, path, body) => {
    const r = await fetch(`${base}/admin/realms/${KC_REALM}${path}`, {
      method,
      headers: { authorization: `Bearer ${await adminToken()}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.status === 204 ? null : r.json();
  };
  return { base, port, stop, admin, adminToken, log: () => readFileSync(logPath, "utf8"), startup };
}
