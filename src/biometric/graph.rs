//! A load-time rewrite of ONNX graphs that keeps their arithmetic and speeds them up.
//!
//! ONNX Runtime's CPU `PRelu` kernel takes a slow broadcasting path for per-channel slopes and
//! forces NCHWc layout reorders around it: in the MiniFASNet liveness models it is about half of
//! the run time. For a slope `a <= 1`, `PRelu(x) = max(x, a * x)` holds exactly (for `x >= 0`,
//! `x >= a x`; for `x < 0`, `a x >= x`), and `Mul` + `Max` run on ORT's vectorised paths.
//! The model file on disk is untouched (its sha256 is checked before this runs); the rewrite
//! only happens in memory, node by node, and only where every slope value is `<= 1`.
//!
//! The protobuf handling is deliberately minimal: fields are copied byte for byte except the
//! graph's node list, so everything this code does not understand survives unchanged.

use std::collections::HashMap;

/// Why a model could not be rewritten (the caller then loads the original bytes).
#[derive(Debug, thiserror::Error)]
#[error("malformed ONNX protobuf: {0}")]
pub struct GraphError(&'static str);

#[derive(Clone, Copy)]
struct Field<'a> {
    num: u64,
    wire: u8,
    /// Payload: the bytes of a length-delimited field, or the encoded scalar.
    data: &'a [u8],
    /// The whole field as encoded (key, length and payload).
    raw: &'a [u8],
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, GraphError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or(GraphError("truncated varint"))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(GraphError("varint too long"))
}

fn parse(buf: &[u8]) -> Result<Vec<Field<'_>>, GraphError> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let start = pos;
        let key = read_varint(buf, &mut pos)?;
        let wire = (key & 7) as u8;
        let num = key >> 3;
        let data_start;
        match wire {
            0 => {
                data_start = pos;
                read_varint(buf, &mut pos)?;
            }
            1 => {
                data_start = pos;
                pos += 8;
            }
            2 => {
                let len = read_varint(buf, &mut pos)? as usize;
                data_start = pos;
                pos = pos.checked_add(len).ok_or(GraphError("length overflow"))?;
            }
            5 => {
                data_start = pos;
                pos += 4;
            }
            _ => return Err(GraphError("unsupported wire type")),
        }
        if pos > buf.len() {
            return Err(GraphError("field runs past the end"));
        }
        out.push(Field {
            num,
            wire,
            data: &buf[data_start..pos],
            raw: &buf[start..pos],
        });
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, num: u64, data: &[u8]) {
    put_varint(out, (num << 3) | 2);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn strings(fields: &[Field<'_>], num: u64) -> Vec<String> {
    fields
        .iter()
        .filter(|f| f.num == num && f.wire == 2)
        .map(|f| String::from_utf8_lossy(f.data).into_owned())
        .collect()
}

fn node(name: &str, op: &str, inputs: &[&str], outputs: &[&str]) -> Vec<u8> {
    let mut n = Vec::new();
    for i in inputs {
        put_bytes(&mut n, 1, i.as_bytes());
    }
    for o in outputs {
        put_bytes(&mut n, 2, o.as_bytes());
    }
    put_bytes(&mut n, 3, name.as_bytes());
    put_bytes(&mut n, 4, op.as_bytes());
    n
}

/// Float values of a float32 `TensorProto` (raw or `float_data`), if it is one.
fn tensor_floats(t: &[u8]) -> Option<Vec<f32>> {
    let fields = parse(t).ok()?;
    let mut dtype = None;
    let mut vals = Vec::new();
    for f in &fields {
        match (f.num, f.wire) {
            (2, 0) => {
                let mut p = 0;
                dtype = read_varint(f.data, &mut p).ok();
            }
            (9, 2) => vals.extend(
                f.data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            (4, 2) => vals.extend(
                f.data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            (4, 5) => vals.push(f32::from_le_bytes([
                f.data[0], f.data[1], f.data[2], f.data[3],
            ])),
            (13, _) => return None, // external data: not inspected
            _ => {}
        }
    }
    (dtype == Some(1) && !vals.is_empty()).then_some(vals)
}

/// Rewrites every eligible `PRelu` node; returns the new model bytes and how many were rewritten.
pub fn rewrite_prelu(model: &[u8]) -> Result<(Vec<u8>, usize), GraphError> {
    let top = parse(model)?;
    let mut out = Vec::with_capacity(model.len() + 4096);
    let mut count = 0;
    for f in &top {
        if f.num == 7 && f.wire == 2 {
            let (graph, n) = rewrite_graph(f.data)?;
            count += n;
            put_bytes(&mut out, 7, &graph);
        } else {
            out.extend_from_slice(f.raw);
        }
    }
    Ok((out, count))
}

fn rewrite_graph(graph: &[u8]) -> Result<(Vec<u8>, usize), GraphError> {
    let fields = parse(graph)?;
    let mut initializers: HashMap<String, &[u8]> = HashMap::new();
    for f in fields.iter().filter(|f| f.num == 5 && f.wire == 2) {
        if let Some(name) = strings(&parse(f.data)?, 8).into_iter().next() {
            initializers.insert(name, f.data);
        }
    }
    let mut out = Vec::with_capacity(graph.len() + 4096);
    let mut count = 0;
    for f in &fields {
        if f.num != 1 || f.wire != 2 {
            out.extend_from_slice(f.raw);
            continue;
        }
        let nf = parse(f.data)?;
        let op = strings(&nf, 4);
        let domain = strings(&nf, 7);
        let inputs = strings(&nf, 1);
        let outputs = strings(&nf, 2);
        let is_prelu = op.first().map(String::as_str) == Some("PRelu")
            && domain.iter().all(|d| d.is_empty() || d == "ai.onnx")
            && inputs.len() == 2
            && outputs.len() == 1;
        let slopes_ok = is_prelu
            && initializers
                .get(&inputs[1])
                .and_then(|t| tensor_floats(t))
                .is_some_and(|v| v.iter().all(|a| a.is_finite() && *a <= 1.0));
        if !slopes_ok {
            out.extend_from_slice(f.raw);
            continue;
        }
        let name = strings(&nf, 3).into_iter().next().unwrap_or_default();
        let tmp = format!("{}__inherence_prelu_ax", outputs[0]);
        let mul = node(
            &format!("{name}__inherence_mul"),
            "Mul",
            &[&inputs[1], &inputs[0]],
            &[&tmp],
        );
        let max = node(
            &format!("{name}__inherence_max"),
            "Max",
            &[&inputs[0], &tmp],
            &[&outputs[0]],
        );
        put_bytes(&mut out, 1, &mul);
        put_bytes(&mut out, 1, &max);
        count += 1;
    }
    Ok((out, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float_tensor(name: &str, vals: &[f32]) -> Vec<u8> {
        let mut t = Vec::new();
        put_varint(&mut t, 1 << 3); // dims
        put_varint(&mut t, vals.len() as u64);
        put_varint(&mut t, 2 << 3); // data_type
        put_varint(&mut t, 1);
        put_bytes(&mut t, 8, name.as_bytes());
        let raw: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        put_bytes(&mut t, 9, &raw);
        t
    }

    fn model_with_prelu(slopes: &[f32]) -> Vec<u8> {
        let mut g = Vec::new();
        put_bytes(&mut g, 1, &node("p", "PRelu", &["x", "s"], &["y"]));
        put_bytes(&mut g, 2, b"graph-name");
        put_bytes(&mut g, 5, &float_tensor("s", slopes));
        let mut m = Vec::new();
        put_varint(&mut m, 1 << 3); // ir_version
        put_varint(&mut m, 8);
        put_bytes(&mut m, 7, &g);
        m
    }

    #[test]
    fn prelu_becomes_mul_and_max() {
        let (out, n) = rewrite_prelu(&model_with_prelu(&[0.25, -0.1])).unwrap();
        assert_eq!(n, 1);
        let top = parse(&out).unwrap();
        assert_eq!(top[0].raw, &[0x08, 0x08]); // untouched field kept byte for byte
        let graph = parse(top[1].data).unwrap();
        let ops: Vec<String> = graph
            .iter()
            .filter(|f| f.num == 1)
            .map(|f| strings(&parse(f.data).unwrap(), 4)[0].clone())
            .collect();
        assert_eq!(ops, ["Mul", "Max"]);
        let max = parse(graph[1].data).unwrap();
        assert_eq!(strings(&max, 2), ["y"]);
        assert_eq!(graph.len(), 4);
        assert_eq!((graph[2].num, graph[3].num), (2, 5)); // name and initializer kept
    }

    #[test]
    fn slopes_above_one_are_left_alone() {
        let m = model_with_prelu(&[0.5, 1.5]);
        let (out, n) = rewrite_prelu(&m).unwrap();
        assert_eq!(n, 0);
        assert_eq!(out, m);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let m = model_with_prelu(&[0.5]);
        assert!(rewrite_prelu(&m[..m.len() - 3]).is_err());
    }

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut p = 0;
            assert_eq!(read_varint(&b, &mut p).unwrap(), v);
            assert_eq!(p, b.len());
        }
    }
}
