//! Small groups: k-anonymity over quasi-identifiers and small-cell suppression for counts.

use serde::Serialize;
use std::collections::BTreeMap;

/// The smallest cell a dashboard may show (CMS cell-size suppression policy: 1 to 10 hidden).
pub const MIN_CELL: u64 = 11;

/// k-anonymity of a table over chosen quasi-identifiers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KReport {
    /// Rows examined.
    pub rows: u64,
    /// Distinct equivalence classes (combinations of quasi-identifier values).
    pub classes: u64,
    /// The table's k: the size of its smallest class (0 for an empty table).
    pub k: u64,
    /// Rows in classes smaller than the target k.
    pub rows_below_target: u64,
    /// Classes smaller than the target k.
    pub classes_below_target: u64,
    /// The target k the report was made for.
    pub target_k: u64,
}

/// Builds a k-anonymity report from each row's quasi-identifier values.
pub fn k_anonymity<I, K>(rows: I, target_k: u64) -> KReport
where
    I: IntoIterator<Item = K>,
    K: Ord,
{
    let mut classes: BTreeMap<K, u64> = BTreeMap::new();
    let mut n = 0;
    for r in rows {
        *classes.entry(r).or_default() += 1;
        n += 1;
    }
    let k = classes.values().copied().min().unwrap_or(0);
    let small: Vec<u64> = classes
        .values()
        .copied()
        .filter(|&c| c < target_k)
        .collect();
    KReport {
        rows: n,
        classes: classes.len() as u64,
        k,
        rows_below_target: small.iter().sum(),
        classes_below_target: small.len() as u64,
        target_k,
    }
}

/// One aggregate cell: a group's count and optional sum.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cell<K> {
    /// The group's key (de-identified field values).
    pub key: K,
    /// The count, or `None` if suppressed.
    pub count: Option<u64>,
    /// The sum of the summed field, or `None` if suppressed or not asked for.
    pub sum: Option<f64>,
    /// Why it is hidden, if it is.
    pub suppressed: Option<Suppression>,
}

/// Why a cell is hidden.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Suppression {
    /// Fewer than the minimum cell size.
    Primary,
    /// Hidden so the total cannot reveal a primary suppressed cell.
    Complementary,
}

/// Suppresses a one-way table whose total is published: every non-empty cell under
/// `min_cell` is hidden (primary); if that hides exactly one cell, or the hidden cells add up
/// to less than `min_cell`, the smallest shown cells are hidden too (complementary) until
/// neither holds, so the total minus the shown cells cannot pin down a small group.
pub fn suppress<K>(groups: Vec<(K, u64, Option<f64>)>, min_cell: u64) -> Vec<Cell<K>> {
    let mut cells: Vec<Cell<K>> = groups
        .into_iter()
        .map(|(key, count, sum)| {
            let hide = count > 0 && count < min_cell;
            Cell {
                key,
                count: Some(count),
                sum,
                suppressed: hide.then_some(Suppression::Primary),
            }
        })
        .collect();
    loop {
        let hidden: Vec<u64> = cells
            .iter()
            .filter(|c| c.suppressed.is_some())
            .filter_map(|c| c.count)
            .collect();
        if hidden.is_empty() || (hidden.len() >= 2 && hidden.iter().sum::<u64>() >= min_cell) {
            break;
        }
        // The smallest shown non-empty cell.
        let next = cells
            .iter()
            .enumerate()
            .filter(|(_, c)| c.suppressed.is_none() && c.count.unwrap_or(0) > 0)
            .min_by_key(|(_, c)| c.count.unwrap_or(0))
            .map(|(i, _)| i);
        match next {
            Some(i) => cells[i].suppressed = Some(Suppression::Complementary),
            None => break,
        }
    }
    for c in &mut cells {
        if c.suppressed.is_some() {
            c.count = None;
            c.sum = None;
        }
    }
    cells
}
