//! The hosted link: the start page, the capture flow it opens (the same page and engine as the
//! OpenID flow), and judging its capture into the session's verdict.

use super::*;
use crate::flow::error::FlowError;
use crate::protocol::values::Subject;

impl Provider {
    /// The session behind a hosted link (moved to Expired when its time is up), without
    /// starting anything: what `GET` on the link shows.
    pub fn hosted_session(&self, token: &str) -> Result<Session, DiditError> {
        if token.len() > 32 {
            return Err(DiditError::NotFound);
        }
        let id = self
            .store
            .get(&TOKENS, token)?
            .ok_or(DiditError::NotFound)?;
        let mut s = self
            .load_session(&String::from_utf8_lossy(&id))?
            .ok_or(DiditError::NotFound)?;
        if s.status.is_unfinished() && s.expires_at.is_some_and(|e| e <= self.now()) {
            self.set_status(&mut s, SessionStatus::Expired)?;
        }
        Ok(s)
    }

    /// Whether the hosted link can still start a capture.
    pub fn can_capture(s: &Session) -> bool {
        s.status.is_unfinished() && s.attempts < s.rules.max_attempts()
    }

    /// The hosted link's start (`POST`): opens a capture flow bound to this browser, or says
    /// the session is done.
    pub fn open_hosted(&self, token: &str) -> Result<Hosted, DiditError> {
        let mut s = self.hosted_session(token)?;
        let now = self.now();
        let budget = s.rules.max_attempts();
        if !Self::can_capture(&s) {
            return Ok(Hosted::Done(Box::new(s)));
        }
        // vendor_data is checked as a subject when a session is created; one stored before
        // that check cannot start a capture (a permanent answer, checked before anything
        // changes).
        let subject =
            Subject::parse(s.vendor_data.as_deref().unwrap_or(&s.session_id)).map_err(|_| {
                DiditError::field(
                    "vendor_data",
                    "This session's vendor_data is not a valid subject.",
                )
            })?;
        if let Some(old) = s.flow_id.take() {
            self.store.delete(&ns::FLOWS, &old)?;
        }
        let binding_secret = random_token(24);
        let flow = Flow {
            id: random_token(18),
            origin: Origin::Session {
                session: s.session_id.clone(),
                api_key_id: s.api_key_id.clone(),
            },
            tenant: s.tenant.clone(),
            subject,
            liveness: s.rules.liveness_method,
            liveness_by: Because::Workflow,
            binding: digest(&binding_secret),
            handoff: crate::flow::device::handoff_digest(&binding_secret),
            created_at: now,
            expires_at: (now + self.cfg.oidc.flow_lifetime_secs as i64)
                .min(s.expires_at.unwrap_or(i64::MAX)),
            attempts: 0,
            max_attempts: budget - s.attempts,
            status: FlowStatus::AwaitingCapture,
            decisions: Vec::new(),
            prior: None,
        };
        self.put_flow(&flow)
            .map_err(|_| DiditError::Unavailable("storage unavailable".into()))?;
        s.flow_id = Some(flow.id.clone());
        s.last_activity_at = now;
        let status =
            if s.status == SessionStatus::NotStarted || s.status == SessionStatus::Resubmitted {
                SessionStatus::InProgress
            } else {
                s.status
            };
        self.set_status(&mut s, status)?;
        Ok(Hosted::Capture {
            flow_id: flow.id,
            binding_secret,
        })
    }

    /// Judges a hosted-session capture with the workflow's bands.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn judge_session(
        &self,
        flow: &mut Flow,
        sid: &str,
        ch: &Challenge,
        burst: &CaptureOutcome,
        frames: &[&[u8]],
        waited_ms: i64,
        ctx: &RequestContext,
    ) -> Result<CaptureResult, FlowError> {
        let proto = |e: DiditError| FlowError::Protocol(OAuthError::internal(&e));
        let mut s = self.get_session(&flow.tenant, sid).map_err(proto)?;
        if !s.status.is_unfinished() {
            return Err(FlowError::invalid_request(
                "this verification is already decided",
            ));
        }
        // Only the capture the link opened last may decide, within the session's budget.
        if s.flow_id.as_deref() != Some(flow.id.as_str()) || s.attempts >= s.rules.max_attempts() {
            return Err(FlowError::invalid_request(
                "this capture was replaced by a newer one or has no attempts left",
            ));
        }
        let now = self.now();
        let mut statuses = Vec::new();
        let mut verdict = self.new_verdict(
            Channel::Session,
            "",
            format!("api-key:{}", s.api_key_id),
            &s.tenant,
        );
        self.describe_capture(&mut verdict, flow, ch, burst, frames.len(), waited_ms);
        if !burst.protocol_ok() && !s.rules.liveness {
            // No LIVENESS feature to report it, but a capture that broke its challenge never
            // decides in the user's favour.
            statuses.push(FeatureStatus::Declined);
        }
        if s.rules.liveness {
            let (st, score, warnings) = liveness_band(burst, &s.rules);
            let q = burst.quality.as_ref();
            s.liveness_checks = Some(vec![LivenessCheck {
                node_id: LIVENESS_NODE.into(),
                status: st,
                method: burst.method,
                score,
                reference_image: None,
                video_url: None,
                age_estimation: None,
                matches: Default::default(),
                warnings,
                face_quality: q.map(|q| round2(f64::from(q.face_quality))),
                face_luminance: q.map(|q| round2(f64::from(q.face_luminance))),
            }]);
            statuses.push(st);
            verdict.liveness_score = score;
            verdict.liveness_thresholds = Some([s.rules.liveness_decline, s.rules.liveness_review]);
        }
        if s.rules.face_match {
            let scored = match (&s.reference, &burst.embedding) {
                (Some(t), Some(e)) => Some(self.engine.compare(t, e)?.score),
                _ => None,
            };
            let (st, score, warnings) = face_match_band(scored, s.reference.is_some(), &s.rules);
            s.face_matches = Some(vec![FaceMatchCheck {
                node_id: FACE_MATCH_NODE.into(),
                status: st,
                score,
                source_image_session_id: Some(s.session_id.clone()),
                source_image: None,
                target_image: None,
                warnings,
            }]);
            statuses.push(st);
            verdict.face_match_score = score;
            verdict.face_match_thresholds =
                Some([s.rules.face_match_decline, s.rules.face_match_review]);
        }
        let outcome = combine(&statuses);
        s.attempts += 1;
        s.last_activity_at = now;
        let decided = outcome != FeatureStatus::Declined;
        flow.record(
            FlowDecision {
                liveness_method: Some(burst.method),
                liveness_score: verdict.liveness_score,
                match_score: verdict.face_match_score,
                approved: decided,
                risks: burst.risks.iter().map(|r| r.code()).collect(),
                at: now,
            },
            "",
        )?;
        let final_status = match (outcome, &flow.status) {
            (FeatureStatus::Approved, _) => Some(SessionStatus::Approved),
            (FeatureStatus::InReview, _) => Some(SessionStatus::InReview),
            (FeatureStatus::Declined, FlowStatus::Failed { .. }) => Some(SessionStatus::Declined),
            (FeatureStatus::Declined, _) => None,
        };
        let outcome_name = match outcome {
            FeatureStatus::Approved => "Approved",
            FeatureStatus::InReview => "In Review",
            FeatureStatus::Declined => "Declined",
        };
        verdict.outcome = outcome_name.into();
        verdict.subject = s.vendor_data.clone();
        verdict.flow_id = Some(flow.id.clone());
        verdict.session_id = Some(s.session_id.clone());
        verdict.workflow_id = Some(s.workflow_id.clone());
        verdict.workflow_version = Some(s.workflow_version);
        verdict.attempt = s.attempts;
        verdict.reasons = burst.risks.iter().map(|r| r.code()).collect();
        verdict.factors = crate::audit::record::factors(true, &[]);
        tracing::info!(session = %s.session_id, outcome = outcome_name, attempt = s.attempts, liveness = ?verdict.liveness_score, face_match = ?verdict.face_match_score, "session capture judged");
        self.record_verdict(verdict, Some(ctx), frames)?;
        // An approved, good-quality live face becomes the user's stored face for later API
        // sessions when they have none yet (never for the OpenID flow: see SESSION_FACES).
        let clean = !burst.risks.iter().any(|r| {
            matches!(
                r,
                Risk::MultipleFacesDetected
                    | Risk::LowFaceQuality
                    | Risk::LowFaceLuminance
                    | Risk::HighFaceLuminance
            )
        });
        if outcome == FeatureStatus::Approved
            && s.rules.liveness
            && clean
            && let Some(v) = &s.vendor_data
            && self.store.get(&ns::ENROLMENTS, &s.tenant.key(v))?.is_none()
            && burst.protocol_ok()
            && let Some(t) = self.engine.template_from_capture(burst)
        {
            let face = SessionFace {
                template: t,
                session_id: s.session_id.clone(),
                kept_at: now,
            };
            self.store
                .put_new_json(&SESSION_FACES, &s.tenant.key(v), &face, None)?;
        }
        match final_status {
            Some(st) => self.set_status(&mut s, st).map_err(|e| match e {
                SessionError::Store(e) => FlowError::Store(e),
                illegal => FlowError::invalid_request(illegal.to_string()),
            })?,
            None => {
                s.updated_at = now;
                self.save_session(&s)?;
            }
        }
        let (status, message) = match (outcome, &flow.status) {
            (FeatureStatus::Approved, _) => {
                ("approved", "Verified. Returning you to the application.")
            }
            (FeatureStatus::InReview, _) => (
                "approved",
                "Thank you. Your verification is being reviewed.",
            ),
            (_, FlowStatus::Failed { .. }) => ("failed", "We could not verify you."),
            _ => (
                "retry",
                "We could not verify you. Face the camera in good light and try again.",
            ),
        };
        Ok(CaptureResult {
            status,
            attempts_left: flow.attempts_left(),
            message: message.into(),
        })
    }

    /// Where the hosted page goes when the capture is over: the callback with
    /// `verificationSessionId` and `status`, or the session's own status page.
    pub(crate) fn session_finish_url(&self, flow: &Flow, sid: &str) -> String {
        match self.get_session(&flow.tenant, sid) {
            Ok(s) => match (&s.callback, s.status) {
                (
                    Some(c),
                    st @ (SessionStatus::Approved
                    | SessionStatus::Declined
                    | SessionStatus::InReview),
                ) => callback_url(c, &s.session_id, st),
                _ => format!("/session/{}", s.session_token),
            },
            Err(_) => "/".into(),
        }
    }
}
