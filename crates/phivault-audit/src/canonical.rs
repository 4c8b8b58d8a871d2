//! The canonical byte encoding of an [`AuditEvent`]: the exact bytes that are stored
//! and hashed. Written by hand rather than through `serde_json::to_vec` so that it is
//! total (no `Result` to swallow on the write path); tests hold it equal to the serde
//! encoding, which is what the parser reads back.

use serde::Serializer;
use time::macros::datetime;
use time::{OffsetDateTime, UtcOffset};

use crate::event::AuditEvent;

/// The earliest instant RFC 3339 can write (its years have four digits).
const MIN_TIME: OffsetDateTime = datetime!(0000-01-01 00:00:00 UTC);
/// The latest instant RFC 3339 can write.
const MAX_TIME: OffsetDateTime = datetime!(9999-12-31 23:59:59.999_999_999 UTC);

/// Encodes an event as compact JSON with fields in declared order.
pub(crate) fn encode_event(e: &AuditEvent) -> String {
    let mut out = String::with_capacity(320);
    out.push('{');
    key(&mut out, "time");
    string(&mut out, &format_time(e.time));
    key(&mut out, "request_id");
    string(&mut out, &e.request_id);
    key(&mut out, "actor");
    out.push('{');
    key(&mut out, "kind");
    string(&mut out, e.actor.kind.as_str());
    key(&mut out, "id");
    opt_string(&mut out, e.actor.id.as_deref());
    out.push('}');
    key(&mut out, "auth_method");
    string(&mut out, &e.auth_method);
    key(&mut out, "source");
    opt_string(&mut out, e.source.as_deref());
    key(&mut out, "action");
    string(&mut out, &e.action);
    key(&mut out, "outcome");
    string(&mut out, e.outcome.as_str());
    key(&mut out, "reason");
    opt_string(&mut out, e.reason.as_deref());
    key(&mut out, "purpose");
    opt_string(&mut out, e.purpose.as_deref());
    key(&mut out, "collection");
    opt_string(&mut out, e.collection.as_deref());
    key(&mut out, "record_id");
    opt_string(&mut out, e.record_id.as_deref());
    key(&mut out, "version");
    opt_u64(&mut out, e.version);
    key(&mut out, "subject");
    opt_string(&mut out, e.subject.as_deref());
    key(&mut out, "fields");
    out.push('[');
    for (i, name) in e.fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(&mut out, name);
    }
    out.push(']');
    key(&mut out, "count");
    opt_u64(&mut out, e.count);
    key(&mut out, "target");
    opt_string(&mut out, e.target.as_deref());
    out.push('}');
    out
}

/// Serde hook so `Serialize` writes the same time string as [`encode_event`].
pub(crate) fn serialize_time<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

/// RFC 3339 in UTC, fractional seconds trimmed of trailing zeros (as `time` formats it).
///
/// One instant has one encoding whatever offset the caller's clock used, so equal
/// events give equal bytes.
pub(crate) fn format_time(t: OffsetDateTime) -> String {
    let t = if t < MIN_TIME {
        MIN_TIME
    } else if t > MAX_TIME {
        MAX_TIME
    } else {
        // Cannot overflow: the instant was clamped into a range that UTC can represent.
        t.to_offset(UtcOffset::UTC)
    };
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Writes the separator (unless first in its object), the quoted name and a colon.
fn key(out: &mut String, name: &str) {
    if !out.ends_with('{') {
        out.push(',');
    }
    string(out, name);
    out.push(':');
}

fn opt_string(out: &mut String, v: Option<&str>) {
    match v {
        Some(s) => string(out, s),
        None => out.push_str("null"),
    }
}

fn opt_u64(out: &mut String, v: Option<u64>) {
    match v {
        Some(n) => out.push_str(&n.to_string()),
        None => out.push_str("null"),
    }
}

/// Writes a JSON string with serde_json's escaping: the short escapes where JSON has
/// them, `\u00xx` (lowercase) for other control characters, everything else verbatim.
fn string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let b = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[b >> 4]));
                out.push(char::from(HEX[b & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;

    #[test]
    fn time_matches_the_time_crate_and_normalizes_to_utc() {
        for t in [
            datetime!(2024-02-29 13:07:05 UTC),
            datetime!(2024-02-29 13:07:05.5 UTC),
            datetime!(2024-02-29 13:07:05.000_000_001 UTC),
            datetime!(0001-01-01 00:00:00.120 UTC),
        ] {
            assert_eq!(format_time(t), t.format(&Rfc3339).unwrap());
        }
        let local = datetime!(2024-03-01 01:30:00 +02:00);
        assert_eq!(format_time(local), "2024-02-29T23:30:00Z");
    }

    #[test]
    fn out_of_range_times_clamp_instead_of_failing() {
        assert_eq!(
            format_time(datetime!(-0001-06-01 00:00:00 UTC)),
            "0000-01-01T00:00:00Z"
        );
        // An offset pushes this instant to year -1 in UTC.
        assert_eq!(
            format_time(datetime!(0000-01-01 00:30:00 +01:00)),
            "0000-01-01T00:00:00Z"
        );
        assert_eq!(
            format_time(datetime!(9999-12-31 23:30:00 -01:00)),
            "9999-12-31T23:59:59.999999999Z"
        );
    }

    #[test]
    fn control_characters_are_escaped_like_serde_json() {
        let all: String = (0u32..0x80)
            .filter_map(char::from_u32)
            .chain(['é', '\u{2028}', '😀'])
            .collect();
        let mut ours = String::new();
        string(&mut ours, &all);
        assert_eq!(ours, serde_json::to_string(&all).unwrap());
    }
}
