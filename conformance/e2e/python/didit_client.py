#!/usr/bin/env python3
"""A client written against the Didit v3 Sessions contract with `requests`, as a team that
already integrates the hosted service has one. Only the base URL and the key change when it
points at Inherence.

    didit_client.py workflow  --base URL --key KEY          -> {"uuid": ...}
    didit_client.py create    --base URL --key KEY --workflow ID --vendor-data V --callback URL
    didit_client.py decision  --base URL --key KEY --session ID

Prints JSON on stdout; exits 1 with the error body on any non-2xx answer.
"""
import argparse
import json
import sys

import requests


class DiditClient:
    def __init__(self, base_url, api_key, timeout=30):
        self.base = base_url.rstrip("/")
        self.s = requests.Session()
        self.s.headers.update({
            "x-api-key": api_key,
            "Accept": "application/json",
            "User-Agent": "didit-sdk-python/0.4.0",
        })
        self.timeout = timeout

    def _call(self, method, path, **kw):
        r = self.s.request(method, self.base + path, timeout=self.timeout, allow_redirects=False, **kw)
        if r.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text}")
        return r.json() if r.content else None

    def create_workflow(self, body):
        return self._call("POST", "/v3/workflows/", json=body)

    def create_session(self, workflow_id, vendor_data=None, callback=None, metadata=None):
        body = {"workflow_id": workflow_id}
        if vendor_data is not None:
            body["vendor_data"] = vendor_data
        if callback is not None:
            body["callback"] = callback
        if metadata is not None:
            body["metadata"] = metadata
        return self._call("POST", "/v3/session/", json=body)

    def get_decision(self, session_id):
        return self._call("GET", f"/v3/session/{session_id}/decision/")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["workflow", "create", "decision"])
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--workflow")
    ap.add_argument("--vendor-data")
    ap.add_argument("--callback")
    ap.add_argument("--session")
    a = ap.parse_args()
    c = DiditClient(a.base, a.key)
    try:
        if a.command == "workflow":
            out = c.create_workflow({
                "workflow_label": "Biometric step-up",
                "features": [
                    {"feature": "LIVENESS", "config": {"face_liveness_method": "ACTIVE_3D"}},
                    {"feature": "FACE_MATCH", "config": {"face_match_score_decline_threshold": 50,
                                                          "face_match_score_review_threshold": 50}},
                ],
            })
        elif a.command == "create":
            out = c.create_session(a.workflow, a.vendor_data, a.callback, {"source": "python-client"})
            # What a client reads from the contract's 201 body.
            for field in ("session_id", "session_token", "url", "status"):
                assert field in out, field
        else:
            out = c.get_decision(a.session)
    except RuntimeError as e:
        print(str(e), file=sys.stderr)
        sys.exit(1)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
