//! `inherence subjects enrol | delete | list`: manage the enrolments of a tenant (`--tenant`,
//! default `default`). With Redis at any time; the embedded store only while no server runs
//! on it (the running server uses the enrolment API instead).

use crate::biometric::FaceEngine as _;
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
    Enrol {
        subject: String,
        portrait: PathBuf,
        /// The subject's tenant (`[[tenants]]`).
        #[arg(long, default_value = crate::tenant::TenantId::DEFAULT)]
        tenant: String,
    },
    /// Erase SUBJECT's template.
    Delete {
        subject: String,
        #[arg(long, default_value = crate::tenant::TenantId::DEFAULT)]
        tenant: String,
    },
    /// List the enrolled subjects of a tenant.
    List {
        #[arg(long, default_value = crate::tenant::TenantId::DEFAULT)]
        tenant: String,
    },
}

fn subject_arg(s: &str) -> Result<(), Failure> {
    if crate::tenant::check_subject(s) {
        Ok(())
    } else {
        Err(Failure::usage(
            "a subject id has 1 to 255 bytes and no control characters",
        ))
    }
}

pub fn run(cfg: &Config, action: SubjectsAction) -> Result<(), Failure> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let open = || {
        crate::store::open(&cfg.store, clock.clone(), &crate::namespaces())
            .map_err(|e| Failure::runtime(format!("cannot open the store: {e}")))
    };
    match action {
        SubjectsAction::Enrol {
            subject,
            portrait,
            tenant,
        } => {
            let tenant = super::tenant_arg(cfg, &tenant)?;
            subject_arg(&subject)?;
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
                        .put_json(&ns::ENROLMENTS, &tenant.key(&subject), &rec, None)
                        .map_err(|e| Failure::runtime(e.to_string()))?;
                    eprintln!(
                        "enrolled {subject} (tenant {tenant}) from {}",
                        portrait.display()
                    );
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
        SubjectsAction::Delete { subject, tenant } => {
            let tenant = super::tenant_arg(cfg, &tenant)?;
            subject_arg(&subject)?;
            let key = tenant.key(&subject);
            let store = open()?;
            if store
                .get(&ns::ENROLMENTS, &key)
                .map_err(|e| Failure::runtime(e.to_string()))?
                .is_none()
            {
                return Err(Failure::usage(format!(
                    "{subject} is not enrolled in tenant {tenant}"
                )));
            }
            // The audit records' personal data first: a failure leaves the template for a retry.
            let n = super::audit::log_on(cfg, store.clone(), clock.clone())?
                .redact_subject(&tenant, &subject, "template erased")
                .map_err(|e| Failure::runtime(e.to_string()))?;
            let copies = crate::flow::sessions::forget_references(&*store, &tenant, &subject)
                .map_err(|e| Failure::runtime(e.to_string()))?;
            store
                .delete(&ns::ENROLMENTS, &key)
                .map_err(|e| Failure::runtime(e.to_string()))?;
            eprintln!(
                "erased {subject} (and the personal data of {n} audit entries, the reference copies of {copies} sessions)"
            );
            Ok(())
        }
        SubjectsAction::List { tenant } => {
            let tenant = super::tenant_arg(cfg, &tenant)?;
            let keys = open()?
                .keys(&ns::ENROLMENTS)
                .map_err(|e| Failure::runtime(e.to_string()))?;
            for k in keys.iter().filter_map(|k| tenant.owns(k)) {
                println!("{k}");
            }
            Ok(())
        }
    }
}
