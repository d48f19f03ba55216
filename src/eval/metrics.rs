//! Verification metrics with the conventions of the Python reference pipeline, so figures are
//! comparable: scores are distances (accept iff `d < t`; use `-p` for "higher is better"),
//! AUC is the Mann-Whitney statistic with ties counted half, EER is interpolated between the
//! two operating points where FNMR - FMR changes sign, and the threshold at a target FMR `f` is
//! the `(k+1)`-th smallest impostor distance with `k = floor(f * N_imp)`.

use serde::Serialize;

/// The FMR targets every report gives.
pub const FMR_TARGETS: [(f64, &str); 3] = [(0.01, "0.01"), (0.001, "0.001"), (0.0001, "0.0001")];

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// Number of values in sorted `s` strictly below `t`.
fn count_below(s: &[f64], t: f64) -> usize {
    s.partition_point(|&x| x < t)
}

/// Number of values in sorted `s` at most `t`.
fn count_at_most(s: &[f64], t: f64) -> usize {
    s.partition_point(|&x| x <= t)
}

/// P(genuine < impostor) + 0.5 P(tie); infinite values tie with each other.
pub fn auc(genuine: &[f64], impostor: &[f64]) -> Option<f64> {
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let imp = sorted(impostor);
    let mut wins = 0.0f64;
    for &g in genuine {
        let below_or_eq = count_at_most(&imp, g);
        let below = count_below(&imp, g);
        let ties = below_or_eq - below;
        wins += (imp.len() - below_or_eq) as f64 + 0.5 * ties as f64;
    }
    Some(wins / (genuine.len() as f64 * imp.len() as f64))
}

/// FMR and FNMR at threshold `t` (accept iff `d < t`).
pub fn rates_at(genuine_sorted: &[f64], impostor_sorted: &[f64], t: f64) -> (f64, f64) {
    let fmr = count_below(impostor_sorted, t) as f64 / impostor_sorted.len().max(1) as f64;
    let fnmr = 1.0 - count_below(genuine_sorted, t) as f64 / genuine_sorted.len().max(1) as f64;
    (fmr, fnmr)
}

/// One operating point.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Point {
    pub threshold: f64,
    pub fmr: f64,
    pub fnmr: f64,
}

/// Operating points at every distinct finite score (plus +inf), in increasing threshold order.
pub fn curve(genuine: &[f64], impostor: &[f64]) -> Vec<Point> {
    let g = sorted(genuine);
    let i = sorted(impostor);
    let mut ts: Vec<f64> = g
        .iter()
        .chain(&i)
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    ts.sort_by(f64::total_cmp);
    ts.dedup();
    ts.push(f64::INFINITY);
    ts.iter()
        .map(|&t| {
            let (fmr, fnmr) = rates_at(&g, &i, t);
            Point {
                threshold: t,
                fmr,
                fnmr,
            }
        })
        .collect()
}

/// Equal error rate and its threshold, interpolated where FNMR - FMR changes sign.
pub fn eer(genuine: &[f64], impostor: &[f64]) -> Option<(f64, f64)> {
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let pts = curve(genuine, impostor);
    let mut prev: Option<Point> = None;
    for p in pts {
        let d = p.fnmr - p.fmr;
        if d <= 0.0 {
            return Some(match prev {
                None => ((p.fmr + p.fnmr) / 2.0, p.threshold),
                Some(q) => {
                    let dq = q.fnmr - q.fmr;
                    let a = dq / (dq - d);
                    let e = q.fmr + a * (p.fmr - q.fmr);
                    let t = if p.threshold.is_finite() {
                        q.threshold + a * (p.threshold - q.threshold)
                    } else {
                        q.threshold
                    };
                    (e, t)
                }
            });
        }
        prev = Some(p);
    }
    None
}

/// Figures at one target FMR.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AtFmr {
    pub target: f64,
    pub threshold: f64,
    pub fnmr: f64,
    /// Observed FMR at the threshold (<= target).
    pub fmr: f64,
    /// False when `target * N_imp < 1`: the threshold is just the smallest impostor distance.
    pub resolvable: bool,
}

/// Threshold giving FMR <= `target` and the FNMR there.
pub fn at_fmr(genuine: &[f64], impostor: &[f64], target: f64) -> Option<AtFmr> {
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let g = sorted(genuine);
    let i = sorted(impostor);
    let k = (target * i.len() as f64 + 1e-9).floor() as usize;
    let threshold = i[k.min(i.len() - 1)];
    let (fmr, fnmr) = rates_at(&g, &i, threshold);
    Some(AtFmr {
        target,
        threshold,
        fnmr,
        fmr,
        resolvable: target * i.len() as f64 >= 1.0,
    })
}

/// Summary of a genuine/impostor score set.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    pub genuine: usize,
    pub impostor: usize,
    pub auc: Option<f64>,
    pub eer: Option<f64>,
    pub eer_threshold: Option<f64>,
    pub at_fmr: Vec<AtFmr>,
}

pub fn summarise(genuine: &[f64], impostor: &[f64]) -> Summary {
    let e = eer(genuine, impostor);
    Summary {
        genuine: genuine.len(),
        impostor: impostor.len(),
        auc: auc(genuine, impostor),
        eer: e.map(|x| x.0),
        eer_threshold: e.map(|x| x.1),
        at_fmr: FMR_TARGETS
            .iter()
            .filter_map(|(f, _)| at_fmr(genuine, impostor, *f))
            .collect(),
    }
}

/// Percentile (nearest-rank on sorted data, linear interpolation) of `v`, `q` in 0..=100.
pub fn percentile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let s = sorted(v);
    let pos = q / 100.0 * (s.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(s[lo] + (s[hi] - s[lo]) * (pos - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_half_and_infinities_tie() {
        assert_eq!(auc(&[0.1, 0.2], &[0.3, 0.4]), Some(1.0));
        assert_eq!(auc(&[0.5], &[0.5]), Some(0.5));
        assert_eq!(auc(&[f64::INFINITY], &[f64::INFINITY, 1.0]), Some(0.25));
        assert_eq!(auc(&[], &[1.0]), None);
    }

    #[test]
    fn threshold_at_fmr_is_the_k_plus_first_impostor() {
        let imp: Vec<f64> = (0..1000).map(|i| 1.0 + i as f64 / 1000.0).collect();
        let gen_ = [0.5, 1.0005, 1.0015, 1.5];
        let a = at_fmr(&gen_, &imp, 0.001).unwrap();
        // k = 1: threshold is the 2nd smallest impostor (1.001); accept iff d < 1.001.
        assert_eq!(a.threshold, 1.001);
        assert_eq!(a.fmr, 0.001);
        assert_eq!(a.fnmr, 0.5);
        assert!(a.resolvable);
        assert!(!at_fmr(&gen_, &imp, 0.0001).unwrap().resolvable);
    }

    #[test]
    fn eer_of_separable_and_overlapping_sets() {
        let (e, _) = eer(&[0.1, 0.2], &[0.8, 0.9]).unwrap();
        assert_eq!(e, 0.0);
        let (e, t) = eer(&[0.1, 0.2, 0.3, 0.6], &[0.4, 0.5, 0.7, 0.8]).unwrap();
        assert!((e - 0.25).abs() < 1e-9, "{e}");
        assert!((0.3..=0.6).contains(&t), "{t}");
    }

    #[test]
    fn percentiles() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 50.0), Some(3.0));
        assert_eq!(percentile(&v, 100.0), Some(5.0));
        assert_eq!(percentile(&v, 25.0), Some(2.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
