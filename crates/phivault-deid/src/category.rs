//! The categories a detection or a labelled span falls into.

use serde::{Deserialize, Serialize};

/// What kind of identifier a detected span is. Finer than the 18 Safe Harbor kinds where
/// text needs it (a street and a ZIP code are both "geographic subdivisions").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A person's name.
    Name,
    /// A date or date element more specific than a year (and years, which text scrubbing
    /// removes too because they can reveal an age over 89).
    Date,
    /// An age over 89.
    Age,
    /// A telephone or pager number.
    Phone,
    /// A fax number.
    Fax,
    /// An e-mail address.
    Email,
    /// A Social Security number.
    Ssn,
    /// A medical record number.
    MedicalRecord,
    /// A health plan beneficiary number.
    HealthPlan,
    /// An account number.
    Account,
    /// A certificate or licence number.
    License,
    /// A vehicle identifier or plate.
    Vehicle,
    /// A device identifier or serial number.
    Device,
    /// A web URL.
    Url,
    /// An IP address.
    Ip,
    /// A street address.
    Street,
    /// A city or other place smaller than a state.
    City,
    /// A state (permitted by Safe Harbor, removed from free text by default).
    State,
    /// A ZIP code.
    Zip,
    /// A hospital, clinic or other facility.
    Facility,
    /// Any other unique identifying number or code.
    OtherId,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 21] = [
        Category::Name,
        Category::Date,
        Category::Age,
        Category::Phone,
        Category::Fax,
        Category::Email,
        Category::Ssn,
        Category::MedicalRecord,
        Category::HealthPlan,
        Category::Account,
        Category::License,
        Category::Vehicle,
        Category::Device,
        Category::Url,
        Category::Ip,
        Category::Street,
        Category::City,
        Category::State,
        Category::Zip,
        Category::Facility,
        Category::OtherId,
    ];

    /// The typed placeholder that replaces a span of this category.
    pub fn placeholder(self) -> &'static str {
        match self {
            Category::Name => "[NAME]",
            Category::Date => "[DATE]",
            Category::Age => "[AGE>89]",
            Category::Phone => "[PHONE]",
            Category::Fax => "[FAX]",
            Category::Email => "[EMAIL]",
            Category::Ssn => "[SSN]",
            Category::MedicalRecord => "[MRN]",
            Category::HealthPlan => "[HEALTHPLAN]",
            Category::Account => "[ACCOUNT]",
            Category::License => "[LICENSE]",
            Category::Vehicle => "[VEHICLE]",
            Category::Device => "[DEVICE]",
            Category::Url => "[URL]",
            Category::Ip => "[IP]",
            Category::Street => "[STREET]",
            Category::City => "[CITY]",
            Category::State => "[STATE]",
            Category::Zip => "[ZIP]",
            Category::Facility => "[FACILITY]",
            Category::OtherId => "[ID]",
        }
    }

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Name => "name",
            Category::Date => "date",
            Category::Age => "age",
            Category::Phone => "phone",
            Category::Fax => "fax",
            Category::Email => "email",
            Category::Ssn => "ssn",
            Category::MedicalRecord => "medical_record",
            Category::HealthPlan => "health_plan",
            Category::Account => "account",
            Category::License => "license",
            Category::Vehicle => "vehicle",
            Category::Device => "device",
            Category::Url => "url",
            Category::Ip => "ip",
            Category::Street => "street",
            Category::City => "city",
            Category::State => "state",
            Category::Zip => "zip",
            Category::Facility => "facility",
            Category::OtherId => "other_id",
        }
    }

    /// The evaluation group: categories that labelled corpora routinely confuse (a fax
    /// labelled as a phone, a ZIP inside an address) are scored together.
    pub fn group(self) -> Group {
        match self {
            Category::Name => Group::Name,
            Category::Date => Group::Date,
            Category::Age => Group::Age,
            Category::Phone | Category::Fax => Group::Contact,
            Category::Email => Group::Email,
            Category::Ssn => Group::Ssn,
            Category::MedicalRecord => Group::MedicalRecord,
            Category::HealthPlan
            | Category::Account
            | Category::License
            | Category::Vehicle
            | Category::Device
            | Category::OtherId => Group::Id,
            Category::Url | Category::Ip => Group::Web,
            Category::Street
            | Category::City
            | Category::State
            | Category::Zip
            | Category::Facility => Group::Location,
        }
    }
}

/// Evaluation groups (see [`Category::group`] and [`crate::eval::map_label`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Person names.
    Name,
    /// Dates.
    Date,
    /// Ages.
    Age,
    /// Phone, fax and pager numbers.
    Contact,
    /// E-mail addresses.
    Email,
    /// Social Security numbers.
    Ssn,
    /// Medical record numbers.
    MedicalRecord,
    /// Other numbers and codes: health plan, account, licence, vehicle, device, other ids.
    Id,
    /// URLs and IP addresses.
    Web,
    /// Streets, cities, states, ZIP codes, facilities.
    Location,
}

impl Group {
    /// Every group.
    pub const ALL: [Group; 10] = [
        Group::Name,
        Group::Date,
        Group::Age,
        Group::Contact,
        Group::Email,
        Group::Ssn,
        Group::MedicalRecord,
        Group::Id,
        Group::Web,
        Group::Location,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Name => "name",
            Group::Date => "date",
            Group::Age => "age",
            Group::Contact => "contact",
            Group::Email => "email",
            Group::Ssn => "ssn",
            Group::MedicalRecord => "medical_record",
            Group::Id => "id",
            Group::Web => "web",
            Group::Location => "location",
        }
    }
}
