//! Conversions between the wire types of `phivault-api` and the domain types of
//! `phivault-core`. Parsing into domain types checks names and ids; failures are domain
//! errors with static codes, so they carry no submitted text.

use phivault_api as api;
use phivault_core::metadata::{MetadataKind, check_name};
use phivault_core::{
    AuditVerifyReport, BreakGlassInfo, CollectionName, CollectionSchema, ComplianceGap, DataAction,
    Enrollment, FieldDef, FieldName, FieldType, Grant, IdentifierKind, Mask, PurposeOfUse,
    RecordView, Role, Scope, Sensitivity, SubjectScope, TokenInfo, UserInfo, VaultError,
};

/// A wire collection as a domain schema (names checked; the schema itself is checked by
/// the vault).
pub(crate) fn schema_from_api(c: api::Collection) -> Result<CollectionSchema, VaultError> {
    // Identifier-like names are refused as such (422) before the charset check (400), so
    // an e-mail address as a name is named for what it is.
    check_name(MetadataKind::CollectionName, &c.name)?;
    for f in &c.fields {
        check_name(MetadataKind::FieldName, &f.name)?;
    }
    let fields = c
        .fields
        .into_iter()
        .map(|f| {
            Ok(FieldDef {
                name: FieldName::parse(&f.name)?,
                field_type: field_type_from_api(f.field_type),
                sensitivity: sensitivity_from_api(f.sensitivity),
                searchable: f.searchable,
                required: f.required,
            })
        })
        .collect::<Result<Vec<_>, VaultError>>()?;
    Ok(CollectionSchema {
        name: CollectionName::parse(&c.name)?,
        fields,
    })
}

/// A domain schema on the wire.
pub(crate) fn schema_to_api(s: &CollectionSchema) -> api::Collection {
    api::Collection {
        name: s.name.to_string(),
        fields: s
            .fields
            .iter()
            .map(|f| api::Field {
                name: f.name.to_string(),
                field_type: field_type_to_api(f.field_type),
                sensitivity: sensitivity_to_api(f.sensitivity),
                searchable: f.searchable,
                required: f.required,
            })
            .collect(),
    }
}

fn field_type_from_api(t: api::FieldType) -> FieldType {
    match t {
        api::FieldType::String => FieldType::String,
        api::FieldType::Text => FieldType::Text,
        api::FieldType::Integer => FieldType::Integer,
        api::FieldType::Decimal => FieldType::Decimal,
        api::FieldType::Boolean => FieldType::Boolean,
        api::FieldType::Date => FieldType::Date,
        api::FieldType::Datetime => FieldType::Datetime,
        api::FieldType::Object => FieldType::Object,
        api::FieldType::Array => FieldType::Array,
    }
}

fn field_type_to_api(t: FieldType) -> api::FieldType {
    match t {
        FieldType::String => api::FieldType::String,
        FieldType::Text => api::FieldType::Text,
        FieldType::Integer => api::FieldType::Integer,
        FieldType::Decimal => api::FieldType::Decimal,
        FieldType::Boolean => api::FieldType::Boolean,
        FieldType::Date => api::FieldType::Date,
        FieldType::Datetime => api::FieldType::Datetime,
        FieldType::Object => api::FieldType::Object,
        FieldType::Array => api::FieldType::Array,
    }
}

fn sensitivity_from_api(s: api::Sensitivity) -> Sensitivity {
    match s {
        api::Sensitivity::Phi(k) => Sensitivity::Phi(identifier_from_api(k)),
        api::Sensitivity::Health => Sensitivity::Health,
        api::Sensitivity::None => Sensitivity::None,
    }
}

fn sensitivity_to_api(s: Sensitivity) -> api::Sensitivity {
    match s {
        Sensitivity::Phi(k) => api::Sensitivity::Phi(identifier_to_api(k)),
        Sensitivity::Health => api::Sensitivity::Health,
        Sensitivity::None => api::Sensitivity::None,
    }
}

/// Generates both directions of the identifier-kind mapping from one list, so a kind
/// added on one side without the other fails to compile.
macro_rules! identifier_kinds {
    ($($v:ident),* $(,)?) => {
        fn identifier_from_api(k: api::IdentifierKind) -> IdentifierKind {
            match k { $(api::IdentifierKind::$v => IdentifierKind::$v,)* }
        }
        fn identifier_to_api(k: IdentifierKind) -> api::IdentifierKind {
            match k { $(IdentifierKind::$v => api::IdentifierKind::$v,)* }
        }
    };
}

identifier_kinds!(
    Name,
    Geographic,
    Date,
    Phone,
    Fax,
    Email,
    Ssn,
    MedicalRecordNumber,
    HealthPlanNumber,
    AccountNumber,
    LicenseNumber,
    VehicleId,
    DeviceId,
    Url,
    IpAddress,
    Biometric,
    Photo,
    OtherUniqueId,
);

/// Generates both directions of a one-to-one enum mapping from one list, so a variant
/// added on one side without the other fails to compile.
macro_rules! enum_map {
    ($from:ident, $to:ident, $api:ty, $core:ty, [$($v:ident),* $(,)?]) => {
        pub(crate) fn $from(x: $api) -> $core {
            match x { $(<$api>::$v => <$core>::$v,)* }
        }
        pub(crate) fn $to(x: $core) -> $api {
            match x { $(<$core>::$v => <$api>::$v,)* }
        }
    };
}

enum_map!(
    scope_from_api,
    scope_to_api,
    api::Scope,
    Scope,
    [
        CollectionsManage,
        TokensManage,
        AuditRead,
        UsersManage,
        RolesManage,
        KeysManage,
        BreakGlass,
        BreakGlassReview,
        ResearchRead,
        PrivacyManage,
    ]
);
enum_map!(
    purpose_from_api,
    purpose_to_api,
    api::PurposeOfUse,
    PurposeOfUse,
    [
        Treat, Etreat, Hpaymt, Hoperat, Pubhlth, Hresch, Patrqt, Hlegal, Sysadmin
    ]
);
enum_map!(
    action_from_api,
    action_to_api,
    api::DataAction,
    DataAction,
    [Read, Create, Update, Delete, Search, History, Export]
);
enum_map!(mask_from_api, mask_to_api, api::Mask, Mask, [Last4, Redact]);
enum_map!(
    subjects_from_api,
    subjects_to_api,
    api::SubjectScope,
    SubjectScope,
    [All, Assigned]
);

/// A wire role as a domain role (the vault checks the name).
pub(crate) fn role_from_api(r: api::Role) -> Role {
    Role {
        name: r.name,
        description: r.description,
        scopes: r.scopes.into_iter().map(scope_from_api).collect(),
        grants: r
            .grants
            .into_iter()
            .map(|g| Grant {
                collections: g.collections,
                actions: g.actions.into_iter().map(action_from_api).collect(),
                fields: g.fields,
                masked: g
                    .masked
                    .into_iter()
                    .map(|(k, m)| (k, mask_from_api(m)))
                    .collect(),
                subjects: subjects_from_api(g.subjects),
                purposes: g.purposes.into_iter().map(purpose_from_api).collect(),
            })
            .collect(),
    }
}

/// A domain role on the wire.
pub(crate) fn role_to_api(r: Role) -> api::Role {
    api::Role {
        name: r.name,
        description: r.description,
        scopes: r.scopes.into_iter().map(scope_to_api).collect(),
        grants: r
            .grants
            .into_iter()
            .map(|g| api::Grant {
                collections: g.collections,
                actions: g.actions.into_iter().map(action_to_api).collect(),
                fields: g.fields,
                masked: g
                    .masked
                    .into_iter()
                    .map(|(k, m)| (k, mask_to_api(m)))
                    .collect(),
                subjects: subjects_to_api(g.subjects),
                purposes: g.purposes.into_iter().map(purpose_to_api).collect(),
            })
            .collect(),
    }
}

/// A user description on the wire.
pub(crate) fn user_to_api(u: UserInfo) -> api::User {
    api::User {
        id: u.id,
        username: u.username,
        kind: u.kind,
        roles: u.roles,
        mfa_enrolled: u.mfa_enrolled,
        allow_admin_phi: u.allow_admin_phi,
        disabled: u.disabled,
        created_at: u.created_at,
    }
}

/// A second-factor enrollment on the wire (the one place its secrets are exposed).
pub(crate) fn enrollment_to_api(e: &Enrollment) -> api::Enrollment {
    api::Enrollment {
        otpauth_uri: e.otpauth_uri.as_str().to_owned(),
        recovery_codes: e
            .recovery_codes
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
    }
}

/// A break-glass episode on the wire.
pub(crate) fn break_glass_to_api(b: BreakGlassInfo) -> api::BreakGlassEpisode {
    api::BreakGlassEpisode {
        id: b.id,
        principal_id: b.principal_id,
        subject: b.subject,
        reason: b.reason,
        opened_at: b.opened_at,
        expires_at: b.expires_at,
        reviewed_at: b.reviewed_at,
        reviewer: b.reviewer,
        review_note: b.review_note,
    }
}

/// A compliance finding on the wire.
pub(crate) fn gap_to_api(g: ComplianceGap) -> api::ComplianceGap {
    api::ComplianceGap {
        code: g.code,
        detail: g.detail,
    }
}

/// A record view on the wire.
pub(crate) fn record_to_api(v: RecordView) -> api::Record {
    api::Record {
        collection: v.collection,
        id: v.id.0,
        subject: v.subject,
        version: v.version,
        current_version: v.current_version,
        data: v.data,
        deleted: v.deleted,
        created_at: v.created_at,
        updated_at: v.updated_at,
    }
}

/// A token description on the wire.
pub(crate) fn token_to_api(t: TokenInfo) -> api::Token {
    api::Token {
        id: t.id.0,
        name: t.name,
        owner: t.owner,
        roles: t.roles,
        created_at: t.created_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
        last_used_at: t.last_used_at,
    }
}

/// An audit verification report on the wire.
pub(crate) fn verify_to_api(r: AuditVerifyReport) -> api::AuditVerifyResponse {
    api::AuditVerifyResponse {
        ok: r.first_break.is_none(),
        entries: r.entries,
        head_hash: r.head_hash,
        first_break: r
            .first_break
            .map(|(seq, problem)| api::ChainBreak { seq, problem }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_round_trips() {
        let wire: api::Collection = serde_json::from_value(serde_json::json!({
            "name": "patients",
            "fields": [
                {"name": "ssn", "type": "string", "sensitivity": {"class": "phi", "identifier": "ssn"}, "searchable": true},
                {"name": "dx", "type": "text", "sensitivity": {"class": "health"}, "required": true},
                {"name": "flag", "type": "boolean", "sensitivity": {"class": "none"}}
            ]
        }))
        .unwrap();
        let domain = schema_from_api(wire.clone()).unwrap();
        // The domain type serialises to the same JSON as the wire type.
        assert_eq!(
            serde_json::to_value(&domain).unwrap(),
            serde_json::to_value(&wire).unwrap()
        );
        assert_eq!(schema_to_api(&domain), wire);
    }

    #[test]
    fn bad_names_are_refused_with_static_codes() {
        let wire = api::Collection {
            name: "Bad Name CANARY".into(),
            fields: vec![],
        };
        let e = schema_from_api(wire).unwrap_err();
        assert_eq!(e.code(), "invalid_collection_name");
        assert!(!e.to_string().contains("CANARY"));
    }

    #[test]
    fn scopes_map_one_to_one() {
        for s in api::Scope::ALL {
            assert_eq!(scope_from_api(s).as_str(), s.as_str());
        }
    }

    #[test]
    fn roles_serialise_like_core() {
        for name in phivault_core::policy::BUILTIN_ROLES {
            let core = phivault_core::policy::builtin_role(name).unwrap();
            let wire = role_to_api(core.clone());
            assert_eq!(
                serde_json::to_value(&wire).unwrap(),
                serde_json::to_value(&core).unwrap(),
                "{name}"
            );
            assert_eq!(role_from_api(wire), core);
            let back: api::Role =
                serde_json::from_value(serde_json::to_value(&core).unwrap()).unwrap();
            assert_eq!(role_from_api(back), core);
        }
    }
}
