//! Deletion (single and bulk, with face retention) and manual review (`update-status`).

use super::wire::{DeletionInstruction, SessionNumber};
use super::*;

/// Who changes a session's status by hand.
#[derive(Clone, Copy, Debug)]
pub enum Reviewer<'a> {
    ApiKey(&'a ApiKeyRecord),
    Operator(&'a crate::flow::console::Operator),
}

impl Provider {
    /// `DELETE /v3/session/{id}/delete/`.
    pub fn delete_session(
        &self,
        tenant: &TenantId,
        id: &str,
        req: &DeleteSession,
    ) -> Result<SessionDeleted, DiditError> {
        let s = self.get_session(tenant, id)?;
        let retain = req.retain_face_embeddings.unwrap_or(false);
        if req
            .face_retention_days
            .is_some_and(|n| !(1..=3650).contains(&n))
        {
            return Err(invalid(
                "face_retention_days",
                "Ensure this value is between 1 and 3650.",
            ));
        }
        bounded("instruction_id", req.instruction_id.clone(), 255)?;
        let erasure = req.deletion_instruction == Some(DeletionInstruction::PrivacyErasure);
        let enrolled: Option<EnrolmentRecord> = match &s.vendor_data {
            Some(v) => self.store.get_json(&ns::ENROLMENTS, &tenant.key(v))?,
            None => None,
        };
        let kept: Option<SessionFace> = match &s.vendor_data {
            Some(v) => self.store.get_json(&SESSION_FACES, &tenant.key(v))?,
            None => None,
        };
        let kept_here = kept.as_ref().is_some_and(|f| f.session_id == s.session_id);
        let (outcome, template) = if retain && !erasure {
            match (&s.vendor_data, &enrolled, &kept) {
                (None, _, _) => (FaceRetention::IneligibleNoVendorUser, None),
                (Some(v), Some(r), _) => (
                    FaceRetention::RetainedWithUser,
                    Some(template_uuid("enrolment", &tenant.key(v), r.enrolled_at)),
                ),
                (Some(v), None, Some(f)) => (
                    FaceRetention::RetainedWithUser,
                    Some(template_uuid("session", &tenant.key(v), f.kept_at)),
                ),
                (Some(_), None, None) => (FaceRetention::None, None),
            }
        } else if s.reference.is_some() || kept_here {
            if kept_here && let Some(v) = &s.vendor_data {
                self.store.delete(&SESSION_FACES, &tenant.key(v))?;
            }
            (FaceRetention::Deleted, None)
        } else {
            (FaceRetention::None, None)
        };
        if let Some(f) = &s.flow_id {
            self.store.delete(&ns::FLOWS, f)?;
        }
        self.store.delete(&TOKENS, &s.session_token)?;
        self.close_indexes(&s)?;
        self.store.delete(&SESSIONS, &s.session_id)?;
        tracing::info!(session = %s.session_id, outcome = ?outcome, "session deleted");
        Ok(SessionDeleted {
            session_id: s.session_id,
            session_number: s.session_number,
            face_retention_outcome: outcome,
            biometric_template_uuid: template,
        })
    }

    /// `POST /v3/sessions/delete/`: by `session_numbers` (digit strings or numbers) or
    /// `delete_all`; the same retention fields as the single delete.
    pub fn delete_sessions(
        &self,
        tenant: &TenantId,
        req: &DeleteSessions,
    ) -> Result<SessionsDeleted, DiditError> {
        let all = req.delete_all == Some(true);
        let wanted: Option<Vec<i64>> = match &req.session_numbers {
            None => None,
            Some(a) if a.len() <= 1000 => Some(
                a.iter()
                    .map(|n| match n {
                        SessionNumber::Text(x) => x.parse().ok(),
                        SessionNumber::Number(x) => Some(*x),
                    })
                    .collect::<Option<Vec<i64>>>()
                    .ok_or_else(|| {
                        invalid("session_numbers", "A list of session numbers is required.")
                    })?,
            ),
            Some(_) => {
                return Err(invalid(
                    "session_numbers",
                    "A list of at most 1000 session numbers is required.",
                ));
            }
        };
        if !all && wanted.is_none() {
            return Err(invalid(
                "session_numbers",
                "Send session_numbers or delete_all.",
            ));
        }
        let mut ids = Vec::new();
        for k in self.store.keys(&SESSIONS)? {
            if let Some(s) = self.store.get_json::<Session>(&SESSIONS, &k)?
                && &s.tenant == tenant
                && (all
                    || wanted
                        .as_ref()
                        .is_some_and(|w| w.contains(&s.session_number)))
            {
                ids.push(s.session_id);
            }
        }
        let each = req.each();
        let mut results = Vec::new();
        for id in ids {
            results.push(self.delete_session(tenant, &id, &each)?);
        }
        Ok(SessionsDeleted { results })
    }

    /// `PATCH /v3/session/{id}/update-status/` (manual review through the API).
    pub fn update_session_status(
        &self,
        key: &ApiKeyRecord,
        id: &str,
        req: UpdateStatus,
    ) -> Result<StatusUpdated, DiditError> {
        self.review_session(Reviewer::ApiKey(key), &key.tenant, id, req)
    }

    /// A manual status change by an API client or a console operator: the same checks,
    /// transition, webhook and audit record; the record names who decided.
    pub fn review_session(
        &self,
        by: Reviewer<'_>,
        tenant: &TenantId,
        id: &str,
        req: UpdateStatus,
    ) -> Result<StatusUpdated, DiditError> {
        let new = SessionStatus::from(req.new_status);
        let comment = bounded("comment", req.comment, 2000)?;
        if req
            .nodes_to_resubmit
            .iter()
            .flatten()
            .any(|n| !FEATURE_ENUM.contains(&n.feature.as_str()))
        {
            return Err(invalid(
                "nodes_to_resubmit",
                "Each item needs a node_id and a valid feature.",
            ));
        }
        if req.send_email == Some(true) {
            if req.email_address.is_none() {
                return Err(invalid(
                    "email_address",
                    "This field is required when send_email is true.",
                ));
            }
            return Err(invalid(
                "send_email",
                "This server does not send e-mails; notify the user yourself.",
            ));
        }
        let mut s = self.get_session(tenant, id)?;
        let allowed = matches!(
            s.status,
            SessionStatus::Approved
                | SessionStatus::Declined
                | SessionStatus::InReview
                | SessionStatus::KycExpired
                | SessionStatus::Abandoned
                | SessionStatus::Resubmitted
        );
        if !allowed {
            return Err(DiditError::detail(format!(
                "The status of a session that is \"{}\" cannot be changed.",
                s.status.as_str()
            )));
        }
        if new == SessionStatus::Resubmitted && s.session_type == SessionType::Api {
            return Err(DiditError::detail(
                "A saved standalone check has no hosted capture to redo; create a session instead.",
            ));
        }
        if s.status == new {
            return Err(invalid(
                "new_status",
                format!("The session is already \"{}\".", new.as_str()),
            ));
        }
        let now = self.now();
        s.reviews.push(Review {
            user: match by {
                Reviewer::ApiKey(_) => "API Client".into(),
                Reviewer::Operator(o) => format!("{} ({})", o.name, o.subject),
            },
            new_status: new,
            comment,
            created_at: iso8601(now),
        });
        if new == SessionStatus::Resubmitted {
            s.attempts = 0;
            s.expires_at = Some(s.expires_at.unwrap_or(now).max(now + 3600));
            self.store
                .put(&TOKENS, &s.session_token, s.session_id.as_bytes(), None)?;
        }
        let client = match by {
            Reviewer::ApiKey(key) => format!("api-key:{}", key.id),
            Reviewer::Operator(_) => "console".into(),
        };
        let mut v = self.new_verdict(Channel::Review, new.as_str(), client, tenant);
        if let Reviewer::Operator(o) = by {
            v.operator = Some(o.audit_name());
        }
        v.subject = s.vendor_data.clone();
        v.session_id = Some(s.session_id.clone());
        v.workflow_id = Some(s.workflow_id.clone());
        v.workflow_version = Some(s.workflow_version);
        v.attempt = s.attempts;
        v.reasons = vec![format!("MANUAL_REVIEW:{}", s.status.as_str())];
        self.record_verdict(v, None, &[])?;
        self.set_status(&mut s, new)?;
        Ok(StatusUpdated {
            session_id: s.session_id,
        })
    }
}
