//! Validation: raw policy files into a [`super::Policy`], collecting every problem.
