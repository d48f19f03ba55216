// The responding test camera in Chromium: the page's camera is replaced by a canvas stream
// (injected before the page's own script runs) that plays recorded footage of a real person
// and answers what the page shows, as a person in front of the screen would:
// - the screen colour (the flash overlay) is added to the face as a reflection, strongest at
//   the nose and falling off towards the sides of the face, nothing on the room behind, seen
//   ~60 ms late (a camera's latency);
// - when the page asks for a head turn, the recorded turn is played after a reaction time
//   (mirrored for the side the recording does not show), held, then played back.
// It reads only what a camera would see (the colour on screen) and what the person would read
// (the prompt); never the challenge itself. The footage comes from `inherence-tools test-camera`.
// With `respond: false` it is an attacker's virtual camera: it plays the footage (a still photo
// from `footage("still", ...)`, with sensor noise) and answers nothing.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { repo, shared, toolsBin } from "./harness.mjs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const cache = new Map();

/** Exports footage with `inherence-tools test-camera` (once per process and source). */
export function footage(kind, source) {
  const key = kind + ":" + source;
  if (!cache.has(key)) {
    const dir = mkdtempSync(join(tmpdir(), "inherence-testcam-"));
    const args = kind === "still"
      ? ["test-camera", "still", "--image", source, "--out", dir]
      : ["test-camera", "export", "--video", source, "--out", dir];
    const r = spawnSync(toolsBin, args, { encoding: "utf8", cwd: repo });
    if (r.status !== 0) throw new Error(`inherence-tools ${args.join(" ")}: ${r.stderr}`);
    cache.set(key, { dir, meta: JSON.parse(readFileSync(join(dir, "footage.json"), "utf8")) });
  }
  return cache.get(key);
}

/** The recording of the real person in the shared data. */
export const liveFootage = () => footage("live", join(shared, "eval/video/real_face_lmm_640x480_30fps.mjpeg"));

/** The script injected into every page: replaces getUserMedia with the test camera. */
function cameraScript(meta, respond) {
  return `(() => {
  const META = ${JSON.stringify(meta)}, RESPOND = ${respond ? "true" : "false"};
  const W = 640, H = 480, LATENCY = 60, REACTION = 250, FORWARD = 50, BACK = 30, CENTRE = 33.3;
  let started = null;
  async function start() {
    const shots = await Promise.all(META.shots.map(async (s) =>
      createImageBitmap(await (await fetch("/__testcam/" + s.file)).blob())));
    const canvas = document.createElement("canvas");
    canvas.width = W; canvas.height = H;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    const seen = [];        // [time, colour] as shown on screen
    let action = "centre", since = performance.now(), backFrom = null, turnSign = 0;
    const turn = META.turn, n = turn.length, centre = META.centre;
    const t0 = performance.now();
    let seed = 12345;
    function pick(now) {
      // Which shot, mirrored or not, the head shows now.
      if (n && action !== "centre" && now - since >= REACTION) {
        const k = (now - since - REACTION) / FORWARD;
        const i = k < n - 1 ? Math.floor(k) : n - 1 - (Math.floor(k) % 3);
        backFrom = i;
        const mirrored = turnSign !== META.turn_sign;
        if (!mirrored || Math.abs(META.shots[turn[i]].yaw) >= 8) return [turn[i], mirrored];
      } else if (n && action === "centre" && backFrom !== null) {
        const i = Math.floor(backFrom - (now - since) / BACK);
        const mirrored = turnSign !== META.turn_sign;
        if (i >= 0 && (!mirrored || Math.abs(META.shots[turn[i]].yaw) >= 8)) return [turn[i], mirrored];
        if (i < 0) backFrom = null;
      }
      const m = centre.length, period = Math.max(1, 2 * m - 2);
      const p = Math.floor((now - t0) / CENTRE) % period;
      return [centre[p < m ? p : period - p], false];
    }
    function colourAt(t) {
      let c = "";
      for (const [when, colour] of seen) { if (when <= t) c = colour; else break; }
      return c;
    }
    function draw() {
      const now = performance.now();
      const flash = document.getElementById("flash");
      const colour = flash ? (flash.dataset.colour || "") : "";
      if (!seen.length || seen[seen.length - 1][1] !== colour) seen.push([now, colour]);
      while (seen.length > 2 && seen[1][0] < now - 1000) seen.shift();
      const prompt = document.getElementById("prompt");
      const asked = RESPOND && prompt && !prompt.hidden && prompt.dataset.action ? prompt.dataset.action : "centre";
      if (asked !== action) {
        if (asked !== "centre") turnSign = asked === "turn_left" ? 1 : -1;
        action = asked;
        since = now;
      }
      const [i, mirrored] = pick(now);
      const s = META.shots[i];
      ctx.save();
      if (mirrored) { ctx.translate(W, 0); ctx.scale(-1, 1); }
      ctx.drawImage(shots[i], 0, 0, W, H);
      ctx.restore();
      // The light of the screen on the face, and a camera's sensor noise (+-1 grey level:
      // a real camera never delivers the same picture twice).
      const c = RESPOND ? colourAt(now - LATENCY) : "";
      const rgb = c ? [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16) / 255) : null;
      const nx = mirrored ? W - 1 - s.nose[0] : s.nose[0], ny = s.nose[1];
      const rx = s.bbox[2] * 0.55, ry = s.bbox[3] * 0.6, strength = 0.12;
      const img = ctx.getImageData(0, 0, W, H), d = img.data;
      for (let y = 0; y < H; y++) {
        const dy = (y - ny) / ry;
        for (let x = 0; x < W; x++) {
          const o = (y * W + x) * 4;
          seed = (seed * 1103515245 + 12345) >>> 0;
          const noise = ((seed >>> 16) % 3) - 1;
          let w = 0;
          if (rgb) {
            const dx = (x - nx) / rx, d2 = dx * dx + dy * dy;
            if (d2 < 3) w = Math.exp(-d2) * (1 - d2 / 3) * strength;
          }
          for (let ch = 0; ch < 3; ch++) {
            const v = d[o + ch];
            d[o + ch] = Math.max(0, Math.min(255, Math.round(v * (1 + (rgb ? w * rgb[ch] : 0)) + noise)));
          }
        }
      }
      ctx.putImageData(img, 0, 0);
      setTimeout(draw, 1000 / 30);
    }
    draw();
    return canvas.captureStream(30);
  }
  navigator.mediaDevices.getUserMedia = async () => {
    started = started || start();
    return started;
  };
})();`;
}

/** Runs `fn(page)` in a fresh browser whose camera is the test camera playing `cam`
 * (from `footage()`). `respond: false` makes it a fake camera that plays the footage (with
 * sensor noise) and answers nothing: an attacker's virtual camera showing a photo. */
export async function withTestCamera(cam, fn, { respond = true } = {}) {
  const profile = mkdtempSync(join(tmpdir(), "inherence-chromium-"));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
    ],
  });
  try {
    const context = await browser.newContext({ permissions: ["camera"] });
    await context.addInitScript({ content: cameraScript(cam.meta, respond) });
    await context.route("**/__testcam/*", (route) => {
      const file = new URL(route.request().url()).pathname.split("/").pop();
      return route.fulfill({ path: join(cam.dir, file), contentType: "image/jpeg" });
    });
    const page = await context.newPage();
    return await fn(page);
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Presses Start (and "Try again") on the capture page whenever it is enabled, as a user
 * would, until the returned function is called. */
export function pressStart(page) {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        if (new URL(page.url()).pathname.startsWith("/capture/")) {
          await page.locator("#capture:not([disabled])").click({ timeout: 1000 });
        }
      } catch (_) { /* not ready, recording, or leaving */ }
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  return async () => { stopped = true; await loop; };
}

/**
 * A person completes a v3 session's hosted page (`url`) in front of the responding test
 * camera (real footage); returns the URL the browser lands on once it reaches `callbackUrl`.
 */
export async function completeHostedSession(url, callbackUrl) {
  return withTestCamera(liveFootage(), async (page) => {
    await page.goto(url);
    await page.click("#start");
    await page.waitForURL((u) => u.pathname.startsWith("/capture/"), { timeout: 15000 });
    const stop = pressStart(page);
    try {
      await page.waitForURL((u) => u.href.startsWith(callbackUrl), { timeout: 120000 });
    } finally {
      await stop();
    }
    return new URL(page.url());
  });
}
