//! `inherence subjects enrol | delete | list`: manage enrolments in the configured embedded
//! store while the server is stopped (the running server uses the enrolment API instead).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;

use super::{Failure, load_engine, print_json, read_input};
use crate::biometric::Enrolment;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::flow::capture::EnrolmentRecord;
use crate::flow::ns;
use crate::store::typed::KvJson;

#[derive(Debug, Subcommand)]
pub enum SubjectsAction {
    /// Enrol SUBJECT from a portrait (quality-gated).
    Enrol { subject: String, portrait: PathBuf },
    /// Erase SUBJECT's template.
    Delete { subject: String },
    /// List enrolled subjects.
    List,
}

pub fn run(cfg: &Config, action: SubjectsAction) -> Result<(), Failure> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let open = || {
        crate::store::open(&cfg.store, clock.clone())
            .map_err(|e| Failure::runtime(format!("cannot open the store: {e}")))
    };
    match action {
        SubjectsAction::Enrol { subject, portrait } => {
            let bytes = read_input(&portrait)?;
            let (_rt, engine) = load_engine(cfg)?;
            let (result, analysis) = engine.enrol(&bytes)?;
            match result {
                Enrolment::Enrolled(template) => {
                    let store = open()?;
                    let rec = EnrolmentRecord {
                        template,
                        enrolled_at: clock.now_secs(),
                        by: "cli".into(),
                        source: "api".into(),
                    };
                    store
                        .put_json(ns::ENROLMENTS, &subject, &rec, None)
                        .map_err(|e| Failure::runtime(e.to_string()))?;
                    eprintln!("enrolled {subject} from {}", portrait.display());
                    Ok(())
                }
                Enrolment::Refused(risks) => {
                    print_json(
                        &serde_json::json!({ "status": "Refused", "reasons": risks, "warnings": analysis.warnings }),
                    )?;
                    Err(Failure::usage(format!("portrait refused: {risks:?}")))
                }
            }
        }
        SubjectsAction::Delete { subject } => {
            let store = open()?;
            if store
                .get(ns::ENROLMENTS, &subject)
                .map_err(|e| Failure::runtime(e.to_string()))?
                .is_none()
            {
                return Err(Failure::usage(format!("{subject} is not enrolled")));
            }
            // The audit records' personal data first: a failure leaves the template for a retry.
            let n = super::audit::log_on(cfg, store.clone(), clock.clone())?
                .redact_subject(&subject, "template erased")
                .map_err(|e| Failure::runtime(e.to_string()))?;
            let copies = crate::flow::sessions::forget_references(&*store, &subject)
                .map_err(|e| Failure::runtime(e.to_string()))?;
            store
                .delete(ns::ENROLMENTS, &subject)
                .map_err(|e| Failure::runtime(e.to_string()))?;
            eprintln!(
                "erased {subject} (and the personal data of {n} audit entries, the reference copies of {copies} sessions)"
            );
            Ok(())
        }
        SubjectsAction::List => {
            let keys = open()?
                .keys(ns::ENROLMENTS)
                .map_err(|e| Failure::runtime(e.to_string()))?;
            for k in keys {
                println!("{k}");
            }
            Ok(())
        }
    }
}
