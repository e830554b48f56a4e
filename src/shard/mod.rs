//! Executors, cores, listeners and cross-shard channels: the only place that knows glommio
//! (with `transport`).
//!
//! Owns: [`Server`] (start, addresses, shutdown, join), one pinned glommio executor per shard,
//! each shard's [`Shard`] state (its router and its sending side of the mesh), the accept loops
//! and the inbox loop. Never: WAMP semantics; the router decides, this module carries out.
//!
//! Start-up: the calling thread binds every TCP listener, one socket per serving shard with
//! SO_REUSEPORT (so the kernel spreads connections, and port 0 resolves to one port for all),
//! then starts the executors. A Unix-socket listener cannot be spread by the kernel, and glommio
//! cannot give an accepted Unix stream's descriptor back, so a small acceptor thread (not a
//! shard) accepts them and deals the descriptors round-robin to the listener's shards.

mod conn;
pub mod mesh;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use glommio::net::{TcpListener, UnixStream};
use glommio::{LocalExecutorBuilder, Placement};
use socket2::{Domain, Protocol, SockAddr, Socket as RawSocket, Type};

use crate::config::{Config, Endpoint, Limits, ListenerAuth, ListenerConfig};
use crate::realm::Realms;
use crate::router::Router;
use crate::transport::{Socket, TransportConfig};
use mesh::{Doorbells, Inbound, Inbox, Mesh};

/// Pending-connection backlog of each listening socket.
const LISTEN_BACKLOG: i32 = 1024;

/// How long `Server::start` waits for every shard to report that it is serving.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a shutting-down shard checks whether its connections are gone.
const SHUTDOWN_POLL: Duration = Duration::from_millis(5);

/// How long a shard keeps retrying spilled cross-shard messages before looking at its inbox again.
const SPILL_RETRY: Duration = Duration::from_micros(100);

/// Messages a shard takes from its inbox before it lets its connections run again.
const INBOX_BATCH: usize = 256;

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// A listening socket could not be set up.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address from the configuration.
        addr: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// An executor could not be created (for example a CPU that is not online).
    #[error("cannot start shard {shard}: {reason}")]
    Executor {
        /// The shard.
        shard: usize,
        /// glommio's reason.
        reason: String,
    },
    /// A shard did not report ready in time, or failed while setting up.
    #[error("shard start-up failed: {0}")]
    Startup(String),
    /// A new configuration cannot be applied to the running router.
    #[error("cannot reload: {0}")]
    Reload(String),
}

/// Where a listener ended up listening.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BoundAddr {
    /// A TCP address, with the port resolved.
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

/// Counters of the shard runtime (the router keeps its own).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// Connections whose RawSocket/WebSocket handshake failed (garbage, bad handshake, timeout).
    pub handshake_failures: u64,
    /// Connections closed for sending a message over the size limit.
    pub oversized_messages: u64,
}

/// One shard's mutable state, shared by its tasks (single-threaded: `Rc<RefCell<_>>`, never
/// borrowed across an `.await`).
#[derive(Debug)]
pub(crate) struct Shard {
    router: Router,
    mesh: Mesh,
    counters: Counters,
    /// Per-connection outbox budget in bytes (`limits.outbox_max_bytes`).
    outbox_budget: usize,
    /// The timer task's state: the deadline it sleeps until, and how to wake it earlier.
    alarm: Alarm,
}

/// What the shard's timer task sleeps for.
#[derive(Debug, Default)]
struct Alarm {
    /// The router deadline the task sleeps until (`None`: no deadline, it sleeps until woken).
    armed: Option<Instant>,
    /// Set when the router got an earlier deadline than `armed`.
    moved: bool,
    /// The sleeping timer task.
    waker: Option<Waker>,
}

impl Shard {
    /// After the router handled something: send what it queued for other shards, and wake the
    /// timer task if the router now has an earlier deadline than the one it sleeps for.
    fn settle(&mut self) {
        self.mesh.flush();
        let Some(next) = self.router.next_deadline() else { return };
        if self.alarm.armed.is_none_or(|armed| next < armed) {
            self.alarm.armed = Some(next);
            self.alarm.moved = true;
            if let Some(w) = self.alarm.waker.take() {
                w.wake();
            }
        }
    }
}

/// A bound listener: per shard, its own listening TCP socket (`None`: the shard does not accept
/// on it), or for a Unix socket the listener its acceptor thread will use.
struct Bound {
    addr: BoundAddr,
    tcp: Vec<Option<OwnedFd>>,
    unix: Option<(UnixListener, Vec<usize>)>,
}

/// The thread accepting on one Unix-socket listener.
#[derive(Debug)]
struct UnixAcceptor {
    /// A second handle on the listening socket, to shut it down and so end a blocked accept.
    listener: UnixListener,
    thread: JoinHandle<()>,
}

/// A running router.
#[derive(Debug)]
pub struct Server {
    addrs: Vec<BoundAddr>,
    doors: Doorbells,
    handles: Vec<glommio::ExecutorJoinHandle<()>>,
    unix: Vec<UnixAcceptor>,
    /// Tells the acceptor threads that a failed accept means "stop", not "retry".
    stopping: Arc<AtomicBool>,
    /// The names of the realms served, in order: a reload may change their roles, not them.
    realm_names: Vec<String>,
}

impl Server {
    /// Binds the listeners and starts one executor per shard; returns once every shard serves.
    pub fn start(config: &Config) -> Result<Server, ShardError> {
        let (shards, cpus) = config.resolve_shards(crate::config::online_cpus());
        let realms = Arc::new(Realms::new(config.realms.clone()));
        let mut addrs = Vec::new();
        let mut per_shard: Vec<Vec<Option<OwnedFd>>> = (0..shards).map(|_| Vec::new()).collect();
        let mut unix_listeners = Vec::new();
        for (index, l) in config.listeners.iter().enumerate() {
            let bound = bind_listener(l, shards)?;
            addrs.push(bound.addr);
            for (shard, fd) in bound.tcp.into_iter().enumerate() {
                per_shard[shard].push(fd);
            }
            if let Some(u) = bound.unix {
                unix_listeners.push((index, u));
            }
        }
        let tcfgs: Vec<ListenerSetup> = config
            .listeners
            .iter()
            .map(|l| ListenerSetup {
                transport: TransportConfig {
                    max_message_size: config.limits.max_message_size,
                    handshake_timeout: config.limits.handshake_timeout,
                    rawsocket: l.transports.rawsocket,
                    websocket: l.transports.websocket,
                    serializers: l.serializers.clone(),
                    allowed_origins: l.allowed_origins.clone(),
                },
                auth: Arc::new(l.auth.clone()),
            })
            .collect();
        let (inboxes, doors) = mesh::inboxes(shards, config.limits.shard_inbox_capacity);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let mut handles = Vec::with_capacity(shards);
        for (shard, (inbox, listeners)) in inboxes.into_iter().zip(per_shard).enumerate() {
            let placement = match &cpus {
                Some(cpus) => Placement::Fixed(cpus.get(shard).copied().unwrap_or(shard)),
                None => Placement::Unbound,
            };
            let setup = ShardSetup {
                shard,
                shards,
                realms: realms.clone(),
                inbox,
                doors: doors.clone(),
                listeners,
                tcfgs: tcfgs.clone(),
                limits: config.limits.clone(),
                shutdown_timeout: config.router.shutdown_timeout,
                ready: ready_tx.clone(),
            };
            let mut builder = LocalExecutorBuilder::new(placement).name(&format!("wampyard-{shard}"));
            if !config.router.spin_before_park.is_zero() {
                builder = builder.spin_before_park(config.router.spin_before_park);
            }
            let handle = builder
                .spawn(move || run_shard(setup))
                .map_err(|e| ShardError::Executor { shard, reason: e.to_string() })?;
            handles.push(handle);
        }
        drop(ready_tx);
        let stopping = Arc::new(AtomicBool::new(false));
        let mut unix = Vec::new();
        for (index, (listener, shards)) in unix_listeners {
            let handle = listener
                .try_clone()
                .map_err(|source| ShardError::Listen { addr: format!("{:?}", addrs[index]), source })?;
            let (doors, stopping) = (doors.clone(), stopping.clone());
            let thread = std::thread::Builder::new()
                .name(format!("wampyard-unix-{index}"))
                .spawn(move || accept_unix(listener, index, shards, doors, stopping))
                .map_err(|source| ShardError::Listen { addr: format!("{:?}", addrs[index]), source })?;
            unix.push(UnixAcceptor { listener: handle, thread });
        }
        let realm_names = config.realms.iter().map(|r| r.name.clone()).collect();
        let server = Server { addrs, doors, handles, unix, stopping, realm_names };
        for _ in 0..shards {
            match ready_rx.recv_timeout(STARTUP_TIMEOUT) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    server.shutdown();
                    return Err(ShardError::Startup(e));
                }
                Err(_) => {
                    server.shutdown();
                    return Err(ShardError::Startup("a shard did not start in time".into()));
                }
            }
        }
        Ok(server)
    }

    /// The listeners' addresses, in configuration order (TCP ports resolved).
    pub fn addrs(&self) -> &[BoundAddr] {
        &self.addrs
    }

    /// Applies the roles and permissions of `config` (already validated) to every shard and
    /// returns once every shard has: each session keeps its role, and any action after this
    /// returns is checked against the new permissions. The realms must be the same, in the same
    /// order; nothing else of `config` is applied.
    pub fn reload_roles(&self, config: &Config) -> Result<(), ShardError> {
        let names: Vec<&str> = config.realms.iter().map(|r| r.name.as_str()).collect();
        if names != self.realm_names.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(ShardError::Reload("the realms changed; only roles and permissions are reloaded".into()));
        }
        let realms = Arc::new(Realms::new(config.realms.clone()));
        let (done, applied) = mpsc::channel();
        for shard in 0..self.doors.len() {
            self.doors.send_blocking(shard, Inbound::Reload(realms.clone(), done.clone()));
        }
        for _ in 0..self.doors.len() {
            applied.recv_timeout(STARTUP_TIMEOUT).map_err(|_| ShardError::Reload("a shard did not answer".into()))?;
        }
        Ok(())
    }

    /// Asks every shard to stop accepting, say GOODBYE to its sessions and stop.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for u in &self.unix {
            let _ = socket2::SockRef::from(&u.listener).shutdown(std::net::Shutdown::Both);
        }
        for shard in 0..self.doors.len() {
            self.doors.send_blocking(shard, Inbound::Shutdown);
        }
    }

    /// Waits for every shard to stop.
    pub fn join(self) -> Result<(), ShardError> {
        for u in self.unix {
            let _ = u.thread.join();
        }
        let mut result = Ok(());
        for (shard, h) in self.handles.into_iter().enumerate() {
            if let Err(e) = h.join() {
                result = Err(ShardError::Executor { shard, reason: e.to_string() });
            }
        }
        result
    }
}

/// Binds one configured listener: for TCP a listening socket per serving shard, all on one port.
fn bind_listener(l: &ListenerConfig, shards: usize) -> Result<Bound, ShardError> {
    let serving: Vec<usize> = match &l.shards {
        Some(list) => list.iter().copied().filter(|s| *s < shards).collect(),
        None => (0..shards).collect(),
    };
    match &l.endpoint {
        Endpoint::Tcp { address, port } => {
            let wanted = SocketAddr::new(*address, *port);
            let addr = probe_free(wanted).map_err(|source| ShardError::Listen { addr: wanted.to_string(), source })?;
            let mut tcp: Vec<Option<OwnedFd>> = (0..shards).map(|_| None).collect();
            for shard in serving {
                let sock = tcp_listen(addr).map_err(|source| ShardError::Listen { addr: addr.to_string(), source })?;
                tcp[shard] = Some(OwnedFd::from(sock));
            }
            Ok(Bound { addr: BoundAddr::Tcp(addr), tcp, unix: None })
        }
        Endpoint::Unix { path } => {
            let stale = std::fs::symlink_metadata(path).is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt;
                m.file_type().is_socket()
            });
            if stale {
                let _ = std::fs::remove_file(path);
            }
            let listener = UnixListener::bind(path)
                .map_err(|source| ShardError::Listen { addr: path.display().to_string(), source })?;
            let tcp = (0..shards).map(|_| None).collect();
            Ok(Bound { addr: BoundAddr::Unix(path.clone()), tcp, unix: Some((listener, serving)) })
        }
    }
}

/// The acceptor thread of a Unix-socket listener: accepts and deals connections round-robin.
fn accept_unix(listener: UnixListener, index: usize, shards: Vec<usize>, doors: Doorbells, stopping: Arc<AtomicBool>) {
    let mut next = 0usize;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let Some(&to) = shards.get(next % shards.len().max(1)) else { return };
                next = next.wrapping_add(1);
                doors.send_blocking(to, Inbound::Adopt { fd: OwnedFd::from(stream), listener: index });
            }
            Err(_) if stopping.load(Ordering::SeqCst) => return,
            Err(e) => {
                tracing::warn!("unix accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Checks that nothing listens on `addr` and resolves port 0. The shards' sockets use
/// SO_REUSEPORT, which would otherwise quietly share a port with another process of the same
/// user; a plain bind fails on a port in use, so this catches that. Returns the address to bind.
fn probe_free(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let domain = if addr.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let probe = RawSocket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    probe.set_reuse_address(true)?;
    probe.bind(&SockAddr::from(addr))?;
    Ok(probe.local_addr()?.as_socket().unwrap_or(addr))
}

fn tcp_listen(addr: SocketAddr) -> std::io::Result<RawSocket> {
    let domain = if addr.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let sock = RawSocket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    sock.bind(&SockAddr::from(addr))?;
    sock.listen(LISTEN_BACKLOG)?;
    Ok(sock)
}

/// Everything a shard's executor starts with.
struct ShardSetup {
    shard: usize,
    shards: usize,
    realms: Arc<Realms>,
    inbox: Inbox,
    doors: Doorbells,
    /// Per configured listener: this shard's listening TCP socket, if it accepts on it.
    listeners: Vec<Option<OwnedFd>>,
    tcfgs: Vec<ListenerSetup>,
    limits: Limits,
    shutdown_timeout: Duration,
    ready: mpsc::Sender<Result<(), String>>,
}

/// What a connection accepted on one listener needs: how to speak to it, and which logins the
/// listener accepts (handed to the router with the connection).
#[derive(Clone, Debug)]
pub(super) struct ListenerSetup {
    /// Transports, serializers and sizes.
    pub(super) transport: TransportConfig,
    /// The authentication methods (`[listener.auth]`).
    pub(super) auth: Arc<ListenerAuth>,
}

async fn run_shard(setup: ShardSetup) {
    let outbox_budget = setup.limits.outbox_max_bytes;
    let (now, wall) = (Instant::now(), std::time::SystemTime::now());
    let mut router = Router::new(setup.shard, setup.shards, setup.realms, setup.limits, rand::make_rng(), now);
    router.set_wall_clock(now, wall);
    let shard = Rc::new(RefCell::new(Shard {
        router,
        mesh: Mesh::new(setup.doors),
        counters: Counters::default(),
        outbox_budget,
        alarm: Alarm::default(),
    }));
    let tcfgs: Vec<Rc<ListenerSetup>> = setup.tcfgs.into_iter().map(Rc::new).collect();
    let mut acceptors = vec![glommio::spawn_local(timer_loop(shard.clone()))];
    for (index, fd) in setup.listeners.into_iter().enumerate() {
        let (Some(fd), Some(tcfg)) = (fd, tcfgs.get(index).cloned()) else { continue };
        // SAFETY: `fd` is a bound, listening TCP socket that this shard now owns.
        let listener = unsafe { TcpListener::from_raw_fd(fd.into_raw_fd()) };
        let shard = shard.clone();
        acceptors.push(glommio::spawn_local(async move {
            loop {
                match listener.accept().await {
                    Ok(stream) => {
                        let task = conn::serve(Socket::from(stream), shard.clone(), tcfg.clone());
                        glommio::spawn_local(task).detach();
                    }
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        glommio::timer::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }));
    }
    let _ = setup.ready.send(Ok(()));
    drop(setup.ready);

    inbox_loop(&setup.inbox, &shard, &tcfgs).await;

    for a in acceptors {
        a.cancel().await;
    }
    shard.borrow_mut().router.shutdown();
    let deadline = Instant::now() + setup.shutdown_timeout;
    loop {
        {
            let mut s = shard.borrow_mut();
            let s = &mut *s;
            while let Some(msg) = setup.inbox.try_recv() {
                if let Inbound::Router(msg) = msg {
                    s.router.on_shard_msg(msg, Instant::now(), &mut s.mesh);
                }
            }
            s.mesh.flush();
            if s.router.connections() == 0 || Instant::now() >= deadline {
                break;
            }
        }
        glommio::timer::sleep(SHUTDOWN_POLL).await;
    }
    let s = shard.borrow();
    tracing::info!(shard = setup.shard, router = ?s.router.stats(), transport = ?s.counters, "shard stopped");
}

/// Takes cross-shard messages until a shutdown arrives.
async fn inbox_loop(inbox: &Inbox, shard: &Rc<RefCell<Shard>>, tcfgs: &[Rc<ListenerSetup>]) {
    loop {
        let spilling = shard.borrow().mesh.spilled() > 0;
        let first = if spilling {
            let retry = async {
                glommio::timer::sleep(SPILL_RETRY).await;
                None
            };
            futures_lite::future::or(inbox.recv(), retry).await
        } else {
            inbox.recv().await
        };
        let mut next = first;
        let mut taken = 0;
        // Connections handed over are started after the shard borrow below ends: a starting
        // connection may run (and borrow the shard) before this loop gets control back.
        let mut adopted = Vec::new();
        {
            let mut s = shard.borrow_mut();
            let s = &mut *s;
            let now = Instant::now();
            while let Some(msg) = next.take() {
                match msg {
                    Inbound::Shutdown => {
                        s.settle();
                        return;
                    }
                    Inbound::Adopt { fd, listener } => adopted.push((fd, listener)),
                    Inbound::Reload(realms, done) => {
                        s.router.reload_roles(&realms);
                        let _ = done.send(());
                    }
                    Inbound::Router(msg) => s.router.on_shard_msg(msg, now, &mut s.mesh),
                }
                taken += 1;
                if taken < INBOX_BATCH {
                    next = inbox.try_recv();
                }
            }
            s.settle();
        }
        for (fd, listener) in adopted {
            adopt(fd, listener, shard, tcfgs);
        }
        glommio::yield_if_needed().await;
    }
}

/// Fires the router's deadlines: sleeps until the earliest one (or until the router gets an
/// earlier one, see [`Shard::settle`]), then lets the router handle every timer due.
async fn timer_loop(shard: Rc<RefCell<Shard>>) {
    loop {
        let next = {
            let mut s = shard.borrow_mut();
            let next = s.router.next_deadline();
            s.alarm.armed = next;
            s.alarm.moved = false;
            next
        };
        let moved = std::future::poll_fn(|cx| {
            let mut s = shard.borrow_mut();
            if std::mem::take(&mut s.alarm.moved) {
                return Poll::Ready(());
            }
            s.alarm.waker = Some(cx.waker().clone());
            Poll::Pending
        });
        match next {
            Some(at) => {
                let sleep = glommio::timer::sleep(at.saturating_duration_since(Instant::now()));
                futures_lite::future::or(sleep, moved).await;
            }
            None => moved.await,
        }
        let mut s = shard.borrow_mut();
        let s = &mut *s;
        s.router.on_tick(Instant::now(), &mut s.mesh);
        s.mesh.flush();
    }
}

fn adopt(fd: OwnedFd, listener: usize, shard: &Rc<RefCell<Shard>>, tcfgs: &[Rc<ListenerSetup>]) {
    // SAFETY: `fd` is a connected Unix stream socket that the acceptor thread gave up; this shard
    // is its only owner from here on.
    let stream = unsafe { UnixStream::from_raw_fd(fd.into_raw_fd()) };
    match tcfgs.get(listener) {
        Some(tcfg) => {
            let task = conn::serve(Socket::from(stream), shard.clone(), tcfg.clone());
            glommio::spawn_local(task).detach();
        }
        None => tracing::warn!(listener, "handed a connection for an unknown listener"),
    }
}
