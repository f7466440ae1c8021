//! Decoding an upload stays within the configured limits whatever the file declares: a small
//! `.twx` whose Smile document names one string again and again (a one-byte back-reference per
//! string, compressed some 250 times by LZ4) is refused with a 400 naming the limit, while the
//! server's memory stays bounded and it keeps answering.

use ironworx_importer::twx::frame;
use ironworx_tests::http::{Caller, Reply, upload};
use ironworx_tests::{ServerOptions, TestDb, TestServer, backends};
use reqwest::StatusCode;

/// The expanded-size limit the server runs with (16 MiB).
const MAX_EXPANDED: u64 = 16 << 20;

/// The most the server's peak resident memory may reach while refusing the bombs. Decoded
/// whole, the `.twx` below takes more than 1 GiB.
const MAX_RESIDENT_KIB: u64 = 384 * 1024;

/// A Smile document `{"b": ["x" × 64, then `refs` back-references to it]}`.
fn shared_string_bomb(refs: usize) -> Vec<u8> {
    // Header: `:)\n`, version 0 with shared keys and shared string values.
    let mut smile = b":)\n\x03".to_vec();
    smile.extend_from_slice(&[0xFA, 0x80, b'b', 0xF8]);
    smile.push(0x7F); // a 64-byte ASCII string, which the document may name again
    smile.extend_from_slice(&[b'x'; 64]);
    smile.resize(smile.len() + refs, 0x01); // back-reference to shared string 0
    smile.extend_from_slice(&[0xF9, 0xFB]);
    smile
}

fn twx_bomb() -> Vec<u8> {
    let mut out = Vec::new();
    frame(&shared_string_bomb(8 << 20), &mut out).expect("frame the bomb");
    out
}

/// The peak resident memory of the server process, in KiB.
fn peak_resident_kib(server: &TestServer) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("the server's /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status")
}

async fn assert_healthy(server: &TestServer) {
    let res = server
        .client()
        .get(server.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(res.status(), StatusCode::OK, "the server still answers");
}

#[tokio::test]
async fn decompression_bombs_are_refused_within_the_limits() {
    let twx = twx_bomb();
    assert!(
        twx.len() < 64 * 1024,
        "the bomb is small: {} bytes",
        twx.len()
    );
    for backend in backends() {
        let db = TestDb::create(backend).await;
        let options = ServerOptions::default()
            .arg("--max-expanded-bytes")
            .arg(MAX_EXPANDED.to_string());
        let server = TestServer::start_with(&db, options).await;
        assert_healthy(&server).await;
        let before = peak_resident_kib(&server);

        // Twice: memory used by the first refusal is not kept or doubled by the second.
        for _ in 0..2 {
            let Reply {
                status, text: body, ..
            } = upload(&server, &Caller::admin(), "bomb.twx", &twx).await;
            let peak = peak_resident_kib(&server);
            println!("{backend:?}: peak resident memory {before} KiB before, {peak} KiB after");
            assert!(
                peak < MAX_RESIDENT_KIB,
                "{backend:?}: peak resident memory {peak} KiB (before the upload {before} KiB), \
                 above {MAX_RESIDENT_KIB} KiB"
            );
            assert_eq!(status, StatusCode::BAD_REQUEST, "{backend:?}: {body}");
            assert!(
                body.contains("exceeds the limit of") && body.contains(".twx"),
                "{backend:?}: the answer names the limit: {body}"
            );
            assert_healthy(&server).await;
        }
        assert!(server.stop().await.success());
        db.drop_database().await;
    }
}
