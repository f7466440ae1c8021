//! `ironworx verify EXPECTATIONS.toml`: reads the expectations ([`crate::domain::expect`]),
//! checks them against `live` or an export, prints the result as text, JSON or JUnit XML (with
//! the explanation of each failure) and exits 1 when one fails.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::{Value, json};

use crate::cli::diff::{load, parse_state};
use crate::cli::explain::{steps_text, verdict};
use crate::config::Config;
use crate::domain::expect::{Check, Verdict, check, parse};
use crate::markup::escape;

/// What to verify.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct VerifyArgs {
    /// The expectations (TOML, `[[expect]]` tables).
    pub expectations: PathBuf,
    /// The state to check: `live` (the configured database) or an export.
    #[arg(long, default_value = "live")]
    pub against: String,
    /// `text`, `json` or `junit`.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// How the result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per case, failures with their explanation.
    Text,
    /// One object with every case.
    Json,
    /// JUnit XML: one testcase per case, for CI systems.
    Junit,
}

/// Runs `ironworx verify`; `Ok(false)` when an expectation failed.
pub async fn run(config: Config, args: VerifyArgs) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(&args.expectations)
        .with_context(|| format!("cannot read {}", args.expectations.display()))?;
    let file = args.expectations.display().to_string();
    let expectations =
        parse(&text).with_context(|| format!("{file} is not a valid expectations file"))?;
    let source = parse_state(&args.against)?;
    let state = load(&config, &source).await?;
    let checks = check(&state, &expectations);
    let out = match args.format {
        Format::Text => text_report(&file, &checks),
        Format::Json => format!("{:#}\n", json_report(&file, &args.against, &checks)),
        Format::Junit => junit(&file, &checks),
    };
    print!("{out}");
    Ok(checks.iter().all(Check::passed))
}

/// `file.toml:8: bob: PropertyRead on temperature of Things/S should be allowed`.
fn case_name(file: &str, check: &Check) -> String {
    let e = check.expectation;
    let who = match (&check.user, &e.subject) {
        (Some(user), crate::domain::expect::Subject::Group(g)) => format!("{user} (group {g})"),
        (Some(user), _) => user.clone(),
        (None, crate::domain::expect::Subject::User(u)) => u.clone(),
        (None, crate::domain::expect::Subject::Group(g)) => format!("group {g}"),
    };
    format!("{file}:{}: {who}: {}", e.line, e.describe())
}

/// Why a case failed, in one line; `None` when it passed.
fn failure(check: &Check) -> Option<String> {
    match &check.verdict {
        Verdict::Met(_) => None,
        Verdict::Failed(explanation) => Some(format!(
            "expected {}, is {}",
            if check.expectation.allowed {
                "allowed"
            } else {
                "denied"
            },
            verdict(explanation.outcome)
        )),
        Verdict::Unknown(reason) => Some(reason.clone()),
    }
}

fn explanation_text(check: &Check, indent: &str) -> String {
    match &check.verdict {
        Verdict::Met(e) | Verdict::Failed(e) => steps_text(&e.steps, indent),
        Verdict::Unknown(_) => String::new(),
    }
}

fn text_report(file: &str, checks: &[Check]) -> String {
    let mut out = String::new();
    for check in checks {
        match failure(check) {
            None => out.push_str(&format!("ok    {}\n", case_name(file, check))),
            Some(why) => {
                out.push_str(&format!("FAIL  {}: {why}\n", case_name(file, check)));
                out.push_str(&explanation_text(check, "      "));
            }
        }
    }
    let failed = checks.iter().filter(|c| !c.passed()).count();
    out.push_str(&format!(
        "expectations: {} met, {failed} failed\n",
        checks.len() - failed
    ));
    out
}

fn json_report(file: &str, against: &str, checks: &[Check]) -> Value {
    let failed = checks.iter().filter(|c| !c.passed()).count();
    json!({
        "file": file,
        "against": against,
        "met": checks.len() - failed,
        "failed": failed,
        "results": checks.iter().map(|c| {
            let e = c.expectation;
            let (outcome, steps) = match &c.verdict {
                Verdict::Met(x) | Verdict::Failed(x) => (Some(verdict(x.outcome)), x.steps.as_slice()),
                Verdict::Unknown(_) => (None, &[][..]),
            };
            json!({
                "line": e.line,
                "user": c.user,
                "group": match &e.subject {
                    crate::domain::expect::Subject::Group(g) => Some(g.clone()),
                    crate::domain::expect::Subject::User(_) => None,
                },
                "entity": e.entity_path,
                "permission": e.permission.as_str(),
                "resource": e.resource,
                "expected": if e.allowed { "allowed" } else { "denied" },
                "actual": outcome,
                "passed": c.passed(),
                "reason": failure(c),
                "explanation": steps.iter().map(|s| json!({
                    "layer": s.layer.label(),
                    "principal": s.principal.as_ref().map(|(_, n)| n.clone()),
                    "principalType": s.principal.as_ref().map(|(t, _)| t.to_string()),
                    "resource": s.resource,
                    "effect": s.effect.label(),
                    "decisive": s.decisive,
                    "detail": s.detail,
                })).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
    })
}

/// JUnit XML: one testsuite for the file, one testcase per case, a failure with the
/// explanation for each case that failed.
fn junit(file: &str, checks: &[Check]) -> String {
    let failed = checks.iter().filter(|c| !c.passed()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"ironworx verify\" tests=\"{}\" failures=\"{failed}\" errors=\"0\">\n",
        checks.len()
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\">\n",
        escape(file),
        checks.len()
    ));
    for check in checks {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            escape(file),
            escape(&case_name(file, check))
        ));
        match failure(check) {
            None => out.push_str("/>\n"),
            Some(why) => {
                out.push_str(&format!(
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                    escape(&why),
                    if matches!(check.verdict, Verdict::Unknown(_)) {
                        "UnknownName"
                    } else {
                        "PermissionExpectation"
                    },
                    escape(&format!("{why}\n{}", explanation_text(check, "")))
                ));
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
