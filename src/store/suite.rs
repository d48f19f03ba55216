//! The behavioural suite every backend must pass (the contract in `store/mod.rs`), also
//! through the sealing wrapper (`store/encrypted.rs`) that domain code uses.

use super::{Kv, Namespace};
use crate::clock::Clock;

/// The suite's namespaces, one per sealing policy (raw backends store them alike; the sealing
/// wrapper seals two of them). Keys carry a per-run prefix, so a shared Redis can hold older
/// runs.
pub const PLAIN: Namespace = Namespace::new("suite_plain");
pub const SEALED: Namespace = Namespace::new("suite_sealed").sealed();
pub const PER_SUBJECT: Namespace = Namespace::new("suite_subject").per_subject();
pub const NAMESPACES: &[Namespace] = &[PLAIN, SEALED, PER_SUBJECT];
/// Short-lived: every write carries an expiry.
pub const SHORT: Namespace = Namespace::new("suite_short").expiring();
/// What a sealing wrapper under test declares.
pub const DECLARED: &[Namespace] = &[PLAIN, SEALED, PER_SUBJECT, SHORT, OTHER];
/// Stays empty: namespaces are separate.
const OTHER: Namespace = Namespace::new("suite_other");
/// Declared nowhere.
const UNDECLARED: Namespace = Namespace::new("suite_undeclared");

/// Runs every check against `kv`; `clock` is the clock the backend expires entries by.
pub fn run(kv: &(dyn Kv + Sync), clock: &dyn Clock) {
    let run = clock.now_millis();
    for ns in NAMESPACES {
        values(kv, clock, ns, &format!("{run}-"));
    }
    counters(kv, clock, &PLAIN, &format!("{run}-"));
    concerns(kv, &PLAIN, &format!("{run}-"), clock.now_millis());
    // Sealed namespaces: what the application keeps there (documents, single-use items,
    // write-once records), never counters.
    single_use(kv, &SEALED, &format!("{run}-"), clock.now_millis());
    single_use(kv, &PER_SUBJECT, &format!("{run}-"), clock.now_millis());
}

/// put, get, put_new, take, delete, replace and keys on namespace `ns`, keys prefixed `p`.
fn values(kv: &(dyn Kv + Sync), clock: &dyn Clock, ns: &Namespace, p: &str) {
    let now = clock.now_millis();
    let later = Some(now + 60_000);
    let past = Some(now - 1);
    let k = |s: &str| format!("{p}{s}");

    // put / get / overwrite / delete
    kv.put(ns, &k("a"), b"1", None).unwrap();
    assert_eq!(kv.get(ns, &k("a")).unwrap().as_deref(), Some(&b"1"[..]));
    kv.put(ns, &k("a"), b"2", later).unwrap();
    assert_eq!(kv.get(ns, &k("a")).unwrap().as_deref(), Some(&b"2"[..]));
    assert!(kv.delete(ns, &k("a")).unwrap());
    assert!(!kv.delete(ns, &k("a")).unwrap());
    assert_eq!(kv.get(ns, &k("a")).unwrap(), None);

    // namespaces are separate
    kv.put(ns, &k("k"), b"x", None).unwrap();
    assert_eq!(kv.get(&OTHER, &k("k")).unwrap(), None);

    // expired entries are absent everywhere
    kv.put(ns, &k("old"), b"x", past).unwrap();
    assert_eq!(kv.get(ns, &k("old")).unwrap(), None);
    assert_eq!(kv.take(ns, &k("old")).unwrap(), None);
    assert!(kv.put_new(ns, &k("old"), b"y", later).unwrap());
    assert_eq!(kv.get(ns, &k("old")).unwrap().as_deref(), Some(&b"y"[..]));
    assert!(kv.keys(ns).unwrap().contains(&k("old")));

    // put_new writes once
    assert!(kv.put_new(ns, &k("once"), b"first", later).unwrap());
    assert!(!kv.put_new(ns, &k("once"), b"second", later).unwrap());
    assert_eq!(
        kv.get(ns, &k("once")).unwrap().as_deref(),
        Some(&b"first"[..])
    );

    // take is single use, also under contention
    kv.put(ns, &k("code"), b"grant", later).unwrap();
    assert_eq!(
        kv.take(ns, &k("code")).unwrap().as_deref(),
        Some(&b"grant"[..])
    );
    assert_eq!(kv.take(ns, &k("code")).unwrap(), None);
    for round in 0..20 {
        let key = k(&format!("race-{round}"));
        kv.put(ns, &key, b"v", later).unwrap();
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| usize::from(kv.take(ns, &key).unwrap().is_some())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1, "take must be single-use (round {round}, {ns})");
    }

    // replace is a compare-and-set that keeps the expiry
    kv.put(ns, &k("cas"), b"v1", later).unwrap();
    assert!(!kv.replace(ns, &k("cas"), b"other", b"v2").unwrap());
    assert_eq!(kv.get(ns, &k("cas")).unwrap().as_deref(), Some(&b"v1"[..]));
    assert!(kv.replace(ns, &k("cas"), b"v1", b"v2").unwrap());
    assert_eq!(kv.get(ns, &k("cas")).unwrap().as_deref(), Some(&b"v2"[..]));
    assert!(!kv.replace(ns, &k("absent"), b"", b"x").unwrap());
    assert_eq!(kv.get(ns, &k("absent")).unwrap(), None);
    kv.put(ns, &k("cas-expired"), b"v1", past).unwrap();
    assert!(!kv.replace(ns, &k("cas-expired"), b"v1", b"v2").unwrap());
    for round in 0..20 {
        let key = k(&format!("cas-race-{round}"));
        kv.put(ns, &key, b"start", later).unwrap();
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4u8)
                .map(|i| {
                    let key = &key;
                    s.spawn(move || usize::from(kv.replace(ns, key, b"start", &[i]).unwrap()))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(
            wins, 1,
            "replace must be compare-and-set (round {round}, {ns})"
        );
    }

    // keys lists live entries only
    kv.put(ns, &k("dead"), b"x", past).unwrap();
    let keys = kv.keys(ns).unwrap();
    assert!(keys.contains(&k("k")) && keys.contains(&k("once")));
    assert!(!keys.contains(&k("dead")) && !keys.contains(&k("code")));
    assert!(keys.contains(&k("cas")) && !keys.contains(&k("cas-expired")));
}

/// Counters on namespace `ns`: atomic, created with their expiry, restarted when expired.
fn counters(kv: &(dyn Kv + Sync), clock: &dyn Clock, ns: &Namespace, p: &str) {
    let now = clock.now_millis();
    let later = Some(now + 60_000);
    let past = Some(now - 1);
    let k = |s: &str| format!("{p}{s}");
    assert_eq!(kv.incr(ns, &k("n"), 1, later).unwrap(), 1);
    assert_eq!(kv.incr(ns, &k("n"), 2, later).unwrap(), 3);
    let total: i64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..25)
                        .map(|_| kv.incr(ns, &k("m"), 1, later).unwrap())
                        .max()
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).max().unwrap()
    });
    assert_eq!(total, 100, "increments must not be lost");
    kv.put(ns, &k("expired-counter"), b"7", past).unwrap();
    assert_eq!(kv.incr(ns, &k("expired-counter"), 1, later).unwrap(), 1);
}

/// Single-use items and write-once records on namespace `ns`.
fn single_use(kv: &(dyn Kv + Sync), ns: &Namespace, p: &str, now: i64) {
    use super::concerns::*;
    let later = now + 60_000;
    // single use, also when four redeemers race
    for round in 0..10 {
        let key = format!("{p}code-{round}");
        kv.issue(ns, &key, &serde_json::json!({"grant": round}), later)
            .unwrap();
        let got: Vec<Option<serde_json::Value>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| kv.redeem::<serde_json::Value>(ns, &key).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<_> = got.into_iter().flatten().collect();
        assert_eq!(
            won,
            vec![serde_json::json!({"grant": round})],
            "redeemed once ({ns})"
        );
    }
    kv.issue(ns, &format!("{p}gone"), &1, now - 1).unwrap();
    assert_eq!(
        kv.redeem::<i32>(ns, &format!("{p}gone")).unwrap(),
        None,
        "expired"
    );
    // write once
    let entry = format!("{p}entry-1");
    assert!(kv.write_once(ns, &entry, b"first").unwrap());
    assert!(!kv.write_once(ns, &entry, b"second").unwrap());
    assert_eq!(kv.get(ns, &entry).unwrap().as_deref(), Some(&b"first"[..]));
}

/// The guarantees of the concern traits (`store/concerns.rs`), on this backend.
fn concerns(kv: &(dyn Kv + Sync), ns: &Namespace, p: &str, now: i64) {
    use super::concerns::*;
    let later = now + 60_000;
    single_use(kv, ns, &format!("{p}c-"), now);
    // replay cache
    assert!(kv.first_use(ns, &format!("{p}jti-1"), later).unwrap());
    assert!(
        !kv.first_use(ns, &format!("{p}jti-1"), later).unwrap(),
        "a replay"
    );
    // counters
    assert_eq!(
        kv.add(ns, &format!("{p}attempts"), 1, Some(later)).unwrap(),
        1
    );
    assert_eq!(
        kv.add(ns, &format!("{p}attempts"), 1, Some(later)).unwrap(),
        2
    );
    // claims: one holder at a time, also when four race
    let lease = format!("{p}lease");
    let holders: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| usize::from(kv.claim(ns, &lease, Some(later)).unwrap())))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(holders, 1, "one holder");
    assert!(kv.release(ns, &lease).unwrap());
    assert!(kv.claim(ns, &lease, Some(later)).unwrap(), "free again");
}

/// For backends that expire by a real clock: a replaced value keeps its expiry. (Waits in real
/// time: the backend's own clock decides.)
#[allow(clippy::disallowed_methods)]
pub fn replace_keeps_expiry(kv: &(dyn Kv + Sync), clock: &dyn Clock) {
    let key = format!("expiry-{}", clock.now_millis());
    for ns in NAMESPACES {
        kv.put(ns, &key, b"v1", Some(clock.now_millis() + 300))
            .unwrap();
        assert!(kv.replace(ns, &key, b"v1", b"v2").unwrap());
    }
    std::thread::sleep(std::time::Duration::from_millis(600));
    for ns in NAMESPACES {
        assert_eq!(
            kv.get(ns, &key).unwrap(),
            None,
            "the expiry was kept ({ns})"
        );
        assert!(!kv.keys(ns).unwrap().contains(&key));
    }
}

/// Counters refused in sealed namespaces, writes to undeclared namespaces refused: the policy
/// the sealing wrapper enforces (`kv` is one, declaring [`DECLARED`] only).
pub fn policy_is_enforced(kv: &(dyn Kv + Sync), clock: &dyn Clock) {
    let later = Some(clock.now_millis() + 60_000);
    assert!(
        kv.incr(&SEALED, "n", 1, later).is_err(),
        "no clear counters"
    );
    assert!(kv.incr(&PER_SUBJECT, "n", 1, later).is_err());
    assert!(kv.put(&UNDECLARED, "k", b"v", later).is_err(), "undeclared");
    assert!(kv.incr(&UNDECLARED, "k", 1, later).is_err());
    let lookalike = Namespace::new("suite_subject");
    kv.put(&PER_SUBJECT, "victim", b"face", later).unwrap();
    assert!(
        kv.put(&lookalike, "k", b"v", later).is_err(),
        "a declared name with another policy"
    );
    assert!(
        kv.delete(&lookalike, "victim").is_err(),
        "no delete without shredding"
    );
    assert!(kv.take(&lookalike, "victim").is_err());
    assert!(kv.replace(&lookalike, "victim", b"face", b"x").is_err());
    assert!(kv.get(&lookalike, "victim").is_err());
    assert!(kv.keys(&UNDECLARED).is_err(), "undeclared");
    assert_eq!(
        kv.get(&PER_SUBJECT, "victim").unwrap().as_deref(),
        Some(&b"face"[..])
    );
    assert!(kv.put(&SHORT, "k", b"v", None).is_err(), "short-lived");
    assert!(kv.put_new(&SHORT, "k", b"v", None).is_err());
    assert!(kv.incr(&SHORT, "n", 1, None).is_err());
    kv.put(&SHORT, "k", b"v", later).unwrap();
    assert_eq!(kv.get(&SHORT, "k").unwrap().as_deref(), Some(&b"v"[..]));
}
