//! The next Kombo page is asked for as soon as the page before names its cursor in its first
//! bytes, while the rest of that page is still on the wire; never with a cursor the whole page
//! does not name, and never once more than the pages there are.
//!
//! The server is a plain TCP one, so that a page's body can be written in two parts with a pause
//! between them, and each request's arrival timed against the page before's last byte.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sync_clients::KomboClient;
use sync_core::ports::{HrisSource, ListQuery};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EXAMPLE: &str = include_str!("../../core/tests/fixtures/kombo_employees_example.json");
/// How long the first page's body stalls after its first part.
const STALL: Duration = Duration::from_millis(400);

/// The first page, as the parts written with [`STALL`] between them, and the last page.
struct Pages {
    first: (String, String),
    last: String,
    /// The first answer of the first page ends after its first part: the connection is closed.
    cut_once: std::sync::atomic::AtomicBool,
}

impl Pages {
    fn new(first: &str, split: usize, last: String, cut_once: bool) -> Self {
        Self {
            first: (first[..split].to_string(), first[split..].to_string()),
            last,
            cut_once: cut_once.into(),
        }
    }
}

/// Kombo's example employee under `id`.
fn employee(id: &str) -> String {
    let mut page: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
    page["data"]["results"][0]["id"] = id.into();
    page["data"]["results"][0].to_string()
}

/// When each request arrived (with its cursor), and when the first page's last byte was written.
#[derive(Default)]
struct Seen {
    requests: Vec<(Instant, Option<String>)>,
    first_page_written: Option<Instant>,
}

async fn serve(pages: Pages) -> (String, Arc<Mutex<Seen>>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let pages = Arc::new(pages);
    let recorder = seen.clone();
    let server = tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let (pages, recorder) = (pages.clone(), recorder.clone());
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                loop {
                    // One GET request's head (no body), then its answer; the connection is kept.
                    let head_end = loop {
                        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
                    buffer.drain(..head_end);
                    let cursor = head
                        .split_whitespace()
                        .nth(1)
                        .and_then(|target| target.split("cursor=").nth(1))
                        .map(|c| c.split('&').next().unwrap_or_default().to_string());
                    recorder
                        .lock()
                        .unwrap()
                        .requests
                        .push((Instant::now(), cursor.clone()));
                    let parts = match cursor {
                        None => vec![pages.first.0.clone(), pages.first.1.clone()],
                        Some(_) => vec![pages.last.clone()],
                    };
                    let length: usize = parts.iter().map(String::len).sum();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
                    );
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let stalls = parts.len() > 1;
                    for (i, part) in parts.iter().enumerate() {
                        if i > 0 {
                            tokio::time::sleep(STALL).await;
                            if pages
                                .cut_once
                                .swap(false, std::sync::atomic::Ordering::SeqCst)
                            {
                                return;
                            }
                        }
                        if socket.write_all(part.as_bytes()).await.is_err() {
                            return;
                        }
                        let _ = socket.flush().await;
                    }
                    if stalls {
                        recorder.lock().unwrap().first_page_written = Some(Instant::now());
                    }
                }
            });
        }
    });
    (url, seen, server)
}

async fn list(url: &str) -> Vec<String> {
    KomboClient::new(url, "key", "personio:early")
        .list_employees(&ListQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// Lists two pages, the first written in two parts split at byte `split`: each request's
/// arrival and cursor, and when the first page's last byte was written.
async fn list_two_pages(
    first: &str,
    split: usize,
    last: String,
) -> (Vec<(Instant, Option<String>)>, Instant) {
    let (url, seen, server) = serve(Pages::new(first, split, last, false)).await;
    assert_eq!(list(&url).await, ["e1", "e2"]);
    server.abort();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.requests.len(), 2, "one request a page");
    (seen.requests.clone(), seen.first_page_written.unwrap())
}

/// The first page of the tests: its cursor before its records, split after `"results":[`.
fn first_page_and_split() -> (String, usize) {
    let first = format!(
        r#"{{"status":"success","data":{{"next":"cursor-2","results":[{}]}}}}"#,
        employee("e1")
    );
    let split = first.find(r#""results":["#).unwrap() + 11;
    (first, split)
}

fn last_page() -> String {
    format!(
        r#"{{"status":"success","data":{{"next":null,"results":[{}]}}}}"#,
        employee("e2")
    )
}

#[tokio::test]
async fn the_next_page_is_asked_for_while_the_page_before_is_still_coming_in() {
    let (first, split) = first_page_and_split();
    let (requests, first_page_written) = list_two_pages(&first, split, last_page()).await;
    let (asked, cursor) = &requests[1];
    assert_eq!(cursor.as_deref(), Some("cursor-2"));
    assert!(
        *asked < first_page_written,
        "the second page was asked for before the first one's last byte"
    );
}

#[tokio::test]
async fn a_page_whose_cursor_comes_after_its_records_is_read_whole_first() {
    // Valid JSON that the early reader does not take: the records before the cursor.
    let first = format!(
        r#"{{"data":{{"results":[{}],"next":"cursor-2"}},"status":"success"}}"#,
        employee("e1")
    );
    let last = format!(
        r#"{{"data":{{"next":null,"results":[{}]}},"status":"success"}}"#,
        employee("e2")
    );
    let (requests, first_page_written) = list_two_pages(&first, first.len() / 2, last).await;
    assert_eq!(requests[1].1.as_deref(), Some("cursor-2"));
    assert!(requests[1].0 >= first_page_written);
}

#[tokio::test]
async fn a_page_cut_off_after_its_cursor_is_read_again_and_the_page_asked_for_early_kept() {
    // The first page's first answer names its cursor, then its connection closes: the page is
    // asked for again, and the second page, asked for early with the same cursor, is kept.
    let (first, split) = first_page_and_split();
    let (url, seen, server) = serve(Pages::new(&first, split, last_page(), true)).await;
    assert_eq!(list(&url).await, ["e1", "e2"]);
    server.abort();
    let cursors: Vec<Option<String>> = seen
        .lock()
        .unwrap()
        .requests
        .iter()
        .map(|(_, cursor)| cursor.clone())
        .collect();
    assert_eq!(
        cursors,
        [None, Some("cursor-2".to_string()), None],
        "the first page twice, the second once"
    );
}
