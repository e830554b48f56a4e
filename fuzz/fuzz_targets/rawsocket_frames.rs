//! Fuzz target: arbitrary bytes through the RawSocket handshake parser and frame decoder.
//!
//! Parsing must never panic; every frame the decoder yields must be within the limit, consume
//! exactly its header plus payload, and re-encode to the same header.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use wampyard::codec::Serializer;
use wampyard::transport::rawsocket::{
    decode_frame, encode_frame_header, parse_frame_header, parse_handshake, Decoded, HEADER_LEN,
};

/// The limit the router announces by default (1 MiB); small enough to hit the over-limit path.
const MAX_LEN: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Some(hs) = data.get(..4) {
        let _ = parse_handshake([hs[0], hs[1], hs[2], hs[3]], &Serializer::ALL);
        let _ = parse_frame_header([hs[0], hs[1], hs[2], hs[3]]);
    }
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match decode_frame(&mut buf, MAX_LEN) {
            Ok(Decoded::Frame { kind, payload }) => {
                assert!(payload.len() <= MAX_LEN);
                assert_eq!(before - buf.len(), HEADER_LEN + payload.len());
                let header = encode_frame_header(kind, payload.len()).expect("a decoded frame re-encodes");
                assert_eq!(parse_frame_header(header).map(|h| h.len), Ok(payload.len()));
            }
            Ok(Decoded::Incomplete { .. }) | Err(_) => break,
        }
    }
});
