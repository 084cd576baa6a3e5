//! The HTML part of every email (sent beside the plain text as `multipart/alternative`).
//!
//! Nothing from a secret is ever markup: every value is first made safe for one line
//! ([`crate::text::escape_unsafe`]) and then HTML-escaped, so `<script>`, quotes or a forged
//! `Bcc:` line show as the text they are. Styles are inline (mail clients drop `<style>` blocks).

use std::fmt::Write as _;

use crate::text::escape_unsafe;

/// `s` with `&`, `<`, `>`, `"` and `'` as entities: safe in element content and in quoted
/// attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value from a secret as HTML text: unsafe characters shown as escapes, at most
/// `max_chars`, then HTML-escaped.
pub fn value(s: &str, max_chars: usize) -> String {
    escape(&escape_unsafe(s, max_chars))
}

/// A whole document around `body` (already HTML), titled with the (escaped) subject.
pub fn document(subject: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222;max-width:900px\">\n{body}</body></html>\n",
        value(subject, 200)
    )
}

/// Plain text as HTML: paragraphs at blank lines, line breaks kept, everything escaped. For the
/// messages whose text is already laid out (key notices, prefix-list problems).
pub fn from_plain_text(text: &str) -> String {
    let mut out = String::new();
    for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let lines: Vec<String> = paragraph
            .lines()
            .map(|line| value(line, usize::MAX))
            .collect();
        let _ = writeln!(out, "<p>{}</p>", lines.join("<br>\n"));
    }
    out
}

/// Styles of the findings table, inline.
pub const TABLE: &str = "border-collapse:collapse;margin:4px 0 16px 0";
pub const CELL: &str = "border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top";
pub const HEADER_CELL: &str =
    "border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;background:#f0f0f0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_quotes_and_ampersands_become_entities() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn a_value_cannot_break_a_line_or_open_a_tag() {
        let shown = value("ACME<img src=x onerror=alert(1)>\r\nBcc: evil@x.test", 200);
        assert_eq!(
            shown,
            "ACME&lt;img src=x onerror=alert(1)&gt;\\r\\nBcc: evil@x.test"
        );
        assert!(!shown.contains('<') && !shown.contains('\n'));
    }

    #[test]
    fn plain_text_keeps_its_paragraphs_and_lines_escaped() {
        let html = from_plain_text("Hello <b>you</b>,\n\nline 1\nline 2\n");
        assert_eq!(
            html,
            "<p>Hello &lt;b&gt;you&lt;/b&gt;,</p>\n<p>line 1<br>\nline 2</p>\n"
        );
    }
}
