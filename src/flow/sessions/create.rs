//! `POST /v3/session/` (the idempotency rule, the reference face) and standalone checks saved as
//! API sessions.

use super::*;

impl Provider {
    /// Resolves the reference face: an explicit portrait wins; otherwise the stored face of
    /// `vendor_data`.
    pub(super) fn reference_face(
        &self,
        tenant: &TenantId,
        portrait: Option<&Value>,
        vendor_data: Option<&str>,
    ) -> Result<(Template, &'static str), DiditError> {
        if let Some(p) = portrait {
            let bytes = decode_portrait(p)?;
            let (enrolment, analysis) = self.engine.enrol(&bytes).map_err(|e| {
                if e.is_client_error() {
                    invalid("portrait_image", NOT_AN_IMAGE)
                } else {
                    tracing::error!(error = %e, "portrait analysis failed");
                    DiditError::Unavailable("the biometric engine failed".into())
                }
            })?;
            return match enrolment {
                Enrolment::Enrolled(t) => Ok((t, "portrait_image")),
                Enrolment::Refused(_) if analysis.face.is_none() => Err(invalid(
                    "portrait_image",
                    "No face was detected in the portrait image.",
                )),
                Enrolment::Refused(risks) => {
                    // A usable face that misses enrolment quality still serves as reference.
                    self.engine
                        .template_from(&analysis)
                        .map(|t| (t, "portrait_image"))
                        .ok_or_else(|| {
                            invalid(
                                "portrait_image",
                                format!(
                                    "The portrait cannot be used as a reference face ({risks:?})."
                                ),
                            )
                        })
                }
            };
        }
        match vendor_data {
            Some(v) => {
                let rec: Option<EnrolmentRecord> =
                    self.store.get_json(ns::ENROLMENTS, &tenant.key(v))?;
                if let Some(r) = rec {
                    return Ok((r.template, "stored_face"));
                }
                let kept: Option<SessionFace> =
                    self.store.get_json(SESSION_FACES, &tenant.key(v))?;
                kept.map(|f| (f.template, "stored_face"))
                    .ok_or_else(|| invalid_plain("portrait_image", NO_STORED_FACE))
            }
            None => Err(invalid_plain("portrait_image", PORTRAIT_REQUIRED)),
        }
    }

    /// `POST /v3/session/`. Returns the 201 body.
    pub fn create_session(&self, key: &ApiKeyRecord, body: &Value) -> Result<Value, DiditError> {
        let b = body
            .as_object()
            .ok_or_else(|| DiditError::Invalid(json!({"detail": "Expected a JSON object."})))?;
        let wf_id = match b.get("workflow_id") {
            None | Some(Value::Null) => {
                return Err(invalid("workflow_id", "This field is required."));
            }
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(invalid_plain("workflow_id", "Invalid workflow_id.")),
        };
        let wf: Workflow = if wf_id.len() == 36 {
            workflows::get(&*self.store, &key.tenant, &wf_id)?
        } else {
            None
        }
        .ok_or_else(|| invalid_plain("workflow_id", "Invalid workflow_id."))?;
        let vendor_data = opt_string(b, "vendor_data", 255)?;
        if vendor_data
            .as_deref()
            .is_some_and(|v| !crate::tenant::check_subject(v))
        {
            return Err(invalid(
                "vendor_data",
                "Control characters are not allowed in this field.",
            ));
        }
        let callback = opt_string(b, "callback", 2048)?;
        if let Some(c) = &callback {
            check_callback(c)?;
        }
        let callback_method =
            opt_string(b, "callback_method", 16)?.unwrap_or_else(|| "initiator".into());
        if !["initiator", "completer", "both"].contains(&callback_method.as_str()) {
            return Err(invalid(
                "callback_method",
                format!("\"{callback_method}\" is not a valid choice."),
            ));
        }
        let language = opt_string(b, "language", 8)?;
        if let Some(l) = &language
            && !LANGUAGES.contains(&l.as_str())
        {
            return Err(invalid(
                "language",
                format!("\"{l}\" is not a valid choice."),
            ));
        }
        for f in ["metadata", "contact_details", "expected_details"] {
            if let Some(v) = b.get(f)
                && serde_json::to_vec(v).map_or(0, |x| x.len()) > MAX_DETAILS_BYTES
            {
                return Err(invalid(
                    f,
                    format!(
                        "Ensure this field has no more than {MAX_DETAILS_BYTES} bytes of JSON."
                    ),
                ));
            }
        }
        let contact_details = opt_object(b, "contact_details")?;
        let expected_details = opt_object(b, "expected_details")?;
        if let Some(e) = &expected_details
            && e.get("address").is_some_and(|a| !a.is_null())
            && e.get("country").is_none_or(Value::is_null)
            && e.get("poa_country").is_none_or(Value::is_null)
        {
            return Err(DiditError::Invalid(json!({"expected_details": {
                "address": ["An address needs its country (country or poa_country)."]
            }})));
        }
        if b.get("sandbox_scenario").is_some_and(|v| !v.is_null()) {
            return Err(invalid(
                "sandbox_scenario",
                "This field is only accepted with sandbox API keys.",
            ));
        }
        let metadata = b.get("metadata").filter(|v| !v.is_null()).cloned();
        let portrait = b.get("portrait_image").filter(|v| !v.is_null());
        let now = self.now();

        // Idempotency: the same user with an unfinished session of this workflow version.
        if let Some(v) = &vendor_data
            && let Some(id) = self.store.get(BY_VENDOR, &format!("{wf_id}:{v}"))?
            && let Some(mut s) = self
                .store
                .get_json::<Session>(SESSIONS, &String::from_utf8_lossy(&id))?
            && s.status.is_unfinished()
            && s.workflow_version == wf.version
            && s.expires_at.is_none_or(|e| e > now)
        {
            let mut changed = false;
            if callback.is_some() && callback != s.callback {
                s.callback = callback;
                changed = true;
            }
            if metadata.is_some() && metadata != s.metadata {
                s.metadata = metadata;
                changed = true;
            }
            if wf.rules.face_match && portrait.is_some() {
                let (t, src) = self.reference_face(&key.tenant, portrait, Some(v))?;
                s.reference = Some(t);
                s.reference_source = Some(src.into());
                changed = true;
            }
            if changed {
                s.updated_at = now;
                self.save_with_event(&mut s, "data.updated")?;
            }
            return Ok(self.session_created_json(&s));
        }

        let (reference, reference_source) = if wf.rules.face_match {
            let (t, src) = self.reference_face(&key.tenant, portrait, vendor_data.as_deref())?;
            (Some(t), Some(src.to_owned()))
        } else {
            (None, None)
        };
        let session_number = self.next_session_number(&key.tenant)?;
        let mut s = Session {
            session_id: uuid_v4(),
            session_number,
            session_token: session_token(),
            workflow_id: wf.uuid.clone(),
            workflow_version: wf.version,
            rules: wf.rules.clone(),
            features: wf.feature_names(),
            vendor_data,
            metadata,
            callback,
            callback_method,
            language,
            contact_details,
            expected_details,
            status: SessionStatus::NotStarted,
            session_type: "HOSTED".into(),
            api_service: None,
            reference,
            reference_source,
            liveness_checks: None,
            face_matches: None,
            reviews: Vec::new(),
            attempts: 0,
            flow_id: None,
            api_key_id: key.id.clone(),
            created_at: now,
            updated_at: now,
            last_activity_at: now,
            expires_at: Some(now + wf.session_expiration_time as i64),
            events: 0,
            tenant: key.tenant.clone(),
        };
        self.store
            .put(TOKENS, &s.session_token, s.session_id.as_bytes(), None)?;
        self.save_with_event(&mut s, "status.updated")?;
        Ok(self.session_created_json(&s))
    }

    /// Saves a standalone check as an API-type session (`save_api_request=true`) and fires its
    /// `status.updated`. `request_id` becomes the session id.
    pub fn save_api_session(
        &self,
        key: &ApiKeyRecord,
        api_service: &str,
        response: &Value,
        vendor_data: Option<String>,
        metadata: Option<Value>,
    ) -> Result<(), DiditError> {
        let now = self.now();
        let (block_key, feature) = if api_service == "FACE_MATCH" {
            ("face_match", "FACE_MATCH")
        } else {
            ("liveness", "LIVENESS")
        };
        let block = &response[block_key];
        let approved = block["status"] == "Approved";
        let mut b = block.clone();
        if let Some(o) = b.as_object_mut() {
            o.remove("user_image");
            o.remove("ref_image");
            o.insert(
                "node_id".into(),
                json!(if feature == "FACE_MATCH" {
                    FACE_MATCH_NODE
                } else {
                    LIVENESS_NODE
                }),
            );
        }
        let id = response["request_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let session_number = self.next_session_number(&key.tenant)?;
        let mut s = Session {
            session_id: id,
            session_number,
            session_token: session_token(),
            workflow_id: String::new(),
            workflow_version: 0,
            rules: Rules {
                // A standalone check is one uploaded image: PASSIVE, and said so.
                liveness_method: crate::biometric::capture::LivenessMethod::Passive,
                liveness: feature == "LIVENESS",
                face_match: feature == "FACE_MATCH",
                liveness_decline: 0.0,
                liveness_review: 0.0,
                face_match_decline: 0.0,
                face_match_review: 0.0,
                multiple_faces_action: Action::NoAction,
                face_match_not_computed_action: Action::Decline,
                face_liveness_max_attempts: 1,
                face_match_max_attempts: 1,
            },
            features: vec![feature.into()],
            vendor_data,
            metadata,
            callback: None,
            callback_method: "initiator".into(),
            language: None,
            contact_details: None,
            expected_details: None,
            status: SessionStatus::NotStarted,
            session_type: "API".into(),
            api_service: Some(
                if feature == "FACE_MATCH" {
                    "FACE_MATCH"
                } else {
                    "PASSIVE_LIVENESS"
                }
                .into(),
            ),
            reference: None,
            reference_source: None,
            liveness_checks: (feature == "LIVENESS").then(|| vec![b.clone()]),
            face_matches: (feature == "FACE_MATCH").then(|| vec![b.clone()]),
            reviews: Vec::new(),
            attempts: 1,
            flow_id: None,
            api_key_id: key.id.clone(),
            created_at: now,
            updated_at: now,
            last_activity_at: now,
            expires_at: None,
            events: 0,
            tenant: key.tenant.clone(),
        };
        let mut v = self.new_verdict(
            Channel::Api,
            if approved { "Approved" } else { "Declined" },
            format!("api-key:{}", key.id),
            &key.tenant,
        );
        v.subject = s.vendor_data.clone();
        v.session_id = Some(s.session_id.clone());
        v.attempt = 1;
        if feature == "FACE_MATCH" {
            v.face_match_score = b["score"].as_f64();
        } else {
            v.liveness_score = b["score"].as_f64();
        }
        v.reasons = s.risks();
        if feature != "FACE_MATCH" {
            v.liveness_method = Some("PASSIVE".into());
        }
        self.record_verdict(v, None, &[])?;
        self.set_status(
            &mut s,
            if approved {
                SessionStatus::Approved
            } else {
                SessionStatus::Declined
            },
        )?;
        Ok(())
    }
}
