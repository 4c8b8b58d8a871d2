//! No PHI in metadata: collection, field, role, service-account and token names, role
//! descriptions and the names a grant refers to are stored in the clear and reach audit
//! events and logs, so none may carry a Safe Harbor identifier (45 CFR 164.514(b)(2)(i)).
//! [`check_name`] refuses identifier-like names; [`redact_log`] masks the same shapes in
//! log text. One hand-written pass over the bytes, no regular expressions.

use std::fmt;

use crate::policy::Role;
use crate::schema::CollectionSchema;

mod scan;

use scan::{Mode, findings};

/// The kind of operator-chosen metadata being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataKind {
    /// A collection's name (also as named in a grant).
    CollectionName,
    /// A field's name in a schema (also as named in a grant or mask).
    FieldName,
    /// A custom role's name.
    RoleName,
    /// A custom role's description.
    RoleDescription,
    /// A service account's name.
    ServiceAccountName,
    /// An API token's name (its label).
    TokenName,
}

impl MetadataKind {
    /// The item as a noun phrase, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Self::CollectionName => "a collection name",
            Self::FieldName => "a field name",
            Self::RoleName => "a role name",
            Self::RoleDescription => "a role description",
            Self::ServiceAccountName => "a service account name",
            Self::TokenName => "a token name",
        }
    }
}

/// The identifier shape found, each one of the Safe Harbor kinds of 164.514(b)(2)(i).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierLike {
    /// (G) `ddd-dd-dddd` or a run of exactly nine digits.
    Ssn,
    /// (D)/(E) US formats (`ddd-ddd-dddd`, `(ddd) ddd-dddd`, `ddd-dddd`) or `+country …`.
    Phone,
    /// (F) `local@domain.tld`.
    Email,
    /// (C) `yyyy-mm-dd`, `m/d/yyyy`, or a month name with a day.
    Date,
    /// (H)/(J)/(R) six or more digits in a row: record, account or other numbers.
    LongNumber,
    /// (O) a dotted-quad IPv4 address.
    IpAddress,
    /// (N) `scheme://…` or `www.…`.
    Url,
}

impl IdentifierLike {
    /// The shape as a noun phrase, for messages.
    pub fn description(self) -> &'static str {
        match self {
            Self::Ssn => "a Social Security number",
            Self::Phone => "a telephone number",
            Self::Email => "an e-mail address",
            Self::Date => "a date",
            Self::LongNumber => "a long number such as a record or account number",
            Self::IpAddress => "an IP address",
            Self::Url => "a URL",
        }
    }
}

/// A refused metadata item: which kind of item and what it looked like, never its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataError {
    /// The kind of item refused.
    pub kind: MetadataKind,
    /// The identifier shape it contained.
    pub found: IdentifierLike,
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} must not look like {} (no identifiers in metadata, 45 CFR 164.514(b)(2))",
            self.kind.noun(),
            self.found.description()
        )
    }
}

impl std::error::Error for MetadataError {}

/// Refuses `name` if it contains identifier-like content (45 CFR 164.514(b)(2)(i)).
pub fn check_name(kind: MetadataKind, name: &str) -> Result<(), MetadataError> {
    match findings(name, Mode::Name).first() {
        Some(f) => Err(MetadataError {
            kind,
            found: f.found,
        }),
        None => Ok(()),
    }
}

/// Checks a schema's collection name and every field name.
pub fn check_schema(schema: &CollectionSchema) -> Result<(), MetadataError> {
    check_name(MetadataKind::CollectionName, schema.name.as_str())?;
    for f in &schema.fields {
        check_name(MetadataKind::FieldName, f.name.as_str())?;
    }
    Ok(())
}

/// Checks a role's name, description and every collection and field its grants name.
pub fn check_role(role: &Role) -> Result<(), MetadataError> {
    check_name(MetadataKind::RoleName, &role.name)?;
    check_name(MetadataKind::RoleDescription, &role.description)?;
    for g in &role.grants {
        for c in g.collections.iter().filter(|c| *c != "*") {
            check_name(MetadataKind::CollectionName, c)?;
        }
        let fields = g.fields.iter().chain(g.masked.keys());
        for f in fields.filter(|f| *f != "*") {
            check_name(MetadataKind::FieldName, f)?;
        }
    }
    Ok(())
}

/// What replaces each identifier-like span in a log line.
pub const REDACTED: &str = "[REDACTED]";

/// `text` with every identifier-like span (SSN, phone, e-mail, date, long number) replaced
/// by [`REDACTED`]. Each line's leading timestamp, UUIDs, long hex strings, decimal
/// fractions and durations are left alone, so log lines stay readable.
pub fn redact_log(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let spans = findings(line, Mode::Log);
        let mut at = 0;
        for f in spans {
            // Spans are sorted and merged, and fall on ASCII bytes, so these are char
            // boundaries.
            out.push_str(line.get(at..f.start).unwrap_or_default());
            out.push_str(REDACTED);
            at = f.end;
        }
        out.push_str(line.get(at..).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use IdentifierLike::*;

    fn found(name: &str) -> Option<IdentifierLike> {
        check_name(MetadataKind::CollectionName, name)
            .err()
            .map(|e| e.found)
    }

    #[track_caller]
    fn refused(cases: &[&str], want: IdentifierLike) {
        for c in cases {
            assert_eq!(found(c), Some(want), "{c:?}");
        }
    }

    #[test]
    fn ordinary_names_pass() {
        for ok in [
            "patients",
            "lab_results",
            "dob",
            "ssn",
            "phone_number",
            "icd10",
            "v2",
            "hl7_fhir_r4",
            "email",
            "mrn",
            "date_of_birth",
            "records-all",
            "dev-all-access",
            "test-admin",
            "svc-new",
            "ci token 2024",
            "loinc_2345_7",
            "covid19_2020",
            "claims_2024_q1",
            "v1.2.3",
            "market_12",
            "december",
            "Clinicians reading lab results for treatment.",
            "svc-0190a1b2c3d4e5f60718293a4b5c6d7e",
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "user@localhost",
            "",
        ] {
            assert_eq!(found(ok), None, "{ok:?}");
        }
    }

    #[test]
    fn ssns_are_refused() {
        refused(
            &[
                "123-45-6789",
                "pt_123_45_6789",
                "x 123 45 6789",
                "123456789",
                "a123456789b",
            ],
            Ssn,
        );
    }

    #[test]
    fn phone_numbers_are_refused() {
        refused(
            &[
                "555-123-4567",
                "call_555_123_4567",
                "555.123.4567",
                "(555) 123-4567",
                "1-555-123-4567",
                "+1 555 123 4567",
                "+44 20 7946 0958",
                "555-1234",
            ],
            Phone,
        );
    }

    #[test]
    fn email_addresses_are_refused() {
        refused(
            &["jane.doe@example.com", "svc+x@mail.example.org", "a@b.io"],
            Email,
        );
    }

    #[test]
    fn dates_are_refused() {
        refused(
            &[
                "1984-03-12",
                "dob_1984_03_12",
                "3/12/1984",
                "12/31/84",
                "visit_3_12_1984",
                "March 12, 1984",
                "12 March 1984",
                "dob_mar_12",
                "12mar1984",
                "sept 3",
            ],
            Date,
        );
        assert_eq!(found("1984-13-40"), None);
    }

    #[test]
    fn long_numbers_are_refused() {
        refused(&["mrn_123456", "acct1234567", "12345678901234"], LongNumber);
        assert_eq!(found("mrn_12345"), None);
    }

    #[test]
    fn ip_addresses_and_urls_are_refused() {
        refused(&["10.0.0.1", "host 192.168.1.20"], IpAddress);
        refused(
            &["https://example.com/p", "see www.example.com", "ftp://x"],
            Url,
        );
    }

    #[test]
    fn messages_name_the_kind_never_the_value() {
        let e = check_name(MetadataKind::TokenName, "ci 123-45-6789").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("a token name must not look like a Social Security number"));
        assert!(!text.contains("6789"), "{text}");
    }

    #[test]
    fn roles_and_schemas_are_checked_throughout() {
        let mut role = crate::policy::Role {
            name: "ward".into(),
            description: "ward staff".into(),
            scopes: Default::default(),
            grants: vec![],
        };
        assert!(check_role(&role).is_ok());
        role.description = "ask jane@example.com".into();
        let e = check_role(&role).unwrap_err();
        assert_eq!((e.kind, e.found), (MetadataKind::RoleDescription, Email));
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_scanned_without_panicking(s in "\\PC{0,80}") {
            let _ = check_name(MetadataKind::TokenName, &s);
            let red = redact_log(&s);
            // Redaction only ever replaces spans; the rest of the text survives.
            proptest::prop_assert!(red.len() + 64 >= s.len() || red.contains(REDACTED));
        }
    }

    #[test]
    fn log_lines_keep_their_own_numbers() {
        let line = "2025-01-02T03:04:05.123456Z  INFO http_request{method=POST \
                    route=/v1/collections request_id=12345678-1234-4abc-8def-123456789012 \
                    status=201 latency_ms=1.2345678901}: request finished took=1234567ns";
        assert_eq!(redact_log(line), line);
        let json = r#"{"timestamp":"2025-01-02T03:04:05.123456Z","level":"INFO","fields":{"latency_ms":0.123456}}"#;
        assert_eq!(redact_log(json), json);
        let hash = "root=0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
        assert_eq!(redact_log(hash), hash);
    }

    #[test]
    fn log_lines_lose_identifiers() {
        let line = "2025-01-02T03:04:05Z  WARN note ssn=123-45-6789 mail=jane@example.com \
                    phone=(555) 123-4567 dob=1984-03-12 mrn=12345678\n";
        let red = redact_log(line);
        for v in ["6789", "jane", "4567", "1984", "12345678"] {
            assert!(!red.contains(v), "{v} in {red}");
        }
        assert!(red.starts_with("2025-01-02T03:04:05Z  WARN note ssn=[REDACTED] mail=[REDACTED]"));
        assert!(red.ends_with("mrn=[REDACTED]\n"), "{red}");
    }
}
