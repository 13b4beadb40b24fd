//! Tests of the export rewrite.
