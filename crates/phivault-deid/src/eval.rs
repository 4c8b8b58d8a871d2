//! Scoring the scrubber against a labelled corpus.
//!
//! Corpus format: JSON lines `{"text": "...", "spans": [{"begin": 0, "end": 5, "label": "NAME"}]}`
//! (also accepted: `start` for `begin`, `type`/`category` for `label`). Offsets count Unicode
//! characters (as Python and most annotation tools do). Labels are mapped onto evaluation
//! groups by [`map_label`]; spans whose label maps to nothing (COUNTRY, PROFESSION, …) are
//! neither required nor held against the scrubber.
//!
//! Matching rules:
//! * **Span recall**: a labelled span is caught when every letter and digit in it is covered by
//!   some detection (of any category: a ZIP inside a detected address counts), except the
//!   filler words "year"/"old"/"yo" of an age phrase. Per group, the labelled span's group is
//!   used.
//! * **Span precision**: a detection is correct when it overlaps a labelled span (mapped or
//!   not). Per group, the detection's group is used.
//! * **Token scores** (the usual measure in de-identification papers): tokens are maximal runs
//!   of letters and digits; a token is labelled PHI if a mapped span covers it and predicted
//!   PHI if a detection covers any of its characters. Tokens under unmapped labels are left out.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::category::Group;
use crate::error::DeidError;
use crate::scrub::{Detection, Scrubber};

/// Words inside a labelled span that need not be covered ("94-year-old": the age is the
/// number; "year" and "old" identify no one).
const FILLER: &[&str] = &["year", "years", "old", "yo", "yr", "yrs", "y", "o"];

/// Whether detections cover every letter and digit of `text[b0..b1]`, filler words aside.
fn caught(text: &str, b0: usize, b1: usize, pred: &[bool]) -> bool {
    let bytes = text.as_bytes();
    let mut i = b0;
    while i < b1 {
        if !bytes[i].is_ascii_alphanumeric() && bytes[i] < 0x80 {
            i += 1;
            continue;
        }
        let s = i;
        while i < b1 && (bytes[i].is_ascii_alphanumeric() || bytes[i] >= 0x80) {
            i += 1;
        }
        let word = text.get(s..i).unwrap_or("");
        if FILLER.iter().any(|f| word.eq_ignore_ascii_case(f)) {
            continue;
        }
        if !pred[s..i].iter().all(|&x| x) {
            return false;
        }
    }
    true
}

/// Maps a corpus label onto an evaluation group, or `None` for labels that Safe Harbor does
/// not ask to remove.
pub fn map_label(label: &str) -> Option<Group> {
    let l: String = label
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    Some(match l.as_str() {
        "NAME" | "NAMES" | "PATIENT" | "DOCTOR" | "PERSON" | "PER" | "PROVIDER" | "USERNAME"
        | "FIRSTNAME" | "LASTNAME" | "FAMILYNAME" | "GIVENNAME" | "RELATIVE" | "STAFF" => {
            Group::Name
        }
        "DATE" | "DATES" | "DOB" | "BIRTHDATE" | "DATETIME" | "HOLIDAY" => Group::Date,
        "AGE" | "AGES" | "AGEOVER89" => Group::Age,
        "PHONE" | "FAX" | "TELEPHONE" | "PHONENUMBER" | "FAXNUMBER" | "PAGER" | "TEL" => {
            Group::Contact
        }
        "EMAIL" | "EMAILADDRESS" | "MAIL" => Group::Email,
        "SSN" | "SOCIALSECURITY" | "SOCIALSECURITYNUMBER" | "USSSN" => Group::Ssn,
        "MRN" | "MEDICALRECORD" | "MEDICALRECORDNUMBER" | "MEDICALRECORDNUM" | "RECORD" => {
            Group::MedicalRecord
        }
        "ID" | "IDNUM" | "IDNUMBER" | "ACCOUNT" | "ACCOUNTNUMBER" | "HEALTHPLAN"
        | "HEALTHPLANNUMBER" | "LICENSE" | "LICENCE" | "LICENSENUMBER" | "CERTIFICATE"
        | "DEVICE" | "DEVICEID" | "VEHICLE" | "VEHICLEID" | "VIN" | "PLATE" | "SERIAL"
        | "BIOID" | "BIOMETRIC" | "PHOTO" | "OTHER" | "OTHERID" | "UNIQUEID" | "IDENTIFIER"
        | "CODE" | "INSURANCE" | "BANKACCOUNT" | "CREDITCARD" | "DRIVERLICENSE" | "PASSPORT" => {
            Group::Id
        }
        "URL" | "WEB" | "WEBSITE" | "IP" | "IPADDR" | "IPADDRESS" | "URI" => Group::Web,
        "STREET" | "ADDRESS" | "LOCATION" | "LOCATIONOTHER" | "CITY" | "ZIP" | "ZIPCODE"
        | "POSTCODE" | "STATE" | "COUNTY" | "HOSPITAL" | "FACILITY" | "GEO" | "GEOGRAPHIC"
        | "GPE" | "LOC" | "TOWN" => Group::Location,
        _ => return None,
    })
}

/// One labelled span.
#[derive(Debug, Clone, Deserialize)]
pub struct GoldSpan {
    /// Start offset (characters).
    #[serde(alias = "start")]
    pub begin: usize,
    /// End offset (characters, exclusive).
    pub end: usize,
    /// The label as the corpus spells it.
    #[serde(alias = "type", alias = "category")]
    pub label: String,
}

/// One labelled document.
#[derive(Debug, Clone, Deserialize)]
pub struct GoldDoc {
    /// The text.
    pub text: String,
    /// Its labelled spans.
    #[serde(default)]
    pub spans: Vec<GoldSpan>,
}

/// Parses one corpus line.
pub fn parse_line(line: &str, number: usize) -> Result<GoldDoc, DeidError> {
    serde_json::from_str(line).map_err(|e| DeidError::Corpus {
        line: number,
        reason: format!("not a corpus record ({})", e.classify_str()),
    })
}

trait Classify {
    fn classify_str(&self) -> &'static str;
}
impl Classify for serde_json::Error {
    fn classify_str(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "missing or mistyped field",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// Counts for one group or overall.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    /// Labelled spans.
    pub gold_spans: u64,
    /// Labelled spans caught.
    pub caught_spans: u64,
    /// Detections.
    pub predicted_spans: u64,
    /// Detections overlapping a labelled span.
    pub correct_spans: u64,
    /// Labelled PHI tokens.
    pub gold_tokens: u64,
    /// Predicted PHI tokens.
    pub predicted_tokens: u64,
    /// Tokens both labelled and predicted (recall side: counted in the label's group).
    pub true_tokens: u64,
    /// Predicted tokens that are labelled PHI (precision side: counted in the detection's group).
    pub precise_tokens: u64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// Derived scores.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Scores {
    /// Span recall.
    pub recall: f64,
    /// Span precision.
    pub precision: f64,
    /// Span F1.
    pub f1: f64,
    /// Token recall.
    pub token_recall: f64,
    /// Token precision.
    pub token_precision: f64,
    /// Token F1.
    pub token_f1: f64,
}

impl Counts {
    /// The scores.
    pub fn scores(&self) -> Scores {
        let r = ratio(self.caught_spans, self.gold_spans);
        let p = ratio(self.correct_spans, self.predicted_spans);
        let tr = ratio(self.true_tokens, self.gold_tokens);
        let tp = ratio(self.precise_tokens, self.predicted_tokens);
        Scores {
            recall: r,
            precision: p,
            f1: f1(p, r),
            token_recall: tr,
            token_precision: tp,
            token_f1: f1(tp, tr),
        }
    }

    fn add(&mut self, o: &Counts) {
        self.gold_spans += o.gold_spans;
        self.caught_spans += o.caught_spans;
        self.predicted_spans += o.predicted_spans;
        self.correct_spans += o.correct_spans;
        self.gold_tokens += o.gold_tokens;
        self.predicted_tokens += o.predicted_tokens;
        self.true_tokens += o.true_tokens;
        self.precise_tokens += o.precise_tokens;
    }
}

/// A missed labelled span, for error analysis (holds corpus text: print it only locally).
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    /// The document number (0-based).
    pub doc: usize,
    /// The label.
    pub label: String,
    /// The labelled text.
    pub text: String,
}

/// Accumulated evaluation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evaluation {
    /// Documents scored.
    pub documents: u64,
    /// Bytes of text scored.
    pub bytes: u64,
    /// Overall counts.
    pub overall: Counts,
    /// Counts per group.
    pub groups: BTreeMap<Group, Counts>,
    /// Labels seen that map to no group, with counts.
    pub unmapped_labels: BTreeMap<String, u64>,
    /// Missed spans (only if asked for).
    #[serde(skip)]
    pub misses: Vec<Miss>,
    /// False detections (label "FP"; only if asked for).
    #[serde(skip)]
    pub false_positives: Vec<Miss>,
}

impl Evaluation {
    /// Scores one document against the scrubber's detections for it.
    pub fn add(&mut self, doc: &GoldDoc, dets: &[Detection], keep_errors: bool) {
        let text = &doc.text;
        // Character offsets to byte offsets.
        let mut char_to_byte: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        char_to_byte.push(text.len());
        let cb = |c: usize| char_to_byte.get(c).copied().unwrap_or(text.len());
        let n = text.len();
        // Per-byte coverage maps.
        let mut pred = vec![false; n];
        for d in dets {
            for x in pred.iter_mut().take(d.end.min(n)).skip(d.start) {
                *x = true;
            }
        }
        let mut gold_group: Vec<Option<Group>> = vec![None; n];
        let mut any_gold = vec![false; n];
        let mut local = Counts::default();
        let mut groups: BTreeMap<Group, Counts> = BTreeMap::new();
        let docno = usize::try_from(self.documents).unwrap_or(0);
        for s in &doc.spans {
            let (b0, b1) = (cb(s.begin), cb(s.end));
            if b0 >= b1 {
                continue;
            }
            for x in any_gold.iter_mut().take(b1).skip(b0) {
                *x = true;
            }
            let Some(g) = map_label(&s.label) else {
                *self.unmapped_labels.entry(s.label.clone()).or_default() += 1;
                continue;
            };
            for x in gold_group.iter_mut().take(b1).skip(b0) {
                *x = Some(g);
            }
            let caught = caught(text, b0, b1, &pred);
            let gc = groups.entry(g).or_default();
            gc.gold_spans += 1;
            local.gold_spans += 1;
            if caught {
                gc.caught_spans += 1;
                local.caught_spans += 1;
            } else if keep_errors {
                self.misses.push(Miss {
                    doc: docno,
                    label: s.label.clone(),
                    text: text.get(b0..b1).unwrap_or("").to_owned(),
                });
            }
        }
        for d in dets {
            let g = d.category.group();
            let correct = (d.start..d.end.min(n)).any(|i| any_gold[i]);
            let gc = groups.entry(g).or_default();
            gc.predicted_spans += 1;
            local.predicted_spans += 1;
            if correct {
                gc.correct_spans += 1;
                local.correct_spans += 1;
            } else if keep_errors {
                self.false_positives.push(Miss {
                    doc: docno,
                    label: d.category.as_str().to_owned(),
                    text: text.get(d.start..d.end).unwrap_or("").to_owned(),
                });
            }
        }
        // Tokens.
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < n {
            if !bytes[i].is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            let s = i;
            while i < n && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let is_pred = pred[s..i].iter().any(|&x| x);
            let g = gold_group[s..i].iter().flatten().next().copied();
            let unmapped = g.is_none() && any_gold[s..i].iter().any(|&x| x);
            if unmapped {
                continue;
            }
            if let Some(g) = g {
                let gc = groups.entry(g).or_default();
                gc.gold_tokens += 1;
                local.gold_tokens += 1;
                if is_pred {
                    gc.true_tokens += 1;
                    local.true_tokens += 1;
                }
            }
            if is_pred {
                local.predicted_tokens += 1;
                if g.is_some() {
                    local.precise_tokens += 1;
                }
                // Attribute a predicted token to the group of the detection covering it.
                if let Some(d) = dets.iter().find(|d| d.start < i && d.end > s) {
                    let dc = groups.entry(d.category.group()).or_default();
                    dc.predicted_tokens += 1;
                    if g.is_some() {
                        dc.precise_tokens += 1;
                    }
                }
            }
        }
        self.documents += 1;
        self.bytes += n as u64;
        self.overall.add(&local);
        for (g, c) in groups {
            self.groups.entry(g).or_default().add(&c);
        }
    }

    /// Scores a whole corpus (JSON lines) with `scrubber`.
    pub fn run(
        corpus: &str,
        scrubber: &Scrubber,
        keep_errors: bool,
    ) -> Result<Evaluation, DeidError> {
        let mut ev = Evaluation::default();
        for (i, line) in corpus.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let doc = parse_line(line, i + 1)?;
            let dets = scrubber.detect(&doc.text);
            ev.add(&doc, &dets, keep_errors);
        }
        Ok(ev)
    }
}
