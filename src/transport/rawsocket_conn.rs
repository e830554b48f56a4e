//! RawSocket over a socket: the handshake exchange and the reading and writing halves.
//!
//! Owns: moving bytes between a [`SharedSocket`] and the pure framing of [`super::rawsocket`]:
//! the read buffer, the reused write buffer, answering a bad handshake. Never: interpreting
//! payloads, answering PINGs itself (the caller does, through the writer), or timeouts (the
//! caller bounds the handshake).

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures_lite::future::poll_fn;
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::rawsocket::{self, ClientHandshake, Decoded, FrameError, FrameType};
use super::socket::SharedSocket;
use super::{HandshakeError, Incoming, OutFrame, TransportConfig, TransportError};

/// Bytes taken from the socket per read call. Large enough that a burst of small messages
/// arrives in one syscall, small enough to sit in L2; it is one buffer per executor thread, not
/// per connection.
const READ_CHUNK: usize = 64 * 1024;

/// Smallest allocation for a connection's read buffer. A message the router keeps alive pins the
/// allocation it was read into, so this stays small; a burst of small messages still shares one.
const READ_BUFFER_MIN: usize = 4 * 1024;

/// Write buffer capacity kept between batches. A connection that once sent a large batch gives
/// the rest back, so idle connections hold little memory.
const WRITE_BUFFER_KEEP: usize = 64 * 1024;

thread_local! {
    /// Per-thread landing zone for reads: bytes are read here, then copied into the connection's
    /// buffer, which therefore never holds zero-filled spare room.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
}

/// Reads and answers the client's handshake. On success returns what the client asked for and
/// our own receive limit (the 2^(9+L) we announced). On a refusal the error reply is sent and the
/// write side shut down before the error is returned.
pub(crate) async fn handshake(
    socket: &mut SharedSocket,
    cfg: &TransportConfig,
) -> Result<(ClientHandshake, usize), TransportError> {
    let mut octets = [0u8; rawsocket::HANDSHAKE_LEN];
    socket.read_exact(&mut octets).await.map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => TransportError::Handshake(HandshakeError::Eof),
        _ => TransportError::Io(e),
    })?;
    match rawsocket::parse_handshake(octets, &cfg.serializers) {
        Ok(client) => {
            let reply = rawsocket::handshake_reply(cfg.max_message_size, client.serializer);
            socket.write_all(&reply).await?;
            socket.flush().await?;
            let own_limit = rawsocket::max_len_for_exponent(rawsocket::length_exponent(cfg.max_message_size));
            Ok((client, own_limit))
        }
        Err(refusal) => {
            if let Some(code) = refusal.reply_code() {
                socket.write_all(&rawsocket::handshake_error_reply(code)).await?;
                socket.flush().await?;
                socket.close().await?;
            }
            Err(HandshakeError::RawSocket(refusal).into())
        }
    }
}

/// The reading half: a growing buffer that frames are split off without copying.
#[derive(Debug)]
pub(crate) struct RawReader {
    socket: SharedSocket,
    buf: BytesMut,
    max_len: usize,
}

impl RawReader {
    pub(crate) fn new(socket: SharedSocket, max_len: usize) -> RawReader {
        RawReader { socket, buf: BytesMut::new(), max_len }
    }

    pub(crate) async fn next(&mut self) -> Result<Option<Incoming>, TransportError> {
        loop {
            match rawsocket::decode_frame(&mut self.buf, self.max_len)? {
                Decoded::Frame { kind: FrameType::Message, payload } => return Ok(Some(Incoming::Message(payload))),
                Decoded::Frame { kind: FrameType::Ping, payload } => return Ok(Some(Incoming::Ping(payload))),
                Decoded::Frame { kind: FrameType::Pong, .. } => {}
                Decoded::Incomplete { needed } => {
                    if self.buf.is_empty() {
                        // Nothing buffered: give the allocation back while the peer is quiet, so
                        // an idle connection holds no read buffer. (Frames split off earlier keep
                        // their own share alive as long as the router needs them.)
                        self.buf = BytesMut::new();
                    }
                    if poll_fn(|cx| self.poll_fill(cx, needed)).await? == 0 {
                        return if self.buf.is_empty() {
                            Ok(None)
                        } else {
                            Err(io::Error::from(io::ErrorKind::UnexpectedEof).into())
                        };
                    }
                }
            }
        }
    }

    /// One read into the per-thread scratch buffer, appended to `buf`. All buffer changes happen
    /// within this call, so dropping a pending `next` loses nothing.
    fn poll_fill(&mut self, cx: &mut Context<'_>, needed: usize) -> Poll<io::Result<usize>> {
        let missing = needed.saturating_sub(self.buf.len());
        let Self { socket, buf, .. } = self;
        SCRATCH.with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                return Poll::Ready(Err(io::Error::other("read scratch buffer re-entered")));
            };
            let result = Pin::new(socket).poll_read(cx, &mut scratch[..]);
            if let Poll::Ready(Ok(n)) = result {
                if buf.capacity() - buf.len() < n {
                    buf.reserve(n.max(missing).max(READ_BUFFER_MIN));
                }
                buf.extend_from_slice(&scratch[..n]);
            }
            result
        })
    }
}

/// The writing half: every batch is framed into one reused buffer and written at once.
#[derive(Debug)]
pub(crate) struct RawWriter {
    socket: SharedSocket,
    buf: Vec<u8>,
    max_outgoing: usize,
}

impl RawWriter {
    pub(crate) fn new(socket: SharedSocket, max_outgoing: usize) -> RawWriter {
        RawWriter { socket, buf: Vec::new(), max_outgoing }
    }

    pub(crate) async fn send(&mut self, frames: &[OutFrame]) -> Result<(), TransportError> {
        if frames.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        for frame in frames {
            let (kind, payload) = match frame {
                OutFrame::Message(payload) => (FrameType::Message, payload),
                OutFrame::Pong(payload) => (FrameType::Pong, payload),
            };
            if payload.len() > self.max_outgoing {
                let err = FrameError::TooLarge { len: payload.len(), max: self.max_outgoing };
                return Err(err.into());
            }
            rawsocket::encode_frame_into(kind, payload, &mut self.buf)?;
        }
        self.socket.write_all(&self.buf).await?;
        self.socket.flush().await?;
        if self.buf.capacity() > WRITE_BUFFER_KEEP {
            self.buf.clear();
            self.buf.shrink_to(WRITE_BUFFER_KEEP);
        }
        Ok(())
    }

    pub(crate) async fn close(&mut self) -> Result<(), TransportError> {
        self.socket.close().await?;
        Ok(())
    }
}
