//! The importer's integration tests, one binary: readers and writers of every format against
//! the corpus, generated models and hostile inputs, and the import pipeline on a real database.
//! Run one module with `cargo test -p ironworx-importer --test formats <module>::`.

mod decoding_bounds;
mod export_fidelity;
mod roundtrip;
mod two_pass;
mod two_pass_db;
mod twx;
mod twx_tree;
mod xml_read;
