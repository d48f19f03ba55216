//! `/v3/biometric-templates/`: the stored faces (image-free templates) behind face matching,
//! listed, counted, read and purged. They are the same records the OpenID enrolment and the
//! enrolment API write, so a purge here is an erasure everywhere.

use serde_json::{Value, json};

use super::Provider;
use super::capture::EnrolmentRecord;
use super::didit::{DiditError, iso8601};
use super::ns;
use super::sessions::{SESSION_FACES, SessionFace, template_uuid};
use crate::store::typed::KvJson;
use crate::tenant::TenantId;

const TOMBSTONES: &str = "template_tombstones";

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

    fn source_type(&self) -> &'static str {
        if self.kind == "session" {
            "automatic_retention"
        } else {
            "backfill"
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "uuid": self.uuid(),
            "vendor_data": self.subject,
            "vendor_user_uuid": null,
            "status": "active",
            "source_type": self.source_type(),
            "source": self.source,
            "enrolled_by": self.by,
            "model": self.template.model.name,
            "face_quality": crate::biometric::score::round2(f64::from(self.template.quality.face_quality)),
            "retained_at": iso8601(self.at),
            "created_at": iso8601(self.at),
            "expires_at": null,
        })
    }
}

impl Provider {
    /// The stored faces of `tenant`.
    fn all_templates(&self, tenant: &TenantId) -> Result<Vec<Stored>, DiditError> {
        let mut v = Vec::new();
        for k in self.store.keys(ns::ENROLMENTS)? {
            let Some(subject) = tenant.owns(&k).map(str::to_owned) else {
                continue;
            };
            if let Some(r) = self.store.get_json::<EnrolmentRecord>(ns::ENROLMENTS, &k)? {
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
        for k in self.store.keys(SESSION_FACES)? {
            let Some(subject) = tenant.owns(&k).map(str::to_owned) else {
                continue;
            };
            if let Some(f) = self.store.get_json::<SessionFace>(SESSION_FACES, &k)? {
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
        query: &[(String, String)],
    ) -> Result<Vec<Stored>, DiditError> {
        let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if let Some(st) = q("status")
            && ![
                "pending",
                "active",
                "expired",
                "held_out_of_use",
                "purge_pending",
                "purge_failed",
            ]
            .contains(&st)
        {
            return Err(DiditError::field(
                "status",
                format!("\"{st}\" is not a valid choice."),
            ));
        }
        let dates = super::didit::DateRange::parse(
            q("retained_from"),
            q("retained_to"),
            ["retained_from", "retained_to"],
        )?;
        let mut v: Vec<_> = self
            .all_templates(tenant)?
            .into_iter()
            .filter(|t| {
                q("vendor_data").is_none_or(|x| x == t.subject)
                    && q("status").is_none_or(|x| x == "active")
                    && q("source_type").is_none_or(|x| x == t.source_type())
                    && dates.contains_secs(t.at)
            })
            .collect();
        match q("ordering") {
            Some("created_at") | Some("retained_at") => v.sort_by_key(|t| t.at),
            _ => v.sort_by_key(|t| std::cmp::Reverse(t.at)),
        }
        Ok(v)
    }

    /// `GET /v3/biometric-templates/`.
    pub fn list_templates(
        &self,
        tenant: &TenantId,
        query: &[(String, String)],
    ) -> Result<Value, DiditError> {
        let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let num = |k: &str, d: usize| -> Result<usize, DiditError> {
            q(k).map_or(Ok(d), |v| {
                v.parse()
                    .map_err(|_| DiditError::field(k, "A valid integer is required."))
            })
        };
        let (limit, offset) = (num("limit", 50)?.clamp(1, 1000), num("offset", 0)?);
        let v = self.filtered_templates(tenant, query)?;
        let results: Vec<Value> = v
            .iter()
            .skip(offset)
            .take(limit)
            .map(Stored::to_json)
            .collect();
        Ok(json!({
            "count": v.len(),
            "next": null,
            "previous": null,
            "results": results,
        }))
    }

    /// `GET /v3/biometric-templates/count/`.
    pub fn count_templates(
        &self,
        tenant: &TenantId,
        query: &[(String, String)],
    ) -> Result<Value, DiditError> {
        Ok(json!({ "count": self.filtered_templates(tenant, query)?.len() }))
    }

    fn find_template(&self, tenant: &TenantId, uuid: &str) -> Result<Option<Stored>, DiditError> {
        Ok(self
            .all_templates(tenant)?
            .into_iter()
            .find(|t| t.uuid() == uuid))
    }

    /// `GET /v3/biometric-templates/{uuid}/`.
    pub fn get_template(&self, tenant: &TenantId, uuid: &str) -> Result<Value, DiditError> {
        Ok(self
            .find_template(tenant, uuid)?
            .ok_or(DiditError::NotFound)?
            .to_json())
    }

    /// `DELETE /v3/biometric-templates/{uuid}/`: purges the template (crypto-free erasure: the
    /// record is deleted from the store and its log compacts away).
    pub fn purge_template(&self, tenant: &TenantId, uuid: &str) -> Result<Value, DiditError> {
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
                self.store.delete(ns, &t.key)?;
                self.store.put(TOMBSTONES, &tenant.key(uuid), b"1", None)?;
                tracing::info!(template = %uuid, "biometric template purged");
                Ok(json!({ "uuid": uuid, "outcome": "purged" }))
            }
            None if self.store.get(TOMBSTONES, &tenant.key(uuid))?.is_some() => {
                Ok(json!({ "uuid": uuid, "outcome": "already_purged" }))
            }
            None => Err(DiditError::NotFound),
        }
    }

    /// `POST /v3/biometric-templates/delete/` with `{"uuids": [...]}`.
    pub fn purge_templates(&self, tenant: &TenantId, body: &Value) -> Result<Value, DiditError> {
        let uuids = body
            .get("uuids")
            .and_then(Value::as_array)
            .ok_or_else(|| DiditError::field("uuids", "This field is required."))?;
        if uuids.len() > 1000 {
            return Err(DiditError::field(
                "uuids",
                "Ensure this field has no more than 1000 elements.",
            ));
        }
        let mut results = Vec::new();
        for u in uuids {
            let u = u.as_str().unwrap_or_default();
            let outcome = match self.purge_template(tenant, u) {
                Ok(v) => v["outcome"].clone(),
                Err(DiditError::NotFound) => json!("not_found"),
                Err(e) => return Err(e),
            };
            results.push(json!({ "uuid": u, "outcome": outcome }));
        }
        Ok(json!({ "results": results }))
    }
}
