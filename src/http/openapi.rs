//! The OpenAPI 3.1 document of the v3 API, served at `/v3/openapi.json`. Built from the same
//! route list the router uses (a test checks that every route is documented).

use serde_json::{Map, Value, json};

/// How date filters are written.
const DATE: &str = "A day (YYYY-MM-DD, UTC) or an ISO 8601 instant with Z or an offset (2026-12-01T00:00:00+00:00)";
/// Filters on what this server never collects.
const NEVER_COLLECTED: &str =
    "Checked; matches no session (documents and addresses are not collected here)";

/// A feature block of a feature this server does not run: always an empty list.
fn empty_list() -> Value {
    json!({"type": "array", "maxItems": 0, "items": {}})
}

fn err(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(desc: &str, schema: Value) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": schema}}})
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_body(schema: Value, required: bool) -> Value {
    json!({"required": required, "content": {"application/json": {"schema": schema}}})
}

fn path_param(name: &str, desc: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": desc, "schema": {"type": "string"}})
}

fn query(name: &str, desc: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": desc, "schema": schema})
}

/// One operation with the responses every v3 call shares (403, 429).
fn op(
    tag: &str,
    summary: &str,
    params: Vec<Value>,
    body: Option<Value>,
    responses: Value,
) -> Value {
    let mut res = responses.as_object().cloned().unwrap_or_default();
    res.insert("403".into(), err("Missing, unknown or revoked `x-api-key`: `{\"detail\": \"You do not have permission to perform this action.\"}`"));
    res.insert(
        "429".into(),
        json!({
            "description": "Rate limit exceeded (`Retry-After`, `X-RateLimit-*`).",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            "content": {"application/json": {"schema": r("Error")}},
        }),
    );
    let mut o = json!({
        "tags": [tag],
        "summary": summary,
        "security": [{"ApiKey": []}],
        "parameters": params,
        "responses": Value::Object(res),
    });
    if let Some(b) = body {
        o["requestBody"] = b;
    }
    o
}

fn schemas() -> Value {
    let warning = json!({
        "type": "object",
        "properties": {
            "risk": {"type": "string", "examples": ["LOW_FACE_MATCH_SIMILARITY"]},
            "feature": {"type": "string", "enum": ["LIVENESS", "FACEMATCH"]},
            "additional_data": {"type": ["object", "null"]},
            "log_type": {"type": "string", "enum": ["information", "warning", "error"]},
            "short_description": {"type": "string"},
            "long_description": {"type": "string"},
            "node_id": {"type": "string"},
        },
    });
    let feature_status = json!({"type": "string", "enum": ["Not Finished", "Approved", "Declined", "In Review", "Resub Requested"]});
    let session_status = json!({"type": "string", "enum": ["Not Started", "In Progress", "In Review", "Approved", "Declined", "Expired", "Abandoned", "Kyc Expired", "Resubmitted", "Awaiting User"]});
    let entities = json!({"type": "object", "properties": {
        "entities": {"type": "array", "items": {"type": "object", "properties": {
            "bbox": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
            "confidence": {"type": "number"}, "age": {"type": ["number", "null"]},
            "gender": {"type": ["string", "null"]}, "race": {"type": "null"}}}},
        "best_angle": {"type": "integer", "enum": [0, 90, 180, 270]}}});
    let mut all = json!({
        "Error": {
            "description": "`{\"detail\": \"...\"}` for non-field errors, or DRF field errors `{\"field\": [\"message\"]}` (some contract errors are a plain string: `{\"workflow_id\": \"Invalid workflow_id.\"}`).",
            "type": "object",
            "additionalProperties": true,
        },
        "Warning": warning,
        "SessionStatus": session_status,
        "FeatureStatus": feature_status,
        "SessionCreate": {
            "type": "object",
            "required": ["workflow_id"],
            "properties": {
                "workflow_id": {"type": "string", "format": "uuid"},
                "vendor_data": {"type": "string", "maxLength": 255, "description": "Your user reference; its stored face is the reference when no portrait is sent."},
                "callback": {"type": "string", "description": "Where the hosted page sends the user back, with `verificationSessionId` and `status` appended (custom schemes allowed)."},
                "callback_method": {"type": "string", "enum": ["initiator", "completer", "both"]},
                "metadata": {"description": "Any JSON; echoed in responses and webhooks."},
                "language": {"type": "string"},
                "contact_details": {"type": "object"},
                "expected_details": {"type": "object"},
                "portrait_image": {"type": "string", "contentEncoding": "base64", "description": "Reference face, JPEG/PNG/WebP/TIFF, at most 2 MB."},
            },
        },
        "SessionCreated": {
            "type": "object",
            "properties": {
                "session_id": {"type": "string", "format": "uuid"},
                "session_number": {"type": "integer"},
                "session_token": {"type": "string", "minLength": 12, "maxLength": 12},
                "url": {"type": "string", "description": "The hosted capture page."},
                "vendor_data": {"type": ["string", "null"]},
                "metadata": {},
                "status": r("SessionStatus"),
                "workflow_id": {"type": "string"},
                "workflow_version": {"type": "integer"},
                "callback": {"type": ["string", "null"]},
            },
        },
        "LivenessCheck": {"type": "object", "properties": {
            "node_id": {"type": "string"}, "status": r("FeatureStatus"),
            "method": {"type": "string", "enum": ["PASSIVE", "FLASHING", "ACTIVE_3D"]},
            "score": {"type": ["number", "null"]}, "reference_image": {"type": "null"}, "video_url": {"type": "null"},
            "age_estimation": {"type": "null"}, "matches": {"type": "array"},
            "warnings": {"type": "array", "items": r("Warning")},
            "face_quality": {"type": ["number", "null"]}, "face_luminance": {"type": ["number", "null"]}}},
        "FaceMatch": {"type": "object", "properties": {
            "node_id": {"type": "string"}, "status": r("FeatureStatus"), "score": {"type": ["number", "null"]},
            "source_image_session_id": {"type": ["string", "null"]}, "source_image": {"type": "null"},
            "target_image": {"type": "null"}, "warnings": {"type": "array", "items": r("Warning")}}},
        "Decision": {
            "type": "object",
            "properties": {
                "session_id": {"type": "string"}, "session_kind": {"type": "string", "enum": ["user"]},
                "session_number": {"type": "integer"}, "session_url": {"type": "string"},
                "url": {"type": "string", "description": "The hosted link (same as session_url)."},
                "status": r("SessionStatus"), "workflow_id": {"type": "string"},
                "features": {"type": "array", "items": {"type": "string", "enum": ["LIVENESS", "FACE_MATCH"]}},
                "vendor_data": {"type": ["string", "null"]}, "metadata": {}, "callback": {"type": ["string", "null"]},
                "liveness_checks": {"type": "array", "items": r("LivenessCheck")},
                "face_matches": {"type": "array", "items": r("FaceMatch")},
                "reviews": {"type": "array", "items": {"type": "object", "properties": {
                    "user": {"type": "string"}, "new_status": {"type": "string"},
                    "comment": {"type": ["string", "null"]}, "created_at": {"type": "string"}}}},
                "created_at": {"type": "string", "format": "date-time"},
                "expires_at": {"type": ["string", "null"], "format": "date-time"},
                "environment": {"type": "string", "enum": ["live"]},
            },
        },
        "SessionList": {"type": "object", "properties": {
            "count": {"type": "integer"}, "next": {"type": ["string", "null"]}, "previous": {"type": ["string", "null"]},
            "results": {"type": "array", "items": {"type": "object"}}}},
        "Workflow": {"type": "object", "properties": {
            "uuid": {"type": "string"}, "workflow_label": {"type": "string", "maxLength": 50},
            "is_default": {"type": "boolean"}, "status": {"type": "string", "enum": ["draft", "published"]},
            "version": {"type": "integer"},
            "features": {"type": "array", "items": {"type": "object", "required": ["feature"], "properties": {
                "feature": {"type": "string", "enum": ["LIVENESS", "FACE_MATCH"]},
                "config": {"type": "object", "properties": {
                    "face_liveness_method": {"type": "string", "enum": ["PASSIVE", "FLASHING", "ACTIVE_3D"]},
                    "face_liveness_score_decline_threshold": {"type": "number", "minimum": 0, "maximum": 100},
                    "face_liveness_score_review_threshold": {"type": "number", "minimum": 0, "maximum": 100},
                    "face_liveness_multiple_faces_action": {"type": "string", "enum": ["NO_ACTION", "REVIEW", "DECLINE"]},
                    "face_match_score_decline_threshold": {"type": "number", "minimum": 0, "maximum": 100},
                    "face_match_score_review_threshold": {"type": "number", "minimum": 0, "maximum": 100},
                    "face_match_not_computed_action": {"type": "string", "enum": ["REVIEW", "DECLINE"]}}},
                "label": {"type": ["string", "null"]}}}},
            "max_retry_attempts": {"type": "integer", "minimum": 0, "maximum": 10},
            "face_liveness_max_attempts": {"type": "integer", "minimum": 1, "maximum": 3},
            "face_match_max_attempts": {"type": "integer", "minimum": 1, "maximum": 3},
            "session_expiration_time": {"type": "integer", "minimum": 3600, "maximum": 2_419_200}}},
        "Destination": {"type": "object", "properties": {
            "uuid": {"type": "string"}, "label": {"type": "string", "maxLength": 255}, "url": {"type": "string"},
            "enabled": {"type": "boolean"}, "webhook_version": {"type": "string", "enum": ["v1", "v2", "v3"]},
            "secret_shared_key": {"type": "string", "minLength": 43, "maxLength": 43},
            "subscribed_events": {"type": "array", "items": {"type": "string"}},
            "rotate_secret_key": {"type": "boolean", "writeOnly": true, "description": "PATCH only: replace the secret; the old one keeps signing (as a second `v1,` signature) for 24 h."},
            "summary": {"type": "object"}}},
        "Delivery": {"type": "object", "properties": {
            "uuid": {"type": "string"}, "event_id": {"type": "string"}, "webhook_type": {"type": "string"},
            "state": {"type": "string", "enum": ["pending", "delivered", "dead_letter"]},
            "attempts": {"type": "integer"}, "response_status": {"type": ["integer", "null"]},
            "request_header": {"type": "object"}, "request_body": {"type": "object"},
            "attempt_log": {"type": "array"}}},
        "WebhookEnvelope": {
            "description": "Body of every delivery (canonical JSON, ASCII-escaped). Headers: `X-Signature`, `X-Signature-V2`, `X-Signature-Simple`, `X-Timestamp`, `webhook-id`, `webhook-timestamp`, `webhook-signature`.",
            "type": "object",
            "properties": {
                "event_id": {"type": "string"}, "webhook_type": {"type": "string", "enum": ["status.updated", "data.updated"]},
                "timestamp": {"type": "integer"}, "created_at": {"type": "integer"}, "application_id": {"type": "string"},
                "environment": {"type": "string"}, "session_id": {"type": "string"}, "status": r("SessionStatus"),
                "workflow_id": {"type": "string"}, "workflow_version": {"type": "integer"},
                "vendor_data": {"type": "string"}, "metadata": {}, "decision": r("Decision")}},
        "FaceMatchResult": {"type": "object", "properties": {
            "request_id": {"type": "string"},
            "face_match": {"type": "object", "properties": {
                "status": {"type": "string", "enum": ["Approved", "Declined"]}, "score": {"type": ["number", "null"]},
                "user_image": entities, "ref_image": entities,
                "warnings": {"type": "array", "items": r("Warning")}}},
            "vendor_data": {"type": ["string", "null"]}, "metadata": {}, "created_at": {"type": "string"}}},
        "LivenessResult": {"type": "object", "properties": {
            "request_id": {"type": "string"},
            "liveness": {"type": "object", "properties": {
                "status": {"type": "string", "enum": ["Approved", "Declined"]}, "method": {"type": "string", "enum": ["PASSIVE"]},
                "score": {"type": ["number", "null"]}, "user_image": entities,
                "warnings": {"type": "array", "items": r("Warning")},
                "face_quality": {"type": ["number", "null"]}, "face_luminance": {"type": ["number", "null"]}}},
            "vendor_data": {"type": ["string", "null"]}, "metadata": {}, "created_at": {"type": "string"}}},
        "Template": {"type": "object", "properties": {
            "uuid": {"type": "string"}, "vendor_data": {"type": "string"},
            "status": {"type": "string", "enum": ["active"]}, "source_type": {"type": "string"},
            "created_at": {"type": "string"}, "expires_at": {"type": "null"}}},
    });
    for block in crate::flow::sessions::NOT_RUN_BLOCKS {
        all["Decision"]["properties"][*block] = empty_list();
    }
    all
}

/// The document; `issuer` becomes the server URL.
pub fn document(issuer: &str) -> Value {
    let id = || path_param("sessionId", "Session id (uuid)");
    let wid = || path_param("settings_uuid", "Workflow uuid");
    let did = || path_param("uuid", "Destination uuid");
    let lid = || path_param("delivery", "Delivery uuid");
    let tid = || path_param("uuid", "Template uuid");
    let multipart = |fields: Value, required: Vec<&str>| json!({"required": true, "content": {"multipart/form-data": {"schema": {"type": "object", "required": required, "properties": fields}}}});
    let image = json!({"type": "string", "format": "binary", "description": "JPEG, PNG, WebP or TIFF, at most 5 MB"});
    let common_fields = |thr: &str| {
        let mut m = Map::new();
        m.insert(
            thr.into(),
            json!({"type": "number", "minimum": 0, "maximum": 100, "default": 30}),
        );
        m.insert(
            "rotate_image".into(),
            json!({"type": "boolean", "default": false}),
        );
        m.insert(
            "save_api_request".into(),
            json!({"type": "boolean", "default": true}),
        );
        m.insert("vendor_data".into(), json!({"type": "string"}));
        m.insert(
            "metadata".into(),
            json!({"type": "string", "description": "JSON text"}),
        );
        m
    };
    let mut fm = common_fields("face_match_score_decline_threshold");
    fm.insert("user_image".into(), image.clone());
    fm.insert("ref_image".into(), image.clone());
    let mut pl = common_fields("face_liveness_score_decline_threshold");
    pl.insert("user_image".into(), image);
    let list_params = vec![
        query(
            "limit",
            "Page size (default 50)",
            json!({"type": "integer"}),
        ),
        query("offset", "Rows to skip", json!({"type": "integer"})),
    ];
    let mut session_filters = list_params.clone();
    for (n, d) in [
        ("status", "Comma list of session statuses (case-sensitive)"),
        ("vendor_data", "Exact user reference"),
        ("workflow_id", "Comma list"),
        ("date_from", DATE),
        ("date_to", "As date_from; includes its day or instant"),
        ("search", "Session id, number or vendor_data"),
        ("session_kind", "user | business | all"),
        ("session_type", "HOSTED | API"),
        ("api_service", "FACE_MATCH | PASSIVE_LIVENESS"),
        ("warning", "Comma list of risk codes"),
        ("country", NEVER_COLLECTED),
        ("document_type", NEVER_COLLECTED),
        ("document_name", NEVER_COLLECTED),
        ("region", NEVER_COLLECTED),
        ("didit_internal_id", NEVER_COLLECTED),
        (
            "status_initialized_as_in_review",
            "true | false (sessions start Not Started: true matches none)",
        ),
    ] {
        session_filters.push(query(n, d, json!({"type": "string"})));
    }
    let mut template_filters = list_params.clone();
    for (n, d) in [
        ("vendor_data", "Exact user reference"),
        (
            "status",
            "pending | active | expired | held_out_of_use | purge_pending | purge_failed",
        ),
        (
            "source_type",
            "session_delete | automatic_retention | backfill",
        ),
        ("retained_from", DATE),
        (
            "retained_to",
            "As retained_from; includes its day or instant",
        ),
        ("ordering", "created_at | -created_at"),
    ] {
        template_filters.push(query(n, d, json!({"type": "string"})));
    }
    let paths = json!({
        "/v3/session/": {"post": op("Sessions", "Create a session (idempotent per vendor_data while unfinished)", vec![],
            Some(json_body(r("SessionCreate"), true)),
            json!({"201": ok("Created (or the user's unfinished session)", r("SessionCreated")), "400": err("Validation error, e.g. `{\"portrait_image\": [\"Image size exceeds 2MB.\"]}`"), "415": err("Not JSON")}))},
        "/v3/session/{sessionId}/decision/": {"get": op("Sessions", "Decision of a session", vec![id()], None,
            json!({"200": ok("The decision", r("Decision")), "404": err("Unknown session")}))},
        "/v3/session/{sessionId}/": {"get": op("Sessions", "Same as the decision (called by some SDKs)", vec![id()], None,
            json!({"200": ok("The decision", r("Decision")), "404": err("Unknown session")}))},
        "/v3/session/{sessionId}/delete/": {"delete": op("Sessions", "Delete a session and its biometric data", vec![id()],
            Some(json_body(json!({"type": "object", "properties": {
                "retain_face_embeddings": {"type": ["boolean", "null"]}, "face_retention_days": {"type": "integer", "minimum": 1, "maximum": 3650},
                "deletion_instruction": {"type": "string", "enum": ["operational_session_delete", "privacy_erasure"]},
                "instruction_id": {"type": "string", "maxLength": 255}}}), false)),
            json!({"200": ok("Deleted", json!({"type": "object", "properties": {
                "session_id": {"type": "string"}, "session_number": {"type": "integer"},
                "face_retention_outcome": {"type": "string", "enum": ["retained_with_user", "deleted", "none", "ineligible_no_vendor_user"]},
                "biometric_template_uuid": {"type": ["string", "null"]}}})), "404": err("Unknown or already deleted")}))},
        "/v3/session/{sessionId}/update-status/": {"patch": op("Sessions", "Manual review: change a decided session's status", vec![id()],
            Some(json_body(json!({"type": "object", "required": ["new_status"], "properties": {
                "new_status": {"type": "string", "enum": ["Approved", "Declined", "Resubmitted"]},
                "comment": {"type": "string"}, "nodes_to_resubmit": {"type": "array"}}}), true)),
            json!({"200": ok("Updated", json!({"type": "object", "properties": {"session_id": {"type": "string"}}})), "400": err("Not allowed from the current status"), "404": err("Unknown session")}))},
        "/v3/sessions/delete/": {"post": op("Sessions", "Delete several sessions", vec![],
            Some(json_body(json!({"type": "object", "properties": {
                "session_numbers": {"type": "array", "items": {"type": ["string", "integer"]}, "maxItems": 1000},
                "delete_all": {"type": "boolean"},
                "retain_face_embeddings": {"type": ["boolean", "null"]},
                "deletion_instruction": {"type": "string", "enum": ["operational_session_delete", "privacy_erasure"]}}}), true)),
            json!({"200": ok("One result per deleted session", json!({"type": "object", "properties": {"results": {"type": "array"}}})), "400": err("Neither session_numbers nor delete_all")}))},
        "/v3/sessions/": {"get": op("Sessions", "List sessions (newest first)", session_filters, None,
            json!({"200": ok("A page", r("SessionList")), "400": err("Bad filter")}))},
        "/v3/face-match/": {"post": op("Standalone", "1:1 face match of two images", vec![],
            Some(multipart(Value::Object(fm), vec!["user_image", "ref_image"])),
            json!({"200": ok("Result", r("FaceMatchResult")), "400": err("Validation error"), "415": err("Not multipart")}))},
        "/v3/passive-liveness/": {"post": op("Standalone", "Passive liveness of one image", vec![],
            Some(multipart(Value::Object(pl), vec!["user_image"])),
            json!({"200": ok("Result", r("LivenessResult")), "400": err("Validation error"), "415": err("Not multipart")}))},
        "/v3/workflows/": {
            "get": op("Workflows", "List workflows", vec![], None, json!({"200": ok("Workflows", json!({"type": "object", "properties": {"results": {"type": "array", "items": r("Workflow")}}}))})),
            "post": op("Workflows", "Create a workflow (LIVENESS and/or FACE_MATCH)", vec![], Some(json_body(r("Workflow"), true)),
                json!({"201": ok("Created", r("Workflow")), "400": err("Unsupported feature or bad threshold")}))},
        "/v3/workflows/{settings_uuid}/": {
            "get": op("Workflows", "Read a workflow", vec![wid()], None, json!({"200": ok("The workflow", r("Workflow")), "404": err("Unknown")})),
            "patch": op("Workflows", "Update (publishes a new version)", vec![wid()], Some(json_body(r("Workflow"), true)), json!({"200": ok("Updated", r("Workflow")), "400": err("Validation error"), "404": err("Unknown")})),
            "delete": op("Workflows", "Delete", vec![wid()], None, json!({"204": {"description": "Deleted"}, "404": err("Unknown")}))},
        "/v3/webhook/destinations/": {
            "get": op("Webhooks", "List destinations", vec![], None, json!({"200": ok("Destinations", json!({"type": "object", "properties": {"results": {"type": "array", "items": r("Destination")}}}))})),
            "post": op("Webhooks", "Create a destination (secret generated)", vec![], Some(json_body(r("Destination"), true)),
                json!({"201": ok("Created", r("Destination")), "400": err("Validation error (https only, unique URL)")}))},
        "/v3/webhook/destinations/{uuid}/": {
            "get": op("Webhooks", "Read a destination", vec![did()], None, json!({"200": ok("The destination", r("Destination")), "404": err("Unknown")})),
            "patch": op("Webhooks", "Update or rotate the secret", vec![did()], Some(json_body(r("Destination"), true)), json!({"200": ok("Updated", r("Destination")), "404": err("Unknown")})),
            "delete": op("Webhooks", "Delete", vec![did()], None, json!({"204": {"description": "Deleted"}, "404": err("Unknown")}))},
        "/v3/webhook/destinations/{uuid}/deliveries/": {"get": op("Webhooks", "Delivery log of a destination", vec![did()], None,
            json!({"200": ok("Deliveries", json!({"type": "object", "properties": {"results": {"type": "array", "items": r("Delivery")}}})), "404": err("Unknown destination")}))},
        "/v3/webhook/destinations/{uuid}/deliveries/{delivery}/": {"get": op("Webhooks", "One delivery with the request sent", vec![did(), lid()], None,
            json!({"200": ok("The delivery", r("Delivery")), "404": err("Unknown")}))},
        "/v3/webhook/destinations/{uuid}/deliveries/{delivery}/resend/": {"post": op("Webhooks", "Send the event again (fresh timestamp, current secret)", vec![did(), lid()], None,
            json!({"202": ok("Queued", r("Delivery")), "404": err("Unknown")}))},
        "/v3/webhook/public-keys/": {"get": {"tags": ["Webhooks"], "summary": "Ed25519 key(s) that sign `webhook-signature: v1a,...` (no API key needed)",
            "responses": {"200": ok("JWK set", json!({"type": "object", "properties": {"keys": {"type": "array"}}}))}}},
        "/v3/biometric-templates/": {"get": op("Templates", "List stored face templates", template_filters.clone(), None,
            json!({"200": ok("A page", json!({"type": "object", "properties": {"count": {"type": "integer"}, "results": {"type": "array", "items": r("Template")}}}))}))},
        "/v3/biometric-templates/count/": {"get": op("Templates", "Count templates", template_filters, None,
            json!({"200": ok("The count", json!({"type": "object", "properties": {"count": {"type": "integer"}}}))}))},
        "/v3/biometric-templates/delete/": {"post": op("Templates", "Purge several templates", vec![],
            Some(json_body(json!({"type": "object", "required": ["uuids"], "properties": {"uuids": {"type": "array", "items": {"type": "string"}}}}), true)),
            json!({"200": ok("Outcomes", json!({"type": "object"}))}))},
        "/v3/biometric-templates/{uuid}/": {
            "get": op("Templates", "Read a template (never the embedding)", vec![tid()], None, json!({"200": ok("The template", r("Template")), "404": err("Unknown")})),
            "delete": op("Templates", "Purge a template", vec![tid()], None, json!({"200": ok("`{uuid, outcome}` with purged | already_purged", json!({"type": "object"})), "404": err("Unknown")}))},
        "/v3/openapi.json": {"get": {"tags": ["Meta"], "summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Inherence v3 API (Didit-compatible)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Sessions, standalone checks, workflows, biometric templates and webhooks, wire-compatible with the Didit v3 contract for biometric step-up. See docs/integrations/didit-compat.md and docs/integrations/migrating-from-didit.md.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": issuer}],
        "tags": [
            {"name": "Sessions"}, {"name": "Standalone"}, {"name": "Workflows"},
            {"name": "Webhooks"}, {"name": "Templates"}, {"name": "Meta"},
        ],
        "paths": paths,
        "webhooks": {
            "status.updated": {"post": {
                "summary": "A session's status changed (also sent for saved standalone checks)",
                "requestBody": {"content": {"application/json": {"schema": r("WebhookEnvelope")}}},
                "responses": {"200": {"description": "Any 2xx acknowledges; anything else is retried with backoff."}}}},
            "data.updated": {"post": {
                "summary": "A session's metadata, callback or reference face changed",
                "requestBody": {"content": {"application/json": {"schema": r("WebhookEnvelope")}}},
                "responses": {"200": {"description": "Any 2xx acknowledges."}}}},
        },
        "components": {
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
            "schemas": schemas(),
        },
    })
}
