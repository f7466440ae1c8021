// The corpus check both build scripts run (`importer/build.rs`, `tests/build.rs`): sets the
// `ironworx_corpus` cfg when `../shared/corpus` is beside the checkout, so that the tests that
// read it run, and fails the build when `IRONWORX_REQUIRE_CORPUS` is set and it is missing.

fn corpus_cfg() {
    println!("cargo::rustc-check-cfg=cfg(ironworx_corpus)");
    println!("cargo::rerun-if-env-changed=IRONWORX_REQUIRE_CORPUS");
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
    let corpus = std::path::Path::new(&manifest).join("../../shared/corpus");
    println!("cargo::rerun-if-changed={}", corpus.display());
    if corpus.is_dir() {
        println!("cargo::rustc-cfg=ironworx_corpus");
    } else if std::env::var_os("IRONWORX_REQUIRE_CORPUS").is_some() {
        panic!(
            "IRONWORX_REQUIRE_CORPUS is set but the corpus is missing: expected {}",
            corpus.display()
        );
    }
}
