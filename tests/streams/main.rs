//! streams integration tests (both backends).
