//! mparticle integration tests (both backends).
