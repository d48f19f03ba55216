//! Which devices may capture for a flow: the browser that started it (its binding cookie) or
//! the phone it handed the flow to (the hand-off secret in the QR link). The flow id alone
//! is not enough: whoever learns it (a shared screen, a log, a referrer) could otherwise spend
//! the user's attempts or answer the challenge with their own frames.

use super::state::Flow;
use super::{Provider, digest};
use crate::protocol::{ErrorCode, OAuthError};

/// What a capture request shows of its device: the binding secret (cookie `inh_bind`) or the
/// hand-off secret (cookie `inh_dev`, set when the phone opened the QR link).
#[derive(Clone, Copy, Debug, Default)]
pub struct DeviceProof<'a> {
    pub binding: Option<&'a str>,
    pub handoff: Option<&'a str>,
}

/// The hand-off secret of a flow, derived from its binding secret (so that only the browser
/// that started the flow can show the QR code) with its own domain.
pub fn handoff_secret(binding_secret: &str) -> String {
    digest(&format!("inherence hand-off v1\0{binding_secret}"))
}

/// Digest stored in the flow for its hand-off secret.
pub fn handoff_digest(binding_secret: &str) -> String {
    digest(&handoff_secret(binding_secret))
}

pub(crate) fn subtle_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn denied() -> OAuthError {
    OAuthError::new(
        ErrorCode::AccessDenied,
        "capture from the browser where the check started, or from the phone it was handed to",
    )
}

impl Provider {
    /// Refuses a capture request (challenge, preview, upload) from a device the flow was not
    /// started on or handed to.
    pub(crate) fn check_device(&self, flow: &Flow, d: DeviceProof<'_>) -> Result<(), OAuthError> {
        let bound = d
            .binding
            .is_some_and(|b| subtle_eq(&digest(b), &flow.binding));
        let handed = !flow.handoff.is_empty()
            && d.handoff
                .is_some_and(|h| subtle_eq(&digest(h), &flow.handoff));
        if bound || handed {
            Ok(())
        } else {
            Err(denied())
        }
    }

    /// Whether a device may capture for the flow (checked again by each capture call).
    pub fn may_capture(&self, flow_id: &str, d: DeviceProof<'_>) -> Result<(), OAuthError> {
        let flow = self.get_flow(flow_id)?;
        self.check_device(&flow, d)
    }

    /// The link a phone opens to continue the flow (shown as a QR code), for the browser that
    /// started it only.
    pub fn handoff_url(
        &self,
        flow_id: &str,
        binding_secret: Option<&str>,
    ) -> Result<String, OAuthError> {
        let flow = self.get_flow(flow_id)?;
        let b = binding_secret.ok_or_else(denied)?;
        if !subtle_eq(&digest(b), &flow.binding) {
            return Err(denied());
        }
        if !flow.handoff_allowed() {
            return Err(OAuthError::new(
                crate::protocol::ErrorCode::AccessDenied,
                "this sign-in cannot continue on another device",
            ));
        }
        Ok(format!(
            "{}/capture/{flow_id}?handoff={}",
            self.issuer(),
            handoff_secret(b)
        ))
    }

    /// Checks the hand-off secret a phone presents when it opens the link.
    pub fn accept_handoff(&self, flow_id: &str, secret: &str) -> Result<(), OAuthError> {
        let flow = self.get_flow(flow_id)?;
        self.check_device(
            &flow,
            DeviceProof {
                binding: None,
                handoff: Some(secret),
            },
        )
    }
}
