//! `inherence-tools eval-liveness`: the capture protocol measured end to end on the engine, with
//! the same decision rule as the step-up (`CaptureOutcome::approves`).
//!
//! - Genuine: the responding test camera answers fresh challenges of every method from a
//!   recording of a real person enrolled from a portrait; approval rate on the first attempt
//!   and the reasons for refusals.
//! - Attacks: every attack of `attacks.rs` against every method, on photos of enrolled people
//!   (never their enrolment photo), on the recording (responding attackers, replays), and on
//!   the presentation-attack set's prints and screens.
//! - Speed: server time per burst (the engine's `analyze_capture` plus the match), and the
//!   verdicts per second with every core busy.

use crate::biometric::FaceEngine as _;
use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::attacks::{self, Attack, Material};
use super::camera::{self, Answer, Footage, Rng, Shot};
use super::data::Split;
use super::metrics::percentile;
use crate::biometric::capture::{ChallengeSettings, LivenessMethod};
use crate::biometric::{CaptureOutcome, CapturedFrame, Engine, Enrolment, Template};

/// Approvals of one kind of attempt.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tally {
    pub attempts: usize,
    pub approved: usize,
    /// Refusals by their first reason.
    pub reasons: BTreeMap<String, usize>,
}

impl Tally {
    fn add(&mut self, approved: bool, o: &CaptureOutcome, matched: bool) {
        self.attempts += 1;
        if approved {
            self.approved += 1;
            return;
        }
        let reason = o
            .risks
            .iter()
            .find(|r| r.is_capture_protocol())
            .or(o.risks.first())
            .map(|r| r.code())
            .unwrap_or_else(|| {
                if matched {
                    "OTHER".into()
                } else {
                    "LOW_FACE_MATCH_SIMILARITY".into()
                }
            });
        *self.reasons.entry(reason).or_default() += 1;
    }

    pub fn rate(&self) -> f64 {
        self.approved as f64 / self.attempts.max(1) as f64
    }
}

/// The whole report.
#[derive(Debug, Default, Serialize)]
pub struct LivenessReport {
    /// Genuine first attempts per method (`ACTIVE_3D motion-only` for the alternative), and
    /// with a fainter reflection (`FLASHING k=0.08`).
    pub genuine: BTreeMap<String, Tally>,
    /// Attack approvals per method and attack.
    pub attacks: BTreeMap<String, BTreeMap<String, Tally>>,
    /// Server time per burst, ms (p50, p95, p99) per method, genuine bursts.
    pub burst_ms: BTreeMap<String, [f64; 3]>,
    /// Of which decoding, detecting and measuring every frame, ms (p50, p95, p99).
    pub measure_ms: BTreeMap<String, [f64; 3]>,
    /// Verdicts per second with every core busy (genuine FLASHING bursts).
    pub saturation_per_s: f64,
    pub victims: usize,
    pub photos: usize,
    /// Every approved attack with what the server measured, to see how it got through.
    pub approved_attacks: Vec<ApprovedAttack>,
}

/// One attack the server approved.
#[derive(Debug, Serialize)]
pub struct ApprovedAttack {
    pub method: String,
    pub attack: String,
    /// The attacked person and photo (file of the split), when the attack used a photo.
    pub photo: Option<String>,
    pub flash: Option<crate::biometric::capture::flash::FlashEvidence>,
    pub motion: Option<crate::biometric::capture::motion::MotionEvidence>,
    pub liveness_score: Option<f64>,
}

impl ApprovedAttack {
    fn new(
        method: LivenessMethod,
        attack: Attack,
        photo: Option<&str>,
        o: &CaptureOutcome,
    ) -> Self {
        Self {
            method: method.as_str().into(),
            attack: attack.name(),
            photo: photo.map(str::to_owned),
            flash: o.flash.clone(),
            motion: o.motion.clone(),
            liveness_score: o.liveness.as_ref().map(|l| l.score),
        }
    }
}

/// What the run needs.
pub struct Inputs<'a> {
    pub engine: &'a Engine,
    pub challenge: &'a ChallengeSettings,
    pub split: &'a Split,
    pub footage: &'a Footage,
    /// The enrolment template of the person in the recording.
    pub recorded_person: &'a Template,
    pub genuine_attempts: usize,
    /// Attack photos per enrolled person.
    pub photos_per_victim: usize,
    pub recording_attempts: usize,
    pub seed: u64,
    pub decline_multiple_faces: bool,
    /// Only these methods and attacks (all when empty).
    pub methods: &'a [LivenessMethod],
    pub attacks: &'a [Attack],
}

impl Inputs<'_> {
    fn runs(&self, method: LivenessMethod) -> bool {
        self.methods.is_empty() || self.methods.contains(&method)
    }

    fn tries(&self, attack: Attack) -> bool {
        self.attacks.is_empty() || self.attacks.contains(&attack)
    }
}

/// Runs one capture: returns the outcome, whether it approves, whether the face matched.
fn judge(
    engine: &Engine,
    frames: &[CapturedFrame],
    spec: &crate::biometric::capture::CaptureSpec,
    template: Option<&Template>,
    decline_multiple: bool,
) -> (CaptureOutcome, bool, bool) {
    // The server draws the frames it compares with its own randomness; here a draw seeded by
    // the capture, so that a rerun judges alike.
    let seed = frames.iter().fold(1u64, |h, f| {
        h.rotate_left(7) ^ f.t_ms.to_bits() ^ f.bytes.len() as u64
    });
    let mut rng = Rng::new(seed);
    let o = match engine.analyze_capture(frames, spec, &mut |n| rng.below(n)) {
        Ok(o) => o,
        Err(e) => {
            let mut o = CaptureOutcome::refused(spec, vec![], vec![]);
            o.risks = vec![crate::biometric::score::Risk::UndecodableFrame];
            tracing::warn!(error = %e, "capture analysis failed");
            o
        }
    };
    let m = match (template, &o.embedding) {
        (Some(t), Some(e)) => engine.compare(t, e).ok(),
        _ => None,
    };
    let matched = m
        .as_ref()
        .is_some_and(|m| m.status == crate::biometric::score::Status::Approved);
    let approved = match template {
        Some(_) => o.approves(m.as_ref(), decline_multiple),
        None => o.live(),
    };
    (o, approved, matched)
}

/// Enrolled people with further photos: (template, photos), from the split's colour groups.
fn victims(engine: &Engine, split: &Split, per: usize) -> Vec<(Template, Vec<(String, Shot)>)> {
    let mut by_id: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in &split.images {
        if r.mode.as_deref() != Some("L") && r.group != "att" {
            by_id.entry(&r.identity).or_default().push(&r.image);
        }
    }
    let mut out = Vec::new();
    for images in by_id.values() {
        if images.len() < 2 {
            continue;
        }
        let read = |rel: &str| std::fs::read(split.root.join(rel)).ok();
        let Some(Ok((Enrolment::Enrolled(t), _))) = read(images[0]).map(|b| engine.enrol(&b))
        else {
            continue;
        };
        let shots: Vec<(String, Shot)> = images[1..]
            .iter()
            .filter_map(|p| Some((p.to_string(), read(p)?)))
            .filter_map(|(p, b)| Some((p, camera::shot(engine, &b, 640, 480).ok()?)))
            .take(per)
            .collect();
        if !shots.is_empty() {
            out.push((t, shots));
        }
    }
    out
}

/// Runs everything; `tick` is called after each attempt (progress).
pub fn run(inp: &Inputs<'_>, tick: &dyn Fn()) -> LivenessReport {
    let e = inp.engine;
    let mut rng = Rng::new(inp.seed);
    let mut pick_rng = Rng::new(inp.seed ^ 0xC0FFEE);
    let mut pick = move |n: u32| pick_rng.below(n);
    let mut report = LivenessReport::default();
    let mut times: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut measuring: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut approved_frames: BTreeMap<LivenessMethod, Vec<CapturedFrame>> = BTreeMap::new();
    let mut saturation_set = Vec::new();

    // Genuine first attempts.
    let variants: [(&str, LivenessMethod, bool, f32); 5] = [
        ("PASSIVE", LivenessMethod::Passive, false, 0.12),
        ("FLASHING", LivenessMethod::Flashing, false, 0.12),
        ("ACTIVE_3D", LivenessMethod::Active3d, false, 0.12),
        (
            "ACTIVE_3D motion-only",
            LivenessMethod::Active3d,
            true,
            0.12,
        ),
        ("FLASHING k=0.08", LivenessMethod::Flashing, false, 0.08),
    ];
    for (name, method, motion_only, k) in variants {
        let tally = report.genuine.entry(name.into()).or_default();
        for _ in 0..inp.genuine_attempts {
            let spec = inp.challenge.draw(method, motion_only, &mut pick);
            let answer = Answer {
                strength: k,
                ..Answer::default()
            };
            let frames = camera::record(inp.footage, &spec, &answer, &mut rng);
            let t = Instant::now();
            let (o, ok, matched) = judge(
                e,
                &frames,
                &spec,
                Some(inp.recorded_person),
                inp.decline_multiple_faces,
            );
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            if k >= 0.12 {
                times.entry(name.into()).or_default().push(ms);
                measuring.entry(name.into()).or_default().push(o.measure_ms);
            }
            if ok && !motion_only {
                approved_frames
                    .entry(method)
                    .or_insert_with(|| frames.clone());
            }
            if ok && name == "FLASHING" && saturation_set.len() < 8 {
                saturation_set.push((spec.clone(), frames.clone()));
            }
            tally.add(ok, &o, matched);
            tick();
        }
    }
    for (name, v) in measuring {
        report.measure_ms.insert(
            name,
            [50.0, 95.0, 99.0].map(|q| percentile(&v, q).unwrap_or(f64::NAN)),
        );
    }
    for (name, v) in times {
        report.burst_ms.insert(
            name,
            [50.0, 95.0, 99.0].map(|q| percentile(&v, q).unwrap_or(f64::NAN)),
        );
    }

    // Photo attacks on enrolled people, every method.
    let people = victims(e, inp.split, inp.photos_per_victim);
    report.victims = people.len();
    report.photos = people.iter().map(|(_, s)| s.len()).sum();
    let mut approvals = Vec::new();
    for method in LivenessMethod::ALL.into_iter().filter(|m| inp.runs(*m)) {
        let by_attack = report.attacks.entry(method.as_str().into()).or_default();
        for (template, shots) in &people {
            for (i, (name, photo)) in shots.iter().enumerate() {
                let other = shots
                    .get((i + 1) % shots.len())
                    .filter(|_| shots.len() > 1)
                    .map(|(_, s)| s);
                let m = Material {
                    photo,
                    other_photo: other,
                    footage: None,
                    approved: None,
                };
                for attack in Attack::PHOTO.into_iter().filter(|k| inp.tries(*k)) {
                    let spec = inp.challenge.draw(method, false, &mut pick);
                    let Some(frames) = attacks::burst(attack, &m, &spec, &mut rng) else {
                        continue;
                    };
                    let (o, ok, matched) = judge(
                        e,
                        &frames,
                        &spec,
                        Some(template),
                        inp.decline_multiple_faces,
                    );
                    by_attack
                        .entry(attack.name())
                        .or_default()
                        .add(ok, &o, matched);
                    if ok {
                        approvals.push(ApprovedAttack::new(method, attack, Some(name), &o));
                    }
                    tick();
                }
            }
        }
        // The recording of the enrolled person, answering wrongly; replays of an approved
        // capture.
        let Some((_, photo)) = people.first().and_then(|(_, s)| s.first()) else {
            continue;
        };
        let m = Material {
            photo,
            other_photo: None,
            footage: Some(inp.footage),
            approved: approved_frames.get(&method).map(Vec::as_slice),
        };
        for attack in Attack::RECORDING.into_iter().filter(|k| inp.tries(*k)) {
            for _ in 0..inp.recording_attempts {
                let spec = inp.challenge.draw(method, false, &mut pick);
                let Some(frames) = attacks::burst(attack, &m, &spec, &mut rng) else {
                    continue;
                };
                let (o, ok, matched) = judge(
                    e,
                    &frames,
                    &spec,
                    Some(inp.recorded_person),
                    inp.decline_multiple_faces,
                );
                by_attack
                    .entry(attack.name())
                    .or_default()
                    .add(ok, &o, matched);
                if ok {
                    approvals.push(ApprovedAttack::new(method, attack, None, &o));
                }
                tick();
            }
        }
        // Prints and screens: is a live person seen (no match involved)?
        for row in inp.split.pad.iter().filter(|r| !r.live) {
            let attack = match row.attack_type.as_str() {
                "print" => Attack::PadPrint,
                "replay_screen" => Attack::PadScreen,
                _ => continue,
            };
            if !inp.tries(attack) {
                continue;
            }
            let Some(shot) = std::fs::read(inp.split.root.join(&row.image))
                .ok()
                .and_then(|b| camera::shot(e, &b, 640, 480).ok())
            else {
                continue;
            };
            let m = Material {
                photo: &shot,
                other_photo: None,
                footage: None,
                approved: None,
            };
            let spec = inp.challenge.draw(method, false, &mut pick);
            if let Some(frames) = attacks::burst(attack, &m, &spec, &mut rng) {
                let (o, ok, matched) = judge(e, &frames, &spec, None, inp.decline_multiple_faces);
                by_attack
                    .entry(attack.name())
                    .or_default()
                    .add(ok, &o, matched);
                if ok {
                    approvals.push(ApprovedAttack::new(method, attack, Some(&row.image), &o));
                }
                tick();
            }
        }
    }
    report.approved_attacks = approvals;
    report.saturation_per_s = saturation(e, &saturation_set, inp.recorded_person);
    report
}

/// Verdicts per second with one worker per core, each judging bursts on one thread.
fn saturation(
    engine: &Engine,
    bursts: &[(crate::biometric::capture::CaptureSpec, Vec<CapturedFrame>)],
    template: &Template,
) -> f64 {
    if bursts.is_empty() {
        return 0.0;
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_worker = 12;
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for w in 0..workers {
            s.spawn(move || {
                for i in 0..per_worker {
                    let (spec, frames) = &bursts[(w + i) % bursts.len()];
                    let _ = judge(engine, frames, spec, Some(template), true);
                }
            });
        }
    });
    (workers * per_worker) as f64 / t0.elapsed().as_secs_f64()
}

/// The report as Markdown.
pub fn markdown(r: &LivenessReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let reasons = |t: &Tally| {
        t.reasons
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        s,
        "# Liveness: genuine acceptance and attacks\n\n## Genuine first attempts (responding test camera, real recording)\n\n| method | attempts | approved | rate | refusals |\n|---|---:|---:|---:|---|"
    );
    for (name, t) in &r.genuine {
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {:.1} % | {} |",
            t.attempts,
            t.approved,
            100.0 * t.rate(),
            reasons(t)
        );
    }
    let _ = writeln!(
        s,
        "\n## Server time per burst (genuine, ms)\n\n| method | p50 | p95 | p99 | of which every frame decoded and measured: p50 | p95 | p99 |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for (name, [a, b, c]) in &r.burst_ms {
        let [d, e, f] = r.measure_ms.get(name).copied().unwrap_or([f64::NAN; 3]);
        let _ = writeln!(
            s,
            "| {name} | {a:.1} | {b:.1} | {c:.1} | {d:.1} | {e:.1} | {f:.1} |"
        );
    }
    let _ = writeln!(
        s,
        "\nSaturation (one worker per core, FLASHING bursts): {:.1} verdicts/s.\n\n## Attacks\n\n{} enrolled people, {} attack photos (never the enrolment photo).\n",
        r.saturation_per_s, r.victims, r.photos
    );
    for (method, rows) in &r.attacks {
        let total: usize = rows.values().map(|t| t.attempts).sum();
        let approved: usize = rows.values().map(|t| t.approved).sum();
        let _ = writeln!(
            s,
            "### {method}: {approved} approved of {total}\n\n| attack | attempts | approved | refusals |\n|---|---:|---:|---|"
        );
        for (attack, t) in rows {
            let _ = writeln!(
                s,
                "| {attack} | {} | {} | {} |",
                t.attempts,
                t.approved,
                reasons(t)
            );
        }
        let _ = writeln!(s);
    }
    let active: Vec<&ApprovedAttack> = r
        .approved_attacks
        .iter()
        .filter(|a| a.method != "PASSIVE")
        .collect();
    if !active.is_empty() {
        let _ = writeln!(
            s,
            "### Approved attacks on the active methods, with the server's measurements

| method | attack | photo | flash correlation | face response | locality | falloff | turn peaks | liveness |\n|---|---|---|---:|---:|---:|---:|---|---:|"
        );
        for a in active {
            let f = a.flash.as_ref();
            let num = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                a.method,
                a.attack,
                a.photo.as_deref().unwrap_or("(recording)"),
                num(f.map(|f| f.correlation)),
                num(f.map(|f| f.face_response)),
                num(f.map(|f| f.locality)),
                num(f.map(|f| f.falloff)),
                a.motion
                    .as_ref()
                    .map_or("-".into(), |m| format!("{:?}", m.peaks)),
                num(a.liveness_score),
            );
        }
        let _ = writeln!(s);
    }
    s
}
