"use strict";
// Hosted capture page: camera, live guidance, burst capture, upload, result, phone hand-off.
// No framework, no third-party code; everything the server says is inserted as text.
(() => {
  const id = location.pathname.split("/")[2];
  const handoff = new URLSearchParams(location.search).has("handoff");
  const base = "/capture/" + encodeURIComponent(id);
  const $ = (x) => document.getElementById(x);
  const hint = $("hint"), video = $("video"), canvas = $("canvas"), frameBox = $("frame");
  const captureBtn = $("capture"), phoneBtn = $("phone"), cancelBtn = $("cancel");
  const progress = $("progress"), bar = $("bar"), attempts = $("attempts");
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
    attempts.textContent = state.attempts_left + (state.attempts_left === 1 ? " attempt left." : " attempts left.");
    if (handoff) { phoneBtn.hidden = true; cancelBtn.hidden = true; }
  }

  function grab(w, h, quality) {
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    const vw = video.videoWidth || w, vh = video.videoHeight || h;
    // Cover-crop the camera frame to w:h without distortion.
    const s = Math.max(w / vw, h / vh);
    const sw = w / s, sh = h / s;
    ctx.drawImage(video, (vw - sw) / 2, (vh - sh) / 2, sw, sh, 0, 0, w, h);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  }

  // Resolves when the camera presents its next frame (or after `ms` if it does not).
  function newFrame(ms) {
    if (!video.requestVideoFrameCallback) return sleep(ms / 10);
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      video.requestVideoFrameCallback(() => { clearTimeout(t); resolve(); });
    });
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
      if (okStreak >= 2) { capture(); return; }
    } catch (e) {
      if (e.status === 400 || e.status === 404) { say(e.message, "bad"); return; }
    }
    schedulePreview(400);
  }

  function setProgress(p) {
    progress.hidden = p === null;
    bar.style.width = (p || 0) + "%";
  }

  async function capture() {
    if (busy || done || !stream) return;
    busy = true;
    clearTimeout(timer);
    captureBtn.disabled = true;
    try {
      say("Hold still...");
      setProgress(10);
      const frames = [];
      for (let i = 0; i < (state.frames || 3); i++) {
        // Every frame of the burst must be a new camera frame: a slow camera (low light, a
        // busy machine) would otherwise hand back the same picture twice, and the server
        // declines identical frames as a replayed still image.
        if (i > 0) { await sleep(120); await newFrame(1500); }
        frames.push(await grab(640, 480, 0.92));
        setProgress(10 + 40 * (i + 1) / (state.frames || 3));
      }
      say("Checking...");
      const c = await api("/challenge", { method: "POST" });
      const form = new FormData();
      form.append("challenge", c.challenge);
      frames.forEach((f, i) => form.append("frame", f, "frame" + i + ".jpg"));
      setProgress(70);
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
        say(r.message, "bad");
        okStreak = 0;
        await sleep(1500);
        setProgress(null);
        schedulePreview(400);
      }
    } catch (e) {
      say(e.message, "bad");
      setProgress(null);
      if (!done) schedulePreview(1500);
    } finally {
      busy = false;
      captureBtn.disabled = done || !stream;
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
    $("handoff-title").focus && $("handoff-title").setAttribute("tabindex", "-1");
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

  captureBtn.addEventListener("click", capture);
  phoneBtn.addEventListener("click", startHandoff);
  cancelBtn.addEventListener("click", cancel);

  (async () => {
    try {
      state = await api("/state");
    } catch (e) {
      say(e.message, "bad");
      captureBtn.disabled = true;
      return;
    }
    render();
    if (state.status !== "awaiting_capture") {
      say("This check is already finished.", "bad");
      return;
    }
    startCamera();
  })();
})();
