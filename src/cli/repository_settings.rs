//! The settings `hookbox test` takes from the runbooks repository under test
//! when the operator names no configuration file: `DIR/hookbox.toml`, held
//! to what a repository (anyone who can open a pull request) may grant
//! itself.

use std::path::Path;

use crate::hooktest::repository::{inside, read};
use crate::settings::{ConfigFile, SettingsError};

/// The settings file `hookbox test` reads from the repository when the
/// operator names none.
pub const SETTINGS_FILE: &str = "hookbox.toml";

/// The repository's own settings, `root/hookbox.toml` (the default when it
/// exists), held to what a repository may grant itself: literal variables
/// only (never a value of the host's environment), files inside the
/// repository only, and egress settings only for recorded traffic (under
/// `live`, traffic goes for real only where the command line allows, and
/// the returned note says the file's settings were left out).
pub fn settings(root: &Path, live: bool) -> anyhow::Result<(ConfigFile, Option<String>)> {
    let path = root.join(SETTINGS_FILE);
    if !path.is_file() {
        return Ok(Default::default());
    }
    let bad = |reason: String| SettingsError::Config {
        path: path.clone(),
        reason,
    };
    let text = String::from_utf8(read(root, &path)?).map_err(|e| bad(format!("not UTF-8: {e}")))?;
    let mut file = ConfigFile::parse(&path, &text)?;
    if let Some(name) = file.env.pass.iter().find(|entry| !entry.contains('=')) {
        return Err(bad(format!(
            "[env] pass = [\"{name}\"] passes the host's variable {name} to hooks, and a \
             repository's settings cannot read the host's environment: give it a value there \
             (\"{name}=...\"), or pass it on the command line with --env {name}"
        ))
        .into());
    }
    if let Some(bundle) = &file.egress.ca_bundle {
        file.egress.ca_bundle = Some(inside(root, bundle)?);
    }
    if !file.egress.client_certificates.is_empty() {
        return Err(bad(
            "[[egress.client_certificates]] names keys on the host, and a repository's settings \
             cannot hand the host's keys to its hooks (under hookbox test nothing is sent over \
             TLS anyway): drop the section, or give --client-cert on the command line (or name \
             the file with --config to trust it)"
                .into(),
        )
        .into());
    }
    let mut note = None;
    let egress = &mut file.egress;
    let grants_egress = !(egress.allow.is_empty()
        && egress.unverified_tls.is_empty()
        && egress.ca_bundle.is_none());
    if live && grants_egress {
        note = Some(format!(
            "hookbox test: --live sends only where the command line allows (--allow, \
             --ca-bundle); the [egress] settings of {} are used for recorded runs only (name \
             the file with --config to trust it)",
            path.display()
        ));
        egress.allow.clear();
        egress.unverified_tls.clear();
        egress.ca_bundle = None;
    }
    // Only the sandbox sections apply to `hookbox test`; the others (the git
    // source, the service, the drop-in) are an operator's, never a repository's.
    Ok((
        ConfigFile {
            limits: file.limits,
            egress: file.egress,
            secrets: file.secrets,
            env: file.env,
            ..Default::default()
        },
        note,
    ))
}
