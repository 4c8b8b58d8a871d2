//! Checking one automaton candidate: whether a shaped match or a cue's value is really an
//! identifier, and which span and category it gets, using the neighbouring words.

use super::words::{DATE_CUES, DEPARTMENTS, MONTH_CUES, SCORE_WORDS, UNITS};
use super::{Detection, Scrubber};
use crate::category::Category;
use crate::patterns::{Pattern, Post};

impl Scrubber {
    pub(super) fn post(
        &self,
        text: &str,
        p: &Pattern,
        pid: usize,
        s: usize,
        e: usize,
    ) -> Option<Detection> {
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
