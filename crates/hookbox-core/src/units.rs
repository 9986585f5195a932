//! Durations, sizes and counts as users write them (`5s`, `64MiB`, `1000`),
//! read with the setting's name in every error, and sizes written back the
//! same way.

/// A written value that cannot be used for the setting it was given to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not a duration.
    #[error("{flag} {value:?} is not a duration: {reason} (write it like 5s, 1500ms or 2m)")]
    BadDuration {
        /// The setting, as its flag (`--timeout`).
        flag: String,
        /// What was given.
        value: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Not a size.
    #[error("{flag} {value:?} is not a size: {reason} (write it like 64MiB, 512KiB or 1048576)")]
    BadSize {
        /// The setting, as its flag (`--memory`).
        flag: String,
        /// What was given.
        value: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Zero, where only more than zero makes sense.
    #[error("{flag} must be greater than zero")]
    Zero {
        /// The setting, as its flag.
        flag: String,
    },
}

crate::failure::categorized!(Usage: UnitError);

/// `value` if it is not zero.
pub fn nonzero(flag: &str, value: u64) -> Result<u64, UnitError> {
    if value == 0 {
        return Err(UnitError::Zero { flag: flag.into() });
    }
    Ok(value)
}

/// The longest duration any setting takes: 100 years (of 365.25 days, as
/// `humantime` counts them). Longer ones wrap or
/// overflow once added to a clock, and mean nothing an operator wants.
pub const LONGEST_DURATION_SECONDS: u64 = 100 * 31_557_600;

/// A duration greater than zero and at most 100 years, written like `5s`,
/// `1500ms` or `2m`.
pub fn parse_duration(flag: &str, value: &str) -> Result<std::time::Duration, UnitError> {
    let bad = |reason: String| UnitError::BadDuration {
        flag: flag.into(),
        value: value.to_owned(),
        reason,
    };
    let duration = humantime::parse_duration(value).map_err(|error| bad(error.to_string()))?;
    if duration.is_zero() {
        return Err(UnitError::Zero { flag: flag.into() });
    }
    if duration.as_secs() > LONGEST_DURATION_SECONDS {
        return Err(bad("longer than 100 years".into()));
    }
    Ok(duration)
}

/// A duration greater than zero and at most 100 years as a configuration
/// file writes it: a
/// string like `"5s"`, `"1500ms"` or `"2m"`, or a whole number of seconds.
/// The same grammar and the same refusal of zero as [`parse_duration`]; a
/// parse error names the key (TOML's errors carry its path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub std::time::Duration);

impl<'de> serde::Deserialize<'de> for ConfigDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Written {
            Seconds(u64),
            Text(String),
        }
        let duration = match Written::deserialize(deserializer)? {
            Written::Seconds(seconds) => std::time::Duration::from_secs(seconds),
            Written::Text(text) => humantime::parse_duration(&text).map_err(|error| {
                serde::de::Error::custom(format!(
                    "{text:?} is not a duration: {error} (write it like \"5s\", \"1500ms\" or \"2m\")"
                ))
            })?,
        };
        if duration.is_zero() {
            return Err(serde::de::Error::custom("must be greater than zero"));
        }
        if duration.as_secs() > LONGEST_DURATION_SECONDS {
            return Err(serde::de::Error::custom("is longer than 100 years"));
        }
        Ok(ConfigDuration(duration))
    }
}

/// A size in bytes greater than zero, written like `64MiB`, `512KiB` or `1048576`.
pub fn parse_size(flag: &str, value: &str) -> Result<u64, UnitError> {
    let size: bytesize::ByteSize = value.parse().map_err(|reason| UnitError::BadSize {
        flag: flag.into(),
        value: value.to_owned(),
        reason,
    })?;
    nonzero(flag, size.as_u64())
}

/// Writes a byte count the way sizes are given: `64 MiB`, `512 KiB`, `1000 bytes`.
pub fn format_bytes(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    match bytes {
        0 => "0 bytes".into(),
        b if b % GIB == 0 => format!("{} GiB", b / GIB),
        b if b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_like_flags() {
        assert_eq!(format_bytes(64 * 1024 * 1024), "64 MiB");
        assert_eq!(format_bytes(1536), "1536 bytes");
        assert_eq!(format_bytes(2048), "2 KiB");
        assert_eq!(parse_size("--memory", "64MiB"), Ok(64 * 1024 * 1024));
    }

    #[test]
    fn configuration_durations_read_text_or_seconds_and_never_zero() {
        #[derive(serde::Deserialize)]
        struct Section {
            wait: ConfigDuration,
        }
        let read = |text: &str| toml::from_str::<Section>(text).map(|s| s.wait.0);
        assert_eq!(read("wait = \"1500ms\"").unwrap().as_millis(), 1500);
        assert_eq!(read("wait = 300").unwrap().as_secs(), 300);
        for bad in [
            "wait = \"0s\"",
            "wait = 0",
            "wait = \"soon\"",
            "wait = -1",
            "wait = 9223372036854775807",
            "wait = \"300000000years\"",
        ] {
            let error = read(bad).unwrap_err().to_string();
            assert!(error.contains("wait"), "{bad}: {error}");
        }
        assert!(
            read("wait = \"0s\"")
                .unwrap_err()
                .to_string()
                .contains("greater than zero")
        );
    }

    #[test]
    fn zero_and_nonsense_are_named() {
        assert_eq!(
            parse_duration("--grace", "0s"),
            Err(UnitError::Zero {
                flag: "--grace".into()
            })
        );
        assert!(matches!(
            parse_size("--memory", "lots"),
            Err(UnitError::BadSize { flag, .. }) if flag == "--memory"
        ));
        assert!(matches!(
            parse_duration("--timeout", "300000000years"),
            Err(UnitError::BadDuration { flag, .. }) if flag == "--timeout"
        ));
        assert!(parse_duration("--timeout", "100years").is_ok());
    }
}
