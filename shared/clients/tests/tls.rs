//! The clients' TLS stack: rustls with aws-lc-rs, the crypto provider the AWS SDK uses too (the
//! workspace Cargo.toml says why). Every other test talks plain HTTP to a local sandbox, so this
//! one makes sure an HTTPS request builds its TLS configuration and starts a real handshake,
//! with no process-wide provider installed, instead of panicking about a missing provider.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A TLS record's first byte when it carries a handshake message, such as a ClientHello.
const TLS_HANDSHAKE_RECORD: u8 = 22;

#[tokio::test]
async fn an_https_request_starts_a_tls_handshake_and_fails_cleanly_against_a_plain_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let address = listener.local_addr().expect("an address");
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("the client connects");
        let mut record_header = [0u8; 5];
        socket
            .read_exact(&mut record_header)
            .await
            .expect("the client sends a record");
        // Not TLS: the client must give up on this answer.
        let _ = socket
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await;
        record_header
    });

    let error = sync_clients::http_client()
        .get(format!("https://{address}/"))
        .send()
        .await
        .expect_err("a plain-text server cannot complete a TLS handshake");

    let record_header = server.await.expect("the server task ends");
    assert_eq!(
        record_header[0], TLS_HANDSHAKE_RECORD,
        "the client opened with a TLS handshake record: {record_header:?}"
    );
    assert!(
        error.is_connect(),
        "a failed handshake is a connection error: {error:?}"
    );
}

#[tokio::test]
async fn an_https_request_to_a_closed_port_is_a_connection_error() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let error = sync_clients::http_client()
        .get(format!("https://{closed}/"))
        .send()
        .await
        .expect_err("nothing listens there");
    assert!(error.is_connect(), "{error:?}");
}
