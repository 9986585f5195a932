//! Checks a run against a fixture's expectations and describes every
//! difference: which expectation, what was expected, what happened.

use serde::Serialize;
use serde_json::Value;

use super::fixture::{Expect, ExpectedEgress, toml_to_json};
use hookbox_record::{EgressAttempt, RunOutcome, credentials};
use hookbox_sandbox::egress::recording::normalize_url;

/// One expectation the run did not meet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// What was checked (`exit code`, `egress #1 header authorization`, ...).
    pub subject: String,
    /// What the fixture expected.
    pub expected: String,
    /// What the run did.
    pub actual: String,
}

fn mismatch(
    subject: impl Into<String>,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> Mismatch {
    Mismatch {
        subject: subject.into(),
        expected: expected.into(),
        actual: actual.into(),
    }
}

/// Every way `outcome` differs from `expect`.
pub fn check(expect: &Expect, outcome: &RunOutcome) -> Vec<Mismatch> {
    let mut found = Vec::new();
    let wanted_code = expect.exit_code.unwrap_or(0);
    if outcome.exit_code != Some(wanted_code) {
        let actual = match (outcome.exit_code, &outcome.error) {
            (Some(code), _) => code.to_string(),
            (None, Some(error)) => format!("no exit code: {} ({error})", outcome.status.as_str()),
            (None, None) => format!("no exit code: {}", outcome.status.as_str()),
        };
        found.push(mismatch("exit code", wanted_code.to_string(), actual));
    }
    contains(
        "stdout",
        &expect.stdout_contains,
        &outcome.stdout,
        &mut found,
    );
    contains(
        "stderr",
        &expect.stderr_contains,
        &outcome.stderr,
        &mut found,
    );
    excludes(
        "stdout",
        &expect.stdout_not_contains,
        &outcome.stdout,
        &mut found,
    );
    excludes(
        "stderr",
        &expect.stderr_not_contains,
        &outcome.stderr,
        &mut found,
    );
    if let Some(count) = expect.egress_count
        && count != outcome.egress.len()
    {
        found.push(mismatch(
            "egress count",
            count.to_string(),
            format!("{}{}", outcome.egress.len(), list_attempts(&outcome.egress)),
        ));
    }
    // Each expected attempt matches a later attempt than the one before it.
    let mut next = 0;
    for (index, wanted) in expect.egress.iter().enumerate() {
        let subject = format!("egress #{}", index + 1);
        match (next..outcome.egress.len())
            .find(|&i| differences(wanted, &outcome.egress[i]).is_empty())
        {
            Some(i) => next = i + 1,
            None => {
                // Explain against the closest candidate: the first with the
                // same URL, else the next attempt in order.
                let candidate = outcome.egress[next..]
                    .iter()
                    .find(|a| same_url(wanted, a))
                    .or_else(|| outcome.egress.get(next));
                match candidate {
                    Some(attempt) => {
                        found.extend(differences(wanted, attempt).into_iter().map(|mut m| {
                            m.subject = format!("{subject} {}", m.subject);
                            m
                        }))
                    }
                    None => found.push(mismatch(
                        subject,
                        describe_expected(wanted),
                        format!("no attempt left to match{}", list_attempts(&outcome.egress)),
                    )),
                }
            }
        }
    }
    found
}

fn same_url(wanted: &ExpectedEgress, attempt: &EgressAttempt) -> bool {
    let full = attempt
        .request
        .as_ref()
        .map(|r| r.full_url.clone())
        .or_else(|| attempt_url(attempt));
    wanted.url.as_deref().map(normalized) == full.map(|u| normalized(&u))
}

/// The URL an attempt went to, as a report may show it (masked; the query
/// is compared but never shown).
fn attempt_url(attempt: &EgressAttempt) -> Option<String> {
    attempt
        .request
        .as_ref()
        .map(|r| r.url.clone())
        .or_else(|| attempt.url.clone())
        .or_else(|| Some(attempt.destination()))
}

fn normalized(url: &str) -> String {
    normalize_url(url).unwrap_or_else(|| url.to_owned())
}

/// How one attempt differs from one expectation.
fn differences(wanted: &ExpectedEgress, attempt: &EgressAttempt) -> Vec<Mismatch> {
    let mut found = Vec::new();
    if let Some(method) = &wanted.method
        && !attempt
            .method
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case(method))
    {
        found.push(mismatch(
            "method",
            method.clone(),
            attempt.method.clone().unwrap_or_else(|| "(none)".into()),
        ));
    }
    if let Some(url) = &wanted.url
        && !same_url(wanted, attempt)
    {
        found.push(mismatch(
            "url",
            url.clone(),
            attempt_url(attempt).unwrap_or_default(),
        ));
    }
    let allowed = wanted.allowed.unwrap_or(true);
    if allowed != attempt.allowed {
        let actual = match (&attempt.allowed, &attempt.reason) {
            (false, Some(reason)) => format!("refused: {reason}"),
            (true, _) => format!("allowed by {}", attempt.rule.clone().unwrap_or_default()),
            (false, None) => "refused".into(),
        };
        found.push(mismatch(
            "allowed",
            if allowed { "allowed" } else { "refused" },
            actual,
        ));
        if !attempt.allowed {
            // Nothing was sent, so there is no header or body to compare.
            return found;
        }
    }
    let request = attempt.request.as_ref();
    for (name, value) in &wanted.headers {
        let actual = request.and_then(|r| {
            r.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        });
        if actual.as_deref() != Some(value.as_str()) {
            found.push(mismatch(
                format!("header {name}"),
                format!("{value:?}"),
                actual.map_or_else(
                    || "(not sent)".into(),
                    |v| format!("{:?}", credentials::shown(name, &v)),
                ),
            ));
        }
    }
    let body = request.map_or("", |r| r.body.as_str());
    contains("body", &wanted.body_contains.0, body, &mut found);
    excludes("body", &wanted.body_not_contains.0, body, &mut found);
    if let Some(subset) = &wanted.json {
        match serde_json::from_str::<Value>(body) {
            Ok(actual) => json_subset("json", &toml_to_json(subset), &actual, &mut found),
            Err(error) => found.push(mismatch(
                "json",
                "a JSON body",
                format!("not JSON ({error}): {}", excerpt(body)),
            )),
        }
    }
    found
}

/// Records each needle missing from `text`.
fn contains(what: &str, needles: &[String], text: &str, found: &mut Vec<Mismatch>) {
    for needle in needles.iter().filter(|n| !text.contains(n.as_str())) {
        found.push(mismatch(
            format!("{what} contains"),
            format!("{needle:?}"),
            excerpt(text),
        ));
    }
}

/// Records each needle present in `text`, with where it appears.
fn excludes(what: &str, needles: &[String], text: &str, found: &mut Vec<Mismatch>) {
    for needle in needles {
        if let Some(at) = text.find(needle.as_str()) {
            found.push(mismatch(
                format!("{what} does not contain"),
                format!("no {needle:?}"),
                format!("found at byte {at}: {}", excerpt(&text[at..])),
            ));
        }
    }
}

/// Records where `actual` does not contain `expected`.
fn json_subset(path: &str, expected: &Value, actual: &Value, found: &mut Vec<Mismatch>) {
    match (expected, actual) {
        (Value::Object(wanted), Value::Object(got)) => {
            for (key, value) in wanted {
                let at = format!("{path}.{key}");
                match got.get(key) {
                    Some(actual) => json_subset(&at, value, actual, found),
                    None => found.push(mismatch(at, value.to_string(), "(missing)")),
                }
            }
        }
        (Value::Array(wanted), Value::Array(got)) if wanted.len() == got.len() => {
            for (i, (value, actual)) in wanted.iter().zip(got).enumerate() {
                json_subset(&format!("{path}[{i}]"), value, actual, found);
            }
        }
        // Numbers compare by value: TOML writes 1, JSON may say 1.0.
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        _ if expected == actual => {}
        _ => found.push(mismatch(path, expected.to_string(), actual.to_string())),
    }
}

fn describe_expected(wanted: &ExpectedEgress) -> String {
    [wanted.method.clone(), wanted.url.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

fn list_attempts(attempts: &[EgressAttempt]) -> String {
    attempts
        .iter()
        .map(|a| {
            format!(
                "\n  {} {}",
                a.method.as_deref().unwrap_or(a.scheme.as_str()),
                attempt_url(a).unwrap_or_default()
            )
        })
        .collect()
}

/// A text shortened for a report line.
fn excerpt(text: &str) -> String {
    const MAX: usize = 300;
    if text.is_empty() {
        return "(empty)".into();
    }
    let cut: String = text.chars().take(MAX).collect();
    if cut.len() < text.len() {
        format!("{cut:?}...")
    } else {
        format!("{cut:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_json_subset_reports_each_differing_path() {
        let mut found = Vec::new();
        json_subset(
            "json",
            &json!({"event": {"verb": "exec", "sid": "1"}, "n": 1}),
            &json!({"event": {"verb": "connect", "sid": "1", "more": true}, "n": 1.0}),
            &mut found,
        );
        assert_eq!(
            found,
            vec![mismatch("json.event.verb", "\"exec\"", "\"connect\"")]
        );
        let mut missing = Vec::new();
        json_subset(
            "json",
            &json!({"a": [1, 2]}),
            &json!({"a": [1]}),
            &mut missing,
        );
        assert_eq!(missing.len(), 1);
    }
}
