//! Client-side transport framing: the RawSocket handshake and frames, and the WebSocket
//! upgrade and frames (masked, as a client must).
//!
//! Owns: turning encoded WAMP messages into frames in an output buffer and finding whole frames
//! at the front of an input buffer. Never: sockets or WAMP content. The WebSocket frame code is
//! written here rather than taken from tungstenite because tungstenite hands every message out
//! in its own allocation; tungstenite is used only to compute `Sec-WebSocket-Accept`.

use std::ops::Range;

use base64::Engine as _;
use wampyard::codec::Serializer;
use wampyard::transport::rawsocket::{self, FrameType, HANDSHAKE_LEN, HEADER_LEN, MAGIC, MAX_LENGTH_EXPONENT};

/// The largest message the load generator accepts: what it announces in the RawSocket handshake
/// (exponent 15, 16 MiB), applied to WebSocket too.
pub(crate) const MAX_INCOMING: usize = 1 << 24;

/// The largest WebSocket upgrade response accepted; real ones are a few hundred bytes.
const MAX_UPGRADE_RESPONSE: usize = 16 * 1024;

/// WebSocket opcode: continuation of a fragmented message.
const OP_CONTINUATION: u8 = 0x0;
/// WebSocket opcode: text message (JSON).
const OP_TEXT: u8 = 0x1;
/// WebSocket opcode: binary message (MessagePack, CBOR).
const OP_BINARY: u8 = 0x2;
/// WebSocket opcode: close.
const OP_CLOSE: u8 = 0x8;
/// WebSocket opcode: ping.
const OP_PING: u8 = 0x9;
/// WebSocket opcode: pong.
const OP_PONG: u8 = 0xA;

/// The WebSocket close status for a normal closure.
const WS_NORMAL_CLOSURE: u16 = 1000;

/// How a connection frames its messages once its handshake is done.
#[derive(Clone, Debug)]
pub(crate) enum Framing {
    /// RawSocket; the router accepts messages up to `peer_max` bytes.
    RawSocket {
        /// The router's receive limit from its handshake reply.
        peer_max: usize,
    },
    /// WebSocket, text frames for JSON and binary frames otherwise.
    WebSocket {
        /// The opcode of data frames.
        opcode: u8,
        /// Masking-key generator state (xorshift); any key is valid, it need not be secret here.
        mask: u32,
    },
}

/// A message did not fit the router's limit.
#[derive(Debug, thiserror::Error)]
#[error("message of {len} bytes is over the router's limit of {max} bytes")]
pub(crate) struct TooLong {
    len: usize,
    max: usize,
}

impl Framing {
    /// WebSocket framing for `ser`, masking with keys derived from `seed`.
    pub(crate) fn websocket(ser: Serializer, seed: u32) -> Framing {
        Framing::WebSocket { opcode: if ser.is_text() { OP_TEXT } else { OP_BINARY }, mask: seed | 1 }
    }

    /// Appends one message frame to `out`; `encode` appends the message itself to the buffer it
    /// is given (`out` for RawSocket, where the header is patched afterwards; `scratch` for
    /// WebSocket, whose header length depends on the payload and whose payload is masked).
    pub(crate) fn message(
        &mut self,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), TooLong> {
        match self {
            Framing::RawSocket { peer_max } => {
                let start = out.len();
                out.extend_from_slice(&[0; HEADER_LEN]);
                encode(out);
                let len = out.len() - start - HEADER_LEN;
                match rawsocket::encode_frame_header(FrameType::Message, len) {
                    Ok(header) if len <= *peer_max => {
                        out[start..start + HEADER_LEN].copy_from_slice(&header);
                        Ok(())
                    }
                    _ => {
                        out.truncate(start);
                        Err(TooLong { len, max: *peer_max })
                    }
                }
            }
            Framing::WebSocket { opcode, .. } => {
                let opcode = *opcode;
                scratch.clear();
                encode(scratch);
                let key = self.next_key();
                ws_frame(out, opcode, scratch, key);
                Ok(())
            }
        }
    }

    /// Appends the answer to a ping carrying `payload`.
    pub(crate) fn pong(&mut self, out: &mut Vec<u8>, payload: &[u8]) {
        match self {
            Framing::RawSocket { .. } => {
                // A ping's payload came within our own limit, which is also the frame limit.
                let _ = rawsocket::encode_frame_into(FrameType::Pong, payload, out);
            }
            Framing::WebSocket { .. } => {
                let key = self.next_key();
                ws_frame(out, OP_PONG, &payload[..payload.len().min(125)], key);
            }
        }
    }

    /// Appends a WebSocket close frame (normal closure); RawSocket has none.
    pub(crate) fn close(&mut self, out: &mut Vec<u8>) {
        if let Framing::WebSocket { .. } = self {
            let key = self.next_key();
            ws_frame(out, OP_CLOSE, &WS_NORMAL_CLOSURE.to_be_bytes(), key);
        }
    }

    fn next_key(&mut self) -> [u8; 4] {
        match self {
            Framing::WebSocket { mask, .. } => {
                let mut x = *mask;
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *mask = x;
                x.to_ne_bytes()
            }
            Framing::RawSocket { .. } => [0; 4],
        }
    }
}

fn ws_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], key: [u8; 4]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key);
}

/// XORs `buf` with the repeating 4-byte `key`, eight bytes at a time.
fn apply_mask(buf: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// The RawSocket opening: magic, our length exponent (16 MiB) and the serializer.
pub(crate) fn rawsocket_request(ser: Serializer) -> [u8; HANDSHAKE_LEN] {
    [MAGIC, (MAX_LENGTH_EXPONENT << 4) | ser.rawsocket_id(), 0, 0]
}

/// The router's RawSocket reply: its receive limit, or why it refused.
pub(crate) fn rawsocket_reply(ser: Serializer, reply: [u8; HANDSHAKE_LEN]) -> Result<usize, String> {
    if reply[0] != MAGIC {
        return Err(format!("not a RawSocket router (reply starts with {:#04x})", reply[0]));
    }
    let (high, low) = (reply[1] >> 4, reply[1] & 0x0f);
    if low == 0 {
        let why = match high {
            rawsocket::ERROR_SERIALIZER_UNSUPPORTED => "serializer unsupported".to_owned(),
            rawsocket::ERROR_MAX_LENGTH_UNACCEPTABLE => "maximum message length unacceptable".to_owned(),
            rawsocket::ERROR_RESERVED_BITS => "use of reserved bits".to_owned(),
            rawsocket::ERROR_MAX_CONNECTIONS => "maximum connection count reached".to_owned(),
            other => format!("error code {other}"),
        };
        return Err(format!("router refused the RawSocket handshake: {why}"));
    }
    if low != ser.rawsocket_id() {
        return Err(format!("router answered with serializer id {low}, asked for {}", ser.rawsocket_id()));
    }
    Ok(rawsocket::max_len_for_exponent(high))
}

/// What a frame at the front of the input buffer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A data frame starting a message (RawSocket: always a whole message).
    Data,
    /// A WebSocket continuation frame.
    Continuation,
    /// A ping to answer.
    Ping,
    /// A pong (ignored).
    Pong,
    /// A WebSocket close frame.
    Close,
}

/// A whole frame found at the front of the input buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// What it is.
    pub(crate) kind: Kind,
    /// True if it ends its message (always for RawSocket).
    pub(crate) fin: bool,
    /// Where its payload lies in the buffer.
    pub(crate) payload: Range<usize>,
    /// How many bytes the whole frame takes.
    pub(crate) consumed: usize,
}

/// The RawSocket frame at the front of `buf`, or `None` if it is not whole yet.
pub(crate) fn parse_rawsocket(buf: &[u8]) -> Result<Option<Parsed>, String> {
    let Some(&head) = buf.first_chunk::<HEADER_LEN>() else { return Ok(None) };
    let header = rawsocket::parse_frame_header(head).map_err(|e| e.to_string())?;
    if header.len > MAX_INCOMING {
        return Err(format!("router sent a frame of {} bytes", header.len));
    }
    let end = HEADER_LEN + header.len;
    if buf.len() < end {
        return Ok(None);
    }
    let kind = match header.kind {
        FrameType::Message => Kind::Data,
        FrameType::Ping => Kind::Ping,
        FrameType::Pong => Kind::Pong,
    };
    Ok(Some(Parsed { kind, fin: true, payload: HEADER_LEN..end, consumed: end }))
}

/// The WebSocket frame at the front of `buf`, or `None` if it is not whole yet. A masked frame
/// (servers must not send them) is unmasked in place.
pub(crate) fn parse_websocket(buf: &mut [u8]) -> Result<Option<Parsed>, String> {
    let Some(&[b0, b1]) = buf.first_chunk::<2>() else { return Ok(None) };
    if b0 & 0x70 != 0 {
        return Err("WebSocket frame with reserved bits set (no extension was negotiated)".to_owned());
    }
    let fin = b0 & 0x80 != 0;
    let kind = match b0 & 0x0f {
        OP_CONTINUATION => Kind::Continuation,
        OP_TEXT | OP_BINARY => Kind::Data,
        OP_CLOSE => Kind::Close,
        OP_PING => Kind::Ping,
        OP_PONG => Kind::Pong,
        other => return Err(format!("WebSocket frame with reserved opcode {other:#x}")),
    };
    let masked = b1 & 0x80 != 0;
    let (len, mut pos) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(b) => (u64::from_be_bytes(b), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > MAX_INCOMING {
        return Err(format!("router sent a WebSocket frame of {len} bytes"));
    }
    let mut key = None;
    if masked {
        match buf.get(pos..pos + 4) {
            Some(k) => key = Some([k[0], k[1], k[2], k[3]]),
            None => return Ok(None),
        }
        pos += 4;
    }
    let end = pos + len;
    if buf.len() < end {
        return Ok(None);
    }
    if let Some(key) = key {
        apply_mask(&mut buf[pos..end], key);
    }
    Ok(Some(Parsed { kind, fin, payload: pos..end, consumed: end }))
}

/// A fresh `Sec-WebSocket-Key` from 16 pseudo-random bytes.
pub(crate) fn websocket_key(seed: u64) -> String {
    let mut x = seed | 1;
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The HTTP upgrade request for `wamp.2.<ser>`.
pub(crate) fn websocket_request(host: &str, path: &str, key: &str, ser: Serializer) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
        ser.subprotocol()
    )
    .into_bytes()
}

/// Checks the upgrade response at the front of `buf`: `Ok(Some(len))` with the length of the
/// response head when it is complete and accepts our key and subprotocol.
pub(crate) fn websocket_response(buf: &[u8], key: &str, ser: Serializer) -> Result<Option<usize>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_UPGRADE_RESPONSE {
            Err("WebSocket upgrade response too long".to_owned())
        } else {
            Ok(None)
        };
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("101") {
        return Err(format!("router refused the WebSocket upgrade: {status}"));
    }
    let (mut accept, mut protocol) = (None, None);
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "sec-websocket-accept" => accept = Some(value.trim().to_owned()),
                "sec-websocket-protocol" => protocol = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    if accept.as_deref() != Some(tungstenite::handshake::derive_accept_key(key.as_bytes()).as_str()) {
        return Err("router sent a wrong Sec-WebSocket-Accept".to_owned());
    }
    if protocol.as_deref() != Some(ser.subprotocol()) {
        return Err(format!("router did not accept the subprotocol {}", ser.subprotocol()));
    }
    Ok(Some(end + 4))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn rawsocket_message_frame_has_a_patched_length_header() {
        let mut f = Framing::RawSocket { peer_max: 1 << 20 };
        let (mut out, mut scratch) = (vec![9], Vec::new());
        f.message(&mut out, &mut scratch, |b| b.extend_from_slice(b"hello")).unwrap();
        assert_eq!(out, [9, 0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o']);
        let parsed = parse_rawsocket(&out[1..]).unwrap().unwrap();
        assert_eq!(parsed, Parsed { kind: Kind::Data, fin: true, payload: 4..9, consumed: 9 });
    }

    #[test]
    fn rawsocket_message_over_the_routers_limit_is_refused_and_not_written() {
        let mut f = Framing::RawSocket { peer_max: 4 };
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        assert!(f.message(&mut out, &mut scratch, |b| b.extend_from_slice(b"hello")).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn partial_frames_are_incomplete() {
        let frame = [0u8, 0, 0, 3, 1, 2, 3];
        for cut in 0..frame.len() {
            assert_eq!(parse_rawsocket(&frame[..cut]).unwrap(), None);
        }
        let mut f = Framing::websocket(Serializer::MsgPack, 7);
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        f.message(&mut out, &mut scratch, |b| b.extend_from_slice(&[5; 300])).unwrap();
        for cut in 0..out.len() {
            assert_eq!(parse_websocket(&mut out.clone()[..cut]).unwrap(), None);
        }
    }

    #[test]
    fn websocket_frames_are_masked_and_unmask_to_the_payload() {
        for len in [0usize, 1, 7, 8, 125, 126, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut f = Framing::websocket(Serializer::Json, 0x1234_5678);
            let (mut out, mut scratch) = (Vec::new(), Vec::new());
            f.message(&mut out, &mut scratch, |b| b.extend_from_slice(&payload)).unwrap();
            assert_eq!(out[0], 0x80 | OP_TEXT);
            assert_ne!(out[1] & 0x80, 0, "client frames are masked");
            let parsed = parse_websocket(&mut out).unwrap().unwrap();
            assert_eq!((parsed.kind, parsed.fin, parsed.consumed), (Kind::Data, true, out.len()));
            assert_eq!(&out[parsed.payload], &payload[..], "len {len}");
        }
    }

    #[test]
    fn unmasked_server_frames_parse_with_every_length_form() {
        let mut frame = vec![0x82, 126, 0x01, 0x00];
        frame.extend(std::iter::repeat_n(7u8, 256));
        let parsed = parse_websocket(&mut frame).unwrap().unwrap();
        assert_eq!(parsed.payload, 4..260);
        let mut ping = vec![0x89, 2, b'h', b'i'];
        assert_eq!(parse_websocket(&mut ping).unwrap().unwrap().kind, Kind::Ping);
        let mut frag = vec![0x02, 1, 0, 0x80, 1, 1];
        let first = parse_websocket(&mut frag).unwrap().unwrap();
        assert_eq!((first.kind, first.fin), (Kind::Data, false));
        let second = parse_websocket(&mut frag[3..]).unwrap().unwrap();
        assert_eq!((second.kind, second.fin), (Kind::Continuation, true));
    }

    #[test]
    fn rawsocket_handshake_reply_gives_the_routers_limit_or_the_reason() {
        let req = rawsocket_request(Serializer::Cbor);
        assert_eq!(req, [0x7f, 0xf3, 0, 0]);
        assert_eq!(rawsocket_reply(Serializer::Cbor, [0x7f, 0xb3, 0, 0]), Ok(1 << 20));
        let err = rawsocket_reply(Serializer::Cbor, [0x7f, 0x10, 0, 0]).unwrap_err();
        assert!(err.contains("serializer unsupported"), "{err}");
        assert!(rawsocket_reply(Serializer::Cbor, [0x48, 0x54, 0x54, 0x50]).is_err());
    }

    #[test]
    fn websocket_upgrade_response_is_checked() {
        let key = websocket_key(42);
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let ok = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nsec-websocket-protocol: wamp.2.cbor\r\n\r\nrest"
        );
        assert_eq!(websocket_response(ok.as_bytes(), &key, Serializer::Cbor), Ok(Some(ok.len() - 4)));
        assert_eq!(websocket_response(&ok.as_bytes()[..20], &key, Serializer::Cbor), Ok(None));
        assert!(websocket_response(ok.as_bytes(), &key, Serializer::Json).is_err());
        assert!(websocket_response(b"HTTP/1.1 400 Bad Request\r\n\r\n", &key, Serializer::Json).is_err());
        let req = String::from_utf8(websocket_request("h:1", "/ws", &key, Serializer::Cbor)).unwrap();
        assert!(req.starts_with("GET /ws HTTP/1.1\r\n") && req.contains("Sec-WebSocket-Protocol: wamp.2.cbor\r\n"));
    }
}
