//! Workflows, webhook destinations and deliveries, and biometric templates.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::extract::{Id, Ids, Key, Reads, V3Json, V3Query, Writes};
use super::{rate_headers, with_rate};
use crate::flow::templates::{Count, PurgeMany, Purged, PurgedMany, TemplateOut, TemplateQuery};
use crate::flow::wire::{ErrorBody, Listing, Page, PublicKeys};
use crate::flow::workflows::wire::{WorkflowBody, WorkflowOut};
use crate::http::{AppState, HttpError};
use crate::webhook::wire::{DeliveryOut, DestinationBody, DestinationOut};

#[utoipa::path(
    get,
    path = "/v3/workflows/",
    tag = "Workflows",
    summary = "List workflows",
    responses(
        (status = 200, description = "Workflows", body = Listing<WorkflowOut>),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn list_workflows(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Reads>,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::OK,
        s.provider.list_workflows(&key.tenant)?,
        &rate,
    ))
}

#[utoipa::path(
    post,
    path = "/v3/workflows/",
    tag = "Workflows",
    summary = "Create a workflow (LIVENESS and/or FACE_MATCH)",
    request_body = WorkflowBody,
    responses(
        (status = 201, description = "Created", body = WorkflowOut),
        (status = 400, description = "Unsupported feature or bad threshold", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn create_workflow(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Writes>,
    V3Json(v): V3Json<WorkflowBody>,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::CREATED,
        s.provider.create_workflow(&key.tenant, &v)?,
        &rate,
    ))
}

#[utoipa::path(
    get,
    path = "/v3/workflows/{settings_uuid}/",
    tag = "Workflows",
    summary = "Read a workflow",
    params(("settings_uuid" = String, Path, description = "Workflow uuid")),
    responses(
        (status = 200, description = "The workflow", body = WorkflowOut),
        (status = 404, description = "Unknown", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn get_workflow(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Reads>,
    Id(id): Id,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::OK,
        s.provider.get_workflow(&key.tenant, &id)?,
        &rate,
    ))
}

#[utoipa::path(
    patch,
    path = "/v3/workflows/{settings_uuid}/",
    tag = "Workflows",
    summary = "Update (publishes a new version)",
    params(("settings_uuid" = String, Path, description = "Workflow uuid")),
    request_body = WorkflowBody,
    responses(
        (status = 200, description = "Updated", body = WorkflowOut),
        (status = 400, description = "Validation error", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn update_workflow(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Writes>,
    Id(id): Id,
    V3Json(v): V3Json<WorkflowBody>,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::OK,
        s.provider.update_workflow(&key.tenant, &id, &v)?,
        &rate,
    ))
}

#[utoipa::path(
    delete,
    path = "/v3/workflows/{settings_uuid}/",
    tag = "Workflows",
    summary = "Delete",
    params(("settings_uuid" = String, Path, description = "Workflow uuid")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn delete_workflow(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Writes>,
    Id(id): Id,
) -> Result<Response, HttpError> {
    s.provider.delete_workflow(&key.tenant, &id)?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    rate_headers(res.headers_mut(), &rate, false);
    Ok(res)
}

// --- webhook destinations and deliveries ------------------------------------------------------

#[utoipa::path(
    get,
    path = "/v3/webhook/destinations/",
    tag = "Webhooks",
    summary = "List destinations",
    responses(
        (status = 200, description = "Destinations", body = Listing<DestinationOut>),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn list_destinations(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Reads>,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::OK,
        s.provider.list_destinations(&key.tenant)?,
        &rate,
    ))
}

#[utoipa::path(
    post,
    path = "/v3/webhook/destinations/",
    tag = "Webhooks",
    summary = "Create a destination (secret generated)",
    request_body = DestinationBody,
    responses(
        (status = 201, description = "Created", body = DestinationOut),
        (status = 400, description = "Validation error (https only, unique URL)", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn create_destination(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Writes>,
    V3Json(v): V3Json<DestinationBody>,
) -> Result<Response, HttpError> {
    // Saving resolves the URL's host (the private-network guard): off the async workers.
    let p = s.provider.clone();
    let out = AppState::offload(move || Ok(p.create_destination(&key.tenant, &v)?)).await?;
    Ok(with_rate(StatusCode::CREATED, out, &rate))
}

#[utoipa::path(
    get,
    path = "/v3/webhook/destinations/{uuid}/",
    tag = "Webhooks",
    summary = "Read a destination",
    params(("uuid" = String, Path, description = "Destination uuid")),
    responses(
        (status = 200, description = "The destination", body = DestinationOut),
        (status = 404, description = "Unknown", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn get_destination(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Reads>,
    Id(id): Id,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::OK,
        s.provider.get_destination(&key.tenant, &id)?,
        &rate,
    ))
}

#[utoipa::path(
    patch,
    path = "/v3/webhook/destinations/{uuid}/",
    tag = "Webhooks",
    summary = "Update or rotate the secret",
    params(("uuid" = String, Path, description = "Destination uuid")),
    request_body = DestinationBody,
    responses(
        (status = 200, description = "Updated", body = DestinationOut),
        (status = 400, description = "Validation error", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn update_destination(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Writes>,
    Id(id): Id,
    V3Json(v): V3Json<DestinationBody>,
) -> Result<Response, HttpError> {
    let p = s.provider.clone();
    let out = AppState::offload(move || Ok(p.update_destination(&key.tenant, &id, &v)?)).await?;
    Ok(with_rate(StatusCode::OK, out, &rate))
}

#[utoipa::path(
    delete,
    path = "/v3/webhook/destinations/{uuid}/",
    tag = "Webhooks",
    summary = "Delete",
    params(("uuid" = String, Path, description = "Destination uuid")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn delete_destination(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Writes>,
    Id(id): Id,
) -> Result<Response, HttpError> {
    s.provider.delete_destination(&key.tenant, &id)?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    rate_headers(res.headers_mut(), &rate, false);
    Ok(res)
}

#[utoipa::path(
    get,
    path = "/v3/webhook/destinations/{uuid}/deliveries/",
    tag = "Webhooks",
    summary = "Delivery log of a destination",
    params(("uuid" = String, Path, description = "Destination uuid")),
    responses(
        (status = 200, description = "Deliveries", body = Listing<DeliveryOut>),
        (status = 404, description = "Unknown destination", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn list_deliveries(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Reads>,
    Id(id): Id,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::OK,
        s.provider.list_deliveries(&key.tenant, &id)?,
        &rate,
    ))
}

#[utoipa::path(
    get,
    path = "/v3/webhook/destinations/{uuid}/deliveries/{delivery}/",
    tag = "Webhooks",
    summary = "One delivery with the request sent",
    params(("uuid" = String, Path, description = "Destination uuid"), ("delivery" = String, Path, description = "Delivery uuid")),
    responses(
        (status = 200, description = "The delivery", body = DeliveryOut),
        (status = 404, description = "Unknown", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn get_delivery(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Reads>,
    Ids(id, delivery): Ids,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::OK,
        s.provider.get_delivery(&key.tenant, &id, &delivery)?,
        &rate,
    ))
}

#[utoipa::path(
    post,
    path = "/v3/webhook/destinations/{uuid}/deliveries/{delivery}/resend/",
    tag = "Webhooks",
    summary = "Send the event again (fresh timestamp, current secret)",
    params(("uuid" = String, Path, description = "Destination uuid"), ("delivery" = String, Path, description = "Delivery uuid")),
    responses(
        (status = 202, description = "Queued", body = DeliveryOut),
        (status = 404, description = "Unknown", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn resend_delivery(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Writes>,
    Ids(id, delivery): Ids,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::ACCEPTED,
        s.provider.resend_delivery(&key.tenant, &id, &delivery)?,
        &rate,
    ))
}

#[utoipa::path(
    get,
    path = "/v3/webhook/public-keys/",
    tag = "Webhooks",
    summary = "Ed25519 key(s) that sign `webhook-signature: v1a,...` (no API key needed)",
    responses((status = 200, description = "JWK set", body = PublicKeys)),
)]
/// The Ed25519 key webhooks are signed with (`webhook-signature: v1a,...`); public, no key.
pub(crate) async fn public_keys(State(s): State<AppState>) -> Response {
    axum::Json(s.provider.webhook_public_keys()).into_response()
}

// --- biometric templates ----------------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/v3/biometric-templates/",
    tag = "Templates",
    summary = "List stored face templates",
    params(TemplateQuery),
    responses(
        (status = 200, description = "A page", body = Page<TemplateOut>),
        (status = 400, description = "Bad or unknown filter", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn list_templates(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Reads>,
    V3Query(q): V3Query<TemplateQuery>,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::OK,
        s.provider.list_templates(&key.tenant, &q)?,
        &rate,
    ))
}

#[utoipa::path(
    get,
    path = "/v3/biometric-templates/count/",
    tag = "Templates",
    summary = "Count templates",
    params(TemplateQuery),
    responses(
        (status = 200, description = "The count", body = Count),
        (status = 400, description = "Bad or unknown filter", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn count_templates(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Reads>,
    V3Query(q): V3Query<TemplateQuery>,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::OK,
        s.provider.count_templates(&key.tenant, &q)?,
        &rate,
    ))
}

#[utoipa::path(
    get,
    path = "/v3/biometric-templates/{uuid}/",
    tag = "Templates",
    summary = "Read a template (never the embedding)",
    params(("uuid" = String, Path, description = "Template uuid")),
    responses(
        (status = 200, description = "The template", body = TemplateOut),
        (status = 404, description = "Unknown", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn get_template(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Reads>,
    Id(id): Id,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::OK,
        s.provider.get_template(&key.tenant, &id)?,
        &rate,
    ))
}

#[utoipa::path(
    delete,
    path = "/v3/biometric-templates/{uuid}/",
    tag = "Templates",
    summary = "Purge a template",
    params(("uuid" = String, Path, description = "Template uuid")),
    responses(
        (status = 200, description = "Purged (or already purged)", body = Purged),
        (status = 404, description = "Unknown", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn purge_template(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Writes>,
    Id(id): Id,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::OK,
        s.provider.purge_template(&key.tenant, &id)?,
        &rate,
    ))
}

#[utoipa::path(
    post,
    path = "/v3/biometric-templates/delete/",
    tag = "Templates",
    summary = "Purge several templates",
    request_body = PurgeMany,
    responses(
        (status = 200, description = "Outcomes", body = PurgedMany),
        (status = 400, description = "Validation error", body = ErrorBody),
    ),
    security(("ApiKey" = [])),
)]
pub(crate) async fn purge_templates(
    State(s): State<AppState>,
    Key {
        record: key, rate, ..
    }: Key<Writes>,
    V3Json(v): V3Json<PurgeMany>,
) -> Result<Response, HttpError> {
    Ok(with_rate(
        StatusCode::OK,
        s.provider.purge_templates(&key.tenant, &v)?,
        &rate,
    ))
}
