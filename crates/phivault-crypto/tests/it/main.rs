//! phivault-crypto's integration tests, one binary: the envelope, keyring, blind index and
//! token formats with their known answers and golden fixture (`crypto`), and the identity
//! primitives: TOTP, password hashing and policy, recovery codes (`identity`).

mod crypto;
mod identity;
