//! `hookbox init`: start a runbooks repository that passes `hookbox test`.

use super::stdout::outln;
use std::path::PathBuf;

use clap::Args;

use crate::hooktest::scaffold;

/// Write a runbooks repository layout: two hooks, fixtures and a policy.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to write into (created if needed).
    #[arg(default_value = ".")]
    dir: PathBuf,
}

impl InitArgs {
    /// Writes the layout and says what to do next.
    pub fn run(self) -> anyhow::Result<u8> {
        for path in scaffold::init(&self.dir)? {
            outln!("created {}", path.display());
        }
        outln!(
            "next: hookbox test {} (add --watch to re-run on every change)",
            self.dir.display()
        );
        Ok(crate::exit_code::OK)
    }
}
