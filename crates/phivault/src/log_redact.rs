//! The log layer's redaction step: every formatted log line passes through
//! `phivault_core::metadata::redact_log` before it is written, so an SSN, telephone number,
//! e-mail address, date or long number that reached a message or field is written as
//! `[REDACTED]` (45 CFR 164.514(b)(2)). The line's own timestamp, UUIDs and durations stay.

use std::io::{self, Write};

use phivault_core::metadata::redact_log;
use tracing_subscriber::fmt::MakeWriter;

/// Wraps a `MakeWriter` so that what its writers receive is redacted line by line.
#[derive(Debug, Clone)]
pub(crate) struct Redacting<M>(pub(crate) M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter::new(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        RedactingWriter::new(self.0.make_writer_for(meta))
    }
}

/// Collects bytes until a line is complete, then writes the line redacted. The formatter
/// writes one event at a time and drops the writer after it, which flushes any rest.
#[derive(Debug)]
pub(crate) struct RedactingWriter<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            pending: Vec::new(),
        }
    }

    /// Writes the first `n` pending bytes, redacted.
    fn emit(&mut self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let line: Vec<u8> = self.pending.drain(..n).collect();
        let red = redact_log(&String::from_utf8_lossy(&line));
        self.inner.write_all(red.as_bytes())
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(data);
        if let Some(last) = self.pending.iter().rposition(|b| *b == b'\n') {
            self.emit(last + 1)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit(self.pending.len())?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        // A log line that cannot be written has nowhere to report that.
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    fn emit_phi() {
        let request_id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        tracing::info!(
            request_id,
            latency_ms = 12.345678,
            note = "patient 123-45-6789",
            "mail to jane.doe@example.com about the visit on 1984-03-12, MRN 12345678"
        );
    }

    fn captured_log(json: bool) -> String {
        let out = Captured::default();
        let builder = tracing_subscriber::fmt()
            .with_writer(Redacting(out.clone()))
            .with_ansi(false);
        if json {
            tracing::subscriber::with_default(builder.json().finish(), emit_phi);
        } else {
            tracing::subscriber::with_default(builder.finish(), emit_phi);
        }
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn log_lines_with_an_ssn_or_email_are_redacted() {
        for json in [false, true] {
            let log = captured_log(json);
            for phi in [
                "123-45-6789",
                "jane.doe@example.com",
                "1984-03-12",
                "MRN 12345678",
            ] {
                assert!(!log.contains(phi), "{phi} in {log}");
            }
            assert!(log.contains("[REDACTED]"), "{log}");
            // The line's own timestamp, request id and duration are untouched.
            let ts = log.trim_start_matches("{\"timestamp\":\"");
            assert!(
                ts.as_bytes()[..10]
                    .iter()
                    .enumerate()
                    .all(|(i, c)| if i == 4 || i == 7 {
                        *c == b'-'
                    } else {
                        c.is_ascii_digit()
                    }),
                "{log}"
            );
            assert!(
                log.contains("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
                "{log}"
            );
            assert!(log.contains("12.345678"), "{log}");
            assert!(log.ends_with('\n'), "{log}");
        }
    }

    #[test]
    fn partial_writes_are_redacted_as_whole_lines() {
        let out = Captured::default();
        {
            let mut w = Redacting(out.clone()).make_writer();
            w.write_all(b"ssn 123-4").unwrap();
            w.write_all(b"5-6789\nnext ").unwrap();
            w.write_all(b"a@b.io").unwrap();
        }
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "ssn [REDACTED]\nnext [REDACTED]");
    }
}
