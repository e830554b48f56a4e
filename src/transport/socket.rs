//! The byte streams a transport runs over (TCP and Unix sockets) and their shared halves.
//!
//! Owns: [`Socket`], one type for both kinds of glommio stream, and `SharedSocket`, the handle
//! that lets a reading task and a writing task use one socket at once. Never: framing, protocol,
//! or holding a borrow of the socket across an `.await` (every borrow lasts one `poll_*` call).

use std::cell::RefCell;
use std::io;
use std::os::unix::io::AsRawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};
use glommio::net::{TcpStream, UnixStream};

/// An accepted stream socket: TCP or Unix.
#[derive(Debug)]
pub enum Socket {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix domain stream connection.
    Unix(UnixStream),
}

impl From<TcpStream> for Socket {
    fn from(stream: TcpStream) -> Socket {
        Socket::Tcp(stream)
    }
}

impl From<UnixStream> for Socket {
    fn from(stream: UnixStream) -> Socket {
        Socket::Unix(stream)
    }
}

impl Socket {
    /// The peer, for logs: `ip:port` for TCP; for Unix, `unix:` and the socket path (the peer's
    /// if it has one, else the listener's).
    pub fn peer(&self) -> String {
        match self {
            Socket::Tcp(s) => match s.peer_addr() {
                Ok(addr) => addr.to_string(),
                Err(_) => format!("tcp#fd{}", s.as_raw_fd()),
            },
            Socket::Unix(s) => {
                let path = [s.peer_addr(), s.local_addr()]
                    .into_iter()
                    .flatten()
                    .find_map(|addr| addr.as_pathname().map(|p| p.display().to_string()));
                format!("unix:{}", path.unwrap_or_default())
            }
        }
    }

    /// Disables Nagle's algorithm on TCP: writes are already batched per executor tick, and
    /// delaying small ones would add latency to every reply.
    pub(crate) fn set_nodelay(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_nodelay(true).map_err(io::Error::from),
            Socket::Unix(_) => Ok(()),
        }
    }

    /// Reads bytes without consuming them; 0 means the peer closed.
    pub(crate) async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.peek(buf).await.map_err(io::Error::from),
            Socket::Unix(s) => s.peek(buf).await.map_err(io::Error::from),
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_flush(cx),
            Socket::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    /// Shuts down the write side (glommio's close is `shutdown(SHUT_WR)`); the descriptor
    /// stays open until the `Socket` is dropped.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_close(cx),
            Socket::Unix(s) => Pin::new(s).poll_close(cx),
        }
    }
}

/// One socket shared by a reading and a writing task on the same executor. glommio keeps
/// separate readiness sources (and wakers) for the two directions, so a pending read never
/// holds up a write.
#[derive(Clone, Debug)]
pub(crate) struct SharedSocket(Rc<RefCell<Socket>>);

impl SharedSocket {
    pub(crate) fn new(socket: Socket) -> SharedSocket {
        SharedSocket(Rc::new(RefCell::new(socket)))
    }

    fn with<R>(&self, f: impl FnOnce(Pin<&mut Socket>) -> Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match self.0.try_borrow_mut() {
            Ok(mut socket) => f(Pin::new(&mut *socket)),
            Err(_) => Poll::Ready(Err(io::Error::other("socket re-entered during a poll"))),
        }
    }
}

impl AsyncRead for SharedSocket {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.with(|s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for SharedSocket {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.with(|s| s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_close(cx))
    }
}
