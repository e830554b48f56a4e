//! The transport over real sockets: a glommio echo server driven through the public API
//! (`accept`, `split`, reader and writer in two tasks) against blocking std and tungstenite
//! clients. Every client read has a timeout, so every test ends by itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::future::poll_once;
use glommio::channels::local_channel;
use glommio::net::{TcpListener, UnixListener};
use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::Message;
use wampyard::codec::Serializer;
use wampyard::config::AllowedOrigins;
use wampyard::transport::{accept, Incoming, OutFrame, Socket, TransportConfig, TransportError, TransportKind};

/// What a greeting server sends first.
const GREETING: &[u8] = b"[2,1,{}]";

/// Longest any client waits for one read; far above what a passing test needs.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// What the echo server saw, reported to the test thread.
#[derive(Debug, PartialEq)]
enum Event {
    Accepted { kind: TransportKind, serializer: Serializer, max_outgoing: usize },
    AcceptFailed { error: String, timed_out: bool },
    ReadFailed { error: String, too_large: bool },
    PeerClosed,
}

/// A glommio thread running an echo server on a TCP port and a Unix socket.
struct Server {
    addr: SocketAddr,
    unix_path: PathBuf,
    events: Receiver<Event>,
    stop: Arc<AtomicBool>,
    handle: Option<ExecutorJoinHandle<()>>,
}

impl Server {
    fn start(cfg: TransportConfig) -> Server {
        Server::start_with(cfg, false)
    }

    /// With `greet`, the server also sends [`GREETING`] unprompted on every connection, 50 ms
    /// after splitting it, while its reader is waiting for input.
    fn start_with(cfg: TransportConfig, greet: bool) -> Server {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let unix_path = std::env::temp_dir().join(format!(
            "wampyard-transport-{}-{}.sock",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&unix_path);
        let (events_tx, events) = mpsc::channel();
        let (addr_tx, addr_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let path = unix_path.clone();
        let handle = LocalExecutorBuilder::new(Placement::Unbound)
            .spawn(move || async move {
                let cfg = Rc::new(cfg);
                let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
                let unix = UnixListener::bind(&path).unwrap();
                addr_tx.send(tcp.local_addr().unwrap()).unwrap();
                let (unix_cfg, unix_events) = (cfg.clone(), events_tx.clone());
                glommio::spawn_local(async move {
                    while let Ok(stream) = unix.accept().await {
                        glommio::spawn_local(echo(stream.into(), unix_cfg.clone(), unix_events.clone(), greet))
                            .detach();
                    }
                })
                .detach();
                while let Ok(stream) = tcp.accept().await {
                    if stop_flag.load(Ordering::SeqCst) {
                        break;
                    }
                    glommio::spawn_local(echo(stream.into(), cfg.clone(), events_tx.clone(), greet)).detach();
                }
            })
            .unwrap();
        let addr = addr_rx.recv_timeout(CLIENT_TIMEOUT).unwrap();
        Server { addr, unix_path, events, stop, handle: Some(handle) }
    }

    fn event(&self) -> Event {
        self.events.recv_timeout(CLIENT_TIMEOUT).expect("no event from the server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        let _ = std::fs::remove_file(&self.unix_path);
    }
}

/// Accepts, then echoes: one task reads and queues, another drains the queue in batches.
async fn echo(socket: Socket, cfg: Rc<TransportConfig>, events: Sender<Event>, greet: bool) {
    let conn = match accept(socket, &cfg).await {
        Ok(conn) => conn,
        Err(e) => {
            let timed_out = matches!(e, TransportError::Timeout(_));
            let _ = events.send(Event::AcceptFailed { error: e.to_string(), timed_out });
            return;
        }
    };
    let _ =
        events.send(Event::Accepted { kind: conn.kind, serializer: conn.serializer, max_outgoing: conn.max_outgoing });
    let (mut reader, mut writer) = conn.split();
    let (queue, outbox) = local_channel::new_unbounded::<OutFrame>();
    let writer_task = glommio::spawn_local(async move {
        if greet {
            glommio::timer::sleep(Duration::from_millis(50)).await;
            let _ = writer.send(&[OutFrame::Message(Bytes::from_static(GREETING))]).await;
        }
        while let Some(first) = outbox.recv().await {
            let mut batch = vec![first];
            while let Some(Some(more)) = poll_once(outbox.recv()).await {
                batch.push(more);
            }
            if writer.send(&batch).await.is_err() {
                break;
            }
        }
        let _ = writer.close().await;
    });
    loop {
        let frame = match reader.next().await {
            Ok(Some(Incoming::Message(m))) => OutFrame::Message(m),
            Ok(Some(Incoming::Ping(p))) => OutFrame::Pong(p),
            Ok(None) => {
                let _ = events.send(Event::PeerClosed);
                break;
            }
            Err(e) => {
                let too_large = e.is_too_large();
                let _ = events.send(Event::ReadFailed { error: e.to_string(), too_large });
                break;
            }
        };
        if queue.try_send(frame).is_err() {
            break;
        }
    }
    drop(queue);
    writer_task.await;
}

fn small_config() -> TransportConfig {
    TransportConfig {
        max_message_size: 1024,
        handshake_timeout: Duration::from_millis(300),
        ..TransportConfig::default()
    }
}

// ---- RawSocket client helpers --------------------------------------------------------------

fn tcp_client(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    stream
}

fn handshake<S: Read + Write>(stream: &mut S, octets: [u8; 4]) -> [u8; 4] {
    stream.write_all(&octets).unwrap();
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).unwrap();
    reply
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let x_bit = if len == 1 << 24 { 0x08 } else { 0 };
    let mut out = vec![kind | x_bit, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    out.extend_from_slice(payload);
    out
}

fn read_frame<S: Read>(stream: &mut S) -> (u8, Vec<u8>) {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).unwrap();
    // The X bit (0x08) is the 25th length bit.
    let len = (u32::from_be_bytes(header) & 0x08FF_FFFF) as usize;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).unwrap();
    (header[0], payload)
}

/// Reads until the server closes: end of stream or a reset, never a timeout.
fn expect_closed<S: Read>(stream: &mut S) {
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => return,
            Err(e) => panic!("connection not closed: {e}"),
        }
    }
}

// ---- RawSocket ------------------------------------------------------------------------------

#[test]
fn rawsocket_echoes_messages_for_every_serializer() {
    let server = Server::start(TransportConfig::default());
    for ser in Serializer::ALL {
        let id = ser.rawsocket_id();
        let mut client = tcp_client(server.addr);
        // Client accepts 2^(9+2) = 2 KiB; the router announces 1 MiB (L = 11).
        assert_eq!(handshake(&mut client, [0x7F, 0x20 | id, 0, 0]), [0x7F, 0xB0 | id, 0, 0]);
        assert_eq!(
            server.event(),
            Event::Accepted { kind: TransportKind::RawSocket, serializer: ser, max_outgoing: 2048 }
        );
        let messages: Vec<Vec<u8>> = (0..50).map(|i| vec![id; i * 7]).collect();
        let wire: Vec<u8> = messages.iter().flat_map(|m| frame(0, m)).collect();
        client.write_all(&wire).unwrap();
        for expected in &messages {
            assert_eq!(read_frame(&mut client), (0, expected.clone()));
        }
        client.shutdown(Shutdown::Write).unwrap();
        expect_closed(&mut client);
        assert_eq!(server.event(), Event::PeerClosed);
    }
}

#[test]
fn rawsocket_message_split_across_writes_is_reassembled() {
    let server = Server::start(TransportConfig::default());
    let mut client = tcp_client(server.addr);
    handshake(&mut client, [0x7F, 0xF1, 0, 0]);
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let wire = frame(0, &payload);
    for chunk in wire.chunks(7_777) {
        client.write_all(chunk).unwrap();
        client.flush().unwrap();
    }
    assert_eq!(read_frame(&mut client), (0, payload));
}

#[test]
fn rawsocket_ping_is_answered_with_pong_carrying_same_payload() {
    let server = Server::start(TransportConfig::default());
    let mut client = tcp_client(server.addr);
    handshake(&mut client, [0x7F, 0xF2, 0, 0]);
    client.write_all(&frame(1, b"are you there?")).unwrap();
    assert_eq!(read_frame(&mut client), (2, b"are you there?".to_vec()));
    client.write_all(&frame(1, b"")).unwrap();
    assert_eq!(read_frame(&mut client), (2, Vec::new()));
}

#[test]
fn rawsocket_handshake_with_reserved_bits_gets_error_3_and_close() {
    let server = Server::start(TransportConfig::default());
    let mut client = tcp_client(server.addr);
    assert_eq!(handshake(&mut client, [0x7F, 0xF1, 0, 1]), [0x7F, 0x30, 0, 0]);
    expect_closed(&mut client);
    assert!(matches!(server.event(), Event::AcceptFailed { timed_out: false, .. }));
}

#[test]
fn rawsocket_serializer_zero_gets_error_1_and_close() {
    let server = Server::start(TransportConfig::default());
    let mut client = tcp_client(server.addr);
    assert_eq!(handshake(&mut client, [0x7F, 0xF0, 0, 0]), [0x7F, 0x10, 0, 0]);
    expect_closed(&mut client);
}

#[test]
fn rawsocket_serializer_not_allowed_by_listener_gets_error_1() {
    let cfg = TransportConfig { serializers: vec![Serializer::Cbor], ..TransportConfig::default() };
    let server = Server::start(cfg);
    let mut client = tcp_client(server.addr);
    assert_eq!(handshake(&mut client, [0x7F, 0xF1, 0, 0]), [0x7F, 0x10, 0, 0]);
    expect_closed(&mut client);
    let mut client = tcp_client(server.addr);
    assert_eq!(handshake(&mut client, [0x7F, 0xF3, 0, 0]), [0x7F, 0xB3, 0, 0]);
}

#[test]
fn rawsocket_frame_over_negotiated_length_closes_connection() {
    let server = Server::start(small_config());
    let mut client = tcp_client(server.addr);
    // 1024 bytes is exactly 2^(9+1).
    assert_eq!(handshake(&mut client, [0x7F, 0xF1, 0, 0]), [0x7F, 0x11, 0, 0]);
    assert!(matches!(server.event(), Event::Accepted { .. }));
    client.write_all(&frame(0, &[b'x'; 1024])).unwrap();
    assert_eq!(read_frame(&mut client), (0, vec![b'x'; 1024]));
    client.write_all(&frame(0, &[b'x'; 1025])[..4]).unwrap();
    expect_closed(&mut client);
    assert!(matches!(server.event(), Event::ReadFailed { too_large: true, .. }));
}

#[test]
fn rawsocket_reserved_frame_type_closes_connection() {
    let server = Server::start(TransportConfig::default());
    let mut client = tcp_client(server.addr);
    handshake(&mut client, [0x7F, 0xF1, 0, 0]);
    client.write_all(&frame(3, b"[1]")).unwrap();
    expect_closed(&mut client);
}

#[test]
fn rawsocket_disabled_on_listener_closes_without_reply() {
    let cfg = TransportConfig { rawsocket: false, ..TransportConfig::default() };
    let server = Server::start(cfg);
    let mut client = tcp_client(server.addr);
    client.write_all(&[0x7F, 0xF1, 0, 0]).unwrap();
    expect_closed(&mut client);
}

#[test]
fn unix_socket_rawsocket_echoes_messages() {
    let server = Server::start(TransportConfig::default());
    let mut client = StdUnixStream::connect(&server.unix_path).unwrap();
    client.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    assert_eq!(handshake(&mut client, [0x7F, 0xF3, 0, 0]), [0x7F, 0xB3, 0, 0]);
    assert!(matches!(
        server.event(),
        Event::Accepted { kind: TransportKind::RawSocket, serializer: Serializer::Cbor, .. }
    ));
    client.write_all(&[frame(0, b"\x82\x01\x02"), frame(1, b"p")].concat()).unwrap();
    assert_eq!(read_frame(&mut client), (0, b"\x82\x01\x02".to_vec()));
    assert_eq!(read_frame(&mut client), (2, b"p".to_vec()));
}

// ---- WebSocket origins -----------------------------------------------------------------------

/// The first line of the HTTP answer to an upgrade with `origin` (none: no header) to `host`.
fn upgrade_status(server: &Server, origin: Option<&str>, host: &str) -> String {
    let mut client = tcp_client(server.addr);
    let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: wamp.2.json\r\n{origin}\r\n"
    );
    client.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n") && client.read(&mut byte).unwrap_or(0) == 1 {
        answer.push(byte[0]);
    }
    String::from_utf8_lossy(&answer).trim_end().to_owned()
}

#[test]
fn a_browser_page_of_another_origin_gets_403_and_same_host_pages_and_non_browsers_upgrade() {
    let server = Server::start(small_config());
    let host = server.addr.to_string();
    assert_eq!(upgrade_status(&server, None, &host), "HTTP/1.1 101 Switching Protocols");
    assert_eq!(upgrade_status(&server, Some(&format!("http://{host}")), &host), "HTTP/1.1 101 Switching Protocols");
    assert_eq!(upgrade_status(&server, Some("https://evil.example"), &host), "HTTP/1.1 403 Forbidden");
    let open = TransportConfig { allowed_origins: AllowedOrigins::Any, ..small_config() };
    let server = Server::start(open);
    assert_eq!(upgrade_status(&server, Some("https://evil.example"), &host), "HTTP/1.1 101 Switching Protocols");
}

// ---- Universal port: bad first bytes and silence ------------------------------------------

#[test]
fn garbage_first_bytes_close_connection_and_server_keeps_serving() {
    let server = Server::start(small_config());
    let garbage: [&[u8]; 4] = [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"\x00\xff\xfe\x7f\x80\r\n\r\n",
    ];
    for bytes in garbage {
        let mut client = tcp_client(server.addr);
        client.write_all(bytes).unwrap();
        expect_closed(&mut client);
        assert!(matches!(server.event(), Event::AcceptFailed { .. }));
    }
    let mut client = tcp_client(server.addr);
    assert_eq!(handshake(&mut client, [0x7F, 0xF1, 0, 0]), [0x7F, 0x11, 0, 0]);
}

#[test]
fn silent_client_is_dropped_after_handshake_timeout() {
    let server = Server::start(small_config());
    let mut client = tcp_client(server.addr);
    let start = Instant::now();
    expect_closed(&mut client);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(250), "closed after only {waited:?}");
    assert!(waited < Duration::from_secs(3), "closed after {waited:?}");
    assert!(matches!(server.event(), Event::AcceptFailed { timed_out: true, .. }));
}

#[test]
fn partial_handshake_is_dropped_after_handshake_timeout() {
    let server = Server::start(small_config());
    let mut client = tcp_client(server.addr);
    client.write_all(&[0x7F, 0xF1]).unwrap();
    expect_closed(&mut client);
    assert!(matches!(server.event(), Event::AcceptFailed { timed_out: true, .. }));
}

// ---- WebSocket ------------------------------------------------------------------------------

type WsClient = tungstenite::WebSocket<TcpStream>;

fn ws_connect(
    addr: SocketAddr,
    offer: Option<&str>,
) -> Result<(WsClient, tungstenite::handshake::client::Response), tungstenite::Error> {
    let stream = tcp_client(addr);
    let mut request = format!("ws://{addr}/some/path?x=1").into_client_request().unwrap();
    if let Some(offer) = offer {
        request.headers_mut().insert("Sec-WebSocket-Protocol", offer.parse().unwrap());
    }
    tungstenite::client(request, stream).map_err(|e| match e {
        HandshakeError::Failure(e) => e,
        HandshakeError::Interrupted(_) => panic!("blocking handshake interrupted"),
    })
}

fn subprotocol(response: &tungstenite::handshake::client::Response) -> String {
    response.headers()["Sec-WebSocket-Protocol"].to_str().unwrap().to_owned()
}

#[test]
fn websocket_json_echoes_in_text_frames() {
    let server = Server::start(TransportConfig::default());
    let (mut ws, response) = ws_connect(server.addr, Some("wamp.2.json")).unwrap();
    assert_eq!(subprotocol(&response), "wamp.2.json");
    assert_eq!(
        server.event(),
        Event::Accepted { kind: TransportKind::WebSocket, serializer: Serializer::Json, max_outgoing: usize::MAX }
    );
    for i in 0..20 {
        ws.send(Message::text(format!("[1,\"realm{i}\",{{}}]"))).unwrap();
    }
    for i in 0..20 {
        assert_eq!(ws.read().unwrap(), Message::text(format!("[1,\"realm{i}\",{{}}]")));
    }
    // A binary frame is accepted on input too; JSON goes back out as text.
    ws.send(Message::binary(b"[6,{},\"x\"]".to_vec())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("[6,{},\"x\"]"));
}

#[test]
fn websocket_picks_first_offered_wamp_subprotocol_and_echoes_binary() {
    let server = Server::start(TransportConfig::default());
    let (mut ws, response) = ws_connect(server.addr, Some("chat, wamp.2.msgpack, wamp.2.json")).unwrap();
    assert_eq!(subprotocol(&response), "wamp.2.msgpack");
    assert!(matches!(server.event(), Event::Accepted { serializer: Serializer::MsgPack, .. }));
    ws.send(Message::binary(vec![0x93, 0x01, 0xa1, 0x61, 0x80])).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(vec![0x93, 0x01, 0xa1, 0x61, 0x80]));
}

#[test]
fn websocket_ping_is_answered_by_the_transport() {
    let server = Server::start(TransportConfig::default());
    let (mut ws, _) = ws_connect(server.addr, Some("wamp.2.cbor")).unwrap();
    ws.send(Message::Ping(b"tick".to_vec().into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong(b"tick".to_vec().into()));
}

#[test]
fn websocket_without_wamp_subprotocol_is_rejected_with_400() {
    let server = Server::start(TransportConfig::default());
    for offer in [None, Some("chat, wamp.2.ubjson")] {
        match ws_connect(server.addr, offer) {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
            other => panic!("expected HTTP 400, got {:?}", other.map(|(_, r)| r.status())),
        }
        assert!(matches!(server.event(), Event::AcceptFailed { timed_out: false, .. }));
    }
}

#[test]
fn websocket_with_disallowed_subprotocol_is_rejected_with_400() {
    let cfg = TransportConfig { serializers: vec![Serializer::Json], ..TransportConfig::default() };
    let server = Server::start(cfg);
    match ws_connect(server.addr, Some("wamp.2.msgpack")) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("expected HTTP 400, got {:?}", other.map(|(_, r)| r.status())),
    }
}

#[test]
fn websocket_oversized_message_closes_connection() {
    let server = Server::start(small_config());
    let (mut ws, _) = ws_connect(server.addr, Some("wamp.2.msgpack")).unwrap();
    assert!(matches!(server.event(), Event::Accepted { .. }));
    ws.send(Message::binary(vec![7u8; 1024])).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(vec![7u8; 1024]));
    ws.send(Message::binary(vec![7u8; 1025])).unwrap();
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => {}
            Ok(other) => panic!("expected the connection to close, got {other:?}"),
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::Protocol(_)) => break,
            Err(tungstenite::Error::Io(e)) => {
                assert!(matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe), "{e}");
                break;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(matches!(server.event(), Event::ReadFailed { too_large: true, .. }));
}

#[test]
fn websocket_close_from_client_ends_reader_cleanly() {
    let server = Server::start(TransportConfig::default());
    let (mut ws, _) = ws_connect(server.addr, Some("wamp.2.json")).unwrap();
    assert!(matches!(server.event(), Event::Accepted { .. }));
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => {}
            Ok(other) => panic!("unexpected {other:?}"),
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("unclean close: {e}"),
        }
    }
    assert_eq!(server.event(), Event::PeerClosed);
}

#[test]
fn websocket_disabled_on_listener_closes_connection() {
    let cfg = TransportConfig { websocket: false, ..TransportConfig::default() };
    let server = Server::start(cfg);
    assert!(ws_connect(server.addr, Some("wamp.2.json")).is_err());
}

// ---- Concurrency of the two halves ----------------------------------------------------------

#[test]
fn rawsocket_write_proceeds_while_read_is_pending() {
    let server = Server::start_with(TransportConfig::default(), true);
    let mut client = tcp_client(server.addr);
    handshake(&mut client, [0x7F, 0xF1, 0, 0]);
    assert_eq!(read_frame(&mut client), (0, GREETING.to_vec()));
    client.write_all(&frame(0, b"[]")).unwrap();
    assert_eq!(read_frame(&mut client), (0, b"[]".to_vec()));
}

#[test]
fn websocket_write_proceeds_while_read_is_pending() {
    let server = Server::start_with(TransportConfig::default(), true);
    let (mut ws, _) = ws_connect(server.addr, Some("wamp.2.json")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text(std::str::from_utf8(GREETING).unwrap()));
    ws.send(Message::text("[]")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("[]"));
}

// ---- Large messages and backpressure --------------------------------------------------------

#[test]
fn rawsocket_sixteen_mib_message_uses_x_bit_end_to_end() {
    let cfg = TransportConfig { max_message_size: 1 << 24, ..TransportConfig::default() };
    let server = Server::start(cfg);
    let mut client = tcp_client(server.addr);
    assert_eq!(handshake(&mut client, [0x7F, 0xF2, 0, 0]), [0x7F, 0xF2, 0, 0]);
    let payload: Vec<u8> = (0..1u32 << 24).map(|i| (i % 253) as u8).collect();
    let wire = frame(0, &payload);
    assert_eq!(&wire[..4], &[0x08, 0, 0, 0]);
    let writer = {
        let mut client = client.try_clone().unwrap();
        std::thread::spawn(move || client.write_all(&wire).unwrap())
    };
    let mut header = [0u8; 4];
    client.read_exact(&mut header).unwrap();
    assert_eq!(header, [0x08, 0, 0, 0]);
    let mut echoed = vec![0u8; 1 << 24];
    client.read_exact(&mut echoed).unwrap();
    assert!(echoed == payload);
    writer.join().unwrap();
}

#[test]
fn rawsocket_large_batches_flow_under_backpressure() {
    let server = Server::start(TransportConfig::default());
    let mut client = tcp_client(server.addr);
    handshake(&mut client, [0x7F, 0xF2, 0, 0]);
    let messages: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 64 * 1024]).collect();
    let wire: Vec<u8> = messages.iter().flat_map(|m| frame(0, m)).collect();
    let writer = {
        let mut client = client.try_clone().unwrap();
        std::thread::spawn(move || client.write_all(&wire).unwrap())
    };
    for expected in &messages {
        assert!(read_frame(&mut client) == (0, expected.clone()));
    }
    writer.join().unwrap();
}

#[test]
fn websocket_large_batches_flow_under_backpressure() {
    let server = Server::start(TransportConfig::default());
    let (mut ws, _) = ws_connect(server.addr, Some("wamp.2.cbor")).unwrap();
    // The client writes everything before reading anything: the server's writer must park on a
    // full socket and resume, while its reader keeps going.
    for i in 0..64u8 {
        ws.write(Message::binary(vec![i; 64 * 1024])).unwrap();
    }
    ws.flush().unwrap();
    for i in 0..64u8 {
        assert!(ws.read().unwrap() == Message::binary(vec![i; 64 * 1024]), "message {i}");
    }
}
