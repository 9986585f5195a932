//! The event payload: Hoop's request JSON, handed to the hook unchanged in
//! `HOOP_RUNBOOK_HOOK_PAYLOAD`. It must be a JSON object no larger than the cap.

use std::io::Read;
use std::path::Path;

/// A validated payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    json: String,
}

/// Why a payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The payload could not be read.
    #[error("cannot read the payload from {from}: {source}")]
    Read {
        /// Where it was read from (a path or "standard input").
        from: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The environment variable that carries the payload is not set.
    #[error(
        "{variable} is not set: Hoop sets it to the event JSON; to try a hook by hand, \
         use `hookbox run HOOK --payload FILE`"
    )]
    NotSet {
        /// The variable.
        variable: &'static str,
    },
    /// The payload is over the size cap.
    #[error(
        "the payload from {from} is larger than the {limit}-byte limit; raise it with --max-payload"
    )]
    TooLarge {
        /// Where it was read from.
        from: String,
        /// The cap in bytes.
        limit: u64,
    },
    /// The payload is not valid JSON.
    #[error("the payload from {from} is not valid JSON: {message}")]
    NotJson {
        /// Where it was read from.
        from: String,
        /// What the parser said, with line and column.
        message: String,
    },
    /// The payload is JSON, but not an object.
    #[error("the payload from {from} must be a JSON object like Hoop sends, not {found}")]
    NotObject {
        /// Where it was read from.
        from: String,
        /// The JSON type found instead.
        found: &'static str,
    },
}

impl Payload {
    /// Reads a payload from a file, or from standard input when `path` is `-`.
    pub fn read(path: &Path, limit: u64) -> Result<Payload, PayloadError> {
        if path == Path::new("-") {
            Self::read_from(std::io::stdin().lock(), "standard input", limit)
        } else {
            let from = path.display().to_string();
            let file = std::fs::File::open(path).map_err(|source| PayloadError::Read {
                from: from.clone(),
                source,
            })?;
            Self::read_from(file, &from, limit)
        }
    }

    /// Reads at most `limit` bytes from `reader` and validates them.
    pub fn read_from(reader: impl Read, from: &str, limit: u64) -> Result<Payload, PayloadError> {
        let mut bytes = Vec::new();
        reader
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|source| PayloadError::Read {
                from: from.to_owned(),
                source,
            })?;
        if bytes.len() as u64 > limit {
            return Err(PayloadError::TooLarge {
                from: from.to_owned(),
                limit,
            });
        }
        Self::from_bytes(bytes, from)
    }

    /// Validates bytes already in memory (the size cap is the caller's job).
    pub fn from_bytes(bytes: Vec<u8>, from: &str) -> Result<Payload, PayloadError> {
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|error| PayloadError::NotJson {
                from: from.to_owned(),
                message: error.to_string(),
            })?;
        let found = match value {
            serde_json::Value::Object(_) => {
                // Valid JSON is valid UTF-8.
                let json = String::from_utf8(bytes).expect("JSON text is UTF-8");
                return Ok(Payload { json });
            }
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "a boolean",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Array(_) => "an array",
        };
        Err(PayloadError::NotObject {
            from: from.to_owned(),
            found,
        })
    }

    /// A payload written from a JSON object (keys keep their order).
    pub fn from_value(value: &serde_json::Value) -> Payload {
        Payload {
            json: value.to_string(),
        }
    }

    /// The payload text exactly as received.
    pub fn as_str(&self) -> &str {
        &self.json
    }
}

hookbox_core::failure::categorized!(Usage: PayloadError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_is_kept_byte_for_byte() {
        let text = "{ \"sid\" : \"abc\" }\n";
        let payload = Payload::read_from(text.as_bytes(), "test", 100).unwrap();
        assert_eq!(payload.as_str(), text);
    }

    #[test]
    fn an_array_is_refused() {
        let error = Payload::read_from(&b"[1]"[..], "test", 100).unwrap_err();
        assert!(matches!(
            error,
            PayloadError::NotObject {
                found: "an array",
                ..
            }
        ));
    }

    #[test]
    fn broken_json_is_refused() {
        let error = Payload::read_from(&b"{\"a\": "[..], "test", 100).unwrap_err();
        assert!(matches!(error, PayloadError::NotJson { .. }));
    }

    #[test]
    fn a_payload_over_the_cap_is_refused() {
        let error = Payload::read_from(&b"{\"a\": \"0123456789\"}"[..], "test", 10).unwrap_err();
        assert!(matches!(error, PayloadError::TooLarge { limit: 10, .. }));
    }
}
