//! Webhook destinations and deliveries as the v3 API exposes them (`/v3/webhook/...`).

use super::didit::{DiditError, iso8601, uuid_v4};
use super::wire::Listing;
use super::{Provider, random_token};
use crate::tenant::TenantId;
use crate::webhook::destinations::{self, Destination, DestinationError};
use crate::webhook::wire::{DeliveryOut, DestinationBody, DestinationOut, WebhookVersion};

impl From<DestinationError> for DiditError {
    fn from(e: DestinationError) -> Self {
        match e {
            DestinationError::Invalid {
                field: "detail",
                message,
            } => DiditError::detail(message),
            DestinationError::Invalid { field, message } => DiditError::field(field, message),
            DestinationError::NotFound => DiditError::NotFound,
            DestinationError::Store(s) => s.into(),
        }
    }
}

impl Provider {
    fn destination_out(&self, d: &Destination) -> Result<DestinationOut, DiditError> {
        let summary = self.outbox.summary(&d.uuid)?;
        Ok(DestinationOut {
            uuid: d.uuid.clone(),
            label: d.label.clone(),
            url: d.url.clone(),
            enabled: d.enabled,
            webhook_version: match d.webhook_version.as_str() {
                "v1" => WebhookVersion::V1,
                "v2" => WebhookVersion::V2,
                _ => WebhookVersion::V3,
            },
            secret_shared_key: d.secret_shared_key.expose().to_owned(),
            subscribed_events: d.subscribed_events.clone(),
            created_at: iso8601(d.created_at),
            updated_at: iso8601(d.updated_at),
            summary: (&summary).into(),
        })
    }

    pub fn create_destination(
        &self,
        tenant: &TenantId,
        body: &DestinationBody,
    ) -> Result<DestinationOut, DiditError> {
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
        self.destination_out(&d)
    }

    pub fn list_destinations(
        &self,
        tenant: &TenantId,
    ) -> Result<Listing<DestinationOut>, DiditError> {
        let all = destinations::list(&*self.store, tenant)?;
        let results = all
            .iter()
            .map(|d| self.destination_out(d))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Listing::of(results))
    }

    pub fn get_destination(
        &self,
        tenant: &TenantId,
        uuid: &str,
    ) -> Result<DestinationOut, DiditError> {
        let d = destinations::get_in(&*self.store, tenant, uuid)?.ok_or(DiditError::NotFound)?;
        self.destination_out(&d)
    }

    pub fn update_destination(
        &self,
        tenant: &TenantId,
        uuid: &str,
        body: &DestinationBody,
    ) -> Result<DestinationOut, DiditError> {
        let d = destinations::update(
            &*self.store,
            tenant,
            uuid,
            body,
            random_token(32),
            &self.cfg.webhooks,
            self.now(),
        )?;
        self.destination_out(&d)
    }

    pub fn delete_destination(&self, tenant: &TenantId, uuid: &str) -> Result<(), DiditError> {
        Ok(destinations::delete(&*self.store, tenant, uuid)?)
    }

    pub fn list_deliveries(
        &self,
        tenant: &TenantId,
        destination: &str,
    ) -> Result<Listing<DeliveryOut>, DiditError> {
        destinations::get_in(&*self.store, tenant, destination)?.ok_or(DiditError::NotFound)?;
        let results = self
            .outbox
            .list(Some(destination))?
            .iter()
            .map(|d| DeliveryOut::of(d, false))
            .collect();
        Ok(Listing::of(results))
    }

    pub fn get_delivery(
        &self,
        tenant: &TenantId,
        destination: &str,
        uuid: &str,
    ) -> Result<DeliveryOut, DiditError> {
        destinations::get_in(&*self.store, tenant, destination)?.ok_or(DiditError::NotFound)?;
        let d = self
            .outbox
            .get(uuid)?
            .filter(|d| d.destination == destination)
            .ok_or(DiditError::NotFound)?;
        Ok(DeliveryOut::of(&d, true))
    }

    pub fn resend_delivery(
        &self,
        tenant: &TenantId,
        destination: &str,
        uuid: &str,
    ) -> Result<DeliveryOut, DiditError> {
        destinations::get_in(&*self.store, tenant, destination)?.ok_or(DiditError::NotFound)?;
        self.outbox
            .get(uuid)?
            .filter(|d| d.destination == destination)
            .ok_or(DiditError::NotFound)?;
        let d = self.outbox.resend(uuid)?.ok_or(DiditError::NotFound)?;
        Ok(DeliveryOut::of(&d, false))
    }
}
