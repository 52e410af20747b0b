//! The sandbox: a local Atlassian Cloud that speaks the real HTTP APIs.
