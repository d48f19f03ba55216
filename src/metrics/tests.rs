use super::*;

fn line_value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn requests_are_counted_by_route_template_and_status_class() {
    let m = Metrics::new();
    m.http("/capture/{id}", "GET", 200, 0.002);
    m.http("/capture/{id}", "GET", 204, 0.004);
    m.http("/token", "POST", 401, 0.001);
    m.http("/token", "BREW", 500, 0.001);
    let t = m.render();
    assert_eq!(
        line_value(
            &t,
            "inherence_http_requests_total{route=\"/capture/{id}\",method=\"GET\",status=\"2xx\"}"
        ),
        Some(2.0),
        "{t}"
    );
    assert_eq!(
        line_value(
            &t,
            "inherence_http_requests_total{route=\"/token\",method=\"POST\",status=\"4xx\"}"
        ),
        Some(1.0)
    );
    assert!(
        t.contains("method=\"other\",status=\"5xx\""),
        "an unknown method is not a label value"
    );
    assert!(!t.contains("BREW"));
    assert_eq!(
        line_value(
            &t,
            "inherence_http_request_duration_seconds_count{route=\"/capture/{id}\",method=\"GET\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        line_value(
            &t,
            "inherence_http_request_duration_seconds_sum{route=\"/capture/{id}\",method=\"GET\"}"
        ),
        Some(0.006)
    );
}

#[test]
fn a_decision_counts_once_per_reason_with_its_scores_and_attempt() {
    let m = Metrics::new();
    let reasons = vec![
        "LOW_LIVENESS_SCORE".to_string(),
        "weird reason!".to_string(),
    ];
    m.decision(&DecisionObs {
        channel: "oidc",
        outcome: "Declined",
        reasons: &reasons,
        tenant: "bank-a",
        liveness_score: Some(12.0),
        face_match_score: Some(91.0),
        attempt: 2,
    });
    m.decision(&DecisionObs {
        channel: "oidc",
        outcome: "Approved",
        reasons: &[],
        tenant: "bank-a",
        liveness_score: Some(97.0),
        face_match_score: None,
        attempt: 1,
    });
    let t = m.render();
    assert!(t.contains(
        "inherence_decision_reasons_total{channel=\"oidc\",outcome=\"declined\",reason=\"LOW_LIVENESS_SCORE\",tenant=\"bank-a\"} 1"
    ), "{t}");
    assert!(
        t.contains(
            "inherence_decisions_total{channel=\"oidc\",outcome=\"declined\",tenant=\"bank-a\"} 1"
        ),
        "a decision with two reasons counts once: {t}"
    );
    assert!(
        t.contains("reason=\"WEIRD_REASON_\""),
        "reason codes are reduced to a bounded label"
    );
    assert!(t.contains(
        "inherence_decision_reasons_total{channel=\"oidc\",outcome=\"approved\",reason=\"APPROVED\",tenant=\"bank-a\"} 1"
    ));
    assert_eq!(
        line_value(&t, "inherence_liveness_score_count{channel=\"oidc\"}"),
        Some(2.0)
    );
    assert_eq!(
        line_value(
            &t,
            "inherence_liveness_score_bucket{le=\"15.0\",channel=\"oidc\"}"
        )
        .or_else(|| line_value(
            &t,
            "inherence_liveness_score_bucket{channel=\"oidc\",le=\"15.0\"}"
        )),
        Some(1.0),
        "{t}"
    );
    assert_eq!(
        line_value(&t, "inherence_face_match_score_count{channel=\"oidc\"}"),
        Some(1.0)
    );
    assert_eq!(
        line_value(&t, "inherence_decision_attempt_sum{channel=\"oidc\"}"),
        Some(3.0)
    );
}

#[test]
fn label_values_are_bounded() {
    let long = "x".repeat(500);
    assert_eq!(label_code(&long, false).len(), 48);
    assert_eq!(label_code("a\"b\nc{d}", false), "a_b_c_d_");
}

#[test]
fn queue_audit_and_key_gauges_show_the_last_values_set() {
    let m = Metrics::new();
    m.webhook_queue(7, 42.5);
    m.webhook_attempt(WebhookResult::Delivered, Some(1.5));
    m.webhook_attempt(WebhookResult::Retry, None);
    m.webhook_attempt(WebhookResult::DeadLetter, None);
    m.audit_append(0.0004, true);
    m.audit_append(0.0004, false);
    m.audit_head(30.0, 12);
    m.keys(&[
        KeyObs {
            alg: "ES256".into(),
            state: "active",
            age_secs: 100,
        },
        KeyObs {
            alg: "ES256".into(),
            state: "published",
            age_secs: 5,
        },
    ]);
    m.keys(&[KeyObs {
        alg: "ES256".into(),
        state: "active",
        age_secs: 200,
    }]);
    let t = m.render();
    assert_eq!(line_value(&t, "inherence_webhook_outbox_depth "), Some(7.0));
    assert_eq!(
        line_value(&t, "inherence_webhook_oldest_pending_age_seconds "),
        Some(42.5)
    );
    for r in ["delivered", "retry", "dead_letter"] {
        assert_eq!(
            line_value(
                &t,
                &format!("inherence_webhook_attempts_total{{result=\"{r}\"}}")
            ),
            Some(1.0),
            "{r}"
        );
    }
    assert_eq!(
        line_value(&t, "inherence_webhook_delivery_lag_seconds_count "),
        Some(1.0)
    );
    assert_eq!(
        line_value(&t, "inherence_audit_append_errors_total "),
        Some(1.0)
    );
    assert_eq!(
        line_value(&t, "inherence_audit_checkpoint_age_seconds "),
        Some(30.0)
    );
    assert_eq!(
        line_value(&t, "inherence_audit_entries_since_checkpoint "),
        Some(12.0)
    );
    assert!(
        !t.contains("state=\"published\""),
        "a key that is gone is no longer reported: {t}"
    );
    assert_eq!(
        line_value(&t, "inherence_signing_keys{alg=\"ES256\",state=\"active\"}"),
        Some(1.0)
    );
    assert_eq!(
        line_value(&t, "inherence_signing_key_age_seconds{alg=\"ES256\"}"),
        Some(200.0)
    );
}

#[test]
fn settings_keep_metrics_off_the_public_listener_without_a_token() {
    let s = MetricsSettings {
        listener: MetricsListener::Main,
        ..Default::default()
    };
    assert!(
        s.validate("127.0.0.1:9464")
            .unwrap_err()
            .contains("token_file")
    );
    assert!(
        MetricsSettings::default()
            .validate("")
            .unwrap_err()
            .contains("admin_listen")
    );
    assert!(
        MetricsSettings::default()
            .validate("127.0.0.1:9464")
            .is_ok()
    );
    let off = MetricsSettings {
        enabled: false,
        ..Default::default()
    };
    assert!(off.validate("").is_ok());
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t");
    std::fs::write(&f, "short\n").unwrap();
    let s = MetricsSettings {
        listener: MetricsListener::Main,
        token_file: Some(f.clone()),
        ..Default::default()
    };
    assert!(s.load_token().unwrap_err().contains("32"));
    std::fs::write(&f, format!("{}\n", "k".repeat(40))).unwrap();
    assert_eq!(s.load_token().unwrap().unwrap().expose(), "k".repeat(40));
}
