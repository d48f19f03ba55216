//! `inherence api-keys create | list | revoke`: keys for the Didit-compatible v3 API
//! (`x-api-key`). With Redis, at any time: running instances read keys per request, so a
//! change applies to their next request. The embedded store belongs to one process: while a
//! server runs on it, these commands refuse (a change beside it would never reach it). Only a
//! key's SHA-256 is stored; the key is printed once, at creation.

use std::sync::Arc;

use clap::Subcommand;

use super::{Failure, print_json};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::flow::didit;

#[derive(Debug, Subcommand)]
pub enum ApiKeysAction {
    /// Create a key named NAME; prints it once (store it in your secret manager).
    Create {
        name: String,
        /// The tenant the key belongs to (`[[tenants]]`); it reaches only that tenant's data.
        #[arg(long, default_value = crate::tenant::TenantId::DEFAULT)]
        tenant: String,
    },
    /// List keys (id, name, tenant, created, revoked).
    List {
        /// Only the keys of this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke the key with this id.
    Revoke { id: String },
}

pub fn run(cfg: &Config, action: ApiKeysAction) -> Result<(), Failure> {
    let clock = SystemClock;
    let store = crate::store::open(&cfg.store, Arc::new(SystemClock), &crate::namespaces())
        .map_err(|e| Failure::runtime(format!("cannot open the store: {e}")))?;
    let store = &*store;
    let err = |e: didit::DiditError| Failure::runtime(e.to_string());
    match action {
        ApiKeysAction::Create { name, tenant } => {
            let tenant = super::tenant_arg(cfg, &tenant)?;
            let name = name.trim();
            if name.is_empty() || name.len() > 255 {
                return Err(Failure::usage("the name must have 1 to 255 characters"));
            }
            let (rec, key) =
                didit::create_api_key(store, clock.now_secs(), name, &tenant).map_err(err)?;
            print_json(&serde_json::json!({
                "id": rec.id,
                "name": rec.name,
                "tenant": rec.tenant,
                "api_key": key,
            }))?;
            eprintln!("This is the only time the key is shown.");
            Ok(())
        }
        ApiKeysAction::List { tenant } => {
            let tenant = tenant.map(|t| super::tenant_arg(cfg, &t)).transpose()?;
            let keys: Vec<_> = didit::list_api_keys(store)
                .map_err(err)?
                .into_iter()
                .filter(|k| tenant.as_ref().is_none_or(|t| &k.tenant == t))
                .collect();
            print_json(&keys)
        }
        ApiKeysAction::Revoke { id } => {
            if didit::revoke_api_key(store, clock.now_secs(), &id).map_err(err)? {
                eprintln!("revoked {id}");
                Ok(())
            } else {
                Err(Failure::usage(format!("no active key with id {id}")))
            }
        }
    }
}
