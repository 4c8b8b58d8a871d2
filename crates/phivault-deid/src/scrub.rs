//! The free-text scrubber: one multi-pattern automaton pass for shaped identifiers and
//! context cues, one token pass for names, then overlapping detections are merged and
//! replaced by typed placeholders or consistent surrogates.
//!
//! This file owns the public types, compiling the automaton, detection and replacement;
//! `post` checks each candidate, `words` holds its word lists, `surrogate` the surrogates.

use regex_automata::meta;

use crate::category::Category;
use crate::error::DeidError;
use crate::names::Names;
use crate::patterns::{Pattern, Post, patterns};

mod post;
mod surrogate;
mod words;

use surrogate::surrogate;

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
