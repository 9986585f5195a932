//! `hookbox python`: a drop-in for the `python3` Hoop's agent runs hooks
//! with. Hoop feeds the hook's text on standard input with the event in
//! `HOOP_RUNBOOK_HOOK_PAYLOAD`; hookbox runs that text in the sandbox under
//! the operator's configuration and exits with the hook's exit code.
//!
//! Hoop passes no flags, so the configuration comes from `HOOKBOX_CONFIG` or
//! the first of `$XDG_CONFIG_HOME/hookbox/config.toml` and
//! `/etc/hookbox/config.toml` that exists. Installed as a `python3` symlink to
//! `hookbox` early in the agent's `PATH`, it needs no change to Hoop.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::sandbox_flags::SandboxFlags;
use crate::env_names;
use crate::exit_code;
use crate::intake::{Payload, PayloadError};
use crate::source::{HookFile, MAX_HOOK_FILE_BYTES};

/// Run a hook the way Hoop's agent runs `python3`: the script on standard
/// input (or a script file), the event in HOOP_RUNBOOK_HOOK_PAYLOAD, in the
/// sandbox under the configured policy. Also runs this way when hookbox is
/// invoked under the name `python3`.
#[derive(Debug, Args)]
pub struct PythonArgs {
    /// The script; standard input when absent or `-`.
    script: Option<PathBuf>,
    #[command(flatten)]
    sandbox: SandboxFlags,
}

/// Where an operator's configuration is looked for when nothing names one.
fn default_config_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = dirs::config_dir()
        .map(|dir| dir.join("hookbox/config.toml"))
        .into_iter()
        .collect();
    paths.push(PathBuf::from("/etc/hookbox/config.toml"));
    paths
}

impl PythonArgs {
    /// Runs the script and exits as `python3` would.
    pub fn run(self) -> anyhow::Result<u8> {
        let file = match default_config_paths().iter().find(|p| p.is_file()) {
            Some(default) => self.sandbox.config_file_or(default)?,
            None => self.sandbox.config_file()?,
        };
        let settings = self.sandbox.resolve_with(file)?;
        let text = std::env::var(env_names::HOOK_PAYLOAD).map_err(|_| PayloadError::Read {
            from: env_names::HOOK_PAYLOAD.into(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not set (Hoop sets it to the event JSON)",
            ),
        })?;
        let payload = Payload::read_from(
            text.as_bytes(),
            env_names::HOOK_PAYLOAD,
            settings.config.limits.payload_bytes,
        )?;

        let mut script = Vec::new();
        match &self.script {
            Some(path) if path.as_os_str() != "-" => {
                script = std::fs::read(path)
                    .with_context(|| format!("cannot read the script {}", path.display()))?;
            }
            _ => {
                std::io::stdin()
                    .take(MAX_HOOK_FILE_BYTES + 1)
                    .read_to_end(&mut script)
                    .context("cannot read the script from standard input")?;
            }
        }
        // The hook's folder holds only the script: nothing of the agent's
        // working directory is visible to it.
        let dir = tempfile::Builder::new()
            .prefix("hookbox-python-")
            .tempdir()
            .context("cannot create a folder for the script")?;
        let path = dir.path().join("hook.runbook.py");
        std::fs::write(&path, &script).context("cannot write the script")?;
        let hook = HookFile::open(&path)?;

        let outcome = super::run::run_once(&hook, &payload, &settings)?;
        super::run::print_output(&outcome)?;
        Ok(exit_code::for_outcome(&outcome))
    }
}
