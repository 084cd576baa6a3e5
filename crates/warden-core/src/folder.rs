//! Home directory targets (`/bucket/group/user`) compared as path segments.
//!
//! Isolation between users rests on these comparisons, so they are segment-wise, never string
//! prefixes: `/bucket/groupAB` is not inside `/bucket/groupA`.

/// Why a target cannot be used as a folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FolderProblem {
    /// Nothing but whitespace or slashes.
    Empty,
    /// Does not start with `/`.
    Relative,
    /// Has a `.` or `..` segment, which could climb out of the folder it names.
    DotSegment,
    /// Has `//` in the middle: S3 keeps empty segments, so this is a different folder from the one
    /// it looks like.
    EmptySegment,
    /// Has control or other unsafe characters.
    UnsafeCharacter,
    /// Has `*`, `?` or `$`, which a session policy would read as a wildcard or a variable, so
    /// the policy would grant more than the folder.
    Wildcard,
}

impl FolderProblem {
    /// A short description that completes "the Target …".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Empty => "is empty",
            Self::Relative => "does not start with '/'",
            Self::DotSegment => "has a '.' or '..' segment",
            Self::EmptySegment => "has an empty segment ('//')",
            Self::UnsafeCharacter => "has control characters",
            Self::Wildcard => {
                "has '*', '?' or '$', which a session policy reads as a wildcard or a variable"
            }
        }
    }
}

/// `target` with a leading `/` and no trailing `/`; surrounding whitespace removed.
pub fn normalise(target: &str) -> String {
    let trimmed = target.trim().trim_end_matches('/');
    if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    }
}

/// Checks a raw `Target` value: absolute, no dot or empty segments, no unsafe characters and no
/// wildcards. One rule for validation (rule 5) and the identity provider.
/// A trailing `/` is tolerated.
pub fn check(target: &str) -> Result<(), FolderProblem> {
    let trimmed = target.trim_end_matches('/');
    if trimmed.trim().is_empty() {
        return Err(FolderProblem::Empty);
    }
    if !trimmed.starts_with('/') {
        return Err(FolderProblem::Relative);
    }
    if trimmed.chars().any(crate::text::is_unsafe_char) {
        return Err(FolderProblem::UnsafeCharacter);
    }
    if trimmed.contains(['*', '?', '$']) {
        return Err(FolderProblem::Wildcard);
    }
    let segments = segments(trimmed);
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(FolderProblem::DotSegment);
    }
    if segments.iter().any(|s| s.is_empty()) {
        return Err(FolderProblem::EmptySegment);
    }
    Ok(())
}

/// The segments of a normalised folder: `/bucket/a` → `["bucket", "a"]`.
pub fn segments(folder: &str) -> Vec<&str> {
    folder
        .strip_prefix('/')
        .unwrap_or(folder)
        .split('/')
        .collect()
}

/// The bucket a folder lives in (its first segment).
pub fn bucket(folder: &str) -> &str {
    segments(folder).first().copied().unwrap_or_default()
}

/// Whether `child` lies strictly below `parent` (more segments, same leading segments).
/// Whether `child` is `parent` or lies below it (segment-wise).
pub fn is_inside_or_equal(child: &str, parent: &str) -> bool {
    child == parent || is_strictly_inside(child, parent)
}

pub fn is_strictly_inside(child: &str, parent: &str) -> bool {
    let child = segments(child);
    let parent = segments(parent);
    child.len() > parent.len() && child.iter().zip(&parent).all(|(c, p)| c == p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_adds_the_leading_slash_and_drops_trailing_ones() {
        assert_eq!(normalise("bucket/groupA/"), "/bucket/groupA");
        assert_eq!(normalise(" /bucket// "), "/bucket");
    }

    #[test]
    fn a_folder_below_is_inside() {
        assert!(is_strictly_inside("/bucket/groupA/bank1", "/bucket/groupA"));
        assert!(is_strictly_inside("/bucket/groupA/x/y", "/bucket/groupA"));
    }

    #[test]
    fn a_sibling_sharing_a_name_prefix_is_not_inside() {
        assert!(!is_strictly_inside("/bucket/groupAB/x", "/bucket/groupA"));
    }

    #[test]
    fn the_folder_itself_is_not_strictly_inside() {
        assert!(!is_strictly_inside("/bucket/groupA", "/bucket/groupA"));
    }

    #[test]
    fn checking_flags_relative_dot_and_empty_segments() {
        assert_eq!(check("/bucket/groupA/bank1/"), Ok(()));
        assert_eq!(check(""), Err(FolderProblem::Empty));
        assert_eq!(check("/"), Err(FolderProblem::Empty));
        assert_eq!(check("bucket/a"), Err(FolderProblem::Relative));
        assert_eq!(
            check("/bucket/groupA/../groupB"),
            Err(FolderProblem::DotSegment)
        );
        assert_eq!(check("/bucket/./a"), Err(FolderProblem::DotSegment));
        assert_eq!(check("/bucket//a"), Err(FolderProblem::EmptySegment));
        assert_eq!(check("/bucket/a\n"), Err(FolderProblem::UnsafeCharacter));
    }

    #[test]
    fn the_bucket_is_the_first_segment() {
        assert_eq!(bucket("/bucket/groupA"), "bucket");
    }
}
