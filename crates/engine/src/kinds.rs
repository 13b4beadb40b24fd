//! Which kind each error type is: the one list of the engine's typed
//! errors ([`engine_kind`] walks it; [`ENGINE_ERROR_TYPES`] names it for the
//! app's test that finds every error type in the source tree), and the
//! kinds of the contract's and the guest's errors (crates that know nothing
//! of exit statuses). Nothing in the engine imports this module: it sits
//! above every error type it lists.

use crate::error::{ErrorKind, Kinded, UsageError};

impl Kinded for crate::mailbox::ValidationError {
    fn kind(&self) -> ErrorKind {
        match self {
            crate::mailbox::ValidationError::PayloadTooLarge { .. } => ErrorKind::PayloadTooLarge,
            _ => ErrorKind::BadRequest,
        }
    }
}

impl Kinded for crate::guest::sim::StateError {
    fn kind(&self) -> ErrorKind {
        match self {
            crate::guest::sim::StateError::Read { source, .. }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                ErrorKind::NotFound
            }
            crate::guest::sim::StateError::Read { .. } => ErrorKind::Io,
            crate::guest::sim::StateError::Parse { .. } => ErrorKind::BadRequest,
        }
    }
}

impl Kinded for crate::guest::MailboxError {
    fn kind(&self) -> ErrorKind {
        use crate::guest::MailboxError;
        match self {
            MailboxError::BadName(_) | MailboxError::BadToken { .. } => ErrorKind::BadRequest,
            MailboxError::BadFrame { .. } => ErrorKind::MarkerInvalid,
            MailboxError::Lock { .. } | MailboxError::Ack { .. } => ErrorKind::Io,
        }
    }
}

crate::kinded_types! {
    /// The kind of `e` itself when it is one of the engine's (or the
    /// contract's, or the guest's) typed errors.
    pub fn engine_kind,
    const ENGINE_ERROR_TYPES = [
        crate::fork::ForkError,
        crate::fork::LifecycleError,
        crate::fork::ownership::ClaimError,
        crate::fanout::FanoutError,
        crate::check::CheckError,
        crate::files::ReadError,
        crate::mailbox::ValidationError,
        crate::guest::sim::StateError,
        crate::guest::MailboxError,
        crate::scan::ScanError,
        crate::store::StoreError,
        crate::vmm::VmmError,
        crate::vmm::process::ProcessError,
        crate::vmm::qmp::QmpError,
        crate::vmm::procmem::ProcMemError,
        crate::source::SourceError,
        crate::template::TemplateError,
        crate::transfer::TransferError,
        crate::transfer::RewriteError,
        crate::transfer::rewrite::FcStateError,
        crate::image::ImageError,
        crate::image::cpio::CpioError,
        crate::copy::CopyError,
        crate::history::HistoryError,
        UsageError,
    ]
}
