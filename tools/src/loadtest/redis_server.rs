//! A Redis server for the measurement, and store latency from this process.

use super::*;

/// A `redis-server` for the measurement (no persistence), stopped with the run.
pub(super) struct RedisChild {
    pub(super) child: Child,
    pub(super) urls: Vec<String>,
    pub(super) version: String,
}

impl Drop for RedisChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RedisChild {
    pub(super) fn start(dir: &Path) -> Result<Self, Failure> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                fail(format!(
                    "cannot start redis-server (Debian package redis-server): {e}"
                ))
            })?;
        let url = format!("redis://127.0.0.1:{port}/");
        let mut r = Self {
            child,
            urls: vec![url.clone()],
            version: String::new(),
        };
        for _ in 0..200 {
            if let Ok(c) = redis::Client::open(url.as_str())
                && let Ok(mut con) = c.get_connection()
                && let Ok(info) = redis::cmd("INFO").arg("server").query::<String>(&mut con)
            {
                let version = info
                    .lines()
                    .find_map(|l| l.strip_prefix("redis_version:"))
                    .unwrap_or("?")
                    .trim()
                    .to_owned();
                r.version = format!("Redis {version}");
                return Ok(r);
            }
            // Waiting for another process in real time: no clock to inject.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(fail("redis-server did not start"))
    }

    /// The servers' store settings: this Redis and a fresh template key in a file.
    pub(super) fn store_config(
        &self,
        dir: &Path,
    ) -> Result<inherence::store::StoreConfig, Failure> {
        use base64::Engine as _;
        let mut k = [0u8; 32];
        aws_lc_rs::rand::fill(&mut k).map_err(|_| fail("no randomness"))?;
        let file = dir.join("template-keys");
        std::fs::write(
            &file,
            format!(
                "loadtest-1:{}\n",
                base64::engine::general_purpose::STANDARD.encode(k)
            ),
        )
        .map_err(fail)?;
        Ok(inherence::store::StoreConfig {
            backend: inherence::store::StoreBackend::Redis,
            path: dir.join("store"),
            redis_urls: self.urls.clone(),
            encryption_keys: Vec::new(),
            encryption_key_file: Some(file),
        })
    }
}

/// Latency of `n` store operations (a third each of put with expiry, get and take), ms.
pub(super) fn store_latency(
    kv: &dyn inherence::store::Kv,
    n: usize,
) -> Result<(f64, f64, f64), Failure> {
    // A short-lived namespace like the codes and flows (the raw backend is measured).
    const LATENCY: inherence::store::Namespace =
        inherence::store::Namespace::new("latency").expiring();
    let mut lat = Vec::with_capacity(n);
    let exp = Some(SystemClock.now_millis() + 600_000);
    for i in 0..n / 3 {
        let key = format!("k{i}");
        let t = Instant::now();
        kv.put(
            &LATENCY,
            &key,
            b"a value of some sixty bytes, like a small JSON record....",
            exp,
        )
        .map_err(fail)?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        kv.get(&LATENCY, &key).map_err(fail)?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        kv.take(&LATENCY, &key).map_err(fail)?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let pct = |q| inherence::eval::metrics::percentile(&lat, q).unwrap_or(f64::NAN);
    Ok((pct(50.0), pct(99.0), pct(100.0)))
}
