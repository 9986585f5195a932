//! `hookbox python`: a drop-in for the `python3` Hoop's agent runs hooks
//! with. Hoop feeds the hook's text on standard input with the event in
//! `HOOP_RUNBOOK_HOOK_PAYLOAD`; hookbox runs that text in the sandbox under
//! the operator's configuration and exits with the hook's exit code.
//!
//! Hoop passes no flags, so the configuration comes from `HOOKBOX_CONFIG` or
//! the first of `$XDG_CONFIG_HOME/hookbox/config.toml` and
//! `/etc/hookbox/config.toml` that exists. Installed as a `python3` symlink to
//! `hookbox` early in the agent's `PATH`, it needs no change to Hoop; the
//! command-line forms of `python3` that make sense in a sandbox work too
//! (`--version`, `-c CODE`, `-`, a script with arguments, `-u -I -E -B ...`).
//!
//! With `[python] service` in the configuration, the event is handed to that
//! `hookbox serve` instead (see [`crate::service::client`]); when the service
//! does not take it, the hook runs here (`fallback = "run"`) or the command
//! fails with exit code 69 (`fallback = "fail"`).

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::sandbox_flags::SandboxFlags;
use super::stdout::outln;
use crate::env_names;
use crate::exit_code;
use crate::guest::GUEST;
use crate::intake::{Payload, PayloadError};
use crate::service::client::{ForwardError, Forwarder, Queued, sha256_hex};
use crate::settings::{Fallback, Forwarding};
use crate::source::{HookFile, MAX_HOOK_FILE_BYTES};
use crate::tls::TlsSettings;

/// Run a hook the way Hoop's agent runs `python3`: the script on standard
/// input (or `-c CODE`, or a script file), the event in
/// HOOP_RUNBOOK_HOOK_PAYLOAD, in the sandbox under the configured policy,
/// read from HOOKBOX_CONFIG, else $XDG_CONFIG_HOME/hookbox/config.toml,
/// else /etc/hookbox/config.toml. Also runs this way when hookbox is invoked
/// under the name `python3`.
#[derive(Debug, Args)]
pub struct PythonArgs {
    /// As for `python3`: `-c CODE`, `-` or nothing (the script on standard
    /// input), or a script file, each followed by the script's arguments;
    /// `-V`/`--version`; the flags -u -I -E -B -s -S -q -O -P are accepted
    /// and change nothing in the sandbox.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PYTHON ARGS"
    )]
    python: Vec<String>,
    /// Hoop passes none of these: the drop-in takes its policy from the
    /// configuration file. They are here for trying a hook by hand. (After
    /// the positional arguments, so that the heading covers only them.)
    #[command(
        flatten,
        next_help_heading = "Policy flags, for trying a hook by hand (Hoop passes none; the configuration file is the policy)"
    )]
    sandbox: SandboxFlags,
}

/// What a `python3` command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Invocation {
    /// Print the version.
    Version,
    /// Run a script with arguments.
    Run { script: Script, args: Vec<String> },
}

/// Where the script comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Script {
    Stdin,
    Code(String),
    File(PathBuf),
}

/// Flags of `python3` that are accepted and change nothing in the sandbox.
const NO_EFFECT_FLAGS: &str = "uIEBsSqOP";

/// A `python3` command line hookbox cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum UnsupportedForm {
    #[error(
        "`{0}` is not available in hookbox's sandbox; it runs a script (a file, `-c CODE` or standard input)"
    )]
    Option(String),
    #[error("`-c` needs the code to run")]
    MissingCode,
}

/// Reads a `python3` command line.
fn invocation(args: &[String]) -> Result<Invocation, UnsupportedForm> {
    let run = |script, rest: &[String]| Invocation::Run {
        script,
        args: rest.to_vec(),
    };
    let mut index = 0;
    while let Some(arg) = args.get(index) {
        let rest = &args[index + 1..];
        match arg.as_str() {
            "-V" | "--version" => return Ok(Invocation::Version),
            "-" => return Ok(run(Script::Stdin, rest)),
            "--" => {
                return Ok(match rest.split_first() {
                    Some((file, rest)) => run(Script::File(file.into()), rest),
                    None => run(Script::Stdin, rest),
                });
            }
            long if long.starts_with("--") => return Err(UnsupportedForm::Option(long.into())),
            flags if flags.starts_with('-') => {
                let letters = &flags[1..];
                for (at, letter) in letters.char_indices() {
                    if letter == 'c' {
                        let inline = &letters[at + 1..];
                        return match (inline.is_empty(), rest.split_first()) {
                            (false, _) => Ok(run(Script::Code(inline.into()), rest)),
                            (true, Some((code, rest))) => Ok(run(Script::Code(code.clone()), rest)),
                            (true, None) => Err(UnsupportedForm::MissingCode),
                        };
                    }
                    if !NO_EFFECT_FLAGS.contains(letter) {
                        return Err(UnsupportedForm::Option(format!("-{letter}")));
                    }
                }
            }
            file => return Ok(run(Script::File(file.into()), rest)),
        }
        index += 1;
    }
    Ok(run(Script::Stdin, &[]))
}

/// Where an operator's configuration is looked for when nothing names one.
pub(super) fn default_config_paths() -> Vec<PathBuf> {
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
        let (script, args) = match invocation(&self.python) {
            Ok(Invocation::Version) => {
                outln!(
                    "Python {} (hookbox {}: sandboxed, WebAssembly)",
                    GUEST.python_version(),
                    env!("CARGO_PKG_VERSION")
                );
                return Ok(exit_code::OK);
            }
            Ok(Invocation::Run { script, args }) => (script, args),
            Err(unsupported) => {
                eprintln!("hookbox python: {unsupported}");
                return Ok(exit_code::USAGE);
            }
        };
        let default = default_config_paths().into_iter().find(|p| p.is_file());
        let file = self.sandbox.config_file(default.as_deref())?;
        let forwarding = file.python.forwarding(env_names::from_process)?;
        let settings = self.sandbox.resolve_with(file)?;
        let text =
            env_names::from_process(env_names::HOOK_PAYLOAD).ok_or(PayloadError::NotSet {
                variable: env_names::HOOK_PAYLOAD,
            })?;
        let payload = Payload::read_from(
            text.as_bytes(),
            env_names::HOOK_PAYLOAD,
            settings.config.limits.payload_bytes,
        )?;

        let source = match script {
            Script::File(path) => match std::fs::read(&path) {
                Ok(source) => source,
                // As python3 says it, with its exit code.
                Err(error) => {
                    let path = std::path::absolute(&path).unwrap_or(path);
                    let program = std::env::args().next().unwrap_or_else(|| "python3".into());
                    eprintln!(
                        "{program}: can't open file '{}': [Errno {}] {}",
                        path.display(),
                        error.raw_os_error().unwrap_or(0),
                        strerror(&error)
                    );
                    return Ok(exit_code::USAGE);
                }
            },
            Script::Code(code) => code.into_bytes(),
            Script::Stdin => {
                let mut source = Vec::new();
                std::io::stdin()
                    .take(MAX_HOOK_FILE_BYTES + 1)
                    .read_to_end(&mut source)
                    .context("cannot read the script from standard input")?;
                source
            }
        };
        if let Some(forwarding) = &forwarding {
            match forward(forwarding, &settings.ca_bundle, &payload, &source) {
                Ok(queued) => {
                    let again = if queued.duplicate {
                        " (already queued)"
                    } else {
                        ""
                    };
                    outln!("queued {} as run {}{again}", queued.event_id, queued.run_id);
                    return Ok(exit_code::OK);
                }
                Err(error) if forwarding.fallback == Fallback::Run => {
                    eprintln!("hookbox python: {error}; running the hook here instead");
                }
                Err(error) => {
                    return Err(anyhow::Error::new(error)
                        .context("the event was not handed over ([python] fallback = \"fail\")"));
                }
            }
        }
        // The hook's folder holds only the script: nothing of the agent's
        // working directory is visible to it.
        let dir = tempfile::Builder::new()
            .prefix("hookbox-python-")
            .tempdir()
            .context("cannot create a folder for the script")?;
        let path = dir.path().join("hook.runbook.py");
        std::fs::write(&path, &source).context("cannot write the script")?;
        let hook = HookFile::open(&path)?;

        let outcome = super::run::run_once(&hook, &payload, &settings, &args)?;
        super::run::print_output(&outcome)?;
        Ok(exit_code::for_outcome(&outcome))
    }
}

/// Hands the event to the configured service, as one firing of the script
/// `source`.
fn forward(
    forwarding: &Forwarding,
    ca_bundle: &[u8],
    payload: &Payload,
    source: &[u8],
) -> Result<Queued, ForwardError> {
    let setup = |reason: String| ForwardError::Setup {
        url: forwarding.service.clone(),
        reason,
    };
    let tls = TlsSettings::new(ca_bundle)
        .and_then(|settings| settings.config())
        .map_err(setup)?;
    let forwarder = Forwarder::new(
        &forwarding.service,
        forwarding.token.clone(),
        env_names::from_process(env_names::WEBHOOK_SECRET),
        (*tls).clone(),
        forwarding.patience,
    )?;
    forwarder.post(payload, &sha256_hex(source))
}

crate::failure::categorized!(Usage: UnsupportedForm);

/// The C library's text for an I/O error (`No such file or directory`),
/// without the `(os error N)` Rust adds.
fn strerror(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(args: &[&str]) -> Result<Invocation, UnsupportedForm> {
        invocation(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    fn run(script: Script, args: &[&str]) -> Result<Invocation, UnsupportedForm> {
        Ok(Invocation::Run {
            script,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        })
    }

    #[test]
    fn python3_command_lines_read_as_python3_reads_them() {
        assert_eq!(read(&[]), run(Script::Stdin, &[]));
        assert_eq!(read(&["-"]), run(Script::Stdin, &[]));
        assert_eq!(read(&["-V"]), Ok(Invocation::Version));
        assert_eq!(read(&["-u", "--version"]), Ok(Invocation::Version));
        assert_eq!(
            read(&["-c", "print(1)", "a", "-b"]),
            run(Script::Code("print(1)".into()), &["a", "-b"])
        );
        assert_eq!(
            read(&["-uBc", "pass"]),
            run(Script::Code("pass".into()), &[])
        );
        assert_eq!(read(&["-cpass"]), run(Script::Code("pass".into()), &[]));
        assert_eq!(
            read(&["-I", "-E", "hook.py", "-x", "1"]),
            run(Script::File("hook.py".into()), &["-x", "1"])
        );
        assert_eq!(
            read(&["--", "-odd.py"]),
            run(Script::File("-odd.py".into()), &[])
        );
    }

    #[test]
    fn forms_the_sandbox_cannot_honour_are_named() {
        assert_eq!(
            read(&["-m", "http.server"]),
            Err(UnsupportedForm::Option("-m".into()))
        );
        assert_eq!(
            read(&["-W", "ignore"]),
            Err(UnsupportedForm::Option("-W".into()))
        );
        assert_eq!(
            read(&["--help-env"]),
            Err(UnsupportedForm::Option("--help-env".into()))
        );
        assert_eq!(read(&["-c"]), Err(UnsupportedForm::MissingCode));
    }
}
