//! Loopback ports for tests without bind-then-drop races. A port found by
//! binding port 0 and closing the listener can be taken by anything before
//! it is used again (the kernel hands the same range to every outgoing
//! connection), so:
//!
//! - a port nothing listens on is a [`ClosedPort`]: bound, never listening,
//!   so connections to it are refused and nothing else can take it, until
//!   [`ClosedPort::listen`] turns it into a listener on the same socket;
//! - a server that must be told its port, and cannot be handed a socket
//!   (PostgreSQL, sshd), starts through [`start_on_a_free_port`]: on a port
//!   outside the kernel's ephemeral range, which no outgoing connection
//!   takes, and on another one when the server finds it in use.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use socket2::{Domain, Socket, Type};

/// A loopback TCP port held without listening: connecting to it is refused.
pub struct ClosedPort {
    socket: Socket,
    address: SocketAddr,
}

impl ClosedPort {
    /// Binds a fresh loopback port.
    pub fn new() -> std::io::Result<ClosedPort> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
        let address = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("a loopback socket without an address"))?;
        Ok(ClosedPort { socket, address })
    }

    /// Its address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Starts listening on the same socket: the port was never free.
    pub fn listen(self) -> std::io::Result<TcpListener> {
        self.socket.listen(128)?;
        Ok(self.socket.into())
    }
}

/// What starting a server on a port came to.
pub enum Started<T> {
    /// The server is up.
    Up(T),
    /// The server found the port in use: try another.
    PortTaken,
}

/// Starts a server with `start`, on a port outside the kernel's ephemeral
/// range, trying another one (up to `attempts` in all) each time the server
/// finds its port in use.
///
/// # Panics
///
/// When every attempt found its port in use.
pub fn start_on_a_free_port<T>(attempts: u32, mut start: impl FnMut(u16) -> Started<T>) -> T {
    let (low, high) = outside_ephemeral_range();
    for _ in 0..attempts {
        if let Started::Up(server) = start(fastrand::u16(low..=high)) {
            return server;
        }
    }
    panic!("{attempts} ports in {low}..={high} were all in use");
}

/// Ports the kernel never picks for an outgoing connection or a bind to
/// port 0: below its ephemeral range (`ip_local_port_range`), above the
/// ports services commonly use.
fn outside_ephemeral_range() -> (u16, u16) {
    let first_ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if first_ephemeral > 20_000 {
        (15_000, first_ephemeral - 1)
    } else {
        // An unusual range that starts low: fall back to the top ports,
        // which it rarely reaches.
        (61_000, 65_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_port_refuses_connections_until_it_listens() {
        let port = ClosedPort::new().unwrap();
        let address = port.address();
        let refused = std::net::TcpStream::connect(address).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(
            std::net::TcpListener::bind(address).is_err(),
            "nothing else can take it"
        );
        let listener = port.listen().unwrap();
        let _client = std::net::TcpStream::connect(address).unwrap();
        listener.accept().unwrap();
    }

    #[test]
    fn a_taken_port_is_replaced_by_another() {
        let mut tried = Vec::new();
        let port = start_on_a_free_port(3, |port| {
            tried.push(port);
            if tried.len() < 3 {
                Started::PortTaken
            } else {
                Started::Up(port)
            }
        });
        assert_eq!(tried.len(), 3);
        assert_eq!(Some(&port), tried.last());
        let (low, high) = outside_ephemeral_range();
        assert!(tried.iter().all(|port| (low..=high).contains(port)));
    }
}
