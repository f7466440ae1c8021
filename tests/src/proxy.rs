//! A TCP proxy between a server under test and its PostgreSQL, for outage tests: it forwards
//! until told to play a database that stopped (every live connection closed, the port
//! refusing connections) or one that vanished from the network (live connections and new ones
//! kept open in silence), and forwards again when told to.
//!
//! ```no_run
//! # async fn example(db: &ironworx_tests::TestDb) -> anyhow::Result<()> {
//! use ironworx_tests::proxy::DbProxy;
//! let proxy = DbProxy::start(db.url()).await?;
//! let url = proxy.url(db.url())?; // give this to the server
//! proxy.refuse().await;
//! proxy.forward().await?;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards every byte both ways.
    Forward,
    /// Not listening: a connection is refused. Live connections were closed.
    Refuse,
    /// Accepts connections and never answers; live connections stay open and silent.
    Blackhole,
}

/// The proxy: listens on `127.0.0.1:<port>` and forwards to the database's address.
pub struct DbProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    mode: watch::Sender<Mode>,
    /// Bumped to close every connection open at that moment.
    generation: watch::Sender<u64>,
}

impl DbProxy {
    /// Starts a proxy in front of the host and port of `database_url` (`postgres://…`).
    pub async fn start(database_url: &str) -> anyhow::Result<DbProxy> {
        let (host, port) = host_and_port(database_url)?;
        let upstream = tokio::net::lookup_host((host.as_str(), port))
            .await
            .with_context(|| format!("cannot resolve {host}"))?
            .next()
            .with_context(|| format!("{host} has no address"))?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind the proxy")?;
        let addr = listener.local_addr().context("proxy address")?;
        let shared = Arc::new(Shared {
            mode: watch::channel(Mode::Forward).0,
            generation: watch::channel(0).0,
        });
        let acceptor = tokio::spawn(accept(listener, upstream, Arc::clone(&shared)));
        Ok(DbProxy {
            addr,
            upstream,
            shared,
            acceptor: Mutex::new(Some(acceptor)),
        })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The database's address.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// `database_url` with its host and port replaced by the proxy's.
    pub fn url(&self, database_url: &str) -> anyhow::Result<String> {
        let (start, end) = authority_host_span(database_url)?;
        Ok(format!(
            "{}{}{}",
            &database_url[..start],
            self.addr,
            &database_url[end..]
        ))
    }

    /// What the proxy does now.
    pub fn mode(&self) -> Mode {
        *self.shared.mode.borrow()
    }

    /// A stopped database: closes every live connection and stops listening, so that a new
    /// connection is refused.
    pub async fn refuse(&self) {
        let acceptor = self.lock().take();
        if let Some(acceptor) = acceptor {
            acceptor.abort();
            let _ = acceptor.await;
        }
        self.shared.mode.send_replace(Mode::Refuse);
        self.close_all();
    }

    /// A database gone from the network: live connections stay open but nothing passes any
    /// more, and new connections are accepted and never answered.
    pub async fn blackhole(&self) -> anyhow::Result<()> {
        self.shared.mode.send_replace(Mode::Blackhole);
        self.listen().await
    }

    /// The database is back: connections left from the outage are closed (as a restarted
    /// database would have lost them) and new ones are forwarded.
    pub async fn forward(&self) -> anyhow::Result<()> {
        self.close_all();
        self.shared.mode.send_replace(Mode::Forward);
        self.listen().await
    }

    fn close_all(&self) {
        self.shared.generation.send_modify(|g| *g += 1);
    }

    /// Listens again on the same port when it does not already.
    async fn listen(&self) -> anyhow::Result<()> {
        if self.lock().is_some() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr)
            .await
            .with_context(|| format!("cannot listen on {} again", self.addr))?;
        let acceptor = tokio::spawn(accept(listener, self.upstream, Arc::clone(&self.shared)));
        *self.lock() = Some(acceptor);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.acceptor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        if let Some(acceptor) = self.lock().take() {
            acceptor.abort();
        }
        self.close_all();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    while let Ok((client, _)) = listener.accept().await {
        tokio::spawn(serve(client, upstream, Arc::clone(&shared)));
    }
}

/// One client connection, until it ends or the generation changes.
async fn serve(mut client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut generation = shared.generation.subscribe();
    generation.mark_unchanged();
    let mut mode = shared.mode.subscribe();
    if *mode.borrow_and_update() != Mode::Forward {
        hold(&mut client, &mut generation).await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let forward = async {
        tokio::select! {
            _ = tokio::io::copy(&mut client_read, &mut server_write) => {}
            _ = tokio::io::copy(&mut server_read, &mut client_write) => {}
        }
    };
    tokio::select! {
        () = forward => return,
        _ = generation.changed() => return,
        _ = mode.wait_for(|m| *m == Mode::Blackhole) => {}
    }
    // Silent from now on: both ends stay open, nothing passes.
    let _ = generation.changed().await;
}

/// Keeps `client` open and silent (reading and dropping what it sends) until the generation
/// changes or it hangs up.
async fn hold(client: &mut TcpStream, generation: &mut watch::Receiver<u64>) {
    let mut sink = [0u8; 4096];
    loop {
        tokio::select! {
            read = client.read(&mut sink) => {
                if matches!(read, Ok(0) | Err(_)) {
                    return;
                }
            }
            _ = generation.changed() => return,
        }
    }
}

/// The byte range of `host:port` in a `scheme://[user[:password]@]host[:port]/…` URL.
fn authority_host_span(url: &str) -> anyhow::Result<(usize, usize)> {
    let start = url
        .find("://")
        .map(|i| i + 3)
        .with_context(|| format!("not a URL: {url}"))?;
    let rest = &url[start..];
    let end = start + rest.find(['/', '?']).unwrap_or(rest.len());
    let host_start = url[start..end]
        .rfind('@')
        .map_or(start, |at| start + at + 1);
    Ok((host_start, end))
}

/// The host and port (default 5432) of a PostgreSQL URL.
fn host_and_port(url: &str) -> anyhow::Result<(String, u16)> {
    let (start, end) = authority_host_span(url)?;
    let hostport = &url[start..end];
    let (host, port) = match hostport.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed
                .split_once(']')
                .with_context(|| format!("bad host in {url}"))?;
            (host, after.strip_prefix(':'))
        }
        None => match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        },
    };
    let port = match port {
        Some(port) => port.parse().with_context(|| format!("bad port in {url}"))?,
        None => 5432,
    };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_taken_apart() {
        assert_eq!(
            host_and_port("postgres://postgres@127.0.0.1:5432/test").expect("url"),
            ("127.0.0.1".to_owned(), 5432)
        );
        assert_eq!(
            host_and_port("postgres://u:p@db.example/x?sslmode=disable").expect("url"),
            ("db.example".to_owned(), 5432)
        );
        let url = "postgres://u:p@db:6543/x?a=b";
        let (start, end) = authority_host_span(url).expect("url");
        assert_eq!(&url[start..end], "db:6543");
    }
}
