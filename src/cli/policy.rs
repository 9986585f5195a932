//! `hookbox policy check`: parse egress rules and print them back normalized.

use super::stdout::outln;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::env_names;
use crate::settings::{self, ConfigFile};

/// Egress policy commands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check rules and print them normalized, one per line (exit 2 on a bad one).
    Check(CheckArgs),
}

/// The rules to check.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A configuration file whose [egress] rules are checked too
    /// [env: HOOKBOX_CONFIG].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A rule, `scheme://host[:port]`. Repeatable.
    #[arg(long = "allow", value_name = "RULE")]
    allow: Vec<String>,
    /// A destination where hooks may turn TLS verification off. Repeatable.
    #[arg(long = "allow-unverified-tls", value_name = "RULE")]
    allow_unverified_tls: Vec<String>,
}

impl PolicyCommand {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<u8> {
        let PolicyCommand::Check(args) = self;
        let file = ConfigFile::find(args.config.as_deref(), None, env_names::from_process)?;
        let policy = settings::resolve_policy(
            &[file.egress.allow, args.allow].concat(),
            &[file.egress.unverified_tls, args.allow_unverified_tls].concat(),
        )?;
        if policy.is_empty() {
            outln!("no rules: all network access is denied");
        }
        for rule in policy.rules() {
            let note = if rule.names_addresses() {
                ""
            } else {
                "  (public addresses only; private, loopback and link-local need an IP or CIDR rule)"
            };
            outln!("allow {rule}{note}");
        }
        for rule in policy.unverified_tls_rules() {
            outln!("unverified TLS {rule}  (insecure: hooks may turn certificate checks off here)");
        }
        Ok(crate::exit_code::OK)
    }
}
