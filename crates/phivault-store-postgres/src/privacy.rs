//! The SQL behind [`PrivacyReadTx`] and [`PrivacyWriteTx`] on PostgreSQL: privacy items,
//! the record queries of the right of access and of retention, and disposal. Same tables
//! and columns as the SQLite backend.

use phivault_core::privacy_store::{PrivacyItemRow, PrivacyReadTx, PrivacyWriteTx};
use phivault_core::store::RecordHead;
use phivault_core::{RecordId, StoreError};
use time::OffsetDateTime;
use tokio_postgres::Row;

use crate::tx::{PgTx, corrupt, decode_head, get, get_time, limit, nanos, uuid_text};

const HEAD_COLUMNS: &str = "collection, id, subject, version, deleted, created_at, updated_at";

fn decode_item(row: &Row) -> Result<PrivacyItemRow, StoreError> {
    let due_at = get::<Option<i64>>(row, 5, "privacy_items.due_at")?
        .map(|n| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(n))
                .map_err(|_| corrupt("privacy_items.due_at"))
        })
        .transpose()?;
    Ok(PrivacyItemRow {
        id: get(row, 0, "privacy_items.id")?,
        kind: get(row, 1, "privacy_items.kind")?,
        subject: get(row, 2, "privacy_items.subject")?,
        status: get(row, 3, "privacy_items.status")?,
        created_at: get_time(row, 4, "privacy_items.created_at")?,
        due_at,
        updated_at: get_time(row, 6, "privacy_items.updated_at")?,
        meta_json: get(row, 7, "privacy_items.meta_json")?,
        sealed: get(row, 8, "privacy_items.sealed")?,
    })
}

macro_rules! item_select {
    ($rest:literal) => {
        concat!(
            "SELECT id, kind, subject, status, created_at, due_at, updated_at, meta_json, \
             sealed FROM privacy_items ",
            $rest
        )
    };
}

impl PrivacyReadTx for PgTx<'_> {
    fn get_privacy_item(&mut self, id: &str) -> Result<Option<PrivacyItemRow>, StoreError> {
        self.row(item_select!("WHERE id = $1"), &[&id], decode_item)
    }

    fn list_privacy_items(
        &mut self,
        kind: &str,
        subject: Option<&str>,
    ) -> Result<Vec<PrivacyItemRow>, StoreError> {
        match subject {
            Some(s) => self.rows(
                item_select!("WHERE subject = $1 AND kind = $2 ORDER BY created_at, id"),
                &[&s, &kind],
                decode_item,
            ),
            None => self.rows(
                item_select!("WHERE kind = $1 ORDER BY created_at, id"),
                &[&kind],
                decode_item,
            ),
        }
    }

    fn subject_record_heads(
        &mut self,
        subject: &str,
        after: Option<(&str, &RecordId)>,
        limit_n: usize,
    ) -> Result<Vec<RecordHead>, StoreError> {
        let (collection, id) = after.map_or((String::new(), String::new()), |(c, id)| {
            (c.to_owned(), uuid_text(&id.0))
        });
        self.rows(
            &format!(
                "SELECT {HEAD_COLUMNS} FROM record_heads \
                 WHERE subject = $1 AND (collection, id) > ($2, $3) \
                 ORDER BY collection, id LIMIT $4"
            ),
            &[&subject, &collection, &id, &limit(limit_n)],
            decode_head,
        )
    }

    fn records_updated_before(
        &mut self,
        collection: &str,
        before: OffsetDateTime,
        after: Option<&RecordId>,
        limit_n: usize,
    ) -> Result<Vec<RecordHead>, StoreError> {
        let after = after.map_or(String::new(), |id| uuid_text(&id.0));
        self.rows(
            &format!(
                "SELECT {HEAD_COLUMNS} FROM record_heads \
                 WHERE collection = $1 AND updated_at < $2 AND id > $3 ORDER BY id LIMIT $4"
            ),
            &[&collection, &nanos(before)?, &after, &limit(limit_n)],
            decode_head,
        )
    }

    fn is_shredded(&mut self, subject: &str) -> Result<bool, StoreError> {
        Ok(self
            .row(
                "SELECT 1 FROM shred_ledger WHERE subject = $1",
                &[&subject],
                |_| Ok(()),
            )?
            .is_some())
    }
}

impl PrivacyWriteTx for PgTx<'_> {
    fn put_privacy_item(&mut self, row: &PrivacyItemRow) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO privacy_items \
             (id, kind, subject, status, created_at, due_at, updated_at, meta_json, sealed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
             due_at = excluded.due_at, updated_at = excluded.updated_at, \
             meta_json = excluded.meta_json, sealed = excluded.sealed",
            &[
                &row.id,
                &row.kind,
                &row.subject,
                &row.status,
                &nanos(row.created_at)?,
                &row.due_at.map(nanos).transpose()?,
                &nanos(row.updated_at)?,
                &row.meta_json,
                &row.sealed,
            ],
        )?;
        Ok(())
    }

    fn dispose_record(&mut self, collection: &str, id: &RecordId) -> Result<bool, StoreError> {
        let id = uuid_text(&id.0);
        self.exec(
            "DELETE FROM index_entries WHERE collection = $1 AND record_id = $2",
            &[&collection, &id],
        )?;
        self.exec(
            "DELETE FROM record_versions WHERE collection = $1 AND id = $2",
            &[&collection, &id],
        )?;
        let n = self.exec(
            "DELETE FROM record_heads WHERE collection = $1 AND id = $2",
            &[&collection, &id],
        )?;
        Ok(n > 0)
    }
}
