//! Server-Sent Events on the client side: subscribing to a Thing's event and reading the
//! stream's `data:` messages (bytes are kept until a message is whole, so a chunk that cuts a
//! multi-byte character is read correctly).

use reqwest::Response;
use serde_json::Value;

use crate::TestServer;

/// `GET …/Events/<event>/Subscribe` on `thing` as `who` (Basic credentials).
pub async fn subscribe(
    server: &TestServer,
    who: (&str, &str),
    thing: &str,
    event: &str,
) -> Response {
    server
        .client()
        .get(server.url(&format!(
            "/Thingworx/Things/{thing}/Events/{event}/Subscribe"
        )))
        .basic_auth(who.0, Some(who.1))
        .send()
        .await
        .expect("subscribe")
}

/// An open event stream.
pub struct EventStream {
    response: Response,
    pending: Vec<u8>,
}

impl EventStream {
    /// The stream of a successful subscription, read past its opening comment (`: subscribed`).
    pub async fn open(response: Response) -> EventStream {
        let mut stream = EventStream {
            response,
            pending: Vec::new(),
        };
        stream.message().await.expect("the stream opens");
        stream
    }

    /// The next message (up to its blank line) as text, or `None` once the server ends the
    /// stream.
    async fn message(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
                let message: Vec<u8> = self.pending.drain(..end + 2).collect();
                return Some(String::from_utf8(message).expect("a message is UTF-8"));
            }
            let chunk = self
                .response
                .chunk()
                .await
                .expect("read the event stream")?;
            self.pending.extend_from_slice(&chunk);
        }
    }

    /// The next `data:` message as JSON (comments, such as keep-alives, are skipped).
    pub async fn next_data(&mut self) -> Value {
        loop {
            let message = self.message().await.expect("the stream stays open");
            if let Some(data) = message.strip_prefix("data: ") {
                return serde_json::from_str(data.trim_end()).expect("data is JSON");
            }
        }
    }

    /// Reads until the server ends the stream; every `data:` message received before the end.
    pub async fn until_end(&mut self) -> Vec<Value> {
        let mut data = Vec::new();
        while let Some(message) = self.message().await {
            if let Some(text) = message.strip_prefix("data: ") {
                data.push(serde_json::from_str(text.trim_end()).expect("data is JSON"));
            }
        }
        data
    }
}
