//! The name passes, tried in order at each token; the first that matches records a name
//! and says where the scan goes on. Each pass is named for the evidence it uses: a cue
//! word before the name, the shape of a line (signatures), a credential after the name, or
//! the dictionaries.

use super::Cues;
use super::lexicon::{CREDENTIALS, RELATIONS};
use super::scan::{MAX_NAME_TOKENS, Scan, same_line_space};
use super::words::{after_break, clinical_shaped, ends_signature, noun_shaped};

/// Output spans: byte ranges of names.
type Spans = Vec<(usize, usize)>;

/// The most tokens of an all-capital name after "Name:" ("ÇOUGRÃÇIX WA").
const MAX_LABELLED_CAPS_TOKENS: usize = 4;
/// The most tokens of a name before a credential ("Jane A. Doe, MD").
const MAX_CREDENTIALED_TOKENS: usize = 3;
/// The most tokens of a signature line without a dictionary name ("Haiez D. Szuklaike").
const MAX_BARE_SIGNATURE_TOKENS: usize = 3;

/// Credentials that follow a name after a single space ("JANE DOE RN").
const SPACED_CREDENTIALS: [&str; 3] = ["MD", "RN", "NP"];

/// Words that continue a clause after a person ("lives with Ana and her son").
const CLAUSE_CONTINUATIONS: [&str; 5] = ["and ", "who ", "at ", "in ", "on "];

impl Scan<'_> {
    /// Tries every pass at token `i`, in priority order; `Some(next token)` when one
    /// matched (and recorded its name).
    pub(super) fn match_at(&self, i: usize, out: &mut Spans) -> Option<usize> {
        self.initial_before_known_name(i, out)
            .or_else(|| self.name_after_relation(i, out))
            .or_else(|| self.name_line(i, out))
            .or_else(|| self.name_before_parenthesised_relation(i, out))
            .or_else(|| self.name_after_authored_by(i, out))
            .or_else(|| self.name_after_strong_cue(i, out))
            .or_else(|| self.name_after_title(i, out))
            .or_else(|| self.capitals_after_name_label(i, out))
            .or_else(|| self.name_after_label(i, out))
            .or_else(|| self.capitals_signature_with_credential(i, out))
            .or_else(|| self.capitalised_word(i, out))
    }

    /// "J. Smith": an initial before a capitalised dictionary name.
    fn initial_before_known_name(&self, i: usize, out: &mut Spans) -> Option<usize> {
        let found = self.toks[i].initial
            && i + 1 < self.len()
            && same_line_space(self.next_gap(i))
            && self.toks[i + 1].cap
            && self.known(i + 1);
        found.then(|| {
            let j = self.extend(i + 1, MAX_NAME_TOKENS);
            self.emit(i, j, out)
        })
    }

    /// A relation word before a capitalised word: "his wife Mary", "officer Ize Baker".
    fn name_after_relation(&self, i: usize, out: &mut Spans) -> Option<usize> {
        let next_gap = self.next_gap(i);
        let found = i + 1 < self.len()
            && self.has(i, Cues::RELATION)
            && self.toks[i + 1].cap
            && !self.classes[i + 1].stop
            && (next_gap == " " || next_gap == ", ");
        found.then(|| self.emit_extended(i + 1, out))
    }

    /// A line of only name-like words, one of them a known name, or a bare signature
    /// ("Sincerely,\n\nHaiez Szuklaike").
    fn name_line(&self, i: usize, out: &mut Spans) -> Option<usize> {
        if !((i == 0 || self.gap(i).contains('\n')) && self.name_like(i)) {
            return None;
        }
        let j = self.extend(i, MAX_NAME_TOKENS);
        let line_ends = j + 1 >= self.len() || self.gap(j + 1).contains('\n');
        let tail = &self.text[self.toks[j].end..];
        let tail_ok = tail.starts_with('\n')
            || tail.is_empty()
            || tail.starts_with(",\n")
            || tail.starts_with(".\n");
        let known = (i..=j).any(|k| self.known(k));
        (line_ends && tail_ok && (known || self.bare_signature(i, j))).then(|| self.emit(i, j, out))
    }

    /// Without a dictionary name: one or two title-case words alone on a line after a blank
    /// line or a closing, at the end of the note or before "Electronically signed", "NPI"
    /// and the like. Inner words may be initials or particles ("Haiez D. Szuklaike",
    /// "Graova da Prãini").
    fn bare_signature(&self, i: usize, j: usize) -> bool {
        j - i < MAX_BARE_SIGNATURE_TOKENS
            && self.plain_word(i, i == j)
            && self.plain_word(j, true)
            && (i + 1..j)
                .all(|k| self.toks[k].initial || self.particle(k) || self.plain_word(k, false))
            && after_break(self.text, self.toks[i].start)
            && ends_signature(self.text, self.toks[j].end)
    }

    /// A title-case word in no word list that does not look clinical.
    fn plain_word(&self, k: usize, last: bool) -> bool {
        let w = self.word(k);
        self.toks[k].cap
            && !self.classes[k].stop
            && !self.classes[k].ambiguous
            && self.cues[k].is_empty()
            && w.chars().any(char::is_lowercase)
            && !clinical_shaped(w, last)
    }

    /// A name before a relation in parentheses or after a comma: "Wessel (roommate)".
    fn name_before_parenthesised_relation(&self, i: usize, out: &mut Spans) -> Option<usize> {
        if !(self.toks[i].cap && self.name_like(i)) {
            return None;
        }
        let j = self.extend(i, MAX_NAME_TOKENS);
        let tail = &self.text[self.toks[j].end..];
        let rest = tail
            .strip_prefix(" (")
            .or_else(|| tail.strip_prefix(", "))?;
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let found = !word.is_empty()
            && RELATIONS.iter().any(|r| word.eq_ignore_ascii_case(r))
            && !self.classes[i].stop;
        found.then(|| self.emit(i, j, out))
    }

    /// A verb of authorship, then "by": "Ordered by I. Wosiak", "Read by: ...".
    fn name_after_authored_by(&self, i: usize, out: &mut Spans) -> Option<usize> {
        let found = i >= 1
            && i + 1 < self.len()
            && self.word(i).eq_ignore_ascii_case("by")
            && self.has(i - 1, Cues::AUTHORED)
            && self.name_like(i + 1)
            && !self.has(i + 1, Cues::TITLE)
            && same_line_space(self.next_gap(i).trim_start_matches(':'));
        found.then(|| self.emit_extended(i + 1, out))
    }

    /// Strong cues take a capitalised word without dictionary confirmation: a role ("PCP
    /// Qorvath", "resident Oskarine van Zelvenka"), a routing verb and "to" ("Routed to
    /// Tjitske Brzęczyk"), a conversation verb or a household word and "with" ("discharged
    /// home with Tjitske", "lives with Grzegorzina").
    fn name_after_strong_cue(&self, i: usize, out: &mut Spans) -> Option<usize> {
        let lw = self.word(i);
        let household = i >= 1 && self.has(i - 1, Cues::HOUSEHOLD) && lw == "with";
        let strong = self.has(i, Cues::ROLE)
            || (i >= 1 && self.has(i - 1, Cues::ROUTED) && lw.eq_ignore_ascii_case("to"))
            || (i >= 1 && self.has(i - 1, Cues::CONVERSE) && lw == "with")
            || household;
        let not_a_name = Cues::TITLE
            .union(Cues::RELATION)
            .union(Cues::CREDENTIAL)
            .union(Cues::ROLE);
        let candidate = strong
            && i + 1 < self.len()
            && self.next_gap(i) == " "
            && self.toks[i + 1].cap
            && !self.classes[i + 1].stop
            && self.name_like(i + 1)
            && !self.has(i + 1, not_a_name)
            && !noun_shaped(self.word(i + 1));
        if !candidate {
            return None;
        }
        let j = self.extend(i + 1, MAX_NAME_TOKENS);
        let w = self.word(j);
        let verbish = w.ends_with("ed") || w.ends_with("ing") || w.ends_with("ly");
        // After "with", the person ends the clause ("home with Tjitske.", "lives with Ana and
        // her son"); a drug or a condition goes on ("home with Keflex 500 mg", "Lovenox
        // bridge", "lives with Parkinson disease").
        let after = self.text[self.toks[j].end..].trim_start_matches([' ', '\t']);
        let clause_end = after.is_empty()
            || after.starts_with(['.', ',', ';', '(', ')', '\n', '\r', '!', '?'])
            || CLAUSE_CONTINUATIONS.iter().any(|w| after.starts_with(w));
        // A capitalised noun after it makes a unit's name ("Front Desk", "Triage Pool").
        let unit = j + 1 < self.len()
            && self.gap(j + 1) == " "
            && self.toks[j + 1].cap
            && self.classes[j + 1].stop;
        (!verbish && !unit && (!household || clause_end)).then(|| self.emit(i + 1, j, out))
    }

    /// A title before a name-like word: "Dr. Smith", "Mrs. Jane Doe".
    fn name_after_title(&self, i: usize, out: &mut Spans) -> Option<usize> {
        let found = self.has(i, Cues::TITLE)
            && i + 1 < self.len()
            && self.name_like(i + 1)
            && same_line_space(self.next_gap(i));
        found.then(|| self.emit_extended(i + 1, out))
    }

    /// After "Name:", all-capital words to the end of the line, short ones included
    /// ("Patient Name: ÇOUGRÃÇIX WA").
    fn capitals_after_name_label(&self, i: usize, out: &mut Spans) -> Option<usize> {
        let next_gap = self.next_gap(i);
        let found = i + 2 < self.len()
            && self.word(i).eq_ignore_ascii_case("name")
            && next_gap.trim_start().starts_with(':')
            && !next_gap.contains('\n')
            && self.caps_word(i + 1)
            && self.gap(i + 2) == " "
            && self.caps_word(i + 2);
        if !found {
            return None;
        }
        let mut j = i + 2;
        while j + 1 < self.len()
            && j - i < MAX_LABELLED_CAPS_TOKENS
            && same_line_space(self.gap(j + 1))
            && (self.caps_word(j + 1) || self.toks[j + 1].initial)
        {
            j += 1;
        }
        Some(self.emit(i + 1, j, out))
    }

    /// A label with a colon: "Patient: Jane Doe", "Attending: Doe, Jane".
    fn name_after_label(&self, i: usize, out: &mut Spans) -> Option<usize> {
        let next_gap = self.next_gap(i);
        let found = self.has(i, Cues::LABEL)
            && next_gap.trim_start().starts_with(':')
            && !next_gap.contains('\n')
            && i + 1 < self.len()
            && self.name_like(i + 1);
        if !found {
            return None;
        }
        let mut j = self.extend(i + 1, MAX_NAME_TOKENS);
        // "Doe, Jane A."
        if j + 1 < self.len()
            && self.gap(j + 1) == ", "
            && self.name_like(j + 1)
            && !self.toks[j + 1].initial
            && !self.has(j + 1, Cues::CREDENTIAL)
        {
            j = self.extend(j + 1, MAX_NAME_TOKENS);
        }
        Some(self.emit(i + 1, j, out))
    }

    /// A signature line of two or more all-capital words, short ones included, before a
    /// comma and a credential ("BØ VØSHÃSEN, MD", "JICHIPREM MITZ, M.D.").
    fn capitals_signature_with_credential(&self, i: usize, out: &mut Spans) -> Option<usize> {
        if !((i == 0 || self.gap(i).contains('\n')) && self.caps_word(i)) {
            return None;
        }
        let mut j = i;
        while j + 1 < self.len()
            && j - i < MAX_CREDENTIALED_TOKENS
            && same_line_space(self.gap(j + 1))
            && (self.caps_word(j + 1) || (self.toks[j + 1].initial && !self.md(j + 1)))
        {
            j += 1;
        }
        // Only credentials follow on the line ("ECG RBBB, MD aware" is no signature).
        let credential = j + 1 < self.len()
            && (self.gap(j + 1) == ", " || self.gap(j + 1) == ",")
            && (self.has(j + 1, Cues::CREDENTIAL) || self.md(j + 1))
            && self.text[self.toks[j + 1].end..]
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
            let w = self.word(k);
            w.len() >= 5 || !w.is_ascii()
        });
        // The credential is skipped too.
        (j > i && credential && long).then(|| self.emit(i, j, out) + 1)
    }

    /// A capitalised word or an initial that could start a name: a credential after it,
    /// then the dictionaries, then a weak cue before it.
    fn capitalised_word(&self, i: usize, out: &mut Spans) -> Option<usize> {
        let t = self.toks[i];
        if !((t.cap || t.initial) && self.name_like(i)) {
            return None;
        }
        self.name_before_credential(i, out)
            .or_else(|| self.dictionary_name(i, out))
            .or_else(|| self.name_after_weak_cue(i, out))
    }

    /// A short lower-case word between capitalised words belongs to the name when a
    /// credential follows ("Maren zu Quernheim, MD").
    fn connector(&self, k: usize) -> bool {
        let w = self.word(k);
        !self.toks[k].cap
            && w.len() <= 4
            && k + 1 < self.len()
            && self.toks[k + 1].cap
            && self.gap(k) == " "
            && self.gap(k + 1) == " "
            && self.cues[k].is_empty()
            && !self.has(k + 1, Cues::CREDENTIAL)
            && w.bytes().all(|c| c.is_ascii_lowercase())
            && self.name_like(k + 1)
            && !self.names.stop.contains(w)
    }

    /// Credentials after a name: "Jane Doe, MD", "JANE DOE RN", "Jane Doe M.D.".
    fn name_before_credential(&self, i: usize, out: &mut Spans) -> Option<usize> {
        let mut j = i;
        while j + 1 < self.len()
            && j - i < MAX_CREDENTIALED_TOKENS
            && (self.name_like(j + 1) || self.connector(j + 1))
            && same_line_space(self.gap(j + 1))
            && !self.has(j + 1, Cues::CREDENTIAL)
            && !self.md(j + 1)
        {
            j += 1;
        }
        if j + 1 >= self.len() {
            return None;
        }
        let g = self.gap(j + 1);
        let cred = &self.toks[j + 1];
        let w = self.word(j + 1);
        let upper_cred = w.bytes().next().is_some_and(|c| c.is_ascii_uppercase());
        let listed = upper_cred
            && self.has(j + 1, Cues::CREDENTIAL)
            && !g.contains('\n')
            && (g == ", " || g == "," || (g == " " && SPACED_CREDENTIALS.contains(&w)));
        let dotted_md = (w == "M" || w == "m")
            && self.text[cred.end..].starts_with(".D")
            && (g == ", " || g == " ");
        // The credential is skipped too.
        (listed || dotted_md).then(|| self.emit(i, j, out) + 1)
    }

    /// Dictionary evidence: a given or family name before another dictionary name, a
    /// given name that is no ordinary word, "Doe, Jane", or a family name that is no
    /// ordinary word and not capitalised only by starting a sentence.
    fn dictionary_name(&self, i: usize, out: &mut Spans) -> Option<usize> {
        let c = self.classes[i];
        let next_gap = self.next_gap(i);
        let strong_given = c.given && !c.ambiguous;
        let strong_family = c.family && !c.ambiguous;
        let next_name = i + 1 < self.len()
            && (self.name_like(i + 1) || self.month_surname(i + 1))
            && same_line_space(next_gap);
        let next_dict = next_name && self.known(i + 1);
        if (c.given || c.family) && next_dict && !(c.ambiguous && self.classes[i + 1].ambiguous) {
            return Some(self.emit_extended(i, out));
        }
        if strong_given {
            let j = if next_name {
                self.extend(i, MAX_NAME_TOKENS)
            } else {
                i
            };
            return Some(self.emit(i, j, out));
        }
        // "Doe, Jane"
        if (next_gap == ", " || next_gap == ",")
            && i + 1 < self.len()
            && self.toks[i + 1].cap
            && !self.classes[i + 1].stop
            && (self.classes[i + 1].given && (c.family || c.given || next_gap == ","))
        {
            let j = self.extend(i + 1, MAX_NAME_TOKENS);
            return Some(self.emit(i, j, out));
        }
        if strong_family && (!self.sentence_start(i) || next_name) {
            // An unknown given name just before it belongs to the name ("DUUK SMITH").
            let from = if i > 0
                && self.toks[i - 1].cap
                && self.name_like(i - 1)
                && same_line_space(self.gap(i))
                && !self.gap(i).contains('.')
            {
                i - 1
            } else {
                i
            };
            return Some(self.emit(from, i, out));
        }
        None
    }

    /// A weak cue word before a dictionary name: "his wife Mary", "seen with Smith".
    fn name_after_weak_cue(&self, i: usize, out: &mut Spans) -> Option<usize> {
        let c = self.classes[i];
        let next_known = i + 1 < self.len()
            && self.name_like(i + 1)
            && same_line_space(self.next_gap(i))
            && (self.classes[i + 1].given || self.classes[i + 1].family);
        let found = i > 0
            && (c.given || c.family || next_known)
            && self.has(i - 1, Cues::WEAK_CUE)
            && same_line_space(self.gap(i));
        found.then(|| self.emit_extended(i, out))
    }
}
