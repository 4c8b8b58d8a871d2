//! Client calls for the auditor's API: chain verification, signed tree heads, inclusion
//! and consistency proofs, filtered event pages and CSV/JSONL exports. Every call needs
//! the `audit:read` scope.

use phivault_api::{
    AuditEventFilter, AuditEventPage, AuditVerifyResponse, ConsistencyProof, InclusionProof,
    TreeHead,
};
use reqwest::{Method, Url};
use time::format_description::well_known::Rfc3339;

use crate::{Client, ClientError};

/// The encoding of an audit export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditExportFormat {
    /// One JSON object per line: `{"seq":…,"event":{…}}`.
    Jsonl,
    /// RFC 4180 CSV with a header row.
    Csv,
}

fn append_filter(url: &mut Url, f: &AuditEventFilter) {
    let mut q = url.query_pairs_mut();
    let text = [
        ("actor", &f.actor),
        ("subject", &f.subject),
        ("action", &f.action),
        ("purpose", &f.purpose),
    ];
    for (name, value) in text {
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    if let Some(o) = f.outcome {
        q.append_pair("outcome", o.as_str());
    }
    for (name, t) in [("since", f.since), ("until", f.until)] {
        if let Some(s) = t.and_then(|t| t.format(&Rfc3339).ok()) {
            q.append_pair(name, &s);
        }
    }
}

/// Drops a `?` left by an empty query.
fn tidy(mut url: Url) -> Url {
    if url.query() == Some("") {
        url.set_query(None);
    }
    url
}

impl Client {
    /// Walks the audit hash chain on the server.
    pub async fn verify_audit(&self) -> Result<AuditVerifyResponse, ClientError> {
        let req = self.request(Method::POST, self.url(&["v1", "audit", "verify"])?)?;
        self.json(req).await
    }

    /// A GET of `segments` with the query parameters that are set.
    async fn get_query<T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
        pairs: &[(&str, Option<String>)],
    ) -> Result<T, ClientError> {
        let mut url = self.url(segments)?;
        for (name, value) in pairs {
            if let Some(v) = value {
                url.query_pairs_mut().append_pair(name, v);
            }
        }
        let req = self.request(Method::GET, url)?;
        self.json(req).await
    }

    /// The latest signed tree head with the audit verifying key; with `fresh`, a head
    /// signed now over the whole log.
    pub async fn tree_head(&self, fresh: bool) -> Result<TreeHead, ClientError> {
        let fresh = fresh.then(|| "true".to_owned());
        self.get_query(&["v1", "audit", "tree-head"], &[("fresh", fresh)])
            .await
    }

    /// The inclusion proof of entry `seq` in the tree of `tree_size` entries (default:
    /// the latest signed head's).
    pub async fn inclusion_proof(
        &self,
        seq: u64,
        tree_size: Option<u64>,
    ) -> Result<InclusionProof, ClientError> {
        let pairs = [
            ("seq", Some(seq.to_string())),
            ("tree_size", tree_size.map(|n| n.to_string())),
        ];
        self.get_query(&["v1", "audit", "proof", "inclusion"], &pairs)
            .await
    }

    /// The consistency proof from tree size `from` to `to` (default: the latest signed
    /// head's).
    pub async fn consistency_proof(
        &self,
        from: u64,
        to: Option<u64>,
    ) -> Result<ConsistencyProof, ClientError> {
        let pairs = [
            ("from", Some(from.to_string())),
            ("to", to.map(|n| n.to_string())),
        ];
        self.get_query(&["v1", "audit", "proof", "consistency"], &pairs)
            .await
    }

    /// One page of events matching `filter`; pass the previous page's `next_cursor`.
    pub async fn audit_events(
        &self,
        filter: &AuditEventFilter,
        cursor: Option<u64>,
        limit: Option<usize>,
    ) -> Result<AuditEventPage, ClientError> {
        let mut url = self.url(&["v1", "audit", "events"])?;
        append_filter(&mut url, filter);
        {
            let mut q = url.query_pairs_mut();
            if let Some(c) = cursor {
                q.append_pair("cursor", &c.to_string());
            }
            if let Some(l) = limit {
                q.append_pair("limit", &l.to_string());
            }
        }
        let req = self.request(Method::GET, tidy(url))?;
        self.json(req).await
    }

    /// Every event matching `filter`, as CSV or JSONL text (the export is audited).
    pub async fn export_audit(
        &self,
        filter: &AuditEventFilter,
        format: AuditExportFormat,
    ) -> Result<String, ClientError> {
        let mut url = self.url(&["v1", "audit", "export"])?;
        append_filter(&mut url, filter);
        let format = match format {
            AuditExportFormat::Jsonl => "jsonl",
            AuditExportFormat::Csv => "csv",
        };
        url.query_pairs_mut().append_pair("format", format);
        let req = self.request(Method::GET, url)?;
        Ok(self.send(req).await?.text().await?)
    }
}
