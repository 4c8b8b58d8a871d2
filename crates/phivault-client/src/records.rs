//! Client calls for collections and records: declaring and reading collections, and
//! creating, reading, versioning, updating (replace or merge patch), deleting and searching
//! records.

use phivault_api::{
    Collection, CollectionList, CreateRecordRequest, DeletedRecord, Record, RecordList,
    SearchRequest, UpdateRecordRequest,
};
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, IF_MATCH};
use serde_json::Value;
use uuid::Uuid;

use crate::{Client, ClientError};

impl Client {
    // ----- collections -----------------------------------------------------------------

    /// Declares a collection.
    pub async fn create_collection(
        &self,
        collection: &Collection,
    ) -> Result<Collection, ClientError> {
        let req = self
            .request(Method::POST, self.url(&["v1", "collections"])?)?
            .json(collection);
        self.json(req).await
    }

    /// One collection's schema.
    pub async fn get_collection(&self, name: &str) -> Result<Collection, ClientError> {
        self.get(&["v1", "collections", name]).await
    }

    /// Every collection.
    pub async fn list_collections(&self) -> Result<CollectionList, ClientError> {
        self.get(&["v1", "collections"]).await
    }

    // ----- records ---------------------------------------------------------------------

    /// Stores a new record about `subject` in `collection`.
    pub async fn create_record(
        &self,
        collection: &str,
        subject: &str,
        data: Value,
    ) -> Result<Record, ClientError> {
        let body = CreateRecordRequest {
            subject: subject.to_owned(),
            data,
        };
        let req = self
            .request(
                Method::POST,
                self.url(&["v1", "collections", collection, "records"])?,
            )?
            .json(&body);
        self.json(req).await
    }

    /// The current version of a record.
    pub async fn get_record(&self, collection: &str, id: Uuid) -> Result<Record, ClientError> {
        let id = id.to_string();
        self.get(&["v1", "collections", collection, "records", &id])
            .await
    }

    /// One version of a record.
    pub async fn get_record_version(
        &self,
        collection: &str,
        id: Uuid,
        version: u64,
    ) -> Result<Record, ClientError> {
        let (id, version) = (id.to_string(), version.to_string());
        self.get(&[
            "v1",
            "collections",
            collection,
            "records",
            &id,
            "versions",
            &version,
        ])
        .await
    }

    /// Every version of a record, oldest first.
    pub async fn history(&self, collection: &str, id: Uuid) -> Result<RecordList, ClientError> {
        let id = id.to_string();
        self.get(&["v1", "collections", collection, "records", &id, "versions"])
            .await
    }

    /// Replaces a record's data; `expected_version` must be its current version, or the
    /// server answers 412.
    pub async fn update_record(
        &self,
        collection: &str,
        id: Uuid,
        expected_version: u64,
        data: Value,
    ) -> Result<Record, ClientError> {
        let id = id.to_string();
        let req = self
            .request(
                Method::PUT,
                self.url(&["v1", "collections", collection, "records", &id])?,
            )?
            .header(IF_MATCH, format!("\"{expected_version}\""))
            .json(&UpdateRecordRequest { data });
        self.json(req).await
    }

    /// Changes some fields of a record with a JSON Merge Patch (RFC 7396): members set
    /// fields, `null` members remove them; `expected_version` must be its current version.
    pub async fn patch_record(
        &self,
        collection: &str,
        id: Uuid,
        expected_version: u64,
        patch: Value,
    ) -> Result<Record, ClientError> {
        let id = id.to_string();
        let req = self
            .request(
                Method::PATCH,
                self.url(&["v1", "collections", collection, "records", &id])?,
            )?
            .header(IF_MATCH, format!("\"{expected_version}\""))
            .header(CONTENT_TYPE, "application/merge-patch+json")
            .body(patch.to_string());
        self.json(req).await
    }

    /// Soft-deletes a record; with `expected_version`, only if it is still current.
    pub async fn delete_record(
        &self,
        collection: &str,
        id: Uuid,
        expected_version: Option<u64>,
    ) -> Result<DeletedRecord, ClientError> {
        let id = id.to_string();
        let mut req = self.request(
            Method::DELETE,
            self.url(&["v1", "collections", collection, "records", &id])?,
        )?;
        if let Some(v) = expected_version {
            req = req.header(IF_MATCH, format!("\"{v}\""));
        }
        self.json(req).await
    }

    /// Records of `collection` whose searchable `field` equals `value`. The value travels
    /// in the body, never in the URL.
    pub async fn search(
        &self,
        collection: &str,
        field: &str,
        value: Value,
    ) -> Result<RecordList, ClientError> {
        let body = SearchRequest {
            field: field.to_owned(),
            value,
        };
        let req = self
            .request(
                Method::POST,
                self.url(&["v1", "collections", collection, "search"])?,
            )?
            .json(&body);
        self.json(req).await
    }

    /// One page of a subject's live records; pass the previous page's `next_cursor`.
    pub async fn list_subject_records(
        &self,
        subject: &str,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<RecordList, ClientError> {
        let mut url = self.url(&["v1", "subjects", subject, "records"])?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(c) = cursor {
                q.append_pair("cursor", c);
            }
            if let Some(l) = limit {
                q.append_pair("limit", &l.to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let req = self.request(Method::GET, url)?;
        self.json(req).await
    }
}
