//! Making user-supplied text safe to show.
//!
//! Secret values are typed by people and end up in email subjects, bodies and Step Functions
//! payloads. A newline there can forge an email header or a fake line in a report, and bidi
//! overrides can make text read differently from what it is, so such characters never pass
//! through unchanged. Lengths are capped so a 64 KiB value cannot blow up a payload.

/// Characters that must never reach a subject, a body line or a log line unchanged: C0/C1
/// controls (CR, LF, ESC, …), Unicode line/paragraph separators, and bidi embedding/override/
/// isolate marks.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` without unsafe characters, at most `max_chars` characters (an ellipsis marks a cut).
/// For display values such as a Name, or anything in a subject.
pub fn strip_unsafe(s: &str, max_chars: usize) -> String {
    let cleaned: String = s.chars().filter(|c| !is_unsafe_char(*c)).collect();
    truncate(cleaned.trim(), max_chars)
}

/// `s` with unsafe characters shown as escapes (`\n`, `\u{1b}`), at most `max_chars` characters.
/// For quoting a wrong value in a finding: the operator sees that a newline is there, and it
/// cannot start a new line.
pub fn escape_unsafe(s: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if is_unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    truncate(&out, max_chars)
}

/// `s` escaped and in double quotes, for naming a wrong value inside a finding's detail.
pub fn quoted(s: &str) -> String {
    const MAX_QUOTED_CHARS: usize = 80;
    format!("\"{}\"", escape_unsafe(s, MAX_QUOTED_CHARS))
}

/// At most `max_chars` characters, cut on a character boundary, with `…` when cut.
pub fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        None => s.to_owned(),
        Some((cut, _)) => {
            let mut out = s[..cut].to_owned();
            out.push('…');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripping_removes_line_breaks_and_bidi_overrides() {
        assert_eq!(
            strip_unsafe("ANZ\r\nBcc: x@evil.test\u{202E}", 100),
            "ANZBcc: x@evil.test"
        );
    }

    #[test]
    fn escaping_keeps_control_characters_visible_on_one_line() {
        let shown = escape_unsafe("a@b.com\nBcc: c@d.com", 100);
        assert_eq!(shown, "a@b.com\\nBcc: c@d.com");
        assert!(!shown.contains('\n'));
    }

    #[test]
    fn truncation_cuts_on_a_character_boundary() {
        assert_eq!(truncate("Zürich Bank", 2), "Zü…");
        assert_eq!(truncate("Zü", 2), "Zü");
    }

    #[test]
    fn quoting_caps_long_values() {
        let long = "x".repeat(10_000);
        assert!(quoted(&long).chars().count() < 100);
    }
}
