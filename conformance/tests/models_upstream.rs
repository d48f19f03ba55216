//! `models install` from upstream URLs verifies every download and refuses a tampered one.
//! The "upstream" here is a local HTTP server, since this machine has no internet access.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use inherence::biometric::models::{Manifest, Source, install, sha256_hex, verify_all};

/// `(URL path, body)` pairs the test server answers with.
type Served = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Serves `files` over HTTP/1.0 until the test ends; 404 for anything else.
fn serve(files: Served) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) <= 2 {
                    break;
                }
            }
            let body = files
                .lock()
                .unwrap()
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, b)| b.clone());
            let mut s = stream;
            let _ = match body {
                Some(b) => {
                    let _ = write!(s, "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", b.len());
                    s.write_all(&b)
                }
                None => write!(s, "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
            };
        }
    });
    port
}

fn manifest(port: u16, bodies: &[(&str, &[u8])]) -> Manifest {
    let mut toml = String::from("schema = 1\n");
    for (i, (role, body)) in bodies.iter().enumerate() {
        let extra = match *role {
            "liveness" => {
                "input = { tensor = \"input\", shape = \"s\", colour = \"BGR\", range = \"r\", preprocessing = \"p\", crop_scale = 2.7 }\n"
            }
            "alignment-template" => "",
            _ => {
                "input = { tensor = \"input\", shape = \"s\", colour = \"BGR\", range = \"r\", preprocessing = \"p\" }\n"
            }
        };
        toml.push_str(&format!(
            "[[file]]\nname = \"f{i}\"\nrole = \"{role}\"\nfile = \"dir/f{i}.bin\"\nbytes = {}\nsha256 = \"{}\"\nlicence = \"MIT\"\nprovenance = \"test\"\nupstream_url = \"http://127.0.0.1:{port}/f{i}\"\n{extra}",
            body.len(),
            sha256_hex(body)
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("manifest.toml");
    std::fs::write(&p, toml).unwrap();
    Manifest::load(&p).unwrap()
}

#[test]
fn upstream_downloads_are_verified_and_tampering_is_refused() {
    let bodies: [(&str, &[u8]); 4] = [
        ("detector", b"detector weights"),
        ("embedder", b"embedder weights"),
        ("alignment-template", b"template"),
        ("liveness", b"liveness weights"),
    ];
    let served = Arc::new(Mutex::new(
        bodies
            .iter()
            .enumerate()
            .map(|(i, (_, b))| (format!("/f{i}"), b.to_vec()))
            .collect::<Vec<_>>(),
    ));
    let port = serve(served.clone());
    let m = manifest(port, &bodies);
    let src = Source::Upstream {
        python: "python3".into(),
        repo_root: ".".into(),
    };

    // A tampered file is downloaded, checked, refused and removed.
    served.lock().unwrap()[1].1 = b"embedder weightZ".to_vec();
    let dest = tempfile::tempdir().unwrap();
    let out = install(&m, dest.path(), &src);
    let bad: Vec<_> = out.iter().filter(|o| !o.ok).collect();
    assert_eq!(bad.len(), 1, "{out:?}");
    assert!(
        bad[0].action.contains("sha256 mismatch"),
        "{}",
        bad[0].action
    );
    assert!(!dest.path().join("dir/f1.bin").exists());
    assert_eq!(
        std::fs::read_dir(dest.path().join("dir")).unwrap().count(),
        3
    );

    // The genuine file installs; everything verifies; a second run changes nothing.
    served.lock().unwrap()[1].1 = b"embedder weights".to_vec();
    assert!(install(&m, dest.path(), &src).iter().all(|o| o.ok));
    assert!(verify_all(&m, dest.path()).iter().all(|s| s.ok));
    assert!(
        install(&m, dest.path(), &src)
            .iter()
            .all(|o| o.action.starts_with("already installed"))
    );

    // A missing upstream file is a clear error.
    served.lock().unwrap().remove(3);
    let dest2 = tempfile::tempdir().unwrap();
    let out = install(&m, dest2.path(), &src);
    let missing = out.iter().find(|o| o.name == "f3").unwrap();
    assert!(
        !missing.ok && missing.action.contains("404"),
        "{}",
        missing.action
    );
}
