//! The in-memory PRelu -> Max(x, a*x) rewrite leaves the liveness models' outputs unchanged.

use inherence::biometric::Want;
use inherence::biometric::engine::EngineSettings;
use inherence::biometric::models::Role;

use crate::common::{engine_from, manifest, repo_root, runtime, runtime_settings, shared};

#[test]
fn rewritten_liveness_models_give_the_same_scores() {
    let Some(sh) = shared("eval/dev") else { return };
    let mut plain_rt = runtime_settings();
    plain_rt.rewrite_prelu = false;
    let dir = repo_root().join("models");
    let rewritten = engine_from(&dir, EngineSettings::default());
    let plain = inherence::biometric::Engine::load(
        runtime(),
        &plain_rt,
        &manifest(),
        &dir,
        EngineSettings::default(),
    )
    .expect("engine without rewrite");
    let live: Vec<_> = rewritten
        .models()
        .iter()
        .filter(|m| m.role == Role::Liveness)
        .collect();
    assert!(live.iter().all(|m| m.prelu_rewritten > 0), "{live:?}");
    assert!(plain.models().iter().all(|m| m.prelu_rewritten == 0));
    let pad = sh.join("eval/dev/pad_images");
    let mut compared = 0;
    for entry in walk(&pad).into_iter().take(40) {
        let bytes = std::fs::read(&entry).unwrap();
        let (Ok(a), Ok(b)) = (
            rewritten.analyze(&bytes, Want::ALL),
            plain.analyze(&bytes, Want::ALL),
        ) else {
            continue;
        };
        let (Some(fa), Some(fb)) = (a.face, b.face) else {
            continue;
        };
        for ((na, pa), (_, pb)) in fa
            .liveness
            .unwrap()
            .per_model
            .iter()
            .zip(&fb.liveness.unwrap().per_model)
        {
            assert!(
                (pa - pb).abs() < 1e-5,
                "{}: {na} {pa} vs {pb}",
                entry.display()
            );
        }
        compared += 1;
    }
    assert!(compared >= 20, "only {compared} images compared");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out
}
