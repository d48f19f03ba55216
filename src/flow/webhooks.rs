//! Webhook destinations and deliveries as the v3 API exposes them (`/v3/webhook/...`).

use serde_json::{Value, json};

use super::didit::{DiditError, iso8601, uuid_v4};
use super::{Provider, random_token};
use crate::tenant::TenantId;
use crate::webhook::destinations::{self, Destination, DestinationError};

impl From<DestinationError> for DiditError {
    fn from(e: DestinationError) -> Self {
        match e {
            DestinationError::Invalid {
                field: "detail",
                message,
            } => DiditError::Invalid(json!({ "detail": message })),
            DestinationError::Invalid { field, message } => DiditError::field(field, message),
            DestinationError::NotFound => DiditError::NotFound,
            DestinationError::Store(s) => s.into(),
        }
    }
}

impl Provider {
    fn destination_json(&self, d: &Destination) -> Result<Value, DiditError> {
        let summary = self.outbox.summary(&d.uuid)?;
        Ok(json!({
            "uuid": d.uuid,
            "label": d.label,
            "url": d.url,
            "enabled": d.enabled,
            "webhook_version": d.webhook_version,
            "secret_shared_key": d.secret_shared_key.expose(),
            "subscribed_events": d.subscribed_events,
            "created_at": iso8601(d.created_at),
            "updated_at": iso8601(d.updated_at),
            "summary": destinations::summary_json(&summary),
        }))
    }

    pub fn create_destination(&self, tenant: &TenantId, body: &Value) -> Result<Value, DiditError> {
        let d = destinations::create(
            &*self.store,
            tenant,
            body,
            uuid_v4(),
            random_token(32),
            &self.cfg.webhooks,
            self.now(),
        )?;
        tracing::info!(destination = %d.uuid, %tenant, host = %destinations::host_of(&d.url), "webhook destination created");
        self.destination_json(&d)
    }

    pub fn list_destinations(&self, tenant: &TenantId) -> Result<Value, DiditError> {
        let all = destinations::list(&*self.store, tenant)?;
        let results = all
            .iter()
            .map(|d| self.destination_json(d))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(json!({ "count": results.len(), "next": null, "previous": null, "results": results }))
    }

    pub fn get_destination(&self, tenant: &TenantId, uuid: &str) -> Result<Value, DiditError> {
        let d = destinations::get_in(&*self.store, tenant, uuid)?.ok_or(DiditError::NotFound)?;
        self.destination_json(&d)
    }

    pub fn update_destination(
        &self,
        tenant: &TenantId,
        uuid: &str,
        body: &Value,
    ) -> Result<Value, DiditError> {
        let d = destinations::update(
            &*self.store,
            tenant,
            uuid,
            body,
            random_token(32),
            &self.cfg.webhooks,
            self.now(),
        )?;
        self.destination_json(&d)
    }

    pub fn delete_destination(&self, tenant: &TenantId, uuid: &str) -> Result<(), DiditError> {
        Ok(destinations::delete(&*self.store, tenant, uuid)?)
    }

    pub fn list_deliveries(
        &self,
        tenant: &TenantId,
        destination: &str,
    ) -> Result<Value, DiditError> {
        destinations::get_in(&*self.store, tenant, destination)?.ok_or(DiditError::NotFound)?;
        let results: Vec<Value> = self
            .outbox
            .list(Some(destination))?
            .iter()
            .map(|d| d.to_json(false))
            .collect();
        Ok(json!({ "count": results.len(), "next": null, "previous": null, "results": results }))
    }

    pub fn get_delivery(
        &self,
        tenant: &TenantId,
        destination: &str,
        uuid: &str,
    ) -> Result<Value, DiditError> {
        destinations::get_in(&*self.store, tenant, destination)?.ok_or(DiditError::NotFound)?;
        let d = self
            .outbox
            .get(uuid)?
            .filter(|d| d.destination == destination)
            .ok_or(DiditError::NotFound)?;
        Ok(d.to_json(true))
    }

    pub fn resend_delivery(
        &self,
        tenant: &TenantId,
        destination: &str,
        uuid: &str,
    ) -> Result<Value, DiditError> {
        destinations::get_in(&*self.store, tenant, destination)?.ok_or(DiditError::NotFound)?;
        self.outbox
            .get(uuid)?
            .filter(|d| d.destination == destination)
            .ok_or(DiditError::NotFound)?;
        let d = self.outbox.resend(uuid)?.ok_or(DiditError::NotFound)?;
        Ok(d.to_json(false))
    }
}
