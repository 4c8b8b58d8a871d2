//! One text under analysis: its tokens with what the dictionaries and cue lists say about
//! each, and the predicates every pass shares (name-like, same-line gaps, particles, and
//! extending a name over the tokens after it).

use super::lexicon::{MONTH_SURNAMES, PARTICLES};
use super::words::{Tok, lower, tokens};
use super::{Cues, Names};

/// The most tokens a name grows to when extended over the words after its first.
pub(super) const MAX_NAME_TOKENS: usize = 5;

/// What the dictionaries say about one capitalised token (all false for lower-case words).
#[derive(Clone, Copy, Default)]
pub(super) struct WordClass {
    /// A given name.
    pub(super) given: bool,
    /// A family name (or a hyphenated name with a known part).
    pub(super) family: bool,
    /// A name that is also an ordinary word or an eponym: needs context.
    pub(super) ambiguous: bool,
    /// A stop word: never a name on its own.
    pub(super) stop: bool,
}

/// A text, its tokens and their classes and cues.
pub(super) struct Scan<'a> {
    pub(super) names: &'a Names,
    pub(super) text: &'a str,
    pub(super) toks: Vec<Tok>,
    pub(super) classes: Vec<WordClass>,
    pub(super) cues: Vec<Cues>,
}

/// Whether a gap between two words keeps them on one line as parts of one name: at most
/// three spaces, tabs or full stops.
pub(super) fn same_line_space(g: &str) -> bool {
    !g.contains('\n') && g.len() <= 3 && g.bytes().all(|c| c == b' ' || c == b'.' || c == b'\t')
}

impl<'a> Scan<'a> {
    pub(super) fn new(names: &'a Names, text: &'a str) -> Scan<'a> {
        let toks = tokens(text);
        let mut buf = [0u8; 32];
        let classes = toks
            .iter()
            .map(|t| Self::classify(names, text, t, &mut buf))
            .collect();
        let cues = toks
            .iter()
            .map(|t| {
                lower(&text[t.start..t.end], &mut buf)
                    .and_then(|l| names.cue_words.get(l).copied())
                    .unwrap_or_default()
            })
            .collect();
        Scan {
            names,
            text,
            toks,
            classes,
            cues,
        }
    }

    /// Dictionary evidence for one token.
    fn classify(names: &Names, text: &str, t: &Tok, buf: &mut [u8; 32]) -> WordClass {
        if !t.cap && !t.initial {
            // Lower-case words are still needed for cue checks, not as names.
            return WordClass::default();
        }
        let word = &text[t.start..t.end];
        match lower(word, buf) {
            Some(l) if l.contains('-') => {
                // "Reyes-Villalobos": a known part that is not an ordinary word.
                let known = |p: &str| {
                    (names.given.contains(p) || names.family.contains(p))
                        && !names.ambiguous.contains(p)
                };
                WordClass {
                    family: l.split('-').any(known),
                    ..WordClass::default()
                }
            }
            Some(l) => WordClass {
                given: names.given.contains(l),
                family: names.family.contains(l),
                // Eponyms need context, like ordinary words.
                ambiguous: names.ambiguous.contains(l) || names.eponyms.contains(l),
                // A word with diacritics is no English stop word ("Hãs", "Çãn").
                stop: word.is_ascii() && names.stop.contains(l),
            },
            None => WordClass::default(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.toks.len()
    }

    /// The text of token `k`.
    pub(super) fn word(&self, k: usize) -> &'a str {
        &self.text[self.toks[k].start..self.toks[k].end]
    }

    /// The text between token `i - 1` and token `i`.
    pub(super) fn gap(&self, i: usize) -> &'a str {
        let s = if i == 0 { 0 } else { self.toks[i - 1].end };
        &self.text[s..self.toks[i].start]
    }

    /// The gap after token `i` (empty after the last).
    pub(super) fn next_gap(&self, i: usize) -> &'a str {
        if i + 1 < self.len() {
            self.gap(i + 1)
        } else {
            ""
        }
    }

    /// Whether token `i` exists and is in one of the cue lists of `cues`.
    pub(super) fn has(&self, i: usize, cues: Cues) -> bool {
        self.cues.get(i).is_some_and(|c| c.intersects(cues))
    }

    /// Whether token `k` is a dictionary name (given or family) that is no stop word.
    pub(super) fn known(&self, k: usize) -> bool {
        (self.classes[k].given || self.classes[k].family) && !self.classes[k].stop
    }

    /// A single capital letter, a complete surname after a particle ("de la O").
    pub(super) fn letter(&self, i: usize) -> bool {
        let w = self.word(i);
        w.len() == 1 && w != "I" && w != "A" && w.bytes().all(|c| c.is_ascii_uppercase())
    }

    pub(super) fn particle_word(&self, i: usize) -> bool {
        PARTICLES.contains(&self.word(i))
    }

    /// A particle before a capitalised word or a letter, possibly through a second particle
    /// ("van der Berg", "de la O").
    pub(super) fn particle(&self, i: usize) -> bool {
        let n = self.len();
        self.particle_word(i)
            && i + 1 < n
            && self.gap(i + 1) == " "
            && (self.toks[i + 1].cap
                || self.letter(i + 1)
                || (self.particle_word(i + 1)
                    && i + 2 < n
                    && self.gap(i + 2) == " "
                    && (self.toks[i + 2].cap || self.letter(i + 2))))
    }

    /// An all-capital dictionary name that is no stop word.
    fn caps_dict(&self, k: usize) -> bool {
        self.toks[k].cap
            && !self.word(k).chars().any(char::is_lowercase)
            && (self.classes[k].given || self.classes[k].family)
            && !self.classes[k].stop
    }

    /// An all-capital word next to an all-capital dictionary name ("QWYX SMITH").
    fn caps_pair(&self, i: usize) -> bool {
        (i + 1 < self.len() && self.gap(i + 1) == " " && self.caps_dict(i + 1))
            || (i > 0 && self.gap(i) == " " && self.caps_dict(i - 1))
    }

    /// Whether token `i` could be part of a name: an initial, a capitalised word that is no
    /// stop word or acronym, a particle, or a letter after a particle.
    pub(super) fn name_like(&self, i: usize) -> bool {
        let t = &self.toks[i];
        let w = self.word(i);
        if t.initial {
            return true;
        }
        // Short all-capital words are acronyms (PCP, MRN) unless a dictionary knows them
        // or they stand next to an all-capital dictionary name ("QWYX SMITH").
        let c = self.classes[i];
        if t.cap && !c.stop {
            let acronym =
                w.len() <= 4 && !w.chars().any(char::is_lowercase) && !c.given && !c.family;
            if !acronym || self.caps_pair(i) {
                return true;
            }
        }
        self.particle(i)
            || (self.letter(i) && i > 0 && self.gap(i) == " " && self.particle_word(i - 1))
    }

    /// An all-capital word of two or more letters that is no stop, cue or credential word
    /// ("WA", "MU"): part of a name in an all-capital name line.
    pub(super) fn caps_word(&self, k: usize) -> bool {
        let w = self.word(k);
        self.cues[k].is_empty()
            && w.chars().nth(1).is_some()
            && w.chars().all(char::is_uppercase)
            && !(w.is_ascii() && self.names.stop.contains(w.to_ascii_lowercase().as_str()))
    }

    /// "M.D." is a credential, not two initials.
    pub(super) fn md(&self, k: usize) -> bool {
        self.word(k) == "M" && self.text[self.toks[k].end..].starts_with(".D")
    }

    /// A month name that is also a family name, after a given name ("Karen May").
    pub(super) fn month_surname(&self, i: usize) -> bool {
        i > 0
            && self.classes[i - 1].given
            && !self.classes[i - 1].ambiguous
            && self.gap(i) == " "
            && MONTH_SURNAMES.contains(&self.word(i))
    }

    /// The last token of a name starting at token `i`: extended over following name-like
    /// tokens on the same line, `max` tokens at most.
    pub(super) fn extend(&self, i: usize, max: usize) -> usize {
        let mut j = i;
        while j + 1 < self.len()
            && j + 1 - i < max
            && (self.name_like(j + 1) || self.month_surname(j + 1))
            && same_line_space(self.gap(j + 1))
            && (self.toks[j].initial || !self.gap(j + 1).contains('.'))
            && self.gap(j + 1) != "  "
        {
            j += 1;
        }
        j
    }

    /// Records tokens `from..=to` as a name (a lone initial is not one); returns the token
    /// after it, where the scan goes on.
    pub(super) fn emit(&self, from: usize, to: usize, out: &mut Vec<(usize, usize)>) -> usize {
        if !(from == to && self.toks[from].initial) {
            out.push((self.toks[from].start, self.toks[to].end));
        }
        to + 1
    }

    /// Records the name starting at token `from`, extended over the tokens after it.
    pub(super) fn emit_extended(&self, from: usize, out: &mut Vec<(usize, usize)>) -> usize {
        let to = self.extend(from, MAX_NAME_TOKENS);
        self.emit(from, to, out)
    }

    /// Whether token `i` starts a sentence (so its capital says nothing), unless it follows
    /// an initial closely ("J. Smith").
    pub(super) fn sentence_start(&self, i: usize) -> bool {
        if i > 0 && self.toks[i - 1].initial && self.toks[i - 1].end + 3 > self.toks[i].start {
            return false;
        }
        let s = self.toks[i].start;
        let before = self.text.as_bytes()[..s]
            .iter()
            .rev()
            .find(|c| !matches!(c, b' ' | b'\t' | b'"' | b'(' | b'-' | b'*'));
        matches!(
            before,
            None | Some(b'\n' | b'.' | b'!' | b'?' | b':' | b';' | b'#')
        )
    }
}
