//! What the load test writes into the store before the server starts: codes and users.

use super::*;
use inherence::flow::fixtures;

/// Mints one v3 API key and `users` users with a stored face into the store (before the server
/// opens it); returns the key.
pub(super) fn mint_users(
    store_cfg: &inherence::store::StoreConfig,
    users: usize,
    threads: u32,
) -> Result<String, Failure> {
    let clock = Arc::new(SystemClock);
    let store =
        inherence::store::open(store_cfg, clock.clone(), &inherence::namespaces()).map_err(fail)?;
    let store = &*store;
    let now = clock.now_secs();
    let (_, api_key) =
        inherence::flow::didit::create_api_key(store, now, "loadtest", &Default::default())
            .map_err(fail)?;
    // Stored faces u{thread}-{n} for the session measurement (a placeholder template: creation
    // only resolves and copies it).
    let template = inherence::biometric::Template {
        version: inherence::biometric::template::TEMPLATE_VERSION,
        embedding: vec![0.01; inherence::biometric::embed::DIM],
        model: inherence::biometric::template::ModelRef {
            name: "loadtest".into(),
            sha256: "0".repeat(64),
        },
        mirrored: true,
        quality: inherence::biometric::quality::Quality::frontal(80.0),
        detection_score: 0.9,
    };
    let per_thread = users / threads.max(1) as usize;
    for t in 0..threads {
        for i in 1..=per_thread {
            fixtures::enrol(store, &format!("u{t}-{i}"), &template, "loadtest", now)
                .map_err(fail)?;
        }
    }
    Ok(api_key)
}

/// Mints `n` codes for [`CLIENT`] into the store (while no server holds it); returns them.
pub(super) fn mint_codes(
    store_cfg: &inherence::store::StoreConfig,
    n: usize,
    lifetime: u64,
) -> Result<Vec<String>, Failure> {
    let clock = Arc::new(SystemClock);
    let store =
        inherence::store::open(store_cfg, clock.clone(), &inherence::namespaces()).map_err(fail)?;
    let store = &*store;
    let challenge = inherence::protocol::pkce::challenge(VERIFIER);
    // The codes' lifetime starts now, after the users (which take a while on Redis); they are
    // written by several threads, so that minting takes a small part of that lifetime.
    let now = clock.now_secs();
    let mint = |count: usize| -> Result<Vec<String>, Failure> {
        let mut codes = Vec::with_capacity(count);
        let check = fixtures::PassedCheck {
            client_id: CLIENT,
            redirect_uri: "http://127.0.0.1:9/cb",
            code_challenge: &challenge,
            subject: "loadtest-subject",
            acr: "biometric",
            liveness_method: "FLASHING",
        };
        for _ in 0..count {
            codes.push(fixtures::mint_code(store, &check, now, lifetime).map_err(fail)?);
        }
        Ok(codes)
    };
    const MINTERS: usize = 4;
    let parts: Vec<Result<Vec<String>, Failure>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..MINTERS)
            .map(|i| {
                let count = n / MINTERS + usize::from(i < n % MINTERS);
                s.spawn(move || mint(count))
            })
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(fail("a minting thread panicked")))
            })
            .collect()
    });
    let mut codes = Vec::with_capacity(n);
    for p in parts {
        codes.extend(p?);
    }
    let minted_in = clock.now_secs() - now;
    if minted_in * 3 > lifetime as i64 {
        eprintln!("warning: minting took {minted_in} s of the {lifetime} s code lifetime");
    }
    Ok(codes)
}
