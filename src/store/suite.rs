//! The behavioural suite every backend must pass (the contract in `store/mod.rs`).

use super::Kv;
use crate::clock::Clock;

/// Runs every check against `kv`; `clock` is the clock the backend expires entries by.
pub fn run(kv: &(dyn Kv + Sync), clock: &dyn Clock) {
    let now = clock.now_millis();
    let later = Some(now + 60_000);
    let past = Some(now - 1);
    let ns = format!("suite-{now}");
    let ns = ns.as_str();

    // put / get / overwrite / delete
    kv.put(ns, "a", b"1", None).unwrap();
    assert_eq!(kv.get(ns, "a").unwrap().as_deref(), Some(&b"1"[..]));
    kv.put(ns, "a", b"2", later).unwrap();
    assert_eq!(kv.get(ns, "a").unwrap().as_deref(), Some(&b"2"[..]));
    assert!(kv.delete(ns, "a").unwrap());
    assert!(!kv.delete(ns, "a").unwrap());
    assert_eq!(kv.get(ns, "a").unwrap(), None);

    // namespaces are separate
    kv.put(ns, "k", b"x", None).unwrap();
    assert_eq!(kv.get(&format!("{ns}-other"), "k").unwrap(), None);

    // expired entries are absent everywhere
    kv.put(ns, "old", b"x", past).unwrap();
    assert_eq!(kv.get(ns, "old").unwrap(), None);
    assert_eq!(kv.take(ns, "old").unwrap(), None);
    assert!(kv.put_new(ns, "old", b"y", later).unwrap());
    assert_eq!(kv.get(ns, "old").unwrap().as_deref(), Some(&b"y"[..]));
    assert!(kv.keys(ns).unwrap().contains(&"old".to_owned()));

    // put_new writes once
    assert!(kv.put_new(ns, "once", b"first", later).unwrap());
    assert!(!kv.put_new(ns, "once", b"second", later).unwrap());
    assert_eq!(kv.get(ns, "once").unwrap().as_deref(), Some(&b"first"[..]));

    // take is single use, also under contention
    kv.put(ns, "code", b"grant", later).unwrap();
    assert_eq!(kv.take(ns, "code").unwrap().as_deref(), Some(&b"grant"[..]));
    assert_eq!(kv.take(ns, "code").unwrap(), None);
    for round in 0..20 {
        let key = format!("race-{round}");
        kv.put(ns, &key, b"v", later).unwrap();
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| usize::from(kv.take(ns, &key).unwrap().is_some())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1, "take must be single-use (round {round})");
    }

    // counters
    assert_eq!(kv.incr(ns, "n", 1, later).unwrap(), 1);
    assert_eq!(kv.incr(ns, "n", 2, later).unwrap(), 3);
    let total: i64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..25)
                        .map(|_| kv.incr(ns, "m", 1, later).unwrap())
                        .max()
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).max().unwrap()
    });
    assert_eq!(total, 100, "increments must not be lost");
    kv.put(ns, "expired-counter", b"7", past).unwrap();
    assert_eq!(kv.incr(ns, "expired-counter", 1, later).unwrap(), 1);

    // replace is a compare-and-set that keeps the expiry
    kv.put(ns, "cas", b"v1", later).unwrap();
    assert!(!kv.replace(ns, "cas", b"other", b"v2").unwrap());
    assert_eq!(kv.get(ns, "cas").unwrap().as_deref(), Some(&b"v1"[..]));
    assert!(kv.replace(ns, "cas", b"v1", b"v2").unwrap());
    assert_eq!(kv.get(ns, "cas").unwrap().as_deref(), Some(&b"v2"[..]));
    assert!(!kv.replace(ns, "absent", b"", b"x").unwrap());
    assert_eq!(kv.get(ns, "absent").unwrap(), None);
    kv.put(ns, "cas-expired", b"v1", past).unwrap();
    assert!(!kv.replace(ns, "cas-expired", b"v1", b"v2").unwrap());
    for round in 0..20 {
        let key = format!("cas-race-{round}");
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
        assert_eq!(wins, 1, "replace must be compare-and-set (round {round})");
    }

    // keys lists live entries only
    kv.put(ns, "dead", b"x", past).unwrap();
    let keys = kv.keys(ns).unwrap();
    assert!(keys.contains(&"k".to_owned()) && keys.contains(&"once".to_owned()));
    assert!(!keys.contains(&"dead".to_owned()) && !keys.contains(&"code".to_owned()));
    assert!(keys.contains(&"cas".to_owned()) && !keys.contains(&"cas-expired".to_owned()));

    concerns(kv, ns, now);
}

/// The guarantees of the concern traits (`store/concerns.rs`), on this backend.
fn concerns(kv: &(dyn Kv + Sync), ns: &str, now: i64) {
    use super::concerns::*;
    let later = now + 60_000;
    // single use, also when four redeemers race
    for round in 0..10 {
        let key = format!("code-{round}");
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
            "redeemed once"
        );
    }
    kv.issue(ns, "gone", &1, now - 1).unwrap();
    assert_eq!(kv.redeem::<i32>(ns, "gone").unwrap(), None, "expired");
    // replay cache
    assert!(kv.first_use(ns, "jti-1", later).unwrap());
    assert!(!kv.first_use(ns, "jti-1", later).unwrap(), "a replay");
    // counters
    assert_eq!(kv.add(ns, "attempts", 1, Some(later)).unwrap(), 1);
    assert_eq!(kv.add(ns, "attempts", 1, Some(later)).unwrap(), 2);
    // claims: one holder at a time, also when four race
    let holders: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| usize::from(kv.claim(ns, "lease", Some(later)).unwrap())))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(holders, 1, "one holder");
    assert!(kv.release(ns, "lease").unwrap());
    assert!(kv.claim(ns, "lease", Some(later)).unwrap(), "free again");
    // write once
    assert!(kv.write_once(ns, "entry-1", b"first").unwrap());
    assert!(!kv.write_once(ns, "entry-1", b"second").unwrap());
    assert_eq!(
        kv.get(ns, "entry-1").unwrap().as_deref(),
        Some(&b"first"[..])
    );
}

/// For backends that expire by a real clock: a replaced value keeps its expiry. (Waits in real
/// time: the backend's own clock decides.)
#[allow(clippy::disallowed_methods)]
pub fn replace_keeps_expiry(kv: &(dyn Kv + Sync), clock: &dyn Clock) {
    let ns = format!("suite-expiry-{}", clock.now_millis());
    kv.put(&ns, "k", b"v1", Some(clock.now_millis() + 300))
        .unwrap();
    assert!(kv.replace(&ns, "k", b"v1", b"v2").unwrap());
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(kv.get(&ns, "k").unwrap(), None, "the expiry was kept");
    assert!(!kv.keys(&ns).unwrap().contains(&"k".to_owned()));
}
