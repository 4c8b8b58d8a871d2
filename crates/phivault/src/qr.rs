//! Terminal QR codes (Unicode half blocks), used to show a TOTP enrolment URI for scanning.

use anyhow::Context as _;
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

/// Renders `data` as a QR code drawn with Unicode half blocks (two modules per character
/// cell), with the standard 4-module quiet zone, ready to print to a terminal.
///
/// Dark modules are drawn as blank cells and light modules (and the quiet zone) as blocks,
/// so on the usual light-on-dark terminal the code appears dark-on-light, the way scanners
/// expect it.
pub(crate) fn render_qr(data: &str) -> Result<String, anyhow::Error> {
    let code = QrCode::new(data.as_bytes()).context("data too long for a QR code")?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_expected_number_of_lines() {
        let uri = "otpauth://totp/phivault:alice%40example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
                   &issuer=phivault&algorithm=SHA1&digits=6&period=30";
        let text = render_qr(uri).unwrap();
        assert!(!text.is_empty());
        let width = QrCode::new(uri.as_bytes()).unwrap().width();
        // Symbol plus a 4-module quiet zone on each side; two module rows per text line.
        let side = width + 8;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), side.div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == side));
        assert!(
            text.chars()
                .all(|c| matches!(c, ' ' | '\u{2580}' | '\u{2584}' | '\u{2588}' | '\n'))
        );
    }
}
