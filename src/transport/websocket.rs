//! WebSocket over a socket: the HTTP upgrade with WAMP subprotocol negotiation, and the reading
//! and writing halves over async-tungstenite.
//!
//! Owns: choosing the subprotocol, the tungstenite limits, mapping messages to and from `Bytes`,
//! the close handshake. Never: interpreting payloads, compression (not offered), or answering
//! pings by hand (tungstenite queues the pong and flushes it on the next read or write).

use std::cell::Cell;
use std::pin::Pin;

use async_tungstenite::{WebSocketReceiver, WebSocketSender, WebSocketStream};
use futures_lite::future::{self, poll_fn};
use futures_lite::io::AsyncWriteExt;
use futures_lite::StreamExt;
use futures_sink::Sink;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::header::{HOST, ORIGIN, SEC_WEBSOCKET_PROTOCOL};
use tungstenite::http::{HeaderValue, StatusCode};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::Utf8Bytes;
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{Error as WsError, Message};

use super::socket::SharedSocket;
use super::{HandshakeError, Incoming, OutFrame, TransportConfig, TransportError, CLOSE_TIMEOUT};
use crate::codec::Serializer;
use crate::config::AllowedOrigins;

/// tungstenite's read buffer per connection. Its default (128 KiB, allocated up front) would
/// cost over a gigabyte at 10k idle connections; 16 KiB still takes a burst of small messages
/// per read, and a larger frame reserves its full length anyway.
const READ_BUFFER_SIZE: usize = 16 * 1024;

/// The body of the HTTP 400 sent when no offered subprotocol is a WAMP one we accept.
const NO_SUBPROTOCOL_BODY: &str = "no supported WAMP subprotocol offered (wamp.2.json, wamp.2.msgpack, wamp.2.cbor)\n";

/// The body of the HTTP 403 sent to a page whose origin the listener does not allow.
const ORIGIN_REFUSED_BODY: &str = "this origin may not open a WebSocket here (see the listener's allowed_origins)\n";

/// True if the upgrade's `Origin` (absent: not a browser) is one `allowed` admits. The default
/// admits pages whose origin names the host and port the request was sent to (`Host`).
pub(crate) fn origin_allowed(request: &Request, allowed: &AllowedOrigins) -> bool {
    let Some(origin) = request.headers().get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    match allowed {
        AllowedOrigins::Any => true,
        AllowedOrigins::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        AllowedOrigins::SameHost => {
            let host = request.headers().get(HOST).and_then(|v| v.to_str().ok());
            let origin_host = origin.split_once("://").map(|(_, rest)| rest.trim_end_matches('/'));
            matches!((host, origin_host), (Some(h), Some(o)) if h.eq_ignore_ascii_case(o))
        }
    }
}

/// The first subprotocol the client offers (in its order) that names an allowed serializer.
/// Offers may come in several `Sec-WebSocket-Protocol` headers, each a comma-separated list.
pub(crate) fn choose_subprotocol(request: &Request, allowed: &[Serializer]) -> Option<Serializer> {
    request
        .headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|list| list.split(','))
        .filter_map(|offer| Serializer::from_subprotocol(offer.trim()))
        .find(|ser| allowed.contains(ser))
}

/// Runs the server side of the upgrade on a socket whose first byte is still unread. Any path is
/// accepted; without an acceptable subprotocol the client gets HTTP 400.
pub(crate) async fn upgrade(
    socket: SharedSocket,
    cfg: &TransportConfig,
) -> Result<(Serializer, WebSocketStream<SharedSocket>), TransportError> {
    let chosen = Cell::new(None);
    let refused_origin = Cell::new(false);
    // The refusal type (an HTTP response) is fixed by tungstenite's `Callback` trait.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, mut response: Response| {
        if !origin_allowed(request, &cfg.allowed_origins) {
            refused_origin.set(true);
            let mut refusal = ErrorResponse::new(Some(ORIGIN_REFUSED_BODY.to_owned()));
            *refusal.status_mut() = StatusCode::FORBIDDEN;
            return Err(refusal);
        }
        let Some(ser) = choose_subprotocol(request, &cfg.serializers) else {
            let mut refusal = ErrorResponse::new(Some(NO_SUBPROTOCOL_BODY.to_owned()));
            *refusal.status_mut() = StatusCode::BAD_REQUEST;
            return Err(refusal);
        };
        chosen.set(Some(ser));
        response.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(ser.subprotocol()));
        Ok(response)
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_SIZE)
        .max_message_size(Some(cfg.max_message_size))
        .max_frame_size(Some(cfg.max_message_size));
    let result = async_tungstenite::accept_hdr_async_with_config(socket, callback, Some(config)).await;
    if refused_origin.get() {
        return Err(HandshakeError::Origin.into());
    }
    match (result, chosen.get()) {
        (Ok(ws), Some(ser)) => Ok((ser, ws)),
        (Err(WsError::Http(_)), None) => Err(HandshakeError::NoSubprotocol.into()),
        (Err(WsError::Io(e)), _) => Err(TransportError::Io(e)),
        (Err(e), _) => Err(HandshakeError::WebSocket(Box::new(e)).into()),
        (Ok(_), None) => Err(HandshakeError::NoSubprotocol.into()),
    }
}

/// Maps a tungstenite error after the handshake.
fn ws_error(err: WsError) -> TransportError {
    match err {
        WsError::Io(e) => TransportError::Io(e),
        WsError::ConnectionClosed | WsError::AlreadyClosed => TransportError::Closed,
        other => TransportError::WebSocket(Box::new(other)),
    }
}

/// The reading half.
#[derive(Debug)]
pub(crate) struct WsReader {
    rx: WebSocketReceiver<SharedSocket>,
}

impl WsReader {
    pub(crate) fn new(rx: WebSocketReceiver<SharedSocket>) -> WsReader {
        WsReader { rx }
    }

    /// The next text or binary message. Pings, pongs and the peer's close frame are handled by
    /// tungstenite; after a close, the stream ends (`None`) once the reply has been flushed.
    pub(crate) async fn next(&mut self) -> Result<Option<Incoming>, TransportError> {
        loop {
            match self.rx.next().await {
                None => return Ok(None),
                Some(Ok(Message::Text(text))) => return Ok(Some(Incoming::Message(text.into()))),
                Some(Ok(Message::Binary(data))) => return Ok(Some(Incoming::Message(data))),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_))) => {}
                Some(Ok(Message::Frame(_))) => {}
                Some(Err(e)) => return Err(ws_error(e)),
            }
        }
    }
}

/// The writing half. Keeps a handle on the socket to shut its write side down after closing.
#[derive(Debug)]
pub(crate) struct WsWriter {
    tx: WebSocketSender<SharedSocket>,
    socket: SharedSocket,
    text: bool,
}

impl WsWriter {
    pub(crate) fn new(tx: WebSocketSender<SharedSocket>, socket: SharedSocket, serializer: Serializer) -> WsWriter {
        WsWriter { tx, socket, text: serializer.is_text() }
    }

    /// Feeds every message to tungstenite (which frames them into its write buffer), then
    /// flushes once. Pongs are skipped: WebSocket pings are answered by tungstenite.
    pub(crate) async fn send(&mut self, frames: &[OutFrame]) -> Result<(), TransportError> {
        for frame in frames {
            let OutFrame::Message(payload) = frame else {
                continue;
            };
            let message = if self.text {
                let text = Utf8Bytes::try_from(payload.clone()).map_err(|e| ws_error(WsError::Utf8(e.to_string())))?;
                Message::Text(text)
            } else {
                Message::Binary(payload.clone())
            };
            poll_fn(|cx| Pin::new(&mut self.tx).poll_ready(cx)).await.map_err(ws_error)?;
            Pin::new(&mut self.tx).start_send(message).map_err(ws_error)?;
        }
        poll_fn(|cx| Pin::new(&mut self.tx).poll_flush(cx)).await.map_err(ws_error)
    }

    /// Sends a close frame (1000, normal) and flushes it, within [`CLOSE_TIMEOUT`], then shuts
    /// down the write side. A peer that already closed is not an error.
    pub(crate) async fn close(&mut self) -> Result<(), TransportError> {
        let frame = CloseFrame { code: CloseCode::Normal, reason: Utf8Bytes::from_static("") };
        let sent = future::or(async { self.tx.close(Some(frame)).await.map_err(ws_error) }, async {
            glommio::timer::sleep(CLOSE_TIMEOUT).await;
            Err(TransportError::Timeout(CLOSE_TIMEOUT))
        })
        .await;
        let shut = self.socket.close().await;
        match sent {
            Ok(()) | Err(TransportError::Closed) => Ok(shut?),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn request(offers: &[&str]) -> Request {
        let mut builder = Request::builder().uri("/ws");
        for offer in offers {
            builder = builder.header(SEC_WEBSOCKET_PROTOCOL, *offer);
        }
        builder.body(()).unwrap()
    }

    fn from(origin: Option<&str>, host: &str) -> Request {
        let mut builder = Request::builder().uri("/ws").header(HOST, host);
        if let Some(o) = origin {
            builder = builder.header(ORIGIN, o);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn by_default_only_pages_of_the_routers_own_host_and_non_browsers_may_upgrade() {
        let same = AllowedOrigins::SameHost;
        assert!(origin_allowed(&from(None, "127.0.0.1:8080"), &same), "no Origin: not a browser");
        assert!(origin_allowed(&from(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"), &same));
        assert!(!origin_allowed(&from(Some("https://evil.example"), "127.0.0.1:8080"), &same));
        assert!(!origin_allowed(&from(Some("http://127.0.0.1:9999"), "127.0.0.1:8080"), &same), "another port");
        assert!(!origin_allowed(&from(Some("null"), "127.0.0.1:8080"), &same));
    }

    #[test]
    fn a_list_admits_exactly_its_origins_and_a_star_admits_all() {
        let list = AllowedOrigins::List(vec!["https://app.example.com".into()]);
        assert!(origin_allowed(&from(Some("https://app.example.com"), "r:8080"), &list));
        assert!(!origin_allowed(&from(Some("https://other.example.com"), "r:8080"), &list));
        assert!(origin_allowed(&from(Some("https://anything"), "r:8080"), &AllowedOrigins::Any));
    }

    #[test]
    fn first_offered_wamp_subprotocol_wins() {
        let req = request(&["wamp.2.msgpack, wamp.2.json"]);
        assert_eq!(choose_subprotocol(&req, &Serializer::ALL), Some(Serializer::MsgPack));
        let req = request(&["chat", "wamp.2.cbor,wamp.2.json"]);
        assert_eq!(choose_subprotocol(&req, &Serializer::ALL), Some(Serializer::Cbor));
    }

    #[test]
    fn disallowed_subprotocols_are_skipped() {
        let req = request(&["wamp.2.msgpack, wamp.2.json"]);
        assert_eq!(choose_subprotocol(&req, &[Serializer::Json]), Some(Serializer::Json));
        assert_eq!(choose_subprotocol(&req, &[Serializer::Cbor]), None);
    }

    #[test]
    fn no_wamp_subprotocol_means_no_choice() {
        assert_eq!(choose_subprotocol(&request(&[]), &Serializer::ALL), None);
        let req = request(&["wamp.2.ubjson, chat, wamp.1.json"]);
        assert_eq!(choose_subprotocol(&req, &Serializer::ALL), None);
    }
}
