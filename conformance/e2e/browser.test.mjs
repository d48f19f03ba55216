// End to end in headless Chromium with the responding test camera (testcam.mjs) playing a
// recording of a real person: a user signs in to the demo bank with a password, makes a
// transfer, and confirms it with their face on the hosted capture page instead of an SMS code.
// The page shows the challenge (colours, head actions); the camera answers what it sees.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, startRp, freePort, haveShared, devImage } from "./harness.mjs";
import { footage, liveFootage, pressStart, withTestCamera } from "./testcam.mjs";

const skip = !haveShared && "shared evaluation data (videos, photos) is absent";
let server, rp;

before(async () => {
  if (skip) return;
  const rpPort = await freePort();
  server = await startServer(rpPort);
  // alice is the person in the recording; bob is enrolled with someone else's photo;
  // carol is enrolled from the photo an attacker plays as a still camera.
  await server.enrol("lmm", devImage("celeb_lin_manuel_miranda/facerec_lin-manuel-miranda.png"));
  await server.enrol("other", devImage("lfw_Tony_Blair/Tony_Blair_0005.jpg"));
  await server.enrol("obama", devImage("celeb_barack_obama/facerec_obama.jpg"));
  rp = await startRp(server.issuer, rpPort, ["alice:pw:lmm", "bob:pw:other", "carol:pw:obama"]);
});

after(() => {
  rp?.stop();
  server?.stop();
});

/** Signs in and makes a transfer of `amount` EUR, presses Start on the capture page (again
 * after a declined attempt); returns the bank's message and what the page showed. */
async function transfer(page, user, amount = "123.50") {
  await page.goto(rp.url + "/");
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", "pw");
  await page.click("button[type=submit]");
  await page.fill("input[name=amount]", amount);
  await page.click("#transfer");
  await page.waitForURL((u) => u.pathname.startsWith("/capture/"), { timeout: 15000 });
  // The page names the transaction the user is approving, and what the check will ask.
  await page.waitForSelector("#transaction-lines li");
  assert.match(await page.textContent("#transaction-lines"), new RegExp(`Pay EUR ${amount.replace(".", "\\.")} to Merchant A`));
  const method = await page.textContent("#method");
  const seen = { colours: new Set(), actions: new Set(), method };
  const watch = setInterval(async () => {
    try {
      const [c, a] = await page.evaluate(() => [document.getElementById("flash").dataset.colour || "",
        document.getElementById("prompt").hidden ? "" : document.getElementById("prompt").dataset.action || ""]);
      if (c) seen.colours.add(c);
      if (a) seen.actions.add(a);
    } catch (_) { /* navigating */ }
  }, 100);
  const stop = pressStart(page);
  try {
    await page.waitForURL((u) => u.origin === rp.url, { timeout: 120000 });
  } finally {
    clearInterval(watch);
    await stop();
  }
  return { message: await page.textContent("[role=status]"), seen };
}

test("the person in front of the screen passes FLASHING and the bank sees acr biometric", { skip }, async () => {
  const r = await withTestCamera(liveFootage(), (page) => transfer(page, "alice"));
  assert.match(r.message, /approved with a face check \(acr biometric, amr face/, r.message);
  assert.ok(r.seen.colours.size >= 3, `the screen showed the colours: ${[...r.seen.colours]}`);
  assert.equal(r.seen.actions.size, 0, "no head actions for FLASHING");
});

test("a large transfer needs ACTIVE_3D: head turns and colours, and it passes", { skip }, async () => {
  const r = await withTestCamera(liveFootage(), (page) => transfer(page, "alice", "950.00"));
  assert.match(r.message, /approved with a face check/, r.message);
  assert.ok(r.seen.actions.has("turn_left") && r.seen.actions.has("turn_right"), [...r.seen.actions].join());
  assert.ok(r.seen.colours.size >= 3);
  assert.match(r.seen.method, /turn your head/);
});

test("someone else's face is refused and no transfer happens", { skip }, async () => {
  const r = await withTestCamera(liveFootage(), (page) => transfer(page, "bob"));
  assert.match(r.message, /Not done: face confirmation is not possible/, r.message);
  assert.doesNotMatch(r.message, /approved/);
});

test("a noisy still photo of the account holder played as a virtual camera is refused", { skip }, async () => {
  // Another photo of carol than the one she enrolled, with sensor noise (no two frames alike).
  const still = footage("still", devImage("celeb_barack_obama/facerec_obama2.jpg"));
  const r = await withTestCamera(still, (page) => transfer(page, "carol"), { respond: false });
  assert.match(r.message, /Not done/, r.message);
  assert.doesNotMatch(r.message, /approved/);
});
