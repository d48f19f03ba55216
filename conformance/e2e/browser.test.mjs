// End to end in headless Chromium with a fake camera playing the shared videos: a user signs in
// to the demo bank with a password, makes a transfer, and confirms it with their face on the
// hosted capture page instead of an SMS code.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, startRp, freePort, haveShared, devImage, shared } from "./harness.mjs";

const skip = !haveShared && "shared evaluation data (videos, photos) is absent";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
let server, rp;

before(async () => {
  if (skip) return;
  const rpPort = await freePort();
  server = await startServer(rpPort);
  // alice is the person in the real-face video; bob is enrolled with someone else's photo;
  // carol is the person in the still-photo video.
  await server.enrol("lmm", devImage("celeb_lin_manuel_miranda/facerec_lin-manuel-miranda.png"));
  await server.enrol("other", devImage("lfw_Tony_Blair/Tony_Blair_0005.jpg"));
  await server.enrol("obama", devImage("celeb_barack_obama/facerec_obama.jpg"));
  rp = await startRp(server.issuer, rpPort, ["alice:pw:lmm", "bob:pw:other", "carol:pw:obama"]);
});

after(() => {
  rp?.stop();
  server?.stop();
});

async function withCamera(video, fn) {
  const profile = mkdtempSync(join(tmpdir(), "inherence-chromium-"));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream", `--use-file-for-fake-video-capture=${join(shared, "eval/video", video)}`,
    ],
  });
  try {
    const context = await browser.newContext({ permissions: ["camera"] });
    const page = await context.newPage();
    return await fn(page);
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Signs in and makes a transfer; returns the message the bank shows afterwards. */
async function transfer(page, user) {
  await page.goto(rp.url + "/");
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", "pw");
  await page.click("button[type=submit]");
  await page.click("#transfer");
  await page.waitForURL((u) => u.pathname.startsWith("/capture/"), { timeout: 15000 });
  // The page names the transaction the user is approving.
  await page.waitForSelector("#transaction-lines li");
  assert.match(await page.textContent("#transaction-lines"), /Pay EUR 123\.50 to Merchant A/);
  // Auto-capture runs; wait until the browser is back at the bank.
  await page.waitForURL((u) => u.origin === rp.url, { timeout: 90000 });
  return await page.textContent("[role=status]");
}

test("the person in the real-face video passes and the bank sees acr biometric", { skip }, async () => {
  const message = await withCamera("real_face_lmm_640x480_30fps.mjpeg", (page) => transfer(page, "alice"));
  assert.match(message, /approved with a face check \(acr biometric, amr face/, message);
});

test("someone else's face is refused and no transfer happens", { skip }, async () => {
  const message = await withCamera("real_face_lmm_640x480_30fps.mjpeg", (page) => transfer(page, "bob"));
  assert.match(message, /Not done: face confirmation is not possible/, message);
  assert.doesNotMatch(message, /approved/);
});

test("a still photo played as the camera is refused (identical frames)", { skip }, async () => {
  const message = await withCamera("still_photo_obama_640x480_30fps_3s.mjpeg", (page) => transfer(page, "carol"));
  console.log("still-photo video outcome:", message);
  assert.match(message, /Not done/, message);
});
