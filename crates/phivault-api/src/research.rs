//! Research use: de-identified exports (45 CFR 164.514(b)(2) Safe Harbor, with keyed
//! pseudonyms as the re-identification code of 164.514(c)) and aggregates with small-cell
//! suppression. Both need the `research:read` scope and a recent login (step-up).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The response header of an export carrying its k-anonymity report:
/// `k=<k>, rows=<n>, classes=<n>, target=<k>, rows_below_target=<n>, classes_below_target=<n>`.
pub const K_ANONYMITY_HEADER: &str = "phivault-k-anonymity";

/// The format of an export body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One JSON object per line (`application/jsonl`).
    #[default]
    Jsonl,
    /// RFC 4180 CSV with a header row (`text/csv`).
    Csv,
}

/// The body of `POST /v1/research/{collection}/export`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResearchExportRequest {
    /// Fields whose de-identified values form the equivalence classes of the k-anonymity
    /// report (e.g. birth year, ZIP3, sex).
    #[serde(default)]
    pub quasi_identifiers: Vec<String>,
    /// The body's format (default JSONL).
    #[serde(default)]
    pub format: ExportFormat,
}

/// The k-anonymity of an export over its quasi-identifiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KAnonymityReport {
    /// Rows examined.
    pub rows: u64,
    /// Distinct combinations of quasi-identifier values.
    pub classes: u64,
    /// The size of the smallest class (0 for an empty export).
    pub k: u64,
    /// Rows in classes smaller than the target.
    pub rows_below_target: u64,
    /// Classes smaller than the target.
    pub classes_below_target: u64,
    /// The target k.
    pub target_k: u64,
}

impl KAnonymityReport {
    /// The value of the [`K_ANONYMITY_HEADER`].
    pub fn header_value(&self) -> String {
        format!(
            "k={}, rows={}, classes={}, target={}, rows_below_target={}, classes_below_target={}",
            self.k,
            self.rows,
            self.classes,
            self.target_k,
            self.rows_below_target,
            self.classes_below_target
        )
    }

    /// Parses a [`K_ANONYMITY_HEADER`] value.
    pub fn parse_header(v: &str) -> Option<KAnonymityReport> {
        let get = |name: &str| -> Option<u64> {
            v.split(',')
                .map(str::trim)
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
                .parse()
                .ok()
        };
        Some(KAnonymityReport {
            k: get("k")?,
            rows: get("rows")?,
            classes: get("classes")?,
            target_k: get("target")?,
            rows_below_target: get("rows_below_target")?,
            classes_below_target: get("classes_below_target")?,
        })
    }
}

/// The body of `POST /v1/research/{collection}/aggregate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AggregateRequest {
    /// The fields to group by (their de-identified values); at least one.
    #[schema(min_items = 1)]
    pub group_by: Vec<String>,
    /// A numeric field to sum per group.
    #[serde(default)]
    pub sum: Option<String>,
}

/// Why a cell is hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Suppression {
    /// The count is under the minimum cell size (11).
    Primary,
    /// Hidden so the total cannot reveal a primary suppressed cell.
    Complementary,
}

/// One group of an aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AggregateCell {
    /// The de-identified values of the group-by fields, in order.
    #[schema(value_type = Vec<Object>)]
    pub key: Vec<Value>,
    /// The count, absent when suppressed.
    pub count: Option<u64>,
    /// The sum, absent when suppressed or not asked for.
    pub sum: Option<f64>,
    /// Why the cell is hidden, if it is.
    pub suppressed: Option<Suppression>,
}

/// The answer of an aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AggregateResponse {
    /// The group-by fields, in key order.
    pub group_by: Vec<String>,
    /// The summed field, if any.
    pub sum: Option<String>,
    /// The smallest count shown.
    pub min_cell: u64,
    /// The cells, suppressed ones included (with no count).
    pub cells: Vec<AggregateCell>,
}
