//! Tells the integration tests whether the ThingWorx corpus (`../shared/corpus` beside the
//! checkout) is there: the tests that read it are ignored, with the reason, when it is not,
//! unless `IRONWORX_REQUIRE_CORPUS` is set (as `.ci/run` does), which makes it an error.

include!("corpus_cfg.rs");

fn main() {
    corpus_cfg();
}
