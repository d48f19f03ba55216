//! The OpenAPI 3.1 document of the v3 API, served at `/v3/openapi.json`, generated from the
//! handlers' `#[utoipa::path]` annotations and the request and response types themselves (a
//! test checks that the routes and the document name the same operations).

use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::{Content, OpenApi as Document, PathsBuilder, Ref};
use utoipa::{Modify, OpenApi};

use super::v3;
use crate::flow::sessions::wire::{KindFilter, SessionEvent};
use crate::flow::templates::Ordering;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Inherence v3 API (Didit-compatible)",
        description = "Sessions, standalone checks, workflows, biometric templates and webhooks, wire-compatible with the Didit v3 contract for biometric step-up. See docs/integrations/didit-compat.md and docs/integrations/migrating-from-didit.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        v3::sessions::create_session,
        v3::sessions::decision,
        v3::sessions::session,
        v3::sessions::delete_session,
        v3::sessions::update_status,
        v3::sessions::list_sessions,
        v3::sessions::delete_sessions,
        v3::standalone::face_match,
        v3::standalone::passive_liveness,
        v3::resources::list_workflows,
        v3::resources::create_workflow,
        v3::resources::get_workflow,
        v3::resources::update_workflow,
        v3::resources::delete_workflow,
        v3::resources::list_destinations,
        v3::resources::create_destination,
        v3::resources::get_destination,
        v3::resources::update_destination,
        v3::resources::delete_destination,
        v3::resources::list_deliveries,
        v3::resources::get_delivery,
        v3::resources::resend_delivery,
        v3::resources::public_keys,
        v3::resources::list_templates,
        v3::resources::count_templates,
        v3::resources::purge_templates,
        v3::resources::get_template,
        v3::resources::purge_template,
        v3::openapi,
    ),
    // What only a webhook or a query parameter names (the rest is collected from the paths).
    components(schemas(SessionEvent, KindFilter, Ordering)),
    modifiers(&Shared),
    tags(
        (name = "Sessions"),
        (name = "Standalone"),
        (name = "Workflows"),
        (name = "Webhooks"),
        (name = "Templates"),
        (name = "Meta"),
    ),
)]
struct V3Api;

/// What every operation shares: the `x-api-key` scheme with its 403 and 429 answers, and the
/// webhooks a destination receives.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ApiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
        let error = || Content::new(Some(Ref::from_schema_name("Error")));
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
                &mut item.put,
            ]
            .into_iter()
            .flatten()
            {
                if op.security.is_none() {
                    continue;
                }
                let r = &mut op.responses.responses;
                r.insert(
                    "403".into(),
                    ResponseBuilder::new()
                        .description("Missing, unknown or revoked `x-api-key`: `{\"detail\": \"You do not have permission to perform this action.\"}`")
                        .content("application/json", error())
                        .into(),
                );
                r.insert(
                    "429".into(),
                    ResponseBuilder::new()
                        .description("Rate limit exceeded (`Retry-After`, `X-RateLimit-*`).")
                        .content("application/json", error())
                        .into(),
                );
            }
        }
        let event = |summary: &str, ack: &str| {
            PathItem::new(
                HttpMethod::Post,
                OperationBuilder::new()
                    .summary(Some(summary))
                    .request_body(Some(
                        RequestBodyBuilder::new()
                            .content(
                                "application/json",
                                Content::new(Some(Ref::from_schema_name("SessionEvent"))),
                            )
                            .build(),
                    ))
                    .response("200", ResponseBuilder::new().description(ack)),
            )
        };
        doc.webhooks = Some(
            PathsBuilder::new()
                .path(
                    "status.updated",
                    event(
                        "A session's status changed (also sent for saved standalone checks)",
                        "Any 2xx acknowledges; anything else is retried with backoff.",
                    ),
                )
                .path(
                    "data.updated",
                    event(
                        "A session's metadata, callback or reference face changed",
                        "Any 2xx acknowledges.",
                    ),
                )
                .build(),
        );
    }
}

/// The document; `issuer` becomes the server URL.
pub fn document(issuer: &str) -> Document {
    let mut doc = V3Api::openapi();
    doc.servers = Some(vec![Server::new(issuer)]);
    doc
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => refs(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_in_the_document_resolves() {
        let doc = serde_json::to_value(super::document("https://inherence.example")).unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 100, "{}", found.len());
        let missing: Vec<_> = found
            .iter()
            .filter(|r| {
                let name = r.trim_start_matches("#/components/schemas/");
                doc["components"]["schemas"].get(name).is_none()
            })
            .collect();
        assert!(missing.is_empty(), "unresolved: {missing:?}");
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], "https://inherence.example");
        assert!(doc["webhooks"]["status.updated"]["post"].is_object());
    }
}
