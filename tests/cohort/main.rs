//! cohort integration tests (both backends).
