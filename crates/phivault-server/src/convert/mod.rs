//! Every mapping between the wire types of `phivault-api` and the domain types of
//! `phivault-core`, one file per resource. Parsing into domain types checks names and ids;
//! failures are domain errors with static codes, so they carry no submitted text.

pub(crate) mod audit;
pub(crate) mod error;
pub(crate) mod identity;
pub mod privacy;
pub(crate) mod records;
pub(crate) mod research;
pub(crate) mod roles;
pub(crate) mod schema;
