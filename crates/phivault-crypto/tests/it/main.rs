//! phivault-crypto's integration tests, one binary: the envelope, keyring, blind index and
//! token formats with their known answers and golden fixture (`crypto`), and the identity
//! primitives: TOTP, password hashing and policy, recovery codes (`identity`); property
//! tests of the parsers that face the network (`parsers`).

mod crypto;
mod identity;
mod parsers;
