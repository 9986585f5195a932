//! SSH for the runbooks repository (`ssh://` and `user@host:path`): gix runs
//! the `ssh` program. For one fetch, hookbox writes the key (`GIT_SSH_KEY`,
//! mode 0600), the trusted host keys (`GIT_SSH_KNOWN_HOSTS`) and a small
//! wrapper script into a private temporary directory, and points
//! `core.sshCommand` of the throwaway clone at the wrapper. The wrapper runs
//! `ssh` with no configuration file, only that key (no agent), only those
//! host keys with strict checking, no password prompts, bounded connect and
//! keep-alive times, and its messages in a log file read back to explain a
//! failure. Everything is removed when the fetch ends.
//!
//! A passphrase-protected key is opened through `SSH_ASKPASS`: a helper
//! script next to the key prints `GIT_SSH_KEYPASS` (kept in a 0600 file)
//! when ssh asks, with `SSH_ASKPASS_REQUIRE=force`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::access::{DEFAULT_SSH_USER, GitAccess};
use hookbox_core::env_names::{
    GIT_PASSWORD, GIT_SSH_INSECURE_ACCEPT_ANY_HOST_KEY, GIT_SSH_KEY, GIT_SSH_KEYPASS,
    GIT_SSH_KNOWN_HOSTS,
};

/// Seconds ssh may take to connect.
const CONNECT_TIMEOUT_SECS: u32 = 20;

/// The files of one SSH fetch, removed when dropped.
pub struct SshSession {
    dir: tempfile::TempDir,
    url: gix::Url,
    user: String,
    host: String,
    with_passphrase: bool,
}

impl std::fmt::Debug for SshSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshSession")
            .field("dir", &self.dir.path())
            .field("user", &self.user)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl SshSession {
    /// Writes the key, the host keys and the wrapper for a fetch of `url`
    /// into a new private directory under `work`.
    pub fn new(url: &str, access: &GitAccess, work: &Path) -> Result<SshSession, String> {
        let mut parsed = gix::url::parse(gix::bstr::BStr::new(url))
            .map_err(|e| format!("not a valid SSH URL: {e}"))?;
        let user = access
            .ssh_user
            .clone()
            .or_else(|| parsed.user().map(str::to_owned))
            .unwrap_or_else(|| DEFAULT_SSH_USER.to_owned());
        parsed.set_user(Some(user.clone()));
        parsed.set_password(None);
        let host = parsed.host().unwrap_or_default().to_owned();
        let key = access
            .ssh_key
            .as_ref()
            .ok_or_else(|| format!("an SSH repository needs {GIT_SSH_KEY}"))?;

        let dir = tempfile::Builder::new()
            .prefix("ssh-")
            .tempdir_in(work)
            .map_err(|e| format!("creating the SSH work directory: {e}"))?;
        let io = |what: &str, e: std::io::Error| format!("writing the SSH {what}: {e}");
        let key_file = dir.path().join("key");
        // OpenSSH wants Unix line ends and a final newline.
        let mut key_text = key.expose().replace("\r\n", "\n").trim().to_owned();
        key_text.push('\n');
        write_private(&key_file, key_text.as_bytes(), 0o600).map_err(|e| io("key", e))?;

        let known_hosts = if access.ssh_insecure_accept_any_host_key {
            tracing::warn!(
                host = %host,
                "{GIT_SSH_INSECURE_ACCEPT_ANY_HOST_KEY} is set: any SSH host key is accepted (insecure)"
            );
            None
        } else {
            let file = dir.path().join("known_hosts");
            let text = access
                .ssh_known_hosts
                .as_deref()
                .ok_or_else(|| format!("SSH host keys are verified: set {GIT_SSH_KNOWN_HOSTS}"))?;
            write_private(&file, format!("{}\n", text.trim()).as_bytes(), 0o600)
                .map_err(|e| io("known hosts", e))?;
            Some(file)
        };

        let askpass = match &access.ssh_keypass {
            Some(passphrase) => {
                let passphrase_file = dir.path().join("keypass");
                write_private(&passphrase_file, passphrase.expose().as_bytes(), 0o600)
                    .map_err(|e| io("passphrase", e))?;
                let script = dir.path().join("askpass");
                write_private(
                    &script,
                    format!("#!/bin/sh\ncat {}\n", shell_quote(&passphrase_file)).as_bytes(),
                    0o700,
                )
                .map_err(|e| io("askpass helper", e))?;
                Some(script)
            }
            None => None,
        };

        let wrapper = dir.path().join("ssh");
        let script = wrapper_script(
            &key_file,
            known_hosts.as_deref(),
            askpass.as_deref(),
            &dir.path().join("ssh.log"),
        );
        write_private(&wrapper, script.as_bytes(), 0o700).map_err(|e| io("wrapper", e))?;
        Ok(SshSession {
            dir,
            url: parsed,
            user,
            host,
            with_passphrase: askpass.is_some(),
        })
    }

    /// The URL to fetch, with the SSH user in it.
    pub fn url(&self) -> gix::Url {
        self.url.clone()
    }

    /// Configuration of the throwaway clone that makes gix run the wrapper
    /// as a plain OpenSSH client.
    pub fn config_overrides(&self) -> Vec<String> {
        vec![
            format!(
                "core.sshCommand={}",
                shell_quote(&self.dir.path().join("ssh"))
            ),
            "ssh.variant=ssh".to_owned(),
        ]
    }

    /// Why the server or ssh refused the connection (host key, key,
    /// passphrase), when that is what ssh reported.
    pub fn refusal(&self) -> Option<String> {
        let log = self.log().to_ascii_lowercase();
        let has = |needle: &str| log.contains(needle);
        if has("host key verification failed")
            || has("host identification has changed")
            || has("host key is known")
            || has("no matching host key")
        {
            return Some(format!(
                "the SSH host key of {} is not one {GIT_SSH_KNOWN_HOSTS} trusts: refused \
                 (add the server's known_hosts line; ssh-keyscan prints it)",
                self.host
            ));
        }
        if has("incorrect passphrase") || has("bad passphrase") {
            return Some(format!("{GIT_SSH_KEYPASS} does not open {GIT_SSH_KEY}"));
        }
        if has("permission denied") {
            let or_passphrase = if self.with_passphrase {
                format!(" (or {GIT_SSH_KEYPASS} does not open the key)")
            } else {
                String::new()
            };
            return Some(format!(
                "the SSH server {} refused the key of {GIT_SSH_KEY} for user {:?}{or_passphrase}",
                self.host, self.user
            ));
        }
        None
    }

    /// The last thing ssh said, for a failure it did not explain otherwise.
    pub fn detail(&self) -> Option<String> {
        self.log()
            .lines()
            .map(str::trim)
            .rfind(|line| !line.is_empty())
            .map(|line| format!("ssh: {line}"))
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("ssh.log")).unwrap_or_default()
    }
}

/// The wrapper gix runs as ssh: the operator's secrets leave the
/// environment, the key and host keys are the only ones used.
fn wrapper_script(
    key: &Path,
    known_hosts: Option<&Path>,
    askpass: Option<&Path>,
    log: &Path,
) -> String {
    let mut options: Vec<String> = vec![
        "-F /dev/null".into(),
        format!("-i {}", shell_quote(key)),
        "-o IdentitiesOnly=yes".into(),
        "-o IdentityAgent=none".into(),
        "-o PasswordAuthentication=no".into(),
        "-o KbdInteractiveAuthentication=no".into(),
        "-o PreferredAuthentications=publickey".into(),
        "-o GlobalKnownHostsFile=/dev/null".into(),
        format!("-o ConnectTimeout={CONNECT_TIMEOUT_SECS}"),
        "-o ServerAliveInterval=10".into(),
        "-o ServerAliveCountMax=3".into(),
        "-o LogLevel=ERROR".into(),
    ];
    match known_hosts {
        Some(file) => {
            options.push(format!("-o UserKnownHostsFile={}", shell_quote(file)));
            options.push("-o StrictHostKeyChecking=yes".into());
        }
        None => {
            options.push("-o UserKnownHostsFile=/dev/null".into());
            options.push("-o StrictHostKeyChecking=no".into());
        }
    }
    // BatchMode forbids every prompt, the key's passphrase included; with a
    // passphrase the only prompt left is that one (passwords and host key
    // questions are off above), answered by the askpass helper.
    let askpass_lines = match askpass {
        Some(helper) => {
            options.push("-o BatchMode=no".into());
            options.push("-o NumberOfPasswordPrompts=1".into());
            format!(
                "SSH_ASKPASS={}\nSSH_ASKPASS_REQUIRE=force\nDISPLAY=${{DISPLAY:-hookbox}}\n\
                 export SSH_ASKPASS SSH_ASKPASS_REQUIRE DISPLAY\n",
                shell_quote(helper)
            )
        }
        None => {
            options.push("-o BatchMode=yes".into());
            String::new()
        }
    };
    format!(
        "#!/bin/sh\n\
         # ssh for one fetch of the runbooks repository by hookbox\n\
         unset {GIT_PASSWORD} {GIT_SSH_KEY} {GIT_SSH_KEYPASS}\n\
         {askpass_lines}\
         exec ssh {} \"$@\" 2>>{}\n",
        options.join(" "),
        shell_quote(log)
    )
}

fn write_private(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// Whether a private key's text is passphrase-protected, or why it is not a
/// private key. The key itself never appears in the answer.
pub fn key_is_encrypted(text: &str) -> Result<bool, String> {
    use base64::Engine;

    let text = text.trim();
    let not_a_key = || {
        "does not hold a private key (expected PEM or OpenSSH text from \
         -----BEGIN ... PRIVATE KEY----- to -----END ... PRIVATE KEY-----)"
            .to_owned()
    };
    let first = text.lines().next().unwrap_or_default().trim();
    if !first.starts_with("-----BEGIN ") || !first.ends_with("PRIVATE KEY-----") {
        return Err(not_a_key());
    }
    if first.contains("ENCRYPTED") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Ok(true);
    }
    if first != "-----BEGIN OPENSSH PRIVATE KEY-----" {
        return Ok(false);
    }
    // openssh-key-v1: the magic, then the cipher's name ("none" when clear).
    let body: String = text
        .lines()
        .skip(1)
        .take_while(|line| !line.starts_with("-----END"))
        .flat_map(|line| line.trim().chars())
        .take(64)
        .collect();
    // Base64 is ASCII; anything else is not a key (and would not slice by
    // bytes).
    if !body.is_ascii() {
        return Err(not_a_key());
    }
    let body = &body[..body.len() / 4 * 4];
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| not_a_key())?;
    const MAGIC: &[u8] = b"openssh-key-v1\0";
    let rest = bytes.strip_prefix(MAGIC).ok_or_else(not_a_key)?;
    let length = rest
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(not_a_key)?;
    let cipher = rest.get(4..4 + length).ok_or_else(not_a_key)?;
    Ok(cipher != b"none")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_with_text_that_is_not_ascii_is_not_a_key() {
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
            b3BlbnNzaC\u{e9}1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
            -----END OPENSSH PRIVATE KEY-----\n";
        assert!(
            key_is_encrypted(key)
                .unwrap_err()
                .contains("does not hold a private key")
        );
    }

    #[test]
    fn openssh_keys_tell_whether_they_are_encrypted() {
        // The first bytes of real keys made by ssh-keygen with and without -N.
        let clear = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
            b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
            -----END OPENSSH PRIVATE KEY-----\n";
        let encrypted = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
            b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABC1\n\
            -----END OPENSSH PRIVATE KEY-----\n";
        assert_eq!(key_is_encrypted(clear), Ok(false));
        assert_eq!(key_is_encrypted(encrypted), Ok(true));
        assert_eq!(
            key_is_encrypted(
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n-----END RSA PRIVATE KEY-----"
            ),
            Ok(true)
        );
        assert!(key_is_encrypted("ssh-ed25519 AAAA public key").is_err());
        assert!(key_is_encrypted("-----BEGIN OPENSSH PRIVATE KEY-----\n!!!\n").is_err());
    }

    #[test]
    fn the_wrapper_uses_only_the_given_key_and_host_keys() {
        let script = wrapper_script(
            Path::new("/w/key"),
            Some(Path::new("/w/known hosts")),
            None,
            Path::new("/w/ssh.log"),
        );
        for expected in [
            "unset GIT_PASSWORD GIT_SSH_KEY GIT_SSH_KEYPASS",
            "-F /dev/null",
            "-i '/w/key'",
            "-o IdentitiesOnly=yes",
            "-o UserKnownHostsFile='/w/known hosts'",
            "-o GlobalKnownHostsFile=/dev/null",
            "-o StrictHostKeyChecking=yes",
            "-o BatchMode=yes",
            "\"$@\" 2>>'/w/ssh.log'",
        ] {
            assert!(
                script.contains(expected),
                "{expected} missing from {script}"
            );
        }
        let insecure = wrapper_script(
            Path::new("/w/key"),
            None,
            Some(Path::new("/w/askpass")),
            Path::new("/w/ssh.log"),
        );
        assert!(
            insecure.contains("-o StrictHostKeyChecking=no"),
            "{insecure}"
        );
        assert!(insecure.contains("SSH_ASKPASS='/w/askpass'"), "{insecure}");
        assert!(insecure.contains("SSH_ASKPASS_REQUIRE=force"), "{insecure}");
    }
}
