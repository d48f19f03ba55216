//! `inherence-tools` as it is run (`make bench-audit` and the others).

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inherence-tools"))
        .args(args)
        .output()
        .expect("run inherence-tools")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn audit_bench_exports_and_verifies_what_it_appended() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("bench");
    let o = run(&[
        "audit-bench",
        "--records",
        "3000",
        "--appends",
        "200",
        "--dir",
        work.to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("records.jsonl: export 3000 records"), "{out}");
    assert!(out.contains("records.csv: export 3000 records"), "{out}");
    assert_eq!(out.matches("(OK").count(), 3, "{out}");
}

#[test]
fn the_tools_binary_offers_every_tool() {
    let o = Command::new(env!("CARGO_BIN_EXE_inherence-tools"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    for tool in [
        "bench",
        "loadtest",
        "eval-liveness",
        "test-camera",
        "audit-bench",
    ] {
        assert!(help.contains(tool), "inherence-tools lacks {tool}: {help}");
    }
}
