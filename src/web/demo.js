"use strict";
const form = document.getElementById("verify-form");
const result = document.getElementById("result");
const details = document.getElementById("details");
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  result.textContent = "Checking...";
  result.className = "";
  details.hidden = true;
  try {
    const res = await fetch("/demo/verify", { method: "POST", body: new FormData(form) });
    const body = await res.json();
    if (!res.ok) {
      result.textContent = "Error: " + (body.error_description || res.statusText);
      return;
    }
    const fm = body.face_match ? body.face_match.score : "n/a";
    const lv = body.liveness ? body.liveness.score : "n/a";
    result.className = "verdict " + body.status;
    result.textContent = body.status + " (face match " + fm + ", liveness " + lv + ")";
    details.textContent = JSON.stringify(body, null, 2);
    details.hidden = false;
  } catch (e) {
    result.textContent = "Error: " + e;
  }
});
