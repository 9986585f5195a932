//! Signed hooks only: with `GIT_ALLOWED_SIGNERS`, a fetched commit is used
//! only when an allowed SSH key signed it (git's `gpg.format=ssh`). Real
//! repositories signed by `git commit -S` with keys `ssh-keygen` makes, and
//! commits forged by hand where git would not make them. HTTPS and SSH
//! transports are in `git_transports`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hookbox::intake::Event;
use hookbox::source::git::config::{GitConfig, GitConfigError, GitSection};
use hookbox::source::git::fetch::FetchError;
use hookbox::source::git::signing::SignatureRefusal;
use hookbox::source::git::{GitSource, SourceError};

use crate::source::{TestRepo, hook_text};

/// Keys made for one test, and an allowed-signers file.
pub struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    /// An empty folder for keys.
    pub fn new() -> Keys {
        Keys {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Makes the ed25519 key `name` (no passphrase); its private key path.
    pub fn make(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&path)
            .status()
            .expect("ssh-keygen (OpenSSH's client; tests/run.sh installs it)");
        assert!(status.success());
        path
    }

    /// `keytype base64` of the key at `private`.
    pub fn public(private: &Path) -> String {
        let text = std::fs::read_to_string(private.with_extension("pub")).unwrap();
        let fields: Vec<&str> = text.split_whitespace().take(2).collect();
        fields.join(" ")
    }

    /// The SHA-256 fingerprint `ssh-keygen -l` gives the key.
    pub fn fingerprint(private: &Path) -> String {
        let output = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(private.with_extension("pub"))
            .output()
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        text.split_whitespace().nth(1).unwrap().to_owned()
    }

    /// Writes an allowed-signers file with `lines`; its path.
    pub fn allowed_signers(&self, lines: &[String]) -> PathBuf {
        let path = self.dir.path().join("allowed_signers");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }
}

/// A source for `repo` requiring the signers in `allowed`, cached in `cache`.
fn signed_source(repo: &TestRepo, allowed: &Path, cache: &Path) -> GitSource {
    let vars: HashMap<&str, String> = [
        ("GIT_URL", repo.path().display().to_string()),
        ("GIT_HOOK_CONFIG_TTL", "300".into()),
        ("GIT_ALLOWED_SIGNERS", allowed.display().to_string()),
    ]
    .into();
    let settings = GitConfig::resolve(&GitSection::default(), |name| vars.get(name).cloned())
        .unwrap_or_else(|e| panic!("{e}"));
    GitSource::new(settings, cache)
}

/// The refusal a fetch ends with, and the key it names; panics otherwise.
fn refused(source: &GitSource, commit: &str) -> (SignatureRefusal, Option<String>) {
    match source.fetch() {
        Err(SourceError::Fetch(FetchError::Unverified {
            commit: refused,
            key,
            refusal,
            ..
        })) => {
            assert_eq!(refused, commit, "the refused commit is named");
            (refusal, key)
        }
        other => panic!("expected a refusal of {commit}, got {other:?}"),
    }
}

const HOOK_PATH: &str = "hoop-hooks/session-open.runbook.py";

#[test]
fn only_commits_signed_by_an_allowed_key_are_used_and_the_last_verified_keeps_serving() {
    let keys = Keys::new();
    let alice = keys.make("alice");
    let mallory = keys.make("mallory");
    let allowed = keys.allowed_signers(&[format!(
        "alice@example.com namespaces=\"git\" {}",
        Keys::public(&alice)
    )]);
    let repo = TestRepo::new("main");
    repo.sign_with(&alice);
    repo.write(HOOK_PATH, b"print('v1 by alice')\n");
    let first = repo.commit("v1");
    let cache = tempfile::tempdir().unwrap();
    let source = signed_source(&repo, &allowed, cache.path());

    let snapshot = source.fetch().unwrap();
    assert_eq!(snapshot.commit, first);
    let signer = snapshot.signer.clone().expect("a signer is recorded");
    assert_eq!(signer.principals, "alice@example.com");
    assert_eq!(signer.fingerprint, Keys::fingerprint(&alice));

    // Signed by a key not in the list: never materialized, v1 keeps running.
    repo.sign_with(&mallory);
    repo.write(HOOK_PATH, b"print('v2 by mallory')\n");
    let by_mallory = repo.commit("v2");
    let (refusal, key) = refused(&source, &by_mallory);
    assert_eq!(refusal, SignatureRefusal::UnknownKey);
    assert_eq!(key.as_deref(), Some(Keys::fingerprint(&mallory).as_str()));
    assert_eq!(
        hook_text(&source, Event::SessionOpen).as_deref(),
        Some("print('v1 by alice')\n")
    );
    let status = source.status();
    assert_eq!(status.snapshot.unwrap().commit, first);
    let shown = status.fetch.refused_commit.clone().unwrap();
    assert_eq!(shown.commit, by_mallory);
    assert!(
        shown.reason.contains("not in the allowed signers"),
        "{shown:?}"
    );

    // Unsigned: refused too.
    repo.write(HOOK_PATH, b"print('v3 unsigned')\n");
    let unsigned = repo.commit_unsigned("v3");
    let (refusal, key) = refused(&source, &unsigned);
    assert_eq!((refusal, key), (SignatureRefusal::Unsigned, None));
    assert_eq!(
        hook_text(&source, Event::SessionOpen).as_deref(),
        Some("print('v1 by alice')\n")
    );
    assert_eq!(source.status().fetch.commits_refused, 2);

    // Signed by alice again: it runs, and the refusal is cleared.
    repo.sign_with(&alice);
    repo.write(HOOK_PATH, b"print('v4 by alice')\n");
    let fourth = repo.commit("v4");
    assert_eq!(source.fetch().unwrap().commit, fourth);
    assert_eq!(
        hook_text(&source, Event::SessionOpen).as_deref(),
        Some("print('v4 by alice')\n")
    );
    let status = source.status();
    assert!(status.fetch.refused_commit.is_none());
    assert_eq!(status.fetch.commits_refused, 2, "the count is kept");
}

#[test]
fn a_key_outside_its_validity_or_namespaces_is_refused() {
    let keys = Keys::new();
    let alice = keys.make("alice");
    let repo = TestRepo::new("main");
    repo.sign_with(&alice);
    repo.write(HOOK_PATH, b"print('hi')\n");
    let commit = repo.commit("hook");
    let public = Keys::public(&alice);
    for (options, expected) in [
        ("valid-before=\"20200101Z\"", "expired"),
        ("valid-after=\"29990101\"", "valid only after"),
        ("namespaces=\"file\"", "namespaces= on line 1"),
        ("namespaces=\"*,!git\"", "namespaces= on line 1"),
    ] {
        let allowed = keys.allowed_signers(&[format!("alice@example.com {options} {public}")]);
        let cache = tempfile::tempdir().unwrap();
        let source = signed_source(&repo, &allowed, cache.path());
        let (refusal, key) = refused(&source, &commit);
        assert!(
            refusal.to_string().contains(expected),
            "{options}: {refusal}"
        );
        assert!(key.unwrap().contains("alice@example.com"));
        // With no verified snapshot, a lookup fails naming the reason.
        let error = source.hook(Event::SessionOpen).unwrap_err();
        assert!(matches!(error, SourceError::NoSnapshot(_)), "{error}");
        assert!(error.to_string().contains(expected), "{error}");
    }
    // A later line listing the same key within its validity lets it in.
    let allowed = keys.allowed_signers(&[
        format!("old@example.com valid-before=\"20200101Z\" {public}"),
        format!("alice@example.com valid-after=\"20200101Z\" {public}"),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let snapshot = signed_source(&repo, &allowed, cache.path())
        .fetch()
        .unwrap();
    assert_eq!(snapshot.signer.unwrap().principals, "alice@example.com");
}

/// Writes a commit object made by hand (git would not make it) and points
/// `main` at it; its id.
fn forge(repo: &TestRepo, object: &str) -> String {
    let id = repo.git_with_input(&["hash-object", "-t", "commit", "-w", "--stdin"], object);
    repo.git(&["update-ref", "refs/heads/main", &id]);
    id
}

/// `object` with `signature` as its `gpgsig` header, after the committer.
fn with_gpgsig(object: &str, signature: &str) -> String {
    let (headers, message) = object.split_once("\n\n").unwrap();
    let folded = signature.trim_end().replace('\n', "\n ");
    format!("{headers}\ngpgsig {folded}\n\n{message}")
}

/// `ssh-keygen -Y sign` of `data` with `key` for `namespace`.
fn ssh_sign(key: &Path, namespace: &str, data: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload");
    std::fs::write(&file, data).unwrap();
    let status = Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", namespace, "-f"])
        .arg(key)
        .arg(&file)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(file.with_extension("sig")).unwrap()
}

#[test]
fn a_tree_swapped_after_signing_and_signatures_not_made_for_git_are_refused() {
    let keys = Keys::new();
    let alice = keys.make("alice");
    let allowed = keys.allowed_signers(&[format!("alice@example.com {}", Keys::public(&alice))]);
    let repo = TestRepo::new("main");
    repo.sign_with(&alice);
    repo.write(HOOK_PATH, b"print('reviewed')\n");
    let reviewed = repo.commit("reviewed");
    repo.write(HOOK_PATH, b"print('exfiltrate')\n");
    repo.git(&["add", "-A"]);
    let evil_tree = repo.git(&["write-tree"]);
    let signed_object = repo.git(&["cat-file", "commit", &reviewed]) + "\n";
    let cache = tempfile::tempdir().unwrap();
    let source = signed_source(&repo, &allowed, cache.path());

    // The reviewed commit's signature over another tree.
    let good_tree = repo.git(&["rev-parse", &format!("{reviewed}^{{tree}}")]);
    let swapped = signed_object.replacen(
        &format!("tree {good_tree}"),
        &format!("tree {evil_tree}"),
        1,
    );
    assert_ne!(swapped, signed_object);
    let forged = forge(&repo, &swapped);
    let (refusal, key) = refused(&source, &forged);
    assert_eq!(refusal, SignatureRefusal::BadSignature);
    assert!(key.unwrap().contains(&Keys::fingerprint(&alice)));
    assert!(source.status().snapshot.is_none(), "nothing materialized");

    // A signature alice made for another purpose (namespace "file").
    let unsigned_object = repo.git(&["cat-file", "commit", &repo.commit_unsigned("plain")]) + "\n";
    let file_signature = ssh_sign(&alice, "file", &unsigned_object);
    let forged = forge(&repo, &with_gpgsig(&unsigned_object, &file_signature));
    let (refusal, _) = refused(&source, &forged);
    assert_eq!(refusal, SignatureRefusal::WrongNamespace("file".into()));

    // The same payload signed for "git" is what git makes, and is accepted.
    let git_signature = ssh_sign(&alice, "git", &unsigned_object);
    let accepted = forge(&repo, &with_gpgsig(&unsigned_object, &git_signature));
    assert_eq!(source.fetch().unwrap().commit, accepted);

    // OpenPGP and garbage are refused by name.
    let pgp = "-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCAAdFiEE\n-----END PGP SIGNATURE-----\n";
    let forged = forge(&repo, &with_gpgsig(&unsigned_object, pgp));
    assert_eq!(
        refused(&source, &forged).0,
        SignatureRefusal::NotSsh("OpenPGP")
    );
    let garbage =
        "-----BEGIN SSH SIGNATURE-----\nbm90IGEgc2lnbmF0dXJl\n-----END SSH SIGNATURE-----\n";
    let forged = forge(&repo, &with_gpgsig(&unsigned_object, garbage));
    assert!(matches!(
        refused(&source, &forged).0,
        SignatureRefusal::Malformed(_)
    ));
    // The last verified snapshot is the one still served.
    assert_eq!(source.status().snapshot.unwrap().commit, accepted);
}

#[test]
fn removing_a_key_stops_its_snapshots_at_once() {
    let keys = Keys::new();
    let alice = keys.make("alice");
    let bob = keys.make("bob");
    let repo = TestRepo::new("main");
    repo.sign_with(&alice);
    repo.write(HOOK_PATH, b"print('by alice')\n");
    let commit = repo.commit("hook");
    let cache = tempfile::tempdir().unwrap();
    let both = keys.allowed_signers(&[
        format!("alice@example.com {}", Keys::public(&alice)),
        format!("bob@example.com {}", Keys::public(&bob)),
    ]);
    signed_source(&repo, &both, cache.path()).fetch().unwrap();
    // Alice's key is revoked: the cached snapshot she signed is not served.
    let bob_only = keys.allowed_signers(&[format!("bob@example.com {}", Keys::public(&bob))]);
    let source = signed_source(&repo, &bob_only, cache.path());
    assert!(source.status().snapshot.is_none());
    let error = source.hook(Event::SessionOpen).unwrap_err();
    assert!(error.to_string().contains(&commit), "{error}");
    assert!(
        error.to_string().contains("not in the allowed signers"),
        "{error}"
    );
}

#[test]
fn an_allowed_signers_file_that_cannot_be_read_right_is_a_settings_error() {
    let keys = Keys::new();
    let alice = keys.make("alice");
    let resolve = |path: &Path| {
        let vars: HashMap<&str, String> = [
            ("GIT_URL", "/srv/runbooks".to_owned()),
            ("GIT_HOOK_CONFIG_TTL", "300".into()),
            ("GIT_ALLOWED_SIGNERS", path.display().to_string()),
        ]
        .into();
        GitConfig::resolve(&GitSection::default(), |name| vars.get(name).cloned())
    };
    for (lines, expected) in [
        (vec!["# nobody".to_owned()], "lists no signers"),
        (
            vec![format!("a@b cert-authority {}", Keys::public(&alice))],
            "line 1: cert-authority is not supported",
        ),
        (
            vec![
                format!("a@b {}", Keys::public(&alice)),
                "b@c ssh-ed25519 AAAAnot-a-key".to_owned(),
            ],
            "line 2: ssh-ed25519 key",
        ),
    ] {
        let path = keys.allowed_signers(&lines);
        match resolve(&path) {
            Err(GitConfigError::Bad { variable, reason }) => {
                assert_eq!(variable, "GIT_ALLOWED_SIGNERS");
                assert!(reason.contains(expected), "{reason}");
            }
            other => panic!("{lines:?}: {other:?}"),
        }
    }
    assert!(matches!(
        resolve(Path::new("/nonexistent/allowed_signers")),
        Err(GitConfigError::Bad { .. })
    ));
}

fn hookbox_signed(repo: &Path, allowed: &Path, cache: &Path, args: &[&str]) -> Output {
    crate::support::runtime();
    Command::new(env!("CARGO_BIN_EXE_hookbox"))
        .env("HOOKBOX_CACHE_DIR", crate::support::cache_dir())
        .env("GIT_URL", repo)
        .env("GIT_HOOK_CONFIG_TTL", "300")
        .env("GIT_ALLOWED_SIGNERS", allowed)
        .env_remove("GIT_BRANCH")
        .env("XDG_CACHE_HOME", cache)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_cli_records_the_signer_and_names_a_refused_commit() {
    let keys = Keys::new();
    let alice = keys.make("alice");
    let allowed = keys.allowed_signers(&[format!("alice@example.com {}", Keys::public(&alice))]);
    let repo = TestRepo::new("main");
    repo.write(HOOK_PATH, b"print('unsigned hook')\n");
    let unsigned = repo.commit_unsigned("unsigned");
    let cache = tempfile::tempdir().unwrap();
    let payload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(payload.path(), crate::support::SESSION_OPEN).unwrap();
    let payload_arg = payload.path().display().to_string();
    let run_args = [
        "run",
        "--event",
        "session-open",
        "--payload",
        &payload_arg,
        "--json",
    ];

    let ran = hookbox_signed(repo.path(), &allowed, cache.path(), &run_args);
    assert_eq!(ran.status.code(), Some(69), "no verified snapshot: exit 69");
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(stderr.contains(&unsigned), "{stderr}");
    assert!(stderr.contains("not signed"), "{stderr}");
    assert!(!String::from_utf8_lossy(&ran.stdout).contains("unsigned hook"));
    let status = hookbox_signed(repo.path(), &allowed, cache.path(), &["source", "status"]);
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(
        shown.contains(&format!(
            "refused commit {unsigned}: the commit is not signed"
        )),
        "{shown}"
    );

    repo.sign_with(&alice);
    repo.write(HOOK_PATH, b"print('signed hook')\n");
    let signed = repo.commit("signed");
    let fetched = hookbox_signed(repo.path(), &allowed, cache.path(), &["source", "fetch"]);
    let shown = String::from_utf8_lossy(&fetched.stdout);
    let fingerprint = Keys::fingerprint(&alice);
    assert!(
        shown.contains(&format!("signed by alice@example.com ({fingerprint})")),
        "{shown}"
    );
    let ran = hookbox_signed(repo.path(), &allowed, cache.path(), &run_args);
    assert_eq!(
        ran.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let outcome: serde_json::Value = serde_json::from_slice(&ran.stdout).unwrap();
    assert_eq!(outcome["stdout"], "signed hook\n");
    assert_eq!(outcome["provenance"]["commit"], signed);
    assert_eq!(outcome["provenance"]["branch"], "main");
    assert_eq!(
        outcome["provenance"]["signer"]["principals"],
        "alice@example.com"
    );
    assert_eq!(outcome["provenance"]["signer"]["fingerprint"], fingerprint);
}

#[test]
fn a_branch_moved_back_to_an_older_signed_commit_is_not_followed() {
    let keys = Keys::new();
    let alice = keys.make("alice");
    let allowed = keys.allowed_signers(&[format!("alice@example.com {}", Keys::public(&alice))]);
    let repo = TestRepo::new("main");
    repo.sign_with(&alice);
    repo.write(HOOK_PATH, b"print('v1, with a known bug')\n");
    let v1 = repo.commit_at("v1", 1_780_000_000);
    repo.write(HOOK_PATH, b"print('v2, fixed')\n");
    let v2 = repo.commit_at("v2", 1_780_000_100);
    let cache = tempfile::tempdir().unwrap();
    let source = signed_source(&repo, &allowed, cache.path());
    assert_eq!(source.fetch().unwrap().commit, v2);

    // Whoever can push (without alice's key) moves main back to v1.
    repo.git(&["reset", "-q", "--hard", &v1]);
    let (refusal, _) = refused(&source, &v1);
    assert_eq!(refusal, SignatureRefusal::Older { last: v2.clone() });
    assert_eq!(
        hook_text(&source, Event::SessionOpen).as_deref(),
        Some("print('v2, fixed')\n")
    );

    // A new signed commit on top (a revert) is followed.
    repo.write(HOOK_PATH, b"print('v3, reverted on purpose')\n");
    let v3 = repo.commit_at("v3", 1_780_000_200);
    assert_eq!(source.fetch().unwrap().commit, v3);
}
