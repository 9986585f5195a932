//! Fixtures: `hoop-hooks/tests/*.toml`, each a payload for one hook plus what
//! the run is expected to do. The format is documented in
//! `docs/testing-hooks.md`; every key but `hook` is optional.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use hookbox_intake::Event;
use hookbox_intake::hoop_payload;
use hookbox_sandbox::egress::recording::CannedResponse;

/// One fixture file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Which hook runs.
    pub hook: EventName,
    /// A payload file, relative to the fixture.
    pub payload: Option<PathBuf>,
    /// Changes to the payload (dotted paths), as `hookbox payload --set`.
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
    /// Extra environment variables for the hook.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Test values of the secrets the host injects (`[[secrets.inject]]`),
    /// by variable; a secret not named here gets `test-value-of-NAME`.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Canned answers of the recording receiver.
    #[serde(default)]
    pub respond: Vec<CannedResponse>,
    /// What the run must do.
    #[serde(default)]
    pub expect: Expect,
}

/// The event a fixture's hook is for, spelled as in file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventName {
    /// `session-open`
    SessionOpen,
    /// `session-close`
    SessionClose,
}

impl From<EventName> for Event {
    fn from(name: EventName) -> Event {
        match name {
            EventName::SessionOpen => Event::SessionOpen,
            EventName::SessionClose => Event::SessionClose,
        }
    }
}

/// What a run is expected to do.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The exit code (default 0).
    pub exit_code: Option<i32>,
    /// Strings that must all appear in stdout.
    #[serde(default)]
    pub stdout_contains: Vec<String>,
    /// Strings that must all appear in stderr.
    #[serde(default)]
    pub stderr_contains: Vec<String>,
    /// Strings that must not appear in stdout.
    #[serde(default)]
    pub stdout_not_contains: Vec<String>,
    /// Strings that must not appear in stderr.
    #[serde(default)]
    pub stderr_not_contains: Vec<String>,
    /// The exact number of connection attempts.
    pub egress_count: Option<usize>,
    /// Attempts that must have been made, in this order.
    #[serde(default)]
    pub egress: Vec<ExpectedEgress>,
}

/// One connection attempt a fixture expects.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedEgress {
    /// The HTTP method.
    pub method: Option<String>,
    /// The URL (`tcp://host:port` for raw TCP); default ports may be left out.
    pub url: Option<String>,
    /// Whether the policy let it through (default true).
    pub allowed: Option<bool>,
    /// Headers that must be present with these values (names ignore case).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A subset the JSON body must contain.
    pub json: Option<toml::Value>,
    /// Strings the body must all contain (one string or a list).
    #[serde(default)]
    pub body_contains: OneOrMore,
    /// Strings the body must not contain (one string or a list).
    #[serde(default)]
    pub body_not_contains: OneOrMore,
}

/// One string or a list of them.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(from = "OneOrList")]
pub struct OneOrMore(pub Vec<String>);

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrList {
    One(String),
    List(Vec<String>),
}

impl From<OneOrList> for OneOrMore {
    fn from(value: OneOrList) -> Self {
        match value {
            OneOrList::One(one) => OneOrMore(vec![one]),
            OneOrList::List(list) => OneOrMore(list),
        }
    }
}

/// Why a fixture cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The fixture or its payload file cannot be read from the repository
    /// (outside it, not a regular file, too large).
    #[error(transparent)]
    Repository(#[from] super::repository::RepositoryFileError),
    /// The file is not a valid fixture.
    #[error("{path} is not a valid fixture: {reason} (see docs/testing-hooks.md)")]
    Invalid {
        /// The fixture.
        path: PathBuf,
        /// What is wrong, with line and column.
        reason: String,
    },
}

impl Fixture {
    /// Reads and parses the fixture at `path`, in the repository `root`.
    pub fn load(root: &Path, path: &Path) -> Result<Fixture, FixtureError> {
        let bytes = super::repository::read(root, path)?;
        let text = String::from_utf8(bytes).map_err(|e| FixtureError::Invalid {
            path: path.to_path_buf(),
            reason: format!("not UTF-8: {e}"),
        })?;
        toml::from_str(&text).map_err(|e| FixtureError::Invalid {
            path: path.to_path_buf(),
            // The parser's message points at the spot with a caret under
            // the line: kept as it is, line breaks and all.
            reason: e.to_string().trim_end().to_owned(),
        })
    }

    /// The payload this fixture (at `path`, in the repository `root`) runs
    /// with: its payload file or the built-in sample, with its changes applied.
    pub fn payload(&self, root: &Path, path: &Path) -> Result<Value, FixtureError> {
        let invalid = |reason: String| FixtureError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let event = Event::from(self.hook);
        let mut payload = match &self.payload {
            Some(file) => {
                let file = path.parent().unwrap_or(Path::new(".")).join(file);
                let bytes = super::repository::read(root, &file)?;
                serde_json::from_slice(&bytes)
                    .map_err(|e| invalid(format!("payload {} is not JSON: {e}", file.display())))?
            }
            None => hoop_payload::sample(event),
        };
        let sets: Vec<String> = self
            .set
            .iter()
            .map(|(key, value)| format!("{key}={}", toml_to_json(value)))
            .collect();
        hoop_payload::apply_sets(&mut payload, event, &sets).map_err(|e| invalid(e.to_string()))?;
        Ok(payload)
    }
}

/// A TOML value as JSON (dates become strings).
pub fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

hookbox_core::failure::categorized!(Usage: FixtureError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixture_changes_the_sample_payload() {
        let fixture: Fixture = toml::from_str(
            r#"
            hook = "session-open"
            [set]
            "event_session_open.connection_name" = "prod-db"
            "event_session_open.connection_reviewers" = ["a", "b"]
            sid = "abc"
            "#,
        )
        .unwrap();
        let payload = fixture
            .payload(Path::new("."), Path::new("tests/x.toml"))
            .unwrap();
        assert_eq!(payload["event_session_open"]["connection_name"], "prod-db");
        assert_eq!(
            payload["event_session_open"]["connection_reviewers"],
            serde_json::json!(["a", "b"])
        );
        assert_eq!(payload["sid"], "abc");
        assert_eq!(
            payload["id"],
            hoop_payload::event_id(Event::SessionOpen, "abc")
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error =
            toml::from_str::<Fixture>("hook = \"session-open\"\n[expect]\nexit = 1\n").unwrap_err();
        assert!(error.to_string().contains("exit"), "{error}");
    }
}
