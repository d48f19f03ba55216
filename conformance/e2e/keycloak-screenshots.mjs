// Takes the admin-console screenshots of docs/integrations/keycloak.md from a real Keycloak
// with the adapter and the demo realm (run by `make keycloak-screenshots`; not a test).
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, freePort, repo } from "./harness.mjs";
import { startKeycloak, KC_REALM } from "./keycloak.mjs";

const out = join(repo, "docs/integrations/keycloak");
mkdirSync(out, { recursive: true });
const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const jwk = publicKey.export({ format: "jwk" });
const kcPort = await freePort();
const server = await startServer(await freePort(), `
[[clients]]
client_id = "keycloak"
redirect_uris = ["http://127.0.0.1:${kcPort}/realms/${KC_REALM}/inherence/callback"]
auth_method = "private_key_jwt"
require_par = true
jwks = { keys = [ { kty = "EC", crv = "P-256", x = "${jwk.x}", y = "${jwk.y}" } ] }
`);
const adminPassword = "admin-" + randomBytes(6).toString("hex");
const kc = await startKeycloak({
  INHERENCE_ISSUER: server.issuer,
  INHERENCE_KC_PRIVATE_KEY: privateKey.export({ format: "der", type: "pkcs8" }).toString("base64"),
  DEMO_APP_SECRET: "demo-app-secret", DEMO_APP_REDIRECT: "https://app.example/cb",
  DEMO_USER_PASSWORD: "demo", ADMIN_PASSWORD: adminPassword,
}, kcPort);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  const console_ = `${kc.base}/admin/master/console/#/${KC_REALM}`;
  await page.goto(console_);
  await page.fill("#username", "admin");
  await page.fill("#password", adminPassword);
  await page.click("#kc-login");
  const settle = async () => { await page.waitForLoadState("networkidle"); await page.waitForTimeout(1500); };
  const shot = async (name, fullPage = false) => { await settle(); await page.screenshot({ path: join(out, name), fullPage }); console.log("wrote", name); };

  await page.goto(`${console_}/authentication`);
  await page.getByText("inherence browser").first().waitFor();
  await shot("01-flows.png");

  await page.getByText("inherence browser").first().click();
  await page.getByText("Inherence face check").first().waitFor();
  await shot("02-flow-detail.png", true);

  // The execution's settings: the gear button on its row (before the delete button).
  const row = page.locator("tr").filter({ hasText: "Inherence face check" }).last();
  const buttons = row.locator("button");
  const n = await buttons.count();
  await buttons.nth(n - 2).click();
  await page.getByText("Inherence issuer URL").first().waitFor({ timeout: 15000 });
  await shot("05-execution-config.png");
  await page.keyboard.press("Escape");

  await page.goto(`${console_}/authentication/required-actions`);
  await page.getByText("Set up face confirmation").first().waitFor();
  await shot("06-required-actions.png");

  await page.goto(`${console_}/realm-settings`);
  await page.getByText(/ACR to LoA/i).first().waitFor();
  await page.getByText(/ACR to LoA/i).first().scrollIntoViewIfNeeded();
  await shot("03-acr-loa.png");

  const clients = await (await fetch(`${kc.base}/admin/realms/${KC_REALM}/clients?clientId=demo-app`, { headers: { authorization: `Bearer ${await kc.adminToken()}` } })).json();
  await page.goto(`${console_}/clients/${clients[0].id}/advanced`);
  await page.getByText(/Minimum ACR value/i).first().waitFor();
  await page.getByText(/Minimum ACR value/i).first().scrollIntoViewIfNeeded();
  await shot("04-client-min-acr.png");
} finally {
  await browser.close();
  kc.stop();
  server.stop();
}
