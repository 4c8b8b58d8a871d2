//! The identifier-shape scanner behind the metadata checks and the log redactor: one
//! hand-written pass over the bytes finding SSNs, phone numbers, e-mail addresses, URLs,
//! dates and long numbers, with machine-made spans (UUIDs, hashes, log timestamps) exempt.

use super::IdentifierLike;

/// Names are checked for every shape; log lines for the shapes that can be PHI there
/// (addresses and URLs in logs are the vault's own), with a log line's own numbers exempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Name,
    Log,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Finding {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) found: IdentifierLike,
}

/// Separators between the digit groups of an SSN, phone number or date.
const SEPS: &[u8] = b"-_./ ";

const MONTHS: [&str; 24] = [
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
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
];

fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

fn before(b: &[u8], i: usize) -> u8 {
    i.checked_sub(1).map_or(0, |j| at(b, j))
}

/// Every identifier-like span of `text`, sorted by start, overlapping spans merged.
pub(super) fn findings(text: &str, mode: Mode) -> Vec<Finding> {
    let b = text.as_bytes();
    let exempt = exempt_zones(b, mode);
    let mut found = Vec::new();
    emails(b, &mut found);
    if mode == Mode::Name {
        urls(b, &mut found);
    }
    digit_groups(b, mode, &mut found);
    month_dates(b, &mut found);
    found.retain(|f| !exempt.iter().any(|&(s, e)| f.start < e && s < f.end));
    found.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    let mut merged: Vec<Finding> = Vec::with_capacity(found.len());
    for f in found {
        match merged.last_mut() {
            Some(last) if f.start <= last.end => last.end = last.end.max(f.end),
            _ => merged.push(f),
        }
    }
    merged
}

/// Spans that are machine-made, not identifiers: UUIDs and hex strings of 32 or more
/// characters (ids, hashes); in logs also the line's own leading timestamp.
fn exempt_zones(b: &[u8], mode: Mode) -> Vec<(usize, usize)> {
    let mut zones = Vec::new();
    if mode == Mode::Log {
        let mut i = 0;
        // Colour codes of a terminal, then the JSON format's opening.
        while at(b, i) == 0x1b && at(b, i + 1) == b'[' {
            i += 2;
            while i < b.len() && at(b, i) != b'm' {
                i += 1;
            }
            i += 1;
        }
        const JSON_TS: &[u8] = br#"{"timestamp":""#;
        if b.get(i..i + JSON_TS.len()) == Some(JSON_TS) {
            i += JSON_TS.len();
        }
        if at(b, i).is_ascii_digit() {
            let start = i;
            while matches!(
                at(b, i),
                b'0'..=b'9' | b'-' | b':' | b'.' | b'+' | b'T' | b'Z'
            ) {
                i += 1;
            }
            zones.push((start, i));
        }
    }
    let mut i = 0;
    while i < b.len() {
        if !at(b, i).is_ascii_alphanumeric() || before(b, i).is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let mut j = i;
        while at(b, j).is_ascii_alphanumeric() {
            j += 1;
        }
        let token = &b[i..j];
        let hex = token.iter().all(u8::is_ascii_hexdigit);
        if hex && token.len() >= 32 && token.iter().any(u8::is_ascii_alphabetic) {
            zones.push((i, j));
        } else if let Some(end) = uuid_at(b, i) {
            zones.push((i, end));
            j = end;
        }
        i = j;
    }
    zones
}

/// The end of a hyphenated UUID starting at `i`, if one does.
fn uuid_at(b: &[u8], i: usize) -> Option<usize> {
    let mut k = i;
    for (n, len) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if n > 0 {
            if at(b, k) != b'-' {
                return None;
            }
            k += 1;
        }
        for _ in 0..len {
            if !at(b, k).is_ascii_hexdigit() {
                return None;
            }
            k += 1;
        }
    }
    (!at(b, k).is_ascii_alphanumeric()).then_some(k)
}

fn is_local_part(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-')
}

/// `local@label.tld` with a TLD of two or more letters.
fn emails(b: &[u8], out: &mut Vec<Finding>) {
    for (k, _) in b.iter().enumerate().filter(|(_, c)| **c == b'@') {
        let mut start = k;
        while start > 0 && is_local_part(at(b, start - 1)) {
            start -= 1;
        }
        let mut end = k + 1;
        while is_domain(at(b, end)) {
            end += 1;
        }
        while end > k + 1 && matches!(at(b, end - 1), b'.' | b'-') {
            end -= 1;
        }
        let domain = &b[k + 1..end];
        let tld = domain.rsplit(|c| *c == b'.').next().unwrap_or_default();
        let ok = start < k
            && domain.contains(&b'.')
            && tld.len() >= 2
            && tld.iter().all(u8::is_ascii_alphabetic)
            && domain.first().is_some_and(u8::is_ascii_alphanumeric);
        if ok {
            out.push(Finding {
                start,
                end,
                found: IdentifierLike::Email,
            });
        }
    }
}

fn url_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len()
        && !at(b, i).is_ascii_whitespace()
        && !matches!(at(b, i), b'"' | b'\'' | b'<' | b'>')
    {
        i += 1;
    }
    i
}

/// `scheme://…` and `www.label…`.
fn urls(b: &[u8], out: &mut Vec<Finding>) {
    let mut k = 0;
    while k + 3 <= b.len() {
        if b.get(k..k + 3) == Some(b"://") {
            let mut start = k;
            while start > 0
                && (at(b, start - 1).is_ascii_alphanumeric()
                    || matches!(at(b, start - 1), b'+' | b'.' | b'-'))
            {
                start -= 1;
            }
            while start < k && !at(b, start).is_ascii_alphabetic() {
                start += 1;
            }
            if k - start >= 2 {
                let end = url_end(b, k + 3);
                out.push(Finding {
                    start,
                    end,
                    found: IdentifierLike::Url,
                });
                k = end;
                continue;
            }
        }
        let www = b
            .get(k..k + 4)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"www."));
        if www && !before(b, k).is_ascii_alphanumeric() && at(b, k + 4).is_ascii_alphanumeric() {
            let end = url_end(b, k + 4);
            out.push(Finding {
                start: k,
                end,
                found: IdentifierLike::Url,
            });
            k = end;
            continue;
        }
        k += 1;
    }
}

/// The most digit runs one group is read as.
const MAX_RUNS: usize = 8;

/// One run of digits in a group: where it is, and the separator before it (0 for the first).
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    start: usize,
    end: usize,
    sep: u8,
}

impl Run {
    fn len(self) -> usize {
        self.end - self.start
    }
}

fn value(b: &[u8], r: Run) -> u32 {
    b[r.start..r.end]
        .iter()
        .take(6)
        .fold(0, |v, d| v * 10 + u32::from(d - b'0'))
}

/// Digits separated by single separators (`555-123-4567`, `1984_03_12`, `(555) 123 4567`),
/// classified by the lengths of their runs.
fn digit_groups(b: &[u8], mode: Mode, out: &mut Vec<Finding>) {
    let mut i = 0;
    while i < b.len() {
        if !at(b, i).is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut runs = [Run::default(); MAX_RUNS];
        let mut n = 0;
        let mut k = i;
        let mut sep = 0u8;
        loop {
            let start = k;
            while at(b, k).is_ascii_digit() {
                k += 1;
            }
            runs[n] = Run { start, end: k, sep };
            n += 1;
            if n == MAX_RUNS {
                break;
            }
            // `(555) 123`: the closing parenthesis (and a space) separate like one byte.
            let paren = n == 1 && before(b, start) == b'(' && at(b, k) == b')';
            let width = if paren && at(b, k + 1) == b' ' { 2 } else { 1 };
            let next = at(b, k + width);
            if (paren || SEPS.contains(&at(b, k))) && next.is_ascii_digit() {
                sep = if paren { b'(' } else { at(b, k) };
                k += width;
            } else {
                break;
            }
        }
        classify(b, &runs[..n], mode, out);
        i = runs[n - 1].end;
    }
}

fn push(out: &mut Vec<Finding>, first: Run, last: Run, found: IdentifierLike) {
    out.push(Finding {
        start: first.start,
        end: last.end,
        found,
    });
}

fn valid_md(a: u32, d: u32) -> bool {
    (1..=12).contains(&a) && (1..=31).contains(&d) || (1..=31).contains(&a) && (1..=12).contains(&d)
}

/// Whether the digits ending at `end` are followed by a duration unit (`12345ns`, `3µs`).
fn duration_unit(b: &[u8], end: usize) -> bool {
    let unit_len = if b.get(end..end + 3) == Some("µs".as_bytes()) {
        3
    } else {
        let mut j = end;
        while at(b, j).is_ascii_alphabetic() {
            j += 1;
        }
        match b.get(end..j) {
            Some(b"ns" | b"us" | b"ms" | b"s") => j - end,
            _ => return false,
        }
    };
    !at(b, end + unit_len).is_ascii_alphanumeric()
}

fn classify(b: &[u8], runs: &[Run], mode: Mode, out: &mut Vec<Finding>) {
    use IdentifierLike::*;
    let lens: Vec<usize> = runs.iter().map(|r| r.len()).collect();
    let total: usize = lens.iter().sum();
    let first = runs[0];
    // `+44 20 7946 0958`: a country code and the rest of an international number.
    let last = runs[runs.len() - 1];
    if before(b, first.start) == b'+' && (7..=15).contains(&total) && first.len() <= 3 {
        push(out, first, last, Phone);
        return;
    }
    let same =
        |k: usize, set: &[u8]| runs[k + 1].sep == runs[k + 2].sep && set.contains(&runs[k + 1].sep);
    for k in 0..runs.len() {
        let r = &runs[k..];
        let l = &lens[k..];
        if r.len() >= 4 && l[..4] == [1, 3, 3, 4] && value(b, r[0]) == 1 {
            push(out, r[0], r[3], Phone);
        }
        if r.len() >= 4
            && mode == Mode::Name
            && l[..4].iter().all(|n| (1..=3).contains(n))
            && r[1..4].iter().all(|x| x.sep == b'.')
            && r[..4].iter().all(|x| value(b, *x) <= 255)
        {
            push(out, r[0], r[3], IpAddress);
        }
        if r.len() >= 3 {
            let (a, m, d) = (value(b, r[0]), value(b, r[1]), value(b, r[2]));
            if l[0] == 4
                && (1..=2).contains(&l[1])
                && (1..=2).contains(&l[2])
                && same(k, b"-_/.")
                && (1800..=2199).contains(&a)
                && (1..=12).contains(&m)
                && (1..=31).contains(&d)
            {
                push(out, r[0], r[2], Date);
            }
            let year = l[2] == 4 || (l[2] == 2 && r[2].sep == b'/');
            if (1..=2).contains(&l[0])
                && (1..=2).contains(&l[1])
                && year
                && same(k, b"-_/.")
                && valid_md(a, m)
            {
                push(out, r[0], r[2], Date);
            }
            if l[..3] == [3, 2, 4] && same(k, b"-_. ") {
                push(out, r[0], r[2], Ssn);
            }
            if l[..3] == [3, 3, 4]
                && r[1].sep != b'/'
                && SEPS.contains(&r[2].sep)
                && r[2].sep != b'/'
            {
                // `(555) 123-4567` includes its opening parenthesis.
                let open = usize::from(r[1].sep == b'(');
                let first = Run {
                    start: r[0].start - open,
                    ..r[0]
                };
                push(out, first, r[2], Phone);
            }
        }
        if runs.len() == 2 && k == 0 && l == [3, 4] && r[1].sep == b'-' {
            push(out, r[0], r[1], Phone);
        }
        let run = r[0];
        let long = run.len() >= 6;
        // A log line's decimals (`latency_ms=1.2345678`) and durations are its own numbers.
        let own_number = mode == Mode::Log
            && ((k == 1 && runs.len() == 2 && run.sep == b'.') || duration_unit(b, run.end));
        if long && !own_number {
            let found = if run.len() == 9 { Ssn } else { LongNumber };
            push(out, run, run, found);
        }
    }
}

/// A month name (`march`, `Mar`, `sept`) next to a day of the month: `mar_12`,
/// `12 March 1984`, `12mar1984`.
fn month_dates(b: &[u8], out: &mut Vec<Finding>) {
    let mut i = 0;
    while i < b.len() {
        if !at(b, i).is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let mut j = i;
        while at(b, j).is_ascii_alphabetic() {
            j += 1;
        }
        let word = &b[i..j];
        let month = (3..=9).contains(&word.len())
            && MONTHS
                .iter()
                .any(|m| m.as_bytes().eq_ignore_ascii_case(word));
        if month {
            if let Some(end) = day_after(b, j) {
                out.push(Finding {
                    start: i,
                    end,
                    found: IdentifierLike::Date,
                });
            } else if let Some(start) = day_before(b, i) {
                out.push(Finding {
                    start,
                    end: j,
                    found: IdentifierLike::Date,
                });
            }
        }
        i = j;
    }
}

fn is_day(b: &[u8], start: usize, end: usize) -> bool {
    (1..=2).contains(&(end - start)) && (1..=31).contains(&value(b, Run { start, end, sep: 0 }))
}

/// The end of a day of the month after a month name ending at `j`.
fn day_after(b: &[u8], j: usize) -> Option<usize> {
    let mut k = j;
    while k < j + 2 && matches!(at(b, k), b' ' | b'_' | b'-' | b'.' | b',' | b'/') {
        k += 1;
    }
    let start = k;
    while at(b, k).is_ascii_digit() {
        k += 1;
    }
    is_day(b, start, k).then_some(k)
}

/// The start of a day of the month before a month name starting at `i`.
fn day_before(b: &[u8], i: usize) -> Option<usize> {
    let mut k = i;
    while k + 2 > i && k > 0 && matches!(before(b, k), b' ' | b'_' | b'-' | b'.' | b',' | b'/') {
        k -= 1;
    }
    let end = k;
    while k > 0 && before(b, k).is_ascii_digit() {
        k -= 1;
    }
    (end > k && is_day(b, k, end)).then_some(k)
}
