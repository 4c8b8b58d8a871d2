//! De-identification for phivault, after HIPAA's Safe Harbor method (45 CFR 164.514(b)(2)).
//!
//! * [`Scrubber`]: finds identifiers in free text (names, dates, ages over 89, phone and fax
//!   numbers, e-mail, SSNs, record/account/plan/licence/vehicle/device numbers, URLs, IP
//!   addresses, streets, cities, ZIP codes, facilities) in one linear-time multi-pattern pass
//!   plus a dictionary-and-context token pass for names, and replaces them with typed
//!   placeholders or consistent surrogates.
//! * [`record`]: Safe Harbor for structured records, driven by the schema's identifier tags.
//! * [`pseudonym`]: keyed research ids (the re-identification code of 164.514(c)).
//! * [`eval`]: recall, precision and F1 against a labelled corpus.
//! * [`cells`]: k-anonymity reports and small-cell suppression for aggregates.
//!
//! The crate is pure: no I/O, no clock, no network; callers hand in text, keys and the year.

#![forbid(unsafe_code)]

pub mod category;
pub mod cells;
mod error;
pub mod eval;
mod names;
mod patterns;
mod pseudonym;
pub mod record;
mod scrub;

pub use category::{Category, Group};
pub use error::DeidError;
pub use pseudonym::{date_shift_days, pseudonym};
pub use scrub::{Detection, Replacement, ScrubOptions, Scrubber, StreamScrubber};
