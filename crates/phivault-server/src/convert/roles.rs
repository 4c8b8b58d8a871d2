//! Roles, scopes, grants, purposes of use, data actions and masks between wire and
//! domain; every enum maps one to one, generated from one list per enum.

use phivault_api as api;
use phivault_core::{DataAction, Grant, Mask, PurposeOfUse, Role, Scope, SubjectScope};

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

#[cfg(test)]
mod tests {
    use super::*;
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
