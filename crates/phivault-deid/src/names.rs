//! Person-name detection: a token pass using dictionaries of given and family names plus
//! context cues (titles, credentials, labels such as "Patient:", relations such as "wife").
//! The word lists live in `lexicon`, word shapes in `words`, the per-text analysis in
//! `scan`, and the ordered passes (each named for the evidence it uses) in `passes`.

mod lexicon;
mod passes;
mod scan;
mod words;

use std::collections::{HashMap, HashSet};

use lexicon::{
    AMBIGUOUS, AUTHORED, CONVERSE, CREDENTIALS, CUES, EPONYMS, FAMILY, GIVEN, HOUSEHOLD, LABELS,
    RELATIONS, ROLES, ROUTED, STOP, TITLES,
};

/// The cue lists a word belongs to, as a set: one hash lookup per token finds them all.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Cues(u16);

impl Cues {
    /// A title before a name ("Dr", "Mrs").
    const TITLE: Cues = Cues(1);
    /// A label before a colon and a name ("Patient", "Attending").
    const LABEL: Cues = Cues(1 << 1);
    /// A weak cue that confirms a dictionary name after it ("seen with", "per").
    const WEAK_CUE: Cues = Cues(1 << 2);
    /// A relation before a name ("wife", "officer").
    const RELATION: Cues = Cues(1 << 3);
    /// A credential after a name ("MD", "RN").
    const CREDENTIAL: Cues = Cues(1 << 4);
    /// A verb of authorship before "by" ("Ordered", "Read").
    const AUTHORED: Cues = Cues(1 << 5);
    /// A care role before a name ("PCP", "resident").
    const ROLE: Cues = Cues(1 << 6);
    /// A routing verb before "to" ("Routed", "forwarded").
    const ROUTED: Cues = Cues(1 << 7);
    /// A household word before "with" ("lives", "home").
    const HOUSEHOLD: Cues = Cues(1 << 8);
    /// A conversation verb before "with" ("spoke", "met").
    const CONVERSE: Cues = Cues(1 << 9);

    /// Both sets together.
    const fn union(self, other: Cues) -> Cues {
        Cues(self.0 | other.0)
    }

    /// Whether the sets share a cue.
    fn intersects(self, other: Cues) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether the word is in no cue list.
    fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The name dictionaries.
pub(crate) struct Names {
    given: HashSet<&'static str>,
    family: HashSet<&'static str>,
    ambiguous: HashSet<&'static str>,
    stop: HashSet<&'static str>,
    eponyms: HashSet<&'static str>,
    cue_words: HashMap<&'static str, Cues>,
}

impl Names {
    pub(crate) fn new() -> Names {
        let set = |s: &'static str| -> HashSet<&'static str> {
            s.split_ascii_whitespace()
                .filter(|w| !w.is_empty())
                .collect()
        };
        let mut cue_words = HashMap::new();
        for (list, cue) in [
            (TITLES, Cues::TITLE),
            (LABELS, Cues::LABEL),
            (CUES, Cues::WEAK_CUE),
            (RELATIONS, Cues::RELATION),
            (CREDENTIALS, Cues::CREDENTIAL),
            (AUTHORED, Cues::AUTHORED),
            (ROLES, Cues::ROLE),
            (ROUTED, Cues::ROUTED),
            (HOUSEHOLD, Cues::HOUSEHOLD),
            (CONVERSE, Cues::CONVERSE),
        ] {
            for w in list {
                let entry: &mut Cues = cue_words.entry(*w).or_default();
                *entry = entry.union(cue);
            }
        }
        Names {
            given: set(GIVEN),
            family: set(FAMILY),
            ambiguous: set(AMBIGUOUS),
            stop: set(STOP),
            eponyms: set(EPONYMS),
            cue_words,
        }
    }

    /// Appends the name spans found in `text` to `out` as byte ranges.
    pub(crate) fn find(&self, text: &str, out: &mut Vec<(usize, usize)>) {
        let scan = scan::Scan::new(self, text);
        let mut i = 0;
        while i < scan.len() {
            i = scan.match_at(i, out).unwrap_or(i + 1);
        }
    }
}
