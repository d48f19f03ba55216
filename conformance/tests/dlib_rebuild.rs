//! The dlib embedder rebuilt from PyPI's face_recognition_models (`make models-rebuild`) gives
//! the same embeddings as the offline bundle's model on real faces (within 1e-4).

use std::path::PathBuf;

use inherence::biometric::Want;
use inherence::biometric::engine::EngineSettings;
use inherence::biometric::models::{Role, hash_file};

use crate::common::{engine, engine_from, manifest, repo_root, shared};

#[test]
fn rebuilt_embedder_matches_the_bundle_on_real_faces() {
    let Some(sh) = shared("eval/dev") else { return };
    let Some(rebuilt) = std::env::var_os("INHERENCE_REBUILT_DLIB")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
    else {
        eprintln!(
            "SKIPPED: INHERENCE_REBUILT_DLIB is not set to a rebuilt model (`make test` builds it with `make models-rebuild`)"
        );
        return;
    };
    let m = manifest();
    let emb = m.one(Role::Embedder);
    let (sha, n) = hash_file(&rebuilt).unwrap();
    assert!(
        emb.accepts(n, &sha),
        "rebuilt model {sha} ({n} bytes) is not an accepted build in the manifest"
    );
    // A models directory identical to the installed one except for the embedder.
    let tmp = tempfile::tempdir().unwrap();
    let installed = repo_root().join("models");
    for f in &m.files {
        let dest = tmp.path().join(&f.file);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let src = if f.role == Role::Embedder {
            rebuilt.clone()
        } else {
            installed.join(&f.file)
        };
        std::fs::copy(&src, &dest).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    }
    let other = engine_from(tmp.path(), EngineSettings::default());
    let images = sh.join("eval/dev/images");
    let mut worst = 0f32;
    let mut compared = 0;
    for id in [
        "lfw_George_W_Bush",
        "celeb_barack_obama",
        "att_s01",
        "bbt_amy",
        "azure_family1_dad",
    ] {
        for e in std::fs::read_dir(images.join(id))
            .unwrap()
            .flatten()
            .take(6)
        {
            let bytes = std::fs::read(e.path()).unwrap();
            let want = Want {
                embedding: true,
                liveness: false,
            };
            let a = engine()
                .analyze(&bytes, want)
                .unwrap()
                .face
                .unwrap()
                .embedding
                .unwrap();
            let b = other
                .analyze(&bytes, want)
                .unwrap()
                .face
                .unwrap()
                .embedding
                .unwrap();
            worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(worst, f32::max);
            compared += 1;
        }
    }
    eprintln!("rebuilt dlib embedder: {compared} faces, max |difference| {worst:e}");
    assert!(compared >= 20);
    assert!(worst <= 1e-4, "max difference {worst}");
}
