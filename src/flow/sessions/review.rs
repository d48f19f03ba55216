//! Deletion (single and bulk, with face retention) and manual review (`update-status`).

use super::*;

impl Provider {
    /// `DELETE /v3/session/{id}/delete/`.
    pub fn delete_session(
        &self,
        tenant: &TenantId,
        id: &str,
        body: &Value,
    ) -> Result<Value, DiditError> {
        let s = self.get_session(tenant, id)?;
        let b = body.as_object().cloned().unwrap_or_default();
        let retain = match b.get("retain_face_embeddings") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(x)) => *x,
            Some(_) => {
                return Err(invalid(
                    "retain_face_embeddings",
                    "Must be a valid boolean.",
                ));
            }
        };
        if let Some(d) = b.get("face_retention_days").filter(|v| !v.is_null()) {
            let n = d.as_i64().unwrap_or(0);
            if !(1..=3650).contains(&n) {
                return Err(invalid(
                    "face_retention_days",
                    "Ensure this value is between 1 and 3650.",
                ));
            }
        }
        let instruction = b.get("deletion_instruction").and_then(Value::as_str);
        if let Some(i) = instruction
            && i != "operational_session_delete"
            && i != "privacy_erasure"
        {
            return Err(invalid(
                "deletion_instruction",
                format!("\"{i}\" is not a valid choice."),
            ));
        }
        let enrolled: Option<EnrolmentRecord> = match &s.vendor_data {
            Some(v) => self.store.get_json(ns::ENROLMENTS, &tenant.key(v))?,
            None => None,
        };
        let kept: Option<SessionFace> = match &s.vendor_data {
            Some(v) => self.store.get_json(SESSION_FACES, &tenant.key(v))?,
            None => None,
        };
        let kept_here = kept.as_ref().is_some_and(|f| f.session_id == s.session_id);
        let (outcome, template) = if retain && instruction != Some("privacy_erasure") {
            match (&s.vendor_data, &enrolled, &kept) {
                (None, _, _) => ("ineligible_no_vendor_user", None),
                (Some(v), Some(r), _) => (
                    "retained_with_user",
                    Some(template_uuid("enrolment", &tenant.key(v), r.enrolled_at)),
                ),
                (Some(v), None, Some(f)) => (
                    "retained_with_user",
                    Some(template_uuid("session", &tenant.key(v), f.kept_at)),
                ),
                (Some(_), None, None) => ("none", None),
            }
        } else if s.reference.is_some() || kept_here {
            if kept_here && let Some(v) = &s.vendor_data {
                self.store.delete(SESSION_FACES, &tenant.key(v))?;
            }
            ("deleted", None)
        } else {
            ("none", None)
        };
        if let Some(f) = &s.flow_id {
            self.store.delete(ns::FLOWS, f)?;
        }
        self.store.delete(TOKENS, &s.session_token)?;
        self.close_indexes(&s)?;
        self.store.delete(SESSIONS, &s.session_id)?;
        tracing::info!(session = %s.session_id, outcome, "session deleted");
        Ok(json!({
            "session_id": s.session_id,
            "session_number": s.session_number,
            "face_retention_outcome": outcome,
            "biometric_template_uuid": template,
        }))
    }

    /// `POST /v3/sessions/delete/`: by `session_numbers` (digit strings or numbers) or
    /// `delete_all`; the same retention fields as the single delete.
    pub fn delete_sessions(&self, tenant: &TenantId, body: &Value) -> Result<Value, DiditError> {
        let b = body
            .as_object()
            .ok_or_else(|| DiditError::Invalid(json!({"detail": "Expected a JSON object."})))?;
        let all = b.get("delete_all") == Some(&Value::Bool(true));
        let wanted: Option<Vec<i64>> = match b.get("session_numbers") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) if a.len() <= 1000 => Some(
                a.iter()
                    .map(|n| match n {
                        Value::String(x) => x.parse().ok(),
                        Value::Number(x) => x.as_i64(),
                        _ => None,
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
        for k in self.store.keys(SESSIONS)? {
            if let Some(s) = self.store.get_json::<Session>(SESSIONS, &k)?
                && &s.tenant == tenant
                && (all
                    || wanted
                        .as_ref()
                        .is_some_and(|w| w.contains(&s.session_number)))
            {
                ids.push(s.session_id);
            }
        }
        let mut per = b.clone();
        per.remove("session_numbers");
        per.remove("delete_all");
        let per = Value::Object(per);
        let mut results = Vec::new();
        for id in ids {
            results.push(self.delete_session(tenant, &id, &per)?);
        }
        Ok(json!({ "results": results }))
    }

    /// `PATCH /v3/session/{id}/update-status/` (manual review through the API).
    pub fn update_session_status(
        &self,
        key: &ApiKeyRecord,
        id: &str,
        body: &Value,
    ) -> Result<Value, DiditError> {
        let b = body
            .as_object()
            .ok_or_else(|| DiditError::Invalid(json!({"detail": "Expected a JSON object."})))?;
        let new = match b.get("new_status").and_then(Value::as_str) {
            None => return Err(invalid("new_status", "This field is required.")),
            Some(x @ ("Approved" | "Declined" | "Resubmitted")) => {
                SessionStatus::parse(x).expect("known status")
            }
            Some(x) => {
                return Err(invalid(
                    "new_status",
                    format!("\"{x}\" is not a valid choice."),
                ));
            }
        };
        let comment = opt_string(b, "comment", 2000)?;
        if let Some(nodes) = b.get("nodes_to_resubmit").filter(|v| !v.is_null()) {
            let arr = nodes
                .as_array()
                .ok_or_else(|| invalid("nodes_to_resubmit", "Expected a list of items."))?;
            for n in arr {
                let ok = n.get("node_id").and_then(Value::as_str).is_some()
                    && n.get("feature")
                        .and_then(Value::as_str)
                        .is_some_and(|f| FEATURE_ENUM.contains(&f));
                if !ok {
                    return Err(invalid(
                        "nodes_to_resubmit",
                        "Each item needs a node_id and a valid feature.",
                    ));
                }
            }
        }
        if b.get("send_email") == Some(&Value::Bool(true)) {
            if b.get("email_address").is_none_or(Value::is_null) {
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
        let mut s = self.get_session(&key.tenant, id)?;
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
            return Err(DiditError::Invalid(json!({"detail": format!(
                "The status of a session that is \"{}\" cannot be changed.", s.status.as_str()
            )})));
        }
        if new == SessionStatus::Resubmitted && s.session_type == "API" {
            return Err(DiditError::Invalid(json!({"detail":
                "A saved standalone check has no hosted capture to redo; create a session instead."
            })));
        }
        if s.status == new {
            return Err(invalid(
                "new_status",
                format!("The session is already \"{}\".", new.as_str()),
            ));
        }
        let now = self.now();
        s.reviews.push(json!({
            "user": "API Client",
            "new_status": new.as_str(),
            "comment": comment,
            "created_at": iso8601(now),
        }));
        if new == SessionStatus::Resubmitted {
            s.attempts = 0;
            s.expires_at = Some(s.expires_at.unwrap_or(now).max(now + 3600));
            self.store
                .put(TOKENS, &s.session_token, s.session_id.as_bytes(), None)?;
        }
        let mut v = self.new_verdict(
            Channel::Review,
            new.as_str(),
            format!("api-key:{}", key.id),
            &key.tenant,
        );
        v.subject = s.vendor_data.clone();
        v.session_id = Some(s.session_id.clone());
        v.workflow_id = Some(s.workflow_id.clone());
        v.workflow_version = Some(s.workflow_version);
        v.attempt = s.attempts;
        v.reasons = vec![format!("MANUAL_REVIEW:{}", s.status.as_str())];
        self.record_verdict(v, None, &[])?;
        self.set_status(&mut s, new)?;
        Ok(json!({"session_id": s.session_id}))
    }
}
