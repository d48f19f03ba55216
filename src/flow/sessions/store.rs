//! Sessions in the store: reads (tenant-checked), saves with their indexes, the webhook event
//! each change causes (saved with it, never lost), the status lifecycle and the sweeps.

use super::*;

impl Provider {
    /// A session of `tenant` (another tenant's answers "not found", like a wrong id).
    pub fn get_session(&self, tenant: &TenantId, id: &str) -> Result<Session, DiditError> {
        self.load_session(id)?
            .filter(|s| &s.tenant == tenant)
            .ok_or(DiditError::NotFound)
    }

    /// A session by id, whatever its tenant: only for ids the server holds itself (a hosted
    /// link's token, a capture flow), never for ids from a request.
    pub(super) fn load_session(&self, id: &str) -> Result<Option<Session>, DiditError> {
        if id.len() > 64 {
            return Ok(None);
        }
        Ok(self.store.get_json::<Session>(&SESSIONS, id)?)
    }

    /// The next session number of a tenant (each tenant counts its own, so numbers reveal
    /// nothing about another tenant's traffic).
    pub(super) fn next_session_number(&self, tenant: &TenantId) -> Result<i64, StoreError> {
        self.store
            .add(&COUNTERS, &tenant.key("session_number"), 1, None)
    }

    pub(super) fn save_session(&self, s: &Session) -> Result<(), StoreError> {
        self.store.put_json(&SESSIONS, &s.session_id, s, None)?;
        if s.status.is_unfinished() {
            self.store.put(&OPEN, &s.session_id, b"1", None)?;
            if let Some(v) = &s.vendor_data {
                self.store.put(
                    &BY_VENDOR,
                    &format!("{}:{v}", s.workflow_id),
                    s.session_id.as_bytes(),
                    None,
                )?;
            }
        } else {
            self.close_indexes(s)?;
        }
        Ok(())
    }

    /// Drops a session from the open-session and idempotency indexes (the latter only while
    /// it still points at this session).
    pub(super) fn close_indexes(&self, s: &Session) -> Result<(), StoreError> {
        self.store.delete(&OPEN, &s.session_id)?;
        if let Some(v) = &s.vendor_data {
            let k = format!("{}:{v}", s.workflow_id);
            if self.store.get(&BY_VENDOR, &k)?.as_deref() == Some(s.session_id.as_bytes()) {
                self.store.delete(&BY_VENDOR, &k)?;
            }
        }
        Ok(())
    }

    /// The `status.updated` / `data.updated` envelope (without `timestamp`, which the delivery
    /// sets and signs on every attempt).
    pub fn session_event(&self, s: &Session, webhook_type: WebhookType) -> SessionEvent {
        SessionEvent {
            event_id: uuid_v4(),
            webhook_type,
            created_at: self.now(),
            timestamp: None,
            application_id: self.application_id(),
            environment: wire::Environment::Live,
            session_id: s.session_id.clone(),
            status: s.status,
            workflow_id: (!s.workflow_id.is_empty()).then(|| s.workflow_id.clone()),
            workflow_version: s.workflow_version,
            vendor_data: s.vendor_data.clone(),
            metadata: s.metadata.clone(),
            decision: s
                .status
                .carries_decision()
                .then(|| Box::new(self.decision(s))),
        }
    }

    /// `application_id` of the envelopes: configured, or a stable UUID derived from the issuer.
    pub fn application_id(&self) -> String {
        if !self.cfg.webhooks.application_id.is_empty() {
            return self.cfg.webhooks.application_id.clone();
        }
        crate::ids::uuid_from(self.issuer())
    }

    /// Saves a session together with the webhook event its change causes, so the event is never
    /// lost: the event is first recorded as pending, then the session is saved, then the event
    /// is queued for the destinations and the pending record dropped. If the process stops or
    /// the queue fails in between, the sweep queues it later; if the session was never saved,
    /// the sweep drops it (no event for a change that did not happen).
    pub(super) fn save_with_event(
        &self,
        s: &mut Session,
        webhook_type: WebhookType,
    ) -> Result<(), StoreError> {
        s.events += 1;
        let event = self.session_event(s, webhook_type);
        let id = event.event_id.clone();
        let pending = PendingEvent {
            session_id: s.session_id.clone(),
            tenant: s.tenant.clone(),
            seq: s.events,
            at: self.now(),
            event,
        };
        self.store.put_json(&PENDING_EVENTS, &id, &pending, None)?;
        self.save_session(s)?;
        if let Err(err) = self.hand_over(&id, &pending.tenant, &pending.event) {
            tracing::warn!(error = %err, session = %s.session_id, "webhook event left for the sweep");
        }
        Ok(())
    }

    pub(super) fn hand_over(
        &self,
        id: &str,
        tenant: &TenantId,
        event: &SessionEvent,
    ) -> Result<(), StoreError> {
        self.outbox.enqueue(tenant, event)?;
        self.store.delete(&PENDING_EVENTS, id)?;
        Ok(())
    }

    /// Queues the pending events whose requests stopped before doing so (see
    /// [`Provider::save_with_event`]); drops those whose session change never happened.
    /// Returns how many were queued.
    pub fn sweep_pending_events(&self) -> Result<usize, StoreError> {
        let now = self.now();
        let mut queued = 0;
        for id in self.store.keys(&PENDING_EVENTS)? {
            let Some(p) = self.store.get_json::<PendingEvent>(&PENDING_EVENTS, &id)? else {
                continue;
            };
            if p.at > now - PENDING_GRACE_SECS {
                continue;
            }
            let saved = self
                .store
                .get_json::<Session>(&SESSIONS, &p.session_id)?
                .is_some_and(|cur| cur.events >= p.seq);
            if saved {
                self.hand_over(&id, &p.tenant, &p.event)?;
                queued += 1;
            } else {
                tracing::info!(session = %p.session_id, event = %id, "dropping the event of a session change that was not saved");
                self.store.delete(&PENDING_EVENTS, &id)?;
            }
        }
        Ok(queued)
    }

    /// Moves a session along its lifecycle (refusing any move the lifecycle does not have),
    /// saved together with its `status.updated` event.
    pub(super) fn set_status(
        &self,
        s: &mut Session,
        status: SessionStatus,
    ) -> Result<(), SessionError> {
        if !s.status.can_become(status) {
            return Err(SessionError::IllegalMove {
                from: s.status,
                to: status,
            });
        }
        let changed = s.status != status;
        s.status = status;
        s.updated_at = self.now();
        if !changed {
            return Ok(self.save_session(s)?);
        }
        tracing::info!(session = %s.session_id, status = status.as_str(), "session status");
        Ok(self.save_with_event(s, WebhookType::StatusUpdated)?)
    }

    /// Moves overdue sessions to `Expired` and idle started ones to `Abandoned`; returns how
    /// many changed. Run periodically by the background task.
    pub fn sweep_sessions(&self) -> Result<usize, SessionError> {
        let now = self.now();
        let idle = self.cfg.sessions.abandon_after_secs as i64;
        let mut changed = 0;
        for id in self.store.keys(&OPEN)? {
            let Some(mut s) = self.store.get_json::<Session>(&SESSIONS, &id)? else {
                self.store.delete(&OPEN, &id)?;
                continue;
            };
            let next = if !s.status.is_unfinished() {
                None
            } else if s.expires_at.is_some_and(|e| e <= now) {
                Some(SessionStatus::Expired)
            } else if s.status == SessionStatus::InProgress && s.last_activity_at + idle <= now {
                Some(SessionStatus::Abandoned)
            } else {
                None
            };
            match next {
                Some(st) => {
                    if let Some(f) = s.flow_id.take() {
                        self.store.delete(&ns::FLOWS, &f)?;
                    }
                    self.set_status(&mut s, st)?;
                    changed += 1;
                }
                None if !s.status.is_unfinished() => {
                    self.store.delete(&OPEN, &id)?;
                }
                None => {}
            }
        }
        Ok(changed)
    }

    /// The hosted page's touch: a user interacting keeps the session from being abandoned.
    pub(crate) fn touch_session(&self, flow: &Flow) {
        if let Origin::Session { session: id, .. } = &flow.origin
            && let Ok(Some(mut s)) = self.store.get_json::<Session>(&SESSIONS, id)
            && s.status == SessionStatus::InProgress
        {
            s.last_activity_at = self.now();
            let _ = self.store.put_json(&SESSIONS, id, &s, None);
        }
    }
}
