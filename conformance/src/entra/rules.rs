//! What Entra checks: the provider's metadata and keys, and every documented rule of its
//! answer.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;

use super::{AMR_TYPES, Entra, Outcome, Pending, SKEW_SECS, now};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};

impl Entra {
    /// The provider's metadata, checked as Entra checks it; returns (issuer, authorization
    /// endpoint, JWKS).
    pub async fn discover(&self) -> Result<(String, String, Value), Vec<String>> {
        let url = &self.0.discovery_url.lock().unwrap().clone();
        let mut why = Vec::new();
        if !url.ends_with("/.well-known/openid-configuration") {
            why.push("the discovery URL must end with /.well-known/openid-configuration".into());
        }
        let get = |u: String| {
            let http = self.0.http.clone();
            async move {
                let r = http.get(&u).send().await.map_err(|e| format!("{u}: {e}"))?;
                if !r.status().is_success() || r.content_length().is_none() {
                    return Err(format!("{u}: HTTP {} without a content length", r.status()));
                }
                r.json::<Value>().await.map_err(|e| format!("{u}: {e}"))
            }
        };
        let doc = get(url.clone()).await.map_err(|e| vec![e])?;
        let text = |k: &str| doc[k].as_str().unwrap_or_default().to_owned();
        let has = |k: &str, v: &str| doc[k].as_array().is_some_and(|a| a.iter().any(|x| x == v));
        let issuer = text("issuer");
        let expected_issuer = url.trim_end_matches("/.well-known/openid-configuration");
        if issuer != expected_issuer {
            why.push(format!(
                "issuer {issuer} does not match the discovery URL's {expected_issuer}"
            ));
        }
        for k in ["issuer", "jwks_uri"] {
            let v = text(k);
            let parsed = url::Url::parse(&v);
            match parsed {
                Ok(u) if u.query().is_none() && u.fragment().is_none() => {
                    if u.scheme() != "https" && u.host_str() != Some("127.0.0.1") {
                        why.push(format!("{k} must be https"));
                    }
                }
                _ => why.push(format!("{k} must be a URL without query or fragment")),
            }
        }
        if text("authorization_endpoint").is_empty() {
            why.push("authorization_endpoint is missing".into());
        }
        if !has("scopes_supported", "openid") {
            why.push("scopes_supported must include openid".into());
        }
        if !has("response_types_supported", "id_token") {
            why.push("response_types_supported must include id_token".into());
        }
        if !doc["subject_types_supported"].is_array() {
            why.push("subject_types_supported is missing".into());
        }
        if !has("id_token_signing_alg_values_supported", "RS256") {
            why.push("id_token_signing_alg_values_supported must include RS256".into());
        }
        if doc.get("claim_types_supported").is_some() && !has("claim_types_supported", "normal") {
            why.push("claim_types_supported must include normal".into());
        }
        let jwks = get(text("jwks_uri")).await.map_err(|e| vec![e])?;
        for k in jwks["keys"].as_array().into_iter().flatten() {
            let x5c_ok = k["x5c"][0]
                .as_str()
                .and_then(|c| STANDARD.decode(c).ok())
                .is_some_and(|der| {
                    // The certificate must carry the key itself: its RSA modulus, or its EC
                    // point's x coordinate.
                    let key = k["n"]
                        .as_str()
                        .or(k["x"].as_str())
                        .and_then(|n| URL_SAFE_NO_PAD.decode(n).ok())
                        .unwrap_or_default();
                    der.first() == Some(&0x30)
                        && !key.is_empty()
                        && der.windows(key.len()).any(|w| w == key.as_slice())
                });
            if !x5c_ok {
                why.push(format!(
                    "key {} has no x5c certificate for its key",
                    k["kid"]
                ));
            }
        }
        if why.is_empty() {
            Ok((issuer, text("authorization_endpoint"), jwks))
        } else {
            Err(why)
        }
    }

    /// Judges the provider's answer POSTed to the redirect URI, as Entra does, and records it
    /// under its state. An unknown or already answered state is invalid (a replay).
    pub async fn receive(&self, fields: &[(String, String)]) -> Outcome {
        let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let state = field("state").unwrap_or_default();
        let pending = self.0.pending.lock().unwrap().remove(&state);
        let outcome = match pending {
            None => Outcome::Invalid {
                reasons: vec!["unknown or already answered state".into()],
            },
            Some(p) => self.judge(fields, &p).await,
        };
        self.0
            .outcomes
            .lock()
            .unwrap()
            .insert(state, outcome.clone());
        outcome
    }

    /// The outcome recorded for `state`.
    pub fn outcome(&self, state: &str) -> Option<Outcome> {
        self.0.outcomes.lock().unwrap().get(state).cloned()
    }

    async fn judge(&self, fields: &[(String, String)], p: &Pending) -> Outcome {
        let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if let Some(error) = field("error") {
            return Outcome::ProviderError {
                error,
                description: field("error_description").unwrap_or_default(),
            };
        }
        let mut why = response_fields(fields);
        let Some(token) = field("id_token") else {
            return Outcome::Invalid {
                reasons: vec!["no id_token and no error".into()],
            };
        };
        let (issuer, _, jwks) = match self.discover().await {
            Ok(d) => d,
            Err(reasons) => return Outcome::Invalid { reasons },
        };
        let claims = match verify_rs256(&token, &jwks) {
            Ok(c) => c,
            Err(e) => return Outcome::Invalid { reasons: vec![e] },
        };
        why.extend(self.claim_rules(&claims, p, &issuer));
        let s = |k: &str| claims[k].as_str().map(str::to_owned);
        if why.is_empty() {
            Outcome::Satisfied {
                acr: s("acr").unwrap_or_default(),
                amr: claims["amr"][0].as_str().unwrap_or_default().to_owned(),
                sub: s("sub").unwrap_or_default(),
                oid: s("oid").unwrap_or_default(),
                tid: s("tid").unwrap_or_default(),
            }
        } else {
            Outcome::Invalid { reasons: why }
        }
    }

    /// The documented rules for the claims of an answer to the request remembered under
    /// `state` (which stays pending); returns what breaks them. For tests of the simulator
    /// itself: every rule must be able to fail.
    pub fn check_claims(&self, state: &str, claims: &Value, issuer: &str) -> Vec<String> {
        let p = self.0.pending.lock().unwrap().get(state).cloned();
        match p {
            Some(p) => self.claim_rules(claims, &p, issuer),
            None => vec!["unknown state".into()],
        }
    }

    fn claim_rules(&self, claims: &Value, p: &Pending, issuer: &str) -> Vec<String> {
        let mut why = Vec::new();
        let hint = self.hint_claims(&p.user, &p.tenant_id);
        let s = |k: &str| claims[k].as_str().map(str::to_owned);
        if s("iss").as_deref() != Some(issuer) {
            why.push(format!(
                "iss {:?} is not the provider's issuer",
                claims["iss"]
            ));
        }
        let aud_ok = match &claims["aud"] {
            Value::String(a) => *a == self.0.setup.client_id,
            Value::Array(a) => a.len() == 1 && a[0] == self.0.setup.client_id.as_str(),
            _ => false,
        };
        if !aud_ok {
            why.push(format!("aud {} is not the client id", claims["aud"]));
        }
        for k in ["sub", "oid", "tid"] {
            if claims[k] != hint[k] {
                why.push(format!(
                    "{k} {} does not match the hint's {}",
                    claims[k], hint[k]
                ));
            }
        }
        if s("nonce").as_deref() != Some(p.nonce.as_str()) {
            why.push("nonce does not match the request".into());
        }
        let t = now();
        match (claims["iat"].as_i64(), claims["exp"].as_i64()) {
            (Some(iat), Some(exp)) if iat <= t + SKEW_SECS && exp > t - SKEW_SECS && exp > iat => {}
            _ => why.push(format!(
                "iat/exp are not a current lifetime: {} {}",
                claims["iat"], claims["exp"]
            )),
        }
        let acr = s("acr").unwrap_or_default();
        if !p.acr_values.contains(&acr) {
            why.push(format!(
                "acr {:?} is not one of the requested values",
                claims["acr"]
            ));
        }
        let amr = match claims["amr"].as_array() {
            Some(a) if a.len() == 1 => a[0].as_str().unwrap_or_default().to_owned(),
            _ => {
                why.push(format!(
                    "amr must be an array of one method: {}",
                    claims["amr"]
                ));
                String::new()
            }
        };
        match AMR_TYPES.iter().find(|(a, _)| *a == amr) {
            None => why.push(format!("amr {amr:?} is not a documented method")),
            Some((_, kind)) => {
                if !acr_accepts(&acr, kind) {
                    why.push(format!("amr {amr} ({kind}) does not satisfy acr {acr}"));
                }
            }
        }
        why
    }
}

/// The fields of a successful answer: `id_token` and `state`, nothing else.
pub fn response_fields(fields: &[(String, String)]) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| !["id_token", "state"].contains(&k.as_str()))
        .map(|(k, _)| format!("unexpected response field {k}"))
        .collect()
}

/// Whether a method of type `kind` (inherence, possession) satisfies `acr`.
pub fn acr_accepts(acr: &str, kind: &str) -> bool {
    match acr {
        "possessionorinherence" => kind == "possession" || kind == "inherence",
        "knowledgeorinherence" | "inherence" => kind == "inherence",
        "knowledgeorpossession" | "possession" => kind == "possession",
        "knowledgeorpossessionorinherence" => true,
        _ => false,
    }
}

/// Checks an RS256 JWT against a JWKS (the `kid` must name one of its keys, compared exactly);
/// returns its claims.
pub fn verify_rs256(token: &str, jwks: &Value) -> Result<Value, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [h, c, sig] = parts.as_slice() else {
        return Err("the id_token is not a JWS".into());
    };
    let decode = |p: &str| {
        URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|e| format!("base64url: {e}"))
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
    };
    let header = decode(h)?;
    if header["alg"] != "RS256" {
        return Err(format!("alg {} is not RS256", header["alg"]));
    }
    let kid = header["kid"].as_str().ok_or("the header has no kid")?;
    let key = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kid"] == kid)
        .ok_or_else(|| format!("kid {kid} is not in the provider's JWKS"))?;
    let part = |k: &str| {
        key[k]
            .as_str()
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .ok_or_else(|| format!("key {kid} has no {k}"))
    };
    let (n, e) = (part("n")?, part("e")?);
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| "the signature is not base64url".to_owned())?;
    RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            format!("{h}.{c}").as_bytes(),
            &sig,
        )
        .map_err(|_| "the id_token signature does not verify".to_owned())?;
    decode(c)
}
