//! The syntax of an SFTP username (DESIGN.md section 6). The identity provider denies any other
//! name before a lookup, and the operator CLI refuses to create a user it could never log in as.

/// Usernames are 3 to 100 characters.
pub const LENGTH: std::ops::RangeInclusive<usize> = 3..=100;

/// The rule in words, for messages.
pub const RULE: &str =
    "3 to 100 letters, digits, '_', '-', '.' or '@', not starting with '-', '.' or '@'";

/// Whether `username` has the syntax of DESIGN.md section 6: 3–100 characters of
/// `A-Za-z0-9_-.@`, not starting with `-`, `.` or `@`.
pub fn is_valid(username: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@');
    LENGTH.contains(&username.len())
        && username.bytes().all(allowed)
        && !username.starts_with(['-', '.', '@'])
}
