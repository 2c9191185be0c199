//! Rendering an error with its whole `source()` chain for a log line or a stored reason.
//!
//! `Display` of most errors names only the outermost cause ("commit failed"); an operator
//! needs the innermost one too ("No space left on device"). It knows nothing about which
//! errors it renders.

/// The error and all its sources, joined with `: `.
pub(crate) fn render(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}
