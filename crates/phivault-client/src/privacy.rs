//! Client calls for individuals' rights: requests with due dates, amendments, recorded
//! disclosures and the accounting, restrictions, legal holds, the right-of-access export,
//! erasure and retention.

use phivault_api::{
    AccessRequestBody, Accounting, AmendmentRequestBody, DenyAmendmentBody, DisagreementBody,
    DisclosureBody, Erasure, PrivacyItem, PrivacyItemList, ReasonBody, RestrictionBody,
    RetentionBody, RetentionList, RetentionRun, SubjectExport,
};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{Client, ClientError};

impl Client {
    async fn post_json<B: Serialize, T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<T, ClientError> {
        let req = self.request(Method::POST, self.url(segments)?)?.json(body);
        self.json(req).await
    }

    /// Logs a request for access received at `received_at` (default now).
    pub async fn open_access_request(
        &self,
        subject: &str,
        received_at: Option<OffsetDateTime>,
    ) -> Result<PrivacyItem, ClientError> {
        let body = AccessRequestBody { received_at };
        self.post_json(&["v1", "subjects", subject, "access-requests"], &body)
            .await
    }

    /// Logs a request to amend a record.
    pub async fn open_amendment(
        &self,
        subject: &str,
        body: &AmendmentRequestBody,
    ) -> Result<PrivacyItem, ClientError> {
        self.post_json(&["v1", "subjects", subject, "amendments"], body)
            .await
    }

    /// Privacy items of a kind, for a subject or all, optionally only overdue ones.
    pub async fn list_privacy_items(
        &self,
        kind: &str,
        subject: Option<&str>,
        overdue: bool,
    ) -> Result<PrivacyItemList, ClientError> {
        let mut url = self.url(&["v1", "privacy", "items"])?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("kind", kind);
            if let Some(s) = subject {
                q.append_pair("subject", s);
            }
            if overdue {
                q.append_pair("overdue", "true");
            }
        }
        let req = self.request(Method::GET, url)?;
        self.json(req).await
    }

    /// One privacy item.
    pub async fn privacy_item(&self, id: &str) -> Result<PrivacyItem, ClientError> {
        self.get(&["v1", "privacy", "items", id]).await
    }

    /// Takes the one extension of a request.
    pub async fn extend_request(&self, id: &str, reason: &str) -> Result<PrivacyItem, ClientError> {
        let body = ReasonBody {
            reason: reason.to_owned(),
        };
        self.post_json(&["v1", "privacy", "items", id, "extend"], &body)
            .await
    }

    /// Marks an access request answered.
    pub async fn complete_access_request(&self, id: &str) -> Result<PrivacyItem, ClientError> {
        self.post_json(&["v1", "privacy", "items", id, "complete"], &Value::Null)
            .await
    }

    /// Accepts an amendment.
    pub async fn accept_amendment(&self, id: &str) -> Result<PrivacyItem, ClientError> {
        self.post_json(&["v1", "privacy", "items", id, "accept"], &Value::Null)
            .await
    }

    /// Denies an amendment.
    pub async fn deny_amendment(
        &self,
        id: &str,
        reason: &str,
        disagreement: Option<&str>,
    ) -> Result<PrivacyItem, ClientError> {
        let body = DenyAmendmentBody {
            reason: reason.to_owned(),
            disagreement: disagreement.map(str::to_owned),
        };
        self.post_json(&["v1", "privacy", "items", id, "deny"], &body)
            .await
    }

    /// Files a statement of disagreement with a denied amendment.
    pub async fn file_disagreement(
        &self,
        id: &str,
        statement: &str,
        rebuttal: Option<&str>,
    ) -> Result<PrivacyItem, ClientError> {
        let body = DisagreementBody {
            statement: statement.to_owned(),
            rebuttal: rebuttal.map(str::to_owned),
        };
        self.post_json(&["v1", "privacy", "items", id, "disagreement"], &body)
            .await
    }

    /// Ends a restriction, confidential-communication request or legal hold.
    pub async fn end_privacy_item(&self, id: &str) -> Result<PrivacyItem, ClientError> {
        self.post_json(&["v1", "privacy", "items", id, "end"], &Value::Null)
            .await
    }

    /// Agrees to a restriction.
    pub async fn add_restriction(
        &self,
        subject: &str,
        body: &RestrictionBody,
    ) -> Result<PrivacyItem, ClientError> {
        self.post_json(&["v1", "subjects", subject, "restrictions"], body)
            .await
    }

    /// Places a legal hold.
    pub async fn place_legal_hold(
        &self,
        subject: &str,
        reason: &str,
    ) -> Result<PrivacyItem, ClientError> {
        let body = ReasonBody {
            reason: reason.to_owned(),
        };
        self.post_json(&["v1", "subjects", subject, "legal-holds"], &body)
            .await
    }

    /// Records a disclosure made outside the vault.
    pub async fn record_disclosure(
        &self,
        subject: &str,
        body: &DisclosureBody,
    ) -> Result<PrivacyItem, ClientError> {
        self.post_json(&["v1", "subjects", subject, "disclosures"], body)
            .await
    }

    /// The accounting of disclosures for a subject, from `since` (default six years back).
    pub async fn accounting(
        &self,
        subject: &str,
        since: Option<OffsetDateTime>,
    ) -> Result<Accounting, ClientError> {
        let mut url = self.url(&["v1", "subjects", subject, "disclosures"])?;
        if let Some(t) = since.and_then(|t| t.format(&Rfc3339).ok()) {
            url.query_pairs_mut().append_pair("since", &t);
        }
        let req = self.request(Method::GET, url)?;
        self.json(req).await
    }

    /// The right-of-access export (164.524); `request` is the access request it answers.
    pub async fn export_subject(
        &self,
        subject: &str,
        request: Option<&str>,
    ) -> Result<SubjectExport, ClientError> {
        let req = self.export_request(subject, "json", request)?;
        self.json(req).await
    }

    /// The right-of-access export as an HTML document.
    pub async fn export_subject_html(&self, subject: &str) -> Result<String, ClientError> {
        let req = self.export_request(subject, "html", None)?;
        Ok(self.send(req).await?.text().await?)
    }

    fn export_request(
        &self,
        subject: &str,
        format: &str,
        request: Option<&str>,
    ) -> Result<reqwest::RequestBuilder, ClientError> {
        let mut url = self.url(&["v1", "subjects", subject, "export"])?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("format", format);
            if let Some(r) = request {
                q.append_pair("request", r);
            }
        }
        self.request(Method::GET, url)
    }

    /// Erases a subject by crypto-shredding.
    pub async fn erase_subject(&self, subject: &str) -> Result<Erasure, ClientError> {
        self.post_json(&["v1", "subjects", subject, "erase"], &Value::Null)
            .await
    }

    /// Sets or removes a collection's retention period.
    pub async fn set_retention(
        &self,
        collection: &str,
        days: Option<u32>,
    ) -> Result<(), ClientError> {
        let req = self
            .request(
                Method::PUT,
                self.url(&["v1", "collections", collection, "retention"])?,
            )?
            .json(&RetentionBody { days });
        self.send(req).await.map(|_| ())
    }

    /// Every retention period.
    pub async fn retention_policies(&self) -> Result<RetentionList, ClientError> {
        self.get(&["v1", "retention"]).await
    }

    /// Disposes of expired records now.
    pub async fn run_retention(&self) -> Result<RetentionRun, ClientError> {
        self.post_json(&["v1", "retention", "run"], &Value::Null)
            .await
    }
}
