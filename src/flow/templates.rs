//! `/v3/biometric-templates/`: the stored faces (image-free templates) behind face matching,
//! listed, counted, read and purged. They are the same records the OpenID enrolment and the
//! enrolment API write, so a purge here is an erasure everywhere.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Provider;
use super::capture::EnrolmentRecord;
use super::didit::{DiditError, iso8601};
use super::ns;
use super::sessions::{SESSION_FACES, SessionFace, template_uuid};
use super::wire::Page;
use crate::store::Namespace;
use crate::store::typed::KvJson;
use crate::tenant::TenantId;

/// Purged templates' ids, so a second purge answers as the first did.
pub(crate) const TOMBSTONES: Namespace = Namespace::new("template_tombstones").fsynced();

/// A template's status (only `active` templates exist here; the others are accepted as
/// filters and match none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    Pending,
    Active,
    Expired,
    HeldOutOfUse,
    PurgePending,
    PurgeFailed,
}

/// Where a template came from: `backfill` (an enrolment), `automatic_retention` (kept from an
/// Approved liveness session) or `session_delete` (kept when a session was deleted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    SessionDelete,
    AutomaticRetention,
    Backfill,
}

/// List order (newest first by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Ordering {
    #[serde(rename = "created_at")]
    CreatedAt,
    #[serde(rename = "-created_at")]
    CreatedAtDesc,
    #[serde(rename = "retained_at")]
    RetainedAt,
    #[serde(rename = "-retained_at")]
    RetainedAtDesc,
}

/// A stored face as the API shows it (never the embedding).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemplateOut {
    pub uuid: String,
    pub vendor_data: String,
    /// Not issued here (always null).
    pub vendor_user_uuid: Option<String>,
    pub status: TemplateStatus,
    pub source_type: SourceType,
    /// `camera`, `api`, `cli`, `session`...
    pub source: String,
    /// The client, key or session that enrolled it.
    pub enrolled_by: String,
    /// The embedding model.
    pub model: String,
    pub face_quality: f64,
    pub retained_at: String,
    pub created_at: String,
    /// Templates do not expire here (always null).
    pub expires_at: Option<String>,
}

/// The filters of the template list and count; any other parameter is a 400.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TemplateQuery {
    /// Page size (default 50, at most 1000; the list only).
    pub limit: Option<usize>,
    /// Rows to skip (the list only).
    pub offset: Option<usize>,
    /// Exact user reference.
    pub vendor_data: Option<String>,
    pub status: Option<TemplateStatus>,
    pub source_type: Option<SourceType>,
    /// Retained at or after: a day (YYYY-MM-DD, UTC) or an ISO 8601 instant with Z or an
    /// offset.
    pub retained_from: Option<String>,
    /// Retained at or before (includes its day or instant).
    pub retained_to: Option<String>,
    pub ordering: Option<Ordering>,
}

/// `{count}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Count {
    pub count: usize,
}

/// `POST /v3/biometric-templates/delete/`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct PurgeMany {
    #[schema(max_items = 1000)]
    pub uuids: Vec<String>,
}

/// What a purge did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurgeOutcome {
    Purged,
    AlreadyPurged,
    /// Bulk purge only (the single purge answers 404).
    NotFound,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Purged {
    pub uuid: String,
    pub outcome: PurgeOutcome,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PurgedMany {
    pub results: Vec<Purged>,
}

/// A stored face: an enrolment (used by the OpenID flow and the API) or a face kept from an
/// Approved liveness session (API sessions only).
struct Stored {
    kind: &'static str,
    /// The subject's store key in its tenant (`TenantId::key`).
    key: String,
    subject: String,
    at: i64,
    source: String,
    by: String,
    template: crate::biometric::Template,
}

impl Stored {
    fn uuid(&self) -> String {
        template_uuid(self.kind, &self.key, self.at)
    }

    fn source_type(&self) -> SourceType {
        if self.kind == "session" {
            SourceType::AutomaticRetention
        } else {
            SourceType::Backfill
        }
    }

    fn out(&self) -> TemplateOut {
        TemplateOut {
            uuid: self.uuid(),
            vendor_data: self.subject.clone(),
            vendor_user_uuid: None,
            status: TemplateStatus::Active,
            source_type: self.source_type(),
            source: self.source.clone(),
            enrolled_by: self.by.clone(),
            model: self.template.model.name.clone(),
            face_quality: crate::biometric::score::round2(f64::from(
                self.template.quality.face_quality,
            )),
            retained_at: iso8601(self.at),
            created_at: iso8601(self.at),
            expires_at: None,
        }
    }
}

impl Provider {
    /// The stored faces of `tenant`.
    fn all_templates(&self, tenant: &TenantId) -> Result<Vec<Stored>, DiditError> {
        let mut v = Vec::new();
        for k in self.store.keys(&ns::ENROLMENTS)? {
            let Some(subject) = tenant.owns(&k).map(str::to_owned) else {
                continue;
            };
            if let Some(r) = self
                .store
                .get_json::<EnrolmentRecord>(&ns::ENROLMENTS, &k)?
            {
                v.push(Stored {
                    kind: "enrolment",
                    key: k,
                    subject,
                    at: r.enrolled_at,
                    source: r.source,
                    by: r.by,
                    template: r.template,
                });
            }
        }
        for k in self.store.keys(&SESSION_FACES)? {
            let Some(subject) = tenant.owns(&k).map(str::to_owned) else {
                continue;
            };
            if let Some(f) = self.store.get_json::<SessionFace>(&SESSION_FACES, &k)? {
                v.push(Stored {
                    kind: "session",
                    key: k,
                    subject,
                    at: f.kept_at,
                    source: "session".into(),
                    by: f.session_id,
                    template: f.template,
                });
            }
        }
        Ok(v)
    }

    fn filtered_templates(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Vec<Stored>, DiditError> {
        let dates = super::didit::DateRange::parse(
            query.retained_from.as_deref(),
            query.retained_to.as_deref(),
            ["retained_from", "retained_to"],
        )?;
        let mut v: Vec<_> = self
            .all_templates(tenant)?
            .into_iter()
            .filter(|t| {
                query.vendor_data.as_ref().is_none_or(|x| *x == t.subject)
                    && query.status.is_none_or(|x| x == TemplateStatus::Active)
                    && query.source_type.is_none_or(|x| x == t.source_type())
                    && dates.contains_secs(t.at)
            })
            .collect();
        match query.ordering {
            Some(Ordering::CreatedAt | Ordering::RetainedAt) => v.sort_by_key(|t| t.at),
            _ => v.sort_by_key(|t| std::cmp::Reverse(t.at)),
        }
        Ok(v)
    }

    /// `GET /v3/biometric-templates/`.
    pub fn list_templates(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Page<TemplateOut>, DiditError> {
        let limit = query.limit.unwrap_or(50).clamp(1, 1000);
        let offset = query.offset.unwrap_or(0);
        let v = self.filtered_templates(tenant, query)?;
        Ok(Page {
            count: v.len(),
            next: None,
            previous: None,
            results: v.iter().skip(offset).take(limit).map(Stored::out).collect(),
        })
    }

    /// `GET /v3/biometric-templates/count/`.
    pub fn count_templates(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Count, DiditError> {
        Ok(Count {
            count: self.filtered_templates(tenant, query)?.len(),
        })
    }

    fn find_template(&self, tenant: &TenantId, uuid: &str) -> Result<Option<Stored>, DiditError> {
        Ok(self
            .all_templates(tenant)?
            .into_iter()
            .find(|t| t.uuid() == uuid))
    }

    /// `GET /v3/biometric-templates/{uuid}/`.
    pub fn get_template(&self, tenant: &TenantId, uuid: &str) -> Result<TemplateOut, DiditError> {
        Ok(self
            .find_template(tenant, uuid)?
            .ok_or(DiditError::NotFound)?
            .out())
    }

    /// `DELETE /v3/biometric-templates/{uuid}/`: purges the template (crypto-free erasure: the
    /// record is deleted from the store and its log compacts away).
    pub fn purge_template(&self, tenant: &TenantId, uuid: &str) -> Result<Purged, DiditError> {
        if uuid.len() > 64 {
            return Err(DiditError::NotFound);
        }
        match self.find_template(tenant, uuid)? {
            Some(t) => {
                let ns = if t.kind == "session" {
                    SESSION_FACES
                } else {
                    ns::ENROLMENTS
                };
                self.erase_subject_personal_data(tenant, &t.subject, "template purged")?;
                self.store.delete(&ns, &t.key)?;
                self.store.put(&TOMBSTONES, &tenant.key(uuid), b"1", None)?;
                tracing::info!(template = %uuid, "biometric template purged");
                Ok(Purged {
                    uuid: uuid.to_owned(),
                    outcome: PurgeOutcome::Purged,
                })
            }
            None if self.store.get(&TOMBSTONES, &tenant.key(uuid))?.is_some() => Ok(Purged {
                uuid: uuid.to_owned(),
                outcome: PurgeOutcome::AlreadyPurged,
            }),
            None => Err(DiditError::NotFound),
        }
    }

    /// `POST /v3/biometric-templates/delete/` with `{"uuids": [...]}`.
    pub fn purge_templates(
        &self,
        tenant: &TenantId,
        body: &PurgeMany,
    ) -> Result<PurgedMany, DiditError> {
        if body.uuids.len() > 1000 {
            return Err(DiditError::field(
                "uuids",
                "Ensure this field has no more than 1000 elements.",
            ));
        }
        let mut results = Vec::new();
        for u in &body.uuids {
            let outcome = match self.purge_template(tenant, u) {
                Ok(p) => p.outcome,
                Err(DiditError::NotFound) => PurgeOutcome::NotFound,
                Err(e) => return Err(e),
            };
            results.push(Purged {
                uuid: u.clone(),
                outcome,
            });
        }
        Ok(PurgedMany { results })
    }
}
