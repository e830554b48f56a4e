//! One non-blocking client connection: socket, transport handshake, input and output buffers.
//!
//! Owns: [`Conn`], reading into one reused buffer and handing out whole messages in place,
//! writing everything queued with as few `write` calls as the socket allows, and the
//! RawSocket/WebSocket handshakes. Never: WAMP semantics (the engine and the roles decide what
//! to send), and no allocation per message once the buffers have grown to their working size.

use std::io::{self, Read, Write};

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};
use wampyard::codec::Serializer;
use wampyard::transport::rawsocket::HANDSHAKE_LEN;
use wampyard::wamp::Message;

use crate::target::Target;
use crate::wire::encode;
use crate::wire::frame::{self, Framing, Kind, TooLong, MAX_INCOMING};

/// A socket of either family.
#[derive(Debug)]
pub(crate) enum Stream {
    /// TCP (RawSocket or WebSocket).
    Tcp(TcpStream),
    /// Unix domain socket (RawSocket).
    Unix(UnixStream),
}

impl Stream {
    /// Starts a non-blocking connect to `target`.
    pub(crate) fn connect(target: &Target) -> io::Result<Stream> {
        match target {
            Target::RawTcp { addr } | Target::WebSocket { addr, .. } => {
                let s = TcpStream::connect(*addr)?;
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            Target::RawUnix { path } => Ok(Stream::Unix(UnixStream::connect(path)?)),
        }
    }

    /// After the socket turned writable: `Ok(true)` if the connect succeeded, `Ok(false)` if it
    /// is still under way.
    fn connected(&self) -> io::Result<bool> {
        let (err, peer) = match self {
            Stream::Tcp(s) => (s.take_error()?, s.peer_addr().map(|_| ())),
            Stream::Unix(s) => (s.take_error()?, s.peer_addr().map(|_| ())),
        };
        if let Some(e) = err {
            return Err(e);
        }
        match peer {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(registry, token, interests),
            Stream::Unix(s) => s.register(registry, token, interests),
        }
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(registry, token, interests),
            Stream::Unix(s) => s.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(registry),
            Stream::Unix(s) => s.deregister(registry),
        }
    }
}

/// What a read brought.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fill {
    /// Bytes arrived; `full` when they filled the buffer, so more may be waiting.
    Data {
        /// The read filled all free space.
        full: bool,
    },
    /// Nothing to read now.
    WouldBlock,
    /// The router closed its side.
    Eof,
}

/// What the message handler wants next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep handing out messages.
    Continue,
    /// Stop here; the session is over (close the connection).
    End,
    /// Stop here; the session failed for this reason.
    Fail(String),
}

/// Where the transport handshake stands.
#[derive(Clone, Debug)]
enum Handshake {
    /// RawSocket request sent, reply awaited.
    RawSocket,
    /// WebSocket upgrade sent with this key, response awaited.
    WebSocket(String),
    /// Done; messages flow.
    Done,
}

/// Writes framed messages into a connection's output buffer.
pub(crate) struct Out<'a> {
    framing: &'a mut Framing,
    wbuf: &'a mut Vec<u8>,
    scratch: &'a mut Vec<u8>,
}

impl Out<'_> {
    /// Frames one message that `encode` appends to the buffer it is given.
    pub(crate) fn message(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<(), TooLong> {
        self.framing.message(self.wbuf, self.scratch, encode)
    }

    /// Frames one session-control message.
    pub(crate) fn control(&mut self, ser: Serializer, msg: &Message) -> anyhow::Result<()> {
        let mut result = Ok(());
        self.message(|buf| result = encode::control(ser, msg, buf))?;
        result
    }

    /// Bytes queued and not yet written.
    pub(crate) fn queued(&self) -> usize {
        self.wbuf.len()
    }
}

#[cfg(test)]
impl<'a> Out<'a> {
    /// A writer over bare buffers, for tests of what roles send.
    pub(crate) fn over(framing: &'a mut Framing, wbuf: &'a mut Vec<u8>, scratch: &'a mut Vec<u8>) -> Out<'a> {
        Out { framing, wbuf, scratch }
    }
}

/// One connection and its buffers.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: Stream,
    handshake: Handshake,
    framing: Framing,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    scratch: Vec<u8>,
    frag: Vec<u8>,
    in_frag: bool,
}

impl Conn {
    /// A connection over `stream` (connect under way) with a read buffer of `rbuf` bytes, which
    /// grows only if one frame needs more.
    pub(crate) fn new(stream: Stream, target: &Target, ser: Serializer, rbuf: usize, seed: u64) -> Conn {
        let (handshake, framing) = match target {
            Target::WebSocket { .. } => (
                Handshake::WebSocket(frame::websocket_key(seed)),
                Framing::websocket(ser, (seed >> 32) as u32 ^ seed as u32),
            ),
            _ => (Handshake::RawSocket, Framing::RawSocket { peer_max: 0 }),
        };
        Conn {
            stream,
            handshake,
            framing,
            rbuf: vec![0; rbuf.max(HANDSHAKE_LEN)],
            rstart: 0,
            rend: 0,
            wbuf: Vec::new(),
            wpos: 0,
            scratch: Vec::new(),
            frag: Vec::new(),
            in_frag: false,
        }
    }

    /// Registers the socket for both readiness kinds, once (edge-triggered).
    pub(crate) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut self.stream, token, Interest::READABLE | Interest::WRITABLE)
    }

    /// Checks a pending connect; on success queues the transport handshake and returns true.
    pub(crate) fn try_open(&mut self, target: &Target, ser: Serializer) -> io::Result<bool> {
        if !self.stream.connected()? {
            return Ok(false);
        }
        match (&self.handshake, target) {
            (Handshake::WebSocket(key), Target::WebSocket { host, path, .. }) => {
                self.wbuf.extend_from_slice(&frame::websocket_request(host, path, key, ser));
            }
            _ => self.wbuf.extend_from_slice(&frame::rawsocket_request(ser)),
        }
        Ok(true)
    }

    /// Completes the transport handshake from what was read: `Ok(true)` once done.
    pub(crate) fn handshake(&mut self, ser: Serializer) -> Result<bool, String> {
        let input = &self.rbuf[self.rstart..self.rend];
        match &self.handshake {
            Handshake::Done => Ok(true),
            Handshake::RawSocket => {
                let Some(&reply) = input.first_chunk::<HANDSHAKE_LEN>() else { return Ok(false) };
                self.framing = Framing::RawSocket { peer_max: frame::rawsocket_reply(ser, reply)? };
                self.rstart += HANDSHAKE_LEN;
                self.handshake = Handshake::Done;
                Ok(true)
            }
            Handshake::WebSocket(key) => match frame::websocket_response(input, key, ser)? {
                Some(len) => {
                    self.rstart += len;
                    self.handshake = Handshake::Done;
                    Ok(true)
                }
                None => Ok(false),
            },
        }
    }

    /// Reads once into the free part of the input buffer.
    pub(crate) fn fill(&mut self) -> io::Result<Fill> {
        if self.rstart > 0 {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        if self.rend == self.rbuf.len() {
            let grown = (self.rbuf.len() * 2).min(MAX_INCOMING + 16);
            if grown == self.rbuf.len() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "router sent a message over 16 MiB"));
            }
            self.rbuf.resize(grown, 0);
        }
        loop {
            match self.stream.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => return Ok(Fill::Eof),
                Ok(n) => {
                    self.rend += n;
                    return Ok(Fill::Data { full: self.rend == self.rbuf.len() });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Fill::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands every whole message in the input buffer to `f`, answering pings on the way. Stops
    /// early when `f` does not return [`Flow::Continue`], or on a close frame ([`Flow::End`]).
    pub(crate) fn messages(&mut self, mut f: impl FnMut(&[u8], &mut Out<'_>) -> Flow) -> Flow {
        let Conn { framing, rbuf, rstart, rend, wbuf, scratch, frag, in_frag, .. } = self;
        let mut out = Out { framing, wbuf, scratch };
        loop {
            let input = &mut rbuf[*rstart..*rend];
            let parsed = match out.framing {
                Framing::RawSocket { .. } => frame::parse_rawsocket(input),
                Framing::WebSocket { .. } => frame::parse_websocket(input),
            };
            let p = match parsed {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => return Flow::Fail(e),
            };
            *rstart += p.consumed;
            let payload = &input[p.payload];
            let flow = match (p.kind, *in_frag) {
                (Kind::Data, false) if p.fin => f(payload, &mut out),
                (Kind::Data, false) => {
                    frag.clear();
                    frag.extend_from_slice(payload);
                    *in_frag = true;
                    Flow::Continue
                }
                (Kind::Continuation, true) => {
                    frag.extend_from_slice(payload);
                    if frag.len() > MAX_INCOMING {
                        return Flow::Fail("router sent a fragmented message over 16 MiB".to_owned());
                    }
                    if p.fin {
                        *in_frag = false;
                        f(frag, &mut out)
                    } else {
                        Flow::Continue
                    }
                }
                (Kind::Data | Kind::Continuation, _) => {
                    return Flow::Fail("WebSocket fragments out of order".to_owned());
                }
                (Kind::Ping, _) => {
                    out.framing.pong(out.wbuf, payload);
                    Flow::Continue
                }
                (Kind::Pong, _) => Flow::Continue,
                (Kind::Close, _) => {
                    out.framing.close(out.wbuf);
                    Flow::End
                }
            };
            if flow != Flow::Continue {
                return flow;
            }
        }
        if *rstart == *rend {
            *rstart = 0;
            *rend = 0;
        }
        Flow::Continue
    }

    /// A writer for this connection's output buffer.
    pub(crate) fn out(&mut self) -> Out<'_> {
        Out { framing: &mut self.framing, wbuf: &mut self.wbuf, scratch: &mut self.scratch }
    }

    /// Bytes queued and not yet written.
    pub(crate) fn queued(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Writes what is queued: `Ok(true)` when everything went out.
    pub(crate) fn flush(&mut self) -> io::Result<bool> {
        while self.wpos < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.wpos > self.wbuf.len() / 2 {
                        self.wbuf.drain(..self.wpos);
                        self.wpos = 0;
                    }
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        Ok(true)
    }
}
