//! Renderers: read a [`crate::plan::Plan`] and write text, markdown or JSON to a `&mut dyn Write`.
