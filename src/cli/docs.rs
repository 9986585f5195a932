//! `hookbox completions SHELL` and `hookbox man DIR`: shell completions and
//! manual pages, generated from the same command definitions `--help`
//! prints, for packages and for operators; and the Markdown reference in
//! `docs/cli.md` ([`reference_markdown`]), which a test keeps equal to them.

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

/// The command-line reference as Markdown: every command, its usage, and
/// every argument with its help, default, variable and values, from the
/// definitions `--help` prints. `docs/cli.md` holds it; a test fails when
/// they differ (`HOOKBOX_BLESS=1` rewrites the file).
pub fn reference_markdown() -> String {
    let mut command = command();
    command.build();
    let mut text = String::from(
        "# Command-line reference\n\n\
         Generated from the command definitions, as `--help`, `hookbox man` and the completions \
         are; a test fails when this file and they differ \
         (`HOOKBOX_BLESS=1 cargo test --test all cli_reference` rewrites it).\n",
    );
    write_command(&mut text, &command, "hookbox");
    text
}

fn write_command(text: &mut String, command: &clap::Command, path: &str) {
    use std::fmt::Write as _;
    let about = command
        .get_long_about()
        .or(command.get_about())
        .map(|about| about.to_string())
        .unwrap_or_default();
    let _ = write!(text, "\n## `{path}`\n\n{about}\n\n```\n");
    let usage = command.clone().render_usage().to_string();
    let _ = writeln!(text, "{}\n```", usage.trim_end());
    // Global flags are listed once, under `hookbox`.
    let top = path == "hookbox";
    let arguments: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set() && !matches!(arg.get_id().as_str(), "help" | "version"))
        .filter(|arg| top || !arg.is_global_set())
        .collect();
    if !arguments.is_empty() {
        text.push_str("\n| argument | what |\n|---|---|\n");
        for arg in arguments {
            let _ = writeln!(text, "| {} | {} |", arg_name(arg), arg_help(arg));
        }
    }
    // The precedence every command states is written once, under `hookbox`.
    if let Some(after) = command.get_after_help().filter(|_| top) {
        let _ = write!(text, "\n{after}\n");
    }
    for subcommand in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        if subcommand.get_name() == "help" {
            continue;
        }
        write_command(
            text,
            subcommand,
            &format!("{path} {}", subcommand.get_name()),
        );
    }
}

fn arg_name(arg: &clap::Arg) -> String {
    let value = arg
        .get_value_names()
        .map(|names| {
            names
                .iter()
                .map(|n| format!("<{n}>"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let name = match (arg.get_long(), arg.get_short()) {
        (Some(long), _) if arg.get_num_args().is_some_and(|n| n.takes_values()) => {
            format!("--{long} {value}")
        }
        (Some(long), _) => format!("--{long}"),
        (None, Some(short)) => format!("-{short}"),
        (None, None) => value,
    };
    format!("`{}`", name.trim())
}

fn arg_help(arg: &clap::Arg) -> String {
    let mut help = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|help| help.to_string())
        .unwrap_or_default();
    if !help.is_empty() && !help.ends_with(['.', ']', ')']) {
        help.push('.');
    }
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|value| !value.is_hide_set())
        .map(|value| format!("`{}`", value.get_name()))
        .collect();
    if !values.is_empty() {
        help.push_str(&format!(" Values: {}.", values.join(", ")));
    }
    let takes_values = arg.get_num_args().is_some_and(|n| n.takes_values());
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .filter(|_| takes_values)
        .map(|value| value.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() {
        help.push_str(&format!(" Default: `{}`.", defaults.join(",")));
    }
    if let Some(env) = arg.get_env() {
        help.push_str(&format!(" Variable: `{}`.", env.to_string_lossy()));
    }
    help.replace('|', "\\|").replace('\n', " ")
}
