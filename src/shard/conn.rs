//! One connection on its shard: transport handshake, then a reading loop that decodes and hands
//! messages to the router, and a writing loop that drains the outbox once per executor tick.
//!
//! Owns: the connection's two tasks and their end. Never: routing decisions or WAMP state (the
//! router has those); framing (the transport has that).

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future;
use glommio::timer::sleep;

use super::mesh::SPILL_PAUSE;
use super::{ListenerSetup, Shard};
use crate::codec;
use crate::router::ConnKey;
use crate::session::{ConnInfo, Outbox, Outgoing};
use crate::transport::{self, ConnectionReader, ConnectionWriter, Incoming, OutFrame, Socket};

/// How long one batched write may take before the peer counts as stuck and is disconnected.
/// A healthy peer on any network drains a batch in far less; a peer that stopped reading would
/// otherwise pin its outbox (bounded, but useless) forever.
pub(super) const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// How long a reader waits before looking again when the shard's cross-shard spill is too large.
const SPILL_BACKOFF: Duration = Duration::from_micros(200);

/// Messages of one connection handed to the router with one reading of the clock while its input
/// keeps coming without a wait: reading the clock costs tens of nanoseconds on a VM, the router's
/// timers have millisecond resolution, and this many messages take microseconds.
const CLOCK_REUSE: u32 = 32;

/// The time handed to the router with one connection's messages. It is read again whenever the
/// connection waited for input or yielded to other tasks, and at least every [`CLOCK_REUSE`]
/// messages; in between, a busy connection's messages share one reading.
#[derive(Debug)]
struct BatchClock {
    now: Instant,
    uses: u32,
    stale: bool,
}

impl BatchClock {
    fn new() -> BatchClock {
        BatchClock { now: Instant::now(), uses: 0, stale: false }
    }

    /// Time has passed (a wait, a yield): the next message reads the clock again.
    fn expire(&mut self) {
        self.stale = true;
    }

    fn now(&mut self) -> Instant {
        if self.stale || self.uses >= CLOCK_REUSE {
            *self = BatchClock::new();
        }
        self.uses += 1;
        self.now
    }
}

/// Serves one accepted socket until it closes.
pub(super) async fn serve(socket: Socket, shard: Rc<RefCell<Shard>>, tcfg: Rc<ListenerSetup>) {
    // Boxed: the handshake's state (about 1.7 KB) would otherwise stay inside this future, and
    // so inside every idle connection, for the connection's whole life.
    let conn = match Box::pin(transport::accept(socket, &tcfg.transport)).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!("transport handshake failed: {e}");
            shard.borrow_mut().counters.handshake_failures += 1;
            return;
        }
    };
    let info = ConnInfo {
        serializer: conn.serializer,
        transport: match conn.kind {
            transport::TransportKind::RawSocket => "rawsocket",
            transport::TransportKind::WebSocket => "websocket",
        },
        peer: conn.peer.clone(),
        max_outgoing: conn.max_outgoing,
        auth: tcfg.auth.clone(),
    };
    let budget = shard.borrow().outbox_budget;
    let outbox = Outbox::new(budget);
    let key = shard.borrow_mut().router.open(info, outbox.clone(), Instant::now());
    shard.borrow_mut().settle();
    let (reader, writer) = conn.split();
    let reading = read_loop(reader, shard.clone(), key, outbox.clone());
    let writing = write_loop(writer, outbox.clone());
    future::or(reading, writing).await;
    let mut s = shard.borrow_mut();
    let s = &mut *s;
    s.router.on_transport_closed(key, &mut s.mesh);
    s.settle();
}

/// Reads until the peer closes, the transport fails, or the router closes the session (also when
/// its HELLO deadline passes: the router's timer closes the outbox, which ends the writer).
async fn read_loop(mut reader: ConnectionReader, shard: Rc<RefCell<Shard>>, key: ConnKey, outbox: Outbox) {
    let Some(ser) = shard.borrow().router.session(key).map(|s| s.conn.serializer) else { return };
    let mut clock = BatchClock::new();
    loop {
        while shard.borrow().mesh.spilled() > SPILL_PAUSE {
            clock.expire();
            sleep(SPILL_BACKOFF).await;
        }
        let next = {
            let mut read = std::pin::pin!(reader.next());
            poll_fn(|cx| {
                let polled = read.as_mut().poll(cx);
                if polled.is_pending() {
                    clock.expire();
                }
                polled
            })
            .await
        };
        match next {
            Ok(Some(Incoming::Message(bytes))) => {
                let mut s = shard.borrow_mut();
                let s = &mut *s;
                match codec::decode(ser, bytes) {
                    Ok(msg) => s.router.on_message(key, msg, clock.now(), &mut s.mesh),
                    Err(e) => s.router.on_decode_error(key, e, &mut s.mesh),
                }
                s.settle();
            }
            Ok(Some(Incoming::Ping(payload))) => outbox.push_pong(payload),
            Ok(None) => break,
            Err(e) => {
                tracing::debug!("connection read failed: {e}");
                if e.is_too_large() {
                    shard.borrow_mut().counters.oversized_messages += 1;
                }
                break;
            }
        }
        if outbox.is_closing() {
            // The router ended the session; the writer flushes and closes, then this task ends.
            return future::pending().await;
        }
        if glommio::executor().need_preempt() {
            clock.expire();
        }
        glommio::yield_if_needed().await;
    }
    outbox.close();
}

/// Writes everything the outbox holds, one batch per wake-up, until it is closed and drained.
async fn write_loop(mut writer: ConnectionWriter, outbox: Outbox) {
    let mut batch: Vec<Outgoing> = Vec::new();
    let mut frames: Vec<OutFrame> = Vec::new();
    loop {
        let open = poll_fn(|cx| outbox.poll_take(cx, &mut batch)).await;
        if !batch.is_empty() {
            frames.extend(batch.drain(..).map(|o| match o {
                Outgoing::Message(b) => OutFrame::Message(b),
                Outgoing::Pong(b) => OutFrame::Pong(b),
            }));
            // Boxed (one small allocation per batch, not per message): the send and its timer
            // are the largest state of this future, which every idle connection would otherwise
            // carry for its whole life.
            let sent = Box::pin(future::or(async { writer.send(&frames).await.map_err(|e| e.to_string()) }, async {
                sleep(WRITE_DEADLINE).await;
                Err("write deadline passed".to_owned())
            }))
            .await;
            frames.clear();
            if outbox.is_empty() {
                // Idle: give the batch buffers back, so that a quiet connection holds none.
                // Under load the outbox is rarely empty here and they are reused.
                frames = Vec::new();
                batch = Vec::new();
            }
            if let Err(e) = sent {
                tracing::debug!("connection write failed: {e}");
                outbox.close();
                return;
            }
        }
        if !open {
            if outbox.overflowed() {
                tracing::info!("peer closed as a slow consumer");
            }
            let _ = writer.close().await;
            return;
        }
    }
}
