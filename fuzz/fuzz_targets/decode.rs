//! Fuzz target: arbitrary bytes through every serializer's decoder.
//!
//! Decoding must never panic. When it succeeds, the message must re-encode, decode again to the
//! same message, and its payload must read as values and transcode to the other serializers.
//! Run with `cargo fuzz run decode` (nightly) from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wampyard::codec::{decode, encode, DecodeError, EncodeError, Serializer};

fn check(ser: Serializer, data: &[u8]) {
    let Ok(msg) = decode(ser, data.to_vec().into()) else {
        return;
    };
    let first = encode(ser, &msg).expect("a decoded message encodes");
    let back = decode(ser, first.clone()).expect("an encoded message decodes");
    // Compared through their encodings as well: a NaN read from MessagePack or CBOR is unequal to
    // itself, so `back == msg` alone would report a false difference.
    let again = encode(ser, &back).expect("a decoded message encodes");
    assert_eq!(again, first, "{ser}: encode(decode(encode(m))) differs");
    let has_nan = format!("{msg:?}").contains("NaN");
    assert!(has_nan || back == msg, "{ser}: decode(encode(m)) != m");

    let Some(p) = msg.payload() else { return };
    match p.to_values() {
        Ok(_) => {}
        // Well-formed JSON the full parser refuses: integers beyond 64 bits, numbers beyond f64.
        Err(DecodeError::Syntax(Serializer::Json, _)) if ser == Serializer::Json => return,
        Err(e) => panic!("{ser}: a payload that decoded does not read as values: {e}"),
    }
    for to in Serializer::ALL {
        match p.for_serializer(to) {
            Ok(converted) => {
                converted
                    .to_values()
                    .expect("a transcoded payload reads as values");
            }
            // JSON has no NaN or infinity.
            Err(EncodeError::Unrepresentable(Serializer::Json, _)) if to == Serializer::Json => {}
            Err(e) => panic!("{ser} -> {to}: {e}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    for ser in Serializer::ALL {
        check(ser, data);
    }
});
