//! The word lists behind name detection: the dictionaries (given, family, ambiguous names),
//! stop words and eponyms, and the cue lists (titles, labels, relations, credentials, roles
//! and the verbs around names) that the passes read as context.

/// Given names (lower case), one a line.
pub(super) const GIVEN: &str = include_str!("../../data/given.txt");
/// Family names (lower case), one a line.
pub(super) const FAMILY: &str = include_str!("../../data/family.txt");
/// Names that are also ordinary English words: accepted only with context.
pub(super) const AMBIGUOUS: &str = include_str!("../../data/ambiguous.txt");

/// Capitalised words that are never taken as names on their own.
pub(super) const STOP: &str = "a an the this that these those he she his her hers him they them their we our us i it its you your my me \
patient pt dr mr mrs ms miss plan assessment history exam impression note notes date name admission discharge follow \
return today yesterday tomorrow monday tuesday wednesday thursday friday saturday sunday january february march april may \
june july august september october november december mon tue wed thu fri sat sun please per and or but if of in on at to \
for from with by as no not yes is was be has had have will would should could can did does do denies reports states \
admitted discharged seen signed dictated cc hpi ros pmh psh meds medications allergies labs vitals pe general neuro heart \
lungs abdomen extremities skin heent cv resp gi gu musculoskeletal psych social family physical hospital clinic center \
medical health care unit floor room bed service emergency department er ed icu ccu or pacu md do rn np pa phd dds \
chief complaint present illness course condition diagnosis diagnoses procedure procedures instructions disposition \
alert oriented awake stable normal negative positive left right bilateral mild moderate severe acute chronic \
also then there here when where what which who why how after before during since until while again still very \
blood pressure pulse temperature weight height oxygen saturation
aspirin lasix coumadin tylenol motrin advil insulin heparin metformin lisinopril \
attending provider physician resident intern fellow surgeon consultant primary team signed electronically \
report summary department visit progress consult consultation addendum ordering referring admitting \
covering cardiologist oncologist neurologist radiologist pathologist anesthesiologist hospitalist \
internist pediatrician psychiatrist therapist pharmacist dietitian chaplain coordinator manager \
director chief staff specialist practitioner assistant technician technologist \
office practice group associates pool inbox queue desk line triage scheduling billing pharmacy \
nursing home hospice agency services appointment appointments referral referrals coverage \
medicine cardiology surgery neurology oncology radiology psychiatry pediatrics orthopedics urology \
nephrology dermatology gastroenterology pulmonology endocrinology rheumatology hematology \
obstetrics gynecology ophthalmology anesthesia palliative geriatrics \
aware duty hours statement attestation order orders update updates response rapid chart record \
records bed message messages result results \
thanks thank sincerely regards respectfully cordially";

/// Eponyms in clinical terms ("Foley catheter", "Murphy sign"): never a name on dictionary
/// evidence alone, still a name after a title or label ("Dr. Murphy").
pub(super) const EPONYMS: &str = "foley doppler parkinson parkinsons alzheimer alzheimers crohn crohns hodgkin cushing addison bell graves hashimoto \
wilson raynaud babinski romberg murphy mcburney kernig brudzinski homan homans tinel phalen lachman apley \
trendelenburg glasgow apgar barrett bowen paget reiter sjogren tourette wernicke korsakoff whipple swan ganz \
hickman groshong holter bruce tanner gleason breslow clark mallampati nyha child pugh ranson wells duke levine \
gram giemsa wright coombs fowler valsalva heimlich kussmaul cheyne stokes chvostek trousseau rovsing psoas \
obturator mcmurray finkelstein spurling hoffman durkan allen epley dix hallpike weber rinne snellen schirmer";

/// Titles that precede a name.
pub(super) const TITLES: &[&str] = &[
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "doctor",
    "prof",
    "professor",
    "mister",
    "sr",
    "nurse",
];

/// Labels that, followed by a colon, introduce a name.
pub(super) const LABELS: &[&str] = &[
    "name",
    "patient",
    "pt",
    "attending",
    "resident",
    "intern",
    "fellow",
    "pcp",
    "physician",
    "surgeon",
    "provider",
    "nurse",
    "rn",
    "np",
    "caller",
    "visitor",
    "contact",
    "signed",
    "by",
    "consultant",
    "referring",
    "author",
    "guardian",
    "proxy",
    "hcp",
    "spouse",
    "mother",
    "father",
    "wife",
    "husband",
    "son",
    "daughter",
    "to",
    "from",
    "attn",
    "re",
    "dear",
    "md",
    "dictated",
    "transcribed",
    "cosigned",
    "witness",
    "interpreter",
    "sw",
    "cm",
    "pharmacist",
    "bedside",
    "with",
    "for",
    "patients",
    "member",
    "subscriber",
    "insured",
    "responsible",
    "parent",
    "emergency",
    "nok",
    "kin",
    "pcp",
    "doctor",
    "dr",
    "dentist",
    "therapist",
];

/// Words that, without a colon, precede a name that the dictionaries confirm.
pub(super) const CUES: &[&str] = &[
    "patient",
    "pt",
    "with",
    "by",
    "to",
    "and",
    "pcp",
    "attending",
    "resident",
    "intern",
    "colleague",
    "sincerely",
    "regards",
    "thanks",
    "cc",
    "from",
    "for",
    "saw",
    "called",
    "referring",
    "refer",
    "regarding",
    "re",
    "about",
    "contacted",
    "paged",
    "notified",
    "messaged",
];

/// Relations and roles that precede a name: any capitalised word after them is taken.
pub(super) const RELATIONS: &[&str] = &[
    "wife",
    "husband",
    "son",
    "daughter",
    "mother",
    "father",
    "sister",
    "brother",
    "friend",
    "spouse",
    "partner",
    "niece",
    "nephew",
    "aunt",
    "uncle",
    "grandson",
    "granddaughter",
    "cousin",
    "neighbor",
    "neighbour",
    "roommate",
    "fiance",
    "fiancee",
    "boyfriend",
    "girlfriend",
    "officer",
    "caregiver",
    "named",
    "dear",
    "stepson",
    "stepdaughter",
    "grandmother",
    "grandfather",
    "mom",
    "dad",
    "sibling",
    "companion",
    "landlord",
    "boss",
];

/// Verbs that, followed by "by", introduce the author of a note or an order.
pub(super) const AUTHORED: &[&str] = &[
    "ordered",
    "read",
    "seen",
    "dictated",
    "signed",
    "reviewed",
    "performed",
    "examined",
    "evaluated",
    "approved",
    "cosigned",
    "transcribed",
    "written",
    "entered",
    "authored",
    "interpreted",
    "verified",
    "attested",
    "prepared",
    "completed",
    "reported",
    "collected",
    "referred",
    "accompanied",
    "visited",
    "called",
    "paged",
    "covered",
    "staffed",
    "supervised",
];

/// Roles (and "referring") after which a capitalised word is taken as a name without
/// dictionary confirmation ("PCP Qorvath", "resident Oskarine van Zelvenka", "thank you for
/// referring Tjitske Vrzalova"), as after a title.
pub(super) const ROLES: &[&str] = &[
    "referring",
    "pcp",
    "attending",
    "resident",
    "intern",
    "fellow",
    "surgeon",
    "nurse",
    "rn",
    "np",
    "lpn",
    "cna",
    "midwife",
    "hospitalist",
    "cardiologist",
    "oncologist",
    "neurologist",
    "radiologist",
    "pathologist",
    "anesthesiologist",
    "internist",
    "pediatrician",
    "psychiatrist",
    "psychologist",
    "therapist",
    "pharmacist",
    "dietitian",
    "chaplain",
    "dentist",
    "podiatrist",
    "optometrist",
    "counselor",
    "scribe",
];

/// Verbs that, followed by "to", address a person ("Routed to Tjitske Brzęczyk").
pub(super) const ROUTED: &[&str] = &["routed", "rerouted", "forwarded", "delegated"];

/// Verbs of conversation after which "with" introduces a person ("Spoke with Tjitske Brzęczyk").
pub(super) const CONVERSE: &[&str] = &["spoke", "spoken", "speaking", "talked", "talking", "met"];

/// Words after which "with" introduces a household member ("discharged home with Tjitske",
/// "lives with Grzegorzina").
pub(super) const HOUSEHOLD: &[&str] = &[
    "home", "lives", "live", "living", "lived", "resides", "reside", "residing", "stays", "stay",
    "staying", "stayed",
];

/// Endings of common nouns and drug names: a capitalised word ending so is not taken as a
/// name on a role, routing or household cue alone ("PCP Consultation", "home with
/// Amoxicillin").
pub(super) const NOUN_ENDINGS: &[&str] = &[
    "tion",
    "sion",
    "ery",
    "iatry",
    "ment",
    "ness",
    "ology",
    "ologist",
    "ics",
    "ity",
    "ism",
    "cillin",
    "mycin",
    "floxacin",
    "cycline",
    "pril",
    "sartan",
    "olol",
    "statin",
    "azole",
    "tidine",
    "parin",
    "xaban",
    "gatran",
    "mab",
    "nib",
    "codone",
    "azepam",
    "zolam",
    "dipine",
    "oxetine",
    "isone",
    "olone",
    "amide",
    "formin",
    "gliptin",
    "gliflozin",
    "glutide",
    "lukast",
    "triptan",
    "profen",
    "oxin",
    "vir",
    "itis",
    "osis",
    "emia",
    "pathy",
    "etes",
    "algia",
];

/// Lower-case words that open a letter's closing line ("Sincerely,").
pub(super) const CLOSINGS: &[&str] = &[
    "sincerely",
    "regards",
    "thanks",
    "thank",
    "best",
    "respectfully",
    "cordially",
    "warmly",
    "yours",
];

/// First words of lines that may follow a signature ("Electronically signed", "NPI 123").
pub(super) const AFTER_SIGNATURE: &[&str] = &[
    "electronically",
    "signed",
    "dictated",
    "transcribed",
    "npi",
    "pager",
    "pgr",
    "cc",
    "date",
    "dept",
    "department",
    "phone",
    "tel",
    "d",
    "t",
];

/// Capitalised month names that are also family names ("Karen May").
pub(super) const MONTH_SURNAMES: &[&str] = &["May", "June", "April", "August"];

/// Lower-case particles inside names ("van der Berg", "da Silva").
pub(super) const PARTICLES: &[&str] = &[
    "van", "der", "den", "de", "da", "das", "do", "dos", "del", "della", "di", "du", "von", "la",
    "le", "y", "bin", "ibn", "al", "el", "ten", "ter", "st",
];

/// Credentials that follow a name.
pub(super) const CREDENTIALS: &[&str] = &[
    "md", "do", "rn", "np", "pa", "phd", "dds", "dmd", "cnm", "crna", "lpn", "licsw", "lcsw",
    "msw", "fnp", "anp", "pac", "mph", "facp", "facs", "pharmd", "od", "dpm", "dnp", "aprn", "bsn",
    "msn", "mba", "facc", "dc", "pt", "ot", "slp", "rd", "lmft", "pa-c", "m.d",
];

/// Endings of clinical words that may close a note on a line of their own ("Pneumonia",
/// "Asthma", "Ambulate", "Warfarin", "Improving"): such a line is not taken as a signature
/// without a dictionary name.
pub(super) const CLINICAL_ENDINGS: &[&str] = &[
    "ia", "ma", "ate", "arin", "irin", "ulin", "ol", "ide", "ine", "one", "ous", "ic", "ary",
    "ory", "ure", "ive", "ent", "ant", "al", "ance", "ence", "ed", "ing", "ly", "up", "ics", "ism",
];

/// Adjective and verb endings: the first of two words on such a line ("Chronic Gout",
/// "Worsening Edema"). Given names end in "-ine" or "-ia" too, so only these are checked
/// there.
pub(super) const MODIFIER_ENDINGS: &[&str] = &[
    "ed", "ing", "ly", "al", "ic", "ous", "ive", "ary", "ory", "ent", "ant",
];
