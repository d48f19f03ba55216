//! Which liveness method a capture must pass (`[liveness]`), and the shape of the challenges
//! that enforce it (`[liveness.challenge]`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::biometric::capture::{ChallengeSettings, LivenessMethod};
use crate::protocol::resource::decimal;

/// Liveness policy of the OpenID step-up and of camera enrolment (`[liveness]`). A client may
/// ask for more (`[[clients]] liveness_method`), and a payment above a threshold does; never
/// for less. Hosted v3 sessions follow their workflow's `face_liveness_method`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LivenessPolicy {
    /// The method every step-up needs at least.
    pub method: LivenessMethod,
    /// Users who must avoid flashing light may choose head movements instead of the colour
    /// sequence (ACTIVE_3D without colours, one more action). It satisfies FLASHING and
    /// ACTIVE_3D requirements.
    pub motion_only_alternative: bool,
    /// Payments (`authorization_details` with an `instructedAmount`) of at least these amounts
    /// need ACTIVE_3D: ISO 4217 code -> decimal amount. As soon as one currency is listed, a
    /// payment in a currency that is not, or with an amount that is not a decimal, needs
    /// ACTIVE_3D too.
    pub active_3d_from: BTreeMap<String, String>,
    /// Time allowed between the end of the challenge's sequence and the arrival of its frames.
    pub max_upload_delay_ms: u64,
    pub challenge: ChallengeSettings,
}

impl Default for LivenessPolicy {
    fn default() -> Self {
        Self {
            method: LivenessMethod::Flashing,
            motion_only_alternative: true,
            active_3d_from: BTreeMap::from([("EUR".to_owned(), "500.00".to_owned())]),
            max_upload_delay_ms: 15_000,
            challenge: ChallengeSettings::default(),
        }
    }
}

impl LivenessPolicy {
    pub fn validate(&self) -> Result<(), String> {
        self.challenge.validate()?;
        check_thresholds("liveness.active_3d_from", &self.active_3d_from)?;
        if !(1000..=120_000).contains(&self.max_upload_delay_ms) {
            return Err("liveness.max_upload_delay_ms must be 1000..=120000".into());
        }
        Ok(())
    }
}

/// Checks a currency -> amount table.
pub fn check_thresholds(name: &str, t: &BTreeMap<String, String>) -> Result<(), String> {
    for (currency, amount) in t {
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "{name}: {currency:?} is not an ISO 4217 code (three capital letters)"
            ));
        }
        if decimal(amount).is_none() {
            return Err(format!(
                "{name}.{currency}: {amount:?} is not a decimal amount"
            ));
        }
    }
    Ok(())
}
