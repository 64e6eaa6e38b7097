//! The process exit codes of SPEC §2, decided in one place.

use crate::error::Error;
use crate::pipeline::RunStatus;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// 0: every source reached its end and no page was given up.
    Complete,
    /// 1: an internal failure (or an output directory that cannot be
    /// written).
    Internal,
    /// 2: a usage or config error; nothing was fetched.
    Usage,
    /// 3: some data is missing.
    Partial,
    /// 130: stopped by Ctrl-C or SIGTERM.
    Interrupted,
}

impl ExitCode {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Complete => 0,
            ExitCode::Internal => 1,
            ExitCode::Usage => 2,
            ExitCode::Partial => 3,
            ExitCode::Interrupted => 130,
        }
    }
}

impl From<RunStatus> for ExitCode {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Complete => ExitCode::Complete,
            RunStatus::Partial => ExitCode::Partial,
            RunStatus::Interrupted => ExitCode::Interrupted,
            RunStatus::Failed => ExitCode::Internal,
        }
    }
}

impl From<&Error> for ExitCode {
    /// A config, command-line or state file error is a usage error;
    /// anything else that stops a run before it is done (an output that
    /// cannot be written, a lock another run holds) is exit 1.
    fn from(e: &Error) -> Self {
        match e {
            Error::Config(_) | Error::Usage(_) | Error::State(_) => ExitCode::Usage,
            Error::Output { .. } | Error::Locked { .. } => ExitCode::Internal,
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_statuses_map_to_the_spec_codes() {
        let codes: Vec<u8> = [
            RunStatus::Complete,
            RunStatus::Partial,
            RunStatus::Interrupted,
            RunStatus::Failed,
        ]
        .into_iter()
        .map(|s| ExitCode::from(s).code())
        .collect();
        assert_eq!(codes, [0, 3, 130, 1]);
        assert_eq!(ExitCode::Usage.code(), 2);
    }
}
