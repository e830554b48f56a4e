//! Sockets and framing: RawSocket and WebSocket on one "universal" port; bytes in, bytes out.
//!
//! Owns: the opening handshakes (with their timeout), framing, limits on message size, ping/pong
//! at the transport level, and splitting a connection into a reading and a writing half that two
//! tasks can drive at once. Hands whole WAMP messages up as [`Bytes`] and takes batches of them
//! down. Never: WAMP semantics (it does not decode messages), routing, or choosing what to do
//! with a message that is too large for the peer (the caller decides before sending).
//!
//! Usage: [`accept`] a glommio [`TcpStream`](glommio::net::TcpStream) or
//! [`UnixStream`](glommio::net::UnixStream), then [`Connection::split`]; one task loops on
//! [`ConnectionReader::next`] (answering [`Incoming::Ping`] with [`OutFrame::Pong`]), another
//! sends batches with [`ConnectionWriter::send`].

pub mod rawsocket;
mod rawsocket_conn;
mod socket;
mod websocket;

use std::fmt;
use std::io;
use std::time::Duration;

use async_tungstenite::WebSocketStream;
use bytes::Bytes;
use futures_lite::future;

use crate::codec::Serializer;
use rawsocket::{BadHandshake, FrameError};
use rawsocket_conn::{RawReader, RawWriter};
use socket::SharedSocket;
use websocket::{WsReader, WsWriter};

pub use socket::Socket;

use crate::config::{AllowedOrigins, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE};

/// How long [`ConnectionWriter::close`] waits to get a WebSocket close frame out before it shuts
/// the socket anyway: a peer that stopped reading must not hold the close up.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What one listener accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportConfig {
    /// Largest incoming message. RawSocket announces (and enforces) the largest 2^(9+L) not over
    /// it; WebSocket enforces it per message and per frame.
    pub max_message_size: usize,
    /// Time allowed for the whole opening handshake.
    pub handshake_timeout: Duration,
    /// Accept RawSocket (first byte 0x7F).
    pub rawsocket: bool,
    /// Accept WebSocket (an HTTP upgrade request).
    pub websocket: bool,
    /// The serializers clients may choose, in any order.
    pub serializers: Vec<Serializer>,
    /// The browser pages that may open a WebSocket here.
    pub allowed_origins: AllowedOrigins,
}

impl Default for TransportConfig {
    fn default() -> TransportConfig {
        TransportConfig {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            rawsocket: true,
            websocket: true,
            serializers: Serializer::ALL.to_vec(),
            allowed_origins: AllowedOrigins::SameHost,
        }
    }
}

/// The transport a connection negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// WAMP RawSocket.
    RawSocket,
    /// WebSocket with a `wamp.2.*` subprotocol.
    WebSocket,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::RawSocket => "rawsocket",
            TransportKind::WebSocket => "websocket",
        })
    }
}

/// What the reading half delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// One whole WAMP message, undecoded.
    Message(Bytes),
    /// A RawSocket PING: answer at once with [`OutFrame::Pong`] carrying the same payload.
    /// (WebSocket pings are answered inside the transport and never show up here.)
    Ping(Bytes),
}

/// What the writing half sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutFrame {
    /// One whole encoded WAMP message.
    Message(Bytes),
    /// A RawSocket PONG answering a PING; ignored on WebSocket.
    Pong(Bytes),
}

/// Why an opening handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer closed before sending a whole handshake.
    #[error("peer closed during the handshake")]
    Eof,
    /// The peer asked for a transport this listener has switched off.
    #[error("{0} is disabled on this listener")]
    Disabled(TransportKind),
    /// The RawSocket handshake was refused (the error reply, if any, has been sent).
    #[error("rawsocket handshake refused: {0}")]
    RawSocket(#[from] BadHandshake),
    /// The WebSocket client offered no WAMP subprotocol we accept (it got HTTP 400).
    #[error("no acceptable WAMP subprotocol offered")]
    NoSubprotocol,
    /// The upgrade came from a browser page whose `Origin` this listener does not allow (it got
    /// HTTP 403).
    #[error("origin not allowed")]
    Origin,
    /// The HTTP upgrade failed (malformed request, not a WebSocket upgrade, ...).
    #[error("websocket upgrade failed: {0}")]
    WebSocket(Box<tungstenite::Error>),
}

/// Why a connection failed. Every error ends the connection.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The socket failed, or the peer vanished in the middle of a message.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The opening handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// A RawSocket framing violation, or a message over a RawSocket length limit.
    #[error("rawsocket: {0}")]
    RawSocket(#[from] FrameError),
    /// A WebSocket protocol violation, including a message over the size limit.
    #[error("websocket: {0}")]
    WebSocket(Box<tungstenite::Error>),
    /// The handshake (or the close) took longer than allowed.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The connection is already closed.
    #[error("connection closed")]
    Closed,
}

impl TransportError {
    /// True if the error is a message over a size limit (incoming or outgoing).
    pub fn is_too_large(&self) -> bool {
        match self {
            TransportError::RawSocket(FrameError::TooLarge { .. } | FrameError::BadLength(_)) => true,
            TransportError::WebSocket(e) => {
                matches!(**e, tungstenite::Error::Capacity(tungstenite::error::CapacityError::MessageTooLong { .. }))
            }
            _ => false,
        }
    }
}

/// An established connection, before it is split.
#[derive(Debug)]
pub struct Connection {
    /// The serializer the peer chose.
    pub serializer: Serializer,
    /// The transport the peer chose.
    pub kind: TransportKind,
    /// The peer's address, for logs.
    pub peer: String,
    /// The largest message the peer accepts: 2^(9+L) from its RawSocket handshake;
    /// `usize::MAX` on WebSocket, which has no such announcement.
    pub max_outgoing: usize,
    /// The largest message we accept from the peer: the RawSocket length we announced, or
    /// [`TransportConfig::max_message_size`] on WebSocket.
    pub max_incoming: usize,
    io: ConnectionIo,
}

#[derive(Debug)]
enum ConnectionIo {
    Raw(SharedSocket),
    Ws(Box<WebSocketStream<SharedSocket>>, SharedSocket),
}

impl Connection {
    /// Splits into a reading and a writing half, for two tasks on the same executor. A pending
    /// read never holds up a write.
    pub fn split(self) -> (ConnectionReader, ConnectionWriter) {
        match self.io {
            ConnectionIo::Raw(socket) => (
                ConnectionReader(ReaderIo::Raw(RawReader::new(socket.clone(), self.max_incoming))),
                ConnectionWriter(WriterIo::Raw(RawWriter::new(socket, self.max_outgoing))),
            ),
            ConnectionIo::Ws(ws, socket) => {
                let (tx, rx) = (*ws).split();
                (
                    ConnectionReader(ReaderIo::Ws(WsReader::new(rx))),
                    ConnectionWriter(WriterIo::Ws(WsWriter::new(tx, socket, self.serializer))),
                )
            }
        }
    }
}

/// The reading half of a connection.
#[derive(Debug)]
pub struct ConnectionReader(ReaderIo);

#[derive(Debug)]
enum ReaderIo {
    Raw(RawReader),
    Ws(WsReader),
}

impl ConnectionReader {
    /// The next message or RawSocket ping; `Ok(None)` when the peer closed cleanly. Cancel-safe:
    /// dropping a pending call loses no bytes.
    pub async fn next(&mut self) -> Result<Option<Incoming>, TransportError> {
        match &mut self.0 {
            ReaderIo::Raw(r) => r.next().await,
            ReaderIo::Ws(r) => r.next().await,
        }
    }
}

/// The writing half of a connection.
#[derive(Debug)]
pub struct ConnectionWriter(WriterIo);

#[derive(Debug)]
enum WriterIo {
    Raw(RawWriter),
    Ws(WsWriter),
}

impl ConnectionWriter {
    /// Sends a batch with as few syscalls as possible, and flushes. On RawSocket a frame over the
    /// peer's limit ([`Connection::max_outgoing`]) fails the whole batch before anything is
    /// written. Not cancel-safe: dropping a pending call may leave a frame half written, so the
    /// connection must then be closed.
    pub async fn send(&mut self, frames: &[OutFrame]) -> Result<(), TransportError> {
        match &mut self.0 {
            WriterIo::Raw(w) => w.send(frames).await,
            WriterIo::Ws(w) => w.send(frames).await,
        }
    }

    /// Closes gracefully: on WebSocket a close frame (bounded by [`CLOSE_TIMEOUT`]), then the
    /// write side is shut down. The reading half then sees the peer's end of the stream; drop
    /// both halves to release the socket.
    pub async fn close(&mut self) -> Result<(), TransportError> {
        match &mut self.0 {
            WriterIo::Raw(w) => w.close().await,
            WriterIo::Ws(w) => w.close().await,
        }
    }
}

/// Runs the opening handshake on a new connection, within `cfg.handshake_timeout`. The first byte
/// picks the transport: 0x7F is RawSocket, anything else is taken as an HTTP upgrade request.
pub async fn accept(stream: impl Into<Socket>, cfg: &TransportConfig) -> Result<Connection, TransportError> {
    let socket = stream.into();
    let limit = cfg.handshake_timeout;
    future::or(handshake(socket, cfg), async move {
        glommio::timer::sleep(limit).await;
        Err(TransportError::Timeout(limit))
    })
    .await
}

async fn handshake(socket: Socket, cfg: &TransportConfig) -> Result<Connection, TransportError> {
    if let Err(e) = socket.set_nodelay() {
        tracing::debug!("cannot set TCP_NODELAY: {e}");
    }
    let peer = socket.peer();
    let mut first = [0u8; 1];
    if socket.peek(&mut first).await? == 0 {
        return Err(HandshakeError::Eof.into());
    }
    let mut socket = SharedSocket::new(socket);
    if first[0] == rawsocket::MAGIC {
        if !cfg.rawsocket {
            return Err(HandshakeError::Disabled(TransportKind::RawSocket).into());
        }
        let (client, max_incoming) = rawsocket_conn::handshake(&mut socket, cfg).await?;
        Ok(Connection {
            serializer: client.serializer,
            kind: TransportKind::RawSocket,
            peer,
            max_outgoing: client.max_len,
            max_incoming,
            io: ConnectionIo::Raw(socket),
        })
    } else {
        if !cfg.websocket {
            return Err(HandshakeError::Disabled(TransportKind::WebSocket).into());
        }
        let (serializer, ws) = websocket::upgrade(socket.clone(), cfg).await?;
        Ok(Connection {
            serializer,
            kind: TransportKind::WebSocket,
            peer,
            max_outgoing: usize::MAX,
            max_incoming: cfg.max_message_size,
            io: ConnectionIo::Ws(Box::new(ws), socket),
        })
    }
}
