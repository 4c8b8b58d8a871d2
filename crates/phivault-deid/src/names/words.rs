//! Words and their shapes: the tokenizer, ASCII folding of accented letters, and the shape
//! tests (capitalised, noun- or clinical-looking, signature boundaries) the passes use.

use super::lexicon::{AFTER_SIGNATURE, CLINICAL_ENDINGS, CLOSINGS, MODIFIER_ENDINGS, NOUN_ENDINGS};

/// One word of the text.
#[derive(Clone, Copy)]
pub(super) struct Tok {
    /// Byte offset of the first letter.
    pub(super) start: usize,
    /// Byte offset after the last letter.
    pub(super) end: usize,
    /// Title case ("Smith") or all capitals ("SMITH").
    pub(super) cap: bool,
    /// One capital letter followed by a full stop ("J.").
    pub(super) initial: bool,
}

/// `word` in ASCII lower case (accents folded) in `buf`, if it fits and folds.
pub(super) fn lower<'a>(word: &str, buf: &'a mut [u8; 32]) -> Option<&'a str> {
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
pub(super) fn noun_shaped(w: &str) -> bool {
    let mut buf = [0u8; 32];
    w.split('-')
        .skip(1)
        .any(|p| p.starts_with(|c: char| c.is_lowercase()))
        || lower(w, &mut buf).is_some_and(|l| NOUN_ENDINGS.iter().any(|e| l.ends_with(e)))
}

/// Whether a word looks like a clinical term rather than a name: the last word of a
/// signature line against [`CLINICAL_ENDINGS`], a first word against [`MODIFIER_ENDINGS`].
pub(super) fn clinical_shaped(w: &str, last: bool) -> bool {
    let mut buf = [0u8; 32];
    let endings = if last {
        CLINICAL_ENDINGS
    } else {
        MODIFIER_ENDINGS
    };
    noun_shaped(w) || lower(w, &mut buf).is_some_and(|l| endings.iter().any(|e| l.ends_with(e)))
}

/// Whether the line holding `start` is preceded by a blank line or a closing ("Sincerely,").
pub(super) fn after_break(text: &str, start: usize) -> bool {
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
pub(super) fn ends_signature(text: &str, end: usize) -> bool {
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

/// Title case ("Smith", "McDonald", "O'Brien") or all capitals of three or more letters.
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

/// Splits `text` into word tokens (letters, with inner apostrophes and hyphens), leaving out
/// words glued to digits, and marks capitalised words and initials.
pub(super) fn tokens(text: &str) -> Vec<Tok> {
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
