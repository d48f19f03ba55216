//! RFC 9470 step-up challenges for resource servers: emit and parse
//! `WWW-Authenticate: Bearer error="insufficient_user_authentication", acr_values="...", max_age="..."`.

/// What a resource server needs before it serves a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepUpChallenge {
    /// Acceptable acr values, in order of preference.
    pub acr_values: Vec<String>,
    /// Maximum age of the last active authentication, seconds.
    pub max_age: Option<u64>,
    pub error_description: Option<String>,
}

/// Escapes a value for a quoted-string auth-param.
pub(super) fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

impl StepUpChallenge {
    /// The `WWW-Authenticate` header value (401 response).
    pub fn to_header(&self) -> String {
        let mut v = vec!["Bearer error=\"insufficient_user_authentication\"".to_owned()];
        if let Some(d) = &self.error_description {
            v.push(format!("error_description=\"{}\"", quote(d)));
        }
        if !self.acr_values.is_empty() {
            v.push(format!(
                "acr_values=\"{}\"",
                quote(&self.acr_values.join(" "))
            ));
        }
        if let Some(m) = self.max_age {
            v.push(format!("max_age=\"{m}\""));
        }
        v.join(", ")
    }

    /// Parses a `WWW-Authenticate` value; `None` unless it is a Bearer (or DPoP) challenge with
    /// `error="insufficient_user_authentication"`.
    pub fn parse(header: &str) -> Option<Self> {
        let (scheme, rest) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") && !scheme.eq_ignore_ascii_case("dpop") {
            return None;
        }
        let params = parse_params(rest)?;
        let get = |k: &str| {
            params
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        if get("error").as_deref() != Some("insufficient_user_authentication") {
            return None;
        }
        Some(Self {
            acr_values: get("acr_values")
                .map(|s| {
                    s.split(' ')
                        .filter(|x| !x.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            max_age: match get("max_age") {
                Some(m) => Some(m.parse().ok()?),
                None => None,
            },
            error_description: get("error_description"),
        })
    }

    /// Whether a token's `acr` and `auth_time` satisfy this challenge at `now`.
    pub fn satisfied_by(&self, acr: Option<&str>, auth_time: Option<i64>, now: i64) -> bool {
        let acr_ok = self.acr_values.is_empty()
            || acr.is_some_and(|a| self.acr_values.iter().any(|x| x == a));
        let age_ok = match self.max_age {
            None => true,
            Some(m) => auth_time.is_some_and(|t| now - t <= m as i64),
        };
        acr_ok && age_ok
    }
}

/// `name="quoted value", name=token` pairs.
fn parse_params(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let name = name.trim().trim_start_matches(',').trim().to_owned();
        let after = after.trim_start();
        let (value, remaining) = if let Some(q) = after.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    _ => v.push(c),
                }
            }
            (v, &q[end?..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        out.push((name, value));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let c = StepUpChallenge {
            acr_values: vec!["biometric".into(), "gold".into()],
            max_age: Some(0),
            error_description: Some("a \"fresh\" face check is required".into()),
        };
        let h = c.to_header();
        assert!(h.starts_with("Bearer error=\"insufficient_user_authentication\""));
        assert_eq!(StepUpChallenge::parse(&h), Some(c));
    }

    #[test]
    fn parses_the_rfc_examples_and_ignores_others() {
        let a = StepUpChallenge::parse(
            r#"Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="myACR""#,
        )
        .unwrap();
        assert_eq!(a.acr_values, vec!["myACR"]);
        let b = StepUpChallenge::parse(
            r#"Bearer error="insufficient_user_authentication", max_age="5""#,
        )
        .unwrap();
        assert_eq!(b.max_age, Some(5));
        assert!(StepUpChallenge::parse(r#"Bearer error="invalid_token""#).is_none());
        assert!(StepUpChallenge::parse(r#"Basic realm="x""#).is_none());
        assert!(
            StepUpChallenge::parse(
                r#"Bearer error="insufficient_user_authentication", max_age="-1""#
            )
            .is_none()
        );
    }

    #[test]
    fn satisfaction() {
        let c = StepUpChallenge {
            acr_values: vec!["biometric".into()],
            max_age: Some(60),
            error_description: None,
        };
        assert!(c.satisfied_by(Some("biometric"), Some(1_000), 1_030));
        assert!(!c.satisfied_by(Some("biometric"), Some(1_000), 1_100));
        assert!(!c.satisfied_by(Some("pwd"), Some(1_000), 1_030));
        assert!(!c.satisfied_by(None, None, 1_030));
    }
}
