//! `hookbox completions SHELL` and `hookbox man DIR`: shell completions and
//! manual pages, generated from the same command definitions `--help`
//! prints, for packages and for operators.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::command;

/// `hookbox completions`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    shell: clap_complete::Shell,
}

impl CompletionsArgs {
    /// Prints the completion script.
    pub fn run(self) -> anyhow::Result<u8> {
        let mut command = command();
        clap_complete::generate(self.shell, &mut command, "hookbox", &mut std::io::stdout());
        Ok(crate::exit_code::OK)
    }
}

/// `hookbox man`
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The folder to write `hookbox.1` and one page per command
    /// (`hookbox-run.1`, ...) into; created if needed.
    dir: PathBuf,
}

impl ManArgs {
    /// Writes the pages and lists them.
    pub fn run(self) -> anyhow::Result<u8> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        clap_mangen::generate_to(command(), &self.dir).with_context(|| {
            format!("cannot write the manual pages into {}", self.dir.display())
        })?;
        let mut pages: Vec<String> = std::fs::read_dir(&self.dir)?
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".1"))
            .collect();
        pages.sort();
        for page in pages {
            super::stdout::outln!("{}", self.dir.join(page).display());
        }
        Ok(crate::exit_code::OK)
    }
}
