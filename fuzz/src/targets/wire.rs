//! The wire codec: every frame the relay reads (`decode_client`) and every frame a device reads
//! (`decode_server`).
//!
//! Besides never panicking, a frame that decodes must re-encode (the encoder enforces the same
//! limits the decoder checked) to a frame that decodes to the same message; otherwise a relay
//! could accept what it can never send back, or two peers could read one frame two ways.

use std::fmt::Debug;

use between_shared::protocol::{
    decode_client, decode_server, encode_client, encode_server, DecodeError, EncodeError,
};

/// `decode_client` on any bytes.
pub fn wire_client(data: &[u8]) {
    round_trip(data, decode_client, encode_client);
}

/// `decode_server` on any bytes.
pub fn wire_server(data: &[u8]) {
    round_trip(data, decode_server, encode_server);
}

fn round_trip<M: Debug + PartialEq>(
    data: &[u8],
    decode: fn(&[u8]) -> Result<M, DecodeError>,
    encode: fn(&M) -> Result<Vec<u8>, EncodeError>,
) {
    if let Ok(msg) = decode(data) {
        let frame = encode(&msg)
            .unwrap_or_else(|err| panic!("decoded {msg:?} but cannot re-encode: {err}"));
        assert_eq!(
            decode(&frame).ok(),
            Some(msg),
            "the re-encoded frame decodes differently"
        );
    }
}
