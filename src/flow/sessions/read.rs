//! What clients read: the created session, the decision, the list with its filters.

use super::wire::{
    AdditionalDetails, Environment, FaceMatchSummary, KindFilter, LivenessSummary, SessionKind,
};
use super::*;
use crate::flow::wire::{NeverRun, Page};

impl Provider {
    pub(super) fn session_url(&self, s: &Session) -> String {
        match &s.language {
            Some(l) => format!("{}/{l}/session/{}", self.issuer(), s.session_token),
            None => format!("{}/session/{}", self.issuer(), s.session_token),
        }
    }

    /// The 201 body of `POST /v3/session/`.
    pub fn session_created(&self, s: &Session) -> SessionCreated {
        SessionCreated {
            session_id: s.session_id.clone(),
            session_number: s.session_number,
            session_token: s.session_token.clone(),
            url: self.session_url(s),
            vendor_data: s.vendor_data.clone(),
            metadata: s.metadata.clone(),
            status: s.status,
            workflow_id: s.workflow_id.clone(),
            workflow_version: s.workflow_version,
            callback: s.callback.clone(),
        }
    }

    /// `GET /v3/session/{id}/decision/`: every feature block is a list, empty until its
    /// feature has run (strict clients model them as lists and refuse null).
    pub fn decision(&self, s: &Session) -> Decision {
        Decision {
            session_id: s.session_id.clone(),
            session_kind: SessionKind::User,
            session_number: s.session_number,
            session_url: self.session_url(s),
            url: self.session_url(s),
            status: s.status,
            workflow_id: s.workflow_id.clone(),
            workflow_version: s.workflow_version,
            features: s.features.clone(),
            vendor_data: s.vendor_data.clone(),
            metadata: s.metadata.clone(),
            expected_details: s.expected_details.clone(),
            contact_details: s.contact_details.clone(),
            callback: s.callback.clone(),
            liveness_checks: s.liveness_checks.clone().unwrap_or_default(),
            face_matches: s.face_matches.clone().unwrap_or_default(),
            reviews: s.reviews.clone(),
            id_verifications: NeverRun::default(),
            nfc_verifications: NeverRun::default(),
            phone_verifications: NeverRun::default(),
            email_verifications: NeverRun::default(),
            poa_verifications: NeverRun::default(),
            document_ai_documents: NeverRun::default(),
            questionnaire_responses: NeverRun::default(),
            aml_screenings: NeverRun::default(),
            ip_analyses: NeverRun::default(),
            database_validations: NeverRun::default(),
            created_at: iso8601(s.created_at),
            expires_at: s.expires_at.map(iso8601),
            environment: Environment::Live,
        }
    }

    pub(super) fn list_row(&self, s: &Session) -> SessionRow {
        let lv = s.liveness_checks.as_ref().and_then(|v| v.first());
        let fm = s.face_matches.as_ref().and_then(|v| v.first());
        SessionRow {
            session_id: s.session_id.clone(),
            session_kind: SessionKind::User,
            session_number: s.session_number,
            session_url: self.session_url(s),
            portrait_image: None,
            document_type: None,
            full_name: None,
            country: None,
            status: s.status,
            vendor_data: s.vendor_data.clone(),
            didit_internal_id: None,
            created_at: iso8601(s.created_at),
            features: s.feature_list(),
            phone_number: None,
            email_address: None,
            session_type: s.session_type,
            workflow_id: s.workflow_id.clone(),
            additional_details: AdditionalDetails {
                liveness: lv.map(|l| LivenessSummary {
                    method: l.method,
                    score: l.score,
                }),
                face_match: fm.map(|f| FaceMatchSummary {
                    score: f.score,
                    source_image: None,
                    target_image: None,
                }),
            },
        }
    }

    /// `GET /v3/sessions/` with filters and pagination (newest first).
    pub fn list_sessions(
        &self,
        tenant: &TenantId,
        query: &ListSessions,
    ) -> Result<Page<SessionRow>, DiditError> {
        let list = |v: &Option<String>| -> Option<Vec<String>> {
            v.as_ref().map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
        };
        // Filters on data this server never collects (documents, addresses, Didit's internal
        // ids): checked, and no session matches them (its value is null), never ignored.
        let countries = list(&query.country);
        if countries.as_ref().is_some_and(|v| {
            v.iter()
                .any(|c| c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
        }) {
            return Err(invalid(
                "country",
                "Use ISO 3166-1 alpha-3 codes (e.g. ESP), comma-separated.",
            ));
        }
        let no_document_filter = [
            countries,
            list(&query.document_type),
            list(&query.document_name),
            list(&query.region),
            list(&query.didit_internal_id),
        ]
        .iter()
        .any(|v| v.as_ref().is_some_and(|v| !v.is_empty()));
        let limit = query.limit.unwrap_or(50).clamp(1, 1000);
        let offset = query.offset.unwrap_or(0);
        let kind = query.session_kind.unwrap_or_default();
        let statuses = list(&query.status);
        if let Some(st) = &statuses {
            for x in st {
                if SessionStatus::parse(x).is_none() {
                    return Err(invalid("status", format!("\"{x}\" is not a valid choice.")));
                }
            }
        }
        let dates = crate::flow::didit::DateRange::parse(
            query.date_from.as_deref(),
            query.date_to.as_deref(),
            ["date_from", "date_to"],
        )?;
        let workflows = list(&query.workflow_id);
        let vendor = query.vendor_data.as_deref();
        let search = query.search.as_deref().map(str::to_lowercase);
        let warnings = list(&query.warning);
        let mut rows: Vec<Session> = Vec::new();
        if kind != KindFilter::Business {
            for k in self.store.keys(&SESSIONS)? {
                let Some(s) = self.store.get_json::<Session>(&SESSIONS, &k)? else {
                    continue;
                };
                let keep = &s.tenant == tenant
                    && !no_document_filter
                    // Sessions start Not Started, never In Review.
                    && query.status_initialized_as_in_review != Some(true)
                    && statuses
                        .as_ref()
                        .is_none_or(|st| st.iter().any(|x| x == s.status.as_str()))
                    && workflows
                        .as_ref()
                        .is_none_or(|w| w.contains(&s.workflow_id))
                    && vendor.is_none_or(|v| s.vendor_data.as_deref() == Some(v))
                    && dates.contains_secs(s.created_at)
                    && query.session_type.is_none_or(|t| t == s.session_type)
                    && query
                        .api_service
                        .as_deref()
                        .is_none_or(|a| s.api_service.as_deref() == Some(a))
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
        // The other pages keep every filter of this one.
        let page_url = |off: usize| {
            let q = ListSessions {
                limit: Some(limit),
                offset: Some(off),
                ..query.clone()
            };
            format!(
                "{}?{}",
                self.endpoint("/v3/sessions/"),
                serde_urlencoded::to_string(&q).unwrap_or_default()
            )
        };
        let results = rows
            .iter()
            .skip(offset)
            .take(limit)
            .map(|s| self.list_row(s))
            .collect();
        Ok(Page {
            count,
            next: (offset + limit < count).then(|| page_url(offset + limit)),
            previous: (offset > 0).then(|| page_url(offset.saturating_sub(limit))),
            results,
        })
    }
}
