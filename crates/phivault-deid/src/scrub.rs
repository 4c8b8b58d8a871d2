//! The free-text scrubber: one multi-pattern automaton pass for shaped identifiers and
//! context cues, one token pass for names, then overlapping detections are merged and
//! replaced by typed placeholders or consistent surrogates.

use hmac::{Hmac, KeyInit, Mac};
use regex_automata::meta;
use sha2::Sha256;

use crate::category::Category;
use crate::error::DeidError;
use crate::names::Names;
use crate::patterns::{Pattern, Post, patterns};

/// One detected identifier: a byte range of the input and its category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    /// Start byte offset (inclusive).
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
    /// What it is.
    pub category: Category,
}

/// What replaces a detected identifier.
#[derive(Clone, Default)]
pub enum Replacement {
    /// A typed placeholder such as `[NAME]` or `[DATE]`.
    #[default]
    Placeholder,
    /// A realistic surrogate chosen by a keyed hash of the original value, so the same value
    /// always gets the same surrogate under the same key (and different keys give unrelated
    /// surrogates). Surrogates keep the shape of numbers (digits stay digits).
    Surrogate {
        /// The surrogate key (32 bytes, e.g. derived from the vault's pseudonym key).
        key: [u8; 32],
    },
}

impl std::fmt::Debug for Replacement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Replacement::Placeholder => f.write_str("Placeholder"),
            Replacement::Surrogate { .. } => f.write_str("Surrogate([REDACTED])"),
        }
    }
}

/// Scrubber settings.
#[derive(Debug, Clone)]
pub struct ScrubOptions {
    /// How detections are replaced.
    pub replacement: Replacement,
    /// Keep bare years ("2019"), which Safe Harbor permits unless they reveal an age over
    /// 89. Off by default: text rarely says which years are safe.
    pub keep_years: bool,
    /// Keep state names, which Safe Harbor permits. Off by default.
    pub keep_states: bool,
}

impl Default for ScrubOptions {
    fn default() -> Self {
        ScrubOptions {
            replacement: Replacement::Placeholder,
            keep_years: false,
            keep_states: false,
        }
    }
}

/// A compiled scrubber. Build once (tens of milliseconds) and share: it is `Send + Sync`
/// and every method takes `&self`.
pub struct Scrubber {
    re: meta::Regex,
    cue: Vec<Option<regex::Regex>>,
    pats: Vec<Pattern>,
    names: Names,
    options: ScrubOptions,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrubber")
            .field("patterns", &self.pats.len())
            .field("options", &self.options)
            .finish()
    }
}

const UNITS: &[&str] = &[
    "mg", "mcg", "g", "kg", "ml", "cc", "l", "units", "unit", "u", "kcal", "calories", "cal",
    "meq", "mmol", "iu", "lbs", "lb", "mm", "cm", "ms", "mosm", "ng", "pg",
];
/// Capitalised words after "admitted to" and the like that name a unit, not a place.
const DEPARTMENTS: &[&str] = &[
    "medicine",
    "cardiology",
    "surgery",
    "neurology",
    "oncology",
    "rehab",
    "rehabilitation",
    "radiology",
    "psychiatry",
    "pediatrics",
    "orthopedics",
    "urology",
    "nephrology",
    "the",
    "hospital",
    "clinic",
    "emergency",
    "intensive",
    "internal",
    "general",
    "floor",
    "ward",
    "unit",
    "home",
    "nursing",
    "hospice",
    "service",
    "team",
    "triage",
    "labor",
    "delivery",
    "obstetrics",
    "gynecology",
    "dermatology",
    "gastroenterology",
    "pulmonary",
    "pulmonology",
    "endocrinology",
    "rheumatology",
    "hematology",
    "infectious",
    "physical",
    "occupational",
    "speech",
    "social",
    "case",
    "this",
    "our",
    "his",
    "her",
    "their",
    "an",
    "a",
    "dr",
    "doctor",
    "mr",
    "mrs",
    "ms",
    "outside",
    "another",
    "same",
    "step",
    "stepdown",
    "telemetry",
    "observation",
    "cath",
    "catheterization",
    "interventional",
    "vascular",
    "thoracic",
    "cardiothoracic",
    "neurosurgery",
    "trauma",
    "burn",
    "transplant",
    "hepatology",
    "ent",
    "ophthalmology",
    "anesthesia",
    "pain",
    "palliative",
    "geriatrics",
    "primary",
    "urgent",
    "critical",
    "acute",
    "long",
    "skilled",
    "assisted",
    "inpatient",
    "outpatient",
    "day",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "today",
    "yesterday",
    "tomorrow",
    "morning",
    "evening",
    "night",
];
const SCORE_WORDS: &[&str] = &[
    "pain",
    "score",
    "strength",
    "scale",
    "rated",
    "power",
    "murmur",
    "grade",
    "moca",
    "mmse",
    "gcs",
    "apgar",
    "tab",
    "tabs",
    "tablet",
    "tablets",
    "cup",
    "of",
    "x",
    "times",
    "reflexes",
    "pulses",
    "motor",
    "sensation",
    "ratio",
    "dose",
    "doses",
    "strength",
    "bp",
    "vision",
];
const DATE_CUES: &[&str] = &[
    "on",
    "since",
    "from",
    "until",
    "till",
    "through",
    "thru",
    "to",
    "by",
    "dated",
    "date",
    "before",
    "after",
    "starting",
    "started",
    "effective",
    "dos",
    "last",
    "next",
    "and",
    "admitted",
    "discharged",
    "seen",
    "visit",
    "surgery",
    "performed",
    "done",
    "drawn",
    "encounter",
    "note",
    "collected",
    "received",
    "obtained",
    "resulted",
    "reported",
    "called",
    "dictated",
    "signed",
    "updated",
    "dob",
    "born",
];

/// Words before a month name that make it a date ("in May", "since Aug", "late May").
const MONTH_CUES: &[&str] = &[
    "in",
    "on",
    "since",
    "until",
    "till",
    "during",
    "by",
    "early",
    "late",
    "mid",
    "last",
    "next",
    "this",
    "before",
    "after",
    "through",
    "from",
    "around",
    "about",
    "circa",
    "throughout",
    "of",
    "and",
    "or",
    "to",
];

impl Scrubber {
    /// Compiles the scrubber with default options.
    pub fn new() -> Result<Scrubber, DeidError> {
        Scrubber::with_options(ScrubOptions::default())
    }

    /// Compiles the scrubber.
    pub fn with_options(options: ScrubOptions) -> Result<Scrubber, DeidError> {
        let pats = patterns();
        let sources: Vec<&str> = pats.iter().map(|p| p.regex.as_str()).collect();
        let re = meta::Builder::new()
            .configure(
                meta::Config::new()
                    .match_kind(regex_automata::MatchKind::LeftmostFirst)
                    .hybrid_cache_capacity(64 << 20),
            )
            .syntax(
                regex_automata::util::syntax::Config::new()
                    .unicode(false)
                    .utf8(false),
            )
            .build_many(&sources)
            .map_err(|e| DeidError::Pattern(e.to_string()))?;
        let mut cue = Vec::with_capacity(pats.len());
        for p in &pats {
            cue.push(if matches!(p.post, Post::Cue | Post::Place) {
                Some(
                    regex::RegexBuilder::new(&p.regex)
                        .unicode(false)
                        .build()
                        .map_err(|e| DeidError::Pattern(e.to_string()))?,
                )
            } else {
                None
            });
        }
        Ok(Scrubber {
            re,
            cue,
            pats,
            names: Names::new(),
            options,
        })
    }

    /// The options this scrubber was built with.
    pub fn options(&self) -> &ScrubOptions {
        &self.options
    }

    /// Finds identifiers: non-overlapping, sorted by start. Overlapping candidates are
    /// merged into their union, labelled with the longest candidate's category.
    pub fn detect(&self, text: &str) -> Vec<Detection> {
        let mut raw: Vec<Detection> = Vec::new();
        let bytes = text.as_bytes();
        let mut pos = 0;
        while pos < bytes.len() {
            let input = regex_automata::Input::new(bytes).range(pos..);
            let Some(m) = self.re.search(&input) else {
                break;
            };
            let pid = m.pattern().as_usize();
            let found = self.pats.get(pid).and_then(|p| {
                // Byte-level patterns may start or end inside a multi-byte character.
                if !text.is_char_boundary(m.start()) || !text.is_char_boundary(m.end()) {
                    return None;
                }
                self.post(text, p, pid, m.start(), m.end())
            });
            match found {
                Some(d) => {
                    // After a cue ("MRN: 123"), resume at the value's end; otherwise at the
                    // match's end.
                    // After a cue ("MRN: 123"), resume at the value so shape patterns still
                    // see it (duplicates merge); otherwise after the match.
                    pos = if d.start > m.start() {
                        d.start
                    } else {
                        m.end().max(m.start() + 1)
                    };
                    raw.push(d);
                }
                None => {
                    // A rejected candidate must not hide others inside it: resume one
                    // character later.
                    let mut next = m.start() + 1;
                    while next < bytes.len() && !text.is_char_boundary(next) {
                        next += 1;
                    }
                    pos = next;
                }
            }
        }
        let mut names = Vec::new();
        self.names.find(text, &mut names);
        raw.extend(names.into_iter().map(|(start, end)| Detection {
            start,
            end,
            category: Category::Name,
        }));
        merge(raw)
    }

    fn post(&self, text: &str, p: &Pattern, pid: usize, s: usize, e: usize) -> Option<Detection> {
        let b = text.as_bytes();
        let m = &text[s..e];
        let det = |start: usize, end: usize, category: Category| {
            Some(Detection {
                start,
                end,
                category,
            })
        };
        match p.post {
            Post::Whole => {
                if p.category == Category::State && self.options.keep_states {
                    return None;
                }
                if p.category == Category::Age {
                    // The number only: "[AGE>89]-year-old".
                    let digits = m.bytes().take_while(u8::is_ascii_digit).count();
                    return det(s, s + digits, Category::Age);
                }
                det(s, e, p.category)
            }
            Post::Cue => {
                let re = self.cue.get(pid)?.as_ref()?;
                let caps = re.captures(m)?;
                let v = caps.name("v")?;
                let alnum = v.as_str().bytes().filter(u8::is_ascii_alphanumeric).count();
                if p.category != Category::Age && p.category != Category::City && alnum < 3 {
                    return None;
                }
                if p.category == Category::City && crate::record::is_state(v.as_str()) {
                    if self.options.keep_states {
                        return None;
                    }
                    return det(s + v.start(), s + v.end(), Category::State);
                }
                det(s + v.start(), s + v.end(), p.category)
            }
            Post::NumericDate => {
                let parts: Vec<u32> = m
                    .split(['/', '-', '.'])
                    .map(|x| x.parse().unwrap_or(99))
                    .collect();
                let (a, bb) = (*parts.first()?, *parts.get(1)?);
                let ok = (1..=12).contains(&a) && (1..=31).contains(&bb)
                    || (1..=31).contains(&a) && (1..=12).contains(&bb);
                ok.then_some(())?;
                det(s, e, Category::Date)
            }
            Post::MonthDay => {
                // Not part of a longer fraction or ratio ("1/2/3", "120/80/3").
                if s > 0 && matches!(b[s - 1], b'/' | b'.') || b.get(e) == Some(&b'/') {
                    return None;
                }
                let prev = prev_word(text, s);
                let next = next_word(text, e);
                let score = |w: &str| SCORE_WORDS.iter().any(|c| w.eq_ignore_ascii_case(c));
                if score(prev) || score(next) {
                    return None;
                }
                let cue = DATE_CUES.iter().any(|c| prev.eq_ignore_ascii_case(c));
                let before = text[..s].trim_end_matches([' ', '\t']);
                let line_start = s == 0 || before.ends_with('\n') || before.ends_with(':');
                // A heading's date: after a word, at the end of the line or before a colon
                // ("Telephone encounter 9/2", "Nursing note 4/6: ...").
                let after = text[e..].trim_start_matches([' ', '\t']);
                let heading = !prev.is_empty()
                    && prev.bytes().all(|c| c.is_ascii_alphabetic())
                    && (after.is_empty() || after.starts_with(['\n', '\r', ':']));
                let second = m.split('/').nth(1).unwrap_or("");
                let n: u32 = second.parse().unwrap_or(0);
                // "3/80", "8/1979": month and year.
                let month_year = second.len() == 4 || (second.len() == 2 && n > 31);
                if !month_year && n > 31 {
                    return None;
                }
                (month_year || cue || line_start || heading || (n > 10 && n != 30)).then_some(())?;
                det(s, e, Category::Date)
            }
            Post::Capitalised => {
                m.bytes().next().filter(u8::is_ascii_uppercase)?;
                det(s, e, Category::Date)
            }
            Post::MonthAlone => {
                let mut prev = prev_word(text, s);
                if prev.is_empty() && text[..s].ends_with('-') {
                    // "mid-May"
                    prev = prev_word(text, s - 1);
                }
                MONTH_CUES
                    .iter()
                    .any(|c| prev.eq_ignore_ascii_case(c))
                    .then_some(())?;
                det(s, e, Category::Date)
            }
            Post::Year => {
                if self.options.keep_years {
                    return None;
                }
                let next = next_word(text, e);
                if UNITS.iter().any(|u| next.eq_ignore_ascii_case(u)) {
                    return None;
                }
                // Not a decimal or a range of quantities ("2000.5", "1900-2000 mL" keeps its unit check).
                if b.get(e) == Some(&b'.') && b.get(e + 1).is_some_and(u8::is_ascii_digit) {
                    return None;
                }
                det(s, e, Category::Date)
            }
            Post::Ipv4 => {
                m.split('.')
                    .all(|o| o.parse::<u16>().is_ok_and(|n| n <= 255))
                    .then_some(())?;
                // A version number or a dotted date in a list is not an IP if it has no octet > 31
                // and sits after "version" or "v"; keep it simple: accept.
                det(s, e, Category::Ip)
            }
            Post::Phone => {
                let from = s.saturating_sub(30);
                let mut from = from;
                while !text.is_char_boundary(from) {
                    from += 1;
                }
                let before = text[from..s].to_ascii_lowercase();
                let fax = before.contains("fax") || before.contains("facsimile");
                det(s, e, if fax { Category::Fax } else { Category::Phone })
            }
            Post::Code => {
                let digits = m.bytes().filter(u8::is_ascii_digit).count();
                let letters = m.bytes().filter(u8::is_ascii_alphabetic).count();
                (letters > 0 && digits >= 3 || letters == 0 && digits >= 7).then_some(())?;
                det(s, e, p.category)
            }
            Post::Vin => {
                let digits = m.bytes().filter(u8::is_ascii_digit).count();
                (digits > 0 && digits < 17).then_some(())?;
                det(s, e, Category::Vehicle)
            }
            Post::Url => {
                let t = m.trim_end_matches(['.', ',', ';', ':', '!', '?']);
                det(s, s + t.len(), Category::Url)
            }
            Post::Facility => {
                let mut start = s;
                for w in m.split(' ') {
                    let lw = w.to_ascii_lowercase();
                    if matches!(
                        lw.as_str(),
                        "the"
                            | "a"
                            | "an"
                            | "this"
                            | "our"
                            | "his"
                            | "her"
                            | "their"
                            | "to"
                            | "at"
                            | "from"
                            | "in"
                            | "of"
                            | "and"
                            | "&"
                            | "per"
                            | "your"
                            | "general"
                            | "community"
                            | "medical"
                            | "regional"
                    ) && start + w.len() < e
                    {
                        // Leading function words and bare generic words are not a name.
                        if lw == "general"
                            || lw == "community"
                            || lw == "medical"
                            || lw == "regional"
                        {
                            break;
                        }
                        start += w.len() + 1;
                    } else {
                        break;
                    }
                }
                let rest = &text[start..e];
                // Something must precede the generic noun ("Mercy Hospital", not "Hospital").
                rest.contains(' ').then_some(())?;
                let first = rest.split(' ').next().unwrap_or("");
                let generic = [
                    "General",
                    "Community",
                    "Medical",
                    "Regional",
                    "Memorial",
                    "County",
                    "State",
                    "University",
                    "Children's",
                    "Veterans",
                ];
                let words = rest.split_whitespace().count();
                if words == 2 && generic.contains(&first) {
                    return None;
                }
                det(start, e, Category::Facility)
            }
            Post::Place => {
                let re = self.cue.get(pid)?.as_ref()?;
                let caps = re.captures(m)?;
                let v = caps.name("v")?;
                let first = v.as_str().split_whitespace().next().unwrap_or("");
                let acronym = first.len() <= 4 && !first.bytes().any(|c| c.is_ascii_lowercase());
                let dept = DEPARTMENTS.iter().any(|d| first.eq_ignore_ascii_case(d));
                if acronym || dept || DATE_CUES.iter().any(|d| first.eq_ignore_ascii_case(d)) {
                    return None;
                }
                let end = s + v.end();
                let value = &text[s + v.start()..end];
                let city = crate::patterns::CITIES.split('|').any(|c| c == value);
                det(
                    s + v.start(),
                    end,
                    if city {
                        Category::City
                    } else {
                        Category::Facility
                    },
                )
            }
            Post::CityState => {
                let has_zip = m.bytes().last().is_some_and(|c| c.is_ascii_digit());
                if !has_zip {
                    let code = m.rsplit([',', ' ']).next().unwrap_or("");
                    // Codes that are also clinical abbreviations need a ZIP to count.
                    if matches!(
                        code,
                        "MD" | "PA"
                            | "DO"
                            | "OR"
                            | "IN"
                            | "ME"
                            | "OK"
                            | "HI"
                            | "ID"
                            | "DE"
                            | "ND"
                            | "NE"
                            | "SC"
                            | "MS"
                            | "CT"
                            | "MA"
                            | "AL"
                            | "LA"
                            | "MO"
                            | "NC"
                            | "NJ"
                    ) {
                        return None;
                    }
                }
                det(s, e, Category::City)
            }
        }
    }

    /// Scrubs `text`, replacing every detection.
    pub fn scrub(&self, text: &str) -> String {
        let dets = self.detect(text);
        self.apply(text, &dets)
    }

    /// Replaces the given detections (as returned by [`Scrubber::detect`]) in `text`.
    pub fn apply(&self, text: &str, dets: &[Detection]) -> String {
        let mut out = String::with_capacity(text.len() + dets.len() * 4);
        let mut last = 0;
        for d in dets {
            if d.start < last
                || d.end > text.len()
                || !text.is_char_boundary(d.start)
                || !text.is_char_boundary(d.end)
            {
                continue;
            }
            out.push_str(&text[last..d.start]);
            match &self.options.replacement {
                Replacement::Placeholder => out.push_str(d.category.placeholder()),
                Replacement::Surrogate { key } => {
                    surrogate(key, d.category, &text[d.start..d.end], &mut out);
                }
            }
            last = d.end;
        }
        out.push_str(&text[last..]);
        out
    }

    /// A streaming scrubber over this one, for inputs too large to hold at once.
    pub fn stream(&self) -> StreamScrubber<'_> {
        StreamScrubber {
            scrubber: self,
            pending: String::new(),
        }
    }
}

fn prev_word(text: &str, s: usize) -> &str {
    let t = text[..s].trim_end_matches([' ', '\t', ':', '(', ',']);
    let start = t
        .char_indices()
        .rev()
        .find(|(_, c)| !c.is_ascii_alphanumeric())
        .map_or(0, |(i, c)| i + c.len_utf8());
    &t[start..]
}

fn next_word(text: &str, e: usize) -> &str {
    let t = text[e..].trim_start_matches([' ', '\t']);
    let end = t
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(t.len());
    &t[..end]
}

/// Sorts and merges overlapping detections into their union.
fn merge(mut raw: Vec<Detection>) -> Vec<Detection> {
    raw.sort_by_key(|d| (d.start, std::cmp::Reverse(d.end)));
    let mut out: Vec<Detection> = Vec::with_capacity(raw.len());
    let mut best_len = 0;
    for d in raw {
        if d.end <= d.start {
            continue;
        }
        match out.last_mut() {
            Some(last) if d.start < last.end => {
                if d.end - d.start > best_len {
                    best_len = d.end - d.start;
                    last.category = d.category;
                }
                last.end = last.end.max(d.end);
            }
            _ => {
                best_len = d.end - d.start;
                out.push(d);
            }
        }
    }
    out
}

const SURROGATE_GIVEN: &[&str] = &[
    "Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Parker",
    "Reese", "Rowan", "Sage", "Emerson", "Finley", "Harper",
];
const SURROGATE_FAMILY: &[&str] = &[
    "Ashdown",
    "Brierley",
    "Calloway",
    "Dunmore",
    "Ellery",
    "Fairbanks",
    "Galloway",
    "Hartwell",
    "Ingram",
    "Jessup",
    "Kingsley",
    "Lockhart",
    "Merriman",
    "Northcott",
    "Oakley",
    "Pemberton",
];
const SURROGATE_CITY: &[&str] = &[
    "Eastbrook",
    "Westfield Falls",
    "Millbrook",
    "Cedar Hollow",
    "Ridgeview",
    "Lakemont",
];
const SURROGATE_STREET: &[&str] = &[
    "Maple Avenue",
    "Oak Street",
    "Birch Lane",
    "Cedar Road",
    "Elm Court",
    "Pine Drive",
];

fn surrogate(key: &[u8; 32], category: Category, value: &str, out: &mut String) {
    let mut h = [0u8; 32];
    if let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        mac.update(category.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(value.trim().to_ascii_lowercase().as_bytes());
        h.copy_from_slice(&mac.finalize().into_bytes());
    }
    let pick = |list: &[&'static str], i: usize| list[usize::from(h[i]) % list.len()];
    match category {
        Category::Name => {
            if value.contains(' ') || value.contains(',') {
                out.push_str(pick(SURROGATE_GIVEN, 0));
                out.push(' ');
            }
            out.push_str(pick(SURROGATE_FAMILY, 1));
        }
        Category::City => out.push_str(pick(SURROGATE_CITY, 0)),
        Category::Street => {
            out.push_str(&(u16::from(h[0]) * 7 + 10).to_string());
            out.push(' ');
            out.push_str(pick(SURROGATE_STREET, 1));
        }
        Category::Facility => {
            out.push_str(pick(SURROGATE_CITY, 0));
            out.push_str(" Hospital");
        }
        Category::Email => {
            out.push_str(&pick(SURROGATE_GIVEN, 0).to_ascii_lowercase());
            out.push_str(&format!("{:02x}{:02x}@example.org", h[1], h[2]));
        }
        Category::Url => out.push_str(&format!(
            "https://example.org/{:02x}{:02x}{:02x}",
            h[0], h[1], h[2]
        )),
        Category::Date | Category::Age | Category::State => out.push_str(category.placeholder()),
        _ => {
            // Keep the shape: digits become other digits, letters other letters.
            for (i, c) in value.chars().enumerate() {
                let r = h[i % 32].wrapping_add(u8::try_from(i / 32).unwrap_or(0));
                if c.is_ascii_digit() {
                    out.push(char::from(b'0' + r % 10));
                } else if c.is_ascii_uppercase() {
                    out.push(char::from(b'A' + r % 26));
                } else if c.is_ascii_lowercase() {
                    out.push(char::from(b'a' + r % 26));
                } else {
                    out.push(c);
                }
            }
        }
    }
}

/// Scrubs text handed over in pieces of any size. Text is held back until a line break, so a
/// detection never straddles two pieces; a line longer than 1 MiB is cut at a space.
#[derive(Debug)]
pub struct StreamScrubber<'a> {
    scrubber: &'a Scrubber,
    pending: String,
}

/// How much text the stream scrubber holds before it scrubs what it has.
const CHUNK: usize = 256 * 1024;
/// The longest line it holds before cutting at a space.
const MAX_LINE: usize = 1024 * 1024;

impl StreamScrubber<'_> {
    /// Adds a piece; returns the scrubbed text that is ready (possibly empty).
    pub fn push(&mut self, piece: &str) -> String {
        self.pending.push_str(piece);
        if self.pending.len() < CHUNK {
            return String::new();
        }
        let cut = match self.pending.rfind('\n') {
            Some(i) => i + 1,
            None if self.pending.len() >= MAX_LINE => match self.pending.rfind(' ') {
                Some(i) => i + 1,
                None => self.pending.len(),
            },
            None => return String::new(),
        };
        let rest = self.pending.split_off(cut);
        let ready = std::mem::replace(&mut self.pending, rest);
        self.scrubber.scrub(&ready)
    }

    /// Scrubs and returns whatever is left.
    pub fn finish(self) -> String {
        self.scrubber.scrub(&self.pending)
    }
}
