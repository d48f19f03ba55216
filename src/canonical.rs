//! Python-compatible canonical JSON, as the Didit-compatible webhook signatures and
//! the audit chain hashes need it:
//! `json.dumps(shorten_floats(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=...)`.
//!
//! - object keys sorted by code point at every level (UTF-8 byte order is the same order);
//! - no whitespace; arrays keep their order;
//! - integral floats written as integers (`100.0` -> `100`, `-0.0` -> `0`), other floats as
//!   Python's `repr` (shortest round trip; exponent form below 1e-4 with two exponent digits);
//! - strings escaped as Python does: `\"`, `\\`, `\n \r \t \b \f`, other controls as `\u00xx`;
//!   with `ascii`, everything outside U+0020..U+007E as `\uxxxx` (surrogate pairs beyond the
//!   BMP); `/` never escaped.

use serde_json::{Number, Value};

/// Serialises `v`; `ascii` = Python's `ensure_ascii=True` (the HTTP body and `X-Signature`),
/// `false` = `ensure_ascii=False` (`X-Signature-V2`).
pub fn to_string(v: &Value, ascii: bool) -> String {
    let mut out = String::new();
    write_value(&mut out, v, ascii);
    out
}

fn write_value(out: &mut String, v: &Value, ascii: bool) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s, ascii),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, x, ascii);
            }
            out.push(']');
        }
        Value::Object(m) => {
            // serde_json's map is ordered by key bytes (no `preserve_order`); sort explicitly
            // anyway so the output never depends on that feature.
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k, ascii);
                out.push(':');
                write_value(out, &m[k], ascii);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &Number) {
    if n.is_i64() || n.is_u64() {
        out.push_str(&n.to_string());
        return;
    }
    let f = n.as_f64().unwrap_or(0.0);
    out.push_str(&python_float(f));
}

/// Python's `repr(float)` after `shorten_floats` (integral values become integers).
pub fn python_float(f: f64) -> String {
    if !f.is_finite() {
        // json.dumps would write NaN/Infinity, which is not JSON; payloads never contain them.
        return "null".into();
    }
    if f.fract() == 0.0 {
        let s = format!("{f:.0}");
        return if s == "-0" { "0".into() } else { s };
    }
    // Shortest round-trip digits, in scientific form: "d.ddde-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..16).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        // Rust's Display is the shortest round-trip positional form, as repr is in this range.
        format!("{f}")
    }
}

fn write_string(out: &mut String, s: &str, ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ascii && !(' '..='~').contains(&c) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_follow_python_repr() {
        for (f, want) in [
            (100.0, "100"),
            (-0.0, "0"),
            (2.0, "2"),
            (96.15, "96.15"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-2.5e-5, "-2.5e-05"),
            (123456.789, "123456.789"),
            (1e300, &format!("{:.0}", 1e300)),
            (0.30000000000000004, "0.30000000000000004"),
        ] {
            assert_eq!(python_float(f), want, "{f}");
        }
    }

    #[test]
    fn strings_are_escaped_like_python() {
        let v = json!({"b": "a/b\"c\\\n\t\u{7f}é\u{2028}😀\u{01}", "a": [1, 2.0, true, null, {}]});
        assert_eq!(
            to_string(&v, true),
            r#"{"a":[1,2,true,null,{}],"b":"a/b\"c\\\n\t\u007f\u00e9\u2028\ud83d\ude00\u0001"}"#
        );
        assert_eq!(
            to_string(&v, false),
            "{\"a\":[1,2,true,null,{}],\"b\":\"a/b\\\"c\\\\\\n\\t\u{7f}é\u{2028}😀\\u0001\"}"
        );
    }

    #[test]
    fn keys_sort_by_code_point() {
        let v = json!({"a": 1, "B": 2, "10": 3, "2": 4, "9": 5, "é": 6, "z": 7});
        assert_eq!(
            to_string(&v, false),
            r#"{"10":3,"2":4,"9":5,"B":2,"a":1,"z":7,"é":6}"#
        );
    }
}
