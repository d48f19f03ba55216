//! Our metric code reproduces the reference pipeline's published figures from its own pair
//! scores (same conventions: Mann-Whitney AUC, interpolated EER, (k+1)-th impostor threshold).

use inherence::eval::metrics::{at_fmr, auc, eer};

use crate::common::{read_csv, shared};

#[test]
fn face_match_figures_match_the_reference_report() {
    let Some(sh) = shared("tools/refpipe/results/dev/pair_scores.csv") else {
        return;
    };
    let dir = sh.join("tools/refpipe/results/dev");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let (mut g, mut i) = (Vec::new(), Vec::new());
    for r in read_csv(&dir.join("pair_scores.csv")) {
        let d: f64 = if r["fta"] == "1" {
            f64::INFINITY
        } else {
            r["distance"].parse().unwrap()
        };
        if r["same"] == "1" {
            g.push(d)
        } else {
            i.push(d)
        }
    }
    let fm = &report["face_match"];
    let close = |a: f64, b: &serde_json::Value, what: &str| {
        let b = b
            .as_f64()
            .unwrap_or_else(|| panic!("{what} missing in report"));
        assert!((a - b).abs() < 1e-4, "{what}: ours {a}, reference {b}");
    };
    close(auc(&g, &i).unwrap(), &fm["auc"], "auc");
    let (e, t) = eer(&g, &i).unwrap();
    close(e, &fm["eer"], "eer");
    close(t, &fm["eer_threshold"], "eer_threshold");
    for key in ["0.01", "0.001", "0.0001"] {
        let a = at_fmr(&g, &i, key.parse().unwrap()).unwrap();
        close(
            a.fnmr,
            &fm["fnmr_at_fmr"][key],
            &format!("fnmr_at_fmr[{key}]"),
        );
        close(
            a.threshold,
            &fm["threshold_at_fmr"][key],
            &format!("threshold_at_fmr[{key}]"),
        );
    }
}
