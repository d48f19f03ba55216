//! The capture flow behind the hosted page: live guidance, single-use challenges, the face
//! check on a burst of frames (the flow ends in `finish.rs`).

use serde::{Deserialize, Serialize};

use super::device::DeviceProof;
use super::error::FlowError;
use super::liveness::Challenge;
use super::state::{Decision, Flow, FlowStatus, Origin, Purpose};
use super::verdict::{Channel, RequestContext};
use super::{Provider, ns};
use crate::biometric::CapturedFrame;
use crate::biometric::capture::LivenessMethod;
use crate::biometric::score::{Risk, Status};
use crate::biometric::{BiometricError, Template};
use crate::protocol::OAuthError;
use crate::protocol::values::Acr;
use crate::store::typed::KvJson;

/// What the capture page shows about its flow.
#[derive(Debug, Serialize)]
pub struct FlowView {
    pub purpose: Purpose,
    pub client_name: String,
    pub attempts_left: u32,
    /// The liveness method every attempt must pass.
    pub liveness_method: LivenessMethod,
    /// Whether the user may choose head movements instead of flashing colours.
    pub motion_only_alternative: bool,
    /// Human-readable lines of the RAR `authorization_details` (amount, payee...).
    pub transaction: Vec<String>,
    pub status: &'static str,
    /// Whether the check may continue on a phone (not for an identity provider's sign-in).
    pub handoff: bool,
}

/// Live guidance for a preview frame.
#[derive(Debug, Serialize)]
pub struct Guidance {
    /// `ok`, `no_face`, `several_faces`, `too_far`, `too_dark`, `too_bright`, `blurry`,
    /// `turn_to_camera`.
    pub hint: &'static str,
    /// Face box relative to the frame (x, y, w, h in 0..1).
    pub face: Option<[f32; 4]>,
}

/// Result of one capture attempt as shown to the user.
#[derive(Debug, Serialize)]
pub struct CaptureResult {
    /// `approved`, `retry` or `failed`.
    pub status: &'static str,
    pub attempts_left: u32,
    /// What to tell the user.
    pub message: String,
}

/// An enrolled face.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrolmentRecord {
    pub template: Template,
    pub enrolled_at: i64,
    /// Who enrolled it: the client id, or `cli` for `inherence enrol` (so not a `ClientId`).
    pub by: String,
    /// `api` (portrait upload) or `camera` (hosted page).
    pub source: String,
}

fn describe_details(details: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for d in details.as_array().into_iter().flatten() {
        let amount = d
            .pointer("/instructedAmount/amount")
            .and_then(|v| v.as_str());
        let currency = d
            .pointer("/instructedAmount/currency")
            .and_then(|v| v.as_str());
        let payee = d.get("creditorName").and_then(|v| v.as_str());
        let account = d.pointer("/creditorAccount/iban").and_then(|v| v.as_str());
        match (amount, currency) {
            (Some(a), Some(c)) => out.push(format!(
                "Pay {c} {a}{}",
                payee.map(|p| format!(" to {p}")).unwrap_or_default()
            )),
            _ => out.push(format!(
                "{} request",
                d.get("type")
                    .and_then(|v| v.as_str())
                    .unwrap_or("authorization")
            )),
        }
        if let Some(iban) = account {
            out.push(format!("Account {iban}"));
        }
        if let Some(r) = d
            .get("remittanceInformationUnstructured")
            .and_then(|v| v.as_str())
        {
            out.push(format!("Reference: {r}"));
        }
    }
    out
}

/// What an OpenID flow's capture decides (a v3 session's is judged by its session).
#[derive(Clone, Copy, PartialEq, Eq)]
enum OidcPurpose {
    Verify,
    Enrol,
}

impl Provider {
    /// What the capture page needs to render.
    pub fn flow_view(&self, flow_id: &str) -> Result<FlowView, OAuthError> {
        let f = self.get_flow(flow_id)?;
        let request = f.oidc_request();
        let client = request.and_then(|r| self.clients.get(&r.client_id));
        Ok(FlowView {
            purpose: f.purpose(),
            client_name: client
                .map(|c| {
                    if c.name.is_empty() {
                        c.client_id.clone()
                    } else {
                        c.name.clone()
                    }
                })
                .unwrap_or_default(),
            attempts_left: f.attempts_left(),
            liveness_method: f.liveness,
            motion_only_alternative: self.cfg.liveness.motion_only_alternative
                && f.liveness > LivenessMethod::Passive,
            transaction: request
                .and_then(|r| r.authorization_details.as_ref())
                .map(describe_details)
                .unwrap_or_default(),
            status: status_name(&f.status),
            handoff: f.handoff_allowed(),
        })
    }

    /// Live guidance on a small preview frame (detection and quality only).
    pub fn preview(
        &self,
        flow_id: &str,
        frame: &[u8],
        device: DeviceProof<'_>,
    ) -> Result<Guidance, FlowError> {
        let f = self.get_flow(flow_id)?;
        self.check_device(&f, device)?;
        if f.status != FlowStatus::AwaitingCapture {
            return Err(FlowError::Protocol(OAuthError::invalid_request(
                "this face check is already decided",
            )));
        }
        if frame.len() > self.cfg.capture.max_preview_bytes {
            return Err(FlowError::Biometric(BiometricError::ImageTooLarge {
                size: frame.len(),
                max: self.cfg.capture.max_preview_bytes,
            }));
        }
        let a = self.engine.preview(frame)?;
        let q = &self.engine.settings().quality;
        let hint = match &a.face {
            None => "no_face",
            Some(_) if a.has_risk(Risk::MultipleFacesDetected) => "several_faces",
            Some(face) => {
                let fq = &face.quality;
                let rel_width = face.face.bbox[2] / a.image.width.max(1) as f32;
                if rel_width < 0.18 || fq.eye_distance_px < q.eye_distance_px[1] * 0.7 {
                    "too_far"
                } else if fq.face_luminance < q.min_luminance {
                    "too_dark"
                } else if fq.face_luminance > q.max_luminance {
                    "too_bright"
                } else if fq.yaw_deg.abs().max(fq.pitch_deg.abs()) > q.pose_deg[0] {
                    "turn_to_camera"
                } else if fq.face_quality < q.min_quality {
                    "blurry"
                } else {
                    "ok"
                }
            }
        };
        let face = a.face.as_ref().map(|f| {
            let (w, h) = (a.image.width.max(1) as f32, a.image.height.max(1) as f32);
            [
                f.face.bbox[0] / w,
                f.face.bbox[1] / h,
                f.face.bbox[2] / w,
                f.face.bbox[3] / h,
            ]
        });
        Ok(Guidance { hint, face })
    }

    /// Runs the face check on an uploaded burst, judged against the challenge it answers.
    /// The challenge is consumed whatever happens.
    pub fn submit(
        &self,
        flow_id: &str,
        challenge: &str,
        frames: &[CapturedFrame],
        ctx: &RequestContext,
        device: DeviceProof<'_>,
    ) -> Result<CaptureResult, FlowError> {
        // Only the devices of the flow may upload; the client's upload budget is checked
        // before the challenge is spent, so a refused upload can be retried with it.
        let f = self.get_flow(flow_id)?;
        self.check_device(&f, device)?;
        self.charge(&f.payer(), super::limits::Budget::CaptureUpload)?;
        let ch = self.redeem_challenge(flow_id, challenge)?;
        if frames.is_empty() || frames.len() > self.cfg.capture.max_frames {
            return Err(FlowError::Protocol(OAuthError::invalid_request(format!(
                "send between 1 and {} frames",
                self.cfg.capture.max_frames
            ))));
        }
        // Exclusive: while this attempt is judged, the flow is out of the store.
        let mut flow = self.take_flow(flow_id)?;
        let result = self.judge(&mut flow, &ch, frames, ctx);
        let put_back = self.put_flow(&flow);
        let r = result?;
        put_back?;
        Ok(r)
    }

    fn judge(
        &self,
        flow: &mut Flow,
        ch: &Challenge,
        frames: &[CapturedFrame],
        ctx: &RequestContext,
    ) -> Result<CaptureResult, FlowError> {
        if flow.status != FlowStatus::AwaitingCapture {
            return Err(FlowError::Protocol(OAuthError::invalid_request(
                "this face check is already decided",
            )));
        }
        let (burst, waited) = self.check_capture(flow, ch, frames)?;
        self.metrics.capture_analysis(burst.elapsed_ms);
        let bytes: Vec<&[u8]> = frames.iter().map(|f| f.bytes.as_slice()).collect();
        // A hosted v3 session is judged into its session's verdict; the rest here is the OpenID
        // flow's step-up or camera enrolment.
        let (request, purpose) = match &flow.origin {
            Origin::Session { session, .. } => {
                let sid = session.clone();
                return self.judge_session(flow, &sid, ch, &burst, &bytes, waited, ctx);
            }
            Origin::Verify { request } => (request.clone(), OidcPurpose::Verify),
            Origin::Enrol { request } => (request.clone(), OidcPurpose::Enrol),
        };
        let now = self.now();
        let mut risks: Vec<Risk> = burst.risks.clone();
        let liveness_ok = burst.live();
        let several =
            risks.contains(&Risk::MultipleFacesDetected) && self.cfg.capture.decline_multiple_faces;
        let (approved, match_score) = match purpose {
            OidcPurpose::Verify => {
                let record: Option<EnrolmentRecord> = self
                    .store
                    .get_json(&ns::ENROLMENTS, &flow.tenant.key(&flow.subject))?;
                let record = record.ok_or_else(|| {
                    FlowError::Protocol(OAuthError::unmet("no face is enrolled for this user"))
                })?;
                let m = match &burst.embedding {
                    Some(e) => Some(self.engine.compare(&record.template, e)?),
                    None => None,
                };
                if let Some(m) = &m {
                    risks.extend(m.risks.iter().copied());
                }
                let approved = burst.approves(m.as_ref(), self.cfg.capture.decline_multiple_faces);
                (approved, m.map(|m| m.score))
            }
            OidcPurpose::Enrol => {
                let good = !risks.iter().any(|r| {
                    matches!(
                        r,
                        Risk::NoFaceDetected
                            | Risk::LowFaceQuality
                            | Risk::LowFaceLuminance
                            | Risk::HighFaceLuminance
                    )
                });
                // Replacing an existing template needs the current face: whoever holds only
                // the user's password (or the client's session) cannot swap in their own.
                let existing: Option<EnrolmentRecord> = self
                    .store
                    .get_json(&ns::ENROLMENTS, &flow.tenant.key(&flow.subject))?;
                let same_person = match (&existing, &burst.embedding) {
                    (None, _) => true,
                    (Some(rec), Some(e)) => {
                        let m = self.engine.compare(&rec.template, e)?;
                        if m.status != Status::Approved {
                            risks.push(Risk::LowFaceMatchSimilarity);
                        }
                        m.status == Status::Approved
                    }
                    (Some(_), None) => false,
                };
                let ok = liveness_ok && good && !several && same_person;
                if ok {
                    let template = self.engine.template_from_capture(&burst).ok_or_else(|| {
                        FlowError::Protocol(OAuthError::internal(&"no template could be built"))
                    })?;
                    let rec = EnrolmentRecord {
                        template,
                        enrolled_at: now,
                        by: request.client_id.to_string(),
                        source: "camera".into(),
                    };
                    self.store.put_json(
                        &ns::ENROLMENTS,
                        &flow.tenant.key(&flow.subject),
                        &rec,
                        None,
                    )?;
                }
                (ok, None)
            }
        };
        let acr = request
            .acr_values
            .first()
            .cloned()
            .unwrap_or_else(|| Acr::supported(&self.cfg.oidc.acr_values_supported[0]));
        let decision = Decision {
            liveness_method: Some(ch.spec.method),
            liveness_score: burst.liveness.as_ref().map(|l| l.score),
            match_score,
            approved,
            risks: risks.iter().map(|r| r.code()).collect(),
            at: now,
        };
        tracing::info!(
            flow = %flow.id,
            client = %request.client_id,
            purpose = ?flow.purpose(),
            approved,
            liveness = ?decision.liveness_score,
            face_match = ?decision.match_score,
            risks = ?decision.risks,
            method = %ch.spec.method,
            flash = ?burst.flash,
            motion = ?burst.motion,
            identity = ?burst.identity_distance,
            frame_variation = ?burst.frame_variation,
            attempt = flow.attempts + 1,
            elapsed_ms = burst.elapsed_ms,
            "face check decided"
        );
        let mut verdict = self.new_verdict(
            Channel::Oidc,
            if approved { "Approved" } else { "Declined" },
            request.client_id.to_string(),
            &flow.tenant,
        );
        verdict.subject = Some(flow.subject.to_string());
        verdict.flow_id = Some(flow.id.clone());
        verdict.attempt = flow.attempts + 1;
        verdict.liveness_score = decision.liveness_score;
        verdict.face_match_score = decision.match_score;
        let bio = self.engine.settings();
        verdict.liveness_thresholds = Some([bio.liveness.decline_threshold; 2]);
        if purpose == OidcPurpose::Verify {
            verdict.face_match_thresholds = Some([bio.face_match.decline_threshold; 2]);
            verdict.acr = Some(acr.to_string());
            verdict.amr = vec!["face".into()];
        }
        verdict.reasons = decision.risks.clone();
        verdict.purpose = Some(
            match purpose {
                OidcPurpose::Enrol => "enrol",
                OidcPurpose::Verify => "verify",
            }
            .into(),
        );
        self.describe_capture(&mut verdict, flow, ch, &burst, frames.len(), waited);
        if let Some(p) = &flow.prior {
            verdict.prior_amr = p.amr.clone();
            verdict.prior_iss = Some(p.iss.clone());
            verdict.prior_auth_time = p.at;
        }
        verdict.factors = crate::audit::record::factors(true, &verdict.prior_amr);
        verdict.authorization_details_sha256 = request
            .authorization_details
            .as_ref()
            .map(crate::protocol::resource::authorization_details_sha256);
        self.record_verdict(verdict, Some(ctx), &bytes)?;
        flow.record(decision, &acr)?;
        let message = if approved {
            match purpose {
                OidcPurpose::Verify => "Verified. Returning you to the application.".to_owned(),
                OidcPurpose::Enrol => {
                    "Your face is enrolled. Returning you to the application.".to_owned()
                }
            }
        } else {
            let advice = advice(&risks, several);
            advice.to_owned()
        };
        let status = match flow.status {
            FlowStatus::Verified { .. } => "approved",
            FlowStatus::Failed { .. } => "failed",
            FlowStatus::AwaitingCapture => "retry",
        };
        Ok(CaptureResult {
            status,
            attempts_left: flow.attempts_left(),
            message,
        })
    }

    /// Where the flow stands (polled by a desktop page while a phone captures).
    pub fn flow_status(&self, flow_id: &str) -> Result<&'static str, OAuthError> {
        Ok(status_name(&self.get_flow(flow_id)?.status))
    }
}

/// What to tell the user after a declined attempt (never which check an attacker failed in
/// more detail than a genuine user needs to do better).
pub(crate) fn advice(risks: &[Risk], several: bool) -> &'static str {
    use Risk::*;
    let any = |set: &[Risk]| risks.iter().any(|r| set.contains(r));
    if any(&[NoFaceDetected, FrameWithoutFace]) {
        "We lost sight of your face. Keep it inside the oval for the whole recording."
    } else if several || any(&[MultipleFacesDetected]) {
        "More than one face is visible. Make sure only you are in the picture."
    } else if any(&[
        TooFewFrames,
        TooManyFrames,
        FrameTimingMismatch,
        UploadTooEarly,
        UploadTooLate,
        FrameSizeMismatch,
        UndecodableFrame,
    ]) {
        "The recording was interrupted. Keep this page in front while it records, then try again."
    } else if any(&[
        FlashResponseMissing,
        FlashResponseLate,
        FlashSequenceMismatch,
        FlashNotOnFace,
    ]) {
        "We could not see the screen's light on your face. Hold the screen closer to your face, \
         avoid bright light behind you, and try again."
    } else if any(&[
        ActionNotPerformed,
        WrongAction,
        ActionTooEarly,
        PoseNotCentred,
        PoseDiscontinuity,
        PlanarFaceMotion,
    ]) {
        "Turn your head slowly to the side shown when asked, and look straight at the camera \
         in between."
    } else if any(&[LowFaceLuminance]) {
        "The picture is too dark. Move to better light."
    } else if any(&[HighFaceLuminance]) {
        "The picture is too bright. Avoid strong light behind or on you."
    } else if any(&[LowFaceQuality]) {
        "The picture is not clear enough. Hold still and face the camera."
    } else {
        "We could not verify you. Face the camera in good light and try again."
    }
}

fn status_name(s: &FlowStatus) -> &'static str {
    match s {
        FlowStatus::AwaitingCapture => "awaiting_capture",
        FlowStatus::Verified { .. } => "verified",
        FlowStatus::Failed { .. } => "failed",
    }
}
