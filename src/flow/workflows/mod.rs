//! Workflows (`/v3/workflows/`): which checks a session runs and the thresholds that turn
//! scores into Approved / In Review / Declined. Only what a biometric step-up needs is
//! supported: LIVENESS (methods PASSIVE, FLASHING, ACTIVE_3D) and FACE_MATCH; anything else
//! is refused with a clear 400 rather than silently ignored.

mod body;
pub mod wire;

pub use body::from_body;

use serde::{Deserialize, Serialize};

use super::didit::{DiditError, iso8601, uuid_v4};
use super::wire::Listing;
use crate::biometric::capture::LivenessMethod;
use crate::store::typed::KvJson;
use crate::store::{Kv, Namespace};
use crate::tenant::TenantId;
use wire::{FeatureSpec, WorkflowBody, WorkflowOut, WorkflowStatus, WorkflowType};

pub const WORKFLOWS: Namespace = Namespace::new("workflows").fsynced();
/// The contract allows at most 50 workflows per application.
pub const MAX_WORKFLOWS: usize = 50;

/// What to do when a configurable risk fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    NoAction,
    Review,
    Decline,
}

/// The thresholds and actions the verdict bands use (contract defaults: liveness decline 50,
/// face match decline 50 / review 70; review equal to decline means no review band).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// The liveness method of the hosted capture (`face_liveness_method`; the deployment's
    /// `liveness.method` when the workflow does not say). It applies to every hosted
    /// capture, also without the LIVENESS feature: the capture protocol is never skipped.
    #[serde(default = "passive")]
    pub liveness_method: LivenessMethod,
    pub liveness: bool,
    pub face_match: bool,
    pub liveness_decline: f64,
    pub liveness_review: f64,
    pub face_match_decline: f64,
    pub face_match_review: f64,
    pub multiple_faces_action: Action,
    pub face_match_not_computed_action: Action,
    pub face_liveness_max_attempts: u32,
    pub face_match_max_attempts: u32,
}

impl Rules {
    /// Capture attempts a session allows (the tighter of the two features' budgets).
    pub fn max_attempts(&self) -> u32 {
        let mut n = 3;
        if self.liveness {
            n = n.min(self.face_liveness_max_attempts);
        }
        if self.face_match {
            n = n.min(self.face_match_max_attempts);
        }
        n.max(1)
    }
}

/// Workflows stored before methods existed ran PASSIVE.
fn passive() -> LivenessMethod {
    LivenessMethod::Passive
}

/// A stored workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    pub uuid: String,
    pub workflow_label: String,
    pub is_default: bool,
    pub status: WorkflowStatus,
    pub version: u32,
    /// As sent, configs completed with the defaults (read leniently: earlier versions stored
    /// configs and labels as sent).
    #[serde(deserialize_with = "wire::stored_features")]
    pub features: Vec<FeatureSpec>,
    pub is_white_label_enabled: bool,
    pub is_desktop_allowed: bool,
    pub max_retry_attempts: u32,
    pub retry_window_days: Option<u32>,
    pub session_expiration_time: u64,
    pub rules: Rules,
    pub created_at: i64,
    pub updated_at: i64,
    /// The tenant of the API key that created it (workflows from before tenants: `default`).
    #[serde(default)]
    pub tenant: TenantId,
}

impl Workflow {
    /// The feature names, as the decision's `features[]` lists them.
    pub fn feature_names(&self) -> Vec<super::sessions::wire::Feature> {
        use super::sessions::wire::Feature;
        let mut v = Vec::new();
        if self.rules.liveness {
            v.push(Feature::Liveness);
        }
        if self.rules.face_match {
            v.push(Feature::FaceMatch);
        }
        v
    }

    /// The API representation.
    pub fn out(&self) -> WorkflowOut {
        WorkflowOut {
            uuid: self.uuid.clone(),
            settings_uuid: self.uuid.clone(),
            workflow_id: self.uuid.clone(),
            workflow_label: self.workflow_label.clone(),
            workflow_type: WorkflowType::BiometricAuthentication,
            is_default: self.is_default,
            status: self.status,
            version: self.version,
            features: self.features.clone(),
            is_white_label_enabled: self.is_white_label_enabled,
            is_desktop_allowed: self.is_desktop_allowed,
            max_retry_attempts: self.max_retry_attempts,
            retry_window_days: self.retry_window_days,
            face_liveness_max_attempts: self.rules.face_liveness_max_attempts,
            face_match_max_attempts: self.rules.face_match_max_attempts,
            session_expiration_time: self.session_expiration_time,
            created_at: iso8601(self.created_at),
            updated_at: iso8601(self.updated_at),
        }
    }
}

/// Creates a workflow of `tenant`.
pub fn create(
    store: &dyn Kv,
    tenant: &TenantId,
    body: &WorkflowBody,
    now: i64,
    default_method: LivenessMethod,
) -> Result<Workflow, DiditError> {
    if list(store, tenant)?.len() >= MAX_WORKFLOWS {
        return Err(DiditError::detail(format!(
            "An application can have at most {MAX_WORKFLOWS} workflows."
        )));
    }
    let mut wf = from_body(body, None, uuid_v4(), now, default_method)?;
    wf.tenant = tenant.clone();
    if wf.is_default {
        clear_default(store, tenant, &wf.uuid)?;
    }
    store.put_json(&WORKFLOWS, &wf.uuid, &wf, None)?;
    Ok(wf)
}

fn clear_default(store: &dyn Kv, tenant: &TenantId, except: &str) -> Result<(), DiditError> {
    for mut w in list(store, tenant)? {
        if w.uuid != except && w.is_default {
            w.is_default = false;
            store.put_json(&WORKFLOWS, &w.uuid, &w, None)?;
        }
    }
    Ok(())
}

/// Reads a workflow of `tenant` (another tenant's is not found).
pub fn get(store: &dyn Kv, tenant: &TenantId, uuid: &str) -> Result<Option<Workflow>, DiditError> {
    Ok(store
        .get_json::<Workflow>(&WORKFLOWS, uuid)?
        .filter(|w| &w.tenant == tenant))
}

/// The workflows of `tenant`, oldest first.
pub fn list(store: &dyn Kv, tenant: &TenantId) -> Result<Vec<Workflow>, DiditError> {
    let mut v = Vec::new();
    for k in store.keys(&WORKFLOWS)? {
        if let Some(w) = store.get_json::<Workflow>(&WORKFLOWS, &k)?
            && &w.tenant == tenant
        {
            v.push(w);
        }
    }
    v.sort_by(|a, b| (a.created_at, &a.uuid).cmp(&(b.created_at, &b.uuid)));
    Ok(v)
}

/// Applies a partial update; every change publishes a new version.
pub fn update(
    store: &dyn Kv,
    tenant: &TenantId,
    uuid: &str,
    body: &WorkflowBody,
    now: i64,
    default_method: LivenessMethod,
) -> Result<Workflow, DiditError> {
    let base = get(store, tenant, uuid)?.ok_or(DiditError::NotFound)?;
    let wf = from_body(body, Some(&base), uuid.to_owned(), now, default_method)?;
    if wf.is_default && !base.is_default {
        clear_default(store, tenant, uuid)?;
    }
    store.put_json(&WORKFLOWS, uuid, &wf, None)?;
    Ok(wf)
}

/// Deletes a workflow; sessions already created keep their copy of its rules.
pub fn delete(store: &dyn Kv, tenant: &TenantId, uuid: &str) -> Result<(), DiditError> {
    if get(store, tenant, uuid)?.is_some() && store.delete(&WORKFLOWS, uuid)? {
        Ok(())
    } else {
        Err(DiditError::NotFound)
    }
}

impl super::Provider {
    /// `GET /v3/workflows/`.
    pub fn list_workflows(&self, tenant: &TenantId) -> Result<Listing<WorkflowOut>, DiditError> {
        Ok(Listing::of(
            list(&*self.store, tenant)?
                .iter()
                .map(Workflow::out)
                .collect(),
        ))
    }

    /// `POST /v3/workflows/`.
    pub fn create_workflow(
        &self,
        tenant: &TenantId,
        body: &WorkflowBody,
    ) -> Result<WorkflowOut, DiditError> {
        let w = create(
            &*self.store,
            tenant,
            body,
            self.now(),
            self.cfg.liveness.method,
        )?;
        tracing::info!(workflow = %w.uuid, %tenant, "workflow created");
        Ok(w.out())
    }

    /// `GET /v3/workflows/{uuid}/`.
    pub fn get_workflow(&self, tenant: &TenantId, uuid: &str) -> Result<WorkflowOut, DiditError> {
        Ok(get(&*self.store, tenant, uuid)?
            .ok_or(DiditError::NotFound)?
            .out())
    }

    /// `PATCH /v3/workflows/{uuid}/`.
    pub fn update_workflow(
        &self,
        tenant: &TenantId,
        uuid: &str,
        body: &WorkflowBody,
    ) -> Result<WorkflowOut, DiditError> {
        Ok(update(
            &*self.store,
            tenant,
            uuid,
            body,
            self.now(),
            self.cfg.liveness.method,
        )?
        .out())
    }

    /// `DELETE /v3/workflows/{uuid}/`.
    pub fn delete_workflow(&self, tenant: &TenantId, uuid: &str) -> Result<(), DiditError> {
        delete(&*self.store, tenant, uuid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::{Value, json};

    /// The body as the HTTP edge reads it (what serde refuses names its path), then checked.
    fn wf(body: Value) -> Result<Workflow, DiditError> {
        let b: WorkflowBody = serde_path_to_error::deserialize(body)
            .map_err(|e| DiditError::field(&e.path().to_string(), e.inner().to_string()))?;
        from_body(&b, None, "w".into(), 0, LivenessMethod::Flashing)
    }

    #[test]
    fn defaults_follow_the_contract() {
        let w =
            wf(json!({"features": [{"feature": "LIVENESS"}, {"feature": "FACE_MATCH"}]})).unwrap();
        assert_eq!(w.rules.liveness_decline, 50.0);
        assert_eq!(w.rules.face_match_decline, 50.0);
        assert_eq!(w.rules.face_match_review, 70.0);
        assert_eq!(w.session_expiration_time, 604_800);
        assert_eq!(w.rules.max_attempts(), 3);
        use crate::flow::sessions::wire::Feature;
        assert_eq!(
            w.feature_names(),
            vec![Feature::Liveness, Feature::FaceMatch]
        );
    }

    #[test]
    fn every_liveness_method_is_accepted_and_echoed() {
        for (sent, want) in [
            (json!("PASSIVE"), LivenessMethod::Passive),
            (json!("FLASHING"), LivenessMethod::Flashing),
            (json!("active_3d"), LivenessMethod::Active3d),
            (Value::Null, LivenessMethod::Flashing),
        ] {
            let w = wf(json!({"features": [{"feature": "LIVENESS", "config": {"face_liveness_method": sent}}]}))
                .unwrap();
            assert_eq!(w.rules.liveness_method, want);
            assert_eq!(
                w.features[0]
                    .config
                    .as_ref()
                    .unwrap()
                    .face_liveness_method
                    .as_deref(),
                Some(want.as_str())
            );
        }
        // Without the LIVENESS feature the hosted capture still runs the default method.
        let fm = wf(json!({"features": [{"feature": "FACE_MATCH"}]})).unwrap();
        assert_eq!(fm.rules.liveness_method, LivenessMethod::Flashing);
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        for (body, field) in [
            (json!({"features": [{"feature": "OCR"}]}), "features"),
            (json!({"features": [{"feature": "BOGUS"}]}), "features"),
            (json!({"features": []}), "features"),
            (json!({}), "features"),
            (
                json!({"features": [{"feature": "LIVENESS", "config": {"face_liveness_method": "ACTIVE3D"}}]}),
                "face_liveness_method",
            ),
            (
                json!({"features": [{"feature": "LIVENESS", "config": {"face_liveness_method": 3}}]}),
                "face_liveness_method",
            ),
            (
                json!({"workflow_type": "kyc", "features": [{"feature": "LIVENESS"}]}),
                "workflow_type",
            ),
            (
                json!({"workflow_type": null, "features": [{"feature": "LIVENESS"}]}),
                "workflow_type",
            ),
            (
                json!({"features": [{"feature": "FACE_MATCH", "config": {"face_match_score_decline_threshold": 101}}]}),
                "face_match_score_decline_threshold",
            ),
            (
                json!({"features": [{"feature": "FACE_MATCH", "config": {"face_match_score_decline_threshold": 80, "face_match_score_review_threshold": 60}}]}),
                "face_match_score_review_threshold",
            ),
            (
                json!({"features": [{"feature": "LIVENESS"}], "session_expiration_time": 60}),
                "session_expiration_time",
            ),
            (
                json!({"features": [{"feature": "LIVENESS"}], "face_match_max_attempts": 4}),
                "face_match_max_attempts",
            ),
        ] {
            match wf(body.clone()) {
                Err(DiditError::Invalid(v)) => {
                    assert!(v.0.keys().any(|k| k.ends_with(field)), "{body}: {v:?}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn workflows_stored_by_earlier_versions_still_read() {
        let w = wf(json!({"features": [{"feature": "LIVENESS"}]})).unwrap();
        let mut stored = serde_json::to_value(&w).unwrap();
        // An earlier version kept each config and label as sent: the other feature's keys of
        // any type, a label that is not text.
        stored["features"] = json!([{"feature": "LIVENESS", "label": {"en": "Selfie"},
            "config": {"face_liveness_method": "FLASHING", "face_match_max_attempts": "two",
                       "face_liveness_score_decline_threshold": 55}}]);
        let back: Workflow = serde_json::from_value(stored).unwrap();
        let f = &back.features[0];
        assert_eq!(f.label.as_deref(), Some(r#"{"en":"Selfie"}"#));
        let c = f.config.as_ref().unwrap();
        assert_eq!(c.face_liveness_method.as_deref(), Some("FLASHING"));
        assert_eq!(c.face_liveness_score_decline_threshold, Some(55.0));
        assert_eq!(
            c.face_match_max_attempts, None,
            "what does not fit is left out"
        );
        assert_eq!(back.rules, w.rules);
    }

    #[test]
    fn updates_bump_the_version_and_keep_unsent_fields() {
        let w = wf(json!({"workflow_label": "x", "features": [{"feature": "LIVENESS"}], "max_retry_attempts": 5}))
            .unwrap();
        let u = from_body(
            &serde_json::from_value(json!({"workflow_label": "y"})).unwrap(),
            Some(&w),
            "w".into(),
            9,
            LivenessMethod::Passive,
        )
        .unwrap();
        assert_eq!(u.version, 2);
        assert_eq!(u.workflow_label, "y");
        assert_eq!(u.max_retry_attempts, 5);
        assert!(u.rules.liveness && !u.rules.face_match);
        // The method resolved at creation stays (not the default of the update).
        assert_eq!(u.rules.liveness_method, LivenessMethod::Flashing);
        assert_eq!(u.created_at, 0);
        assert_eq!(u.updated_at, 9);
    }
}
