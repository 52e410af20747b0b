//! Policy self-tests: assertions kept in the policy repo (`tests/*.yaml`) and checked against a
//! snapshot or live state after planning, the way OPA and conftest users test their rules.
//!
//! ```yaml
//! tests:
//!   - name: alice keeps Jira
//!     user: alice@acme.com
//!     holds: [jira-software]
//!   - name: contractors never hold Confluence
//!     users: "*@contractor.io"
//!     lacks: [confluence]
//!   - name: no product exceeds its budget
//!     within_budget: true
//!   - name: Confluence stays small
//!     max_seats: { confluence: 45 }
//! ```
//!
//! "Holds" means after the plan is applied (blocked actions do not run).

use crate::live::LiveState;
use crate::plan::{Explanation, Plan};
use crate::planner::{self, PlanInput};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A file of self-tests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The tests.
    pub tests: Vec<TestCase>,
}

/// One assertion.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What the test checks, in words.
    pub name: String,
    /// One user, by email or account id.
    #[serde(default)]
    pub user: Option<String>,
    /// Every user whose email matches this glob (`*@contractor.io`).
    #[serde(default)]
    pub users: Option<String>,
    /// Products the user(s) must hold after the plan.
    #[serde(default)]
    pub holds: Vec<String>,
    /// Products the user(s) must not hold after the plan.
    #[serde(default)]
    pub lacks: Vec<String>,
    /// No product may end above its `seats` budget.
    #[serde(default)]
    pub within_budget: bool,
    /// Product → the most seats it may hold after the plan.
    #[serde(default)]
    pub max_seats: BTreeMap<String, usize>,
}

/// The outcome of one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// Where the test is written (file and position in its list).
    pub place: String,
    /// The test's name.
    pub name: String,
    /// Failures; empty when the test passed.
    pub failures: Vec<String>,
}

/// Checks that a test case is well-formed before running it.
pub fn check_case(case: &TestCase, products: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    if case.user.is_some() && case.users.is_some() {
        problems.push("set `user` or `users`, not both".to_string());
    }
    let subject = case.user.is_some() || case.users.is_some();
    if subject && case.holds.is_empty() && case.lacks.is_empty() {
        problems.push("a user test needs `holds` or `lacks`".to_string());
    }
    if !subject && (!case.holds.is_empty() || !case.lacks.is_empty()) {
        problems.push("`holds`/`lacks` need a `user` or `users`".to_string());
    }
    if !subject && !case.within_budget && case.max_seats.is_empty() {
        problems.push(
            "the test asserts nothing: add `holds`, `lacks`, `within_budget` or `max_seats`"
                .to_string(),
        );
    }
    if let Some(Err(e)) = case.users.as_deref().map(glob::Pattern::new) {
        problems.push(format!("`users` is not a valid glob: {e}"));
    }
    for p in case
        .holds
        .iter()
        .chain(&case.lacks)
        .chain(case.max_seats.keys())
    {
        if !products.contains(&p.as_str()) {
            problems.push(format!(
                "unknown product `{p}` (the policy manages: {})",
                products.join(", ")
            ));
        }
    }
    problems
}

/// Runs one test against the plan of `input`.
pub fn run_case(case: &TestCase, input: &PlanInput<'_>, plan: &Plan, place: String) -> TestResult {
    let products: Vec<&str> = input
        .policy
        .products
        .iter()
        .map(|p| p.key.as_str())
        .collect();
    let mut failures = check_case(case, &products);
    if failures.is_empty() {
        for who in subjects(case, input.live, &mut failures) {
            match planner::explain(input, &who) {
                None => failures.push(format!("{who}: no such account in the live state")),
                Some(explanation) => check_holdings(case, &explanation, &mut failures),
            }
        }
        for (product, seats) in &plan.seats {
            if case.within_budget {
                if let Some(budget) = seats.budget.filter(|b| seats.after > *b as usize) {
                    failures.push(format!(
                        "{product}: {} seats after the plan, budget {budget}",
                        seats.after
                    ));
                }
            }
            if let Some(max) = case.max_seats.get(product).filter(|m| seats.after > **m) {
                failures.push(format!(
                    "{product}: {} seats after the plan, at most {max} allowed",
                    seats.after
                ));
            }
        }
    }
    TestResult {
        place,
        name: case.name.clone(),
        failures,
    }
}

fn subjects(case: &TestCase, live: &LiveState, failures: &mut Vec<String>) -> Vec<String> {
    if let Some(user) = &case.user {
        return vec![user.clone()];
    }
    let Some(pattern) = case
        .users
        .as_deref()
        .and_then(|p| glob::Pattern::new(&p.to_lowercase()).ok())
    else {
        return Vec::new();
    };
    let mut matched: Vec<String> = live
        .users
        .iter()
        .filter_map(|u| u.email.as_deref())
        .filter(|e| pattern.matches(&e.to_lowercase()))
        .map(str::to_string)
        .collect();
    matched.sort();
    if matched.is_empty() {
        failures.push(format!(
            "no account matches `{}`, so the test checks nothing",
            pattern.as_str()
        ));
    }
    matched
}

fn check_holdings(case: &TestCase, explanation: &Explanation, failures: &mut Vec<String>) {
    let who = explanation
        .email
        .as_deref()
        .unwrap_or(&explanation.account_id);
    for decision in &explanation.products {
        let want_hold = case.holds.contains(&decision.product);
        let want_lack = case.lacks.contains(&decision.product);
        if want_hold && !decision.holds_after {
            failures.push(format!(
                "{who} should hold {} but will not: {}",
                decision.product, decision.reason
            ));
        }
        if want_lack && decision.holds_after {
            failures.push(format!(
                "{who} should not hold {} but will: {}",
                decision.product, decision.reason
            ));
        }
    }
}
