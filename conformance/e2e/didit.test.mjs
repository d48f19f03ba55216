// A Python client written against the Didit v3 contract (with `requests`) creates a session on
// Inherence (workflow with ACTIVE_3D liveness); the user completes it on the hosted page in
// headless Chromium with the responding test camera; the browser lands on the callback with
// verificationSessionId and status; the client reads the decision.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { join } from "node:path";
import { startServer, freePort, haveShared, devImage, repo } from "./harness.mjs";
import { completeHostedSession } from "./testcam.mjs";

const python = process.env.E2E_PYTHON || join(repo, ".venv/bin/python");
const client = join(repo, "conformance/e2e/python/didit_client.py");
const skip = !haveShared && "shared evaluation data (videos, photos) is absent";
let server, callback, callbackUrl;

function py(...args) {
  const r = spawnSync(python, [client, ...args, `--base=${server.issuer}`, `--key=${server.apiKey}`], { encoding: "utf8" });
  assert.equal(r.status, 0, `python client ${args[0]}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

before(async () => {
  if (skip) return;
  server = await startServer(await freePort());
  await server.enrol("lmm", devImage("celeb_lin_manuel_miranda/facerec_lin-manuel-miranda.png"));
  const port = await freePort();
  callbackUrl = `http://127.0.0.1:${port}/verified`;
  callback = createServer((req, res) => res.end("back at the app")).listen(port, "127.0.0.1");
});

after(() => {
  callback?.close();
  server?.stop();
});

test("a requests-based Didit client completes a session through the hosted page", { skip }, async () => {
  const wf = py("workflow");
  const s = py("create", "--workflow", wf.uuid, "--vendor-data", "lmm", "--callback", callbackUrl);
  assert.equal(s.status, "Not Started");
  assert.ok(s.url.startsWith(server.issuer + "/session/"), s.url);

  // The workflow asks for ACTIVE_3D: the hosted page shows colours and head turns, and the
  // test camera answers them.
  const landed = await completeHostedSession(s.url, callbackUrl);
  assert.equal(landed.searchParams.get("verificationSessionId"), s.session_id);
  assert.equal(landed.searchParams.get("status"), "Approved");

  const d = py("decision", "--session", s.session_id);
  assert.equal(d.status, "Approved");
  assert.deepEqual(d.features, ["LIVENESS", "FACE_MATCH"]);
  assert.equal(d.liveness_checks[0].method, "ACTIVE_3D");
  assert.equal(d.liveness_checks[0].status, "Approved");
  assert.ok(d.face_matches[0].score > 50, JSON.stringify(d.face_matches));
  assert.equal(d.vendor_data, "lmm");
  assert.equal(d.metadata.source, "python-client");
});

test("the served OpenAPI document is valid OpenAPI 3.1", { skip }, async () => {
  const doc = await (await fetch(`${server.issuer}/v3/openapi.json`)).text();
  const r = spawnSync(python, ["-c", "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(sys.stdin))\nprint('valid')"], { input: doc, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /valid/);
  assert.equal(JSON.parse(doc).servers[0].url, server.issuer);
});
