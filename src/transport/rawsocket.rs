//! RawSocket framing: the opening handshake and the 4-byte frame headers, as pure functions.
//!
//! Owns: parsing and building handshake octets, frame header encoding, and the incremental frame
//! decoder over a read buffer. Never: I/O, timers, or anything about WAMP messages beyond "a
//! payload is one message". Every function here is total over arbitrary input, so a fuzz target
//! can call [`decode_frame`], [`parse_frame_header`] and [`parse_handshake`] on any bytes.
//!
//! Wire format (all integers big-endian):
//! * handshake, both directions: `0x7F`, `LLLL SSSS`, `0x00`, `0x00`; a router's error reply is
//!   `0x7F`, `EEEE 0000`, `0x00`, `0x00`;
//! * frame header: `RRRR XTTT` and a 24-bit length; `X` is a 25th length bit, set only for a
//!   payload of exactly 2^24 bytes.

use bytes::{Bytes, BytesMut};

use crate::codec::Serializer;

/// The first octet of a RawSocket handshake. No HTTP request can start with it, which is what
/// lets one port serve both RawSocket and WebSocket.
pub const MAGIC: u8 = 0x7F;

/// Length of the handshake, in each direction.
pub const HANDSHAKE_LEN: usize = 4;

/// Length of a frame header.
pub const HEADER_LEN: usize = 4;

/// The largest payload a frame can carry: 2^24 bytes (16 MiB), the 24-bit length plus the `X`
/// bit, which may only be set for exactly this length.
pub const MAX_FRAME_LEN: usize = 1 << 24;

/// The largest length exponent `L` in the handshake: 2^(9+15) = 16 MiB.
pub const MAX_LENGTH_EXPONENT: u8 = 15;

/// Handshake error code: the serializer is not supported.
pub const ERROR_SERIALIZER_UNSUPPORTED: u8 = 1;
/// Handshake error code: the maximum message length is not acceptable.
pub const ERROR_MAX_LENGTH_UNACCEPTABLE: u8 = 2;
/// Handshake error code: the client used reserved bits.
pub const ERROR_RESERVED_BITS: u8 = 3;
/// Handshake error code: the router has reached its maximum connection count.
pub const ERROR_MAX_CONNECTIONS: u8 = 4;

/// What a valid client handshake asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientHandshake {
    /// The serializer the client will speak.
    pub serializer: Serializer,
    /// The largest message the client will receive: 2^(9+L) bytes.
    pub max_len: usize,
}

/// Why a client handshake was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadHandshake {
    /// The first octet is not [`MAGIC`]; there is no RawSocket to answer on.
    #[error("first octet is {0:#04x}, not 0x7f")]
    BadMagic(u8),
    /// The two reserved octets are not zero.
    #[error("reserved handshake octets are not zero")]
    ReservedBits,
    /// The serializer id is 0 (illegal), unknown, or not allowed on this listener.
    #[error("serializer id {0} is not supported")]
    UnsupportedSerializer(u8),
}

impl BadHandshake {
    /// The error code to send back before closing, if a reply is due.
    pub fn reply_code(self) -> Option<u8> {
        match self {
            BadHandshake::BadMagic(_) => None,
            BadHandshake::ReservedBits => Some(ERROR_RESERVED_BITS),
            BadHandshake::UnsupportedSerializer(_) => Some(ERROR_SERIALIZER_UNSUPPORTED),
        }
    }
}

/// Parses a client's handshake; `allowed` lists the serializers this listener accepts.
pub fn parse_handshake(octets: [u8; HANDSHAKE_LEN], allowed: &[Serializer]) -> Result<ClientHandshake, BadHandshake> {
    let [magic, length_and_serializer, reserved1, reserved2] = octets;
    if magic != MAGIC {
        return Err(BadHandshake::BadMagic(magic));
    }
    if reserved1 != 0 || reserved2 != 0 {
        return Err(BadHandshake::ReservedBits);
    }
    let exponent = length_and_serializer >> 4;
    let id = length_and_serializer & 0x0F;
    let serializer = Serializer::from_rawsocket_id(id)
        .filter(|ser| allowed.contains(ser))
        .ok_or(BadHandshake::UnsupportedSerializer(id))?;
    Ok(ClientHandshake { serializer, max_len: max_len_for_exponent(exponent) })
}

/// The message length a handshake exponent stands for: 2^(9+L), with `L` clamped to
/// [`MAX_LENGTH_EXPONENT`].
pub fn max_len_for_exponent(exponent: u8) -> usize {
    1 << (9 + u32::from(exponent.min(MAX_LENGTH_EXPONENT)))
}

/// The largest exponent `L` with 2^(9+L) <= `max_message_size`, clamped to `0..=15`. Below 512
/// bytes there is no exact exponent and 0 (512 bytes) is returned.
pub fn length_exponent(max_message_size: usize) -> u8 {
    let mut exponent = 0;
    while exponent < MAX_LENGTH_EXPONENT && max_len_for_exponent(exponent + 1) <= max_message_size {
        exponent += 1;
    }
    exponent
}

/// The router's successful reply: its own receive limit and the client's serializer.
pub fn handshake_reply(max_message_size: usize, serializer: Serializer) -> [u8; HANDSHAKE_LEN] {
    [MAGIC, (length_exponent(max_message_size) << 4) | serializer.rawsocket_id(), 0, 0]
}

/// The router's error reply with code `code` (one of the `ERROR_*` constants).
pub fn handshake_error_reply(code: u8) -> [u8; HANDSHAKE_LEN] {
    [MAGIC, code << 4, 0, 0]
}

/// The kind of a frame (the `TTT` bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameType {
    /// One WAMP message.
    Message,
    /// A PING; the peer must answer with a PONG carrying the same payload.
    Ping,
    /// A PONG, the answer to a PING.
    Pong,
}

impl FrameType {
    fn bits(self) -> u8 {
        match self {
            FrameType::Message => 0,
            FrameType::Ping => 1,
            FrameType::Pong => 2,
        }
    }
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The frame type.
    pub kind: FrameType,
    /// The payload length, at most [`MAX_FRAME_LEN`].
    pub len: usize,
}

/// A framing violation. Every variant means the connection must be failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The `RRRR` bits are not zero.
    #[error("reserved frame header bits set ({0:#06b})")]
    ReservedBits(u8),
    /// The frame type is 3..=7.
    #[error("reserved frame type {0}")]
    BadFrameType(u8),
    /// The `X` bit is set with a non-zero 24-bit length: more than 2^24 bytes.
    #[error("frame length {0} is over 2^24")]
    BadLength(usize),
    /// The payload is longer than the agreed limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The payload length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
}

/// Parses a frame header. Limits are checked by the caller (see [`decode_frame`]).
pub fn parse_frame_header(octets: [u8; HEADER_LEN]) -> Result<FrameHeader, FrameError> {
    let [flags, b1, b2, b3] = octets;
    let reserved = flags >> 4;
    if reserved != 0 {
        return Err(FrameError::ReservedBits(reserved));
    }
    let kind = match flags & 0x07 {
        0 => FrameType::Message,
        1 => FrameType::Ping,
        2 => FrameType::Pong,
        other => return Err(FrameError::BadFrameType(other)),
    };
    let low = (usize::from(b1) << 16) | (usize::from(b2) << 8) | usize::from(b3);
    let len = if flags & 0x08 != 0 {
        if low != 0 {
            return Err(FrameError::BadLength(MAX_FRAME_LEN + low));
        }
        MAX_FRAME_LEN
    } else {
        low
    };
    Ok(FrameHeader { kind, len })
}

/// Encodes the header of a frame carrying `len` payload bytes.
pub fn encode_frame_header(kind: FrameType, len: usize) -> Result<[u8; HEADER_LEN], FrameError> {
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len, max: MAX_FRAME_LEN });
    }
    if len == MAX_FRAME_LEN {
        return Ok([0x08 | kind.bits(), 0, 0, 0]);
    }
    let [_, _, _, _, _, b1, b2, b3] = (len as u64).to_be_bytes();
    Ok([kind.bits(), b1, b2, b3])
}

/// Appends one whole frame (header and payload) to `out`; nothing is appended on error.
pub fn encode_frame_into(kind: FrameType, payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let header = encode_frame_header(kind, payload.len())?;
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    Ok(())
}

/// What [`decode_frame`] found at the front of the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole frame, removed from the buffer.
    Frame {
        /// The frame type.
        kind: FrameType,
        /// The payload, sharing the buffer's memory.
        payload: Bytes,
    },
    /// The buffer holds only part of a frame; nothing was removed.
    Incomplete {
        /// How many bytes the buffer must hold in total before the next frame is whole.
        needed: usize,
    },
}

/// Takes the next frame off the front of `buf`, rejecting any frame longer than `max_len` as soon
/// as its header is in (before its payload arrives). The payload is split off without copying.
pub fn decode_frame(buf: &mut BytesMut, max_len: usize) -> Result<Decoded, FrameError> {
    let Some(&[b0, b1, b2, b3]) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(Decoded::Incomplete { needed: HEADER_LEN });
    };
    let header = parse_frame_header([b0, b1, b2, b3])?;
    if header.len > max_len {
        return Err(FrameError::TooLarge { len: header.len, max: max_len });
    }
    let needed = HEADER_LEN + header.len;
    if buf.len() < needed {
        return Ok(Decoded::Incomplete { needed });
    }
    let mut frame = buf.split_to(needed);
    let payload = frame.split_off(HEADER_LEN).freeze();
    Ok(Decoded::Frame { kind: header.kind, payload })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const ALL: &[Serializer] = &Serializer::ALL;

    #[test]
    fn valid_handshake_yields_serializer_and_client_limit() {
        let hs = parse_handshake([0x7F, 0xF1, 0, 0], ALL).unwrap();
        assert_eq!(hs, ClientHandshake { serializer: Serializer::Json, max_len: 1 << 24 });
        let hs = parse_handshake([0x7F, 0x02, 0, 0], ALL).unwrap();
        assert_eq!(hs, ClientHandshake { serializer: Serializer::MsgPack, max_len: 512 });
        let hs = parse_handshake([0x7F, 0xB3, 0, 0], ALL).unwrap();
        assert_eq!(hs, ClientHandshake { serializer: Serializer::Cbor, max_len: 1 << 20 });
    }

    #[test]
    fn handshake_with_reserved_octets_is_refused_with_code_3() {
        for octets in [[0x7F, 0xF1, 1, 0], [0x7F, 0xF1, 0, 0x80]] {
            let err = parse_handshake(octets, ALL).unwrap_err();
            assert_eq!(err, BadHandshake::ReservedBits);
            assert_eq!(err.reply_code(), Some(3));
        }
    }

    #[test]
    fn serializer_zero_is_refused_with_code_1() {
        let err = parse_handshake([0x7F, 0xF0, 0, 0], ALL).unwrap_err();
        assert_eq!(err, BadHandshake::UnsupportedSerializer(0));
        assert_eq!(err.reply_code(), Some(1));
    }

    #[test]
    fn unknown_or_disallowed_serializer_is_refused_with_code_1() {
        for id in [4, 5, 6, 15] {
            let err = parse_handshake([0x7F, 0xF0 | id, 0, 0], ALL).unwrap_err();
            assert_eq!(err, BadHandshake::UnsupportedSerializer(id));
        }
        let err = parse_handshake([0x7F, 0xF2, 0, 0], &[Serializer::Json]).unwrap_err();
        assert_eq!(err, BadHandshake::UnsupportedSerializer(2));
        assert_eq!(err.reply_code(), Some(ERROR_SERIALIZER_UNSUPPORTED));
    }

    #[test]
    fn handshake_without_magic_gets_no_reply() {
        let err = parse_handshake([b'G', b'E', b'T', b' '], ALL).unwrap_err();
        assert_eq!(err, BadHandshake::BadMagic(b'G'));
        assert_eq!(err.reply_code(), None);
    }

    #[test]
    fn length_exponent_is_largest_power_not_over_limit() {
        assert_eq!(length_exponent(0), 0);
        assert_eq!(length_exponent(511), 0);
        assert_eq!(length_exponent(512), 0);
        assert_eq!(length_exponent(1023), 0);
        assert_eq!(length_exponent(1024), 1);
        assert_eq!(length_exponent(1 << 20), 11);
        assert_eq!(length_exponent((1 << 20) + 1), 11);
        assert_eq!(length_exponent((1 << 21) - 1), 11);
        assert_eq!(length_exponent(1 << 24), 15);
        assert_eq!(length_exponent(usize::MAX), 15);
        for exponent in 0..=MAX_LENGTH_EXPONENT {
            assert_eq!(length_exponent(max_len_for_exponent(exponent)), exponent);
        }
    }

    #[test]
    fn replies_carry_own_limit_and_serializer_or_error_code() {
        assert_eq!(handshake_reply(1 << 20, Serializer::Json), [0x7F, 0xB1, 0, 0]);
        assert_eq!(handshake_reply(1 << 24, Serializer::Cbor), [0x7F, 0xF3, 0, 0]);
        assert_eq!(handshake_error_reply(ERROR_RESERVED_BITS), [0x7F, 0x30, 0, 0]);
        assert_eq!(handshake_error_reply(ERROR_SERIALIZER_UNSUPPORTED), [0x7F, 0x10, 0, 0]);
    }

    #[test]
    fn frame_headers_round_trip() {
        for kind in [FrameType::Message, FrameType::Ping, FrameType::Pong] {
            for len in [0, 1, 255, 256, 65_535, 65_536, (1 << 24) - 1, 1 << 24] {
                let header = encode_frame_header(kind, len).unwrap();
                assert_eq!(parse_frame_header(header).unwrap(), FrameHeader { kind, len });
            }
        }
        assert_eq!(encode_frame_header(FrameType::Ping, 0x01_0203).unwrap(), [1, 1, 2, 3]);
    }

    #[test]
    fn exactly_16_mib_uses_the_x_bit() {
        assert_eq!(encode_frame_header(FrameType::Message, 1 << 24).unwrap(), [0x08, 0, 0, 0]);
        assert_eq!(encode_frame_header(FrameType::Pong, 1 << 24).unwrap(), [0x0A, 0, 0, 0]);
        let header = parse_frame_header([0x08, 0, 0, 0]).unwrap();
        assert_eq!(header, FrameHeader { kind: FrameType::Message, len: 1 << 24 });
    }

    #[test]
    fn over_16_mib_cannot_be_encoded_or_decoded() {
        let err = encode_frame_header(FrameType::Message, (1 << 24) + 1).unwrap_err();
        assert_eq!(err, FrameError::TooLarge { len: (1 << 24) + 1, max: 1 << 24 });
        assert_eq!(parse_frame_header([0x08, 0, 0, 1]), Err(FrameError::BadLength((1 << 24) + 1)));
        assert_eq!(parse_frame_header([0x08, 0xFF, 0xFF, 0xFF]), Err(FrameError::BadLength((1 << 25) - 1)));
    }

    #[test]
    fn reserved_header_bits_are_rejected() {
        for flags in [0x10, 0x80, 0xF0] {
            assert_eq!(parse_frame_header([flags, 0, 0, 1]), Err(FrameError::ReservedBits(flags >> 4)));
        }
    }

    #[test]
    fn reserved_frame_types_are_rejected() {
        for kind in 3..=7 {
            assert_eq!(parse_frame_header([kind, 0, 0, 1]), Err(FrameError::BadFrameType(kind)));
        }
    }

    #[test]
    fn decoder_waits_for_whole_header_and_payload() {
        let mut buf = BytesMut::new();
        assert_eq!(decode_frame(&mut buf, 1024), Ok(Decoded::Incomplete { needed: 4 }));
        buf.extend_from_slice(&[0, 0, 0]);
        assert_eq!(decode_frame(&mut buf, 1024), Ok(Decoded::Incomplete { needed: 4 }));
        buf.extend_from_slice(&[5, b'h', b'e']);
        assert_eq!(decode_frame(&mut buf, 1024), Ok(Decoded::Incomplete { needed: 9 }));
        assert_eq!(buf.len(), 6);
        buf.extend_from_slice(b"llo");
        let frame = decode_frame(&mut buf, 1024).unwrap();
        assert_eq!(frame, Decoded::Frame { kind: FrameType::Message, payload: Bytes::from_static(b"hello") });
        assert!(buf.is_empty());
    }

    #[test]
    fn decoder_splits_back_to_back_frames() {
        let mut wire = Vec::new();
        encode_frame_into(FrameType::Message, b"one", &mut wire).unwrap();
        encode_frame_into(FrameType::Ping, b"", &mut wire).unwrap();
        encode_frame_into(FrameType::Pong, b"xy", &mut wire).unwrap();
        encode_frame_into(FrameType::Message, b"four", &mut wire).unwrap();
        let mut buf = BytesMut::from(&wire[..]);
        let mut got = Vec::new();
        while let Decoded::Frame { kind, payload } = decode_frame(&mut buf, 16).unwrap() {
            got.push((kind, payload));
        }
        assert_eq!(
            got,
            vec![
                (FrameType::Message, Bytes::from_static(b"one")),
                (FrameType::Ping, Bytes::new()),
                (FrameType::Pong, Bytes::from_static(b"xy")),
                (FrameType::Message, Bytes::from_static(b"four")),
            ]
        );
    }

    #[test]
    fn decoder_payload_shares_the_read_buffer() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 1, 2, 3][..]);
        let start = buf.as_ptr();
        let Decoded::Frame { payload, .. } = decode_frame(&mut buf, 16).unwrap() else {
            panic!("expected a frame");
        };
        assert_eq!(payload.as_ptr(), start.wrapping_add(HEADER_LEN));
    }

    #[test]
    fn frame_over_negotiated_length_is_rejected_before_its_payload() {
        let mut buf = BytesMut::from(&[0u8, 0, 4, 1][..]);
        assert_eq!(decode_frame(&mut buf, 1024), Err(FrameError::TooLarge { len: 1025, max: 1024 }));
        let mut buf = BytesMut::from(&[0u8, 0, 4, 0][..]);
        assert_eq!(decode_frame(&mut buf, 1024), Ok(Decoded::Incomplete { needed: 1028 }));
    }

    #[test]
    fn sixteen_mib_frame_decodes_when_allowed() {
        let mut wire = Vec::new();
        let payload = vec![7u8; 1 << 24];
        encode_frame_into(FrameType::Message, &payload, &mut wire).unwrap();
        assert_eq!(&wire[..4], &[0x08, 0, 0, 0]);
        let mut buf = BytesMut::from(&wire[..]);
        let Decoded::Frame { kind, payload: got } = decode_frame(&mut buf, 1 << 24).unwrap() else {
            panic!("expected a frame");
        };
        assert_eq!(kind, FrameType::Message);
        assert_eq!(got.len(), 1 << 24);
        let mut buf = BytesMut::from(&wire[..4]);
        assert_eq!(
            decode_frame(&mut buf, (1 << 24) - 1),
            Err(FrameError::TooLarge { len: 1 << 24, max: (1 << 24) - 1 })
        );
    }

    #[test]
    fn encode_frame_into_appends_nothing_on_error() {
        let mut out = vec![1, 2, 3];
        let big = vec![0u8; (1 << 24) + 1];
        assert!(encode_frame_into(FrameType::Message, &big, &mut out).is_err());
        assert_eq!(out, vec![1, 2, 3]);
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..2_000 {
            let mut bytes = Vec::new();
            for _ in 0..(state % 64) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push((state >> 24) as u8 & if state % 3 == 0 { 0x07 } else { 0xFF });
            }
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Decoded::Frame { .. }) = decode_frame(&mut buf, 32) {}
        }
    }

    proptest::proptest! {
        #[test]
        fn any_frames_in_any_chunks_decode_to_themselves(
            frames in proptest::collection::vec(
                (0u8..3, proptest::collection::vec(proptest::num::u8::ANY, 0..300)),
                0..20,
            ),
            chunk in 1usize..64,
        ) {
            let kinds = [FrameType::Message, FrameType::Ping, FrameType::Pong];
            let mut wire = Vec::new();
            for (kind, payload) in &frames {
                encode_frame_into(kinds[usize::from(*kind)], payload, &mut wire).unwrap();
            }
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for piece in wire.chunks(chunk) {
                buf.extend_from_slice(piece);
                while let Decoded::Frame { kind, payload } = decode_frame(&mut buf, 300).unwrap() {
                    got.push((kind, payload.to_vec()));
                }
            }
            let expected: Vec<_> =
                frames.iter().map(|(k, p)| (kinds[usize::from(*k)], p.clone())).collect();
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert!(buf.is_empty());
        }
    }
}
