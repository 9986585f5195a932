//! A run outcome as stored (the spool's `outcome` column, the service's
//! API): its JSON with the version of its form beside it, so a hookbox reads
//! an older record by its version, and refuses one a newer hookbox wrote,
//! rather than guessing from which fields are there.

use serde_json::Value;

use crate::RunOutcome;

/// The version of the stored form this hookbox writes, and the newest it
/// reads.
pub const RECORD_VERSION: u64 = 1;

/// The field of a stored outcome that holds its version. Outcomes stored
/// before versions were kept have none, and are read as version 1 (the form
/// did not change).
pub const VERSION_FIELD: &str = "record_version";

/// Why a stored outcome cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum StoredRecordError {
    /// A newer hookbox wrote it.
    #[error(
        "it is record version {found}, written by a newer hookbox (this one reads up to {RECORD_VERSION}): upgrade hookbox to show it"
    )]
    Newer {
        /// The version it says it is.
        found: u64,
    },
    /// Its version is not a whole number.
    #[error("its {VERSION_FIELD} is {found}, not a version number")]
    BadVersion {
        /// What the field holds.
        found: String,
    },
    /// It is not an outcome of its version.
    #[error("it is not a run outcome: {0}")]
    Malformed(#[source] serde_json::Error),
}

hookbox_core::failure::categorized!(Internal: StoredRecordError);

/// `outcome` as stored: its JSON, with [`VERSION_FIELD`] first.
pub fn to_stored(outcome: &RunOutcome) -> Value {
    let mut stored = serde_json::Map::new();
    stored.insert(VERSION_FIELD.into(), RECORD_VERSION.into());
    if let Ok(Value::Object(fields)) = serde_json::to_value(outcome) {
        stored.extend(fields);
    }
    Value::Object(stored)
}

/// The outcome `stored` holds.
pub fn from_stored(mut stored: Value) -> Result<RunOutcome, StoredRecordError> {
    let version = match stored.as_object_mut().and_then(|o| o.remove(VERSION_FIELD)) {
        None => 1,
        Some(version) => version
            .as_u64()
            .filter(|&version| version > 0)
            .ok_or_else(|| StoredRecordError::BadVersion {
                found: version.to_string(),
            })?,
    };
    if version > RECORD_VERSION {
        return Err(StoredRecordError::Newer { found: version });
    }
    serde_json::from_value(stored).map_err(StoredRecordError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunStatus;

    fn outcome() -> RunOutcome {
        let mut outcome = RunOutcome::not_started(String::new());
        outcome.status = RunStatus::Ok;
        outcome.stdout = "sent\n".into();
        outcome.fuel_consumed = 1000;
        outcome
    }

    #[test]
    fn a_stored_outcome_says_its_version_first_and_reads_back() {
        let stored = to_stored(&outcome());
        let first = stored.as_object().unwrap().keys().next().unwrap();
        assert_eq!(first, VERSION_FIELD);
        assert_eq!(stored[VERSION_FIELD], RECORD_VERSION);
        let read = from_stored(stored).unwrap();
        assert_eq!(read.status, RunStatus::Ok);
        assert_eq!(read.stdout, "sent\n");
    }

    #[test]
    fn an_outcome_stored_before_versions_reads_as_the_first() {
        let unversioned = serde_json::to_value(outcome()).unwrap();
        assert!(unversioned.get(VERSION_FIELD).is_none());
        assert_eq!(from_stored(unversioned).unwrap().fuel_consumed, 1000);
    }

    #[test]
    fn a_newer_or_odd_version_is_refused_by_name() {
        let mut newer = to_stored(&outcome());
        newer[VERSION_FIELD] = (RECORD_VERSION + 1).into();
        assert!(matches!(
            from_stored(newer),
            Err(StoredRecordError::Newer { found }) if found == RECORD_VERSION + 1
        ));
        for odd in [
            serde_json::json!("1"),
            serde_json::json!(0),
            serde_json::json!(1.5),
        ] {
            let mut stored = to_stored(&outcome());
            stored[VERSION_FIELD] = odd.clone();
            assert!(
                matches!(
                    from_stored(stored),
                    Err(StoredRecordError::BadVersion { .. })
                ),
                "{odd}"
            );
        }
        let mut broken = to_stored(&outcome());
        broken["status"] = "exploded".into();
        assert!(matches!(
            from_stored(broken),
            Err(StoredRecordError::Malformed(_))
        ));
    }
}
