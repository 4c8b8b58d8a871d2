//! Person-name detection: a token pass using dictionaries of given and family names plus
//! context cues (titles, credentials, labels such as "Patient:", relations such as "wife").

use std::collections::HashSet;

/// Given names (lower case), one a line.
const GIVEN: &str = include_str!("../data/given.txt");
/// Family names (lower case), one a line.
const FAMILY: &str = include_str!("../data/family.txt");
/// Names that are also ordinary English words: accepted only with context.
const AMBIGUOUS: &str = include_str!("../data/ambiguous.txt");

/// Capitalised words that are never taken as names on their own.
const STOP: &str = "a an the this that these those he she his her hers him they them their we our us i it its you your my me \
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
const EPONYMS: &str = "foley doppler parkinson parkinsons alzheimer alzheimers crohn crohns hodgkin cushing addison bell graves hashimoto \
wilson raynaud babinski romberg murphy mcburney kernig brudzinski homan homans tinel phalen lachman apley \
trendelenburg glasgow apgar barrett bowen paget reiter sjogren tourette wernicke korsakoff whipple swan ganz \
hickman groshong holter bruce tanner gleason breslow clark mallampati nyha child pugh ranson wells duke levine \
gram giemsa wright coombs fowler valsalva heimlich kussmaul cheyne stokes chvostek trousseau rovsing psoas \
obturator mcmurray finkelstein spurling hoffman durkan allen epley dix hallpike weber rinne snellen schirmer";

/// Titles that precede a name.
const TITLES: &[&str] = &[
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
const LABELS: &[&str] = &[
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
const CUES: &[&str] = &[
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
const RELATIONS: &[&str] = &[
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
const AUTHORED: &[&str] = &[
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
const ROLES: &[&str] = &[
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
const ROUTED: &[&str] = &["routed", "rerouted", "forwarded", "delegated"];

/// Verbs of conversation after which "with" introduces a person ("Spoke with Tjitske Brzęczyk").
const CONVERSE: &[&str] = &["spoke", "spoken", "speaking", "talked", "talking", "met"];

/// Words after which "with" introduces a household member ("discharged home with Tjitske",
/// "lives with Grzegorzina").
const HOUSEHOLD: &[&str] = &[
    "home", "lives", "live", "living", "lived", "resides", "reside", "residing", "stays", "stay",
    "staying", "stayed",
];

/// Endings of common nouns and drug names: a capitalised word ending so is not taken as a
/// name on a role, routing or household cue alone ("PCP Consultation", "home with
/// Amoxicillin").
const NOUN_ENDINGS: &[&str] = &[
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
const CLOSINGS: &[&str] = &[
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
const AFTER_SIGNATURE: &[&str] = &[
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
const MONTH_SURNAMES: &[&str] = &["May", "June", "April", "August"];

/// Lower-case particles inside names ("van der Berg", "da Silva").
const PARTICLES: &[&str] = &[
    "van", "der", "den", "de", "da", "das", "do", "dos", "del", "della", "di", "du", "von", "la",
    "le", "y", "bin", "ibn", "al", "el", "ten", "ter", "st",
];

/// Credentials that follow a name.
const CREDENTIALS: &[&str] = &[
    "md", "do", "rn", "np", "pa", "phd", "dds", "dmd", "cnm", "crna", "lpn", "licsw", "lcsw",
    "msw", "fnp", "anp", "pac", "mph", "facp", "facs", "pharmd", "od", "dpm", "dnp", "aprn", "bsn",
    "msn", "mba", "facc", "dc", "pt", "ot", "slp", "rd", "lmft", "pa-c", "m.d",
];

/// The name dictionaries.
pub(crate) struct Names {
    given: HashSet<&'static str>,
    family: HashSet<&'static str>,
    ambiguous: HashSet<&'static str>,
    stop: HashSet<&'static str>,
    eponyms: HashSet<&'static str>,
    cue_words: std::collections::HashMap<&'static str, u16>,
}

#[derive(Clone, Copy)]
struct Tok {
    start: usize,
    end: usize,
    /// Title case ("Smith") or all capitals ("SMITH").
    cap: bool,
    /// One capital letter followed by a full stop ("J.").
    initial: bool,
}

fn lower<'a>(word: &str, buf: &'a mut [u8; 32]) -> Option<&'a str> {
    let mut n = 0;
    for c in word.chars() {
        let a = if c.is_ascii() {
            c.to_ascii_lowercase()
        } else {
            fold(c)?
        };
        *buf.get_mut(n)? = u8::try_from(a).ok()?;
        n += 1;
    }
    std::str::from_utf8(&buf[..n]).ok()
}

/// Folds an accented Latin letter to its ASCII base letter (lower case).
fn fold(c: char) -> Option<char> {
    let l = c.to_lowercase().next()?;
    Some(match l {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'ą' | 'ā' => 'a',
        'é' | 'è' | 'ê' | 'ë' | 'ę' | 'ē' | 'ė' => 'e',
        'í' | 'ì' | 'î' | 'ï' | 'ī' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'ō' | 'ő' => 'o',
        'ú' | 'ù' | 'û' | 'ü' | 'ū' | 'ű' => 'u',
        'ñ' | 'ń' => 'n',
        'ç' | 'ć' | 'č' => 'c',
        'ł' => 'l',
        'ś' | 'š' | 'ş' => 's',
        'ź' | 'ż' | 'ž' => 'z',
        'ý' | 'ÿ' => 'y',
        'ř' => 'r',
        'ğ' => 'g',
        'đ' | 'ď' => 'd',
        _ => return None,
    })
}

/// Whether a capitalised word looks like a common noun or a drug name rather than a name:
/// a noun or drug ending, or a compound with a lower-case part ("Follow-up").
fn noun_shaped(w: &str) -> bool {
    let mut buf = [0u8; 32];
    w.split('-')
        .skip(1)
        .any(|p| p.starts_with(|c: char| c.is_lowercase()))
        || lower(w, &mut buf).is_some_and(|l| NOUN_ENDINGS.iter().any(|e| l.ends_with(e)))
}

/// Endings of clinical words that may close a note on a line of their own ("Pneumonia",
/// "Asthma", "Ambulate", "Warfarin", "Improving"): such a line is not taken as a signature
/// without a dictionary name.
const CLINICAL_ENDINGS: &[&str] = &[
    "ia", "ma", "ate", "arin", "irin", "ulin", "ol", "ide", "ine", "one", "ous", "ic", "ary",
    "ory", "ure", "ive", "ent", "ant", "al", "ance", "ence", "ed", "ing", "ly", "up", "ics", "ism",
];

/// Adjective and verb endings: the first of two words on such a line ("Chronic Gout",
/// "Worsening Edema"). Given names end in "-ine" or "-ia" too, so only these are checked
/// there.
const MODIFIER_ENDINGS: &[&str] = &[
    "ed", "ing", "ly", "al", "ic", "ous", "ive", "ary", "ory", "ent", "ant",
];

/// Whether a word looks like a clinical term rather than a name: the last word of a
/// signature line against [`CLINICAL_ENDINGS`], a first word against [`MODIFIER_ENDINGS`].
fn clinical_shaped(w: &str, last: bool) -> bool {
    let mut buf = [0u8; 32];
    let endings = if last {
        CLINICAL_ENDINGS
    } else {
        MODIFIER_ENDINGS
    };
    noun_shaped(w) || lower(w, &mut buf).is_some_and(|l| endings.iter().any(|e| l.ends_with(e)))
}

/// Whether the line holding `start` is preceded by a blank line or a closing ("Sincerely,").
fn after_break(text: &str, start: usize) -> bool {
    let before = text[..start].trim_end_matches([' ', '\t']);
    let Some(rest) = before.strip_suffix('\n') else {
        return false;
    };
    let prev = rest.rsplit('\n').next().unwrap_or("").trim();
    if prev.is_empty() {
        return true;
    }
    let first: String = prev
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_lowercase();
    prev.ends_with(',') && CLOSINGS.contains(&first.as_str())
}

/// Whether the text after a line ending at `end` is empty or a signature's continuation
/// ("Electronically signed ...", "NPI ...").
fn ends_signature(text: &str, end: usize) -> bool {
    let rest = text[end..].trim_start();
    if rest.is_empty() {
        return true;
    }
    let first: String = rest
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_lowercase();
    AFTER_SIGNATURE.contains(&first.as_str())
}

fn is_cap(w: &str) -> bool {
    let mut chars = w.chars();
    match chars.next() {
        Some(c) if c.is_uppercase() => {
            let rest = chars.as_str();
            // "Smith", "McDonald", "O'Brien", "SMITH"; not "CT" or "BP" (two capitals).
            rest.chars().any(char::is_lowercase)
                || (rest.chars().count() >= 2 && !rest.chars().any(char::is_lowercase))
        }
        _ => false,
    }
}

impl Names {
    pub(crate) fn new() -> Names {
        let set = |s: &'static str| -> HashSet<&'static str> {
            s.split_ascii_whitespace()
                .filter(|w| !w.is_empty())
                .collect()
        };
        Names {
            given: set(GIVEN),
            family: set(FAMILY),
            ambiguous: set(AMBIGUOUS),
            stop: set(STOP),
            eponyms: set(EPONYMS),
            cue_words: {
                let mut m = std::collections::HashMap::new();
                for (list, bit) in [
                    (TITLES, 1u16),
                    (LABELS, 2),
                    (CUES, 4),
                    (RELATIONS, 8),
                    (CREDENTIALS, 16),
                    (AUTHORED, 32),
                    (ROLES, 64),
                    (ROUTED, 128),
                    (HOUSEHOLD, 256),
                    (CONVERSE, 512),
                ] {
                    for w in list {
                        *m.entry(*w).or_insert(0) |= bit;
                    }
                }
                m
            },
        }
    }

    fn tokens(text: &str) -> Vec<Tok> {
        let b = text.as_bytes();
        let mut out = Vec::new();
        let mut it = text.char_indices().peekable();
        while let Some((start, ch)) = it.next() {
            if !ch.is_alphabetic() {
                continue;
            }
            let mut end = start + ch.len_utf8();
            while let Some(&(j, c)) = it.peek() {
                if c.is_alphabetic() {
                    end = j + c.len_utf8();
                    it.next();
                } else if (c == '\'' || c == '-' || c == '\u{2019}')
                    && text[j + c.len_utf8()..]
                        .chars()
                        .next()
                        .is_some_and(char::is_alphabetic)
                {
                    it.next();
                } else {
                    break;
                }
            }
            // Words glued to digits ("x1234", "2mg") are not names.
            let glued = (start > 0 && b[start - 1].is_ascii_digit())
                || b.get(end).is_some_and(u8::is_ascii_digit);
            if glued {
                continue;
            }
            let w = &text[start..end];
            let mut chars = w.chars();
            let first = chars.next().unwrap_or(' ');
            let single = chars.next().is_none();
            // "J." or, between capitalised words, "J" ("Owen M Gallagher").
            let bare = b.get(end) == Some(&b' ')
                && b.get(end + 1).is_some_and(u8::is_ascii_uppercase)
                && start > 0
                && b[start - 1] == b' '
                && start > 1
                && b[start - 2].is_ascii_lowercase()
                && first != 'I'
                && first != 'A';
            let initial = single && first.is_uppercase() && (b.get(end) == Some(&b'.') || bare);
            out.push(Tok {
                start,
                end,
                cap: is_cap(w),
                initial,
            });
        }
        out
    }

    /// Appends the name spans found in `text` to `out` as byte ranges.
    pub(crate) fn find(&self, text: &str, out: &mut Vec<(usize, usize)>) {
        let toks = Self::tokens(text);
        let b = text.as_bytes();
        let mut buf = [0u8; 32];
        let word = |t: &Tok| &text[t.start..t.end];
        // Per-token classification.
        #[derive(Clone, Copy, Default)]
        struct Class {
            given: bool,
            family: bool,
            ambiguous: bool,
            stop: bool,
        }
        let classes: Vec<Class> = toks
            .iter()
            .map(|t| {
                if !t.cap && !t.initial {
                    // Lower-case words are still needed for cue checks, not as names.
                    return Class::default();
                }
                match lower(word(t), &mut buf) {
                    Some(l) if l.contains('-') => {
                        // "Reyes-Villalobos": a known part that is not an ordinary word.
                        let known = |p: &str| {
                            (self.given.contains(p) || self.family.contains(p))
                                && !self.ambiguous.contains(p)
                        };
                        let any = l.split('-').any(known);
                        Class {
                            given: false,
                            family: any,
                            ambiguous: false,
                            stop: false,
                        }
                    }
                    Some(l) => Class {
                        given: self.given.contains(l),
                        family: self.family.contains(l),
                        // Eponyms need context, like ordinary words.
                        ambiguous: self.ambiguous.contains(l) || self.eponyms.contains(l),
                        // A word with diacritics is no English stop word ("Hãs", "Çãn").
                        stop: word(t).is_ascii() && self.stop.contains(l),
                    },
                    None => Class::default(),
                }
            })
            .collect();
        let gap = |i: usize| -> &str {
            // The text between token i-1 and token i.
            let s = if i == 0 { 0 } else { toks[i - 1].end };
            &text[s..toks[i].start]
        };
        let same_line_space = |g: &str| -> bool {
            !g.contains('\n')
                && g.len() <= 3
                && g.bytes().all(|c| c == b' ' || c == b'.' || c == b'\t')
        };
        // Which cue lists each token belongs to (bits: 1 title, 2 label, 4 cue, 8 relation,
        // 16 credential, 32 authorship verb, 64 role, 128 routing verb, 256 household word, 512
        // conversation verb), one
        // hash lookup per token.
        let flags: Vec<u16> = toks
            .iter()
            .map(|t| {
                lower(word(t), &mut buf)
                    .and_then(|l| self.cue_words.get(l).copied())
                    .unwrap_or(0)
            })
            .collect();
        let has = |i: usize, bit: u16| flags.get(i).is_some_and(|f| f & bit != 0);
        // A single capital letter, a complete surname after a particle ("de la O").
        let letter = |i: usize| -> bool {
            let w = word(&toks[i]);
            w.len() == 1 && w != "I" && w != "A" && w.bytes().all(|c| c.is_ascii_uppercase())
        };
        let particle_word = |i: usize| PARTICLES.contains(&word(&toks[i]));
        let particle = |i: usize| -> bool {
            particle_word(i)
                && i + 1 < toks.len()
                && gap(i + 1) == " "
                && (toks[i + 1].cap
                    || letter(i + 1)
                    || (particle_word(i + 1)
                        && i + 2 < toks.len()
                        && gap(i + 2) == " "
                        && (toks[i + 2].cap || letter(i + 2))))
        };
        // An all-capital word next to an all-capital dictionary name ("QWYX SMITH").
        let caps_dict = |k: usize| -> bool {
            toks[k].cap
                && !word(&toks[k]).chars().any(char::is_lowercase)
                && (classes[k].given || classes[k].family)
                && !classes[k].stop
        };
        let caps_pair = |i: usize| -> bool {
            (i + 1 < toks.len() && gap(i + 1) == " " && caps_dict(i + 1))
                || (i > 0 && gap(i) == " " && caps_dict(i - 1))
        };
        let name_like = |i: usize| -> bool {
            let t = &toks[i];
            let w = &text[t.start..t.end];
            if t.initial {
                return true;
            }
            // Short all-capital words are acronyms (PCP, MRN) unless a dictionary knows them
            // or they stand next to an all-capital dictionary name ("QWYX SMITH").
            if t.cap && !classes[i].stop {
                let acronym = w.len() <= 4
                    && !w.chars().any(char::is_lowercase)
                    && !classes[i].given
                    && !classes[i].family;
                if !acronym || caps_pair(i) {
                    return true;
                }
            }
            particle(i) || (letter(i) && i > 0 && gap(i) == " " && particle_word(i - 1))
        };
        // An all-capital word of two or more letters that is no stop, cue or credential word
        // ("WA", "MU"): part of a name in an all-capital name line.
        let caps_word = |k: usize| -> bool {
            let w = word(&toks[k]);
            flags[k] == 0
                && w.chars().nth(1).is_some()
                && w.chars().all(char::is_uppercase)
                && !(w.is_ascii() && self.stop.contains(w.to_ascii_lowercase().as_str()))
        };
        // "M.D." is a credential, not two initials.
        let md = |k: usize| word(&toks[k]) == "M" && text[toks[k].end..].starts_with(".D");
        // A month name that is also a family name, after a given name ("Karen May").
        let month_surname = |i: usize| -> bool {
            i > 0
                && classes[i - 1].given
                && !classes[i - 1].ambiguous
                && gap(i) == " "
                && MONTH_SURNAMES.contains(&word(&toks[i]))
        };
        // Extends a name from token `i` over following name-like tokens on the same line.
        let extend = |i: usize, max: usize| -> usize {
            let mut j = i;
            while j + 1 < toks.len()
                && j + 1 - i < max
                && (name_like(j + 1) || month_surname(j + 1))
                && same_line_space(gap(j + 1))
                && (toks[j].initial || !gap(j + 1).contains('.'))
                && gap(j + 1) != "  "
            {
                j += 1;
            }
            j
        };
        let push = |from: usize, to: usize, out: &mut Vec<(usize, usize)>| {
            // Trim leading/trailing initials only if the span is just an initial.
            if from == to && toks[from].initial {
                return;
            }
            out.push((toks[from].start, toks[to].end));
        };
        let sentence_start = |i: usize| -> bool {
            if i > 0 && toks[i - 1].initial && toks[i - 1].end + 3 > toks[i].start {
                return false;
            }
            let s = toks[i].start;
            let before = b[..s]
                .iter()
                .rev()
                .find(|c| !matches!(c, b' ' | b'\t' | b'"' | b'(' | b'-' | b'*'));
            matches!(
                before,
                None | Some(b'\n' | b'.' | b'!' | b'?' | b':' | b';' | b'#')
            )
        };
        let mut i = 0;
        while i < toks.len() {
            let t = toks[i];
            let c = classes[i];
            let next_gap = if i + 1 < toks.len() { gap(i + 1) } else { "" };
            // 0. An initial before a known name: "J. Smith".
            if t.initial
                && i + 1 < toks.len()
                && same_line_space(next_gap)
                && toks[i + 1].cap
                && (classes[i + 1].given || classes[i + 1].family)
                && !classes[i + 1].stop
            {
                let j = extend(i + 1, 5);
                push(i, j, out);
                i = j + 1;
                continue;
            }
            // 0b. A relation: "his wife Mary", "officer Ize Baker".
            if i + 1 < toks.len()
                && has(i, 8)
                && toks[i + 1].cap
                && !classes[i + 1].stop
                && (next_gap == " " || next_gap == ", ")
            {
                let j = extend(i + 1, 5);
                push(i + 1, j, out);
                i = j + 1;
                continue;
            }
            // 0c. A line of only name-like words, one of them a known name (signatures).
            if (i == 0 || gap(i).contains('\n')) && name_like(i) {
                let j = extend(i, 5);
                let line_ends = j + 1 >= toks.len() || gap(j + 1).contains('\n');
                let tail = &text[toks[j].end..];
                let tail_ok = tail.starts_with('\n')
                    || tail.is_empty()
                    || tail.starts_with(",\n")
                    || tail.starts_with(".\n");
                let known =
                    (i..=j).any(|k| (classes[k].given || classes[k].family) && !classes[k].stop);
                // Without a dictionary name: one or two title-case words alone on a line after
                // a blank line or a closing, at the end of the note or before "Electronically
                // signed", "NPI" and the like.
                let plain = |k: usize, last: bool| {
                    let w = word(&toks[k]);
                    toks[k].cap
                        && !classes[k].stop
                        && !classes[k].ambiguous
                        && flags[k] == 0
                        && w.chars().any(char::is_lowercase)
                        && !clinical_shaped(w, last)
                };
                // Inner words may be initials or particles ("Haiez D. Szuklaike", "Graova da
                // Prãini").
                let signature = || {
                    j - i < 3
                        && plain(i, i == j)
                        && plain(j, true)
                        && (i + 1..j).all(|k| toks[k].initial || particle(k) || plain(k, false))
                        && after_break(text, t.start)
                        && ends_signature(text, toks[j].end)
                };
                if line_ends && tail_ok && (known || signature()) {
                    push(i, j, out);
                    i = j + 1;
                    continue;
                }
            }
            // 0d. A name before a relation in parentheses: "Wessel (roommate)".
            if t.cap && name_like(i) {
                let j = extend(i, 5);
                let tail = &text[toks[j].end..];
                if let Some(rest) = tail.strip_prefix(" (").or_else(|| tail.strip_prefix(", ")) {
                    let word: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphabetic())
                        .collect();
                    if !word.is_empty()
                        && RELATIONS.iter().any(|r| word.eq_ignore_ascii_case(r))
                        && !classes[i].stop
                    {
                        push(i, j, out);
                        i = j + 1;
                        continue;
                    }
                }
            }
            // 0e. "Ordered by I. Wosiak", "Read by: ...": a verb of authorship, then "by".
            if i >= 1
                && i + 1 < toks.len()
                && text[t.start..t.end].eq_ignore_ascii_case("by")
                && has(i - 1, 32)
                && name_like(i + 1)
                && !has(i + 1, 1)
                && same_line_space(next_gap.trim_start_matches(':'))
            {
                let j = extend(i + 1, 5);
                push(i + 1, j, out);
                i = j + 1;
                continue;
            }
            // 0f. Strong cues take a capitalised word without dictionary confirmation: a role
            // ("PCP Qorvath", "resident Oskarine van Zelvenka"), a routing verb and "to"
            // ("Routed to Tjitske Brzęczyk"), a household word and "with" ("discharged home with
            // Tjitske", "lives with Grzegorzina").
            let lw = word(&t);
            let household = i >= 1 && has(i - 1, 256) && lw == "with";
            let strong = has(i, 64)
                || (i >= 1 && has(i - 1, 128) && lw.eq_ignore_ascii_case("to"))
                || (i >= 1 && has(i - 1, 512) && lw == "with")
                || household;
            if strong
                && i + 1 < toks.len()
                && next_gap == " "
                && toks[i + 1].cap
                && !classes[i + 1].stop
                && name_like(i + 1)
                && !has(i + 1, 1 | 8 | 16 | 64)
                && !noun_shaped(word(&toks[i + 1]))
            {
                let j = extend(i + 1, 5);
                let w = word(&toks[j]);
                let verbish = w.ends_with("ed") || w.ends_with("ing") || w.ends_with("ly");
                // After "with", the person ends the clause ("home with Tjitske.", "lives with
                // Ana and her son"); a drug or a condition goes on ("home with Keflex 500 mg",
                // "Lovenox bridge", "lives with Parkinson disease").
                let after = text[toks[j].end..].trim_start_matches([' ', '\t']);
                let clause_end = after.is_empty()
                    || after.starts_with(['.', ',', ';', '(', ')', '\n', '\r', '!', '?'])
                    || ["and ", "who ", "at ", "in ", "on "]
                        .iter()
                        .any(|w| after.starts_with(w));
                // A capitalised noun after it makes a unit's name ("Front Desk", "Triage Pool").
                let unit = j + 1 < toks.len()
                    && gap(j + 1) == " "
                    && toks[j + 1].cap
                    && classes[j + 1].stop;
                if !verbish && !unit && (!household || clause_end) {
                    push(i + 1, j, out);
                    i = j + 1;
                    continue;
                }
            }
            // 1. Titles: "Dr. Smith", "Mrs. Jane Doe".
            if has(i, 1) && i + 1 < toks.len() && name_like(i + 1) && same_line_space(next_gap) {
                let j = extend(i + 1, 5);
                push(i + 1, j, out);
                i = j + 1;
                continue;
            }
            // 2b. After "Name:", all-capital words to the end of the line ("Patient Name:
            // ÇOUGRÃÇIX WA"), short ones included.
            if i + 2 < toks.len()
                && lw.eq_ignore_ascii_case("name")
                && next_gap.trim_start().starts_with(':')
                && !next_gap.contains('\n')
                && caps_word(i + 1)
                && gap(i + 2) == " "
                && caps_word(i + 2)
            {
                let mut j = i + 2;
                while j + 1 < toks.len()
                    && j - i < 4
                    && same_line_space(gap(j + 1))
                    && (caps_word(j + 1) || toks[j + 1].initial)
                {
                    j += 1;
                }
                push(i + 1, j, out);
                i = j + 1;
                continue;
            }
            // 2. Labels with a colon: "Patient: Jane Doe", "Attending: Doe, Jane".
            if has(i, 2)
                && next_gap.trim_start().starts_with(':')
                && !next_gap.contains('\n')
                && i + 1 < toks.len()
                && name_like(i + 1)
            {
                {
                    let mut j = extend(i + 1, 5);
                    // "Doe, Jane A."
                    if j + 1 < toks.len()
                        && gap(j + 1) == ", "
                        && name_like(j + 1)
                        && !toks[j + 1].initial
                        && !has(j + 1, 16)
                    {
                        j = extend(j + 1, 5);
                    }
                    push(i + 1, j, out);
                    i = j + 1;
                    continue;
                }
            }
            // 3b. A signature line of two or more all-capital words, short ones included, before
            // a comma and a credential ("BØ VØSHÃSEN, MD", "JICHIPREM MITZ, M.D.").
            if (i == 0 || gap(i).contains('\n')) && caps_word(i) {
                let mut j = i;
                while j + 1 < toks.len()
                    && j - i < 3
                    && same_line_space(gap(j + 1))
                    && (caps_word(j + 1) || (toks[j + 1].initial && !md(j + 1)))
                {
                    j += 1;
                }
                // Only credentials follow on the line ("ECG RBBB, MD aware" is no signature).
                let credential = j + 1 < toks.len()
                    && (gap(j + 1) == ", " || gap(j + 1) == ",")
                    && (has(j + 1, 16) || md(j + 1))
                    && text[toks[j + 1].end..]
                        .split('\n')
                        .next()
                        .unwrap_or("")
                        .split(|c: char| !c.is_alphabetic())
                        .all(|w| {
                            w.is_empty()
                                || w == "D"
                                || w == "C"
                                || CREDENTIALS.iter().any(|c| w.eq_ignore_ascii_case(c))
                        });
                // Not a run of acronyms ("BMP CBC"): a long word or a letter beyond ASCII.
                let long = (i..=j).any(|k| {
                    let w = word(&toks[k]);
                    w.len() >= 5 || !w.is_ascii()
                });
                if j > i && credential && long {
                    push(i, j, out);
                    i = j + 2;
                    continue;
                }
            }
            if (t.cap || t.initial) && name_like(i) {
                // 3. Credentials after a name: "Jane Doe, MD", "JANE DOE RN".
                // A short lower-case word between capitalised words belongs to the name when
                // a credential follows ("Maren zu Quernheim, MD").
                let connector = |k: usize| -> bool {
                    let w = word(&toks[k]);
                    !toks[k].cap
                        && w.len() <= 4
                        && k + 1 < toks.len()
                        && toks[k + 1].cap
                        && gap(k) == " "
                        && gap(k + 1) == " "
                        && flags[k] == 0
                        && !has(k + 1, 16)
                        && w.bytes().all(|c| c.is_ascii_lowercase())
                        && name_like(k + 1)
                        && !self.stop.contains(w)
                };
                let mut j = i;
                while j + 1 < toks.len()
                    && j - i < 3
                    && (name_like(j + 1) || connector(j + 1))
                    && same_line_space(gap(j + 1))
                    && !has(j + 1, 16)
                    && !md(j + 1)
                {
                    j += 1;
                }
                if j + 1 < toks.len() {
                    let g = gap(j + 1);
                    let cred = &toks[j + 1];
                    let w = &text[cred.start..cred.end];
                    let upper_cred = w.bytes().next().is_some_and(|c| c.is_ascii_uppercase());
                    if upper_cred
                        && has(j + 1, 16)
                        && !g.contains('\n')
                        && (g == ", "
                            || g == ","
                            || (g == " " && (w == "MD" || w == "RN" || w == "NP")))
                    {
                        push(i, j, out);
                        i = j + 2;
                        continue;
                    }
                    if (w == "M" || w == "m")
                        && text[cred.end..].starts_with(".D")
                        && (g == ", " || g == " ")
                    {
                        push(i, j, out);
                        i = j + 2;
                        continue;
                    }
                }
                // 4. Dictionary: a given name (possibly followed by initials and a surname).
                let strong_given = c.given && !c.ambiguous;
                let strong_family = c.family && !c.ambiguous;
                let next_name = i + 1 < toks.len()
                    && (name_like(i + 1) || month_surname(i + 1))
                    && same_line_space(next_gap);
                let next_dict = next_name
                    && (classes[i + 1].family || classes[i + 1].given)
                    && !classes[i + 1].stop;
                if (c.given || c.family) && next_dict && !(c.ambiguous && classes[i + 1].ambiguous)
                {
                    let j = extend(i, 5);
                    push(i, j, out);
                    i = j + 1;
                    continue;
                }
                if strong_given {
                    let j = if next_name { extend(i, 5) } else { i };
                    push(i, j, out);
                    i = j + 1;
                    continue;
                }
                // "Doe, Jane"
                if (next_gap == ", " || next_gap == ",")
                    && i + 1 < toks.len()
                    && toks[i + 1].cap
                    && !classes[i + 1].stop
                    && (classes[i + 1].given && (c.family || c.given || next_gap == ","))
                {
                    let j = extend(i + 1, 5);
                    push(i, j, out);
                    i = j + 1;
                    continue;
                }
                if strong_family && (!sentence_start(i) || next_name) {
                    // An unknown given name just before it belongs to the name ("DUUK SMITH").
                    let from = if i > 0
                        && toks[i - 1].cap
                        && name_like(i - 1)
                        && same_line_space(gap(i))
                        && !gap(i).contains('.')
                    {
                        i - 1
                    } else {
                        i
                    };
                    push(from, i, out);
                    i += 1;
                    continue;
                }
                // 5. Weak cue words: "his wife Mary", "seen with Smith".
                let next_known = i + 1 < toks.len()
                    && name_like(i + 1)
                    && same_line_space(next_gap)
                    && (classes[i + 1].given || classes[i + 1].family);
                if i > 0
                    && (c.given || c.family || next_known)
                    && has(i - 1, 4)
                    && same_line_space(gap(i))
                {
                    let j = extend(i, 5);
                    push(i, j, out);
                    i = j + 1;
                    continue;
                }
            }
            i += 1;
        }
    }
}
