//! `/v3/biometric-templates/`: the stored faces (image-free templates) behind face matching,
//! listed, counted, read and purged. They are the same records the OpenID enrolment and the
//! enrolment API write, so a purge here is an erasure everywhere.

use serde_json::{Value, json};

use super::Provider;
use super::capture::EnrolmentRecord;
use super::didit::{DiditError, iso8601};
use super::ns;
use super::sessions::template_uuid;
use crate::store::typed::KvJson;

const TOMBSTONES: &str = "template_tombstones";

fn source_type(r: &EnrolmentRecord) -> &'static str {
    match r.source.as_str() {
        "session" => "automatic_retention",
        _ => "backfill",
    }
}

fn to_json(subject: &str, r: &EnrolmentRecord) -> Value {
    json!({
        "uuid": template_uuid(subject, r),
        "vendor_data": subject,
        "vendor_user_uuid": null,
        "status": "active",
        "source_type": source_type(r),
        "source": r.source,
        "enrolled_by": r.by,
        "model": r.template.model.name,
        "face_quality": crate::biometric::score::round2(f64::from(r.template.quality.face_quality)),
        "retained_at": iso8601(r.enrolled_at),
        "created_at": iso8601(r.enrolled_at),
        "expires_at": null,
    })
}

impl Provider {
    fn all_templates(&self) -> Result<Vec<(String, EnrolmentRecord)>, DiditError> {
        let mut v = Vec::new();
        for k in self.store.keys(ns::ENROLMENTS)? {
            if let Some(r) = self.store.get_json::<EnrolmentRecord>(ns::ENROLMENTS, &k)? {
                v.push((k, r));
            }
        }
        Ok(v)
    }

    fn filtered_templates(
        &self,
        query: &[(String, String)],
    ) -> Result<Vec<(String, EnrolmentRecord)>, DiditError> {
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
        let date = |k: &str| -> Result<Option<i64>, DiditError> {
            q(k).map(|d| {
                super::sessions::parse_date(d)
                    .ok_or_else(|| DiditError::field(k, "Date has wrong format. Use YYYY-MM-DD."))
            })
            .transpose()
        };
        let (from, to) = (date("retained_from")?, date("retained_to")?);
        let mut v: Vec<_> = self
            .all_templates()?
            .into_iter()
            .filter(|(s, r)| {
                q("vendor_data").is_none_or(|x| x == s)
                    && q("status").is_none_or(|x| x == "active")
                    && q("source_type").is_none_or(|x| x == source_type(r))
                    && from.is_none_or(|f| r.enrolled_at >= f)
                    && to.is_none_or(|t| r.enrolled_at < t + 86_400)
            })
            .collect();
        match q("ordering") {
            Some("created_at") | Some("retained_at") => v.sort_by_key(|(_, r)| r.enrolled_at),
            _ => v.sort_by_key(|(_, r)| std::cmp::Reverse(r.enrolled_at)),
        }
        Ok(v)
    }

    /// `GET /v3/biometric-templates/`.
    pub fn list_templates(&self, query: &[(String, String)]) -> Result<Value, DiditError> {
        let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let num = |k: &str, d: usize| -> Result<usize, DiditError> {
            q(k).map_or(Ok(d), |v| {
                v.parse()
                    .map_err(|_| DiditError::field(k, "A valid integer is required."))
            })
        };
        let (limit, offset) = (num("limit", 50)?.clamp(1, 1000), num("offset", 0)?);
        let v = self.filtered_templates(query)?;
        let results: Vec<Value> = v
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(s, r)| to_json(s, r))
            .collect();
        Ok(json!({
            "count": v.len(),
            "next": null,
            "previous": null,
            "results": results,
        }))
    }

    /// `GET /v3/biometric-templates/count/`.
    pub fn count_templates(&self, query: &[(String, String)]) -> Result<Value, DiditError> {
        Ok(json!({ "count": self.filtered_templates(query)?.len() }))
    }

    fn find_template(&self, uuid: &str) -> Result<Option<(String, EnrolmentRecord)>, DiditError> {
        Ok(self
            .all_templates()?
            .into_iter()
            .find(|(s, r)| template_uuid(s, r) == uuid))
    }

    /// `GET /v3/biometric-templates/{uuid}/`.
    pub fn get_template(&self, uuid: &str) -> Result<Value, DiditError> {
        let (s, r) = self.find_template(uuid)?.ok_or(DiditError::NotFound)?;
        Ok(to_json(&s, &r))
    }

    /// `DELETE /v3/biometric-templates/{uuid}/`: purges the template (crypto-free erasure: the
    /// record is deleted from the store and its log compacts away).
    pub fn purge_template(&self, uuid: &str) -> Result<Value, DiditError> {
        if uuid.len() > 64 {
            return Err(DiditError::NotFound);
        }
        match self.find_template(uuid)? {
            Some((s, _)) => {
                self.store.delete(ns::ENROLMENTS, &s)?;
                self.store.put(TOMBSTONES, uuid, b"1", None)?;
                tracing::info!(template = %uuid, "biometric template purged");
                Ok(json!({ "uuid": uuid, "outcome": "purged" }))
            }
            None if self.store.get(TOMBSTONES, uuid)?.is_some() => {
                Ok(json!({ "uuid": uuid, "outcome": "already_purged" }))
            }
            None => Err(DiditError::NotFound),
        }
    }

    /// `POST /v3/biometric-templates/delete/` with `{"uuids": [...]}`.
    pub fn purge_templates(&self, body: &Value) -> Result<Value, DiditError> {
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
            let outcome = match self.purge_template(u) {
                Ok(v) => v["outcome"].clone(),
                Err(DiditError::NotFound) => json!("not_found"),
                Err(e) => return Err(e),
            };
            results.push(json!({ "uuid": u, "outcome": outcome }));
        }
        Ok(json!({ "results": results }))
    }
}
