//! What clients read: the created session, the decision, the list with its filters.

use super::*;

impl Provider {
    pub(super) fn session_url(&self, s: &Session) -> String {
        match &s.language {
            Some(l) => format!("{}/{l}/session/{}", self.issuer(), s.session_token),
            None => format!("{}/session/{}", self.issuer(), s.session_token),
        }
    }

    /// The 201 body of `POST /v3/session/`.
    pub fn session_created_json(&self, s: &Session) -> Value {
        json!({
            "session_id": s.session_id,
            "session_number": s.session_number,
            "session_token": s.session_token,
            "url": self.session_url(s),
            "vendor_data": s.vendor_data,
            "metadata": s.metadata,
            "status": s.status.as_str(),
            "workflow_id": s.workflow_id,
            "workflow_version": s.workflow_version,
            "callback": s.callback,
        })
    }

    /// `GET /v3/session/{id}/decision/`.
    pub fn decision_json(&self, s: &Session) -> Value {
        let mut d = json!({
            "session_id": s.session_id,
            "session_kind": "user",
            "session_number": s.session_number,
            "session_url": self.session_url(s),
            "url": self.session_url(s),
            "status": s.status.as_str(),
            "workflow_id": s.workflow_id,
            "workflow_version": s.workflow_version,
            "features": s.features,
            "vendor_data": s.vendor_data,
            "metadata": s.metadata,
            "expected_details": s.expected_details,
            "contact_details": s.contact_details,
            "callback": s.callback,
            "liveness_checks": s.liveness_checks.clone().unwrap_or_default(),
            "face_matches": s.face_matches.clone().unwrap_or_default(),
            "reviews": s.reviews,
            "created_at": iso8601(s.created_at),
            "expires_at": s.expires_at.map(iso8601),
            "environment": "live",
        });
        // Every feature block is a list, empty until its feature has run: strict clients
        // model them as lists and refuse null.
        for block in NOT_RUN_BLOCKS {
            d[*block] = json!([]);
        }
        d
    }

    pub(super) fn list_row(&self, s: &Session) -> Value {
        let lv = s.liveness_checks.as_ref().and_then(|v| v.first());
        let fm = s.face_matches.as_ref().and_then(|v| v.first());
        json!({
            "session_id": s.session_id,
            "session_kind": "user",
            "session_number": s.session_number,
            "session_url": self.session_url(s),
            "portrait_image": null,
            "document_type": null,
            "full_name": null,
            "country": null,
            "status": s.status.as_str(),
            "vendor_data": s.vendor_data,
            "didit_internal_id": null,
            "created_at": iso8601(s.created_at),
            "features": s.feature_list(),
            "phone_number": null,
            "email_address": null,
            "session_type": s.session_type,
            "workflow_id": s.workflow_id,
            "additional_details": {
                "liveness": lv.map(|l| json!({"method": l["method"], "score": l["score"]})),
                "face_match": fm.map(|f| json!({"score": f["score"], "source_image": null, "target_image": null})),
            },
        })
    }

    /// `GET /v3/sessions/` with filters and pagination (newest first).
    pub fn list_sessions(
        &self,
        tenant: &TenantId,
        query: &[(String, String)],
    ) -> Result<Value, DiditError> {
        let mut no_document_filter = false;
        let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let list = |k: &str| -> Option<Vec<String>> {
            q(k).map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
        };
        let num = |k: &str, default: usize| -> Result<usize, DiditError> {
            match q(k) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| invalid(k, "A valid integer is required.")),
            }
        };
        if let Some((k, _)) = query
            .iter()
            .find(|(k, _)| !LIST_FILTERS.contains(&k.as_str()))
        {
            return Err(invalid(
                k,
                format!("Unknown filter. Supported: {}.", LIST_FILTERS.join(", ")),
            ));
        }
        // Filters on data this server never collects (documents, addresses, Didit's internal
        // ids): checked, and no session matches them (its value is null), never ignored.
        for k in [
            "country",
            "document_type",
            "document_name",
            "region",
            "didit_internal_id",
        ] {
            if let Some(v) = list(k) {
                if k == "country"
                    && v.iter()
                        .any(|c| c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
                {
                    return Err(invalid(
                        k,
                        "Use ISO 3166-1 alpha-3 codes (e.g. ESP), comma-separated.",
                    ));
                }
                if !v.is_empty() {
                    no_document_filter = true;
                }
            }
        }
        let initialized_in_review = match q("status_initialized_as_in_review") {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => {
                return Err(invalid(
                    "status_initialized_as_in_review",
                    "Must be a valid boolean.",
                ));
            }
        };
        let limit = num("limit", 50)?.clamp(1, 1000);
        let offset = num("offset", 0)?;
        let kind = q("session_kind").unwrap_or("user");
        if !["user", "business", "all"].contains(&kind) {
            return Err(invalid(
                "session_kind",
                format!("\"{kind}\" is not a valid choice."),
            ));
        }
        let statuses = list("status");
        if let Some(st) = &statuses {
            for x in st {
                if SessionStatus::parse(x).is_none() {
                    return Err(invalid("status", format!("\"{x}\" is not a valid choice.")));
                }
            }
        }
        let dates = crate::flow::didit::DateRange::parse(
            q("date_from"),
            q("date_to"),
            ["date_from", "date_to"],
        )?;
        let workflows = list("workflow_id");
        let vendor = q("vendor_data");
        let search = q("search").map(str::to_lowercase);
        let session_type = q("session_type");
        let api_service = q("api_service");
        let warnings = list("warning");
        let mut rows: Vec<Session> = Vec::new();
        if kind != "business" {
            for k in self.store.keys(SESSIONS)? {
                let Some(s) = self.store.get_json::<Session>(SESSIONS, &k)? else {
                    continue;
                };
                let keep = &s.tenant == tenant
                    && !no_document_filter
                    // Sessions start Not Started, never In Review.
                    && initialized_in_review != Some(true)
                    && statuses
                        .as_ref()
                        .is_none_or(|st| st.iter().any(|x| x == s.status.as_str()))
                    && workflows
                        .as_ref()
                        .is_none_or(|w| w.contains(&s.workflow_id))
                    && vendor.is_none_or(|v| s.vendor_data.as_deref() == Some(v))
                    && dates.contains_secs(s.created_at)
                    && session_type.is_none_or(|t| t == s.session_type)
                    && api_service.is_none_or(|a| s.api_service.as_deref() == Some(a))
                    && warnings
                        .as_ref()
                        .is_none_or(|w| s.risks().iter().any(|r| w.contains(r)))
                    && search.as_ref().is_none_or(|x| {
                        s.session_id.contains(x.as_str())
                            || s.vendor_data
                                .as_ref()
                                .is_some_and(|v| v.to_lowercase().contains(x.as_str()))
                            || s.session_number.to_string() == *x
                    });
                if keep {
                    rows.push(s);
                }
            }
        }
        rows.sort_by_key(|s| std::cmp::Reverse(s.session_number));
        let count = rows.len();
        let page_url = |off: usize| {
            let mut u = url::Url::parse(&self.endpoint("/v3/sessions/")).expect("issuer is a URL");
            {
                let mut qp = u.query_pairs_mut();
                for (k, v) in query.iter().filter(|(k, _)| k != "offset" && k != "limit") {
                    qp.append_pair(k, v);
                }
                qp.append_pair("limit", &limit.to_string());
                qp.append_pair("offset", &off.to_string());
            }
            u.to_string()
        };
        let results: Vec<Value> = rows
            .iter()
            .skip(offset)
            .take(limit)
            .map(|s| self.list_row(s))
            .collect();
        Ok(json!({
            "count": count,
            "next": (offset + limit < count).then(|| page_url(offset + limit)),
            "previous": (offset > 0).then(|| page_url(offset.saturating_sub(limit))),
            "results": results,
        }))
    }
}
