//! Raw serde types mirroring the policy YAML, with unknown keys rejected.
