//! `POST /v3/session/` (the idempotency rule, the reference face) and standalone checks saved as
//! API sessions.

use super::*;
use crate::flow::wire::{FaceMatchResult, LivenessResult, Problem};

impl Provider {
    /// Resolves the reference face: an explicit portrait wins; otherwise the stored face of
    /// `vendor_data`.
    pub(super) fn reference_face(
        &self,
        tenant: &TenantId,
        portrait: Option<&str>,
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
                    self.store.get_json(&ns::ENROLMENTS, &tenant.key(v))?;
                if let Some(r) = rec {
                    return Ok((r.template, "stored_face"));
                }
                let kept: Option<SessionFace> =
                    self.store.get_json(&SESSION_FACES, &tenant.key(v))?;
                kept.map(|f| (f.template, "stored_face"))
                    .ok_or_else(|| invalid_plain("portrait_image", NO_STORED_FACE))
            }
            None => Err(invalid_plain("portrait_image", PORTRAIT_REQUIRED)),
        }
    }

    /// `POST /v3/session/`. Returns the 201 body.
    pub fn create_session(
        &self,
        key: &ApiKeyRecord,
        req: CreateSession,
    ) -> Result<SessionCreated, DiditError> {
        let wf_id = req
            .workflow_id
            .ok_or_else(|| invalid("workflow_id", "This field is required."))?;
        let wf: Workflow = if wf_id.len() == 36 {
            workflows::get(&*self.store, &key.tenant, &wf_id)?
        } else {
            None
        }
        .ok_or_else(|| invalid_plain("workflow_id", "Invalid workflow_id."))?;
        let vendor_data = bounded("vendor_data", req.vendor_data, 255)?;
        if vendor_data
            .as_deref()
            .is_some_and(|v| !crate::tenant::check_subject(v))
        {
            return Err(invalid(
                "vendor_data",
                "Control characters are not allowed in this field.",
            ));
        }
        let callback = bounded("callback", req.callback, 2048)?;
        if let Some(c) = &callback {
            check_callback(c)?;
        }
        let callback_method = req.callback_method.unwrap_or_default().as_str().to_owned();
        let language = bounded("language", req.language, 8)?;
        if let Some(l) = &language
            && !LANGUAGES.contains(&l.as_str())
        {
            return Err(invalid(
                "language",
                format!("\"{l}\" is not a valid choice."),
            ));
        }
        let metadata = req.metadata.filter(|v| !v.is_null());
        for (f, size) in [
            ("metadata", metadata.as_ref().map(json_size)),
            (
                "contact_details",
                req.contact_details.as_ref().map(json_size),
            ),
            (
                "expected_details",
                req.expected_details.as_ref().map(json_size),
            ),
        ] {
            if size.is_some_and(|n| n > MAX_DETAILS_BYTES) {
                return Err(invalid(
                    f,
                    format!(
                        "Ensure this field has no more than {MAX_DETAILS_BYTES} bytes of JSON."
                    ),
                ));
            }
        }
        let contact_details = req.contact_details;
        let expected_details = req.expected_details;
        let given =
            |m: &serde_json::Map<String, Value>, k: &str| m.get(k).is_some_and(|v| !v.is_null());
        if let Some(e) = &expected_details
            && given(e, "address")
            && !given(e, "country")
            && !given(e, "poa_country")
        {
            return Err(DiditError::Invalid(Problems::one(
                "expected_details",
                Problem::Nested(Problems::field(
                    "address",
                    "An address needs its country (country or poa_country).",
                )),
            )));
        }
        if req.sandbox_scenario.is_some_and(|v| !v.is_null()) {
            return Err(invalid(
                "sandbox_scenario",
                "This field is only accepted with sandbox API keys.",
            ));
        }
        let portrait = req.portrait_image.as_deref();
        let now = self.now();

        // Idempotency: the same user with an unfinished session of this workflow version.
        if let Some(v) = &vendor_data
            && let Some(id) = self.store.get(&BY_VENDOR, &format!("{wf_id}:{v}"))?
            && let Some(mut s) = self
                .store
                .get_json::<Session>(&SESSIONS, &String::from_utf8_lossy(&id))?
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
                self.save_with_event(&mut s, WebhookType::DataUpdated)?;
            }
            return Ok(self.session_created(&s));
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
            session_type: SessionType::Hosted,
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
            .put(&TOKENS, &s.session_token, s.session_id.as_bytes(), None)?;
        self.save_with_event(&mut s, WebhookType::StatusUpdated)?;
        Ok(self.session_created(&s))
    }

    /// Saves a standalone face match as an API-type session (`save_api_request=true`) and
    /// fires its `status.updated`. `request_id` becomes the session id.
    pub fn save_face_match_session(
        &self,
        key: &ApiKeyRecord,
        r: &FaceMatchResult,
    ) -> Result<(), DiditError> {
        let b = &r.face_match;
        let check = FaceMatchCheck {
            node_id: FACE_MATCH_NODE.into(),
            status: feature_status(b.status),
            score: b.score,
            source_image_session_id: None,
            source_image: None,
            target_image: None,
            warnings: b.warnings.clone(),
        };
        let saved = SavedCheck {
            request_id: &r.request_id,
            vendor_data: r.vendor_data.clone(),
            metadata: r.metadata.clone(),
        };
        self.save_api_session(key, saved, Checked::FaceMatch(check))
    }

    /// Saves a standalone passive liveness check as an API-type session.
    pub fn save_liveness_session(
        &self,
        key: &ApiKeyRecord,
        r: &LivenessResult,
    ) -> Result<(), DiditError> {
        let b = &r.liveness;
        let check = LivenessCheck {
            node_id: LIVENESS_NODE.into(),
            status: feature_status(b.status),
            // A standalone check is one uploaded image: PASSIVE, and said so.
            method: crate::biometric::capture::LivenessMethod::Passive,
            score: b.score,
            reference_image: None,
            video_url: None,
            age_estimation: None,
            matches: Default::default(),
            warnings: b.warnings.clone(),
            face_quality: b.face_quality,
            face_luminance: b.face_luminance,
        };
        let saved = SavedCheck {
            request_id: &r.request_id,
            vendor_data: r.vendor_data.clone(),
            metadata: r.metadata.clone(),
        };
        self.save_api_session(key, saved, Checked::Liveness(check))
    }

    fn save_api_session(
        &self,
        key: &ApiKeyRecord,
        saved: SavedCheck<'_>,
        check: Checked,
    ) -> Result<(), DiditError> {
        let now = self.now();
        let face_match = matches!(check, Checked::FaceMatch(_));
        let (status, score) = match &check {
            Checked::Liveness(c) => (c.status, c.score),
            Checked::FaceMatch(c) => (c.status, c.score),
        };
        let approved = status == FeatureStatus::Approved;
        let (liveness_checks, face_matches) = match check {
            Checked::Liveness(c) => (Some(vec![c]), None),
            Checked::FaceMatch(c) => (None, Some(vec![c])),
        };
        let session_number = self.next_session_number(&key.tenant)?;
        let mut s = Session {
            session_id: saved.request_id.to_owned(),
            session_number,
            session_token: session_token(),
            workflow_id: String::new(),
            workflow_version: 0,
            rules: Rules {
                liveness_method: crate::biometric::capture::LivenessMethod::Passive,
                liveness: !face_match,
                face_match,
                liveness_decline: 0.0,
                liveness_review: 0.0,
                face_match_decline: 0.0,
                face_match_review: 0.0,
                multiple_faces_action: Action::NoAction,
                face_match_not_computed_action: Action::Decline,
                face_liveness_max_attempts: 1,
                face_match_max_attempts: 1,
            },
            features: vec![if face_match {
                Feature::FaceMatch
            } else {
                Feature::Liveness
            }],
            vendor_data: saved.vendor_data,
            metadata: saved.metadata,
            callback: None,
            callback_method: "initiator".into(),
            language: None,
            contact_details: None,
            expected_details: None,
            status: SessionStatus::NotStarted,
            session_type: SessionType::Api,
            api_service: Some(
                if face_match {
                    "FACE_MATCH"
                } else {
                    "PASSIVE_LIVENESS"
                }
                .into(),
            ),
            reference: None,
            reference_source: None,
            liveness_checks,
            face_matches,
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
        if face_match {
            v.face_match_score = score;
        } else {
            v.liveness_score = score;
            v.liveness_method = Some("PASSIVE".into());
        }
        v.reasons = s.risks();
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

/// What a saved standalone check keeps besides its block.
struct SavedCheck<'a> {
    request_id: &'a str,
    vendor_data: Option<String>,
    metadata: Option<Value>,
}

/// The block a saved standalone check becomes.
enum Checked {
    Liveness(LivenessCheck),
    FaceMatch(FaceMatchCheck),
}

fn feature_status(s: crate::biometric::score::Status) -> FeatureStatus {
    match s {
        crate::biometric::score::Status::Approved => FeatureStatus::Approved,
        crate::biometric::score::Status::Declined => FeatureStatus::Declined,
    }
}

/// Bytes of a caller's JSON (the bound on free-form fields).
fn json_size<T: serde::Serialize>(v: &T) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX, |x| x.len())
}
