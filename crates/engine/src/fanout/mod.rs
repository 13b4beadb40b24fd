//! Fan-out: N forks of one snapshot, each with its own payloads, run as N
//! ordinary fork sessions (at most K at a time) whose events are read like
//! any renderer reads them. It adds no stage of its own.
//!
//! A fan-out is all or nothing unless asked otherwise: the first failed
//! fork cancels the sessions still running, the forks not yet started are
//! not started, and the forks already made are removed. With
//! `keep_going`, the others go on and stay.
//!
//! [`plan`] builds the forks (placeholders, `--matrix` lines), checks every
//! payload and that N forks fit ([`capacity`]) before anything is copied;
//! [`run_fanout`] runs them; [`stats`] summarizes stage times; [`record`]
//! keeps each fork's session in the store's history.

pub mod capacity;
pub mod matrix;
mod plan;
pub mod record;
mod run;
pub mod stats;
pub mod template;

pub use capacity::Capacity;
pub use matrix::{MatrixLine, parse_matrix, read_matrix};
pub use plan::{FanoutSpec, PayloadTemplate, member_name, plan_fanout, preview_payloads};
pub use record::MemberRecorders;
pub use run::{
    FanoutEvent, FanoutPlan, FanoutReport, ForkResult, Permits, PlannedFork, run_fanout,
};
pub use stats::{Spread, StageClock, spreads};

use crate::error::{ErrorKind, Kinded};

/// Most forks one fan-out makes.
pub const MAX_FORKS: usize = 4096;

/// Why a fan-out cannot start.
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    /// A placeholder the fan-out does not know.
    #[error("{0}")]
    Placeholder(String),
    /// A line of a matrix file.
    #[error("matrix line {line}: {reason}")]
    Matrix {
        /// 1-based line (0: the whole file).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The matrix file cannot be read.
    #[error("matrix file: {0}")]
    MatrixFile(#[source] crate::files::ReadError),
    /// One fork's request breaks a rule (its payload after expansion, its
    /// name).
    #[error("fork {index} ({name}): {reason}")]
    Fork {
        /// Its index.
        index: usize,
        /// Its name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A count, a parallelism or a name out of range.
    #[error("{0}")]
    Request(String),
    /// The forks do not fit, or the room for them cannot be measured.
    #[error("{0}")]
    Capacity(String),
    /// The snapshot.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl Kinded for FanoutError {
    fn kind(&self) -> ErrorKind {
        match self {
            FanoutError::Store(e) => e.kind(),
            FanoutError::MatrixFile(e) => e.kind(),
            _ => ErrorKind::BadRequest,
        }
    }
}
