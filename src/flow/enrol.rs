//! The server-to-server enrolment API: enrol a subject from a portrait, erase, list, count.
//! Callers present an access token with the `enrolment` scope (client credentials grant).

use serde::Serialize;

use super::capture::EnrolmentRecord;
use super::error::FlowError;
use super::token::ENROLMENT_SCOPE;
use super::{Provider, ns};
use crate::biometric::Enrolment;
use crate::protocol::values::ClientId;
use crate::protocol::{ErrorCode, OAuthError};
use crate::store::typed::KvJson;

use crate::tenant::TenantId;

/// An authenticated API caller: the client, and the tenant whose subjects it reaches.
#[derive(Clone, Debug)]
pub struct Caller {
    pub client_id: ClientId,
    pub tenant: TenantId,
}

/// An enrolment as the API shows it (never the template itself).
#[derive(Debug, Serialize)]
pub struct EnrolmentInfo {
    pub subject: String,
    pub enrolled_at: i64,
    pub enrolled_by: String,
    pub source: String,
    pub model: String,
    pub face_quality: f32,
}

impl From<(&str, &EnrolmentRecord)> for EnrolmentInfo {
    fn from((subject, r): (&str, &EnrolmentRecord)) -> Self {
        Self {
            subject: subject.to_owned(),
            enrolled_at: r.enrolled_at,
            enrolled_by: r.by.clone(),
            source: r.source.clone(),
            model: r.template.model.name.clone(),
            face_quality: r.template.quality.face_quality,
        }
    }
}

fn check_subject(s: &str) -> Result<(), FlowError> {
    if crate::tenant::check_subject(s) {
        Ok(())
    } else {
        Err(FlowError::invalid_request("invalid subject identifier"))
    }
}

impl Provider {
    /// Validates an enrolment-API bearer token; returns the calling client and its tenant.
    pub fn enrolment_caller(&self, bearer: Option<&str>) -> Result<Caller, FlowError> {
        let token = bearer.ok_or_else(|| {
            FlowError::Protocol(OAuthError::new(
                ErrorCode::InvalidToken,
                "a bearer token is required",
            ))
        })?;
        let c = self.verify_access_token(token)?;
        let allowed = self
            .clients
            .get(&c.client_id)
            .is_some_and(|cl| cl.enrolment_api);
        if c.scope != ENROLMENT_SCOPE || !allowed {
            return Err(FlowError::Protocol(OAuthError::new(
                ErrorCode::InsufficientUserAuthentication,
                "the token does not grant the enrolment scope",
            )));
        }
        Ok(Caller {
            tenant: self.client_tenant(&c.client_id),
            client_id: c.client_id,
        })
    }

    /// Enrols (or re-enrols) `subject` from a portrait: one clear face, good quality and light.
    pub fn enrol_portrait(
        &self,
        caller: &Caller,
        subject: &str,
        portrait: &[u8],
    ) -> Result<EnrolmentInfo, FlowError> {
        check_subject(subject)?;
        let (result, _) = self.engine.enrol(portrait)?;
        let template = match result {
            Enrolment::Enrolled(t) => t,
            Enrolment::Refused(risks) => return Err(FlowError::Refused(risks)),
        };
        let rec = EnrolmentRecord {
            template,
            enrolled_at: self.now(),
            by: caller.client_id.to_string(),
            source: "api".into(),
        };
        self.store
            .put_json(&ns::ENROLMENTS, &caller.tenant.key(subject), &rec, None)?;
        tracing::info!(subject_len = subject.len(), client = %caller.client_id, tenant = %caller.tenant, "subject enrolled");
        Ok((subject, &rec).into())
    }

    /// Erases a subject's template, and first the personal data of its audit records (the
    /// evidence itself stays, pseudonymous and verifiable).
    pub fn erase(&self, tenant: &TenantId, subject: &str) -> Result<(), FlowError> {
        self.erase_with_reason(tenant, subject, "template erased")
    }

    /// [`Provider::erase`], with the reason its audit entry records (who erased).
    pub fn erase_with_reason(
        &self,
        tenant: &TenantId,
        subject: &str,
        reason: &str,
    ) -> Result<(), FlowError> {
        check_subject(subject)?;
        let key = tenant.key(subject);
        if self.store.get(&ns::ENROLMENTS, &key)?.is_none() {
            return Err(FlowError::NotFound);
        }
        self.erase_subject_personal_data(tenant, subject, reason)?;
        if self.store.delete(&ns::ENROLMENTS, &key)? {
            Ok(())
        } else {
            Err(FlowError::NotFound)
        }
    }

    pub fn enrolment(&self, tenant: &TenantId, subject: &str) -> Result<EnrolmentInfo, FlowError> {
        check_subject(subject)?;
        let rec: EnrolmentRecord = self
            .store
            .get_json(&ns::ENROLMENTS, &tenant.key(subject))?
            .ok_or(FlowError::NotFound)?;
        Ok((subject, &rec).into())
    }

    /// One page of a tenant's enrolments, in subject order, after `after`.
    pub fn enrolments(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<EnrolmentInfo>, usize), FlowError> {
        let keys = self.store.keys(&ns::ENROLMENTS)?;
        let mut subjects: Vec<(&str, &str)> = keys
            .iter()
            .filter_map(|k| Some((tenant.owns(k)?, k.as_str())))
            .collect();
        subjects.sort_unstable();
        let total = subjects.len();
        let mut out = Vec::new();
        for (subject, k) in subjects
            .into_iter()
            .filter(|(s, _)| after.is_none_or(|a| *s > a))
            .take(limit.clamp(1, 1000))
        {
            if let Some(rec) = self.store.get_json::<EnrolmentRecord>(&ns::ENROLMENTS, k)? {
                out.push((subject, &rec).into());
            }
        }
        Ok((out, total))
    }
}
