//! Exit statuses from typed errors: the CLI walks an error's chain for the
//! first of forkmail's typed errors and exits with its kind's code
//! (README: "Exit status"). Nothing here looks at message text.

use crate::error::{ErrorKind, Kinded, UsageError};

/// The kind of the first error in `err`'s chain that forkmail knows, or
/// `None` when no typed error is in it.
pub fn kind_of(err: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(k) = known_kind(e) {
            return Some(k);
        }
        cur = e.source();
    }
    None
}

/// The kind of `e` itself when it is one of forkmail's typed errors (whose
/// messages already include their causes).
pub fn known_kind(e: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    macro_rules! try_kind {
        ($($t:ty),* $(,)?) => {
            $(if let Some(x) = e.downcast_ref::<$t>() {
                return Some(x.kind());
            })*
        };
    }
    try_kind!(
        crate::fork::ForkError,
        crate::fork::LifecycleError,
        crate::fanout::FanoutError,
        crate::check::CheckError,
        crate::files::ReadError,
        crate::mailbox::ValidationError,
        crate::scan::ScanError,
        crate::store::StoreError,
        crate::vmm::VmmError,
        crate::source::SourceError,
        crate::template::TemplateError,
        crate::transfer::TransferError,
        crate::image::ImageError,
        crate::history::HistoryError,
        crate::config::ConfigError,
        crate::tui::keymap::KeymapError,
        UsageError,
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_known_error_in_a_chain_decides() {
        let e = anyhow::Error::new(UsageError("x".into())).context("while parsing");
        assert_eq!(kind_of(e.as_ref()), Some(ErrorKind::BadRequest));
        let plain = anyhow::anyhow!("no type");
        assert_eq!(kind_of(plain.as_ref()), None);
    }
}
