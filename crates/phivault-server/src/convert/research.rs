//! Research answers on the wire: the k-anonymity report of an export and the cells of a
//! suppressed aggregate.

use phivault_api as api;
use phivault_core::research::{AggregateCell, KAnonymityReport, Suppression};

/// A k-anonymity report on the wire.
pub(crate) fn report_to_api(r: &KAnonymityReport) -> api::KAnonymityReport {
    api::KAnonymityReport {
        rows: r.rows,
        classes: r.classes,
        k: r.k,
        rows_below_target: r.rows_below_target,
        classes_below_target: r.classes_below_target,
        target_k: r.target_k,
    }
}

/// An aggregate cell on the wire (suppressed cells carry no count).
pub(crate) fn cell_to_api(c: AggregateCell) -> api::AggregateCell {
    api::AggregateCell {
        key: c.key,
        count: c.count,
        sum: c.sum,
        suppressed: c.suppressed.map(|s| match s {
            Suppression::Primary => api::Suppression::Primary,
            Suppression::Complementary => api::Suppression::Complementary,
        }),
    }
}
