//! git's allowed-signers file (`gpg.ssh.allowedSignersFile`, the format of
//! `ssh-keygen -Y verify`): which SSH keys may sign the commits hooks run
//! from, for which namespaces and when.
//!
//! One signer per line: `principals [options] keytype base64 [comment]`;
//! blank lines and lines starting with `#` are skipped. Options, separated by
//! commas: `namespaces="git,…"` (a pattern list, `*`, `?` and `!` as in
//! OpenSSH), `valid-after="…"`, `valid-before="…"` (`YYYYMMDD`,
//! `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, in the machine's time zone, or UTC with
//! a trailing `Z`). `cert-authority` lines are refused: list the signing keys
//! themselves. Anything else that is not understood is an error naming the
//! line, never a line silently skipped: a signer list that is read wrong
//! would trust the wrong people.

use ssh_key::{HashAlg, PublicKey, public::KeyData};

/// The signers an operator trusts, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedSigners {
    signers: Vec<AllowedSigner>,
    digest: u64,
    /// The file it was read from, if any.
    file: Option<std::path::PathBuf>,
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedSigner {
    /// The principals as written (e.g. `alice@example.com`).
    pub principals: String,
    /// The key.
    pub key: PublicKey,
    /// The namespaces the key may sign for (`None`: any).
    pub namespaces: Option<String>,
    /// Seconds since the Unix epoch before which the key is not valid.
    pub valid_after: Option<i64>,
    /// Seconds since the Unix epoch after which the key is not valid.
    pub valid_before: Option<i64>,
    /// The line it was read from (1-based).
    pub line: usize,
}

/// Why an allowed-signers file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// The line (1-based).
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

hookbox_core::failure::categorized!(Usage: ParseError);

impl AllowedSigners {
    /// Reads the file's text.
    pub fn parse(text: &str) -> Result<AllowedSigners, ParseError> {
        let mut signers = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let signer = parse_line(trimmed, line_number).map_err(|reason| ParseError {
                line: line_number,
                reason,
            })?;
            signers.push(signer);
        }
        Ok(AllowedSigners {
            signers,
            digest: xxhash_rust::xxh3::xxh3_64(text.as_bytes()),
            file: None,
        })
    }

    /// Reads the file at `path`; it must list at least one signer.
    pub fn read(path: &std::path::Path) -> Result<AllowedSigners, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let mut signers = AllowedSigners::parse(&text).map_err(|e| e.to_string())?;
        if signers.signers.is_empty() {
            return Err(
                "lists no signers, so no commit could be used; add `principal keytype base64` \
                 lines"
                    .into(),
            );
        }
        signers.file = Some(path.to_path_buf());
        Ok(signers)
    }

    /// The file the signers were read from, if any.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    /// The signers, in file order.
    pub fn signers(&self) -> &[AllowedSigner] {
        &self.signers
    }

    /// A digest of the file's text: snapshots verified under one list are
    /// never served under another.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The lines that list `key`.
    pub fn listing(&self, key: &KeyData) -> impl Iterator<Item = &AllowedSigner> {
        self.signers
            .iter()
            .filter(move |signer| signer.key.key_data() == key)
    }
}

impl AllowedSigner {
    /// Whether the line lets its key sign for `namespace`.
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        self.namespaces
            .as_deref()
            .is_none_or(|patterns| matches_pattern_list(namespace, patterns))
    }

    /// Why the key was not valid at `time` (seconds since the epoch), if it
    /// was not.
    pub fn invalid_at(&self, time: i64) -> Option<String> {
        if let Some(after) = self.valid_after.filter(|after| time < *after) {
            return Some(format!(
                "the key is valid only after {} (line {})",
                show_time(after),
                self.line
            ));
        }
        if let Some(before) = self.valid_before.filter(|before| time > *before) {
            return Some(format!(
                "the key expired at {} (line {})",
                show_time(before),
                self.line
            ));
        }
        None
    }
}

/// A key's SHA-256 fingerprint as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn show_time(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(|_| seconds.to_string(), |t| t.to_string())
}

fn parse_line(line: &str, line_number: usize) -> Result<AllowedSigner, String> {
    let (principals, rest) = next_field(line)?;
    let principals = unquote(principals);
    if principals.is_empty() {
        return Err("no principals".into());
    }
    if principals.contains('!') {
        return Err(
            "negated principals (!) match no one in git's verification: list the signers \
             themselves"
                .into(),
        );
    }
    let (second, after_second) = next_field(rest)?;
    let (options, key_text) = if looks_like_key_type(second) {
        (None, rest)
    } else {
        (Some(second), after_second)
    };
    let mut signer = AllowedSigner {
        principals: principals.to_owned(),
        key: parse_key(key_text)?,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        line: line_number,
    };
    if let Some(options) = options {
        for option in split_options(options) {
            apply_option(&mut signer, option)?;
        }
    }
    Ok(signer)
}

fn looks_like_key_type(field: &str) -> bool {
    ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"]
        .iter()
        .any(|prefix| field.starts_with(prefix))
}

fn parse_key(text: &str) -> Result<PublicKey, String> {
    let (key_type, rest) = next_field(text)?;
    let (base64, _comment) = next_field(rest)?;
    if key_type.is_empty() || base64.is_empty() {
        return Err("no key: expected `principals [options] keytype base64`".into());
    }
    if key_type.contains("-cert-v01@") {
        return Err(format!(
            "{key_type} is a certificate: list the signing key itself (its .pub file)"
        ));
    }
    PublicKey::from_openssh(&format!("{key_type} {base64}"))
        .map_err(|error| format!("{key_type} key: {error}"))
}

fn apply_option(signer: &mut AllowedSigner, option: &str) -> Result<(), String> {
    let (name, value) = match option.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (option, None),
    };
    // As OpenSSH: a value is always in double quotes.
    let value = || {
        value
            .and_then(|v| v.strip_prefix('"')?.strip_suffix('"'))
            .ok_or_else(|| format!("option {name} needs a value in double quotes ({name}=\"…\")"))
    };
    let twice = || format!("{name} is given twice");
    match name.to_ascii_lowercase().as_str() {
        "namespaces" if signer.namespaces.is_some() => return Err(twice()),
        "namespaces" => signer.namespaces = Some(value()?.to_owned()),
        "valid-after" if signer.valid_after.is_some() => return Err(twice()),
        "valid-after" => signer.valid_after = Some(parse_time(value()?)?),
        "valid-before" if signer.valid_before.is_some() => return Err(twice()),
        "valid-before" => signer.valid_before = Some(parse_time(value()?)?),
        "cert-authority" => {
            return Err(
                "cert-authority is not supported: list the keys that sign commits themselves"
                    .into(),
            );
        }
        _ => return Err(format!("unknown option {name:?}")),
    }
    Ok(())
}

/// `YYYYMMDD[HHMM[SS]][Z]`, as `ssh-keygen` reads it: in the machine's time
/// zone unless it ends in `Z`.
fn parse_time(text: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "{text:?} is not a time: expected YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, with Z for UTC"
        )
    };
    let (digits, utc) = match text.strip_suffix(['Z', 'z']) {
        Some(digits) => (digits, true),
        None => (text, false),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return Err(bad());
    }
    let number = |range: std::ops::Range<usize>| -> Result<i16, String> {
        digits
            .get(range)
            .map_or(Ok(0), |part| part.parse().map_err(|_| bad()))
    };
    let civil = jiff::civil::DateTime::new(
        number(0..4)?,
        number(4..6)? as i8,
        number(6..8)? as i8,
        number(8..10)? as i8,
        number(10..12)? as i8,
        number(12..14)? as i8,
        0,
    )
    .map_err(|_| bad())?;
    let zone = if utc {
        jiff::tz::TimeZone::UTC
    } else {
        jiff::tz::TimeZone::system()
    };
    let zoned = civil.to_zoned(zone).map_err(|_| bad())?;
    Ok(zoned.timestamp().as_second())
}

/// The next whitespace-separated field (double quotes group) and the rest.
fn next_field(text: &str) -> Result<(&str, &str), String> {
    let text = text.trim_start();
    let mut quoted = false;
    for (at, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Ok((&text[..at], &text[at..])),
            _ => {}
        }
    }
    if quoted {
        return Err("a quote is not closed".into());
    }
    Ok((text, ""))
}

fn split_options(options: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (at, c) in options.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&options[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&options[start..]);
    parts
}

fn unquote(text: &str) -> &str {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
}

/// OpenSSH's `match_pattern_list`: comma-separated patterns with `*` and
/// `?`; a match of a pattern starting with `!` denies outright.
fn matches_pattern_list(name: &str, patterns: &str) -> bool {
    let mut matched = false;
    // Patterns are taken as written: " git" is not "git", as in OpenSSH.
    for pattern in patterns.split(',') {
        match pattern.strip_prefix('!') {
            Some(negated) if wildcard(name.as_bytes(), negated.as_bytes()) => return false,
            Some(_) => {}
            None => matched |= wildcard(name.as_bytes(), pattern.as_bytes()),
        }
    }
    matched
}

fn wildcard(name: &[u8], pattern: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| wildcard(&name[skip..], rest)),
        Some((b'?', rest)) => !name.is_empty() && wildcard(&name[1..], rest),
        Some((c, rest)) => name.first() == Some(c) && wildcard(&name[1..], rest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIlKe++tyIv4Lu/dravlqA3pYLgAPSn0dljn961Aed3w";

    #[test]
    fn lines_with_and_without_options_parse() {
        let text = format!(
            "# release signers\n\nalice@example.com {KEY} alice's laptop\n\
             \"bob@example.com,ops@example.com\" namespaces=\"git,file\",valid-after=\"20260101\",valid-before=\"20261231235959Z\" {KEY}\n"
        );
        let signers = AllowedSigners::parse(&text).unwrap();
        let [alice, bob] = signers.signers() else {
            panic!("{signers:?}")
        };
        assert_eq!(alice.principals, "alice@example.com");
        assert_eq!(alice.line, 3);
        assert!(alice.allows_namespace("git"));
        assert_eq!(bob.principals, "bob@example.com,ops@example.com");
        assert!(bob.allows_namespace("git"));
        assert!(!bob.allows_namespace("file-x"));
        assert_eq!(bob.valid_before, Some(1_798_761_599));
        assert!(bob.invalid_at(1_798_761_600).unwrap().contains("expired"));
        assert!(bob.invalid_at(1_790_000_000).is_none());
    }

    #[test]
    fn what_is_not_understood_is_an_error_naming_the_line() {
        for (text, expected) in [
            (format!("a@b\n\nx@y cert-authority {KEY}"), 3),
            (format!("x@y nosuchoption {KEY}"), 1),
            (format!("x@y valid-after=\"2026\" {KEY}"), 1),
            ("x@y ssh-ed25519 notbase64".to_owned(), 1),
            ("x@y".to_owned(), 1),
            (format!("x@y namespaces=\"git {KEY}"), 1),
            (format!("x@y namespaces=git {KEY}"), 1),
            (
                format!("x@y valid-before=\"20260101\",valid-before=\"20270101\" {KEY}"),
                1,
            ),
            (format!("\"!x@y\" {KEY}"), 1),
        ] {
            let text = text.replace("a@b", &format!("a@b {KEY}"));
            let error = AllowedSigners::parse(&text).unwrap_err();
            assert_eq!(error.line, expected, "{text}: {error}");
        }
    }

    #[test]
    fn namespace_patterns_follow_openssh() {
        assert!(matches_pattern_list("git", "git"));
        assert!(matches_pattern_list("git", "file,g*"));
        assert!(matches_pattern_list("git", "*"));
        assert!(!matches_pattern_list("git", "*,!git"));
        assert!(!matches_pattern_list("git", "file"));
        assert!(matches_pattern_list("git", "g?t"));
    }
}
