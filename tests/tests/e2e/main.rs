//! The end-to-end tests, one binary: each module starts the real `ironworx` server (on port 0,
//! on SQLite and, when `IRONWORX_TEST_POSTGRES` is set, PostgreSQL) and holds it to one part of
//! the contract. Run one module with `cargo test -p ironworx-tests --test e2e <module>::`.

mod authentication;
mod authz_equivalence;
mod authz_http;
mod bootstrap;
mod client_compat;
mod community_scenario;
mod console_accounts;
mod console_accounts_browser;
mod console_browser;
mod console_http;
mod crash_import;
mod data_http;
mod entities_http;
mod explain_cli;
mod forensics_cli;
mod forensics_http;
mod forensics_instants;
mod forensics_rebuild;
mod import_cli;
mod import_corpus;
mod import_http;
mod import_roundtrip;
mod limits_http;
mod load;
mod login_browser;
mod login_pages;
mod membership_http;
mod metrics_http;
mod migrations;
mod model_roundtrip;
mod outage;
mod permission_sets_http;
mod route_matrix;
mod scale_out;
mod script_subscriptions;
mod scripts_corpus;
mod scripts_data;
mod scripts_http;
mod security_auth;
mod security_decoding;
mod security_import;
mod security_transport;
mod things_http;
mod user_services;
