//! The Redis backend: several stateless instances share one Redis (single node or Redis
//! Cluster). Same contract as the embedded store, checked by the same behavioural suite.
//!
//! Layout: an entry of namespace `ns` is the string key `inh:{ns}:k:<key>`, with Redis's own
//! expiry (`PXAT`); each namespace has an index `inh:{ns}:idx`, a sorted set of its keys scored
//! by expiry (`+inf` for none), which `keys` reads and every write prunes, both by Redis's own
//! clock. The `{ns}` hash tag puts a namespace's entries and its index in one cluster slot, so
//! every operation is one Lua script on one node: atomic, and free of cross-slot errors.
//! Redis must not evict keys on its own (`maxmemory-policy noeviction`, the default).

use std::sync::Mutex;

use redis::{ConnectionLike, Script};

use super::{Kv, Namespace, StoreError};

/// Longest wait for Redis (connect, read, write): a Redis that stops answering is an error,
/// not a hang.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Every script reads the time from Redis itself, the clock that expires the entries, so the
/// index is pruned by the same clock (a skewed instance clock cannot hide or revive keys).
const NOW: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"#;

const PUT: &str = r#"
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)
redis.call('ZADD', KEYS[2], ARGV[2] ~= '' and ARGV[2] or '+inf', ARGV[3])
return 1
"#;

const PUT_NEW: &str = r#"
local ok
if ARGV[2] ~= '' then
  ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2])
else
  ok = redis.call('SET', KEYS[1], ARGV[1], 'NX')
end
if not ok then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)
redis.call('ZADD', KEYS[2], ARGV[2] ~= '' and ARGV[2] or '+inf', ARGV[3])
return 1
"#;

const TAKE: &str = r#"
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[1])
return v
"#;

const INCR: &str = r#"
local existed = redis.call('EXISTS', KEYS[1])
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 then
  if ARGV[2] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)
  redis.call('ZADD', KEYS[2], ARGV[2] ~= '' and ARGV[2] or '+inf', ARGV[3])
end
return v
"#;

const REPLACE: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
"#;

/// The index alone answers: every entry is written and deleted together with its index
/// member, and an expired entry's member is scored by the same expiry, so the script touches
/// only the key it declares (as Redis Cluster requires).
const KEYS: &str = r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{NOW}{body}"))
}

enum Conn {
    Single(redis::Connection),
    Cluster(Box<redis::cluster::ClusterConnection>),
}

impl Conn {
    fn as_like(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Single(c) => c,
            Conn::Cluster(c) => &mut **c,
        }
    }
}

enum Source {
    Single(redis::Client),
    Cluster(redis::cluster::ClusterClient),
}

struct Scripts {
    put: Script,
    put_new: Script,
    take: Script,
    incr: Script,
    keys: Script,
    replace: Script,
}

/// A Redis store (connection pool over one node or a cluster).
pub struct RedisStore {
    source: Source,
    pool: Mutex<Vec<Conn>>,
    scripts: Scripts,
    /// Logged form of the target (no credentials).
    target: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.target)
            .finish()
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

fn data_key(ns: &Namespace, key: &str) -> String {
    format!("inh:{{{ns}}}:k:{key}")
}

fn index_key(ns: &Namespace) -> String {
    format!("inh:{{{ns}}}:idx")
}

/// The URL without user or password, for logs.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.to_string()
        }
        Err(_) => "redis (unparsable URL)".into(),
    }
}

impl RedisStore {
    /// Connects to one node (`redis://host:port/db`, `rediss://` for TLS) or, with several
    /// URLs, to a cluster through its seed nodes. Fails now if Redis cannot be reached.
    /// Expiry and the index go by Redis's own clock.
    pub fn connect(urls: &[String]) -> Result<Self, StoreError> {
        let (source, target) = match urls {
            [] => return Err(StoreError::Unavailable("no Redis URL configured".into())),
            [one] => (
                Source::Single(redis::Client::open(one.as_str()).map_err(unavailable)?),
                redact(one),
            ),
            many => (
                Source::Cluster(
                    redis::cluster::ClusterClient::new(
                        many.iter().map(String::as_str).collect::<Vec<&str>>(),
                    )
                    .map_err(unavailable)?,
                ),
                format!("cluster via {}", redact(&many[0])),
            ),
        };
        let s = Self {
            source,
            pool: Mutex::new(Vec::new()),
            scripts: Scripts {
                put: script(PUT),
                put_new: script(PUT_NEW),
                take: Script::new(TAKE),
                incr: script(INCR),
                keys: script(KEYS),
                replace: Script::new(REPLACE),
            },
            target,
        };
        let c = s.connection()?;
        s.give_back(c);
        Ok(s)
    }

    fn connection(&self) -> Result<Conn, StoreError> {
        if let Some(c) = self.pool.lock().ok().and_then(|mut p| p.pop()) {
            return Ok(c);
        }
        Ok(match &self.source {
            Source::Single(c) => {
                let con = c
                    .get_connection_with_timeout(TIMEOUT)
                    .map_err(unavailable)?;
                con.set_read_timeout(Some(TIMEOUT)).map_err(unavailable)?;
                con.set_write_timeout(Some(TIMEOUT)).map_err(unavailable)?;
                Conn::Single(con)
            }
            Source::Cluster(c) => Conn::Cluster(Box::new(c.get_connection().map_err(unavailable)?)),
        })
    }

    fn give_back(&self, c: Conn) {
        if let Ok(mut p) = self.pool.lock()
            && p.len() < 64
        {
            p.push(c);
        }
    }

    /// Runs `f` on a pooled connection. A connection that failed is dropped; when the failure
    /// is the connection itself (Redis restarted, failover), the pool is emptied and `f` runs
    /// once more on a fresh connection. A retried `take` whose first run did happen finds
    /// nothing: a lost single-use item, never a double use.
    fn with<T>(
        &self,
        f: impl FnMut(&mut dyn ConnectionLike) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        self.with_retry(true, f)
    }

    /// `retry = false` for operations that must not run twice (`put_new`, `incr`): their
    /// first run may have happened with only the answer lost.
    fn with_retry<T>(
        &self,
        retry: bool,
        f: impl FnMut(&mut dyn ConnectionLike) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        // A round trip (and, after a dropped connection, a reconnect): off the async workers.
        super::blocking(|| self.round_trip(retry, f))
    }

    fn round_trip<T>(
        &self,
        retry: bool,
        mut f: impl FnMut(&mut dyn ConnectionLike) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut c = self.connection()?;
        match f(c.as_like()) {
            Ok(v) => {
                self.give_back(c);
                Ok(v)
            }
            Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() => {
                if let Ok(mut p) = self.pool.lock() {
                    p.clear();
                }
                if !retry {
                    return Err(unavailable(e));
                }
                let mut c = self.connection()?;
                let v = f(c.as_like()).map_err(unavailable)?;
                self.give_back(c);
                Ok(v)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    fn exp(expires_at: Option<i64>) -> String {
        expires_at.map(|t| t.max(1).to_string()).unwrap_or_default()
    }
}

impl RedisStore {
    /// `put` and `put_new`: the same arguments, a different script.
    fn write(
        &self,
        retry: bool,
        script: &Script,
        ns: &Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.with_retry(retry, |c| {
            script
                .key(data_key(ns, key))
                .key(index_key(ns))
                .arg(value)
                .arg(Self::exp(expires_at))
                .arg(key)
                .invoke::<i64>(c)
        })
    }
}

impl Kv for RedisStore {
    fn put(
        &self,
        ns: &Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.write(true, &self.scripts.put, ns, key, value, expires_at)
            .map(|_| ())
    }

    fn put_new(
        &self,
        ns: &Namespace,
        key: &str,
        value: &[u8],
        expires_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.write(false, &self.scripts.put_new, ns, key, value, expires_at)
            .map(|n| n == 1)
    }

    fn get(&self, ns: &Namespace, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| redis::cmd("GET").arg(data_key(ns, key)).query(c))
    }

    fn take(&self, ns: &Namespace, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| {
            self.scripts
                .take
                .key(data_key(ns, key))
                .key(index_key(ns))
                .arg(key)
                .invoke(c)
        })
    }

    fn delete(&self, ns: &Namespace, key: &str) -> Result<bool, StoreError> {
        Ok(self.take(ns, key)?.is_some())
    }

    fn incr(
        &self,
        ns: &Namespace,
        key: &str,
        by: i64,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.with_retry(false, |c| {
            self.scripts
                .incr
                .key(data_key(ns, key))
                .key(index_key(ns))
                .arg(by)
                .arg(Self::exp(expires_at))
                .arg(key)
                .invoke(c)
        })
    }

    fn keys(&self, ns: &Namespace) -> Result<Vec<String>, StoreError> {
        let mut v: Vec<String> = self.with(|c| self.scripts.keys.key(index_key(ns)).invoke(c))?;
        v.sort();
        Ok(v)
    }

    fn replace(
        &self,
        ns: &Namespace,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        // Not retried: a first run that happened with only its answer lost would read as
        // "changed meanwhile".
        self.with_retry(false, |c| {
            self.scripts
                .replace
                .key(data_key(ns, key))
                .arg(expected)
                .arg(new)
                .invoke::<i64>(c)
        })
        .map(|n| n == 1)
    }
}
