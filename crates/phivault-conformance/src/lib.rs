//! The store conformance suite: backend-neutral checks that every [`Store`] must pass.
//! Each check is a `pub async fn` over a fresh, empty store that panics on failure; a
//! backend crate runs them all with [`store_conformance_tests!`](crate::store_conformance_tests)
//! (one `#[tokio::test]` per check) or with [`run_all`].
//!
//! The suite depends on `phivault-core` alone (plus the async runtime), so a store crate
//! dev-depends on nothing above the domain: no HTTP stack, no server. Checks are grouped
//! by area: records, identity, access, audit, privacy and transactions.
//!
//! Times carry whole microseconds only, the finest precision every backend keeps.
#![forbid(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "this crate is test code shipped in a library: a failed check must panic"
)]

mod access;
mod audit;
mod identity;
mod privacy;
mod records;
mod support;
mod transactions;

use std::any::Any;
use std::future::Future;

use phivault_core::store::Store;

pub use access::{break_glass_lifecycle, care_relationships_lifecycle, roles_upsert_list_delete};
pub use audit::{
    audit_append_and_read, audit_merkle_nodes_and_tree_heads, audit_prune_keeps_the_tail,
};
pub use identity::{
    login_failures_count_and_clear, recovery_codes_replace_and_use, sessions_lifecycle,
    tokens_lifecycle, users_insert_get_update_list,
};
pub use privacy::{
    privacy_items_upsert_get_list, shred_ledger_and_subject_key_deletion,
    subject_heads_retention_scan_and_disposal,
};
pub use records::{
    collections_insert_get_list, index_replace_and_find, meta_set_get, record_heads_and_versions,
    subject_keys_insert_update_list_count, subject_records_live_and_paginated,
};
pub use transactions::{
    concurrent_mixed_outcomes_commit_exactly_the_successes, concurrent_writers_all_commit,
    failed_closure_is_rolled_back_alone, read_sees_committed_writes, read_sees_one_snapshot,
    store_error_inside_closure_rolls_it_back,
};

/// A store under test plus whatever must outlive it (e.g. its temporary directory).
pub struct Fixture {
    // Field order is drop order: the store closes before its directory is removed.
    store: Box<dyn Store>,
    _keep: Box<dyn Any + Send>,
}

impl Fixture {
    /// A fixture that owns only the store.
    pub fn new(store: impl Store + 'static) -> Self {
        Self::keeping(store, ())
    }

    /// A fixture that also keeps `keep` alive until after the store is dropped.
    pub fn keeping(store: impl Store + 'static, keep: impl Any + Send) -> Self {
        Self {
            store: Box::new(store),
            _keep: Box::new(keep),
        }
    }

    /// The store under test.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }
}

/// Expands to one `#[tokio::test]` per conformance check. The argument is a function or
/// closure taking no argument and returning a future of a fresh [`Fixture`]; the calling
/// crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.
///
/// ```ignore
/// async fn fresh() -> Fixture {
///     let dir = tempfile::tempdir().unwrap();
///     let store = SqliteStore::open(&dir.path().join("vault.db"), Default::default()).unwrap();
///     Fixture::keeping(store, dir)
/// }
/// phivault_conformance::store_conformance_tests!(fresh);
/// ```
///
/// With `optional` first, the maker takes the check's name (`&'static str`) and its future
/// yields `Option<Fixture>`; a check whose fixture is `None` returns at once (a backend
/// whose server is absent; the maker prints why): `store_conformance_tests!(optional fresh_or_skip)`.
#[macro_export]
macro_rules! store_conformance_tests {
    (optional $make:expr) => {
        $crate::__store_conformance_cases!(__store_conformance_emit_optional_tests { $make });
    };
    ($make:expr) => {
        $crate::__store_conformance_cases!(__store_conformance_emit_tests { $make });
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_emit_optional_tests {
    ({ $make:expr } $($case:ident)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture: Option<$crate::Fixture> =
                    ($make)(stringify!($case)).await;
                if let Some(fixture) = fixture {
                    $crate::$case(fixture.store()).await;
                }
            }
        )*
    };
}

/// The one list of checks, handed to `$callback` so the macro and [`run_all`] cannot drift.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    ($callback:ident { $($ctx:tt)* }) => {
        $crate::$callback! {
            { $($ctx)* }
            meta_set_get
            collections_insert_get_list
            subject_keys_insert_update_list_count
            record_heads_and_versions
            index_replace_and_find
            subject_records_live_and_paginated
            tokens_lifecycle
            users_insert_get_update_list
            sessions_lifecycle
            login_failures_count_and_clear
            recovery_codes_replace_and_use
            roles_upsert_list_delete
            care_relationships_lifecycle
            break_glass_lifecycle
            audit_append_and_read
            audit_merkle_nodes_and_tree_heads
            audit_prune_keeps_the_tail
            shred_ledger_and_subject_key_deletion
            privacy_items_upsert_get_list
            subject_heads_retention_scan_and_disposal
            failed_closure_is_rolled_back_alone
            store_error_inside_closure_rolls_it_back
            concurrent_mixed_outcomes_commit_exactly_the_successes
            concurrent_writers_all_commit
            read_sees_committed_writes
            read_sees_one_snapshot
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_emit_tests {
    ({ $make:expr } $($case:ident)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture: $crate::Fixture = ($make)().await;
                $crate::$case(fixture.store()).await;
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_emit_run {
    ({ $make:ident } $($case:ident)*) => {
        $(
            eprintln!("store conformance: {}", stringify!($case));
            let fixture: $crate::Fixture = $make().await;
            $crate::$case(fixture.store()).await;
            drop(fixture);
        )*
    };
}

/// Runs every check in turn, each on a fresh fixture from `make`; panics on the first failure.
pub async fn run_all<F, Fut>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Fixture>,
{
    crate::__store_conformance_cases!(__store_conformance_emit_run { make });
}
