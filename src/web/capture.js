"use strict";
// Hosted capture page: camera, live guidance, the challenge (colours and head actions), the
// recording, upload, result, phone hand-off. No framework, no third-party code; everything
// the server says is inserted as text.
//
// The server draws every challenge (method, colour sequence, actions and their timing) and
// judges the recording against it; this page only shows the challenge and records frames with
// their capture times. Colours change at most twice a second (WCAG 2.3.1 allows three).
(() => {
  const id = location.pathname.split("/")[2];
  const handoff = new URLSearchParams(location.search).has("handoff");
  const base = "/capture/" + encodeURIComponent(id);
  const $ = (x) => document.getElementById(x);
  const hint = $("hint"), video = $("video"), frameBox = $("frame");
  const captureBtn = $("capture"), phoneBtn = $("phone"), cancelBtn = $("cancel");
  const progress = $("progress"), bar = $("bar"), attempts = $("attempts");
  const flash = $("flash"), prompt = $("prompt"), promptText = $("prompt-text");
  const motionBox = $("motion-only"), motionInput = $("motion-only-input");
  const MESSAGES = {
    no_face: "We cannot see your face. Centre it in the oval.",
    several_faces: "More than one face is visible. Make sure only you are in the picture.",
    too_far: "Move closer to the camera.",
    too_dark: "It is too dark. Move to better light.",
    too_bright: "It is too bright. Avoid strong light behind you.",
    blurry: "Hold still and face the camera.",
    turn_to_camera: "Look straight at the camera.",
    ok: "Good. Hold still...",
  };
  const ACTIONS = {
    turn_left: { text: "Turn your head slowly to your left", arrow: "\u2190" },
    turn_right: { text: "Turn your head slowly to your right", arrow: "\u2192" },
    centre: { text: "Look straight at the camera", arrow: "\u25CF" },
  };
  let state = null, stream = null, busy = false, done = false, okStreak = 0, timer = null;

  function say(text, kind) {
    hint.textContent = text;
    hint.className = "hint" + (kind ? " " + kind : "");
  }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function api(path, opts) {
    const r = await fetch(base + path, Object.assign({ credentials: "same-origin" }, opts || {}));
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    if (!r.ok) {
      const msg = body && body.error_description ? body.error_description : "The server refused the request (" + r.status + ").";
      const err = new Error(msg);
      err.status = r.status;
      throw err;
    }
    return body;
  }

  function describeMethod() {
    const m = state.liveness_method;
    if (m === "PASSIVE") return "We record your face for about a second.";
    const motion = motionInput.checked || m === "ACTIVE_3D";
    const parts = [];
    if (m !== "ACTIVE_3D" || !motionInput.checked) parts.push("your screen changes colour a few times (at most twice a second) while we record");
    if (motion) parts.push("you will be asked to turn your head slowly to one side, then the other");
    return "Hold your phone or screen in front of your face: " + parts.join(", and ") + ".";
  }

  function render() {
    const enrol = state.purpose === "enrol";
    $("title").textContent = enrol ? "Set up face confirmation" : "Confirm it is you";
    $("intro").textContent = (state.client_name ? state.client_name + " asks you to " : "Please ") +
      (enrol ? "record your face once. Later you will confirm sensitive actions by looking at the camera. No picture is kept." :
               "look at the camera. We check that you are present and that you are the account holder. No picture is kept.");
    const lines = $("transaction-lines");
    lines.textContent = "";
    for (const l of state.transaction || []) {
      const li = document.createElement("li");
      li.textContent = l;
      lines.appendChild(li);
    }
    $("transaction").hidden = !(state.transaction && state.transaction.length);
    motionBox.hidden = !state.motion_only_alternative;
    $("method").textContent = describeMethod();
    attempts.textContent = state.attempts_left + (state.attempts_left === 1 ? " attempt left." : " attempts left.");
    if (handoff) { phoneBtn.hidden = true; cancelBtn.hidden = true; }
    if (state.handoff === false) phoneBtn.hidden = true;
  }

  // Draws the current camera picture cover-cropped to w x h; the JPEG is encoded later.
  function snap(w, h) {
    const c = document.createElement("canvas");
    c.width = w;
    c.height = h;
    const ctx = c.getContext("2d");
    const vw = video.videoWidth || w, vh = video.videoHeight || h;
    const s = Math.max(w / vw, h / vh);
    const sw = w / s, sh = h / s;
    ctx.drawImage(video, (vw - sw) / 2, (vh - sh) / 2, sw, sh, 0, 0, w, h);
    return c;
  }
  const encode = (c, quality) => new Promise((resolve) => c.toBlob(resolve, "image/jpeg", quality));

  async function grab(w, h, quality) {
    return encode(snap(w, h), quality);
  }

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say("This browser cannot use a camera here. Use your phone instead.", "bad");
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
        audio: false,
      });
      video.srcObject = stream;
      await video.play();
      captureBtn.disabled = false;
      say("Look at the camera.");
      schedulePreview(300);
    } catch (e) {
      say("We cannot use the camera (" + (e && e.name ? e.name : "error") + "). Allow camera access and reload, or use your phone.", "bad");
    }
  }

  // While recording the colours, a camera that keeps re-balancing its white would undo part of
  // their light on the face: hold it where the camera supports it.
  async function holdWhiteBalance(hold) {
    const track = stream && stream.getVideoTracks()[0];
    if (!track || !track.getCapabilities) return;
    const caps = track.getCapabilities();
    if (!caps.whiteBalanceMode || !caps.whiteBalanceMode.includes("manual")) return;
    try { await track.applyConstraints({ advanced: [{ whiteBalanceMode: hold ? "manual" : "continuous" }] }); } catch (_) { /* not essential */ }
  }

  function schedulePreview(ms) {
    clearTimeout(timer);
    if (!done) timer = setTimeout(previewOnce, ms);
  }

  async function previewOnce() {
    if (busy || done || !stream) return;
    try {
      const blob = await grab(320, 240, 0.7);
      const g = await api("/preview", { method: "POST", headers: { "Content-Type": "image/jpeg" }, body: blob });
      const ok = g.hint === "ok";
      frameBox.classList.toggle("ok", ok);
      say(MESSAGES[g.hint] || "Look at the camera.", ok ? "ok" : "");
      okStreak = ok ? okStreak + 1 : 0;
      // A passive check starts by itself; an active one waits for "Start", so the
      // instructions (and the choice to avoid flashing colours) come first.
      if (okStreak >= 2 && state.liveness_method === "PASSIVE") { capture(); return; }
      if (ok && state.liveness_method !== "PASSIVE") say("Ready. Press Start and follow the screen.", "ok");
    } catch (e) {
      if (e.status === 400 || e.status === 404) { say(e.message, "bad"); return; }
    }
    schedulePreview(400);
  }

  function setProgress(p) {
    progress.hidden = p === null;
    progress.setAttribute("aria-valuenow", String(Math.round(p || 0)));
    bar.style.width = (p || 0) + "%";
  }

  const hex = (rgb) => "#" + rgb.map((v) => v.toString(16).padStart(2, "0")).join("");

  // What the screen shows at time t of the challenge: its colour, and the action asked for.
  function showAt(spec, t) {
    const c = (spec.colours || []).find((k) => t >= k.start_ms && t < k.end_ms);
    const colour = c ? hex(c.rgb) : "";
    if (flash.dataset.colour !== colour) {
      flash.dataset.colour = colour;
      flash.style.backgroundColor = colour;
      document.body.classList.toggle("flashing", !!colour);
    }
    if (spec.actions && spec.actions.length) {
      const a = spec.actions.find((k) => t >= k.start_ms && t < k.end_ms);
      const action = a ? a.action : "centre";
      if (prompt.dataset.action !== action) {
        prompt.dataset.action = action;
        $("prompt-arrow").textContent = ACTIONS[action].arrow;
        promptText.textContent = ACTIONS[action].text;
      }
    }
  }

  // Records the challenge: shows it on screen and takes a frame every interval, stamped with
  // its capture time from the start of the sequence.
  async function record(spec) {
    const frames = [], stamps = [];
    prompt.hidden = !(spec.actions && spec.actions.length);
    if (!prompt.hidden) { prompt.dataset.action = ""; showAt(spec, 0); }
    await holdWhiteBalance(true);
    // Every frame must be a new camera frame: a slow camera (low light, a busy device) would
    // otherwise hand back the same picture twice, which the server refuses as a replayed still.
    let presented = 0, used = -1, recording = true;
    const counting = !!video.requestVideoFrameCallback;
    const onFrame = (_, meta) => {
      presented = meta.presentedFrames;
      if (recording) video.requestVideoFrameCallback(onFrame);
    };
    if (counting) video.requestVideoFrameCallback(onFrame);
    const t0 = performance.now();
    const pending = [];
    let next = 0;
    for (;;) {
      const t = performance.now() - t0;
      if (t > spec.duration_ms + spec.frame_interval_ms / 2) break;
      showAt(spec, t);
      if (t >= next && (!counting || presented !== used)) {
        used = presented;
        stamps.push(Math.round(t * 10) / 10);
        const i = frames.length;
        frames.push(null);
        pending.push(encode(snap(spec.width, spec.height), 0.85).then((b) => { frames[i] = b; }));
        next += spec.frame_interval_ms;
        setProgress(10 + 60 * Math.min(1, t / spec.duration_ms));
      }
      await new Promise((r) => requestAnimationFrame(() => r()));
    }
    recording = false;
    flash.dataset.colour = "";
    flash.style.backgroundColor = "";
    document.body.classList.remove("flashing");
    prompt.hidden = true;
    await holdWhiteBalance(false);
    await Promise.all(pending);
    return { frames, stamps };
  }

  async function capture() {
    if (busy || done || !stream) return;
    busy = true;
    clearTimeout(timer);
    captureBtn.disabled = true;
    motionInput.disabled = true;
    try {
      setProgress(5);
      const c = await api("/challenge", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(motionInput.checked ? { motion_only: true } : {}),
      });
      say(c.colours && c.colours.length ? "Recording: keep your face in the oval while the colours change." :
          (c.actions && c.actions.length ? "Recording: follow the arrows." : "Recording: hold still."));
      const { frames, stamps } = await record(c);
      say("Checking...");
      const form = new FormData();
      form.append("challenge", c.challenge);
      form.append("timestamps", stamps.join(","));
      frames.forEach((f, i) => form.append("frame", f, "frame" + i + ".jpg"));
      setProgress(80);
      const r = await api("/frames", { method: "POST", body: form });
      setProgress(100);
      state.attempts_left = r.attempts_left;
      attempts.textContent = r.attempts_left + (r.attempts_left === 1 ? " attempt left." : " attempts left.");
      if (r.status === "approved") {
        done = true;
        say(handoff ? "Done. You can put your phone away and continue on your computer." : r.message, "ok");
        stopCamera();
        if (!handoff) { await sleep(400); location.assign(base + "/finish"); }
      } else if (r.status === "failed") {
        done = true;
        say(r.message + " The check could not be completed.", "bad");
        stopCamera();
        if (!handoff) { await sleep(1500); location.assign(base + "/finish"); }
      } else {
        say(r.message + " Press \"Try again\" when you are ready.", "bad");
        okStreak = 0;
        setProgress(null);
        captureBtn.textContent = "Try again";
      }
    } catch (e) {
      say(e.message, "bad");
      setProgress(null);
      if (!done) schedulePreview(1500);
    } finally {
      busy = false;
      captureBtn.disabled = done || !stream;
      motionInput.disabled = done;
    }
  }

  function stopCamera() {
    clearTimeout(timer);
    if (stream) stream.getTracks().forEach((t) => t.stop());
  }

  function startHandoff() {
    $("handoff").hidden = false;
    $("qr").src = base + "/qr.svg";
    phoneBtn.disabled = true;
    stopCamera();
    stream = null;
    captureBtn.disabled = true;
    say("Waiting for your phone...");
    const poll = async () => {
      try {
        const s = await api("/status");
        if (s.status !== "awaiting_capture") { location.assign(base + "/finish"); return; }
      } catch (e) { say(e.message, "bad"); return; }
      setTimeout(poll, 2000);
    };
    setTimeout(poll, 2000);
    $("handoff-title").setAttribute("tabindex", "-1");
    $("handoff-title").focus();
  }

  async function cancel() {
    done = true;
    stopCamera();
    try {
      const r = await api("/cancel", { method: "POST" });
      location.assign(r.redirect);
    } catch (e) { say(e.message, "bad"); }
  }

  captureBtn.addEventListener("click", () => { if (!busy) capture(); });
  phoneBtn.addEventListener("click", startHandoff);
  cancelBtn.addEventListener("click", cancel);
  motionInput.addEventListener("change", () => {
    try { localStorage.setItem("inherence-motion-only", motionInput.checked ? "1" : ""); } catch (_) { /* private mode */ }
    $("method").textContent = describeMethod();
  });

  (async () => {
    try {
      state = await api("/state");
    } catch (e) {
      say(e.message, "bad");
      captureBtn.disabled = true;
      return;
    }
    try { motionInput.checked = state.motion_only_alternative && localStorage.getItem("inherence-motion-only") === "1"; } catch (_) { /* private mode */ }
    render();
    if (state.status !== "awaiting_capture") {
      say("This check is already finished.", "bad");
      return;
    }
    startCamera();
  })();
})();
